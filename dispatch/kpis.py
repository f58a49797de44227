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

from schemas.catalog import STREAMS

Label = Mapping[str, str]


@dataclass(frozen=True)
class Call:
    """A case: id, agency (``ems``/``fire``), district, received time (event time, ms) and
    the ring time when the call carries one (the answer interval needs it)."""

    call_id: str
    agency: str
    district: str
    received_ms: int
    ring_ms: int | None = None


@dataclass(frozen=True)
class UnitStatus:
    """A unit's status naming a case, from its stream or from a dispatch record."""

    unit_id: str
    call_id: str
    status: str
    at_ms: int
    agency: str = ""


@dataclass(frozen=True)
class Interval:
    key: str
    zh: str
    en: str
    start: str       # a timestamp key (TIMESTAMPS)
    end: str
    level: str       # "call": one per case (first unit); "unit": one per unit response


# The timestamps. Unit-level ones are per (case, unit); "first_*" are the earliest over a
# case's units; "left_scene" is transporting if the unit transports, else clear.
TIMESTAMPS: Mapping[str, Label] = {
    "ring": {"zh": "来电振铃", "en": "Call ringing"},
    "received": {"zh": "接警", "en": "Call received"},
    "dispatched": {"zh": "派车", "en": "Unit dispatched"},
    "en_route": {"zh": "出车", "en": "Unit en route"},
    "on_scene": {"zh": "到达现场", "en": "Unit on scene"},
    "transporting": {"zh": "转运患者", "en": "Transporting"},
    "at_hospital": {"zh": "到达医院", "en": "At hospital"},
    "clear": {"zh": "任务结束", "en": "Clear / available"},
    "left_scene": {"zh": "离开现场", "en": "Left scene"},
    "first_dispatched": {"zh": "首车派出", "en": "First unit dispatched"},
    "first_en_route": {"zh": "首车出车", "en": "First unit en route"},
    "first_on_scene": {"zh": "首车到达", "en": "First unit on scene"},
}
UNIT_TIMESTAMPS = ("dispatched", "en_route", "on_scene", "transporting", "at_hospital", "clear")
# stream statuses (schemas.catalog EMS_UNIT_STATUSES, ENGINE_STATUSES) and APCO base statuses
STATUS_TIMESTAMP: Mapping[str, str] = {
    "dispatched": "dispatched", "en_route": "en_route", "on_scene": "on_scene",
    "transporting": "transporting", "at_hospital": "at_hospital", "returning": "clear",
    "available": "clear"}

INTERVALS: tuple[Interval, ...] = (
    Interval("answer", "接听时长", "Answer", "ring", "received", "call"),
    Interval("processing", "受理派车时长", "Call processing", "received", "first_dispatched",
             "call"),
    Interval("turnout", "出车准备时长", "Turnout", "dispatched", "en_route", "unit"),
    Interval("travel", "途中行驶时长", "Travel", "en_route", "on_scene", "unit"),
    Interval("on_scene", "现场处置时长", "On scene", "on_scene", "left_scene", "unit"),
    Interval("transport", "转运时长", "Transport", "transporting", "at_hospital", "unit"),
    Interval("depart", "接警至出车时长", "Call to first unit en route", "received",
             "first_en_route", "call"),
    Interval("response", "反应时间", "Response (call to first on scene)", "received",
             "first_on_scene", "call"),
)
INTERVAL = {i.key: i for i in INTERVALS}
SECONDS: Label = {"zh": "秒", "en": "s"}

CHINA_120_DEPART_S = 180.0                                  # 3-minute departure
NFPA_TURNOUT_S: Mapping[str, float] = {"ems": 60.0, "fire": 80.0}
NFPA_TRAVEL_S = 240.0                                       # first-arriving unit
NFPA_SHARE = 0.9                                            # "90 % of the time"

AGENCIES: Mapping[str, Label] = {
    "ems": {"zh": STREAMS["ems"].zh, "en": STREAMS["ems"].en},
    "fire": {"zh": STREAMS["fire"].zh, "en": STREAMS["fire"].en},
    "traffic_police": {"zh": "交警", "en": "Traffic police"},
    "gas": {"zh": "燃气抢修", "en": "Gas utility"},
    "water": {"zh": "供水抢修", "en": "Water utility"},
    "": {"zh": "未知单位", "en": "Unknown agency"},
}
REASONS: Mapping[str, Label] = {
    "out_of_order": {"zh": "时间先后颠倒", "en": "End before start"},
    "unknown_call": {"zh": "状态未对应时段内的警情", "en": "Status names no call in range"},
}
GROUPS: Mapping[str, Label] = {
    "district": {"zh": "区县", "en": "District"}, "agency": {"zh": "部门", "en": "Agency"},
    "hour": {"zh": "时段", "en": "Hour of day"}}
FIGURES: Mapping[str, Label] = {
    "china_120": {"zh": "120 急救指标", "en": "China 120 EMS"},
    "depart_rate": {"zh": "3 分钟出车率", "en": "Departed within 3 min"},
    "mean_response": {"zh": "平均反应时间", "en": "Average response time"},
    "nfpa_1710": {"zh": "NFPA 1710", "en": "NFPA 1710"},
    "turnout": {"zh": "出车准备达标率", "en": "Turnout compliance"},
    "travel": {"zh": "首车行驶达标率", "en": "First-arriving travel compliance"},
}


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
        ts = STATUS_TIMESTAMP.get(s.status)
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


def _label(vocab: Mapping[str, Label], key: str, fallback: str) -> Label:
    return vocab.get(key) or {"zh": f"{fallback}（{key}）", "en": f"{fallback} ({key})"}


def labelled(report: Mapping[str, Any], districts: Mapping[str, Label]) -> dict[str, Any]:
    """:func:`compute`'s report with every key beside its bilingual label (lists in the
    vocabulary's order), ready for the cockpit: JSON-able, no raw key shown as a label."""
    group_vocab: Mapping[str, Mapping[str, Label]] = {
        "district": districts, "agency": AGENCIES,
        "hour": {str(h): {"zh": f"{h:02d}时", "en": f"{h:02d}:00"} for h in range(24)}}
    intervals = []
    for iv in INTERVALS:
        got = report["intervals"][iv.key]
        item: dict[str, Any] = {
            "key": iv.key, "label": {"zh": iv.zh, "en": iv.en}, "level": iv.level,
            "unit": "s", "unit_label": SECONDS,
            "from": {"key": iv.start, "label": TIMESTAMPS[iv.start]},
            "to": {"key": iv.end, "label": TIMESTAMPS[iv.end]}, **got["all"],
            "excluded": [{"reason": "out_of_order", "label": REASONS["out_of_order"],
                          "count": got["out_of_order"]}] if got["out_of_order"] else []}
        for g, vocab in group_vocab.items():
            item["by_" + g] = {"label": GROUPS[g], "groups": [
                {"key": str(k), "label": _label(vocab, str(k), GROUPS[g]["en"]), **v}
                for k, v in got["by_" + g].items()]}
        intervals.append(item)
    nfpa = report["nfpa_1710"]
    return {
        "counts": {"calls": report["calls"], "unit_responses": report["unit_responses"]},
        "excluded": [{"reason": "unknown_call", "label": REASONS["unknown_call"],
                      "count": report["unknown_call"]}] if report["unknown_call"] else [],
        "intervals": intervals,
        "china_120": {"label": FIGURES["china_120"], "depart_rate": {
            "label": FIGURES["depart_rate"], "limit_s": report["china_120"]["depart_limit_s"],
            **report["china_120"]["depart_rate"]}, "mean_response": {
            "label": FIGURES["mean_response"], "unit_label": SECONDS,
            **report["china_120"]["mean_response"]}},
        "nfpa_1710": {"label": FIGURES["nfpa_1710"], "share_target": nfpa["share_target"], **{
            name: {"label": FIGURES[name], "by_agency": [
                {"key": a, "label": AGENCIES[a], **fig} for a, fig in nfpa[name].items()]}
            for name in ("turnout", "travel")}},
    }
