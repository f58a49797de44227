"""detectors.traffic: congestion vs the usual speed, accidents (reports and sudden drops),
signal faults in context; and the simulator's injected accidents, found in time."""

from __future__ import annotations

import json
import math
import statistics
from typing import Any

import numpy as np
import pytest

from city.profile import haversine_km
from detectors.findings import FIRING, RESOLVED, Finding
from detectors.traffic import TrafficDetector
from simulator.generate import Simulation
from unit_helpers import PROFILE
from detectors_domain.simrun import run_sim

T0 = 1768442400000  # 2026-01-15T02:00Z = 10:00 in Changsha
MIN, S = 60_000, 1000
LAT, LON = 28.1930, 113.0000


def seg(sid: str, t: int, speed: float, lat: float = LAT, lon: float = LON) -> dict[str, Any]:
    return {"event_id": f"{sid}@{t}", "type": "segment", "entity_id": sid, "lat": lat,
            "lon": lon, "district": "furong", "speed_kmh": speed, "flow_vph": 1000.0,
            "occupancy": 0.1}


def feed(det: TrafficDetector, events: list[dict[str, Any]], ts: list[int]) -> list[Finding]:
    return det.update("traffic", events, ts)


def steady(det: TrafficDetector, sids: list[tuple[str, float, float]], t0: int, t1: int,
           speed: Any, step: int = 30 * S) -> list[Finding]:
    """Readings every ``step`` for each (segment, lat, lon); ``speed(sid, t)`` or a float."""
    out = []
    rng = np.random.default_rng(1)
    for t in range(t0, t1, step):
        for sid, la, lo in sids:
            v = speed(sid, t) if callable(speed) else speed * (1 + 0.01 * rng.standard_normal())
            out += feed(det, [seg(sid, t, v, la, lo)], [t])
    return out


def kinds(fs: list[Finding], status: str = FIRING) -> list[str]:
    return [f.kind for f in fs if f.status == status]


def test_steady_traffic_and_a_slow_rush_hour_raise_nothing() -> None:
    det = TrafficDetector(PROFILE)
    segs = [("SEG-A", LAT, LON), ("SEG-B", LAT + 0.005, LON)]
    out = steady(det, segs, T0, T0 + 30 * MIN, 50.0)

    def rush(sid: str, t: int) -> float:  # 50 -> 30 km/h over an hour, with 5% noise
        f = min(1.0, (t - T0 - 30 * MIN) / (60 * MIN))
        return 50.0 * (1 - 0.4 * f) * (1 + 0.05 * math.sin(t / 7e4 + len(sid)))
    out += steady(det, segs, T0 + 30 * MIN, T0 + 120 * MIN, rush)
    assert out == []


def test_a_sudden_drop_is_congestion_and_an_accident_that_resolve_when_flow_recovers() -> None:
    det = TrafficDetector(PROFILE)
    segs = [("SEG-A", LAT, LON), ("SEG-B", LAT + 0.02, LON + 0.02)]
    assert steady(det, segs, T0, T0 + 20 * MIN, 50.0) == []

    def drop(sid: str, t: int) -> float:
        return 12.0 if sid == "SEG-A" else 50.0
    out = steady(det, segs, T0 + 20 * MIN, T0 + 24 * MIN, drop)
    fired = {f.kind: f for f in out if f.status == FIRING}
    assert set(fired) == {"traffic_congestion", "traffic_accident"}
    cong, acc = fired["traffic_congestion"], fired["traffic_accident"]
    assert cong.entity_id == acc.entity_id == "SEG-A"
    assert cong.value == 12.0 and 45 < cong.explanation["baseline_kmh"] < 55
    assert cong.threshold == round(0.65 * cong.explanation["baseline_kmh"], 1)
    assert acc.severity == "major" and acc.explanation["source"] == "speed"
    assert cong.event_ms <= T0 + 21 * MIN and acc.event_ms <= T0 + 21 * MIN
    assert cong.title_zh and cong.title_en and cong.evidence
    # both resolve once speed is back
    out = steady(det, segs, T0 + 24 * MIN, T0 + 30 * MIN, 50.0)
    assert sorted(kinds(out, RESOLVED)) == ["traffic_accident", "traffic_congestion"]
    assert kinds(out) == []


def test_two_nearby_sharp_drops_in_quiet_traffic_are_an_accident_at_once() -> None:
    det = TrafficDetector(PROFILE)
    segs = [("SEG-A", LAT, LON), ("SEG-B", LAT + 0.004, LON)] + \
        [(f"SEG-F{i}", LAT + 0.05 * i, LON + 0.05) for i in range(1, 4)]
    steady(det, segs, T0, T0 + 20 * MIN, 50.0)
    t = T0 + 20 * MIN
    out = feed(det, [seg("SEG-A", t, 40.0)], [t])  # -20%: far outside 1% noise
    assert out == []
    out = feed(det, [seg("SEG-B", t + 5 * S, 41.0, LAT + 0.004)], [t + 5 * S])
    assert kinds(out) == ["traffic_accident"]
    assert set(out[0].explanation["segments"]) == {"SEG-A", "SEG-B"}


def test_an_area_wide_slowdown_is_congestion_but_not_an_accident() -> None:
    det = TrafficDetector(PROFILE, context_min=3)
    segs = [(f"SEG-{i}", LAT + 0.03 * (i % 4), LON + 0.03 * (i // 4)) for i in range(12)]
    steady(det, segs, T0, T0 + 20 * MIN, 50.0)
    out = steady(det, segs, T0 + 20 * MIN, T0 + 23 * MIN, 15.0)  # heavy rain everywhere
    assert "traffic_congestion" in kinds(out)
    assert "traffic_accident" not in kinds(out)
    assert det.counters.get("drops_in_area_slowdown", 0) > 0


def accident(rid: str, t: int, severity: int, lanes: int, lat: float = LAT, lon: float = LON,
             segment: str | None = None) -> dict[str, Any]:
    e = {"event_id": f"{rid}@{t}", "type": "accident", "entity_id": rid, "lat": lat,
         "lon": lon, "district": "furong", "severity": severity, "lanes_blocked": lanes}
    if segment:
        e["segment_id"] = segment
    return e


def test_a_serious_accident_report_fires_at_once_and_a_minor_one_waits_for_slow_traffic() -> None:
    det = TrafficDetector(PROFILE)
    segs = [("SEG-A", LAT, LON), ("SEG-Z", LAT + 0.2, LON)]
    steady(det, segs, T0, T0 + 20 * MIN, 50.0)
    t = T0 + 20 * MIN
    out = feed(det, [accident("ACC-1", t, 3, 2, LAT + 0.2, LON)], [t])
    assert kinds(out) == ["traffic_accident"] and out[0].entity_id == "ACC-1"
    assert out[0].severity == "major" and out[0].explanation["source"] == "report"
    # a minor report: held, then opened (confirmed) when its segment slows
    out = feed(det, [accident("ACC-2", t + S, 1, 0, LAT + 0.0003, LON, "SEG-A")], [t + S])
    assert out == []
    out = steady(det, [("SEG-A", LAT, LON)], t + 30 * S, t + 3 * MIN, 15.0)
    opened = [f for f in out if f.kind == "traffic_accident" and f.entity_id == "ACC-2"]
    assert opened and opened[0].severity == "major" and opened[0].explanation["confirmed"]
    # a minor report with nothing slow near it is dropped after the hold
    out = feed(det, [accident("ACC-3", t + 5 * MIN, 1, 1, LAT + 0.5, LON + 0.5)], [t + 5 * MIN])
    assert out == [] and det.tick(t + 16 * MIN) == []
    assert det.counters["minor_reports_uncorroborated"] == 1
    # the uncorroborated serious report expires after its time to live; the confirmed one
    # closes when its segment goes silent (no data)
    out = det.tick(t + 50 * MIN)
    assert sorted((f.entity_id, f.status, f.title_en.split("(")[-1]) for f in out
                  if f.kind == "traffic_accident") == \
        [("ACC-1", RESOLVED, "expired)"), ("ACC-2", RESOLVED, "no data)")]


def _drop_then_report(lag_min: float, north_km: float) -> tuple[list[Finding], float]:
    """A sudden drop on SEG-A, then a serious report ``north_km`` north of it
    ``lag_min`` later (SEG-A's accident came first: it is the far end of a queue)."""
    det = TrafficDetector(PROFILE)
    segs = [("SEG-A", LAT, LON), ("SEG-B", LAT + 0.05, LON + 0.05)]
    steady(det, segs, T0, T0 + 20 * MIN, 50.0)
    out = steady(det, segs, T0 + 20 * MIN, T0 + 22 * MIN,
                 lambda sid, t: 12.0 if sid == "SEG-A" else 50.0)
    assert [f.entity_id for f in out if f.kind == "traffic_accident"] == ["SEG-A"]
    t = T0 + 20 * MIN + int(lag_min * MIN)
    lat = LAT + north_km / 111.2
    return feed(det, [accident("ACC-Q", t, 3, 2, lat, LON)], [t]), lat


def test_a_late_report_at_the_head_of_a_queue_takes_over_the_drop_seen_first() -> None:
    out, lat = _drop_then_report(5, 2.6)
    (f,) = out
    assert f.kind == "traffic_accident" and f.status == FIRING and f.entity_id == "SEG-A"
    assert (f.lat, f.lon) == (lat, LON) and f.explanation["reports"] == ["ACC-Q"]
    assert f.explanation["source"] == "report+speed" and \
        f.explanation["queue_km"] == pytest.approx(2.6, abs=0.02)


def test_a_report_too_late_or_too_far_for_the_queue_is_an_accident_of_its_own() -> None:
    for lag, km in ((20, 2.6), (5, 3.5)):
        out, lat = _drop_then_report(lag, km)
        assert [(f.entity_id, f.lat) for f in out if f.kind == "traffic_accident"] == \
            [("ACC-Q", lat)], (lag, km)


def fault(sig: str, t: int, kind: str, lat: float = LAT, lon: float = LON) -> dict[str, Any]:
    return {"event_id": f"{sig}@{t}", "type": "signal_fault", "entity_id": sig, "lat": lat,
            "lon": lon, "district": "furong", "fault": kind}


def test_signal_faults_alert_only_where_traffic_is_disturbed() -> None:
    det = TrafficDetector(PROFILE)
    steady(det, [("SEG-A", LAT, LON)], T0, T0 + 20 * MIN, 50.0)
    t = T0 + 20 * MIN
    assert feed(det, [fault("SIG-1", t, "comm_loss")], [t]) == []
    assert feed(det, [fault("SIG-2", t, "dark", LAT + 0.3)], [t]) == []
    out = feed(det, [accident("ACC-1", t + S, 4, 3)], [t + S])
    assert kinds(out) == ["traffic_accident"] and out[0].severity == "critical"
    out = feed(det, [fault("SIG-3", t + 2 * S, "flashing", LAT + 0.001)], [t + 2 * S])
    assert kinds(out) == ["signal_fault"] and out[0].severity == "major"
    assert out[0].explanation["accident"] == "ACC-1"
    # the accident expires (no segment corroborated it): its fault alert closes with it
    out = det.tick(t + 50 * MIN)
    assert sorted((f.kind, f.status) for f in out) == [("signal_fault", RESOLVED),
                                                       ("traffic_accident", RESOLVED)]
    # every fault, as info, when asked
    det2 = TrafficDetector(PROFILE, all_faults=True)
    out = feed(det2, [fault("SIG-1", t, "comm_loss")], [t])
    assert [(f.kind, f.severity) for f in out] == [("signal_fault", "info")]


def test_a_silent_congested_segment_resolves_on_tick() -> None:
    det = TrafficDetector(PROFILE)
    steady(det, [("SEG-A", LAT, LON)], T0, T0 + 20 * MIN, 50.0)
    out = steady(det, [("SEG-A", LAT, LON)], T0 + 20 * MIN, T0 + 22 * MIN, 10.0)
    assert "traffic_congestion" in kinds(out)
    assert det.tick(T0 + 30 * MIN) == []
    out = det.tick(T0 + 40 * MIN)
    assert ("traffic_congestion", RESOLVED) in [(f.kind, f.status) for f in out]
    assert any("no data" in f.title_en for f in out)


def test_snapshot_is_json_and_restores_the_same_behaviour() -> None:
    a = TrafficDetector(PROFILE)
    segs = [("SEG-A", LAT, LON), ("SEG-B", LAT + 0.02, LON)]
    steady(a, segs, T0, T0 + 20 * MIN, 50.0)
    feed(a, [accident("ACC-9", T0 + 20 * MIN, 1, 0, segment="SEG-A")], [T0 + 20 * MIN])
    state = json.loads(json.dumps(a.snapshot()))
    b = TrafficDetector(PROFILE)
    b.restore(state)

    def drop(sid: str, t: int) -> float:
        return 10.0 if sid == "SEG-A" else 50.0
    fa = steady(a, segs, T0 + 20 * MIN, T0 + 25 * MIN, drop)
    fb = steady(b, segs, T0 + 20 * MIN, T0 + 25 * MIN, drop)
    assert fa == fb and "traffic_accident" in kinds(fa)
    b.restore(None)  # an empty or foreign state is a fresh start
    assert b.segs == {}


# -- the simulator -------------------------------------------------------------------------
def first_alert(truth: dict[str, Any], fs: list[Finding], kind: str,
                km: float = 2.0) -> float | None:
    """Seconds from the incident start to its first finding of ``kind`` (matched by entity
    or place), or None."""
    best = None
    for f in fs:
        if f.kind != kind or f.status != FIRING or f.event_ms < truth["start_ms"] - 5 * S:
            continue
        if f.entity_id in truth["entities"] or (
                f.lat is not None and haversine_km(f.lat, f.lon, truth["lat"], truth["lon"]) <= km):
            d = (f.event_ms - truth["start_ms"]) / 1000
            best = d if best is None else min(best, d)
    return best


def test_simulated_accidents_are_found_within_a_minute_and_normal_traffic_is_quiet() -> None:
    sim = Simulation(PROFILE, scale=0.05, seed=5, start_ms=T0, incidents=0)
    for i in range(4):
        sim.inject("traffic_accident", T0 + (20 + 15 * i) * MIN, duration_s=600)
    det = TrafficDetector(PROFILE)
    fs = run_sim(sim, det, T0 + 90 * MIN, {"traffic"})
    truth = sim.truth
    assert len(truth) == 4
    acc = [first_alert(tr, fs, "traffic_accident") for tr in truth]
    cong = [first_alert(tr, fs, "traffic_congestion") for tr in truth]
    assert all(x is not None for x in acc + cong), (acc, cong)
    # the report comes 0-90 s after the start and the speed effect ramps over 2 min: each is
    # found within 2 min, the median within a minute
    assert max(acc) <= 120 and statistics.median(acc) <= 60, acc
    assert max(cong) <= 150, cong
    for f in fs:
        json.dumps(f.explanation)
    # before the first incident (after a 10-min warm-up): nothing
    early = [f for f in fs if f.status == FIRING and f.event_ms < T0 + 20 * MIN]
    assert early == []


def test_a_normal_hour_at_rush_time_raises_at_most_one_finding() -> None:
    start = T0 - 3 * 3_600_000 + 30 * MIN  # 07:30 in Changsha
    sim = Simulation(PROFILE, scale=0.1, seed=8, start_ms=start, incidents=0)
    fs = run_sim(sim, TrafficDetector(PROFILE), start + 70 * MIN, {"traffic"}, step=30 * S)
    assert len([f for f in fs if f.status == FIRING]) <= 1


def test_an_accident_on_a_known_road_is_named_by_the_road_not_its_segment_id() -> None:
    """The cockpit showed "长沙县交通事故：hongshan.2:10，2 条车道受阻": a segment id on screen."""
    from city.profile import load_roads, road_names
    names = road_names(load_roads(PROFILE))
    assert names["hongshan.2"][0].startswith("洪山路")
    det = TrafficDetector(PROFILE, road_names=names)
    t = T0 + 20 * MIN
    out = feed(det, [accident("ACC-9", t, 3, 2, LAT, LON, "hongshan.2:10")], [t])
    assert kinds(out) == ["traffic_accident"]
    assert "洪山路" in out[0].title_zh and "hongshan" not in out[0].title_zh
    assert "Hongshan Road" in out[0].title_en and "hongshan.2:10" not in out[0].title_en
    # a segment of a road the city does not know keeps its id, said as a road section
    out = feed(det, [accident("ACC-10", t + S, 3, 1, LAT + 0.3, LON, "nowhere:3")], [t + S])
    assert "路段 nowhere:3" in out[0].title_zh


def test_congestion_on_a_known_road_is_named_by_the_road() -> None:
    from city.profile import load_roads, road_names
    det = TrafficDetector(PROFILE, road_names=road_names(load_roads(PROFILE)))
    sid = "hongshan.2:4"
    steady(det, [(sid, LAT, LON)], T0, T0 + 30 * MIN, 50.0)
    out = steady(det, [(sid, LAT, LON)], T0 + 30 * MIN, T0 + 40 * MIN, 10.0)
    jam = [f for f in out if f.kind == "traffic_congestion" and f.status == FIRING]
    assert jam and "洪山路" in jam[0].title_zh and sid not in jam[0].title_zh
    assert "Hongshan Road" in jam[0].title_en
