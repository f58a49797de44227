"""The detection stage of one stream: lateness policy, limits, event-level detectors (pure).

Lateness policy (explicit, counted, never silent):
  * older than ``max_lateness`` (settings) -> rejected at validation, dead-lettered;
  * within the lateness window but more than ``out_of_order_ms`` behind the newest event of
    the same entity -> stored in ClickHouse like any event, *not* fed to the detectors
    (their state has moved on), counted as ``late_for_detection``;
  * less out of order than that -> sorted into event-time order within the batch.

With a :class:`~detectors.reassert.Reasserter` (``active``), every finding is also recorded
under the unit of detector state that made it (:func:`unit`), so firing ones can be
re-asserted on a schedule and checkpointed with that state (:mod:`streams.state`).
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Sequence

import numpy as np

from city.profile import CityProfile
from detectors.findings import EventDetector, Finding
from detectors.limits import LimitDetector, levels_from_profile
from detectors.plan import PartitionDetector
from detectors.reassert import Reasserter
from schemas.catalog import STREAMS
from schemas.records import Origin
from streams.alerting_bridge import limit_finding

Row = tuple[dict[str, Any], int, Origin]
MAX_WATERMARKS = 500_000
REJECTS = "deadletter"  # the pseudo-stream name under which detectors receive rejects  # entities tracked for the out-of-order rule (bounded memory)


def unit(stream: str, part: str, partition: int | None = None) -> str:
    """The name of a unit of detector state: ``lifeline/limits:3``,
    ``lifeline/pdet:sensor_deviation:3``; an event-level detector (one per worker, whichever
    stream it watches): ``det:<name>``."""
    if part.startswith("det:"):
        return part
    return f"{stream}/{part}" if partition is None else f"{stream}/{part}:{partition}"


class DetectionStage:
    def __init__(self, stream: str, profile: CityProfile,
                 event_detectors: Sequence[EventDetector] = (),
                 out_of_order_ms: int = 60_000,
                 partition_detectors: Sequence[PartitionDetector] = (),
                 active: Reasserter | None = None) -> None:
        self.stream = stream
        self.active = active
        self.measured = any(t.measured for t in STREAMS[stream].types.values())
        self._levels = levels_from_profile(profile.limits)
        # Limit state is per source partition: it moves with the partition on a rebalance
        # and is checkpointed per partition (see streams.app).
        self.limits: dict[int, LimitDetector] = {}
        self.dirty: set[int] = set()
        # Per-entity detectors, one set per source partition (like limits).
        self.partition_specs = [p for p in partition_detectors if stream in p.streams]
        self.partitioned: dict[int, dict[str, EventDetector]] = {}
        self.event_detectors = [d for d in event_detectors if stream in d.streams]
        # Detectors of rejected readings (e.g. out-of-range bursts) see this stream's rejects.
        self.reject_detectors = [d for d in event_detectors if REJECTS in d.streams]
        self.out_of_order_ms = out_of_order_ms
        self._watermark: dict[str, int] = {}
        self.counters: Counter[str] = Counter()

    def limit_detector(self, partition: int) -> LimitDetector:
        det = self.limits.get(partition)
        if det is None:
            det = self.limits[partition] = LimitDetector(self._levels)
        return det

    def partition_detectors(self, partition: int) -> dict[str, EventDetector]:
        dets = self.partitioned.get(partition)
        if dets is None:
            dets = self.partitioned[partition] = {p.name: p.build()
                                                  for p in self.partition_specs}
        return dets

    def tick(self, now_ms: int) -> list[Finding]:
        """Advance the per-partition detectors' clocks (the shared ones are ticked once
        by the caller, not per stream)."""
        out: list[Finding] = []
        for partition, dets in self.partitioned.items():
            for name, d in dets.items():
                out.extend(self._seen(f"pdet:{name}", partition, d.tick(now_ms), now_ms))
        return out

    def run(self, rows: list[Row], now_ms: int = 0) -> list[Finding]:
        """Detect over validated events (any order); return the findings (``now_ms``:
        when they are reported, for re-assertion)."""
        if not rows:
            return []
        fresh = self._in_order(rows)
        findings: list[Finding] = []
        if self.measured:
            findings.extend(self._limits(fresh, now_ms))
        if self.partition_specs:
            findings.extend(self._per_partition(fresh, now_ms))
        if self.event_detectors:
            events = [r[0] for r in fresh]
            ts = [r[1] for r in fresh]
            for det in self.event_detectors:
                findings.extend(self._seen(f"det:{det.name}", None,
                                           det.update(self.stream, events, ts), now_ms))
        self.counters["findings"] += len(findings)
        return findings

    def run_rejects(self, rejects: list[dict[str, Any]], now_ms: int) -> list[Finding]:
        """Feed rejected readings (entity_id, code, event_id) to the reject detectors."""
        findings: list[Finding] = []
        for det in self.reject_detectors:
            findings.extend(self._seen(f"det:{det.name}", None, det.update(
                REJECTS, rejects, [now_ms] * len(rejects)), now_ms))
        return findings

    def _seen(self, part: str, partition: int | None, findings: list[Finding],
              now_ms: int) -> list[Finding]:
        if findings and self.active is not None:
            self.active.observe(unit(self.stream, part, partition), findings, now_ms)
        return findings

    def _in_order(self, rows: list[Row]) -> list[Row]:
        ordered = sorted(rows, key=lambda r: r[1])  # stable: keeps per-entity order on ties
        wm, tol = self._watermark, self.out_of_order_ms
        if len(wm) > MAX_WATERMARKS:
            wm.clear()
            self.counters["watermarks_reset"] += 1
        fresh = []
        for r in ordered:
            entity, ts = r[0]["entity_id"], r[1]
            last = wm.get(entity)
            if last is not None and ts < last - tol:
                self.counters["late_for_detection"] += 1
                continue
            if last is None or ts > last:
                wm[entity] = ts
            fresh.append(r)
        return fresh

    def _per_partition(self, rows: list[Row], now_ms: int) -> list[Finding]:
        out: list[Finding] = []
        for partition, part in _by_partition(rows).items():
            events, ts = [r[0] for r in part], [r[1] for r in part]
            for name, det in self.partition_detectors(partition).items():
                out.extend(self._seen(f"pdet:{name}", partition,
                                      det.update(self.stream, events, ts), now_ms))
        return out

    def _limits(self, rows: list[Row], now_ms: int) -> list[Finding]:
        out = []
        for partition, part in _by_partition([r for r in rows if "kind" in r[0]]).items():
            transitions = self.limit_detector(partition).update(
                [r[0]["entity_id"] for r in part], [r[0]["kind"] for r in part],
                np.fromiter((r[0]["value"] for r in part), dtype=np.float64, count=len(part)))
            if transitions:
                self.dirty.add(partition)
            out.extend(self._seen("limits", partition, [
                limit_finding(t, part[t.index][0], part[t.index][1], self.stream)
                for t in transitions], now_ms))
        return out


def _by_partition(rows: list[Row]) -> dict[int, list[Row]]:
    """Rows by source partition, each keeping the given (event-time) order."""
    out: dict[int, list[Row]] = {}
    for r in rows:
        out.setdefault(r[2].partition, []).append(r)
    return out
