"""Data quality: sensors that are stuck, silent, or sending bursts of impossible readings.

Event-level detectors (:class:`~detectors.findings.EventDetector`) with their own alert
kinds, so a dispatcher sends a technician rather than a fire engine:

* :class:`Flatline` — the same value (within ``epsilon``) for N readings or T ms
  (``sensor_stuck``);
* :class:`NoData` — an entity that reported before is silent for longer than k times its
  usual interval or a configured gap, decided in :meth:`NoData.tick` so it fires while the
  stream is quiet; resolves when data returns (``sensor_nodata``);
* :class:`OutOfRangeBurst` — many rejected (dead-lettered) readings from one entity within
  a window (``sensor_out_of_range_burst``).

Pure: no I/O, no clock. Memory is bounded: per-entity state is a few numbers, at most
``max_entities`` entities are kept (least recently seen evicted, counted in ``evicted``; an
evicted entity that was firing is reported resolved, so no alert is left hanging).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from typing import Any, Iterable, Sequence

from detectors.findings import FIRING, RESOLVED, EventDetector, Finding
from schemas.catalog import MEASUREMENTS

STUCK, NODATA, BURST = "sensor_stuck", "sensor_nodata", "sensor_out_of_range_burst"
FAMILY = "data_quality"
_TITLES = {  # kind -> (zh, en) with {what}
    STUCK: ("传感器数值卡滞：{what}", "Sensor stuck: {what}"),
    NODATA: ("传感器无数据：{what}", "Sensor not reporting: {what}"),
    BURST: ("传感器异常读数激增：{what}", "Burst of rejected readings: {what}"),
}
_RESOLVED = ("（已恢复）", " (resolved)")


def _what(entity_id: str, measure: str, lang: int) -> str:
    """The entity, and what it measures when known, in zh-CN (lang 0) or English (1)."""
    m = MEASUREMENTS.get(measure)
    name = (m.zh, m.en)[lang] if m else measure
    if not name:
        return entity_id
    return f"{entity_id}（{name}）" if lang == 0 else f"{entity_id} ({name})"


def _median(values: list[int]) -> float:
    """Median of a short list (pure Python: numpy's call overhead dominates at this size)."""
    s = sorted(values)
    mid = len(s) // 2
    return float(s[mid]) if len(s) % 2 else (s[mid - 1] + s[mid]) / 2


def _meta(event: dict[str, Any]) -> tuple[Any, ...]:
    """What a finding shows about the entity: (measure kind, unit, lat, lon, district)."""
    return (str(event.get("kind", "")), str(event.get("unit", "")), event.get("lat"),
            event.get("lon"), str(event.get("district", "")))


def _finding(kind: str, status: str, severity: str, entity_id: str, stream: str,
             event_ms: int, meta: Sequence[Any], value: float, threshold: float, unit: str,
             evidence: Iterable[str], explanation: dict[str, Any]) -> Finding:
    measure, _, lat, lon, district = meta
    zh, en = (t.format(what=_what(entity_id, measure, i)) for i, t in enumerate(_TITLES[kind]))
    if status == RESOLVED:
        zh, en = zh + _RESOLVED[0], en + _RESOLVED[1]
    return Finding(detector=FAMILY, kind=kind, entity_id=entity_id, status=status,
                   severity=severity, event_ms=int(event_ms), title_zh=zh, title_en=en,
                   stream=stream, value=float(value), threshold=float(threshold), unit=unit,
                   lat=lat, lon=lon, district=district,
                   evidence=tuple(e for e in evidence if e), explanation=explanation)


class _Bounded:
    """An LRU map of per-entity state with an eviction counter."""

    def __init__(self, max_entities: int) -> None:
        if max_entities < 1:
            raise ValueError("max_entities must be >= 1")
        self.max_entities = max_entities
        self.evicted = 0
        self.state: OrderedDict[str, list[Any]] = OrderedDict()

    def touch(self, key: str, new: Any) -> list[Any]:
        st = self.state.get(key)
        if st is None:
            st = self.state[key] = new()
        else:
            self.state.move_to_end(key)
        return st

    def overflow(self) -> list[tuple[str, list[Any]]]:
        out = []
        while len(self.state) > self.max_entities:
            out.append(self.state.popitem(last=False))
            self.evicted += 1
        return out


class Flatline(EventDetector):
    """A stuck sensor: ``min_readings`` readings (or ``min_ms`` of event time, if set) all
    within ``epsilon`` of the first. Values in ``exempt_values`` may legitimately stay put
    (0 %LEL of gas); ``kinds`` limits it to some measured kinds (None: all)."""

    def __init__(self, stream: str = "lifeline", field: str = "value",
                 types: tuple[str, ...] | None = None, kinds: tuple[str, ...] | None = None,
                 min_readings: int = 30, min_ms: int | None = None, epsilon: float = 1e-9,
                 exempt_values: tuple[float, ...] = (), severity: str = "minor",
                 max_entities: int = 100_000) -> None:
        if min_readings < 2 or (min_ms is not None and min_ms <= 0) or epsilon < 0:
            raise ValueError("need min_readings >= 2, min_ms > 0 (or None), epsilon >= 0")
        self.name = f"{STUCK}.{stream}.{field}"  # unique: it keys the checkpoint
        self.streams = (stream,)
        self.stream, self.field, self.types, self.kinds = stream, field, types, kinds
        self.min_readings, self.min_ms, self.epsilon = min_readings, min_ms, epsilon
        self.exempt_values, self.severity = tuple(exempt_values), severity
        self._m = _Bounded(max_entities)

    @property
    def evicted(self) -> int:
        return self._m.evicted

    # state: [anchor value, readings, first ms, last ms, firing, first id, last id, meta]
    def update(self, stream: str, events: list[dict[str, Any]],
               ts_ms: list[int]) -> list[Finding]:
        if stream != self.stream:
            return []
        out: list[Finding] = []
        for ev, t in zip(events, ts_ms):
            if self.types is not None and ev.get("type") not in self.types:
                continue
            if self.kinds is not None and ev.get("kind") not in self.kinds:
                continue
            x = ev.get(self.field)
            if not isinstance(x, (int, float)) or not math.isfinite(x):
                continue
            st = self._m.touch(str(ev["entity_id"]), lambda: [math.nan, 0, 0, 0, False,
                                                              "", "", ()])
            st[7] = _meta(ev)
            if st[1] and abs(x - st[0]) <= self.epsilon:
                st[1] += 1
                st[3] = max(st[3], t)
                st[6] = ev.get("event_id", "")
                if not st[4] and self._stuck(st) and \
                        not any(abs(st[0] - v) <= self.epsilon for v in self.exempt_values):
                    st[4] = True
                    out.append(self._report(str(ev["entity_id"]), FIRING, t, st))
                continue
            if st[4]:
                out.append(self._report(str(ev["entity_id"]), RESOLVED, t, st, x))
            st[:7] = [float(x), 1, t, t, False, ev.get("event_id", ""), ev.get("event_id", "")]
        for key, st in self._m.overflow():
            if st[4]:
                out.append(self._report(key, RESOLVED, st[3], st, reason="evicted"))
        return out

    def _stuck(self, st: list[Any]) -> bool:
        return st[1] >= self.min_readings or \
            (self.min_ms is not None and st[3] - st[2] >= self.min_ms)

    def _report(self, entity: str, status: str, t: int, st: list[Any],
                new_value: float | None = None, reason: str = "") -> Finding:
        expl = {"value": st[0], "baseline": st[0], "window_ms": st[3] - st[2],
                "readings": st[1], "min_readings": self.min_readings, "min_ms": self.min_ms,
                "epsilon": self.epsilon, "field": self.field}
        if new_value is not None:
            expl["new_value"] = new_value
        if reason:
            expl["reason"] = reason
        return _finding(STUCK, status, self.severity, entity, self.stream, t, st[7], st[0],
                        self.min_readings, st[7][1], (st[5], st[6]), expl)

    def snapshot(self) -> dict[str, Any]:
        return {"evicted": self._m.evicted,
                "entities": [[k, *st[:7], list(st[7])] for k, st in self._m.state.items()]}

    def restore(self, state: dict[str, Any]) -> None:
        self._m.evicted = int(state.get("evicted", 0))
        self._m.state = OrderedDict((k, [*rest[:7], tuple(rest[7])])
                                    for k, *rest in state.get("entities", []))
        self._m.overflow()


class NoData(EventDetector):
    """An entity silent for longer than it may be: ``interval_factor`` x the median of its
    last ``history`` intervals (once ``min_intervals`` are known), capped by ``max_gap_ms``
    (which alone applies before then). Decided by :meth:`tick`; data coming back resolves
    it. Entities silent for ``forget_ms`` are forgotten (resolved if firing): retired."""

    def __init__(self, streams: tuple[str, ...] = ("lifeline",),
                 types: tuple[str, ...] | None = None, interval_factor: float = 5.0,
                 max_gap_ms: int | None = None, min_intervals: int = 5, history: int = 15,
                 forget_ms: int = 7 * 86_400_000, severity: str = "major",
                 max_entities: int = 100_000) -> None:
        if interval_factor <= 1 or min_intervals < 1 or history < min_intervals:
            raise ValueError("need interval_factor > 1 and 1 <= min_intervals <= history")
        self.name = f"{NODATA}.{'+'.join(streams)}"  # unique: it keys the checkpoint
        self.streams, self.types = tuple(streams), types
        self.interval_factor, self.max_gap_ms = interval_factor, max_gap_ms
        self.min_intervals, self.history = min_intervals, history
        self.forget_ms, self.severity = forget_ms, severity
        self._m = _Bounded(max_entities)
        # After a restore: silence is measured from the first tick (the resume), not from
        # before the downtime, until the backlog the worker has yet to read is read.
        self._resume_due, self._resume_ms = False, -1

    @property
    def evicted(self) -> int:
        return self._m.evicted

    # state: [last ms, intervals (<= history, oldest first), allowed gap, firing, stream,
    #         last event id, meta]
    def update(self, stream: str, events: list[dict[str, Any]],
               ts_ms: list[int]) -> list[Finding]:
        if stream not in self.streams:
            return []
        out: list[Finding] = []
        for ev, t in zip(events, ts_ms):
            if self.types is not None and ev.get("type") not in self.types:
                continue
            key = str(ev["entity_id"])
            st = self._m.touch(key, lambda: [None, [], math.inf, False, stream, "", ()])
            last = st[0]
            if last is not None and t > last:
                st[1].append(t - last)
                del st[1][:-self.history]
                st[2] = self._allowed(st[1])
            if st[3]:
                st[3] = False
                out.append(self._report(key, RESOLVED, t, st, gap=t - last))
            st[0] = t if last is None else max(last, t)
            st[4], st[5], st[6] = stream, ev.get("event_id", ""), _meta(ev)
        for key, st in self._m.overflow():
            if st[3]:
                out.append(self._report(key, RESOLVED, st[0], st, reason="evicted"))
        return out

    def _allowed(self, intervals: list[int]) -> float:
        cap = math.inf if self.max_gap_ms is None else float(self.max_gap_ms)
        if len(intervals) < self.min_intervals:
            return cap
        return min(cap, self.interval_factor * _median(intervals))

    def tick(self, now_ms: int) -> list[Finding]:
        out: list[Finding] = []
        forget = []
        if self._resume_due:
            self._resume_due, self._resume_ms = False, now_ms
        for key, st in self._m.state.items():
            gap = now_ms - st[0]
            if gap > self.forget_ms:
                forget.append(key)
            elif not st[3] and gap > st[2] and now_ms - self._resume_ms > st[2]:
                st[3] = True
                out.append(self._report(key, FIRING, now_ms, st, gap=gap))
        for key in forget:
            st = self._m.state.pop(key)
            if st[3]:
                out.append(self._report(key, RESOLVED, now_ms, st, gap=now_ms - st[0],
                                        reason="forgotten"))
        return out

    def _report(self, entity: str, status: str, t: int, st: list[Any], gap: int = 0,
                reason: str = "") -> Finding:
        median = _median(st[1]) if st[1] else None
        expl = {"value": gap, "baseline": median, "window": len(st[1]),
                "allowed_ms": None if math.isinf(st[2]) else st[2], "last_seen_ms": st[0],
                "interval_factor": self.interval_factor, "max_gap_ms": self.max_gap_ms}
        if reason:
            expl["reason"] = reason
        threshold = 0.0 if math.isinf(st[2]) else st[2]
        return _finding(NODATA, status, self.severity, entity, st[4], t, st[6], gap,
                        threshold, "ms", (st[5],), expl)

    def snapshot(self) -> dict[str, Any]:
        return {"evicted": self._m.evicted,
                "entities": [[k, st[0], st[1], st[3], st[4], st[5], list(st[6])]
                             for k, st in self._m.state.items()]}

    def restore(self, state: dict[str, Any]) -> None:
        """State from a checkpoint. The worker was down meanwhile, and its input since then
        is not read yet: an entity is judged silent only once it has been silent for its
        allowed gap after the first tick from now on (it may have reported meanwhile)."""
        self._resume_due = True
        self._m.evicted = int(state.get("evicted", 0))
        self._m.state = OrderedDict(
            (k, [last, list(iv), self._allowed(iv), bool(f), s, eid, tuple(meta)])
            for k, last, iv, f, s, eid, meta in state.get("entities", []))
        self._m.overflow()


class OutOfRangeBurst(EventDetector):
    """``min_count`` rejected readings of one entity within ``window_ms``; resolves after a
    whole window without one. Feed :meth:`observe` with ``(entity_id, ts_ms)`` of readings
    the validator rejected, or :meth:`update` with dead letters that carry an
    ``entity_id`` (and a ``code`` among ``codes``, when they carry one)."""

    name = BURST

    def __init__(self, window_ms: int = 600_000, min_count: int = 10,
                 codes: tuple[str, ...] = ("out_of_range", "bad_unit", "wrong_type"),
                 streams: tuple[str, ...] = ("deadletter",), severity: str = "minor",
                 max_entities: int = 100_000) -> None:
        if window_ms <= 0 or min_count < 2:
            raise ValueError("need window_ms > 0 and min_count >= 2")
        self.window_ms, self.min_count, self.codes = window_ms, min_count, tuple(codes)
        self.streams, self.severity = tuple(streams), severity
        self._m = _Bounded(max_entities)

    @property
    def evicted(self) -> int:
        return self._m.evicted

    def update(self, stream: str, events: list[dict[str, Any]],
               ts_ms: list[int]) -> list[Finding]:
        if stream not in self.streams:
            return []
        return self.observe([(str(e["entity_id"]), t) for e, t in zip(events, ts_ms)
                             if e.get("entity_id") and e.get("code", "") in
                             (*self.codes, "")])

    # state: [recent times (<= min_count, sorted), firing, rejects since firing, first ms]
    def observe(self, rejects: Sequence[tuple[str, int]]) -> list[Finding]:
        out: list[Finding] = []
        for entity, t in rejects:
            st = self._m.touch(entity, lambda: [[], False, 0, 0])
            times = st[0]
            if st[1] and times and t - times[-1] > self.window_ms:
                out.append(self._report(entity, RESOLVED, times[-1] + self.window_ms, st))
                st[1] = False
            times.append(t)
            times.sort()
            del times[:-self.min_count]
            st[2] += 1
            if not st[1] and len(times) == self.min_count and \
                    times[-1] - times[0] <= self.window_ms:
                st[1], st[2], st[3] = True, self.min_count, times[0]
                out.append(self._report(entity, FIRING, t, st))
        for key, st in self._m.overflow():
            if st[1]:
                out.append(self._report(key, RESOLVED, st[0][-1], st, reason="evicted"))
        return out

    def tick(self, now_ms: int) -> list[Finding]:
        out: list[Finding] = []
        for entity, st in self._m.state.items():
            if st[1] and now_ms - st[0][-1] > self.window_ms:
                st[1] = False
                out.append(self._report(entity, RESOLVED, now_ms, st))
        return out

    def _report(self, entity: str, status: str, t: int, st: list[Any],
                reason: str = "") -> Finding:
        times = st[0]
        in_window = sum(1 for x in times if times[-1] - x <= self.window_ms)
        expl = {"value": in_window, "baseline": 0, "window_ms": self.window_ms,
                "count_in_window": in_window, "count_since_firing": st[2],
                "first_ms": st[3], "last_ms": times[-1], "min_count": self.min_count}
        if reason:
            expl["reason"] = reason
        return _finding(BURST, status, self.severity, entity, "", t, ("", "", None, None, ""),
                        in_window, self.min_count, "readings", (), expl)

    def snapshot(self) -> dict[str, Any]:
        return {"evicted": self._m.evicted,
                "entities": [[k, *st] for k, st in self._m.state.items()]}

    def restore(self, state: dict[str, Any]) -> None:
        self._m.evicted = int(state.get("evicted", 0))
        self._m.state = OrderedDict((k, [list(ts), bool(f), int(n), int(first)])
                                    for k, ts, f, n, first in state.get("entities", []))
        self._m.overflow()
