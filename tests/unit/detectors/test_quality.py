"""detectors.quality: stuck sensors, silent sensors and bursts of rejected readings —
table-driven transitions, findings (bilingual, explained), checkpoints and bounded memory."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detectors.findings import FIRING, RESOLVED, Finding
from detectors.quality import BURST, NODATA, STUCK, Flatline, NoData, OutOfRangeBurst

MIN = 60_000
F, R = FIRING, RESOLVED


def reading(entity: str, value: float, n: int, kind: str = "water_pressure",
            **extra: Any) -> dict[str, Any]:
    return {"event_id": f"{entity}-{n}", "type": "reading", "entity_id": entity, "kind": kind,
            "value": value, "unit": "MPa", "lat": 28.2, "lon": 112.9, "district": "furong",
            **extra}


def feed(det, values: list[float], entity: str = "W1", step: int = MIN, t0: int = 0,
         stream: str = "lifeline", **extra: Any) -> list[Finding]:
    events = [reading(entity, v, t0 // step + i, **extra) for i, v in enumerate(values)]
    return det.update(stream, events, [t0 + i * step for i in range(len(values))])


def short(findings: list[Finding], t0: int = 0, step: int = MIN) -> list[tuple[int, str]]:
    return [((f.event_ms - t0) // step, f.status) for f in findings]


# -- Flatline ----------------------------------------------------------------------------
FLAT = [
    ("varying values never fire", {}, [1, 2, 3, 4, 5], []),
    ("N equal readings fire at the Nth", {}, [1, 1, 1, 1], [(2, F)]),
    ("a change resets the run", {}, [1, 1, 2, 2, 1, 1], []),
    ("a new value resolves", {}, [1, 1, 1, 1, 2], [(2, F), (4, R)]),
    ("within epsilon counts as equal", {"epsilon": 1e-3}, [1, 1.0009, 0.9991], [(2, F)]),
    ("beyond epsilon does not", {"epsilon": 1e-3}, [1, 1.0011, 1], []),
    ("T ms is enough", {"min_readings": 100, "min_ms": 3 * MIN}, [7, 7, 7, 7, 8],
     [(3, F), (4, R)]),
    ("exempt values may stay put", {"exempt_values": (0.0,)}, [0, 0, 0, 0], []),
    ("stuck again after resolving", {}, [1, 1, 1, 2, 2, 2], [(2, F), (3, R), (5, F)]),
]


@pytest.mark.parametrize("name,params,values,expected", FLAT, ids=[c[0] for c in FLAT])
def test_flatline(name: str, params: dict, values: list[float],
                  expected: list[tuple[int, str]]) -> None:
    det = Flatline(**{"min_readings": 3, **params})
    assert short(feed(det, values)) == expected


def test_flatline_finding_is_bilingual_and_explained() -> None:
    det = Flatline(min_readings=3)
    fired, = feed(det, [0.31, 0.31, 0.31])
    assert (fired.detector, fired.kind, fired.entity_id, fired.status) == \
        ("data_quality", STUCK, "W1", F)
    assert "W1" in fired.title_zh and "供水管网压力" in fired.title_zh and "卡滞" in fired.title_zh
    assert fired.title_en == "Sensor stuck: W1 (Water network pressure)"
    assert (fired.value, fired.threshold, fired.unit, fired.district) == \
        (0.31, 3.0, "MPa", "furong")
    assert fired.evidence == ("W1-0", "W1-2") and fired.stream == "lifeline"
    e = fired.explanation
    assert (e["value"], e["baseline"], e["readings"], e["window_ms"]) == (0.31, 0.31, 3,
                                                                          2 * MIN)
    resolved, = feed(det, [0.35], t0=3 * MIN)
    assert resolved.status == R and resolved.explanation["new_value"] == 0.35
    assert "（已恢复）" in resolved.title_zh and resolved.title_en.endswith("(resolved)")
    json.dumps(e)


def test_flatline_filters_stream_type_kind_and_field() -> None:
    det = Flatline(stream="traffic", field="speed_kmh", types=("segment",), min_readings=3)
    events = [{"event_id": str(i), "type": "segment", "entity_id": "R1", "speed_kmh": 40.0}
              for i in range(3)]
    assert [f.status for f in det.update("traffic", events, [0, 1, 2])] == [F]
    assert det.update("lifeline", events, [3, 4, 5]) == []
    acc = [{**e, "type": "accident", "entity_id": "R2"} for e in events]
    assert det.update("traffic", acc, [6, 7, 8]) == []
    only_gas = Flatline(kinds=("gas_pressure",), min_readings=3)
    assert feed(only_gas, [1, 1, 1]) == []
    assert feed(only_gas, [1, 1, 1], kind="gas_pressure")


@settings(max_examples=100, deadline=None)
@given(values=st.lists(st.sampled_from([0.0, 1.0, 1.0005, 2.0]), max_size=40),
       n=st.integers(2, 6))
def test_flatline_fires_only_after_n_readings_within_epsilon(values, n) -> None:
    det = Flatline(min_readings=n, epsilon=1e-3)
    for f in feed(det, values):
        i = f.event_ms // MIN
        if f.status == F:
            run = values[i - n + 1:i + 1]
            assert len(run) == n and max(run) - min(run) <= 1e-3


# -- NoData ------------------------------------------------------------------------------
def test_nodata_fires_after_k_median_intervals_and_resolves_on_data() -> None:
    det = NoData(interval_factor=5.0)
    feed(det, [1.0] * 10)  # every minute, last at 9 min
    last = 9 * MIN
    assert det.tick(last + 5 * MIN) == []           # exactly 5 intervals: not yet
    fired, = det.tick(last + 5 * MIN + 1)
    assert (fired.kind, fired.status, fired.entity_id, fired.event_ms) == \
        (NODATA, F, "W1", last + 5 * MIN + 1)
    assert fired.explanation["baseline"] == MIN and fired.threshold == 5 * MIN
    assert "无数据" in fired.title_zh and fired.title_en.startswith("Sensor not reporting")
    assert det.tick(last + 60 * MIN) == []          # once
    back, = feed(det, [1.0], t0=last + 61 * MIN)
    assert back.status == R and back.explanation["value"] == 61 * MIN
    assert det.tick(last + 62 * MIN) == []


def test_nodata_max_gap_applies_before_the_interval_is_known() -> None:
    det = NoData(max_gap_ms=10 * MIN)
    feed(det, [1.0, 1.0])
    assert det.tick(MIN + 10 * MIN) == []
    assert [f.status for f in det.tick(MIN + 10 * MIN + 1)] == [F]
    no_cap = NoData()
    feed(no_cap, [1.0, 1.0])
    assert no_cap.tick(10**12 // 2) == []  # two readings say nothing about the usual interval


def test_nodata_max_gap_caps_a_slow_sensor() -> None:
    det = NoData(max_gap_ms=30 * MIN)
    feed(det, [1.0] * 10, step=20 * MIN)  # 5 x 20 min = 100 min > 30 min
    assert det.tick(9 * 20 * MIN + 30 * MIN) == []
    assert len(det.tick(9 * 20 * MIN + 30 * MIN + 1)) == 1


def test_nodata_ignores_out_of_order_and_unknown_entities() -> None:
    det = NoData(min_intervals=2)
    events = [reading("W1", 1.0, i) for i in range(4)]
    det.update("lifeline", events, [0, 2 * MIN, MIN, 3 * MIN])  # one out of order
    assert det.snapshot()["entities"][0][2] == [2 * MIN, MIN]
    assert det.tick(3 * MIN + 5 * int(1.5 * MIN)) == []
    assert det.update("traffic", events, [0, 1, 2, 3]) == []


def test_nodata_forgets_retired_entities() -> None:
    det = NoData(forget_ms=60 * MIN)
    feed(det, [1.0] * 10)
    assert [f.status for f in det.tick(20 * MIN)] == [F]
    gone, = det.tick(9 * MIN + 61 * MIN)
    assert gone.status == R and gone.explanation["reason"] == "forgotten"
    assert det.snapshot()["entities"] == []


def test_nodata_snapshot_round_trip() -> None:
    det = NoData()
    feed(det, [1.0] * 10)
    feed(det, [1.0] * 10, entity="W2", step=2 * MIN)
    det.tick(16 * MIN)
    copy = NoData()
    copy.restore(json.loads(json.dumps(det.snapshot())))
    assert copy.snapshot() == det.snapshot()
    assert copy.tick(16 * MIN) == []   # resumes where the original ticked last (see below)
    assert [(f.entity_id, f.status) for f in copy.tick(40 * MIN)] == \
        [(f.entity_id, f.status) for f in det.tick(40 * MIN)] == [("W2", F)]


# -- OutOfRangeBurst ---------------------------------------------------------------------
BURSTS = [
    ("nine rejects do not fire", [i * MIN for i in range(9)], []),
    ("ten in ten minutes fire at the tenth", [i * MIN for i in range(10)], [(9, F)]),
    ("ten spread over 18 minutes do not", [i * 2 * MIN for i in range(10)], []),
    ("a quiet window resolves on the next reject",
     [i * MIN for i in range(10)] + [30 * MIN], [(9, F), (19, R)]),
]


@pytest.mark.parametrize("name,times,expected", BURSTS, ids=[c[0] for c in BURSTS])
def test_out_of_range_burst(name: str, times: list[int],
                            expected: list[tuple[int, str]]) -> None:
    det = OutOfRangeBurst(window_ms=10 * MIN, min_count=10)
    assert short(det.observe([("G7", t) for t in times])) == expected


def test_burst_resolves_on_tick_and_is_explained() -> None:
    det = OutOfRangeBurst(window_ms=10 * MIN, min_count=3)
    fired, = det.observe([("G7", 0), ("G7", MIN), ("G7", 2 * MIN), ("G7", 3 * MIN)])
    assert (fired.kind, fired.value, fired.threshold, fired.unit) == (BURST, 3.0, 3.0,
                                                                      "readings")
    assert fired.explanation["count_in_window"] == 3 and fired.explanation["window_ms"] == \
        10 * MIN
    assert "G7" in fired.title_zh and fired.title_en.startswith("Burst of rejected readings")
    assert det.tick(13 * MIN) == []
    done, = det.tick(13 * MIN + 1)
    assert done.status == R and done.explanation["count_since_firing"] == 4


def test_burst_from_dead_letters() -> None:
    det = OutOfRangeBurst(min_count=2)
    letters = [{"entity_id": "G1", "code": "out_of_range"}, {"entity_id": "G1"},
               {"entity_id": "G2", "code": "malformed_json"},
               {"entity_id": "G2", "code": "malformed_json"}, {"code": "out_of_range"}]
    found = det.update("deadletter", letters, [0, 1, 2, 3, 4])
    assert [(f.entity_id, f.status) for f in found] == [("G1", F)]
    assert det.update("lifeline", letters, [0, 1, 2, 3, 4]) == []


def test_burst_snapshot_round_trip() -> None:
    det = OutOfRangeBurst(min_count=3)
    det.observe([("A", 0), ("A", 1), ("A", 2), ("B", 5)])
    copy = OutOfRangeBurst(min_count=3)
    copy.restore(json.loads(json.dumps(det.snapshot())))
    assert copy.snapshot() == det.snapshot()
    assert [f.status for f in copy.tick(10**9)] == [f.status for f in det.tick(10**9)] == [R]


# -- shared: bounded memory, checkpoints ---------------------------------------------------
def test_evicting_a_firing_entity_resolves_it() -> None:
    det = Flatline(min_readings=2, max_entities=2)
    assert short(feed(det, [1, 1])) == [(1, F)]
    feed(det, [1, 2], entity="W2", t0=2 * MIN)
    out = feed(det, [3], entity="W3", t0=4 * MIN)
    assert [(f.entity_id, f.status, f.explanation["reason"]) for f in out] == \
        [("W1", R, "evicted")]
    assert det.evicted == 1


@pytest.mark.parametrize("make", [lambda: Flatline(max_entities=50),
                                  lambda: NoData(max_entities=50),
                                  lambda: OutOfRangeBurst(max_entities=50)])
def test_entities_are_bounded(make) -> None:
    det = make()
    for e in range(200):
        if isinstance(det, OutOfRangeBurst):
            det.observe([(f"E{e}", e)])
        else:
            feed(det, [1.0, 2.0], entity=f"E{e}", t0=e * MIN)
    assert len(det.snapshot()["entities"]) == 50 and det.evicted == 150


def test_flatline_snapshot_round_trip() -> None:
    det = Flatline(min_readings=3)
    feed(det, [5, 5])
    copy = Flatline(min_readings=3)
    copy.restore(json.loads(json.dumps(det.snapshot())))
    assert short(feed(copy, [5], t0=2 * MIN)) == short(feed(det, [5], t0=2 * MIN)) == [(2, F)]


def test_detector_names_are_unique_per_configuration() -> None:
    names = {Flatline().name, Flatline(stream="traffic", field="speed_kmh").name,
             NoData().name, NoData(streams=("traffic",)).name, OutOfRangeBurst().name}
    assert len(names) == 5


def test_nodata_after_a_restore_waits_its_gap_from_the_resume_not_from_the_downtime() -> None:
    """A worker restored from a checkpoint after a 30 min stop has not read what its sensors
    sent meanwhile: its first ticks must not call every sensor silent (a flood of false
    alerts and pages); a sensor still silent a whole allowed gap after the resume is."""
    det = NoData(interval_factor=5.0)
    feed(det, [1.0] * 10)                        # W1: every minute, last at 9 min
    feed(det, [1.0] * 10, entity="W2")
    restored = NoData(interval_factor=5.0)
    restored.restore(det.snapshot())
    resume = 9 * MIN + 30 * MIN                  # the worker is back 30 min later
    assert restored.tick(resume) == []
    assert restored.tick(resume + 5 * MIN) == []                 # the gap, not yet past it
    feed(restored, [1.0], t0=resume + 2 * MIN)                   # W1's backlog is read
    late, = restored.tick(resume + 5 * MIN + 1)                  # W2 stayed silent
    assert (late.entity_id, late.status) == ("W2", F)
    assert late.explanation["value"] == 35 * MIN + 1             # silent since before the stop
    fresh = NoData(interval_factor=5.0)                          # no restore: no grace
    feed(fresh, [1.0] * 10)
    assert [f.status for f in fresh.tick(9 * MIN + 5 * MIN + 1)] == [F]
