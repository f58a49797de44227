"""Multivariate anomaly detection for one asset class (traffic segments, hazmat tanks).

A univariate limit sees a slow road at rush hour and a slow road at 3 am the same way. This
module scores each reading *jointly*: speed, flow and occupancy together, against what this
segment does at this time of day. Pure: no I/O, no clock (``trained_at_ms`` and event times
are passed in); models pickle. :mod:`warehouse.history` reads the training rows.

Feature design (traffic; hazmat tanks are analogous)
----------------------------------------------------
1. Event features: ``speed_kmh``, ``flow_vph``, ``occupancy`` and the local time of day as
   ``sin``/``cos`` of the Asia/Shanghai hour (UTC+8; the offset is a parameter).
2. A log transform ``log(x + c)`` of the measures: incidents act multiplicatively (an
   accident scales speed down and occupancy up), and occupancy ~ flow / speed becomes linear.
3. A baseline per entity (median of the transformed measure over the training window) and
   per time-of-day bin (median of what is left, pooled over entities): road segments differ
   (a 45 km/h reading is normal on a collector and a jam on an expressway, at night), and
   demand follows the clock. The residual is divided by the robust spread (IQR / 1.349) of
   its bin, giving per-feature robust z-scores: the explanation of an alert.
4. An IsolationForest on ``[z_speed, z_flow, z_occupancy]`` catches joint departures
   (speed down *with* flow down and occupancy up, where normal congestion moves flow and
   occupancy together) that no single z-score shows clearly. The time of day enters as the
   key of the baselines, not as forest inputs: measured on the simulator, sin/cos inside
   the forest spend 2 of 5 random splits where nothing is anomalous, and night accidents
   were then missed (``time_in_forest=True`` restores them as inputs).
   ``max_samples=2048`` (not sklearn's 256) resolves the far tail that a 0.999 threshold
   needs.
5. Calibration: a raw IsolationForest score is mapped through the training score
   distribution's quantiles to ``[0, 1]``: 0.999 means "rarer than 99.9% of the training
   readings". The default threshold is ``1 - target_far`` (the target false-alarm rate per
   reading), and the IsolationForest's ``contamination`` is set to the same rate.

A segment unseen in training has no baseline: its readings score NaN (not scored) until the
next retrain. :class:`MultivariateAnomaly` turns scores into alert state changes with a
consecutive-readings filter; :class:`RetrainPolicy` says when to retrain.
"""

from __future__ import annotations

import inspect
import math
import pickle
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import sklearn
from sklearn.ensemble import IsolationForest
from sklearn.ensemble._iforest import _average_path_length

from .findings import FIRING, RESOLVED, EventDetector, Finding

MODEL_FORMAT = 1          # bump when the pickled layout changes
SHANGHAI_UTC_OFFSET_H = 8.0
TRAFFIC_SEGMENT, HAZMAT_TANK = "traffic_segment", "hazmat_tank"
TIME_FEATURES = ("tod_sin", "tod_cos")
_HOUR_MS = 3_600_000.0


@dataclass(frozen=True)
class AssetSpec:
    """The measures of an asset class, their units and transforms (``log(x + c)``, or
    linear where ``c`` is None: temperatures can be negative)."""

    asset_class: str
    measures: tuple[str, ...]
    units: tuple[str, ...]
    log_offsets: tuple[float | None, ...]
    zh: tuple[str, ...]
    en: tuple[str, ...]

    @property
    def feature_names(self) -> tuple[str, ...]:
        return self.measures + TIME_FEATURES


SPECS: Mapping[str, AssetSpec] = {
    TRAFFIC_SEGMENT: AssetSpec(TRAFFIC_SEGMENT, ("speed_kmh", "flow_vph", "occupancy"),
                               ("km/h", "veh/h", ""), (1.0, 10.0, 0.01),
                               ("车速", "流量", "占有率"), ("speed", "flow", "occupancy")),
    HAZMAT_TANK: AssetSpec(HAZMAT_TANK, ("tank_pressure", "tank_temperature", "tank_gas"),
                           ("kPa", "°C", "%LEL"), (1.0, None, 0.5),
                           ("罐体压力", "罐体温度", "可燃气体"),
                           ("tank pressure", "tank temperature", "tank-area gas")),
}


def time_of_day(ts_ms: np.ndarray, tz_offset_hours: float = SHANGHAI_UTC_OFFSET_H
                ) -> np.ndarray:
    """Local hour of the day in ``[0, 24)`` for epoch-ms times (a fixed UTC offset)."""
    t = np.asarray(ts_ms, dtype=np.float64)
    return (t / _HOUR_MS + tz_offset_hours) % 24.0


def event_features(values: np.ndarray, ts_ms: np.ndarray,
                   tz_offset_hours: float = SHANGHAI_UTC_OFFSET_H) -> np.ndarray:
    """Raw measures ``(n, m)`` + time of day -> ``(n, m + 2)``: the measures, sin, cos."""
    x = np.asarray(values, dtype=np.float64).reshape(len(ts_ms), -1)
    angle = time_of_day(ts_ms, tz_offset_hours) * (2 * math.pi / 24.0)
    return np.column_stack([x, np.sin(angle), np.cos(angle)])


def traffic_values(events: Sequence[Mapping[str, Any]]) -> np.ndarray:
    """Segment events -> ``(n, 3)`` float matrix of speed, flow, occupancy (NaN if absent)."""
    out = np.full((len(events), 3), np.nan)
    for i, e in enumerate(events):
        for j, name in enumerate(SPECS[TRAFFIC_SEGMENT].measures):
            v = e.get(name)
            if v is not None:
                out[i, j] = v
    return out


def _group_medians(values: np.ndarray, groups: np.ndarray, n_groups: int
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Per-group median of each column of ``values`` (NaN for empty groups) and counts."""
    counts = np.bincount(groups, minlength=n_groups)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    lo = starts + np.maximum(counts - 1, 0) // 2
    hi = starts + counts // 2
    out = np.full((n_groups, values.shape[1]), np.nan)
    has = counts > 0
    for j in range(values.shape[1]):
        ordered = values[np.lexsort((values[:, j], groups)), j]
        out[has, j] = 0.5 * (ordered[lo[has]] + ordered[hi[has]])
    return out, counts


def _robust_scale(values: np.ndarray, floor: np.ndarray) -> np.ndarray:
    q75, q25 = np.percentile(values, [75, 25], axis=0)
    return np.maximum((q75 - q25) / 1.349, floor)


class _FastForest:
    """A fitted IsolationForest's scores without ``score_samples``' per-call overhead.

    ``score_samples`` goes through joblib, config contexts and warning filters for every
    tree on every call (about 7 ms at 100 trees), which dominates the small batches of a
    stream. This walks each tree with its own Cython ``apply`` and adds the same per-leaf
    path lengths in the same order, so the scores are bitwise equal (a unit test checks).
    """

    def __init__(self, forest: IsolationForest) -> None:
        self.trees = [est.tree_ for est in forest.estimators_]
        subsample = forest._max_features != forest.n_features_in_
        self.features = [np.asarray(f, dtype=np.intp) if subsample else None
                         for f in forest.estimators_features_]
        self.values = [d + a - 1.0 for d, a in zip(forest._decision_path_lengths,
                                                   forest._average_path_length_per_tree)]
        self.denominator = len(self.trees) * float(
            _average_path_length([forest._max_samples])[0])

    def score_samples(self, x: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(x, dtype=np.float32)  # what sklearn's trees compare
        depths = np.zeros(len(x))
        for tree, features, value in zip(self.trees, self.features, self.values):
            sub = x if features is None else np.ascontiguousarray(x[:, features])
            depths += value[tree.apply(sub)]
        return -(2.0 ** (-depths / self.denominator))


class AssetModel:
    """An anomaly model for one asset class; see the module docstring for the design.

    Hyperparameters are the ``__init__`` arguments. :meth:`fit` learns the baselines, the
    IsolationForest and the calibration; :meth:`score` is vectorised; the training window
    (rows, time range, ``trained_at_ms``) is kept in :attr:`meta` for the alert explanation.
    """

    def __init__(self, asset_class: str = TRAFFIC_SEGMENT, *,
                 tz_offset_hours: float = SHANGHAI_UTC_OFFSET_H, target_far: float = 0.001,
                 n_estimators: int = 100, max_samples: int = 2048, per_entity: bool = True,
                 per_time: bool = True, time_bins: int = 48, time_in_forest: bool = False,
                 min_entity_rows: int = 5, min_bin_rows: int = 30,
                 random_state: int = 0) -> None:
        if asset_class not in SPECS:
            raise ValueError(f"unknown asset class {asset_class!r}; known: {sorted(SPECS)}")
        if not 0.0 < target_far < 0.5:
            raise ValueError(f"target_far must be in (0, 0.5), got {target_far}")
        self.asset_class = asset_class
        self.tz_offset_hours = float(tz_offset_hours)
        self.target_far = float(target_far)
        self.n_estimators = int(n_estimators)
        self.max_samples = int(max_samples)
        self.per_entity = bool(per_entity)
        self.per_time = bool(per_time)
        self.time_bins = int(time_bins)
        self.time_in_forest = bool(time_in_forest)
        self.min_entity_rows = int(min_entity_rows)
        self.min_bin_rows = int(min_bin_rows)
        self.random_state = int(random_state)
        self.spec = SPECS[asset_class]
        self.format = MODEL_FORMAT
        self.meta: dict[str, Any] = {}
        self._forest: IsolationForest | None = None
        self._fast: _FastForest | None = None

    # -- properties -----------------------------------------------------------------------
    @property
    def fitted(self) -> bool:
        return self._forest is not None

    @property
    def threshold(self) -> float:
        """The calibrated score above which a reading counts as anomalous."""
        return 1.0 - self.target_far

    @property
    def feature_names(self) -> tuple[str, ...]:
        return self.spec.feature_names

    @property
    def version(self) -> str:
        """``mv<format>:<asset class>:<trained_at_ms>:<rows>``; empty before :meth:`fit`."""
        if not self.meta:
            return ""
        return (f"mv{self.format}:{self.asset_class}:{self.meta['trained_at_ms']}:"
                f"{self.meta['n_rows']}")

    # -- transforms -----------------------------------------------------------------------
    def _transform(self, values: np.ndarray) -> np.ndarray:
        x = np.asarray(values, dtype=np.float64)
        out = np.empty_like(x)
        for j, c in enumerate(self.spec.log_offsets):
            out[:, j] = x[:, j] if c is None else np.log(np.maximum(x[:, j], 0.0) + c)
        return out

    def _inverse(self, t: np.ndarray) -> np.ndarray:
        out = np.empty_like(t)
        for j, c in enumerate(self.spec.log_offsets):
            out[..., j] = t[..., j] if c is None else np.exp(t[..., j]) - c
        return out

    def _time_bin(self, ts_ms: np.ndarray) -> np.ndarray:
        b = (time_of_day(ts_ms, self.tz_offset_hours) * (self.time_bins / 24.0)).astype(np.intp)
        return np.minimum(b, self.time_bins - 1)

    def _entity_rows(self, entity_ids: Iterable[Any] | None, n: int) -> np.ndarray:
        """Row of each entity in the baseline table; -1 for unknown (or unused)."""
        if not self.per_entity:
            return np.zeros(n, dtype=np.intp)
        if entity_ids is None:
            raise ValueError("this model has per-entity baselines: pass entity_ids")
        index = self._entity_index
        return np.fromiter((index.get(e, -1) for e in entity_ids), dtype=np.intp, count=n)

    def _standardise(self, values: np.ndarray, ts_ms: np.ndarray,
                     entity_ids: Iterable[Any] | None) -> tuple[np.ndarray, np.ndarray]:
        """Raw measures -> (robust z-scores ``(n, m)``, mask of rows that can be scored)."""
        x = np.asarray(values, dtype=np.float64)
        ts = np.asarray(ts_ms, dtype=np.int64)
        n = len(ts)
        x = x.reshape(n, len(self.spec.measures))
        rows = self._entity_rows(entity_ids, n)
        ok = (rows >= 0) & np.isfinite(x).all(axis=1)
        t = self._transform(np.where(np.isfinite(x), x, 0.0))
        b = self._time_bin(ts)
        z = (t - self._entity_med[np.maximum(rows, 0)] - self._bin_med[b]) / self._bin_scale[b]
        return z, ok

    def _forest_input(self, z: np.ndarray, ts_ms: np.ndarray) -> np.ndarray:
        return event_features(z, ts_ms, self.tz_offset_hours) if self.time_in_forest else z

    def _forest_raw(self, inputs: np.ndarray) -> np.ndarray:
        """Raw anomaly score of forest inputs: ``-score_samples`` (higher = rarer)."""
        assert self._forest is not None
        if self._fast is None:
            try:
                self._fast = _FastForest(self._forest)
            except AttributeError:  # another sklearn's internals: the slow public path
                return -self._forest.score_samples(inputs)
        return -self._fast.score_samples(inputs)

    # -- fit / score ----------------------------------------------------------------------
    def fit(self, values: np.ndarray, ts_ms: np.ndarray,
            entity_ids: Sequence[Any] | np.ndarray | None = None, *,
            trained_at_ms: int = 0) -> "AssetModel":
        """Learn from raw measures ``values`` ``(n, m)`` at ``ts_ms``; returns ``self``.

        Rows with a non-finite measure are dropped. ``entity_ids`` is required with
        ``per_entity`` (the default); entities with fewer than ``min_entity_rows`` rows get
        no baseline (their readings score NaN). The fitted state is assigned at the end, in
        one step; still, retrain a :meth:`clone` and swap it in rather than refit a model a
        detector is using.
        """
        m = len(self.spec.measures)
        x = np.asarray(values, dtype=np.float64).reshape(-1, m)
        ts = np.asarray(ts_ms, dtype=np.int64)
        if len(ts) != len(x):
            raise ValueError(f"{len(x)} rows of values but {len(ts)} times")
        keep = np.isfinite(x).all(axis=1)
        x, ts = x[keep], ts[keep]
        t = self._transform(x)
        # entity baselines
        if self.per_entity:
            if entity_ids is None:
                raise ValueError("per_entity=True needs entity_ids")
            ents = np.asarray(entity_ids, dtype=object)[keep].astype(str)
            names, inv = np.unique(ents, return_inverse=True)
            med, counts = _group_medians(t, inv, len(names))
            good = counts >= self.min_entity_rows
            entity_index = {str(e): i for i, e in enumerate(names[good])}
            entity_med = med[good]
            rows = np.where(good[inv], np.cumsum(good)[inv] - 1, -1)
            sel = rows >= 0
            ts, t, rows = ts[sel], t[sel], rows[sel]
            resid = t - entity_med[rows]
        else:
            entity_index, entity_med, resid = {}, np.zeros((1, m)), t
        n = len(ts)
        if n < max(50, 2 * self.min_bin_rows):
            raise ValueError(f"too few usable training rows: {n}")
        # time-of-day baselines and spreads (bins with too few rows use the global ones)
        floor = np.full(m, 1e-3)
        bins = self._time_bin(ts)
        bin_med = np.tile(np.median(resid, axis=0), (self.time_bins, 1))
        bin_scale = np.tile(_robust_scale(resid, floor), (self.time_bins, 1))
        if self.per_time:
            order = np.argsort(bins, kind="stable")
            counts = np.bincount(bins, minlength=self.time_bins)
            for b, part in enumerate(np.split(order, np.cumsum(counts)[:-1])):
                if len(part) >= self.min_bin_rows:
                    bin_med[b] = np.median(resid[part], axis=0)
                    bin_scale[b] = _robust_scale(resid[part], floor)
        # forest and calibration
        z = (resid - bin_med[bins]) / bin_scale[bins]
        forest = IsolationForest(n_estimators=self.n_estimators,
                                 max_samples=min(self.max_samples, n),
                                 contamination=self.target_far,
                                 random_state=self.random_state)
        inputs = self._forest_input(z, ts)
        forest.fit(inputs)
        try:
            fast: _FastForest | None = _FastForest(forest)
            raw = -fast.score_samples(inputs)
        except AttributeError:  # another sklearn's internals: the slow public path
            fast, raw = None, -forest.score_samples(inputs)
        levels = np.linspace(0.0, 1.0, min(10_001, n + 1))
        meta = {
            "format": self.format, "asset_class": self.asset_class, "n_rows": int(n),
            "start_ms": int(ts.min()), "end_ms": int(ts.max()),
            "trained_at_ms": int(trained_at_ms), "n_entities": len(entity_index),
            "target_far": self.target_far, "threshold": self.threshold,
            "sklearn": sklearn.__version__,
        }
        self.__dict__.update(
            _entity_index=entity_index, _entity_med=entity_med, _bin_med=bin_med,
            _bin_scale=bin_scale, _calib_levels=levels, _calib_raw=np.quantile(raw, levels),
            _forest=forest, _fast=fast, meta=meta)
        return self

    def raw_score(self, values: np.ndarray, ts_ms: np.ndarray,
                  entity_ids: Iterable[Any] | None = None) -> np.ndarray:
        """Uncalibrated IsolationForest score (higher = more anomalous); NaN: not scored."""
        if self._forest is None:
            raise ValueError("model not fitted")
        ts = np.asarray(ts_ms, dtype=np.int64)
        out = np.full(len(ts), np.nan)
        if len(ts) == 0:
            return out
        z, ok = self._standardise(values, ts, entity_ids)
        if ok.any():
            out[ok] = self._forest_raw(self._forest_input(z[ok], ts[ok]))
        return out

    def calibrate(self, raw: np.ndarray) -> np.ndarray:
        """Raw scores -> share of training readings that scored lower (NaN stays NaN)."""
        return np.interp(raw, self._calib_raw, self._calib_levels)

    def score(self, values: np.ndarray, ts_ms: np.ndarray,
              entity_ids: Iterable[Any] | None = None) -> np.ndarray:
        """Calibrated anomaly scores in ``[0, 1]`` (high = anomalous), NaN where a row
        cannot be scored (non-finite measure, or an entity without a baseline)."""
        return self.calibrate(self.raw_score(values, ts_ms, entity_ids))

    def explain(self, x: Sequence[float] | np.ndarray, ts_ms: int,
                entity_id: Any = None) -> dict[str, Any]:
        """Why one reading scored as it did: per-measure value, expected value (this entity
        at this time of day), robust z-score; ``top`` is the measure with the largest |z|.
        JSON-serialisable."""
        if self._forest is None:
            raise ValueError("model not fitted")
        ts = np.array([ts_ms], dtype=np.int64)
        vals = np.asarray(x, dtype=np.float64).reshape(1, -1)
        ents = None if not self.per_entity else [entity_id]
        z, ok = self._standardise(vals, ts, ents)
        rows = self._entity_rows(ents, 1)
        b = self._time_bin(ts)
        expected = self._inverse(self._entity_med[np.maximum(rows, 0)] + self._bin_med[b])[0]
        score = float(self.calibrate(self._forest_raw(self._forest_input(z, ts)))[0]) \
            if ok[0] else None
        hour = float(time_of_day(ts, self.tz_offset_hours)[0])
        features = {}
        for j, name in enumerate(self.spec.measures):
            features[name] = {"value": float(vals[0, j]),
                              "expected": round(float(expected[j]), 4) if ok[0] else None,
                              "z": round(float(z[0, j]), 3) if ok[0] else None,
                              "unit": self.spec.units[j]}
        top = max(features, key=lambda k: abs(features[k]["z"] or 0.0)) if ok[0] else None
        return {"score": score, "top": top, "features": features,
                "local_hour": round(hour, 2), "model": self.version}

    # -- serialisation --------------------------------------------------------------------
    def params(self) -> dict[str, Any]:
        """The hyperparameters: every ``__init__`` argument, read from the same attribute."""
        sig = inspect.signature(type(self).__init__)
        return {n: getattr(self, n) for n in sig.parameters if n != "self"}

    def clone(self, **overrides: Any) -> "AssetModel":
        """A fresh, unfitted model with the same (or overridden) hyperparameters."""
        return type(self)(**{**self.params(), **overrides})

    def to_bytes(self) -> bytes:
        """Pickled model (the :func:`load_model` input)."""
        return pickle.dumps(self, protocol=pickle.HIGHEST_PROTOCOL)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_fast": None}  # derived from the forest: rebuilt on use

    def __setstate__(self, state: dict[str, Any]) -> None:
        if state.get("format") != MODEL_FORMAT:
            raise ValueError(f"model format {state.get('format')!r} is not {MODEL_FORMAT}; "
                             "retrain")
        self.__dict__.update(state)

    def __repr__(self) -> str:
        return f"AssetModel({self.asset_class!r}, version={self.version!r})"


def load_model(blob: bytes) -> AssetModel:
    """Inverse of :meth:`AssetModel.to_bytes` (only load models you produced: pickle)."""
    model = pickle.loads(blob)
    if not isinstance(model, AssetModel):
        raise ValueError(f"not an AssetModel: {type(model).__name__}")
    return model


@dataclass(frozen=True)
class RetrainPolicy:
    """When to retrain: every ``interval_ms`` of event time, once ``min_rows`` are there.

    ``lookback_ms`` is the training window ending at ``now`` (:meth:`window`).
    """

    interval_ms: int = 24 * 3_600_000
    min_rows: int = 10_000
    lookback_ms: int = 7 * 24 * 3_600_000

    def due(self, now_ms: int, last_trained_ms: int | None, rows_available: int) -> bool:
        if rows_available < self.min_rows:
            return False
        return last_trained_ms is None or now_ms - last_trained_ms >= self.interval_ms

    def next_due_ms(self, last_trained_ms: int | None, now_ms: int) -> int:
        """Earliest time a retrain can be due (``now_ms`` if it never ran)."""
        return now_ms if last_trained_ms is None else last_trained_ms + self.interval_ms

    def window(self, now_ms: int) -> tuple[int, int]:
        """Half-open training window ``[now - lookback, now)``."""
        return now_ms - self.lookback_ms, now_ms


# -- event-level detectors --------------------------------------------------------------------

@dataclass(frozen=True)
class Rows:
    """Model rows built from a batch of events: one row per reading (traffic) or per
    complete set of tank readings (hazmat). ``anchor`` is the deciding event of each row and
    ``ids`` its event ids (the evidence)."""

    values: np.ndarray
    ts_ms: np.ndarray
    entity_ids: list[str]
    anchors: list[Mapping[str, Any]]
    ids: list[tuple[str, ...]]


def _rows(values: list[list[float]], ts: list[int], entities: list[str],
          anchors: list[Mapping[str, Any]], ids: list[tuple[str, ...]], m: int) -> Rows:
    arr = np.array(values, dtype=np.float64).reshape(len(ts), m)
    return Rows(arr, np.array(ts, dtype=np.int64), entities, anchors, ids)


class _Track:
    """Filter state of one entity: consecutive anomalous/normal rows and the episode."""

    __slots__ = ("run", "calm", "firing", "ids", "calm_ids", "peak", "since_ms")

    def __init__(self) -> None:
        self.run = self.calm = 0
        self.firing = False
        self.ids: list[str] = []        # evidence: the anomalous run (then the episode)
        self.calm_ids: list[str] = []   # evidence of the recovery
        self.peak = 0.0
        self.since_ms = 0

    def to_json(self) -> list[Any]:
        return [self.run, self.calm, self.firing, list(self.ids), list(self.calm_ids),
                self.peak, self.since_ms]

    @classmethod
    def from_json(cls, raw: Sequence[Any]) -> "_Track":
        t = cls()
        t.run, t.calm, t.firing = int(raw[0]), int(raw[1]), bool(raw[2])
        t.ids, t.calm_ids = [str(i) for i in raw[3]], [str(i) for i in raw[4]]
        t.peak, t.since_ms = float(raw[5]), int(raw[6])
        return t


class _MultivariateDetector(EventDetector):
    """Scores rows with the current :class:`AssetModel` and filters them per entity: an
    entity fires after ``fire_after`` consecutive rows above the threshold and resolves after
    ``resolve_after`` consecutive rows at or below it. Rows that cannot be scored (no model,
    unknown entity) change nothing. Subclasses build the rows from events."""

    asset_class = ""
    kind = ""
    _place_zh, _place_en = "", ""

    def __init__(self, model: AssetModel | None = None, *, threshold: float | None = None,
                 fire_after: int = 3, resolve_after: int = 3, severity: str = "minor",
                 evidence_limit: int = 20) -> None:
        if fire_after < 1 or resolve_after < 1:
            raise ValueError("fire_after and resolve_after must be at least 1")
        self.threshold = threshold
        self.fire_after, self.resolve_after = int(fire_after), int(resolve_after)
        self.severity = severity
        self.evidence_limit = int(evidence_limit)
        self.tracks: dict[str, _Track] = {}
        self.counters = {"rows": 0, "scored": 0, "anomalous": 0}
        self.model: AssetModel | None = None
        if model is not None:
            self.set_model(model)

    def set_model(self, model: AssetModel | None) -> None:
        """Swap the model (``None``: stop scoring). A batch in progress keeps the model it
        started with; the filter state (runs, firing entities) carries over."""
        if model is not None:
            if model.asset_class != self.asset_class:
                raise ValueError(f"{type(self).__name__} needs a {self.asset_class} model, "
                                 f"got {model.asset_class}")
            if not model.fitted:
                raise ValueError("model not fitted")
        self.model = model

    def threshold_for(self, model: AssetModel) -> float:
        return model.threshold if self.threshold is None else float(self.threshold)

    # -- the batch path -------------------------------------------------------------------
    def rows(self, stream: str, events: list[dict[str, Any]], ts_ms: list[int]) -> Rows:
        raise NotImplementedError  # pragma: no cover - abstract

    def update(self, stream: str, events: list[dict[str, Any]],
               ts_ms: list[int]) -> list[Finding]:
        if stream not in self.streams:
            return []
        model = self.model  # one model for the whole batch, even if swapped meanwhile
        rows = self.rows(stream, events, ts_ms)
        n = len(rows.ts_ms)
        self.counters["rows"] += n
        if model is None or n == 0:
            return []
        scores = model.score(rows.values, rows.ts_ms, rows.entity_ids)
        thr = self.threshold_for(model)
        scored = ~np.isnan(scores)
        hot = scored & (scores > thr)
        self.counters["scored"] += int(scored.sum())
        self.counters["anomalous"] += int(hot.sum())
        tracks = self.tracks
        watch = set(tracks)
        watch.update(rows.entity_ids[i] for i in np.flatnonzero(hot).tolist())
        out: list[Finding] = []
        for i in range(n):
            entity = rows.entity_ids[i]
            if entity not in watch or not scored[i]:
                continue
            track = tracks.get(entity)
            if track is None:
                track = tracks[entity] = _Track()
            s = float(scores[i])
            if hot[i]:
                track.calm, track.calm_ids = 0, []
                if not track.ids:
                    track.since_ms = int(rows.ts_ms[i])
                track.ids.extend(rows.ids[i])
                del track.ids[:-self.evidence_limit]
                track.peak = max(track.peak, s)
                track.run += 1
                if not track.firing and track.run >= self.fire_after:
                    track.firing = True
                    out.append(self._finding(model, thr, FIRING, rows, i, s, track))
            elif track.firing:
                track.calm += 1
                track.calm_ids.extend(rows.ids[i])
                del track.calm_ids[:-self.evidence_limit]
                if track.calm >= self.resolve_after:
                    out.append(self._finding(model, thr, RESOLVED, rows, i, s, track))
                    del tracks[entity]
            else:
                del tracks[entity]  # the run broke before it fired
        return out

    # -- findings -------------------------------------------------------------------------
    def _finding(self, model: AssetModel, thr: float, status: str, rows: Rows, i: int,
                 score: float, track: _Track) -> Finding:
        anchor, entity = rows.anchors[i], rows.entity_ids[i]
        ts = int(rows.ts_ms[i])
        meta = model.meta
        explanation: dict[str, Any] = {
            "model": model.version, "asset_class": model.asset_class,
            "trained_at_ms": meta["trained_at_ms"],
            "training_window": {"start_ms": meta["start_ms"], "end_ms": meta["end_ms"],
                                "n_rows": meta["n_rows"]},
            "score": round(score, 6), "threshold": thr, "peak_score": round(track.peak, 6),
            "since_ms": track.since_ms, "fire_after": self.fire_after,
            "resolve_after": self.resolve_after,
        }
        if status == FIRING:
            why = model.explain(rows.values[i], ts, entity if model.per_entity else None)
            explanation.update(top=why["top"], features=why["features"],
                               local_hour=why["local_hour"])
            title_zh, title_en = self._titles(entity, why)
            evidence = tuple(track.ids)
        else:
            title_zh = f"{self._place_zh}{entity}读数组合异常已恢复"
            title_en = f"Unusual {self._place_en} readings on {entity} resolved"
            evidence = tuple(track.calm_ids)
        lat, lon = anchor.get("lat"), anchor.get("lon")
        return Finding(
            detector=self.name, kind=self.kind, entity_id=entity, status=status,
            severity=self.severity, event_ms=ts, title_zh=title_zh, title_en=title_en,
            stream=self.streams[0], value=round(score, 6), threshold=thr, unit="",
            lat=None if lat is None else float(lat), lon=None if lon is None else float(lon),
            district=str(anchor.get("district") or ""), evidence=evidence,
            explanation=explanation)

    def _titles(self, entity: str, why: Mapping[str, Any]) -> tuple[str, str]:
        top = why.get("top")
        spec = SPECS[self.asset_class]
        if top is None:
            return (f"{self._place_zh}{entity}读数组合异常",
                    f"Unusual {self._place_en} readings on {entity}")
        j = spec.measures.index(top)
        high = (why["features"][top]["z"] or 0.0) > 0
        return (f"{self._place_zh}{entity}读数组合异常：{spec.zh[j]}异常{'偏高' if high else '偏低'}",
                f"Unusual {self._place_en} readings on {entity}: {spec.en[j]} unusually "
                f"{'high' if high else 'low'}")

    # -- checkpoint -----------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        return {"tracks": {e: t.to_json() for e, t in self.tracks.items()}}

    def restore(self, state: Any) -> None:
        self.tracks = {str(e): _Track.from_json(raw)
                       for e, raw in (state or {}).get("tracks", {}).items()}

    def firing(self) -> list[str]:
        """Entities currently firing."""
        return sorted(e for e, t in self.tracks.items() if t.firing)


class MultivariateAnomaly(_MultivariateDetector):
    """Traffic ``segment`` events -> ``traffic_multivariate_anomaly`` findings."""

    name = "traffic_multivariate"
    streams = ("traffic",)
    asset_class = TRAFFIC_SEGMENT
    kind = "traffic_multivariate_anomaly"
    _place_zh, _place_en = "路段", "traffic"

    def rows(self, stream: str, events: list[dict[str, Any]], ts_ms: list[int]) -> Rows:
        picked = [i for i, e in enumerate(events) if e.get("type") == "segment"]
        seg = [events[i] for i in picked]
        return Rows(traffic_values(seg), np.array([ts_ms[i] for i in picked], dtype=np.int64),
                    [str(e["entity_id"]) for e in seg], seg,
                    [(str(e["event_id"]),) for e in seg])


class TankMultivariateAnomaly(_MultivariateDetector):
    """Hazmat ``tank_reading`` events, the three kinds of one tank joined when they arrive
    within ``join_ms`` of each other -> ``hazmat_tank_multivariate_anomaly`` findings."""

    name = "hazmat_multivariate"
    streams = ("hazmat",)
    asset_class = HAZMAT_TANK
    kind = "hazmat_tank_multivariate_anomaly"
    _place_zh, _place_en = "罐体", "tank"

    def __init__(self, model: AssetModel | None = None, *, threshold: float | None = None,
                 fire_after: int = 2, resolve_after: int = 3, severity: str = "major",
                 evidence_limit: int = 30, join_ms: int = 5_000) -> None:
        super().__init__(model, threshold=threshold, fire_after=fire_after,
                         resolve_after=resolve_after, severity=severity,
                         evidence_limit=evidence_limit)
        self.join_ms = int(join_ms)
        # tank -> kind -> [ts_ms, value, event_id, event]
        self.pending: dict[str, dict[str, list[Any]]] = {}

    def rows(self, stream: str, events: list[dict[str, Any]], ts_ms: list[int]) -> Rows:
        measures = SPECS[HAZMAT_TANK].measures
        values: list[list[float]] = []
        ts_out: list[int] = []
        entities: list[str] = []
        anchors: list[Mapping[str, Any]] = []
        ids: list[tuple[str, ...]] = []
        for e, t in zip(events, ts_ms):
            kind = e.get("kind")
            if e.get("type") != "tank_reading" or kind not in measures:
                continue
            tank = str(e["entity_id"])
            got = self.pending.setdefault(tank, {})
            for k in [k for k, v in got.items() if abs(v[0] - t) > self.join_ms or k == kind]:
                del got[k]  # stale, or superseded by a newer reading of the same kind
            got[kind] = [int(t), float(e["value"]), str(e["event_id"]), e]
            if len(got) == len(measures):
                values.append([got[k][1] for k in measures])
                ts_out.append(max(v[0] for v in got.values()))
                entities.append(tank)
                anchors.append(e)
                ids.append(tuple(got[k][2] for k in measures))
                del self.pending[tank]
        return _rows(values, ts_out, entities, anchors, ids, len(measures))

    def snapshot(self) -> dict[str, Any]:
        state = super().snapshot()
        state["pending"] = {tank: {k: v[:3] + [dict(v[3])] for k, v in got.items()}
                            for tank, got in self.pending.items()}
        return state

    def restore(self, state: Any) -> None:
        super().restore(state)
        self.pending = {str(tank): {str(k): [int(v[0]), float(v[1]), str(v[2]), dict(v[3])]
                                    for k, v in got.items()}
                        for tank, got in (state or {}).get("pending", {}).items()}
