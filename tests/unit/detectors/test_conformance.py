"""One conformance suite for every registered univariate detector (River's ``checks/``).

Every module of the ``detectors`` package is imported, so a detector registered anywhere in
it (``detectors/general.py`` tomorrow) is checked without being listed here. A detector may
offer ``_unit_test_params()`` (a classmethod returning a list of hyperparameter dicts) when
its defaults are not enough; it must declare ``catches``, the synthetic anomalies of
:data:`SIGNALS` it is expected to score above the 99th percentile of the normal part.
"""

from __future__ import annotations

import importlib
import inspect
import json
import pickle
import pkgutil
from typing import Any, Iterator

import numpy as np
import pytest

import detectors
from detectors.base import REGISTRY, Detector, from_config

for _mod in pkgutil.iter_modules(detectors.__path__):
    importlib.import_module(f"detectors.{_mod.name}")

SIGNALS = ("spike", "level_shift", "drift", "variance_change", "flatline", "dropout")
STEP_MS = 60_000
T0 = 1_748_707_200_000  # 2025-06-01 00:00 in Changsha (UTC+8)
MEMORY_SLACK = 1024     # bytes a checkpoint may grow between 10k and 1M points (+1%)


def _cases() -> Iterator[Any]:
    for name, cls in sorted(REGISTRY.items()):
        hook = getattr(cls, "_unit_test_params", None)
        variants = list(hook()) if hook is not None else [{}]
        for i, params in enumerate(variants):
            yield pytest.param(cls, params, id=name if len(variants) == 1 else f"{name}-{i}")


CASES = list(_cases())


def stream(n: int, seed: int = 1, t0: int = T0) -> tuple[np.ndarray, np.ndarray]:
    """A noisy reading every minute with a slow wave, a few spikes and missing values."""
    rng = np.random.default_rng(seed)
    i = np.arange(n)
    xs = 50.0 + 0.5 * np.sin(2 * np.pi * i / 500) + rng.normal(0.0, 1.0, n)
    xs[rng.integers(0, n, max(1, n // 200))] += 12.0
    xs[rng.integers(0, n, max(1, n // 300))] = np.nan
    return xs, t0 + i * STEP_MS


def run_loop(det: Detector, xs: np.ndarray, ts: np.ndarray) -> np.ndarray:
    out = np.empty(len(xs))
    for i, (x, t) in enumerate(zip(xs.tolist(), ts.tolist())):
        out[i] = det.score_one(x, t)
        det.learn_one(x, t)
    return out


def readonly(a: np.ndarray) -> np.ndarray:
    a = a.copy()
    a.setflags(write=False)
    return a


def test_the_known_detectors_are_registered() -> None:
    assert {"rolling_median_mad", "ewma", "cusum", "seasonal_baseline"} <= set(REGISTRY)
    assert all(cls.name == name for name, cls in REGISTRY.items())


@pytest.mark.parametrize("cls,params", CASES)
def test_hyperparameters_are_the_init_arguments(cls: type[Detector], params: dict) -> None:
    det = cls(**params)
    sig = inspect.signature(cls.__init__)
    names = [n for n in sig.parameters if n != "self"]
    assert list(det.params()) == names
    missing = [n for n in names if sig.parameters[n].default is inspect.Parameter.empty
               and n not in params]
    assert not missing, f"give defaults or _unit_test_params() for {missing}"
    assert repr(det).startswith(cls.__name__ + "(")


@pytest.mark.parametrize("cls,params", CASES)
def test_declares_what_it_catches(cls: type[Detector], params: dict) -> None:
    catches = getattr(cls, "catches", None)
    assert isinstance(catches, tuple), f"{cls.__name__} must declare catches = (...)"
    assert set(catches) <= set(SIGNALS), set(catches) - set(SIGNALS)


@pytest.mark.parametrize("cls,params", CASES)
def test_inputs_are_not_mutated(cls: type[Detector], params: dict) -> None:
    xs, ts = stream(400)
    ro_x, ro_t = readonly(xs), readonly(ts)  # writing into them would raise
    cls(**params).process_many(ro_x, ro_t)
    run_loop(cls(**params), ro_x, ro_t)
    np.testing.assert_array_equal(ro_x, xs)
    np.testing.assert_array_equal(ro_t, ts)


@pytest.mark.parametrize("cls,params", CASES)
def test_score_one_does_not_learn(cls: type[Detector], params: dict) -> None:
    xs, ts = stream(300)
    a, b = cls(**params), cls(**params)
    a.process_many(xs[:200], ts[:200])
    b.process_many(xs[:200], ts[:200])
    first = a.score_one(float(xs[200]), int(ts[200]))
    assert a.score_one(float(xs[200]), int(ts[200])) == first
    a.score_one(1e6, int(ts[200]))
    np.testing.assert_array_equal(a.process_many(xs[200:], ts[200:]),
                                  b.process_many(xs[200:], ts[200:]))


@pytest.mark.parametrize("cls,params", CASES)
@pytest.mark.parametrize("cut", [1, 150, 420])
def test_scores_are_causal(cls: type[Detector], params: dict, cut: int) -> None:
    xs, ts = stream(600)
    other = xs.copy()
    other[cut:] += 30.0 + np.random.default_rng(9).normal(0.0, 20.0, len(xs) - cut)
    a = cls(**params).process_many(xs, ts)
    b = cls(**params).process_many(other, ts)
    np.testing.assert_array_equal(a[:cut], b[:cut])


@pytest.mark.parametrize("cls,params", CASES)
def test_pickle_round_trip_mid_stream(cls: type[Detector], params: dict) -> None:
    xs, ts = stream(1000)
    det = cls(**params)
    det.process_many(xs[:537], ts[:537])
    copy = pickle.loads(pickle.dumps(det))
    np.testing.assert_array_equal(copy.process_many(xs[537:], ts[537:]),
                                  det.process_many(xs[537:], ts[537:]))
    assert json.dumps(copy.explain(), default=str) == json.dumps(det.explain(), default=str)


@pytest.mark.parametrize("cls,params", CASES)
def test_clone_is_untrained_with_equal_params(cls: type[Detector], params: dict) -> None:
    xs, ts = stream(500)
    det = cls(**params)
    det.process_many(xs, ts)
    clone = det.clone()
    assert type(clone) is cls and clone is not det
    assert clone.params() == det.params()
    np.testing.assert_array_equal(clone.process_many(xs, ts), cls(**params).process_many(xs, ts))


@pytest.mark.parametrize("cls,params", CASES)
def test_from_config_round_trip(cls: type[Detector], params: dict) -> None:
    det = cls(**params)
    config = json.loads(json.dumps({"name": cls.name, **det.params()}))  # as read from JSON
    built = from_config(config)
    assert type(built) is cls
    assert json.dumps(built.params(), sort_keys=True) == json.dumps(det.params(), sort_keys=True)


@pytest.mark.parametrize("cls,params", CASES)
def test_memory_is_bounded(cls: type[Detector], params: dict) -> None:
    xs, ts = stream(1_000_000, seed=3)
    det = cls(**params)
    det.process_many(xs[:10_000], ts[:10_000])
    small = len(pickle.dumps(det))
    for a in range(10_000, len(xs), 198_000):
        det.process_many(xs[a:a + 198_000], ts[a:a + 198_000])
    assert len(pickle.dumps(det)) <= small * 1.01 + MEMORY_SLACK


def hostile_stream() -> tuple[np.ndarray, np.ndarray]:
    xs, ts = stream(400)
    xs[[50, 51, 52]] = [np.nan, np.inf, -np.inf]
    xs[[60, 61, 62, 63]] = [1e308, -1e308, 5e-324, 0.0]
    xs[100:140] = 42.0  # constant: zero spread
    ts = ts.copy()
    ts[200:] += 30 * 86_400_000          # a month's gap
    ts[[250, 251]] = ts[[251, 250]]      # out of order
    ts[260:263] = ts[260]                # duplicates
    ts[300:] -= 400 * 86_400_000         # time goes back to before the start
    return xs, ts


@pytest.mark.parametrize("cls,params", CASES)
def test_scores_are_finite_on_hostile_input(cls: type[Detector], params: dict) -> None:
    xs, ts = hostile_stream()
    batch = cls(**params).process_many(xs, ts)
    loop = run_loop(cls(**params), xs, ts)
    assert np.isfinite(batch).all() and np.isfinite(loop).all()
    det = cls(**params)
    det.process_many(xs, ts)
    json.dumps(det.explain())  # explanations stay JSON-serialisable


@pytest.mark.parametrize("cls,params", CASES)
@pytest.mark.parametrize("hostile", [False, True], ids=["normal", "hostile"])
def test_process_many_equals_the_loop(cls: type[Detector], params: dict, hostile: bool) -> None:
    xs, ts = hostile_stream() if hostile else stream(1500)
    expected = run_loop(cls(**params), xs, ts)
    np.testing.assert_allclose(cls(**params).process_many(xs, ts), expected,
                               rtol=1e-9, atol=1e-12)
    for size in (1, 7, 128):
        det = cls(**params)
        chunked = np.concatenate([det.process_many(xs[a:a + size], ts[a:a + size])
                                  for a in range(0, len(xs), size)])
        np.testing.assert_allclose(chunked, expected, rtol=1e-9, atol=1e-12)
    assert cls(**params).process_many(xs[:0], ts[:0]).shape == (0,)


# -- detection quality on labelled synthetic signals -------------------------------------
START, N = 2000, 3000


def signal(kind: str, seed: int = 5) -> tuple[np.ndarray, np.ndarray, slice]:
    """A normal stream of N points with one anomaly of ``kind`` from START; its window."""
    rng = np.random.default_rng(seed)
    i = np.arange(N)
    noise = rng.normal(0.0, 1.0, N)
    base = 50.0 + 0.5 * np.sin(2 * np.pi * i / 500)
    xs = base + noise
    if kind == "spike":
        xs[START] += 8.0
        window = slice(START, START + 5)
    elif kind == "level_shift":
        xs[START:] += 5.0
        window = slice(START, START + 100)
    elif kind == "drift":
        xs[START:] += 0.02 * (i[START:] - START)
        window = slice(START, N)
    elif kind == "variance_change":
        xs[START:] = base[START:] + 5.0 * noise[START:]
        window = slice(START, START + 300)
    elif kind == "flatline":
        xs[START:START + 300] = xs[START - 1]
        window = slice(START, START + 300)
    elif kind == "dropout":  # a sensor that drops out reports zeros
        xs[START:START + 100] = 0.0
        window = slice(START, START + 100)
    else:
        raise ValueError(kind)
    return xs, T0 + i * STEP_MS, window


def _quality_cases() -> Iterator[Any]:
    for case in CASES:
        cls, params = case.values
        for kind in getattr(cls, "catches", ()):
            yield pytest.param(cls, params, kind, id=f"{case.id}-{kind}")


@pytest.mark.parametrize("cls,params,kind", list(_quality_cases()))
def test_catches_what_it_declares(cls: type[Detector], params: dict, kind: str) -> None:
    xs, ts, window = signal(kind)
    scores = cls(**params).process_many(xs, ts)
    normal = np.percentile(scores[:START], 99)
    assert scores[window].max() > normal, (kind, scores[window].max(), normal)


def test_every_signal_is_a_real_anomaly() -> None:
    """The generator itself: each anomaly changes the stream only inside and after START."""
    clean = signal("spike")[0].copy()
    clean[START] -= 8.0
    for kind in SIGNALS:
        xs, _, window = signal(kind)
        assert np.array_equal(xs[:START], clean[:START])
        assert not np.array_equal(xs[window], clean[window])
