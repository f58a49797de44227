"""The default ``general`` detector: detection quality on labelled synthetic signals, and the
online protocol (causality, pickling, batch == row loop, bad input, bounded memory, clone).

Signals are made here with a seeded RNG; nothing outside the repository is read.
"""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest

from detectors.base import REGISTRY, from_config
from detectors.general import GeneralDetector

T0 = 1_700_000_000_000
STEP = 300_000  # 5-minute rows


def times(n: int) -> np.ndarray:
    return T0 + STEP * np.arange(n, dtype=np.int64)


def daily(n: int, rng: np.random.Generator, noise: float = 0.05, period: int = 288) -> np.ndarray:
    t = np.arange(n)
    return 10.0 + 3.0 * np.sin(2 * np.pi * t / period) + noise * 3.0 * rng.standard_normal(n)


def loop_scores(det: GeneralDetector, xs: np.ndarray, ts: np.ndarray) -> np.ndarray:
    out = np.empty(len(xs))
    for i, (x, t) in enumerate(zip(xs, ts)):
        out[i] = det.score_one(float(x), int(t))
        det.learn_one(float(x), int(t))
    return out


# -- synthetic anomalies: (signal, first anomalous row, last anomalous row) -------------------
N, AT = 4000, 3000


def spike(rng):
    x = daily(N, rng)
    x[AT] += 8.0
    return x, AT, AT


def level_shift(rng):
    x = daily(N, rng)
    x[AT:] += 5.0
    return x, AT, AT + 60


def drift(rng):
    x = daily(N, rng)
    x[AT:] += np.linspace(0.0, 12.0, N - AT)
    return x, AT, N - 1


def variance_change(rng):
    x = 10.0 + rng.standard_normal(N)
    x[AT:] = 10.0 + 5.0 * rng.standard_normal(N - AT)
    return x, AT, AT + 100


def flatline(rng):
    x = daily(N, rng)
    x[AT:AT + 300] = x[AT]
    return x, AT, AT + 300


def dropout(rng):
    x = daily(N, rng)
    x[AT:AT + 20] = 0.0
    return x, AT, AT + 20


def missing_peak(rng):
    x = daily(N, rng)
    day = np.arange(N) // 288
    peak = (day == AT // 288) & (np.sin(2 * np.pi * np.arange(N) / 288) > 0)
    x[peak] = 10.0 + 0.15 * rng.standard_normal(peak.sum())
    first = int(np.argmax(peak))
    return x, first, first + int(peak.sum())


CASES = [spike, level_shift, drift, variance_change, flatline, dropout, missing_peak]


@pytest.mark.parametrize("make", CASES, ids=lambda f: f.__name__)
def test_detects_labelled_anomaly(make) -> None:
    rng = np.random.default_rng(7)
    xs, a, b = make(rng)
    scores = GeneralDetector().process_many(xs, times(len(xs)))
    normal = scores[600:a]
    inside = scores[a:b + 1]
    assert inside.max() > np.quantile(normal, 0.99)
    assert inside.max() > np.quantile(normal, 0.999)
    assert inside.max() >= 0.45                  # about as novel as the running record


def test_quiet_on_normal_signals() -> None:
    rng = np.random.default_rng(3)
    for xs in (daily(6000, rng), 5.0 + rng.standard_normal(6000), np.full(6000, 2.5),
               rng.poisson(0.7, 6000).astype(float)):
        scores = GeneralDetector().process_many(xs, times(len(xs)))
        alarms = int((scores[1000:] >= 0.6).sum())
        assert alarms <= 6, alarms


def test_constant_then_change_fires() -> None:
    xs = np.r_[np.full(1000, 3.0), [7.0], np.full(50, 3.0)]
    scores = GeneralDetector().process_many(xs, times(len(xs)))
    assert scores[:1000].max() == 0.0
    assert scores[1000] > 0.99


# -- protocol ----------------------------------------------------------------------------------
def test_registered_and_configurable() -> None:
    assert REGISTRY["general"] is GeneralDetector
    det = from_config({"name": "general", "rest": 10})
    assert isinstance(det, GeneralDetector) and det.rest == 10


def test_scores_in_unit_interval_and_warmup_zero() -> None:
    rng = np.random.default_rng(1)
    xs = rng.standard_cauchy(5000)
    scores = GeneralDetector().process_many(xs, times(len(xs)))
    assert np.all(np.isfinite(scores))
    assert scores.min() >= 0.0 and scores.max() < 1.0
    assert np.all(scores[:150] == 0.0)


def test_process_many_equals_row_loop() -> None:
    rng = np.random.default_rng(11)
    xs = np.r_[daily(3000, rng), 30 + rng.standard_normal(500), rng.poisson(2, 700)]
    xs[[5, 900, 2500]] = np.nan
    xs[1200] = np.inf
    xs[1300] = -np.inf
    ts = times(len(xs))
    a, b = GeneralDetector(), GeneralDetector()
    batch = a.process_many(xs, ts)
    rows = loop_scores(b, xs, ts)
    np.testing.assert_array_equal(batch, rows)
    # and the states agree afterwards
    nxt = 12.0
    assert a.score_one(nxt, int(ts[-1]) + STEP) == b.score_one(nxt, int(ts[-1]) + STEP)


def test_process_many_in_chunks_equals_one_batch() -> None:
    rng = np.random.default_rng(12)
    xs = daily(5000, rng)
    ts = times(len(xs))
    whole = GeneralDetector().process_many(xs, ts)
    det = GeneralDetector()
    parts = [det.process_many(xs[i:j], ts[i:j])
             for i, j in ((0, 1), (1, 777), (777, 778), (778, 3001), (3001, 5000))]
    np.testing.assert_array_equal(np.concatenate(parts), whole)


def test_score_one_does_not_change_state() -> None:
    rng = np.random.default_rng(13)
    xs = daily(2000, rng)
    det = GeneralDetector()
    det.process_many(xs, times(len(xs)))
    before = pickle.dumps(det.__dict__ | {"_last": None})
    for v in (0.0, 1e9, -5.0, float("nan")):
        det.score_one(v, T0)
    assert pickle.dumps(det.__dict__ | {"_last": None}) == before


def test_causal() -> None:
    rng = np.random.default_rng(21)
    xs = daily(3000, rng)
    ys = xs.copy()
    ys[2000:] = rng.standard_normal(1000) * 50.0   # a different future
    ts = times(len(xs))
    a = GeneralDetector().process_many(xs, ts)
    b = GeneralDetector().process_many(ys, ts)
    np.testing.assert_array_equal(a[:2000], b[:2000])


def test_pickle_round_trip_mid_stream() -> None:
    rng = np.random.default_rng(31)
    xs = np.r_[daily(2500, rng), daily(1500, rng) + 4.0]
    ts = times(len(xs))
    det = GeneralDetector()
    det.process_many(xs[:1703], ts[:1703])       # mid-block, mid-rest
    copy = pickle.loads(pickle.dumps(det))
    np.testing.assert_array_equal(det.process_many(xs[1703:], ts[1703:]),
                                  copy.process_many(xs[1703:], ts[1703:]))


def test_bad_input_gives_finite_scores_and_no_harm() -> None:
    rng = np.random.default_rng(41)
    xs = daily(2000, rng)
    ts = times(len(xs))
    clean = GeneralDetector()
    dirty = GeneralDetector()
    clean.process_many(xs, ts)
    dirty.process_many(xs, ts)
    for bad in (float("nan"), float("inf"), float("-inf"), 1e300, -1e300):
        s = dirty.score_one(bad, int(ts[-1]))
        assert s == 0.0
        dirty.learn_one(bad, int(ts[-1]))
    nxt = xs[:500] + 0.01
    np.testing.assert_array_equal(clean.process_many(nxt, ts[:500]),
                                  dirty.process_many(nxt, ts[:500]))


def test_out_of_order_times_and_gaps_are_finite() -> None:
    rng = np.random.default_rng(51)
    xs = daily(3000, rng)
    ts = times(len(xs))
    ts = ts[rng.permutation(len(ts))]             # shuffled event times
    ts[100:200] += 10**12                          # a huge gap
    scores = GeneralDetector().process_many(xs, ts)
    assert np.all(np.isfinite(scores)) and scores.max() < 1.0


def test_extreme_values_finite() -> None:
    xs = np.r_[np.zeros(500), [1e99, -1e99, 1e-300, 5e-324], np.zeros(100), [1e99]]
    scores = GeneralDetector().process_many(xs, times(len(xs)))
    assert np.all(np.isfinite(scores)) and scores.max() <= 1.0


def test_bounded_memory() -> None:
    rng = np.random.default_rng(61)
    det = GeneralDetector(value_history=400, pattern_history=100)
    chunk = 10_000
    det.process_many(rng.standard_normal(chunk), times(chunk))
    size_10k = len(pickle.dumps(det))
    for _ in range(29):                            # 300k rows in all
        det.process_many(rng.standard_normal(chunk) * rng.uniform(0.1, 10), times(chunk))
    assert len(pickle.dumps(det)) == size_10k


def test_default_state_size_is_small() -> None:
    rng = np.random.default_rng(62)
    det = GeneralDetector()
    det.process_many(rng.standard_normal(20_000), times(20_000))
    assert len(pickle.dumps(det)) < 100_000


def test_clone_is_untrained_with_same_hyperparameters() -> None:
    rng = np.random.default_rng(71)
    det = GeneralDetector(rest=20, value_cap=1.5)
    xs = daily(2000, rng)
    det.process_many(xs, times(2000))
    twin = det.clone()
    assert twin.params() == det.params()
    fresh = GeneralDetector(rest=20, value_cap=1.5)
    assert pickle.dumps(twin) == pickle.dumps(fresh)
    assert det.clone(rest=5).rest == 5


def test_rest_period_gives_one_alarm_per_onset() -> None:
    rng = np.random.default_rng(81)
    xs = 10.0 + rng.standard_normal(3000)
    xs[2000:2030] += np.linspace(20, 40, 30)       # a growing burst
    det = GeneralDetector(rest=50)
    scores = det.process_many(xs, times(len(xs)))
    burst = scores[2000:2050]
    assert burst[0] > 0.9
    assert (burst >= 0.5).sum() == 1


@pytest.mark.parametrize("bad", [dict(value_warmup=0), dict(value_warmup=10, value_history=5),
                                 dict(block=0), dict(pattern_decay=0.0), dict(value_cap=0.5),
                                 dict(rest=-1), dict(pattern_warmup=0)])
def test_rejects_bad_hyperparameters(bad) -> None:
    with pytest.raises(ValueError):
        GeneralDetector(**bad)


def test_explain_reports_records() -> None:
    rng = np.random.default_rng(91)
    det = GeneralDetector()
    det.process_many(daily(1000, rng), times(1000))
    info = det.explain()
    assert {"value_novelty", "value_record", "pattern_novelty", "pattern_record"} <= set(info)
    assert all(math.isfinite(v) for v in info.values())
