"""Response-time KPIs: each timestamp, interval and standard defined once, computed vectorised.

A *case* is what units are sent to: a 120 call (EMS units name it in ``unit_status.call_id``)
or a 119 incident (engines name it in ``engine_status.incident_id``; a 119 call linked to
it only moves its received time earlier). Per case and per unit the timestamps are the
*first* occurrence of each status; a case's first dispatched/en route/on scene is the
earliest of any agency's units (NFPA's first-arriving travel is per agency). An interval
whose start or end is missing is absent (never zero); one that ends before it starts is
excluded and counted with its reason.
Percentiles are nearest-rank (``inverted_cdf``), so "p90 <= target" holds exactly when at
least 90 % comply. Inputs come from the warehouse (:mod:`warehouse.kpi_queries`); the
cockpit and dashboards reuse these definitions, never their own. Pure: no I/O, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from dispatch.kpi_defs import (  # noqa: F401  (the public names stay importable from here)
    AGENCIES, CHINA_120_DEPART_S, FIGURES, GROUPS, INTERVAL, INTERVALS, NFPA_SHARE,
    NFPA_TRAVEL_S, NFPA_TURNOUT_S, REASONS, SECONDS, STATUS_TIMESTAMP, TIMESTAMPS,
    UNIT_TIMESTAMPS, Call, Interval, Label, UnitStatus, labelled, status_timestamp)


@dataclass
class Responses:
    """The assembled timestamps: ``calls`` (c,) with ``call_ts`` {key: (c,) ms, NaN = absent};
    unit responses (u,) with ``case`` (index into calls), ``agency`` and ``unit_ts``."""

    calls: Sequence[Call]
    call_ts: dict[str, np.ndarray]
    case: np.ndarray
    unit_ids: np.ndarray
    agency: np.ndarray
    unit_ts: dict[str, np.ndarray]
    unknown_call: int


def dispatch_statuses(records: Iterable[Mapping[str, Any]],
                      incident_calls: Mapping[str, Sequence[str]],
                      stream: Iterable[UnitStatus] = ()) -> list[UnitStatus]:
    """Dispatch records (``dispatch_log`` rows, payload a dict) -> ``dispatched`` (and, for
    ``unit_status`` records, the status given) of each unit on the incident's cases.
    ``incident_calls`` maps a board incident to its cases; an unmapped id is its own case.
    Of an incident with several cases, a unit goes to those its ``stream`` statuses name
    (all of them when it names none)."""
    named: dict[str, set[str]] = {}
    for s in stream:
        named.setdefault(s.unit_id, set()).add(s.call_id)
    out: list[UnitStatus] = []
    for r in records:
        raw = r.get("payload")
        p: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
        cases = incident_calls.get(str(r.get("incident_id", "")), (str(r.get("incident_id")),))
        at, kind = int(r["at_ms"]), r.get("kind")
        units: list[tuple[str, str, str]] = []
        if kind == "unit_assigned" or kind == "unit_status":
            status = "dispatched" if kind == "unit_assigned" else str(p.get("status", ""))
            units.append((str(r.get("unit_id", "")), status, str(p.get("agency", ""))))
        elif kind == "package_confirmed":
            units += [(str(i.get("unit_id", "")), "dispatched", str(i.get("agency", "")))
                      for i in p.get("items", ()) if isinstance(i, Mapping)]
        for u, status, agency in units:
            mine = [c for c in cases if c in named.get(u, ())] or cases
            out += [UnitStatus(u, c, status, at, agency) for c in mine if u]
    return out


def assemble(calls: Sequence[Call], statuses: Iterable[UnitStatus]) -> Responses:
    """Per (case, unit) the first time of each timestamp, and per case the first over its
    units. A status naming no case of ``calls`` is counted (``unknown_call``), not used."""
    index = {c.call_id: i for i, c in enumerate(calls)}
    rows: list[tuple[int, str, str, int, int]] = []   # case, unit, agency, timestamp, ms
    unknown = 0
    for s in statuses:
        ts = status_timestamp(s.agency, s.status)
        if ts is None:
            continue
        if s.call_id not in index:
            unknown += 1
            continue
        rows.append((index[s.call_id], s.unit_id, s.agency, UNIT_TIMESTAMPS.index(ts), s.at_ms))
    ci, units, agencies, kinds, at = (list(c) for c in zip(*rows)) if rows else ([],) * 5
    case_a, unit_a = np.array(ci, np.int64), np.array(units, dtype=object)
    keys = np.array([f"{c}\x1f{u}" for c, u in zip(ci, units)], dtype=object)
    pairs, first, inv = np.unique(keys.astype(str), return_index=True, return_inverse=True) \
        if len(keys) else (np.array([]), np.array([], np.int64), np.array([], np.int64))
    table = np.full((len(pairs), len(UNIT_TIMESTAMPS)), np.inf)
    np.minimum.at(table, (inv, np.array(kinds, np.int64)), np.array(at, np.float64))
    table[np.isinf(table)] = np.nan
    agency = np.array([""] * len(pairs), dtype=object)
    for k, a in zip(inv, agencies):      # a unit's agency: any record that names one
        agency[k] = agency[k] or a
    case = case_a[first]
    for k, i in enumerate(case):
        agency[k] = agency[k] or calls[i].agency
    unit_ts = {t: table[:, j] for j, t in enumerate(UNIT_TIMESTAMPS)}
    unit_ts["left_scene"] = np.where(np.isnan(unit_ts["transporting"]), unit_ts["clear"],
                                     unit_ts["transporting"])
    call_ts = {"received": np.array([c.received_ms for c in calls], np.float64),
               "ring": np.array([np.nan if c.ring_ms is None else c.ring_ms for c in calls],
                                np.float64)}
    for t in ("dispatched", "en_route", "on_scene"):
        first_t = np.full(len(calls), np.inf)
        np.fmin.at(first_t, case, unit_ts[t])
        first_t[np.isinf(first_t)] = np.nan
        call_ts["first_" + t] = first_t
    return Responses(calls, call_ts, case, unit_a[first], agency, unit_ts, unknown)


def interval_values(r: Responses, key: str) -> tuple[np.ndarray, int]:
    """Seconds of one interval per case or unit response (NaN = absent or excluded) and
    the number excluded as out of order."""
    iv = INTERVAL[key]
    ts = r.call_ts if iv.level == "call" else r.unit_ts
    d = (ts[iv.end] - ts[iv.start]) / 1000.0
    bad = d < 0
    d[bad] = np.nan
    return d, int(bad.sum())


def stats(seconds: np.ndarray) -> dict[str, Any]:
    """n, p50, p90 (nearest rank) and mean of the present values; None when there are none."""
    v = seconds[~np.isnan(seconds)]
    if not len(v):
        return {"n": 0, "p50": None, "p90": None, "mean": None}
    p50, p90 = np.percentile(v, [50, 90], method="inverted_cdf")
    return {"n": int(len(v)), "p50": round(float(p50), 3), "p90": round(float(p90), 3),
            "mean": round(float(v.mean()), 3)}


def _share(seconds: np.ndarray, limit: float) -> dict[str, Any]:
    """How many present values are within ``limit`` (inclusive), and their share."""
    ok = ~np.isnan(seconds)
    n = int(ok.sum())
    within = int((seconds[ok] <= limit).sum())
    return {"n": n, "within": within, "share": round(within / n, 4) if n else None}


def local_hours(ms: np.ndarray, utc_offset_hours: float) -> np.ndarray:
    """Local hour of day (0..23) of epoch-ms times at a fixed UTC offset."""
    return ((ms / 3_600_000.0 + utc_offset_hours) // 1 % 24).astype(np.int64)


def group_keys(r: Responses, level: str, utc_offset_hours: float) -> dict[str, np.ndarray]:
    """District, agency and local hour of the call, per case or per unit response."""
    district = np.array([c.district for c in r.calls], dtype=object)
    hour = local_hours(r.call_ts["received"], utc_offset_hours)
    if level == "call":
        return {"district": district, "hour": hour,
                "agency": np.array([c.agency for c in r.calls], dtype=object)}
    return {"district": district[r.case], "hour": hour[r.case], "agency": r.agency}


def compute(r: Responses, utc_offset_hours: float) -> dict[str, Any]:
    """Every interval (all, by district/agency/hour, exclusions) and the China 120 and
    NFPA 1710 figures, keyed by the vocabulary keys (:func:`labelled` adds the labels)."""
    out: dict[str, Any] = {"calls": len(r.calls), "unit_responses": len(r.case),
                           "unknown_call": r.unknown_call, "intervals": {}}
    values: dict[str, np.ndarray] = {}
    for iv in INTERVALS:
        v, excluded = interval_values(r, iv.key)
        values[iv.key] = v
        groups = group_keys(r, iv.level, utc_offset_hours)
        out["intervals"][iv.key] = {"all": stats(v), "out_of_order": excluded, **{
            "by_" + g: {k: stats(v[keys == k]) for k in sorted(set(keys[~np.isnan(v)].tolist()))}
            for g, keys in groups.items()}}
    ems = np.array([c.agency == "ems" for c in r.calls], bool)
    out["china_120"] = {"depart_rate": _share(np.where(ems, values["depart"], np.nan),
                                              CHINA_120_DEPART_S),
                        "depart_limit_s": CHINA_120_DEPART_S,
                        "mean_response": stats(np.where(ems, values["response"], np.nan))}
    out["nfpa_1710"] = {"turnout": {}, "travel": {}, "share_target": NFPA_SHARE}
    for agency, limit in NFPA_TURNOUT_S.items():
        mine = r.agency == agency
        turnout = np.where(mine, values["turnout"], np.nan)
        travel = np.where(_first_arriving(r, mine), values["travel"], np.nan)
        for name, v, lim in (("turnout", turnout, limit), ("travel", travel, NFPA_TRAVEL_S)):
            fig = {**_share(v, lim), "limit_s": lim, "p90": stats(v)["p90"]}
            fig["meets"] = None if fig["share"] is None else fig["share"] >= NFPA_SHARE
            out["nfpa_1710"][name][agency] = fig
    return out


def _first_arriving(r: Responses, mine: np.ndarray) -> np.ndarray:
    """Per unit response: is it the first of the ``mine`` units on its case's scene (an
    ambulance arriving before the engines does not hide the first engine; ties: lowest id)?"""
    on = np.where(mine, r.unit_ts["on_scene"], np.nan)
    first = np.full(len(r.calls), np.inf)
    np.fmin.at(first, r.case, on)
    hit = ~np.isnan(on) & (on == first[r.case])
    seen: set[int] = set()
    for k in np.flatnonzero(hit)[np.argsort(r.unit_ids[hit].astype(str), kind="stable")]:
        hit[k] = r.case[k] not in seen
        seen.add(int(r.case[k]))
    return hit


def merge_reports(cases: Sequence[Call], reports: Iterable[Call],
                  case_of: Mapping[str, str]) -> list[Call]:
    """Cases whose received (and ring) time is moved earlier by the calls reporting them
    (a 119 call linked to the 119 incident it opened: ``case_of[call_id] = incident_id``)."""
    early: dict[str, tuple[int, int | None]] = {}
    for c in reports:
        case = case_of.get(c.call_id)
        if case is not None:
            rec, ring = early.get(case, (c.received_ms, c.ring_ms))
            early[case] = (min(rec, c.received_ms), _min(ring, c.ring_ms))
    out = []
    for c in cases:
        rec, ring = early.get(c.call_id, (c.received_ms, c.ring_ms))
        out.append(Call(c.call_id, c.agency, c.district, min(rec, c.received_ms),
                        _min(ring, c.ring_ms)))
    return out


def _min(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else min(a, b)
