"""UnivariateEntities: the configured univariate detector (general by default) per entity."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detectors.findings import FIRING, RESOLVED, Finding
from detectors.plan import build_partition_detectors
from detectors.univariate import DEFAULTS, UnivariateConfig, UnivariateEntities
from unit_helpers import NOW_MS, PROFILE

STEP = 10_000  # a gauge reports every 10 s
# A small general detector (the default one needs 8000-value histories): same code, and the
# default filter; probation shortened to match its warm-up.
SMALL = {"detector": {"name": "general", "value_history": 400, "value_warmup": 30,
                      "pattern_history": 60, "pattern_warmup": 6},
         "probation": 120}


def reading(entity: str, kind: str, value: Any, i: int) -> dict[str, Any]:
    return {"event_id": f"{entity}.{i}", "type": "reading", "entity_id": entity,
            "kind": kind, "value": value, "lat": 28.2, "lon": 112.96, "district": "tianxin"}


def gauge(n: int, seed: int = 1, base: float = 29.0, sd: float = 0.01) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (base + sd * rng.standard_normal(n)).round(3)


def series(entity: str, kind: str, values: np.ndarray, start: int = 0) -> list[dict]:
    return [reading(entity, kind, float(v), start + i) for i, v in enumerate(values)]


def t_of(e: dict[str, Any]) -> int:
    return NOW_MS + STEP * int(e["event_id"].rsplit(".", 1)[1])


def feed(det: UnivariateEntities, events: list[dict], cuts: list[int] | None = None,
         ) -> list[Finding]:
    """Feed ``events`` (in event-time order) in batches cut at ``cuts`` (None: one batch)."""
    bounds = [0, *sorted(set(cuts or [])), len(events)]
    out: list[Finding] = []
    for a, b in zip(bounds, bounds[1:]):
        part = events[a:b]
        out += det.update("lifeline", part, [t_of(e) for e in part])
    return out


def interleave(*streams: list[dict]) -> list[dict]:
    return sorted((e for s in streams for e in s), key=lambda e: (t_of(e), e["entity_id"]))


N = 300
AT = 200  # where the synthetic anomalies start (after probation: 120 readings)


def level_shift(n: int = N) -> np.ndarray:
    x = gauge(n)
    x[AT:] += 0.4        # a gauge reading 40 cm higher from one reading to the next
    return x


def spike_and_recover(n: int = N) -> np.ndarray:
    x = gauge(n)
    x[AT:AT + 3] += 0.8  # three readings 80 cm off, then back
    return x


def glitch(n: int = N) -> np.ndarray:
    x = gauge(n)
    x[AT] += 0.8         # one reading off: the filter wants two in a row
    return x


def early_shift(n: int = N) -> np.ndarray:
    x = gauge(n)
    x[60:] += 0.4        # within probation: learned, not alerted
    return x


# name, kind, values, expected firing kinds, expect a resolution
CASES = [
    ("level shift on a river gauge", "water_level", level_shift(), ["water_level_anomaly"],
     False),
    ("spike on a river gauge", "water_level", spike_and_recover(), ["water_level_anomaly"],
     True),
    ("noise only", "water_level", gauge(N, seed=3), [], False),
    ("a one-reading glitch", "water_level", glitch(), [], False),
    ("shift during probation", "water_level", early_shift(), [], False),
    ("a bridge is not watched by default", "bridge_strain", 100 + 100 * level_shift(), [],
     False),
]


@pytest.mark.parametrize("name,kind,values,expected,resolves", CASES, ids=[c[0] for c in CASES])
def test_anomalies_on_watched_kinds_fire_with_an_explanation(
        name: str, kind: str, values: np.ndarray, expected: list[str], resolves: bool) -> None:
    det = UnivariateEntities(SMALL)
    found = feed(det, series("WL-1", kind, values))
    firing = [f for f in found if f.status == FIRING]
    assert [f.kind for f in firing] == expected
    assert [f.status for f in found] == ([FIRING, RESOLVED] if resolves else
                                         [FIRING] * len(expected))
    if not expected:
        return
    f = firing[0]
    assert f.detector == "univariate_general" and f.severity == "minor"
    assert f.entity_id == "WL-1" and f.stream == "lifeline" and f.unit == "m"
    # decided on the second reading over the threshold (pending_points 2), which it cites
    assert f.evidence == (f"WL-1.{AT + 1}",)
    assert f.event_ms == NOW_MS + (AT + 1) * STEP and f.value == pytest.approx(values[AT + 1])
    assert f.explanation["since_ms"] == NOW_MS + AT * STEP
    ex = f.explanation
    assert ex["score"] >= ex["threshold"] == DEFAULTS["filter"]["threshold"]
    assert ex["detector"] == "general" and ex["value_novelty"] > 0.3
    assert ex["value_ratio"] > 10 * ex["value_record"]     # what GeneralDetector explains
    orjson.dumps(ex)


def test_learning_anomalies_still_explains_each_decision_and_splits_invisibly() -> None:
    # pending_points 1: a learned alarm starts the general detector's rest (the next rows
    # score 0), so two readings in a row over the threshold never happen
    cfg = {**SMALL, "filter": {**DEFAULTS["filter"], "learn_anomalies": True,
                               "pending_points": 1}}
    events = series("WL-1", "water_level", level_shift())
    whole = feed(UnivariateEntities(cfg), events)
    # the shift is learned: one onset, resolved once the new level is no longer novel
    assert [f.status for f in whole] == [FIRING, RESOLVED]
    assert whole[0].evidence == (f"WL-1.{AT}",)
    assert whole[0].explanation["value_novelty"] > 0.3
    assert feed(UnivariateEntities(cfg), events, list(range(AT - 3, AT + 12))) == whole


def test_other_streams_are_ignored() -> None:
    det = UnivariateEntities(SMALL)
    events = series("WL-1", "water_level", level_shift())
    assert det.update("traffic", events, [t_of(e) for e in events]) == []
    assert len(det.entities) == 0


def test_resolves_after_recovery_with_the_keep_firing_time() -> None:
    det = UnivariateEntities(SMALL)
    found = feed(det, series("WL-1", "water_level", spike_and_recover()))
    fired, resolved = found
    keep = DEFAULTS["filter"]["keep_firing_ms"]
    # back below the threshold from reading AT+3; resolved keep_firing_ms of event time later
    assert resolved.status == RESOLVED and resolved.kind == "water_level_anomaly"
    assert resolved.explanation["since_ms"] == NOW_MS + (AT + 3) * STEP
    assert resolved.event_ms == NOW_MS + (AT + 3) * STEP + keep
    assert resolved.evidence == (f"WL-1.{AT + 3 + keep // STEP}",)
    assert "（已恢复）" in resolved.title_zh and det.entities.firing == frozenset()


def test_tick_resolves_a_recovered_entity_that_went_quiet() -> None:
    det = UnivariateEntities(SMALL)
    events = series("WL-1", "water_level", spike_and_recover()[:AT + 4])  # one normal after
    found = feed(det, events)
    assert [f.status for f in found] == [FIRING]
    keep = DEFAULTS["filter"]["keep_firing_ms"]
    recovered = NOW_MS + (AT + 3) * STEP
    assert det.tick(recovered + keep - 1) == []
    (f,) = det.tick(recovered + keep)
    assert f.status == RESOLVED and f.evidence == (f"WL-1.{AT + 1}",)  # what fired it
    assert f.explanation["resolved_by"].startswith("recovered")


def test_an_evicted_firing_entity_is_resolved() -> None:
    det = UnivariateEntities({**SMALL, "max_entities": 1})
    feed(det, series("WL-1", "water_level", level_shift()[:AT + 2]))
    assert det.entities.firing == {"WL-1"}
    (f,) = det.update("lifeline", [reading("WL-2", "water_level", 29.0, 0)], [NOW_MS])
    assert (f.entity_id, f.status, f.kind) == ("WL-1", RESOLVED, "water_level_anomaly")
    assert f.explanation["resolved_by"].startswith("evicted") and det.counters["evicted"] == 1
    assert f.evidence == (f"WL-1.{AT + 1}",)


def many_entities() -> list[dict]:
    return interleave(series("WL-1", "water_level", spike_and_recover()),
                      series("WL-2", "water_level", level_shift()),
                      series("WL-3", "water_level", gauge(N, seed=5)),
                      series("BRG-1", "bridge_strain", 100 + 50 * gauge(N, seed=6)))


EVENTS = many_entities()
WHOLE = feed(UnivariateEntities(SMALL), EVENTS)


def test_the_multi_entity_reference_has_decisions() -> None:
    assert sorted((f.entity_id, f.status) for f in WHOLE) == [
        ("WL-1", FIRING), ("WL-1", RESOLVED), ("WL-2", FIRING)]


def test_one_batch_equals_one_reading_at_a_time() -> None:
    assert feed(UnivariateEntities(SMALL), EVENTS, list(range(1, len(EVENTS)))) == WHOLE


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(1, len(EVENTS) - 1), max_size=12))
def test_batch_splits_are_invisible(cuts: list[int]) -> None:
    assert feed(UnivariateEntities(SMALL), EVENTS, cuts) == WHOLE


@pytest.mark.parametrize("cut", [AT * 4 - 5, (AT + 1) * 4 + 1, (AT + 5) * 4])
def test_snapshot_restore_mid_stream_continues_identically(cut: int) -> None:
    first = UnivariateEntities(SMALL)
    before = feed(first, EVENTS[:cut])
    state = orjson.loads(orjson.dumps(first.snapshot()))   # through JSON, as checkpointed
    second = UnivariateEntities(SMALL)
    second.restore(state)
    assert second.entities.firing == first.entities.firing
    assert before + feed(second, EVENTS[cut:]) == WHOLE


def test_a_restored_firing_entity_resolves_with_the_event_that_fired_it() -> None:
    first = UnivariateEntities(SMALL)
    events = series("WL-1", "water_level", spike_and_recover())
    assert [f.status for f in feed(first, events[:AT + 2])] == [FIRING]
    second = UnivariateEntities(SMALL)
    second.restore(orjson.loads(orjson.dumps(first.snapshot())))
    assert feed(second, events[AT + 2:AT + 4]) == []      # recovered at AT+3, then quiet
    (f,) = second.tick(NOW_MS + (AT + 3) * STEP + DEFAULTS["filter"]["keep_firing_ms"])
    assert (f.status, f.evidence, f.district) == (RESOLVED, (f"WL-1.{AT + 1}",), "tianxin")


def test_a_snapshot_of_another_configuration_is_refused_whole() -> None:
    det = UnivariateEntities(SMALL)
    feed(det, EVENTS[:400])
    state = orjson.loads(orjson.dumps(det.snapshot()))
    other = UnivariateEntities({**SMALL, "probation": 100})
    with pytest.raises(ValueError, match="another configuration"):
        other.restore(state)
    assert len(other.entities) == 0
    with pytest.raises(ValueError, match="format"):
        UnivariateEntities(SMALL).restore({**state, "format": 99})


def test_bad_readings_are_counted_not_fatal() -> None:
    det = UnivariateEntities(SMALL)
    good = series("WL-1", "water_level", spike_and_recover())
    bad = [reading("WL-1", "water_level", v, 10_000 + i)
           for i, v in enumerate([float("nan"), float("inf"), "29.1", None, True])]
    bad.append({**reading("", "water_level", 29.0, 20_000)})
    bad.append({k: v for k, v in reading("WL-1", "water_level", 29.0, 20_001).items()
                if k != "entity_id"})
    bad.append(reading("X", "pm25", float("nan"), 20_002))   # not watched: not counted
    events = good[:AT] + bad + good[AT:]
    ts = [t_of(e) for e in good[:AT]] + [t_of(good[AT - 1])] * len(bad) + \
        [t_of(e) for e in good[AT:]]
    found = det.update("lifeline", events, ts)
    assert det.counters["bad_events"] == 7
    assert [f.status for f in found] == [FIRING, RESOLVED]


def test_configuration_chooses_detector_filter_and_kinds() -> None:
    det = UnivariateEntities({"kinds": ["bridge_strain", "tank_pressure"],
                              "detector": {"name": "ewma", "alpha": 0.1},
                              "filter": {"threshold": 6.0}, "probation": 40})
    assert det.name == "univariate_ewma" and det.streams == ("lifeline", "hazmat")
    values = 100 + 50 * gauge(N, seed=2)
    values[AT] += 40
    found = feed(det, series("BRG-1", "bridge_strain", values))
    assert [(f.kind, f.status) for f in found][:1] == [("bridge_strain_anomaly", FIRING)]
    assert found[0].explanation["detector"] == "ewma" and found[0].unit == "µε"
    assert feed(det, series("WL-1", "water_level", level_shift())) == []


@pytest.mark.parametrize("config,match", [
    ({"kind": ["water_level"]}, "unknown univariate config keys"),
    ({"kinds": ["river"]}, "unknown measurement kinds"),
    ({"kinds": []}, "none given"),
    ({"detector": {"name": "nope"}}, "unknown detector"),
    ({"filter": {"threshold": 0.5, "recover": 0.9}}, "recover"),
    ({"probation": -1}, "probation"),
])
def test_bad_configuration_is_refused_at_construction(config: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        UnivariateConfig.from_dict(config)


def test_the_plan_runs_it_per_source_partition_on_river_gauges() -> None:
    specs = {p.name: p for p in build_partition_detectors(PROFILE)}
    spec = specs["univariate_general"]
    assert spec.streams == ("lifeline",)
    a, b = spec.build(), spec.build()
    assert a is not b and a.kinds == {"water_level"} and a.config.probation == 360
