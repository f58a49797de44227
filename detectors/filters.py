"""A score is not a decision: filters turn detector scores into firing/resolved transitions.

:class:`AlertFilter` is the state machine (threshold, hysteresis, pending and keep-firing
periods in event time, like Prometheus' ``for`` and ``keep_firing_for``). A
:class:`FilteredDetector` wraps a detector with a filter and owns "don't learn from
anomalies". :class:`PerEntity` keeps one clone of a prototype per entity, bounded, and
checkpoints them. Pure: no I/O, no clock; time is the event time passed in (or ``now_ms``).
"""

from __future__ import annotations

import base64
import copy
import pickle
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from typing import Any, Sequence

import numpy as np

from detectors.base import Detector
from detectors.findings import FIRING, RESOLVED

_INACTIVE, _PENDING, _FIRING = 0, 1, 2
# Points per optimistic vectorised step of FilteredDetector: small after an anomaly (a
# failed step replays its clean prefix), doubling while steps succeed.
_CHUNK_MIN, _CHUNK_MAX = 256, 65_536


@dataclass(frozen=True)
class Decision:
    """A transition: the alert of ``entity_id`` started firing or resolved at point ``index``."""

    index: int          # position of the deciding point in the batch
    status: str         # FIRING | RESOLVED
    t_ms: int           # its event time (or ``now_ms`` for a resolution decided by tick)
    score: float
    threshold: float
    since_ms: int       # firing: when the score first crossed; resolved: when it recovered
    entity_id: str = ""


@dataclass(frozen=True)
class Decisions:
    """What a batch decided: each point's score, whether the alert fires after it, changes."""

    scores: np.ndarray
    firing: np.ndarray
    transitions: list[Decision] = field(default_factory=list)


class AlertFilter:
    """Firing/resolved decisions from scores at event times (high score = anomalous).

    Fires when the score has been >= ``threshold`` for ``pending_points`` consecutive points
    *and* for ``pending_ms`` of event time (leave either at its default to use only the
    other). While firing, a score >= ``recover`` (hysteresis; default: the threshold) keeps
    it firing; once below, it resolves after ``keep_firing_ms`` more event time without a
    relapse. A NaN score counts as below every level. ``learn_anomalies`` is read by
    :class:`FilteredDetector`.
    """

    def __init__(self, threshold: float, recover: float | None = None, pending_points: int = 1,
                 pending_ms: int = 0, keep_firing_ms: int = 0,
                 learn_anomalies: bool = False) -> None:
        if recover is not None and recover > threshold:
            raise ValueError(f"recover ({recover}) must not exceed threshold ({threshold})")
        if pending_points < 1 or pending_ms < 0 or keep_firing_ms < 0:
            raise ValueError("need pending_points >= 1, pending_ms >= 0, keep_firing_ms >= 0")
        self.threshold = threshold
        self.recover = recover
        self.pending_points = pending_points
        self.pending_ms = pending_ms
        self.keep_firing_ms = keep_firing_ms
        self.learn_anomalies = learn_anomalies
        self._state = _INACTIVE
        self._run = 0                          # consecutive points over the threshold
        self._since = 0                        # event time the run started
        self._recovered_at: int | None = None  # firing, but the score is back below recover

    def params(self) -> dict[str, Any]:
        return {"threshold": self.threshold, "recover": self.recover,
                "pending_points": self.pending_points, "pending_ms": self.pending_ms,
                "keep_firing_ms": self.keep_firing_ms, "learn_anomalies": self.learn_anomalies}

    def clone(self, **overrides: Any) -> "AlertFilter":
        return type(self)(**{**self.params(), **overrides})

    def __repr__(self) -> str:
        return f"AlertFilter({', '.join(f'{k}={v!r}' for k, v in self.params().items())})"

    @property
    def firing(self) -> bool:
        return self._state == _FIRING

    @property
    def recovered_at(self) -> int | None:
        """While firing: event time the score fell below the recover level (else None)."""
        return self._recovered_at

    @property
    def recover_level(self) -> float:
        return self.threshold if self.recover is None else self.recover

    def classify(self, score: float) -> bool:
        """Is this score anomalous in the current state? (Firing lowers the bar to recover.)"""
        return score >= (self.recover_level if self._state == _FIRING else self.threshold)

    def update(self, score: float, t_ms: int) -> str | None:
        """Advance by one point; return FIRING or RESOLVED on a transition, else None."""
        if self._state == _FIRING:
            if score >= self.recover_level:
                self._recovered_at = None
                return None
            if self._recovered_at is None:
                self._recovered_at = t_ms
            return self.tick(t_ms)
        if not score >= self.threshold:
            self._state, self._run = _INACTIVE, 0
            return None
        if self._state == _INACTIVE:
            self._state, self._run, self._since = _PENDING, 0, t_ms
        self._run += 1
        if self._run >= self.pending_points and t_ms - self._since >= self.pending_ms:
            self._state, self._recovered_at = _FIRING, None
            return FIRING
        return None

    def tick(self, now_ms: int) -> str | None:
        """Resolve a recovered alert whose keep-firing time has passed (even with no data)."""
        if self._state == _FIRING and self._recovered_at is not None and \
                now_ms - self._recovered_at >= self.keep_firing_ms:
            self._state, self._run, self._recovered_at = _INACTIVE, 0, None
            return RESOLVED
        return None

    def step(self, index: int, score: float, t_ms: int) -> Decision | None:
        """:meth:`update` that returns the transition as a :class:`Decision`."""
        recovered = self._recovered_at if self._recovered_at is not None else t_ms
        status = self.update(score, t_ms)
        if status is None:
            return None
        since = self._since if status == FIRING else recovered
        return Decision(index, status, int(t_ms), float(score), float(self.threshold),
                        int(since))

    def update_many(self, scores: np.ndarray, ts: np.ndarray) -> Decisions:
        """:meth:`update` over a batch; stretches below the threshold are skipped in numpy."""
        scores = np.asarray(scores, dtype=np.float64)
        firing = np.zeros(len(scores), dtype=bool)
        out: list[Decision] = []
        over = np.flatnonzero(scores >= self.threshold)
        i, n = 0, len(scores)
        while i < n:
            if self._state == _INACTIVE:
                k = np.searchsorted(over, i)
                if k == len(over):
                    break
                i = int(over[k])
            d = self.step(i, float(scores[i]), int(ts[i]))
            if d is not None:
                out.append(d)
            firing[i] = self._state == _FIRING
            i += 1
        return Decisions(scores, firing, out)


class FilteredDetector:
    """A detector and the filter that decides on its scores; anomalies are not learned.

    A point the filter classifies as anomalous (over the threshold, or over the recover
    level while firing) is not learned unless ``filter.learn_anomalies``: a long incident
    must not become the baseline it is measured against.
    """

    def __init__(self, detector: Detector, filter: AlertFilter) -> None:  # noqa: A002
        self.detector = detector
        self.filter = filter
        self._score = 0.0  # the last score (for decisions made by tick)

    def params(self) -> dict[str, Any]:
        return {"detector": {"name": self.detector.name, **self.detector.params()},
                "filter": self.filter.params()}

    def clone(self) -> "FilteredDetector":
        return FilteredDetector(self.detector.clone(), self.filter.clone())

    def __repr__(self) -> str:
        return f"FilteredDetector({self.detector!r}, {self.filter!r})"

    @property
    def firing(self) -> bool:
        return self.filter.firing

    def explain(self) -> dict[str, Any]:
        return {**self.detector.explain(), "firing": self.filter.firing,
                "threshold": self.filter.threshold}

    def score_one(self, x: float, t_ms: int) -> float:
        return self.detector.score_one(x, t_ms)

    def update(self, x: float, t_ms: int) -> str | None:
        """Score, decide, learn unless anomalous; return the transition (if any)."""
        d = self._step(0, x, t_ms)
        return None if d is None else d.status

    def _step(self, index: int, x: float, t_ms: int) -> Decision | None:
        score = self.detector.score_one(x, t_ms)
        anomalous = self.filter.classify(score)
        d = self.filter.step(index, score, t_ms)
        if self.filter.learn_anomalies or not anomalous:
            self.detector.learn_one(x, t_ms)
        self._score = score
        return d

    def tick(self, now_ms: int) -> str | None:
        return self.filter.tick(now_ms)

    def process_many(self, xs: np.ndarray, ts: np.ndarray) -> Decisions:
        """What a loop of :meth:`update` would decide, vectorised while nothing is anomalous.

        Optimistic: while the filter is inactive, a chunk goes through the detector's
        ``process_many``; at the first score over the threshold the detector is put back as
        it was, the clean prefix is replayed and the anomalous stretch goes point by point.
        """
        xs = np.asarray(xs, dtype=np.float64)
        ts = np.asarray(ts, dtype=np.int64)
        n = len(xs)
        if self.filter.learn_anomalies:  # everything is learned: no dependency on decisions
            return self.filter.update_many(self.detector.process_many(xs, ts), ts)
        scores = np.zeros(n, dtype=np.float64)
        firing = np.zeros(n, dtype=bool)
        out: list[Decision] = []
        i, chunk = 0, _CHUNK_MIN
        while i < n:
            if self.filter._state == _INACTIVE:
                end = min(i + chunk, n)
                saved = copy.deepcopy(self.detector)
                s = self.detector.process_many(xs[i:end], ts[i:end])
                over = np.flatnonzero(s >= self.filter.threshold)
                if over.size == 0:
                    scores[i:end] = s
                    i, chunk = end, min(2 * chunk, _CHUNK_MAX)
                    continue
                j, chunk = i + int(over[0]), _CHUNK_MIN
                _restore(self.detector, saved)
                if j > i:
                    self.detector.process_many(xs[i:j], ts[i:j])
                scores[i:j] = s[:j - i]
                i = j
            d = self._step(i, float(xs[i]), int(ts[i]))
            scores[i] = self._score
            firing[i] = self.filter.firing
            if d is not None:
                out.append(d)
            i += 1
        return Decisions(scores, firing, out)


def _restore(obj: Any, saved: Any) -> None:
    """Put ``saved``'s state back into ``obj`` in place (callers may hold ``obj``)."""
    state = vars(obj)
    state.clear()
    state.update(vars(saved))


def _group(entity_ids: Sequence[str] | np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """(distinct ids, batch positions of each in batch order), ordered by last appearance."""
    ids = np.asarray(entity_ids)
    uniq, inv = np.unique(ids, return_inverse=True)
    order = np.argsort(inv, kind="stable")
    ends = np.cumsum(np.bincount(inv, minlength=len(uniq)))
    groups = np.split(order, ends[:-1])
    by_recency = np.argsort(order[ends - 1], kind="stable")
    return uniq[by_recency], [groups[g] for g in by_recency]


class PerEntity:
    """One clone of ``prototype`` (a Detector or FilteredDetector) per entity id, bounded.

    At most ``max_entities`` are kept; the least recently seen is evicted (``evicted``
    counts them; an evicted entity starts untrained if it comes back, and one that was
    firing is reported resolved, index -1, so no alert hangs). Checkpoints are
    JSON-serialisable dicts holding each entity's pickled state: restore only checkpoints
    this process family wrote (unpickling runs code).
    """

    def __init__(self, prototype: Detector | FilteredDetector,
                 max_entities: int = 100_000) -> None:
        if max_entities < 1:
            raise ValueError("max_entities must be >= 1")
        self.prototype = prototype
        self.max_entities = max_entities
        self.evicted = 0
        self._models: OrderedDict[str, Any] = OrderedDict()
        self._firing: set[str] = set()  # entities whose filter fires (for tick)

    def __len__(self) -> int:
        return len(self._models)

    def __contains__(self, entity_id: object) -> bool:
        return entity_id in self._models

    def get(self, entity_id: str) -> Any:
        return self._models.get(entity_id)

    def _model(self, entity_id: str) -> Any:
        m = self._models.get(entity_id)
        if m is None:
            m = self._models[entity_id] = self.prototype.clone()
        else:
            self._models.move_to_end(entity_id)
        return m

    def process_many(self, entity_ids: Sequence[str] | np.ndarray, values: np.ndarray,
                     ts: np.ndarray) -> np.ndarray | Decisions:
        """Feed a batch (in event-time order per entity); scores, or Decisions for filters."""
        values = np.asarray(values, dtype=np.float64)
        ts = np.asarray(ts, dtype=np.int64)
        if not (len(entity_ids) == len(values) == len(ts)):
            raise ValueError("entity_ids, values and ts must have the same length")
        filtered = isinstance(self.prototype, FilteredDetector)
        scores = np.zeros(len(values), dtype=np.float64)
        firing = np.zeros(len(values), dtype=bool)
        out: list[Decision] = []
        if len(values):
            uniq, groups = _group(entity_ids)
            for eid, idx in zip(uniq.tolist(), groups):
                res = self._model(str(eid)).process_many(values[idx], ts[idx])
                if filtered:
                    scores[idx], firing[idx] = res.scores, res.firing
                    out.extend(replace(d, index=int(idx[d.index]), entity_id=str(eid))
                               for d in res.transitions)
                    if res.transitions:
                        self._track(str(eid))
                else:
                    scores[idx] = res
            out.extend(self._evict(int(ts.max())))
        if not filtered:
            return scores
        out.sort(key=lambda d: d.index)  # evictions (-1) first
        return Decisions(scores, firing, out)

    def _track(self, eid: str) -> None:
        if self._models[eid].firing:
            self._firing.add(eid)
        else:
            self._firing.discard(eid)

    def _evict(self, now_ms: int) -> list[Decision]:
        out = []
        while len(self._models) > self.max_entities:
            eid, m = self._models.popitem(last=False)
            self.evicted += 1
            if eid in self._firing:
                self._firing.discard(eid)
                out.append(Decision(-1, RESOLVED, now_ms, float(m._score),
                                    float(m.filter.threshold), now_ms, eid))
        return out

    @property
    def firing(self) -> frozenset[str]:
        """Entities whose alert is firing (filtered prototypes only)."""
        return frozenset(self._firing)

    def tick(self, now_ms: int) -> list[Decision]:
        """Resolutions due by ``now_ms`` without new data (filters with ``keep_firing_ms``).

        Their ``index`` is -1: no point of a batch decided them.
        """
        out = []
        for eid in sorted(self._firing):
            m = self._models[eid]
            since = m.filter.recovered_at
            if m.tick(now_ms) == RESOLVED:
                out.append(Decision(-1, RESOLVED, int(now_ms), float(m._score),
                                    float(m.filter.threshold), int(since), eid))
                self._firing.discard(eid)
        return out

    # -- checkpoints -----------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """JSON-serialisable state: each entity's pickled model, least recently seen first."""
        return {"format": 1, "evicted": self.evicted,
                "entities": [[eid, base64.b64encode(pickle.dumps(m, protocol=5)).decode()]
                             for eid, m in self._models.items()]}

    def restore(self, state: dict[str, Any]) -> None:
        if state.get("format") != 1:
            raise ValueError(f"unknown PerEntity snapshot format {state.get('format')!r}")
        self._models = OrderedDict((eid, pickle.loads(base64.b64decode(blob)))
                                   for eid, blob in state["entities"])
        self.evicted = int(state.get("evicted", 0))
        self._firing = {eid for eid, m in self._models.items()
                        if isinstance(m, FilteredDetector) and m.firing}
        while len(self._models) > self.max_entities:  # a smaller cap than the checkpoint's
            eid, _ = self._models.popitem(last=False)
            self._firing.discard(eid)
            self.evicted += 1
