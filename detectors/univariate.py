"""A configured univariate detector per entity, for a few chosen measurement kinds.

:class:`UnivariateEntities` runs one ``FilteredDetector(<detector>, AlertFilter(...))`` per
entity (a :class:`~detectors.filters.PerEntity`) over the readings whose ``kind`` is in a
configured set, and reports the filter's decisions as ``<kind>_anomaly`` findings (minor):
firing when the filter fires, resolved when it recovers (or by :meth:`tick` after
``keep_firing_ms``, or when the entity is evicted). By default it is the general-purpose
detector (:mod:`detectors.general`) on river gauges only: few, slow, high-value sensors. At
~145 KB a general detector (full history), it is for hundreds of entities, not the city's
20,000 sensors (:mod:`detectors.deviation` is the one for those).

Configuration (a dict; every key optional, defaults in :data:`DEFAULTS`)::

    {"kinds": ["water_level"],                  # measurement kinds it watches
     "detector": {"name": "general", ...},      # any registered univariate detector
     "filter": {"threshold": 0.9, ...},         # AlertFilter arguments (the score's scale)
     "probation": 360,                          # readings learned before any decision
     "max_entities": 1000}

Probation: an untrained detector's calibration is not yet meaningful (the general detector
measures novelty against records that start from a single sample, so its first scored rows
score ~1). Each entity's first ``probation`` readings are learned whatever they score and
decide nothing: an alert needs a trained baseline. Without it the first record is never
learned when the filter does not learn anomalies, and the detector stays stuck firing.

Anomalies are not learned (the filter's default): a gauge that jumps and stays there fires
until it comes back. With ``"learn_anomalies": true`` the general detector reports onsets
instead (the new level becomes known); then use ``pending_points`` 1, because its ``rest``
scores the rows after a learned alarm 0.

Pure: no I/O, no clock; event time drives the filter. A batch goes through the entities in
one call and the result equals feeding the readings one at a time (a test checks it).
"""

from __future__ import annotations

import base64
import json
import math
import zlib
from dataclasses import dataclass, field, replace
from typing import Any, Mapping

import numpy as np

import detectors.general  # noqa: F401  (registers "general")
import detectors.robust  # noqa: F401  (registers rolling_median_mad, ewma, cusum)
import detectors.seasonal  # noqa: F401  (registers seasonal_baseline)
from detectors.base import Detector, from_config
from detectors.filters import AlertFilter, Decision, Decisions, FilteredDetector, PerEntity
from detectors.findings import FIRING, RESOLVED, EventDetector, Finding
from schemas.catalog import MEASUREMENTS, STREAMS

DEFAULTS: Mapping[str, Any] = {
    "kinds": ("water_level",),
    "detector": {"name": "general"},
    # Calibrated on the simulator's 12 river gauges (city-1x, 24 h from a cold start, no
    # incident on them): score >= 0.9 (a novelty 9x the gauge's recent record) on two
    # readings in a row gave 1 false alert in 23 h after probation (0.04/h city-wide; one
    # reading at 0.9: 1.5/h; at 0.8: 14/h), and caught 31 of 36 injected 10-minute rises of
    # 0.1 m (10 sd of the noise) and all of 0.2 m within a minute. A one-reading glitch is
    # not alerted. keep_firing_ms: a score flapping around the threshold stays one alert.
    "filter": {"threshold": 0.9, "pending_points": 2, "keep_firing_ms": 60_000},
    "probation": 360,        # one hour of a gauge reporting every 10 s
    "max_entities": 1000,
}
SNAPSHOT_FORMAT = 1


def _streams_of(kind: str) -> tuple[str, ...]:
    """The input streams whose measured events can carry ``kind``."""
    return tuple(s.name for s in STREAMS.values() for t in s.types.values() if t.measured
                 and any(f.name == "kind" and kind in (f.choices or ()) for f in t.fields))


@dataclass(frozen=True)
class UnivariateConfig:
    """The validated configuration (see the module doc); ``name`` follows the detector."""

    kinds: tuple[str, ...]
    detector: Mapping[str, Any]
    filter: Mapping[str, Any] = field(default_factory=dict)
    probation: int = 0
    max_entities: int = 1000

    @classmethod
    def from_dict(cls, config: Mapping[str, Any] | None = None) -> "UnivariateConfig":
        cfg = dict(config or {})
        unknown = set(cfg) - set(DEFAULTS)
        if unknown:
            raise ValueError(f"unknown univariate config keys {sorted(unknown)}; "
                             f"known: {sorted(DEFAULTS)}")
        cfg = {**DEFAULTS, **cfg}
        kinds = tuple(cfg["kinds"])
        bad = [k for k in kinds if k not in MEASUREMENTS]
        if bad or not kinds:
            raise ValueError(f"kinds: unknown measurement kinds {bad} (or none given)")
        out = cls(kinds, dict(cfg["detector"]), dict(cfg["filter"]), int(cfg["probation"]),
                  int(cfg["max_entities"]))
        if out.probation < 0 or out.max_entities < 1:
            raise ValueError("need probation >= 0 and max_entities >= 1")
        out.prototype()  # fail here, not at the first reading, on a bad detector or filter
        return out

    @property
    def name(self) -> str:
        return f"univariate_{self.detector.get('name', '')}"

    @property
    def streams(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(s for k in self.kinds for s in _streams_of(k)))

    def prototype(self) -> "EntityDetector":
        return EntityDetector(from_config(self.detector), AlertFilter(**self.filter),
                              self.probation)

    def as_dict(self) -> dict[str, Any]:
        return {"kinds": list(self.kinds), "detector": dict(self.detector),
                "filter": dict(self.filter), "probation": self.probation,
                "max_entities": self.max_entities}


class EntityDetector(FilteredDetector):
    """A FilteredDetector that learns its first ``probation`` points without deciding, and
    keeps what its detector explained at each decision (read by :class:`UnivariateEntities`
    with :meth:`take_explanations`)."""

    def __init__(self, detector: Detector, filter: AlertFilter,  # noqa: A002
                 probation: int = 0) -> None:
        super().__init__(detector, filter)
        self.probation = probation
        self.seen = 0                                # points learned in probation
        self._explained: list[dict[str, Any]] = []  # one per decision of the last batch

    def params(self) -> dict[str, Any]:
        return {**super().params(), "probation": self.probation}

    def clone(self) -> "EntityDetector":
        return EntityDetector(self.detector.clone(), self.filter.clone(), self.probation)

    def update(self, x: float, t_ms: int) -> str | None:
        d = self.process_many(np.array([x], dtype=np.float64), np.array([t_ms]))
        return d.transitions[0].status if d.transitions else None

    def _step(self, index: int, x: float, t_ms: int) -> Decision | None:
        # FilteredDetector decides point by point here (its vectorised path stops at the
        # first score over the threshold), so this is where the deciding point is explained.
        d = super()._step(index, x, t_ms)
        if d is not None:
            self._explained.append(self.detector.explain())
        return d

    def process_many(self, xs: np.ndarray, ts: np.ndarray) -> Decisions:
        xs = np.asarray(xs, dtype=np.float64)
        ts = np.asarray(ts, dtype=np.int64)
        self._explained = []
        k = min(len(xs), self.probation - self.seen) if self.seen < self.probation else 0
        head = self.detector.process_many(xs[:k], ts[:k]) if k else np.zeros(0)
        self.seen += k
        if self.filter.learn_anomalies:
            # FilteredDetector decides these from a whole batch of scores, so the detector
            # could not explain each decision: go point by point (the reference loop).
            n = len(xs) - k
            scores, firing, out = np.zeros(n), np.zeros(n, dtype=bool), []
            for i in range(n):
                d = self._step(i, float(xs[k + i]), int(ts[k + i]))
                scores[i], firing[i] = self._score, self.filter.firing
                if d is not None:
                    out.append(d)
            rest = Decisions(scores, firing, out)
        else:
            rest = super().process_many(xs[k:], ts[k:])
        return Decisions(np.concatenate([head, rest.scores]),
                         np.concatenate([np.zeros(k, dtype=bool), rest.firing]),
                         [replace(d, index=d.index + k) for d in rest.transitions])

    def take_explanations(self) -> list[dict[str, Any]]:
        """What the detector explained at each decision of the last batch, in order."""
        out, self._explained = self._explained, []
        return out


def _plain(v: Any) -> Any:
    """A JSON-friendly number (numpy scalars to float, non-finite to None)."""
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, float, np.integer, np.floating)):
        f = float(v)
        return round(f, 6) if math.isfinite(f) else None
    return v


def _jsonish(v: Any) -> Any:
    """``v`` as it reads back from JSON (tuples become lists), for comparing configs."""
    if isinstance(v, Mapping):
        return {str(k): _jsonish(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonish(x) for x in v]
    return v


class UnivariateEntities(EventDetector):
    """One configured univariate detector and filter per entity; see the module doc."""

    name = "univariate_general"   # the default's; an instance is named after its detector
    streams = ("lifeline",)

    def __init__(self, config: UnivariateConfig | Mapping[str, Any] | None = None) -> None:
        cfg = config if isinstance(config, UnivariateConfig) else \
            UnivariateConfig.from_dict(config)
        self.config = cfg
        self.name, self.streams = cfg.name, cfg.streams
        self.kinds = frozenset(cfg.kinds)
        self.entities = PerEntity(cfg.prototype(), cfg.max_entities)
        # firing entity -> its kind, place and the event that fired it (for the resolution)
        self.meta: dict[str, dict[str, Any]] = {}
        self.counters: dict[str, int] = {"bad_events": 0, "evicted": 0}

    def update(self, stream: str, events: list[dict[str, Any]],
               ts_ms: list[int]) -> list[Finding]:
        if stream not in self.streams or not events:
            return []
        ids, xs, ts, keep = [], [], [], []
        for i, (e, t) in enumerate(zip(events, ts_ms)):
            if e.get("kind") not in self.kinds:
                continue
            v, eid = e.get("value"), e.get("entity_id")
            if isinstance(v, bool) or not isinstance(v, (int, float)) or \
                    not math.isfinite(v) or not isinstance(eid, str) or not eid:
                self.counters["bad_events"] += 1
                continue
            ids.append(eid)
            xs.append(float(v))
            ts.append(int(t))
            keep.append(i)
        if not ids:
            return []
        res = self.entities.process_many(ids, np.array(xs), np.array(ts, dtype=np.int64))
        self.counters["evicted"] = self.entities.evicted
        explained: dict[str, Any] = {}
        out = []
        for d in res.transitions:
            if d.index < 0:   # evicted while firing
                out.append(self._closed(d, "evicted: not seen recently"))
                continue
            if d.entity_id not in explained:  # each model's decisions, in order
                m = self.entities.get(d.entity_id)
                explained[d.entity_id] = iter(m.take_explanations() if m is not None else ())
            out.append(self._finding(d, events[keep[d.index]], xs[d.index],
                                     next(explained[d.entity_id], {})))
        return out

    def tick(self, now_ms: int) -> list[Finding]:
        return [self._closed(d, "recovered: no relapse within the keep-firing time")
                for d in self.entities.tick(now_ms)]

    # -- findings ---------------------------------------------------------------------------
    def _finding(self, d: Decision, event: dict[str, Any], x: float,
                 explained: Mapping[str, Any]) -> Finding:
        kind = event["kind"]
        where = {"lat": event.get("lat"), "lon": event.get("lon"),
                 "district": event.get("district", "")}
        if d.status == FIRING:
            self.meta[d.entity_id] = {"kind": kind, **where,
                                      "event_id": event.get("event_id", "")}
        else:
            self.meta.pop(d.entity_id, None)
        expl = {"rule": "the entity's own univariate detector",
                "detector": self.config.detector.get("name"), "score": _plain(d.score),
                "threshold": d.threshold, "since_ms": d.since_ms,
                **{k: _plain(v) for k, v in explained.items()}}
        return self._make(d, kind, where, (event.get("event_id", ""),), x, expl)

    def _closed(self, d: Decision, reason: str) -> Finding:
        """A resolution no reading decided (keep-firing time passed, or evicted)."""
        meta = self.meta.pop(d.entity_id, {})
        kind = meta.get("kind", self.config.kinds[0])
        where = {k: meta.get(k) for k in ("lat", "lon")}
        where["district"] = meta.get("district", "")
        evidence = (meta["event_id"],) if meta.get("event_id") else ()
        expl = {"rule": "the entity's own univariate detector", "resolved_by": reason,
                "detector": self.config.detector.get("name"), "score": _plain(d.score),
                "threshold": d.threshold, "since_ms": d.since_ms}
        return self._make(d, kind, where, evidence, float("nan"), expl)

    def _make(self, d: Decision, kind: str, where: dict[str, Any], evidence: tuple[str, ...],
              x: float, expl: dict[str, Any]) -> Finding:
        m = MEASUREMENTS[kind]
        zh, en = f"{m.zh}读数异常", f"{m.en}: reading unlike this sensor's recent past"
        if d.status == RESOLVED:
            zh, en = zh + "（已恢复）", en + " (resolved)"
        return Finding(self.name, f"{kind}_anomaly", d.entity_id, d.status, "minor", d.t_ms,
                       zh, en, stream=_streams_of(kind)[0],
                       value=x if math.isfinite(x) else 0.0, threshold=d.threshold,
                       unit=m.unit, lat=where["lat"], lon=where["lon"],
                       district=where["district"], evidence=evidence, explanation=expl)

    # -- checkpoints ------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """JSON-serialisable; the models are pickled (see :meth:`PerEntity.snapshot`) and
        compressed: a general detector's 98 KB of base64 is ~30 KB once its history is full
        (less before), and every entity is written at each checkpoint interval."""
        packed = zlib.compress(json.dumps(self.entities.snapshot()).encode(), 6)
        return {"format": SNAPSHOT_FORMAT, "config": _jsonish(self.config.as_dict()),
                "entities_zlib": base64.b64encode(packed).decode(), "meta": self.meta,
                "counters": dict(self.counters)}

    def restore(self, state: Any) -> None:
        """Inverse of :meth:`snapshot`, all or nothing. Unpickling runs code: restore only
        checkpoints this deployment wrote (its own state table), never input data."""
        if not state:
            return
        if state.get("format") != SNAPSHOT_FORMAT:
            raise ValueError(f"unknown {self.name} snapshot format {state.get('format')!r}")
        if state.get("config") != _jsonish(self.config.as_dict()):
            raise ValueError(f"{self.name} snapshot was taken with another configuration "
                             f"({state.get('config')!r}); not restored")
        models = json.loads(zlib.decompress(base64.b64decode(state["entities_zlib"])))
        entities = PerEntity(self.entities.prototype, self.entities.max_entities)
        entities.restore(models)
        wrong = [eid for eid, _ in models.get("entities", ())
                 if eid in entities and not isinstance(entities.get(eid), EntityDetector)]
        if wrong:
            raise ValueError(f"{self.name} snapshot holds foreign models for {wrong[:3]}")
        self.entities = entities
        firing = entities.firing
        self.meta = {eid: dict(m) for eid, m in state.get("meta", {}).items() if eid in firing}
        self.counters = {**self.counters, **{k: int(v) for k, v in
                                             state.get("counters", {}).items()}}
        self.counters["evicted"] = entities.evicted
