"""detectors.filters: the alert state machine, "don't learn from anomalies", and the keyed
container (grouping, eviction, checkpoints) — table-driven cases and invariants."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detectors.filters import AlertFilter, Decisions, FilteredDetector, PerEntity
from detectors.findings import FIRING, RESOLVED
from detectors.robust import CUSUM, EWMA, RollingMedianMAD

MIN = 60_000
F, R = FIRING, RESOLVED


def run(filt: AlertFilter, scores: list[float], step_ms: int = MIN) -> list[tuple[int, str]]:
    out = []
    for i, s in enumerate(scores):
        status = filt.update(s, i * step_ms)
        if status:
            out.append((i, status))
    return out


# (name, filter params, scores one minute apart, expected transitions)
CASES = [
    ("below the threshold never fires", {}, [1, 4.99, 0, -3], []),
    ("at the threshold fires", {}, [1, 5, 6, 1], [(1, F), (3, R)]),
    ("fires once while it stays over", {}, [6, 7, 9, 6, 2], [(0, F), (4, R)]),
    ("pending points: a short run does not fire", {"pending_points": 3},
     [6, 6, 1, 6, 6, 1], []),
    ("pending points: the third consecutive fires", {"pending_points": 3},
     [6, 6, 6, 6, 1], [(2, F), (4, R)]),
    ("pending ms: held 2 minutes", {"pending_ms": 2 * MIN}, [6, 6, 6, 1], [(2, F), (3, R)]),
    ("pending points AND ms", {"pending_points": 2, "pending_ms": 3 * MIN},
     [6, 6, 6, 6, 6], [(3, F)]),
    ("hysteresis: stays firing above recover", {"recover": 3},
     [6, 4, 3, 4.5, 2.9], [(0, F), (4, R)]),
    ("hysteresis: below threshold does not start it", {"recover": 3}, [4, 4, 4], []),
    ("keep firing two minutes after recovery", {"keep_firing_ms": 2 * MIN},
     [6, 1, 1, 1, 1], [(0, F), (3, R)]),
    ("a relapse restarts the keep-firing time", {"keep_firing_ms": 2 * MIN},
     [6, 1, 6, 1, 1, 1], [(0, F), (5, R)]),
    ("fires again after resolving", {}, [6, 1, 6, 1], [(0, F), (1, R), (2, F), (3, R)]),
    ("NaN counts as below", {"pending_points": 2}, [6, math.nan, 6, 6, math.nan],
     [(3, F), (4, R)]),
]


@pytest.mark.parametrize("name,params,scores,expected", CASES, ids=[c[0] for c in CASES])
def test_alert_filter(name: str, params: dict, scores: list[float],
                      expected: list[tuple[int, str]]) -> None:
    assert run(AlertFilter(5.0, **params), scores) == expected


@pytest.mark.parametrize("name,params,scores,expected", CASES, ids=[c[0] for c in CASES])
def test_update_many_equals_update(name: str, params: dict, scores: list[float],
                                   expected: list[tuple[int, str]]) -> None:
    filt = AlertFilter(5.0, **params)
    res = filt.update_many(np.array(scores, dtype=float), np.arange(len(scores)) * MIN)
    assert [(d.index, d.status) for d in res.transitions] == expected
    assert res.firing.tolist() == _states(AlertFilter(5.0, **params), scores)


def _states(filt: AlertFilter, scores: list[float]) -> list[bool]:
    out = []
    for i, s in enumerate(scores):
        filt.update(s, i * MIN)
        out.append(filt.firing)
    return out


def test_decisions_say_since_when() -> None:
    filt = AlertFilter(5.0, pending_points=2, keep_firing_ms=MIN)
    res = filt.update_many(np.array([1, 6, 7, 1, 1.0]), np.arange(5) * MIN + 1000)
    fired, resolved = res.transitions
    assert (fired.index, fired.t_ms, fired.since_ms, fired.score) == (2, 2 * MIN + 1000,
                                                                      MIN + 1000, 7.0)
    assert (resolved.index, resolved.since_ms, resolved.threshold) == (4, 3 * MIN + 1000, 5.0)


def test_tick_resolves_without_data() -> None:
    filt = AlertFilter(5.0, keep_firing_ms=10 * MIN)
    assert filt.update(9, 0) == F and filt.update(1, MIN) is None
    assert filt.tick(5 * MIN) is None
    assert filt.tick(11 * MIN) == R and not filt.firing
    assert filt.tick(20 * MIN) is None


def test_tick_does_not_resolve_an_alert_still_over_recover() -> None:
    filt = AlertFilter(5.0, keep_firing_ms=MIN)
    filt.update(9, 0)
    assert filt.tick(10**9) is None and filt.firing


@pytest.mark.parametrize("bad", [{"recover": 6.0}, {"pending_points": 0},
                                 {"pending_ms": -1}, {"keep_firing_ms": -1}])
def test_bad_filter_parameters(bad: dict) -> None:
    with pytest.raises(ValueError):
        AlertFilter(5.0, **bad)


def test_filter_clone_and_params() -> None:
    filt = AlertFilter(5.0, recover=2.0, pending_points=3)
    filt.update(9, 0)
    clone = filt.clone()
    assert clone.params() == filt.params() and not clone.firing
    assert clone.classify(4.0) is False and AlertFilter(5, recover=2).classify(5.0) is True


scores_st = st.lists(st.one_of(st.floats(-10, 10), st.just(math.nan)), max_size=80)
steps_st = st.lists(st.integers(-MIN, 5 * MIN), min_size=80, max_size=80)


@settings(max_examples=150, deadline=None)
@given(scores=scores_st, steps=steps_st, pending=st.integers(1, 5),
       pending_ms=st.sampled_from([0, MIN, 4 * MIN]), recover=st.floats(-5, 5),
       keep=st.sampled_from([0, 2 * MIN]))
def test_never_fires_without_pending_points_consecutive(scores, steps, pending, pending_ms,
                                                        recover, keep) -> None:
    threshold = 5.0
    filt = AlertFilter(threshold, recover=min(recover, threshold), pending_points=pending,
                       pending_ms=pending_ms, keep_firing_ms=keep)
    ts = np.cumsum(steps[:len(scores)]).astype(np.int64)
    res = filt.update_many(np.array(scores, dtype=float), ts)
    for d in res.transitions:
        if d.status == F:
            run_ = scores[d.index - pending + 1:d.index + 1] if d.index + 1 >= pending else []
            assert len(run_) == pending and all(s >= threshold for s in run_)
            assert d.t_ms - d.since_ms >= pending_ms
    statuses = [d.status for d in res.transitions]
    assert all(a != b for a, b in zip(statuses, statuses[1:]))  # alternates
    assert not statuses or statuses[0] == F


@settings(max_examples=100, deadline=None)
@given(scores=scores_st, pending=st.integers(1, 4), keep=st.sampled_from([0, 2 * MIN]))
def test_update_many_equals_the_update_loop(scores, pending, keep) -> None:
    a = AlertFilter(5.0, recover=2.0, pending_points=pending, keep_firing_ms=keep)
    b = a.clone()
    res = a.update_many(np.array(scores, dtype=float), np.arange(len(scores)) * MIN)
    assert [(d.index, d.status) for d in res.transitions] == run(b, scores)
    assert a.firing == b.firing


# -- FilteredDetector --------------------------------------------------------------------
def shifted(n: int = 600, at: int = 300, by: float = 10.0, seed: int = 0) -> np.ndarray:
    xs = 50 + np.random.default_rng(seed).normal(size=n)
    xs[at:] += by
    return xs


def test_anomalies_are_not_learned() -> None:
    xs, ts = shifted(), np.arange(600) * MIN
    protected = FilteredDetector(EWMA(), AlertFilter(6.0, recover=3.0))
    res = protected.process_many(xs, ts)
    assert [(d.index, d.status) for d in res.transitions] == [(300, F)]  # still firing
    assert protected.detector.explain()["baseline"] == pytest.approx(50, abs=0.5)
    learning = FilteredDetector(EWMA(), AlertFilter(6.0, recover=3.0, learn_anomalies=True))
    res = learning.process_many(xs, ts)
    assert [d.status for d in res.transitions] == [F, R]  # the shift became normal


def update_loop(fd: FilteredDetector, xs: np.ndarray, ts: np.ndarray) -> Decisions:
    scores, firing, out = [], [], []
    for i, (x, t) in enumerate(zip(xs.tolist(), ts.tolist())):
        scores.append(fd.score_one(x, t))
        status = fd.update(x, t)
        firing.append(fd.firing)
        if status:
            out.append((i, status))
    return Decisions(np.array(scores), np.array(firing), out)  # type: ignore[arg-type]


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10**6), n=st.integers(0, 700),
       det=st.sampled_from([EWMA(), RollingMedianMAD(window=20), CUSUM(h=4.0)]),
       pending=st.integers(1, 3), learn=st.booleans(),
       chunk=st.sampled_from([1, 13, 5000]))
def test_filtered_process_many_equals_the_update_loop(seed, n, det, pending, learn,
                                                      chunk) -> None:
    rng = np.random.default_rng(seed)
    xs = 50 + rng.normal(size=n)
    for _ in range(rng.integers(0, 4)):  # a few anomalies of random length and size
        a = rng.integers(0, max(n, 1))
        xs[a:a + rng.integers(1, 80)] += rng.choice([-1, 1]) * rng.uniform(3, 30)
    ts = np.arange(n) * MIN
    filt = AlertFilter(4.0, recover=2.0, pending_points=pending, learn_anomalies=learn)
    fd = FilteredDetector(det.clone(), filt)
    expected = update_loop(FilteredDetector(det.clone(), filt.clone()), xs, ts)
    parts = [fd.process_many(xs[a:a + chunk], ts[a:a + chunk]) for a in range(0, n, chunk)]
    got = [(d.index + a, d.status) for a, p in zip(range(0, n, chunk), parts)
           for d in p.transitions]
    assert got == expected.transitions
    if parts:
        np.testing.assert_array_equal(np.concatenate([p.scores for p in parts]),
                                      expected.scores)
        np.testing.assert_array_equal(np.concatenate([p.firing for p in parts]),
                                      expected.firing)


def test_process_many_keeps_the_detector_object() -> None:
    det = EWMA()
    fd = FilteredDetector(det, AlertFilter(6.0))
    fd.process_many(shifted(), np.arange(600) * MIN)
    assert fd.detector is det and det._n > 0


def test_filtered_detector_clone_params_and_explain() -> None:
    fd = FilteredDetector(EWMA(alpha=0.2), AlertFilter(6.0, pending_points=2))
    fd.process_many(shifted(), np.arange(600) * MIN)
    clone = fd.clone()
    assert clone.params() == fd.params() == {
        "detector": {"name": "ewma", **EWMA(alpha=0.2).params()},
        "filter": AlertFilter(6.0, pending_points=2).params()}
    assert not clone.firing and fd.firing
    assert fd.explain()["firing"] is True and "baseline" in fd.explain()


# -- PerEntity ---------------------------------------------------------------------------
def entity_batch(seed: int, n: int, entities: int) -> tuple[list[str], np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    ids = [f"S{int(i)}" for i in rng.integers(0, entities, n)]
    xs = 50 + rng.normal(size=n)
    xs[rng.integers(0, max(n, 1), n // 20)] += 40
    return ids, xs, np.arange(n) * 1000


def sequential(proto, ids, xs, ts):
    """Each entity's points through its own clone, one at a time (the reference)."""
    models, scores, firing, out = {}, np.zeros(len(xs)), np.zeros(len(xs), bool), []
    for i, (e, x, t) in enumerate(zip(ids, xs.tolist(), ts.tolist())):
        m = models.setdefault(e, proto.clone())
        if isinstance(m, FilteredDetector):
            scores[i] = m.score_one(x, t)
            status = m.update(x, t)
            firing[i] = m.firing
            if status:
                out.append((i, e, status))
        else:
            scores[i] = m.score_one(x, t)
            m.learn_one(x, t)
    return scores, firing, out


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10**6), n=st.integers(0, 400), entities=st.integers(1, 12),
       filtered=st.booleans())
def test_per_entity_equals_per_entity_sequential_processing(seed, n, entities,
                                                            filtered) -> None:
    proto = EWMA(warmup=5)
    if filtered:
        proto = FilteredDetector(proto, AlertFilter(5.0, recover=2.0, pending_points=2))
    ids, xs, ts = entity_batch(seed, n, entities)
    scores, firing, out = sequential(proto, ids, xs, ts)
    half = n // 2
    keyed = PerEntity(proto)
    first = keyed.process_many(ids[:half], xs[:half], ts[:half])
    second = keyed.process_many(np.array(ids[half:], dtype=object), xs[half:], ts[half:])
    if not filtered:
        np.testing.assert_array_equal(np.concatenate([first, second]), scores)
        return
    np.testing.assert_array_equal(np.concatenate([first.scores, second.scores]), scores)
    np.testing.assert_array_equal(np.concatenate([first.firing, second.firing]), firing)
    got = [(d.index, d.entity_id, d.status) for d in first.transitions] + \
        [(d.index + half, d.entity_id, d.status) for d in second.transitions]
    assert got == out
    assert keyed.firing == {e for e in set(ids) if keyed.get(e).firing}


def test_least_recently_seen_entities_are_evicted() -> None:
    keyed = PerEntity(EWMA(), max_entities=2)
    keyed.process_many(["a", "b", "a", "c"], np.ones(4), np.arange(4))
    assert len(keyed) == 2 and keyed.evicted == 1
    assert "b" not in keyed and "a" in keyed and "c" in keyed
    keyed.process_many(["d"], np.ones(1), np.arange(1))
    assert "a" not in keyed and keyed.evicted == 2


def test_evicting_a_firing_entity_resolves_it() -> None:
    keyed = PerEntity(FilteredDetector(EWMA(warmup=2), AlertFilter(5.0)), max_entities=1)
    res = keyed.process_many(["a"] * 6, np.array([1, 2, 1, 2, 1, 90.0]), np.arange(6))
    assert [(d.entity_id, d.status) for d in res.transitions] == [("a", F)]
    res = keyed.process_many(["b"], np.ones(1), np.array([99]))
    assert [(d.index, d.entity_id, d.status, d.t_ms) for d in res.transitions] == \
        [(-1, "a", R, 99)]
    assert keyed.firing == frozenset() and keyed.evicted == 1


def test_snapshot_is_json_and_restores_identically() -> None:
    proto = FilteredDetector(RollingMedianMAD(window=10), AlertFilter(5.0))
    ids, xs, ts = entity_batch(3, 600, 5)
    a = PerEntity(proto, max_entities=4)
    a.process_many(ids[:300], xs[:300], ts[:300])
    snap = json.loads(json.dumps(a.snapshot()))
    b = PerEntity(proto, max_entities=4)
    b.restore(snap)
    assert b.evicted == a.evicted and len(b) == len(a) and b.firing == a.firing
    ra = a.process_many(ids[300:], xs[300:], ts[300:])
    rb = b.process_many(ids[300:], xs[300:], ts[300:])
    np.testing.assert_array_equal(ra.scores, rb.scores)
    assert ra.transitions == rb.transitions
    with pytest.raises(ValueError):
        b.restore({"format": 99})


def test_tick_resolves_entities_that_went_quiet() -> None:
    keyed = PerEntity(FilteredDetector(EWMA(warmup=5), AlertFilter(5.0, keep_firing_ms=MIN)))
    ids = ["a"] * 30 + ["b"] * 30
    xs = np.array(([50.0, 51.0] * 14 + [500.0, 50.0]) * 2)
    ts = np.array(list(range(30)) * 2) * 1000
    res = keyed.process_many(ids, xs, ts)
    assert {(d.entity_id, d.status) for d in res.transitions} == {("a", F), ("b", F)}
    assert keyed.tick(30_000) == [] and keyed.firing == {"a", "b"}
    done = keyed.tick(29_000 + MIN)
    assert [(d.entity_id, d.status, d.index, d.since_ms) for d in done] == \
        [("a", R, -1, 29_000), ("b", R, -1, 29_000)]
    assert keyed.firing == frozenset()


def test_mismatched_lengths_are_rejected() -> None:
    with pytest.raises(ValueError):
        PerEntity(EWMA()).process_many(["a", "b"], np.ones(3), np.arange(3))
