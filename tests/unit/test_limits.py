"""detectors.limits: high/low limits with hysteresis, state, checkpoints, batch-invariance."""

from __future__ import annotations

import math
import pickle
from typing import Sequence

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detectors.limits import HIGH, LOW, LimitDetector, LimitLevels, Transition, levels_from_profile
from unit_helpers import PROFILE

NAN = float("nan")
# "p": both sides (alarm 10 / recover 8 high, alarm 2 / recover 4 low); "h": high side only.
P = LimitLevels("p", "major", high_alarm=10.0, high_recover=8.0, low_alarm=2.0, low_recover=4.0)
H = LimitLevels("h", "critical", high_alarm=20.0, high_recover=10.0)
LEVELS = [P, H]

Reading = tuple[str, str, float]  # (entity, kind, value)
Expected = tuple[int, str, str, str, str]  # (index, entity, kind, side, status)


def detector() -> LimitDetector:
    return LimitDetector(LEVELS)


def feed(det: LimitDetector, readings: Sequence[Reading]) -> list[Transition]:
    return det.update([r[0] for r in readings], [r[1] for r in readings],
                      np.array([r[2] for r in readings], dtype=np.float64))


def short(ts: list[Transition]) -> list[Expected]:
    return [(t.index, t.entity_id, t.kind, t.side, t.status) for t in ts]


def p(*values: float, entity: str = "a") -> list[Reading]:
    return [(entity, "p", v) for v in values]


CASES: list[tuple[str, list[Reading], list[Expected]]] = [
    ("empty batch", [], []),
    ("normal values never fire", p(5, 9.99, 2.01, 8, 4), []),
    ("at the high alarm level fires", p(10), [(0, "a", "p", HIGH, "firing")]),
    ("above fires once while it stays above", p(5, 11, 12, 10, 15),
     [(1, "a", "p", HIGH, "firing")]),
    ("between recover and alarm keeps firing", p(11, 9.99, 9, 8.01, 8, 9.5),
     [(0, "a", "p", HIGH, "firing")]),
    ("below the recover level resolves", p(11, 9, 7.99),
     [(0, "a", "p", HIGH, "firing"), (2, "a", "p", HIGH, "resolved")]),
    ("no flapping at the alarm level", p(10, 9.99, 10, 9.99, 10.01, 9.9, 10),
     [(0, "a", "p", HIGH, "firing")]),
    ("fires again after resolving", p(11, 7, 12, 5),
     [(0, "a", "p", HIGH, "firing"), (1, "a", "p", HIGH, "resolved"),
      (2, "a", "p", HIGH, "firing"), (3, "a", "p", HIGH, "resolved")]),
    ("at the low alarm level fires", p(2), [(0, "a", "p", LOW, "firing")]),
    ("low side hysteresis", p(1, 3, 2.01, 4, 3.5, 2),
     [(0, "a", "p", LOW, "firing")]),
    ("low side resolves above its recover level", p(1.5, 3, 4.01),
     [(0, "a", "p", LOW, "firing"), (2, "a", "p", LOW, "resolved")]),
    ("low then high in turn", p(0, 5, 10, 5),
     [(0, "a", "p", LOW, "firing"), (1, "a", "p", LOW, "resolved"),
      (2, "a", "p", HIGH, "firing"), (3, "a", "p", HIGH, "resolved")]),
    ("high-only kind: a low value never fires", [("a", "h", v) for v in (-1e9, 0, 19.99)], []),
    ("high-only kind hysteresis", [("a", "h", v) for v in (20, 10, 9.99)],
     [(0, "a", "h", HIGH, "firing"), (2, "a", "h", HIGH, "resolved")]),
    ("kinds without limits never fire",
     [("a", "nolimit", v) for v in (1e300, -1e300, 0, 10, 2)] + [("a", "", 1e9)], []),
    ("NaN never fires", p(NAN, NAN) + [("a", "h", NAN)], []),
    ("NaN while firing does not resolve", p(11, NAN, 9),
     [(0, "a", "p", HIGH, "firing")]),
    ("infinities fire", p(math.inf) + p(-math.inf, entity="b"),
     [(0, "a", "p", HIGH, "firing"), (1, "b", "p", LOW, "firing")]),
    ("entities interleaved in one batch",
     [("a", "p", 11), ("b", "p", 5), ("b", "p", 1), ("a", "p", 9), ("c", "p", 10),
      ("b", "p", 3), ("a", "p", 7), ("b", "p", 4.5), ("c", "p", 12)],
     [(0, "a", "p", HIGH, "firing"), (2, "b", "p", LOW, "firing"),
      (4, "c", "p", HIGH, "firing"), (6, "a", "p", HIGH, "resolved"),
      (7, "b", "p", LOW, "resolved")]),
    ("kinds of one entity are independent",
     [("a", "p", 11), ("a", "h", 25), ("a", "p", 5), ("a", "h", 15), ("a", "h", 5)],
     [(0, "a", "p", HIGH, "firing"), (1, "a", "h", HIGH, "firing"),
      (2, "a", "p", HIGH, "resolved"), (4, "a", "h", HIGH, "resolved")]),
    ("an entity with the same id as a kind is still only an entity",
     [("p", "h", 25), ("h", "p", 1)],
     [(0, "p", "h", HIGH, "firing"), (1, "h", "p", LOW, "firing")]),
]


@pytest.mark.parametrize("name,readings,expected", CASES, ids=[c[0] for c in CASES])
def test_sequence_transitions(name: str, readings: list[Reading],
                              expected: list[Expected]) -> None:
    assert short(feed(detector(), readings)) == expected


@pytest.mark.parametrize("name,readings,expected", CASES, ids=[c[0] for c in CASES])
def test_sequence_one_reading_per_batch(name: str, readings: list[Reading],
                                        expected: list[Expected]) -> None:
    det = detector()
    got = [(i, *s[1:]) for i, r in enumerate(readings) for s in short(feed(det, [r]))]
    assert got == expected


def test_transition_carries_value_threshold_and_severity() -> None:
    det = detector()
    (fire,) = feed(det, p(10.5))
    assert fire == Transition(0, "a", "p", HIGH, "firing", 10.5, 10.0, "major", 8.0)
    assert type(fire.value) is float
    (res,) = feed(det, p(7.5))
    assert res == Transition(0, "a", "p", HIGH, "resolved", 7.5, 10.0, "major", 8.0)
    (low,) = feed(det, p(1.0))
    assert (low.threshold, low.recover, low.side) == (2.0, 4.0, LOW)
    (h,) = feed(det, [("z", "h", 21)])
    assert h.severity == "critical"


def test_state_is_kept_between_batches() -> None:
    det = detector()
    feed(det, p(11))
    assert det.firing == {("a", "p"): HIGH}
    assert feed(det, p(9, 9.5)) == []
    assert short(feed(det, p(8.5, 7))) == [(1, "a", "p", HIGH, "resolved")]
    assert det.firing == {}


# --- levels from the city profile -------------------------------------------------------
def test_levels_from_profile() -> None:
    levels = {lv.kind: lv for lv in levels_from_profile(PROFILE.limits)}
    assert set(levels) == set(PROFILE.limits)
    gp = levels["gas_pressure"]
    assert (gp.low_alarm, gp.low_recover, gp.high_alarm, gp.high_recover, gp.severity) == \
        (150.0, 180.0, 450.0, 420.0, "major")
    wl = levels["water_level"]
    assert math.isnan(wl.low_alarm) and math.isnan(wl.low_recover)


def test_levels_recover_defaults_to_alarm() -> None:
    from city.profile import Limit
    (lv,) = levels_from_profile({"x": Limit("x", "minor", high_alarm=5.0)})
    assert (lv.high_alarm, lv.high_recover) == (5.0, 5.0)
    assert math.isnan(lv.low_alarm) and math.isnan(lv.low_recover)
    det = LimitDetector([lv])
    assert short(feed(det, [("e", "x", 5), ("e", "x", 5), ("e", "x", 4.99)])) == \
        [(0, "e", "x", HIGH, "firing"), (2, "e", "x", HIGH, "resolved")]


def test_profile_gas_concentration_levels() -> None:
    det = LimitDetector(levels_from_profile(PROFILE.limits))
    got = feed(det, [("GAS-1", "gas_concentration", v) for v in (5, 19.9, 20, 15, 10, 9.9)])
    assert short(got) == [(2, "GAS-1", "gas_concentration", HIGH, "firing"),
                          (5, "GAS-1", "gas_concentration", HIGH, "resolved")]
    assert got[0].severity == "critical" and got[0].threshold == 20.0


# --- snapshot / restore / pickle --------------------------------------------------------
def test_snapshot_restore_round_trip_continues() -> None:
    det = detector()
    feed(det, [("a", "p", 11), ("b|x", "p", 1), ("c", "h", 30), ("d", "p", 5)])
    snap = det.snapshot()
    assert snap == {"p|a": HIGH, "p|b|x": LOW, "h|c": HIGH}
    fresh = detector()
    fresh.restore(snap)
    assert fresh.firing == det.firing
    more = [("a", "p", 9), ("b|x", "p", 4.5), ("c", "h", 30), ("d", "p", 10), ("a", "p", 7)]
    assert short(feed(fresh, more)) == short(feed(det, more)) == [
        (1, "b|x", "p", LOW, "resolved"), (3, "d", "p", HIGH, "firing"),
        (4, "a", "p", HIGH, "resolved")]


def test_restore_ignores_unknown_sides() -> None:
    det = detector()
    det.restore({"p|a": "sideways", "p|b": "", "p|c": LOW})
    assert det.firing == {("c", "p"): LOW}


def test_restore_of_a_kind_that_no_longer_has_limits() -> None:
    # A checkpoint written before the city profile dropped a kind's limits must not crash
    # the detector when a reading of that kind arrives: the kind simply has no limits now.
    det = detector()
    det.restore({"retired|a": HIGH, "p|a": HIGH})
    assert feed(det, [("a", "retired", 1e9), ("a", "retired", 0.0)]) == []
    assert short(feed(det, p(5))) == [(0, "a", "p", HIGH, "resolved")]


def test_pickle_round_trip_continues() -> None:
    det = detector()
    feed(det, p(11) + p(1, entity="b"))
    clone = pickle.loads(pickle.dumps(det))
    assert clone.firing == det.firing
    assert repr(clone.levels) == repr(det.levels)  # repr: NaN levels are never == themselves
    more = p(9, 7) + p(3, 5, entity="b") + p(12, entity="c")
    assert short(feed(clone, more)) == short(feed(det, more))
    assert clone.firing == det.firing == {("c", "p"): HIGH}


# --- property: batch-invariance ---------------------------------------------------------
ENTITIES = ["a", "b", "c"]
KINDS = ["p", "h", "nolimit"]
VALUES = st.sampled_from([-1e9, 0.0, 1.99, 2.0, 2.01, 3.0, 4.0, 4.01, 5.0, 7.99, 8.0, 8.01,
                          9.99, 10.0, 10.01, 15.0, 20.0, 25.0, NAN]) \
    | st.floats(-50, 50, allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(readings=st.lists(st.tuples(st.sampled_from(ENTITIES), st.sampled_from(KINDS), VALUES),
                         max_size=40),
       cuts=st.lists(st.integers(0, 40), max_size=6),
       initial=st.dictionaries(st.tuples(st.sampled_from(ENTITIES), st.sampled_from(["p", "h"])),
                               st.sampled_from([HIGH, LOW]), max_size=3))
def test_batch_invariance(readings: list[Reading], cuts: list[int],
                          initial: dict[tuple[str, str], str]) -> None:
    whole, split = detector(), detector()
    whole.firing.update(initial)
    split.firing.update(initial)
    expected = feed(whole, readings)
    bounds = sorted({0, len(readings), *(c for c in cuts if c <= len(readings))})
    got: list[Transition] = []
    for lo, hi in zip(bounds, bounds[1:]):
        for t in feed(split, readings[lo:hi]):
            got.append(Transition(t.index + lo, t.entity_id, t.kind, t.side, t.status,
                                  t.value, t.threshold, t.severity))

    def key(ts: list[Transition]) -> list[tuple[object, ...]]:
        return [(t.index, t.entity_id, t.kind, t.side, t.status, repr(t.value), t.threshold,
                 t.severity) for t in ts]
    assert key(got) == key(expected)
    assert split.firing == whole.firing


def test_jump_from_high_to_low_resolves_high_and_fires_low() -> None:
    """Over-pressure followed by a rupture: both sides are reported, in order."""
    from city.profile import load_profile
    from detectors.limits import LimitDetector, levels_from_profile
    det = LimitDetector(levels_from_profile(load_profile().limits))
    out = det.update(["P1"] * 3, ["gas_pressure"] * 3, np.array([300.0, 460.0, 100.0]))
    assert [(t.index, t.side, t.status) for t in out] == [
        (1, "high", "firing"), (2, "high", "resolved"), (2, "low", "firing")]
    assert det.firing == {("P1", "gas_pressure"): "low"}
