"""Injected incidents: what each does to the streams, and the ground truth to score against.

An :class:`Incident` carries *effects* (sensor, segment or tank readings pulled towards a
target level between start and end, with a ramp) and *actions* (discrete events such as
119/120 calls, alarm-panel signals, accident reports) that the simulation performs at their
time. Its :meth:`Incident.truth` record lists the affected entities and the ``signals``
(alert kinds) a good detector should raise: ``<kind>_high`` / ``<kind>_low`` for measured
kinds, and ``fire_alarm``, ``fire_calls``, ``fire_incident``, ``ems_calls``,
``traffic_accident``, ``traffic_congestion``, ``hazmat_stopped`` for event patterns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import numpy as np

from city.profile import haversine_km
from schemas.records import stable_id
from schemas.validate import format_event_time

from .world import SENSOR_KINDS, World, nearest

KINDS = ("gas_leak", "water_main_burst", "structure_fire", "traffic_accident", "hazmat_leak")
KIND_WEIGHTS = (0.25, 0.2, 0.2, 0.25, 0.1)
CODES = {"gas_leak": "GAS", "water_main_burst": "WTR", "structure_fire": "FIRE",
         "traffic_accident": "ACC", "hazmat_leak": "HAZ"}
TANK_GROUPS = {"tank_pressure": 0, "tank_temperature": 1, "tank_gas": 2}
_MIN = 60_000
# How far an incident's effects reach. A main burst drops the pressure of the mains around
# it (a supply zone is a few km across); an accident's queue backs up along the roads
# behind it: 1,000-1,500 vehicles an hour more than the blocked road lets through, at
# ~150 vehicles per km per lane, is a queue of 2-3 km after half an hour. The k nearest
# sensors or segments are taken within this reach only: in a sparse county network the
# k nearest can be 5-8 km off, which is another zone or another road, not this incident.
BURST_REACH_KM, QUEUE_REACH_KM = 3.0, 3.0
_KIND_INDEX = {k[0]: i for i, k in enumerate(SENSOR_KINDS)}


@dataclass
class Effect:
    """Readings of ``idx`` (sorted) in ``group`` pulled to ``target`` between t0 and t1.

    ``group`` is "sensors", "segments" (target: a speed factor) or "tank<k>" (k: tank kind).
    """

    group: str
    idx: np.ndarray
    target: np.ndarray
    t0: int
    t1: int
    ramp_ms: int


@dataclass
class Action:
    """A discrete event ``offset_ms`` after the start, ``dx_m``/``dy_m`` from the spot."""

    offset_ms: int
    name: str
    params: dict[str, Any]
    dx_m: float = 0.0
    dy_m: float = 0.0


@dataclass
class Incident:
    incident_id: str
    kind: str
    start_ms: int
    end_ms: int
    lat: float
    lon: float
    district: str
    entities: list[str]
    signals: list[str]
    effects: list[Effect] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)
    vehicle: int = -1  # hazmat vehicle index: the spot is where it is at the start

    def truth(self) -> dict[str, Any]:
        return {"incident_id": self.incident_id, "type": self.kind,
                "start_time": format_event_time(self.start_ms),
                "end_time": format_event_time(self.end_ms), "start_ms": self.start_ms,
                "end_ms": self.end_ms, "lat": round(self.lat, 6), "lon": round(self.lon, 6),
                "district": self.district, "entities": list(self.entities),
                "signals": list(self.signals)}


def signal_id(segment_id: str) -> str:
    """The traffic signal at a segment: ``SEG-FR-0001`` -> ``SIG-FR-0001``, ``F:k`` ->
    ``SIG-F:k``."""
    return "SIG" + segment_id[3:] if segment_id.startswith("SEG-") else "SIG-" + segment_id


def opaque_id(prefix: str, seed: int, key: str, t_ms: int) -> str:
    """An id like ``C120-202611250633-3FA91C`` that does not reveal whether it is injected."""
    stamp = datetime.fromtimestamp(t_ms // 1000, tz=timezone.utc).strftime("%Y%m%d%H%M")
    return f"{prefix}-{stamp}-{stable_id(seed, key)[:6].upper()}"


def apply_effects(effects: list[Effect], group: str, idx: np.ndarray, t: np.ndarray,
                  level: np.ndarray) -> np.ndarray:
    """Pull ``level`` (or scale it, for segments) where an effect covers (entity, time)."""
    for e in effects:
        if e.group != group or len(t) == 0 or e.t1 < t[0] or e.t0 > t[-1]:
            continue
        pos = np.minimum(np.searchsorted(e.idx, idx), len(e.idx) - 1)
        hit = (e.idx[pos] == idx) & (t >= e.t0) & (t <= e.t1)
        if not hit.any():
            continue
        th = t[hit]
        env = np.clip(np.minimum(th - e.t0, e.t1 - th) / max(e.ramp_ms, 1), 0.0, 1.0)
        tgt = e.target[pos[hit]]
        if group == "segments":
            level[hit] = level[hit] * (1 - env * (1 - tgt))
        else:
            level[hit] = level[hit] + env * (tgt - level[hit])
    return level


def _effect(group: str, idx: list[int], target: list[float], t0: int, t1: int,
            ramp_ms: int) -> Effect:
    order = np.argsort(idx)
    return Effect(group, np.asarray(idx)[order], np.asarray(target, float)[order], t0, t1,
                  ramp_ms)


def _within(points: Any, inc: Incident, idx: list[int], values: list[float], reach_km: float
            ) -> tuple[list[int], list[float]]:
    """The entities (and their values) within ``reach_km`` of the incident; the nearest
    one (its epicentre) always."""
    keep = [k for k, i in enumerate(idx) if k == 0 or haversine_km(
        points.lat[i], points.lon[i], inc.lat, inc.lon) <= reach_km]
    return [idx[k] for k in keep], [values[k] for k in keep]


def _choose(world: World, rng: np.random.Generator, lat: np.ndarray, lon: np.ndarray,
            district: np.ndarray, mask: np.ndarray, at: tuple[float, float] | None,
            in_district: str | None) -> int:
    if not mask.any():  # a tiny world may lack the preferred kind of place
        mask = np.ones(len(lat), bool)
    if at is not None:
        return int(nearest(lat, lon, at[0], at[1], mask)[0])
    if in_district is not None and (mask & (district == in_district)).any():
        mask = mask & (district == in_district)
    return int(rng.choice(np.flatnonzero(mask)))


def plan(kind: str, world: World, incident_id: str, at_ms: int, rng: np.random.Generator,
         *, lat: float | None = None, lon: float | None = None, district: str | None = None,
         duration_s: float | None = None) -> Incident:
    """Plan one incident of ``kind`` starting at ``at_ms`` (the spot from lat/lon, district
    or ``rng``); its readings, calls and signals are fixed here, deterministically."""
    if kind not in KINDS:
        raise ValueError(f"unknown incident kind {kind!r}; known: {list(KINDS)}")
    at = (lat, lon) if lat is not None and lon is not None else None
    default_min = {"gas_leak": (10, 40), "water_main_burst": (30, 120),
                   "structure_fire": (40, 120), "traffic_accident": (20, 60),
                   "hazmat_leak": (20, 60)}[kind]
    dur = int((duration_s * 1000) if duration_s else rng.uniform(*default_min) * _MIN)
    inc = Incident(incident_id, kind, at_ms, at_ms + dur, 0.0, 0.0, "", [], [])
    _PLANNERS[kind](inc, world, rng, at, district)
    if inc.vehicle < 0:
        inc.district = world.profile.nearest_district(inc.lat, inc.lon)
    return inc


def _plan_gas_leak(inc: Incident, w: World, rng: np.random.Generator, at: Any,
                   dist: str | None) -> None:
    s, lim = w.sensors, w.profile.limits
    kind = "gas_concentration" if rng.random() < 0.7 else "manhole_gas"
    mask = s.p["kind"] == _KIND_INDEX[kind]
    epi = _choose(w, rng, s.lat, s.lon, s.district, mask, at, dist)
    inc.lat, inc.lon = float(s.lat[epi]), float(s.lon[epi])
    same = [int(i) for i in nearest(s.lat, s.lon, inc.lat, inc.lon, mask, 3)
            if i == epi or haversine_km(s.lat[i], s.lon[i], inc.lat, inc.lon) < 1.5]
    hi = lim[kind].high_alarm or 20.0
    targets = [min(95.0, hi * rng.uniform(1.6, 3.0))] + [hi * rng.uniform(0.6, 1.4)
                                                         for _ in same[1:]]
    gp = [int(i) for i in nearest(s.lat, s.lon, inc.lat, inc.lon,
                                  s.p["kind"] == _KIND_INDEX["gas_pressure"], 3)]
    gp_t = [(lim["gas_pressure"].low_alarm or 150.0) * rng.uniform(0.6, 0.85)] + \
        [float(s.p["base"][i]) * 0.85 for i in gp[1:]]
    inc.effects = [_effect("sensors", same + gp, targets + gp_t, inc.start_ms, inc.end_ms,
                           90_000)]
    inc.entities = [s.ids[i] for i in [same[0], *same[1:], gp[0]]]
    inc.signals = [f"{kind}_high", "gas_pressure_low"]
    if rng.random() < 0.6:
        _fire_call(inc, rng, "hazmat", int(rng.uniform(3, 10) * _MIN), 100, 2)


def _plan_water_main_burst(inc: Incident, w: World, rng: np.random.Generator, at: Any,
                           dist: str | None) -> None:
    s, lim = w.sensors, w.profile.limits
    mask = s.p["kind"] == _KIND_INDEX["water_pressure"]
    epi = _choose(w, rng, s.lat, s.lon, s.district, mask, at, dist)
    inc.lat, inc.lon = float(s.lat[epi]), float(s.lon[epi])
    wp = [int(i) for i in nearest(s.lat, s.lon, inc.lat, inc.lon, mask, int(rng.integers(3, 7)))]
    low = lim["water_pressure"].low_alarm or 0.14
    levels = [low * rng.uniform(0.25, 0.75) for _ in wp]   # (drawn for all k: same stream)
    wp, levels = _within(s, inc, wp, levels, BURST_REACH_KM)
    inc.effects = [_effect("sensors", wp, levels, inc.start_ms, inc.end_ms, 30_000)]
    inc.entities, inc.signals = [s.ids[i] for i in wp], ["water_pressure_low"]
    drn = int(nearest(s.lat, s.lon, inc.lat, inc.lon,
                      s.p["kind"] == _KIND_INDEX["drainage_level"])[0])
    if haversine_km(s.lat[drn], s.lon[drn], inc.lat, inc.lon) < 2.0:
        hi = lim["drainage_level"].high_alarm or 2.5
        inc.effects.append(_effect("sensors", [drn], [hi * rng.uniform(1.15, 1.5)],
                                   inc.start_ms + 5 * _MIN, inc.end_ms, 5 * _MIN))
        inc.entities.append(s.ids[drn])
        inc.signals.append("drainage_level_high")


def _plan_structure_fire(inc: Incident, w: World, rng: np.random.Generator, at: Any,
                         dist: str | None) -> None:
    p = w.panels
    panel = _choose(w, rng, p.lat, p.lon, p.district, np.ones(len(p.ids), bool), at, dist)
    inc.lat, inc.lon = float(p.lat[panel]), float(p.lon[panel])
    pid = str(p.ids[panel])
    dur = inc.end_ms - inc.start_ms
    alarm = {"panel": pid, "lat": inc.lat, "lon": inc.lon}
    offs = [(0, "smoke"), (int(rng.uniform(20, 60) * 1000), "heat")]
    offs += [(int(rng.uniform(40, 120) * 1000) + k * 3 * _MIN, "fire")
             for k in range(max(1, (dur - 10 * _MIN) // (3 * _MIN)))]
    inc.actions = [Action(o, "alarm", {**alarm, "signal": sig}) for o, sig in offs]
    near = nearest(p.lat, p.lon, inc.lat, inc.lon, np.arange(len(p.ids)) != panel)[0]
    if haversine_km(p.lat[near], p.lon[near], inc.lat, inc.lon) < 0.5:
        inc.actions.append(Action(int(rng.uniform(2, 6) * _MIN), "alarm", {
            "panel": str(p.ids[near]), "lat": float(p.lat[near]), "lon": float(p.lon[near]),
            "signal": "smoke"}))
    level = int(rng.integers(2, 4))
    for off in sorted(rng.uniform(0.5, 6, int(rng.integers(3, 8)))):
        _fire_call(inc, rng, "structure_fire", int(off * _MIN), 150, 1 + level, level)
    inc.actions.append(Action(dur - 10 * _MIN, "fire_update", {"status": "under_control",
                                                              "incident": inc.incident_id}))
    if rng.random() < 0.6:
        _ems_call(inc, rng, str(rng.choice(["burn", "breathing"])), int(rng.uniform(3, 10) * _MIN))
    inc.entities = [pid, pid.replace("FAP", "BLD", 1)]
    inc.signals = ["fire_alarm", "fire_calls", "fire_incident"]


def _plan_traffic_accident(inc: Incident, w: World, rng: np.random.Generator, at: Any,
                           dist: str | None) -> None:
    g, r = w.segments, w.roadsegs or w.segments   # detectors; all road segments
    det = _choose(w, rng, g.lat, g.lon, g.district, g.p["cap"] >= 3000, at, dist)
    seg = int(g.p["seg"][det])                    # on a detector's segment: it shows
    inc.lat, inc.lon = float(r.lat[seg]), float(r.lon[seg])
    k = int(rng.integers(4, 9))
    # the k nearest road segments, and the k nearest that carry a detector (which show the
    # queue; on the graph, at small scales, few segments have one)
    near = list(dict.fromkeys([seg] + [int(i) for i in nearest(r.lat, r.lon, inc.lat, inc.lon,
                                                                None, k)] +
                              [int(g.p["seg"][i]) for i in nearest(g.lat, g.lon, inc.lat,
                                                                   inc.lon, None, k)]))
    factors = [rng.uniform(0.1, 0.2) if i == seg else rng.uniform(0.25, 0.5) for i in near]
    near, factors = _within(r, inc, near, factors, QUEUE_REACH_KM)
    sid = str(r.ids[seg])
    off, sev, blocked = int(rng.uniform(0, 90) * 1000), int(rng.integers(2, 5)), \
        int(rng.integers(1, 4))
    inc.actions = [Action(off, "accident", {
        "severity": sev, "lanes_blocked": blocked, "segment_id": sid}, *rng.normal(0, 30, 2)),
        Action(int(rng.uniform(60, 240) * 1000), "signal_fault", {
            "signal": signal_id(sid), "fault": "flashing"})]
    if w.roads is not None and blocked >= r.p["lanes"][seg]:
        factors[near.index(seg)] = 0.0    # every lane blocked: the segment is closed
    inc.effects = [_effect("segments", near, factors, inc.start_ms, inc.end_ms, 2 * _MIN)]
    if rng.random() < 0.7:
        _ems_call(inc, rng, "trauma", int(rng.uniform(0.5, 3) * _MIN))
    with_detector = set(g.p["seg"].tolist()) if w.roads is not None else None
    inc.entities = [str(r.ids[i]) for i in near if with_detector is None or i in with_detector]
    inc.signals = ["traffic_accident", "traffic_congestion"]


def _plan_hazmat_leak(inc: Incident, w: World, rng: np.random.Generator, at: Any,
                      dist: str | None) -> None:
    h, lim = w.hazmat, w.profile.limits
    mask = h.p["pressurised"] if h.p["pressurised"].any() else np.ones(len(h.ids), bool)
    inc.vehicle = v = _choose(w, rng, h.lat, h.lon, h.district, mask, at, dist)
    t0, t1 = inc.start_ms, inc.end_ms
    gas_hi = lim["tank_gas"].high_alarm or 20.0
    p_hi = lim["tank_pressure"].high_alarm or 1800.0
    inc.effects = [_effect("tank2", [v], [min(95.0, gas_hi * rng.uniform(1.5, 3.5))], t0, t1,
                           60_000),
                   _effect("tank0", [v], [p_hi * rng.uniform(1.05, 1.35)], t0, t1, 60_000)]
    _fire_call(inc, rng, "hazmat", int(rng.uniform(1, 4) * _MIN), 80, 3)
    for off in sorted(rng.uniform(2, 12, int(rng.integers(2, 5)))):
        _ems_call(inc, rng, str(rng.choice(["poisoning", "breathing"])), int(off * _MIN), 300)
    inc.entities = [str(h.ids[v]), str(h.p["tank_ids"][v])]
    inc.signals = ["tank_gas_high", "tank_pressure_high", "hazmat_stopped", "ems_calls"]


def _fire_call(inc: Incident, rng: np.random.Generator, category: str, offset: int,
               spread_m: float, engines: int, level: int = 1) -> None:
    inc.actions.append(Action(offset, "fire_call", {
        "category": category, "incident": inc.incident_id, "engines": engines,
        "alarm_level": level, "release_ms": inc.end_ms}, *rng.normal(0, spread_m / 2, 2)))


def _ems_call(inc: Incident, rng: np.random.Generator, complaint: str, offset: int,
              spread_m: float = 100) -> None:
    inc.actions.append(Action(offset, "ems_call", {
        "complaint": complaint, "priority": int(rng.integers(1, 3)),
        "patients": int(rng.integers(1, 4))}, *rng.normal(0, spread_m / 2, 2)))


_PLANNERS = {"gas_leak": _plan_gas_leak, "water_main_burst": _plan_water_main_burst,
             "structure_fire": _plan_structure_fire, "traffic_accident": _plan_traffic_accident,
             "hazmat_leak": _plan_hazmat_leak}


def schedule_hour(world: World, hour: int, per_hour: float) -> list[Incident]:
    """The automatic incidents starting in epoch hour ``hour``: Poisson, from the seed."""
    if per_hour <= 0:
        return []
    rng = np.random.default_rng([world.seed, 0x1C, hour])
    out = []
    for k, t in enumerate(sorted(rng.integers(0, 3_600_000, rng.poisson(per_hour)))):
        kind = KINDS[int(rng.choice(len(KINDS), p=KIND_WEIGHTS))]
        at = hour * 3_600_000 + int(t)
        stamp = format_event_time(at)[:13].replace("-", "").replace("T", "")
        iid = f"INC-{CODES[kind]}-{stamp}-{k}"
        out.append(plan(kind, world, iid, at, rng))
    return out
