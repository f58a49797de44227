"""detectors.clusters: 120/119 call clusters, fire alarms, multi-alarm incidents and the
gas explosion pattern; and the simulator's fires, leaks and an ordinary hour."""

from __future__ import annotations

import json
import statistics
from typing import Any

from city.profile import haversine_km
from detectors.clusters import ClusterDetector
from detectors.findings import FIRING, RESOLVED, Finding
from detectors.geo import Grid, point_in_polygon, distance_to_path_km
from simulator.generate import Simulation
from unit_helpers import PROFILE
from detectors_domain.simrun import run_sim

T0 = 1768442400000
MIN, S = 60_000, 1000
LAT, LON = 28.1930, 113.0000
KM = 1 / 111.32  # a kilometre of latitude, in degrees


def call(cid: str, t: int, complaint: str, dlat: float = 0.0, priority: int = 2
         ) -> dict[str, Any]:
    return {"event_id": f"{cid}@{t}", "type": "call", "entity_id": cid, "lat": LAT + dlat,
            "lon": LON, "district": "furong", "complaint": complaint, "priority": priority,
            "patients": 1}


def fcall(cid: str, t: int, dlat: float = 0.0) -> dict[str, Any]:
    return {"event_id": f"{cid}@{t}", "type": "call", "entity_id": cid, "lat": LAT + dlat,
            "lon": LON, "district": "furong", "category": "structure_fire"}


def alarm(panel: str, t: int, signal: str, dlat: float = 0.0) -> dict[str, Any]:
    return {"event_id": f"{panel}/{signal}@{t}", "type": "alarm_signal", "entity_id": panel,
            "lat": LAT + dlat, "lon": LON, "district": "furong", "signal": signal,
            "building_id": panel.replace("FAP", "BLD")}


def reading(sid: str, t: int, kind: str, value: float, dlat: float = 0.0) -> dict[str, Any]:
    unit = {"gas_pressure": "kPa"}.get(kind, "%LEL")
    return {"event_id": f"{sid}@{t}", "type": "reading", "entity_id": sid, "lat": LAT + dlat,
            "lon": LON, "district": "furong", "kind": kind, "value": value, "unit": unit}


def feed(det: ClusterDetector, stream: str, e: dict[str, Any], t: int) -> list[Finding]:
    return det.update(stream, [e], [t])


def states(fs: list[Finding]) -> list[tuple[str, str, str, str]]:
    return [(f.kind, f.entity_id, f.status, f.severity) for f in fs]


def test_geometry_helpers() -> None:
    g = Grid(0.5, 28.2)
    assert g.cell(LAT, LON) == g.cell(LAT + 0.0001, LON + 0.0001)
    assert len(g.near(LAT, LON, 0.4)) == 9 and len(g.near(LAT, LON, 1.0)) == 25
    square = [(28.0, 113.0), (28.0, 113.1), (28.1, 113.1), (28.1, 113.0)]
    assert point_in_polygon(28.05, 113.05, square) and not point_in_polygon(28.2, 113.05, square)
    assert abs(distance_to_path_km(28.01, 113.0, [(28.0, 112.9), (28.0, 113.1)]) - 1.113) < 0.01


def test_three_calls_of_one_complaint_within_a_kilometre_and_ten_minutes() -> None:
    det = ClusterDetector(PROFILE)
    assert feed(det, "ems", call("C1", T0, "chest_pain"), T0) == []
    assert feed(det, "ems", call("C2", T0 + MIN, "stroke", 0.3 * KM), T0 + MIN) == []
    assert feed(det, "ems", call("C3", T0 + 2 * MIN, "chest_pain", 3 * KM), T0 + 2 * MIN) == []
    assert feed(det, "ems", call("C4", T0 + 3 * MIN, "chest_pain", 0.5 * KM), T0 + 3 * MIN) == []
    out = feed(det, "ems", call("C5", T0 + 9 * MIN, "chest_pain", 0.2 * KM), T0 + 9 * MIN)
    assert states(out) == [("ems_calls", "C1", FIRING, "major")]
    f = out[0]
    assert f.value == 3 and f.threshold == 3 and f.stream == "ems"
    assert f.explanation["members"] == ["C1", "C4", "C5"] and len(f.evidence) == 3
    assert "120" in f.title_zh and "EMS" in f.title_en
    # too late to join: the first call left the window
    out = feed(det, "ems", call("C6", T0 + 30 * MIN, "chest_pain"), T0 + 30 * MIN)
    assert states(out) == [("ems_calls", "C1", RESOLVED, "major")]


def test_two_urgent_toxic_exposure_calls_are_enough_and_a_growing_cluster_escalates() -> None:
    det = ClusterDetector(PROFILE)
    assert feed(det, "ems", call("C1", T0, "poisoning", -KM, priority=3), T0) == []
    assert feed(det, "ems", call("C2", T0 + MIN, "chest_pain", 0.1 * KM, 1), T0 + MIN) == []
    out = feed(det, "ems", call("C3", T0 + 2 * MIN, "breathing", 0.2 * KM, priority=1),
               T0 + 2 * MIN)
    assert out == []  # one urgent toxic call, one not urgent
    out = feed(det, "ems", call("C4", T0 + 3 * MIN, "poisoning", 2 * KM, priority=2),
               T0 + 3 * MIN)
    assert out == []  # urgent, but 2 km away
    out = feed(det, "ems", call("C5", T0 + 4 * MIN, "poisoning", 0.5 * KM, priority=2),
               T0 + 4 * MIN)
    assert states(out) == [("ems_calls", "C3", FIRING, "major")]
    assert out[0].explanation["members"] == ["C3", "C5"]
    assert out[0].explanation["key"] == "toxic"
    for k in range(6, 9):
        out = feed(det, "ems", call(f"C{k}", T0 + k * MIN, "breathing"), T0 + k * MIN)
    assert states(out) == [("ems_calls", "C3", FIRING, "critical")]  # 5 calls
    assert det.tick(T0 + 17 * MIN) == []
    assert states(det.tick(T0 + 19 * MIN)) == [("ems_calls", "C3", RESOLVED, "critical")]


def test_a_fire_alarm_escalates_with_more_signals_and_a_119_call() -> None:
    det = ClusterDetector(PROFILE)
    assert feed(det, "fire", alarm("FAP-1", T0, "heartbeat"), T0) == []
    assert feed(det, "fire", alarm("FAP-1", T0, "fault"), T0) == []
    out = feed(det, "fire", alarm("FAP-1", T0 + S, "smoke"), T0 + S)
    assert states(out) == [("fire_alarm", "BLD-1", FIRING, "minor")]
    assert out[0].event_ms == T0 + S
    opened = out[0]
    assert feed(det, "fire", alarm("FAP-1", T0 + 10 * S, "smoke"), T0 + 10 * S) == []
    out = feed(det, "fire", alarm("FAP-1", T0 + 40 * S, "heat"), T0 + 40 * S)
    assert states(out) == [("fire_alarm", "BLD-1", FIRING, "major")]
    assert feed(det, "fire", alarm("FAP-2", T0 + 60 * S, "smoke", 0.2 * KM), T0 + 60 * S) == []
    out = feed(det, "fire", fcall("C119-1", T0 + 90 * S, 0.1 * KM), T0 + 90 * S)
    assert states(out) == [("fire_alarm", "BLD-1", FIRING, "critical")]
    assert out[0].explanation["panels"] == ["FAP-1", "FAP-2"]
    assert out[0].explanation["confirmed_by"] == ["C119-1"]
    assert out[0].evidence[-1] == f"C119-1@{T0 + 90 * S}"  # a new alert id for the change
    assert det.tick(T0 + 15 * MIN) == []
    assert ("fire_alarm", "BLD-1", RESOLVED, "critical") in states(det.tick(T0 + 17 * MIN))
    # a finding is a snapshot: later changes to the cluster do not alter it
    assert opened.explanation["panels"] == ["FAP-1"] and opened.explanation["confirmed_by"] == []


def test_fire_calls_cluster_and_multi_alarm_incidents() -> None:
    det = ClusterDetector(PROFILE)
    assert feed(det, "fire", fcall("C1", T0), T0) == []
    assert feed(det, "fire", fcall("C2", T0 + 5 * MIN, 2 * KM), T0 + 5 * MIN) == []
    out = feed(det, "fire", fcall("C3", T0 + 6 * MIN, 0.4 * KM), T0 + 6 * MIN)
    assert states(out) == [("fire_calls", "C1", FIRING, "major")]
    inc = {"event_id": "FI-1/o", "type": "incident", "entity_id": "FI-1", "lat": LAT,
           "lon": LON, "district": "furong", "category": "structure_fire", "alarm_level": 1,
           "status": "open"}
    assert feed(det, "fire", inc, T0) == []  # a first alarm is routine
    out = feed(det, "fire", {**inc, "event_id": "FI-1/u", "alarm_level": 2}, T0 + MIN)
    assert states(out) == [("fire_incident", "FI-1", FIRING, "major")]
    out = feed(det, "fire", {**inc, "event_id": "FI-1/u3", "alarm_level": 3}, T0 + 2 * MIN)
    assert states(out) == [("fire_incident", "FI-1", FIRING, "critical")]
    out = feed(det, "fire", {**inc, "event_id": "FI-1/c", "status": "closed"}, T0 + 30 * MIN)
    assert states(out) == [("fire_calls", "C1", RESOLVED, "major"),  # quiet for 10 min
                           ("fire_incident", "FI-1", RESOLVED, "critical")]


def test_gas_pressure_drop_methane_and_a_119_call_are_an_explosion_risk() -> None:
    det = ClusterDetector(PROFILE)
    # normal readings are nothing
    assert feed(det, "lifeline", reading("GASP-1", T0, "gas_pressure", 290.0, 1.2 * KM), T0) == []
    assert feed(det, "lifeline", reading("GASC-1", T0, "gas_concentration", 0.6), T0) == []
    t = T0 + MIN
    assert feed(det, "lifeline", reading("GASC-1", t, "gas_concentration", 24.0), t) == []
    assert feed(det, "lifeline", reading("GASP-1", t + 30 * S, "gas_pressure", 120.0, 1.2 * KM),
                t + 30 * S) == []
    assert feed(det, "fire", fcall("C119-9", t + MIN, 3 * KM), t + MIN) == []  # too far
    out = feed(det, "fire", fcall("C119-8", t + 4 * MIN, 0.3 * KM), t + 4 * MIN)
    assert states(out) == [("gas_explosion_risk", "GASC-1", FIRING, "critical")]
    f = out[0]
    assert f.explanation["pressure_kpa"] == 120.0 and f.explanation["call"] == "C119-8"
    assert f.threshold == PROFILE.limits["gas_concentration"].high_recover
    assert len(f.evidence) == 3 and f.stream == "lifeline"
    # the gas keeps it alive; when it is gone for the window, it resolves
    feed(det, "lifeline", reading("GASC-1", t + 8 * MIN, "gas_concentration", 30.0), t + 8 * MIN)
    assert [x for x in det.tick(t + 17 * MIN) if x.kind == "gas_explosion_risk"] == []
    out = [x for x in det.tick(t + 19 * MIN) if x.kind == "gas_explosion_risk"]
    assert states(out) == [("gas_explosion_risk", "GASC-1", RESOLVED, "critical")]
    # without the call, no risk finding
    det2 = ClusterDetector(PROFILE)
    feed(det2, "lifeline", reading("GASC-1", t, "gas_concentration", 24.0), t)
    assert feed(det2, "lifeline", reading("GASP-1", t, "gas_pressure", 120.0), t) == []


def test_snapshot_is_json_and_restores() -> None:
    a = ClusterDetector(PROFILE)
    feed(a, "ems", call("C1", T0, "trauma"), T0)
    feed(a, "ems", call("C2", T0 + MIN, "fall"), T0 + MIN)
    feed(a, "fire", alarm("FAP-1", T0, "smoke"), T0)
    b = ClusterDetector(PROFILE)
    b.restore(json.loads(json.dumps(a.snapshot())))
    e = call("C3", T0 + 2 * MIN, "trauma")
    assert states(feed(a, "ems", e, T0 + 2 * MIN)) == states(feed(b, "ems", e, T0 + 2 * MIN)) \
        == [("ems_calls", "C1", FIRING, "major")]
    assert states(b.tick(T0 + 20 * MIN)) == states(a.tick(T0 + 20 * MIN))


# -- the simulator -------------------------------------------------------------------------
def first(tr: dict[str, Any], fs: list[Finding], kind: str, km: float = 1.5) -> float | None:
    ts = [(f.event_ms - tr["start_ms"]) / 1000 for f in fs
          if f.kind == kind and f.status == FIRING and f.event_ms >= tr["start_ms"] and
          (f.entity_id in tr["entities"] or
           haversine_km(f.lat, f.lon, tr["lat"], tr["lon"]) <= km)]
    return min(ts) if ts else None


def test_simulated_fires_leaks_and_gas_leaks_are_found() -> None:
    sim = Simulation(PROFILE, scale=0.05, seed=4, start_ms=T0, incidents=0)
    plan = ["structure_fire", "hazmat_leak", "gas_leak"] * 3
    central = ["furong", "tianxin", "kaifu", "yuhua"]
    incs = {sim.inject(k, T0 + (10 + 7 * i) * MIN, duration_s=1500,
                       district=central[i % 4]).incident_id: k for i, k in enumerate(plan)}
    det = ClusterDetector(PROFILE)
    fs = run_sim(sim, det, T0 + 95 * MIN)
    sensors = sim.world.sensors
    firsts, checked_gas = [], 0
    for tr in sim.truth:
        kind = incs[tr["incident_id"]]
        if kind == "structure_fire":
            alarm_s = first(tr, fs, "fire_alarm")
            assert alarm_s is not None and alarm_s <= 1, (tr, alarm_s)
            calls = first(tr, fs, "fire_calls")
            inc = first(tr, fs, "fire_incident")
            assert calls is not None and calls <= 7 * 60 and inc is not None and inc <= 6 * 60
            firsts.append(alarm_s)
        elif kind == "hazmat_leak":  # 2-4 urgent poisoning/breathing calls in 2-12 min
            x = first(tr, fs, "ems_calls")
            assert x is not None and x <= 12 * 60, tr
        else:  # a gas leak: a risk finding when a 119 call came (60% of them) and a
            # pressure sensor is near enough to see the drop (sparse at this scale)
            x = first(tr, fs, "gas_explosion_risk", km=2.0)
            has_call = any(e.startswith("C119-") for e in tr["entities"])
            gp = [i for i, e in enumerate(sensors.ids) if e == tr["entities"][-1 - sum(
                e.startswith(("C119-", "FI-")) for e in tr["entities"])]]
            near = gp and haversine_km(sensors.lat[gp[0]], sensors.lon[gp[0]], tr["lat"],
                                       tr["lon"]) <= 2.0
            assert (x is not None) == bool(has_call and near), tr
            checked_gas += x is not None
    assert statistics.median(firsts) <= 60 and checked_gas >= 1
    for f in fs:
        json.dumps(f.explanation)


def test_an_ordinary_hour_has_no_clusters() -> None:
    sim = Simulation(PROFILE, scale=0.1, seed=6, start_ms=T0, incidents=0)
    fs = run_sim(sim, ClusterDetector(PROFILE), T0 + 60 * MIN, step=30 * S)
    assert [f for f in fs if f.status == FIRING] == []


def test_titles_name_categories_and_complaints_in_words_not_codes() -> None:
    """A fire incident's 119 category and a call cluster's complaint family are said in each
    language (issue 15: "structure_fire", "chest_pain" reached the cockpit in the titles)."""
    import re
    det = ClusterDetector(PROFILE)
    inc = {"event_id": "FI-1/o", "type": "incident", "entity_id": "FI-1", "lat": LAT,
           "lon": LON, "district": "furong", "category": "structure_fire", "alarm_level": 2,
           "status": "open"}
    [fire] = feed(det, "fire", inc, T0)
    assert "建筑火灾" in fire.title_zh and "structure fire" in fire.title_en
    out: list[Finding] = []
    for i in range(3):
        out += feed(det, "ems", call(f"E{i}", T0 + i * MIN, "chest_pain", i * 0.1 * KM), T0 + i * MIN)
    [cluster] = [f for f in out if f.kind == "ems_calls"]
    assert "胸痛" in cluster.title_zh and "chest pain" in cluster.title_en
    code = re.compile(r"\b[a-z]+(?:_[a-z]+)+\b")
    for f in (fire, cluster):
        assert not code.search(f.title_zh) and not code.search(f.title_en), (f.title_zh, f.title_en)
