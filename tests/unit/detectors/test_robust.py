"""detectors.robust: rolling median/MAD, EWMA and CUSUM — known values, warm-up, reset,
explanations, and invariants (finite, non-negative, score_one does not learn)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detectors.robust import CUSUM, EWMA, MAX_SCORE, RollingMedianMAD

MAD, MEANAD = 1.4826, 1.2533


def feed(det, values) -> np.ndarray:
    xs = np.asarray(values, dtype=np.float64)
    return det.process_many(xs, np.arange(len(xs), dtype=np.int64) * 60_000)


def score_after(det, learned, x: float) -> float:
    feed(det, learned)
    return det.score_one(x, 10**12)


# (name, detector, values learned, value scored, expected score)
KNOWN = [
    ("median/MAD", RollingMedianMAD(window=5, min_samples=5), [1, 2, 3, 4, 5], 10.0,
     7 / MAD),
    ("below the median counts too", RollingMedianMAD(window=5, min_samples=5),
     [1, 2, 3, 4, 5], -4.0, 7 / MAD),
    ("side=high ignores a drop", RollingMedianMAD(window=5, min_samples=5, side="high"),
     [1, 2, 3, 4, 5], -4.0, 0.0),
    ("side=low scores a drop", RollingMedianMAD(window=5, min_samples=5, side="low"),
     [1, 2, 3, 4, 5], -4.0, 7 / MAD),
    ("MAD 0: mean absolute deviation stands in",
     RollingMedianMAD(window=5, min_samples=5), [5, 5, 5, 5, 6], 6.0, 1 / (MEANAD * 0.2)),
    ("constant window: capped", RollingMedianMAD(window=5, min_samples=5), [5] * 5, 6.0,
     MAX_SCORE),
    ("ring buffer keeps the last window", RollingMedianMAD(window=3, min_samples=3),
     [100, 100, 100, 1, 2, 3], 2.0, 0.0),
    ("even window: mean of the middle two", RollingMedianMAD(window=4, min_samples=4),
     [1, 2, 4, 8], 3.0, 0.0),
    ("growing window before it is full", RollingMedianMAD(window=10, min_samples=3),
     [1, 2, 3], 5.0, 3 / MAD),
    ("ewma: mean 1, variance 1", EWMA(alpha=0.5, warmup=2), [0, 2], 3.0, 2.0),
    ("ewma side=low", EWMA(alpha=0.5, warmup=2, side="low"), [0, 2], 3.0, 0.0),
    ("ewma skips NaN", EWMA(alpha=0.5, warmup=2), [0, math.nan, 2], 3.0, 2.0),
    ("cusum: z=2, k=0.5, h=2", CUSUM(k=0.5, h=2.0, warmup=2, alpha=0.0), [0, 2], 3.0, 0.75),
    ("cusum: downward side", CUSUM(k=0.5, h=2.0, warmup=2, alpha=0.0), [0, 2], -1.0, 0.75),
]


@pytest.mark.parametrize("name,det,learned,x,expected", KNOWN, ids=[k[0] for k in KNOWN])
def test_known_scores(name: str, det, learned: list[float], x: float, expected: float) -> None:
    assert score_after(det, learned, x) == pytest.approx(expected, rel=1e-4)


@pytest.mark.parametrize("det,warm", [(RollingMedianMAD(window=20, min_samples=8), 8),
                                      (EWMA(warmup=12), 12), (CUSUM(warmup=6), 6)])
def test_scores_zero_until_warm(det, warm: int) -> None:
    scores = feed(det, [0, 100] * 10 + [1e6])
    assert (scores[:warm] == 0).all()
    assert scores[-1] > 0


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, 1e101, -1e300])
@pytest.mark.parametrize("cls", [RollingMedianMAD, EWMA, CUSUM])
def test_unusable_values_score_zero_and_are_not_learned(cls, bad: float) -> None:
    rng = np.random.default_rng(0)
    normal = 10 + rng.normal(size=200)
    clean, dirty = cls(), cls()
    feed(clean, normal)
    feed(dirty, np.insert(normal, 100, bad))
    assert dirty.score_one(bad, 0) == 0.0
    assert dirty.score_one(13.0, 0) == clean.score_one(13.0, 0)


def test_a_spike_does_not_move_the_median_baseline() -> None:
    det = RollingMedianMAD(window=21, min_samples=5)
    rng = np.random.default_rng(1)
    feed(det, 10 + rng.normal(size=40))
    before = det.score_one(12.0, 0)
    feed(det, [1e6])
    after = det.score_one(12.0, 0)
    assert after == pytest.approx(before, rel=0.2)


def test_cusum_detects_a_shift_once_and_learns_the_new_level() -> None:
    rng = np.random.default_rng(2)
    xs = np.concatenate([10 + rng.normal(size=300), 14 + rng.normal(size=300)])
    det = CUSUM(warmup=20)
    scores = feed(det, xs)
    first = int(np.argmax(scores > 1.0))
    assert 300 <= first < 310                     # detected within a few points
    assert (scores[first + 1:first + 20] == 0).all()  # the new level is being learned
    assert scores[first + 20:].max() < 1.0          # and is then normal: no re-detection
    assert det.explain()["baseline"] == pytest.approx(14, abs=0.5)


def test_cusum_accumulates_a_slow_drift() -> None:
    rng = np.random.default_rng(3)
    i = np.arange(1500)
    xs = 10 + rng.normal(size=1500) + np.where(i > 1000, (i - 1000) * 0.01, 0.0)
    scores = feed(CUSUM(), xs)
    assert scores[:1000].max() < 1.0 < scores[1000:].max()


def test_ewma_forgets_the_old_level() -> None:
    det = EWMA(alpha=0.1, warmup=10)
    feed(det, [0.0, 1.0] * 50 + [100.0, 101.0] * 100)
    assert det.explain()["baseline"] == pytest.approx(100.5, abs=0.5)


@pytest.mark.parametrize("det,extra", [(RollingMedianMAD(), ()), (EWMA(), ("alpha",)),
                                       (CUSUM(), ("s_pos", "s_neg", "k", "h"))])
def test_explain_gives_what_the_score_was_measured_against(det, extra) -> None:
    rng = np.random.default_rng(4)
    feed(det, 10 + rng.normal(size=100))
    s = det.score_one(20.0, 0)
    e = det.explain()
    assert {"value", "score", "baseline", "spread", "deviation", "window", *extra} <= set(e)
    assert e["value"] == 20.0 and e["score"] == s
    assert e["deviation"] == pytest.approx(20.0 - e["baseline"])
    assert e["spread"] > 0 and e["window"] > 0


def test_explain_says_nothing_for_an_unusable_value() -> None:
    det = EWMA()
    feed(det, np.arange(100.0))
    det.score_one(math.nan, 0)
    assert det.explain()["baseline"] is None


@pytest.mark.parametrize("cls,bad", [(RollingMedianMAD, {"window": 2}),
                                     (RollingMedianMAD, {"min_samples": 0}),
                                     (RollingMedianMAD, {"side": "up"}),
                                     (EWMA, {"alpha": 0.0}), (EWMA, {"warmup": 1}),
                                     (CUSUM, {"h": 0.0}), (CUSUM, {"alpha": 1.0})])
def test_bad_hyperparameters_are_rejected(cls, bad: dict) -> None:
    with pytest.raises(ValueError):
        cls(**bad)


values = st.lists(st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                            st.floats(-1e3, 1e3)), max_size=120)


@settings(max_examples=60, deadline=None)
@given(xs=values, probe=st.floats(allow_nan=True, allow_infinity=True))
@pytest.mark.parametrize("cls", [RollingMedianMAD, EWMA, CUSUM])
def test_scores_are_finite_and_non_negative(cls, xs: list[float], probe: float) -> None:
    det = cls(window=5, min_samples=2) if cls is RollingMedianMAD else cls(warmup=2)
    scores = feed(det, xs)
    first = det.score_one(probe, 0)
    assert np.isfinite(scores).all() and (scores >= 0).all()
    assert 0 <= first <= MAX_SCORE and det.score_one(probe, 0) == first
