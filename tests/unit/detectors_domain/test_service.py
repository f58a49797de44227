"""detectors.service: 120/119 dispatch, turnout and travel against their targets, driven by
event time and by tick() when nothing else arrives; and on the simulator."""

from __future__ import annotations

import json
from typing import Any

from detectors.findings import FIRING, RESOLVED, Finding
from detectors.service import ServiceLevelDetector
from simulator.generate import Simulation
from unit_helpers import PROFILE
from detectors_domain.simrun import run_sim

T0 = 1768442400000
MIN, S = 60_000, 1000
LAT, LON = 28.1930, 113.0000


def ems_call(cid: str, t: int, priority: int = 2) -> dict[str, Any]:
    return {"event_id": f"{cid}@{t}", "type": "call", "entity_id": cid, "lat": LAT, "lon": LON,
            "district": "furong", "complaint": "chest_pain", "priority": priority,
            "patients": 1}


def unit(uid: str, t: int, status: str, cid: str) -> dict[str, Any]:
    return {"event_id": f"{uid}/{status}@{t}", "type": "unit_status", "entity_id": uid,
            "status": status, "call_id": cid, "lat": LAT, "lon": LON, "district": "furong"}


def fire_call(cid: str, t: int, lat: float = LAT, lon: float = LON) -> dict[str, Any]:
    return {"event_id": f"{cid}@{t}", "type": "call", "entity_id": cid, "lat": lat, "lon": lon,
            "district": "furong", "category": "structure_fire"}


def incident(fid: str, t: int, status: str = "open", level: int = 2, lat: float = LAT,
             lon: float = LON) -> dict[str, Any]:
    return {"event_id": f"{fid}/{status}@{t}", "type": "incident", "entity_id": fid,
            "lat": lat, "lon": lon, "district": "furong", "category": "structure_fire",
            "alarm_level": level, "status": status}


def engine(eid: str, t: int, status: str, fid: str) -> dict[str, Any]:
    return {"event_id": f"{eid}/{status}@{t}", "type": "engine_status", "entity_id": eid,
            "status": status, "incident_id": fid, "district": "furong"}


def ems(det: ServiceLevelDetector, e: dict[str, Any], t: int) -> list[Finding]:
    return det.update("ems", [e], [t])


def fire(det: ServiceLevelDetector, e: dict[str, Any], t: int) -> list[Finding]:
    return det.update("fire", [e], [t])


def states(fs: list[Finding]) -> list[tuple[str, str, str]]:
    return [(f.kind, f.entity_id, f.status) for f in fs]


def test_a_call_without_an_ambulance_is_pending_at_three_minutes_even_if_all_is_quiet() -> None:
    det = ServiceLevelDetector(PROFILE)
    assert ems(det, ems_call("C1", T0, priority=1), T0) == []
    assert det.tick(T0 + 179 * S) == []
    out = det.tick(T0 + 180 * S)
    assert states(out) == [("call_pending", "C1", FIRING)]
    f = out[0]
    assert f.severity == "critical" and f.event_ms == T0 + 180 * S and f.threshold == 180
    assert f.stream == "ems" and f.title_zh and f.title_en and f.evidence == ("C1@" + str(T0),)
    assert det.tick(T0 + 200 * S) == []  # once
    # dispatched at 4 min: pending resolves, the late dispatch is on record until on scene
    out = ems(det, unit("AMB-1", T0 + 240 * S, "dispatched", "C1"), T0 + 240 * S)
    assert states(out) == [("call_pending", "C1", RESOLVED), ("ems_dispatch_delay", "C1", FIRING)]
    assert out[1].value == 240.0 and out[1].threshold == 180.0
    assert ems(det, unit("AMB-1", T0 + 245 * S, "en_route", "C1"), T0 + 245 * S) == []
    out = ems(det, unit("AMB-1", T0 + 900 * S, "on_scene", "C1"), T0 + 900 * S)
    assert states(out) == [("ems_dispatch_delay", "C1", RESOLVED)]


def test_a_prompt_dispatch_raises_nothing_and_a_slow_turnout_does() -> None:
    det = ServiceLevelDetector(PROFILE)
    out = det.update("ems", [ems_call("C2", T0), unit("AMB-2", T0, "dispatched", "C2")],
                     [T0, T0])
    assert out == [] and det.tick(T0 + 59 * S) == []
    out = det.tick(T0 + 60 * S)
    assert states(out) == [("ems_turnout_delay", "C2", FIRING)]
    assert out[0].explanation["unit"] == "AMB-2"
    out = ems(det, unit("AMB-2", T0 + 90 * S, "en_route", "C2"), T0 + 90 * S)
    assert states(out) == [("ems_turnout_delay", "C2", RESOLVED)] and out[0].value == 90.0
    assert det.tick(T0 + 3 * 3_600_000) == []  # forgotten quietly


def test_deadlines_inside_a_batch_fire_in_event_time_order() -> None:
    det = ServiceLevelDetector(PROFILE)
    out = det.update("ems", [ems_call("C3", T0), unit("AMB-3", T0 + 200 * S, "dispatched", "C3")],
                     [T0, T0 + 200 * S])
    assert states(out) == [("call_pending", "C3", FIRING), ("call_pending", "C3", RESOLVED),
                           ("ems_dispatch_delay", "C3", FIRING)]
    assert [f.event_ms for f in out] == [T0 + 180 * S, T0 + 200 * S, T0 + 200 * S]


def test_fire_turnout_and_first_engine_travel() -> None:
    det = ServiceLevelDetector(PROFILE)
    out = det.update("fire", [fire_call("C119-1", T0), incident("FI-1", T0),
                              engine("ENG-1", T0, "dispatched", "FI-1"),
                              engine("ENG-2", T0, "dispatched", "FI-1")], [T0] * 4)
    assert out == []
    assert fire(det, engine("ENG-1", T0 + 5 * S, "en_route", "FI-1"), T0 + 5 * S) == []
    out = det.tick(T0 + 80 * S)  # ENG-2 still in the station
    assert states(out) == [("fire_turnout_delay", "FI-1", FIRING)]
    out = fire(det, engine("ENG-2", T0 + 100 * S, "en_route", "FI-1"), T0 + 100 * S)
    assert states(out) == [("fire_turnout_delay", "FI-1", RESOLVED)]
    out = det.tick(T0 + 245 * S)
    assert states(out) == [("fire_travel_delay", "FI-1", FIRING)]
    assert out[0].severity == "minor" and out[0].explanation["alarm_level"] == 2
    out = fire(det, engine("ENG-1", T0 + 305 * S, "on_scene", "FI-1"), T0 + 305 * S)
    assert states(out) == [("fire_travel_delay", "FI-1", RESOLVED)] and out[0].value == 300.0
    assert fire(det, incident("FI-1", T0 + 40 * MIN, "closed"), T0 + 40 * MIN) == []


def test_fire_calls_without_engines_are_one_pending_alert_per_fire() -> None:
    det = ServiceLevelDetector(PROFILE)
    fire(det, fire_call("C119-A", T0), T0)
    fire(det, incident("FI-A", T0, level=3), T0)  # opened, but no engine free
    fire(det, fire_call("C119-B", T0 + 20 * S, LAT + 0.001), T0 + 20 * S)  # same fire
    out = det.tick(T0 + 90 * S)
    assert states(out) == [("call_pending", "FI-A", FIRING)]
    assert out[0].severity == "critical" and out[0].stream == "fire"
    assert det.tick(T0 + 200 * S) == []
    out = fire(det, engine("ENG-9", T0 + 300 * S, "dispatched", "FI-A"), T0 + 300 * S)
    assert states(out) == [("call_pending", "FI-A", RESOLVED)]
    # a 119 call that no incident ever follows is pending on its own
    fire(det, fire_call("C119-C", T0 + 10 * MIN, LAT + 0.2), T0 + 10 * MIN)
    out = det.tick(T0 + 11 * MIN)
    assert states(out) == [("call_pending", "C119-C", FIRING)]


def test_snapshot_keeps_the_deadlines() -> None:
    a = ServiceLevelDetector(PROFILE)
    ems(a, ems_call("C5", T0), T0)
    b = ServiceLevelDetector(PROFILE)
    b.restore(json.loads(json.dumps(a.snapshot())))
    assert states(b.tick(T0 + 181 * S)) == [("call_pending", "C5", FIRING)]
    assert states(a.tick(T0 + 181 * S)) == [("call_pending", "C5", FIRING)]


# -- the simulator -------------------------------------------------------------------------
def test_on_the_simulator_normal_service_is_quiet_and_an_exhausted_fleet_is_pending() -> None:
    sim = Simulation(PROFILE, scale=0.05, seed=3, start_ms=T0, incidents=0)
    n_engines = len(sim.world.engines.ids)
    fires = [sim.inject("structure_fire", T0 + 30 * MIN + k * S, district=d, duration_s=1800)
             for k, d in enumerate(["furong", "yuhua", "kaifu", "yuelu", "tianxin", "changsha"])]
    det = ServiceLevelDetector(PROFILE)
    fs = run_sim(sim, det, T0 + 45 * MIN)
    early = [f for f in fs if f.event_ms < T0 + 30 * MIN and f.status == FIRING]
    # ordinary calls: dispatch and turnout are prompt; only first-engine travel can be late
    assert {f.kind for f in early} <= {"fire_travel_delay"}
    # six fires need more engines than the city has at this scale: later ones wait
    assert sum(3 + 1 for _ in fires) > n_engines
    pending = [f for f in fs if f.kind == "call_pending" and f.status == FIRING]
    assert pending, [(f.kind, f.entity_id) for f in fs]
    for f in pending:
        assert f.entity_id.startswith("FI-") and f.event_ms - T0 - 30 * MIN <= 8 * MIN
        json.dumps(f.explanation)
    # the fires that got engines: their calls were linked, no pending alert for them
    assert len({f.entity_id for f in pending}) < len(fires)
