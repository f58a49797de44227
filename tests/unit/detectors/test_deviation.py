"""SensorDeviation: each sensor against its own baseline, vectorised over many sensors."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detectors.deviation import SensorDeviation
from detectors.findings import FIRING, RESOLVED
from unit_helpers import NOW_MS, PROFILE

STEP = 10_000  # a reading every 10 s


def reading(entity: str, kind: str, value: float, t: int, k: int = 0) -> dict[str, Any]:
    return {"event_id": f"{entity}.{t}.{k}", "type": "reading", "entity_id": entity,
            "kind": kind, "value": value, "lat": 28.2, "lon": 112.95, "district": "yuelu"}


def series(entity: str, kind: str, values: list[float], t0: int = NOW_MS) -> list[dict]:
    return [reading(entity, kind, v, t0 + i * STEP) for i, v in enumerate(values)]


def noisy(base: float, sd: float, n: int, seed: int = 1) -> list[float]:
    rng = np.random.default_rng(seed)
    return (base + sd * rng.standard_normal(n)).round(4).tolist()


def feed(det: SensorDeviation, events: list[dict], batch: int | None = None) -> list:
    """Feed events in event-time order, in batches of ``batch`` (None: one batch)."""
    events = sorted(events, key=lambda e: int(e["event_id"].split(".")[1]))
    ts = [int(e["event_id"].split(".")[1]) for e in events]
    size = batch or max(1, len(events))
    out = []
    for i in range(0, len(events), size):
        out += det.update("lifeline", events[i:i + size], ts[i:i + size])
    return out


# kind, base, sd, step (added after the 60th reading), expected kind or None
CASES = [
    ("water_pressure", 0.35, 0.006, -0.15, "water_pressure_drop"),   # a main bursting
    ("gas_pressure", 300.0, 2.5, -60.0, "gas_pressure_drop"),        # pressure loss
    ("gas_concentration", 0.3, 0.05, 8.0, "gas_concentration_rise"),  # gas building up
    ("drainage_level", 0.6, 0.02, 0.8, "drainage_level_rise"),
    # statistically huge (60 sd) but physically nothing: 0.3 -> 1.5 %LEL, far from 20
    ("gas_concentration", 0.3, 0.02, 1.2, None),
    # 6 % pressure change in a noisy gas main: 1.5 sd, not significant
    ("gas_pressure", 300.0, 12.0, -18.0, None),
]


@pytest.mark.parametrize("kind,base,sd,step,expected", CASES)
def test_a_step_fires_only_when_significant_and_physically_meaningful(
        kind: str, base: float, sd: float, step: float, expected: str | None) -> None:
    det = SensorDeviation(PROFILE)
    values = noisy(base, sd, 60) + [v + step for v in noisy(base, sd, 20, seed=2)]
    found = feed(det, series("S1", kind, values))
    firing = [f for f in found if f.status == FIRING]
    if expected is None:
        assert firing == []
        return
    assert [f.kind for f in firing] == [expected]
    f = firing[0]
    # fires on the pending-th reading after the step, with the deciding reading's value
    assert f.event_ms == NOW_MS + (60 + det.pending - 1) * STEP
    assert f.severity == "minor" and f.entity_id == "S1" and f.stream == "lifeline"
    assert abs(f.explanation["baseline"] - base) < 4 * sd + 1e-9
    assert abs(f.explanation["z"]) > det.z_fire
    assert f.evidence[0] == f"S1.{NOW_MS + 60 * STEP}.0"   # the first anomalous reading


def test_resolves_with_hysteresis_after_the_reading_returns() -> None:
    det = SensorDeviation(PROFILE)
    base = noisy(0.35, 0.006, 60)
    back = noisy(0.35, 0.002, 10, seed=3)   # back to normal: every reading within z_clear
    values = base + [0.1] * 10 + back
    found = feed(det, series("S1", "water_pressure", values))
    assert [f.status for f in found] == [FIRING, RESOLVED]
    assert found[1].event_ms == NOW_MS + (70 + det.clear - 1) * STEP
    assert found[1].kind == found[0].kind == "water_pressure_drop"


def test_does_not_learn_from_the_anomaly() -> None:
    """An hour-long drop stays firing: the baseline does not follow it."""
    det = SensorDeviation(PROFILE)
    values = noisy(0.35, 0.006, 60) + [0.12] * 360
    found = feed(det, series("S1", "water_pressure", values))
    assert [f.status for f in found] == [FIRING]
    assert det.firing() == {"S1": -1}


def test_no_finding_before_warm_up_and_after_a_long_gap_it_warms_up_again() -> None:
    det = SensorDeviation(PROFILE, warmup=12)
    # a jump at reading 5 (still warming up) is learned, not reported
    assert feed(det, series("S1", "water_pressure", [0.35] * 5 + [0.1] * 5)) == []
    det = SensorDeviation(PROFILE, max_gap_s=600)
    feed(det, series("S1", "water_pressure", noisy(0.35, 0.006, 30)))
    later = NOW_MS + 30 * STEP + 3_600_000  # an hour of silence, then a new level
    assert feed(det, series("S1", "water_pressure", [0.2] * 10, t0=later)) == []


def test_batching_does_not_change_the_result() -> None:
    """Rounds over distinct sensors equal feeding the readings one at a time."""
    events = []
    for k, (kind, base, sd, step) in enumerate([("water_pressure", 0.35, 0.006, -0.2),
                                                ("gas_pressure", 300, 2.5, -80),
                                                ("gas_concentration", 0.3, 0.05, 9)]):
        vals = noisy(base, sd, 50, seed=k) + [v + step for v in noisy(base, sd, 15, k + 9)]
        vals += noisy(base, sd, 15, seed=k + 20)
        events += series(f"S{k}", kind, vals, t0=NOW_MS + k * 1_000)
    one = feed(SensorDeviation(PROFILE), events, batch=1)
    many = feed(SensorDeviation(PROFILE), events)   # one batch: several readings per sensor
    assert len(one) >= 6
    assert many == one


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.floats(-0.3, 0.3), st.integers(1, 40)),
                min_size=1, max_size=8),
       st.integers(1, 50))
def test_property_batch_split_is_invisible(steps: list, batch: int) -> None:
    rng = np.random.default_rng(5)
    events, t = [], NOW_MS
    for sensor, jump, n in [(s, j, n) for s, j, n in steps] * 2:
        for _ in range(n):
            t += 1_000
            v = max(0.0, 0.35 + jump + 0.005 * float(rng.standard_normal()))
            events.append(reading(f"S{sensor}", "water_pressure", round(v, 4), t))
    assert feed(SensorDeviation(PROFILE, warmup=5), events, batch=batch) == \
        feed(SensorDeviation(PROFILE, warmup=5), events, batch=1)


def test_snapshot_restore_mid_stream_continues_identically() -> None:
    events = series("S1", "water_pressure", noisy(0.35, 0.006, 60) + [0.1] * 10 +
                    noisy(0.35, 0.006, 10, seed=4))
    ref = feed(SensorDeviation(PROFILE), events)
    det = SensorDeviation(PROFILE)
    first = feed(det, events[:65])
    snap = orjson.loads(orjson.dumps(det.snapshot()))   # through JSON, as the table stores it
    again = SensorDeviation(PROFILE)
    again.restore(snap)
    assert first + feed(again, events[65:]) == ref


def test_eviction_keeps_memory_bounded_and_resolves_what_it_drops() -> None:
    det = SensorDeviation(PROFILE, max_entities=10, warmup=3)
    firing = feed(det, series("OLD", "water_pressure", [0.35, 0.351, 0.349, 0.35] + [0.05] * 3))
    assert [f.status for f in firing] == [FIRING]
    t0 = NOW_MS + 100 * STEP
    out = feed(det, [reading(f"N{i}", "water_pressure", 0.35, t0 + i) for i in range(10)])
    assert len(det.ids) <= 10 and "OLD" not in det.slots
    assert [(f.entity_id, f.status) for f in out] == [("OLD", RESOLVED)]
    assert det.counters["evicted"] >= 1


def test_bad_readings_are_counted_not_fatal() -> None:
    det = SensorDeviation(PROFILE)
    bad = [{"event_id": "x.1.0", "entity_id": "S", "kind": "water_pressure", "value": math.nan},
           {"event_id": "x.2.0", "entity_id": "S", "kind": "no_such_kind", "value": 1.0},
           {"event_id": "x.3.0", "entity_id": "S", "type": "call"}]
    assert det.update("lifeline", bad, [1, 2, 3]) == []
    assert det.counters["bad_events"] == 2
    assert det.update("ems", bad, [1, 2, 3]) == []


def test_state_is_compact() -> None:
    det = SensorDeviation(PROFILE)
    feed(det, [reading(f"S{i}", "gas_pressure", 300.0, NOW_MS + i) for i in range(20_000)])
    per_sensor = sum(a.itemsize for a in det.a.values())
    assert per_sensor <= 64
    assert sum(a.nbytes for a in det.a.values()) < 20_000 * per_sensor * 2.1
