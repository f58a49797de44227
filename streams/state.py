"""Detector state checkpoints in Faust tables (one table per input stream).

Keys: ``limits:<partition>`` holds the limit detector of that source partition (written to
that changelog partition, so it moves with the partition; saved when it changed, before the
messages are acked); ``pdet:<name>:<partition>`` holds a per-partition detector (a sensor's
baseline: written to that partition too, every checkpoint interval); ``det:<name>`` holds an
event-level detector's snapshot (written to partition 0 of its owner stream's table).
Faust creates the changelog topics compacted (``cleanup.policy=compact``), so a changelog
keeps the newest checkpoint of each key, not every checkpoint ever written.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import orjson

from detectors.findings import EventDetector
from streams.detection import DetectionStage

log = logging.getLogger(__name__)


class StateStore:
    def __init__(self, table: Any, stage: DetectionStage,
                 owned: list[EventDetector]) -> None:
        self.table = table
        self.stage = stage
        self.owned = owned  # event detectors whose state this stream's table keeps
        self._restored: set[int] = set()
        self._detectors_restored = False

    def restore(self, partition: int) -> None:
        """Load checkpointed state the first time a partition is seen (after recovery)."""
        if partition in self._restored:
            return
        self._restored.add(partition)
        snap = self.table.data.get(f"limits:{partition}")
        if snap:
            self.stage.limit_detector(partition).restore(orjson.loads(snap))
        for name, det in self.stage.partition_detectors(partition).items():
            self._restore_one(det, f"pdet:{name}:{partition}")
        if not self._detectors_restored:
            self._detectors_restored = True
            for det in self.owned:
                self._restore_one(det, f"det:{det.name}")

    def _restore_one(self, det: EventDetector, key: str) -> None:
        snap = self.table.data.get(key)
        if snap:
            try:
                det.restore(orjson.loads(snap))
            except Exception:  # a snapshot of an older version: start afresh
                log.exception("cannot restore %s; starting with empty state", key)

    def forget(self, partition: int) -> None:
        """A revoked partition: its state is re-read from the table if it comes back."""
        self._restored.discard(partition)
        self.stage.limits.pop(partition, None)
        self.stage.partitioned.pop(partition, None)
        self.stage.dirty.discard(partition)

    async def checkpoint_limits(self) -> None:
        sent = []
        for partition in sorted(self.stage.dirty):
            sent.append(self._put(partition, f"limits:{partition}",
                                  self.stage.limit_detector(partition).snapshot()))
        self.stage.dirty.clear()
        if sent:
            await asyncio.gather(*sent)

    async def checkpoint_detectors(self) -> None:
        sent = [self._put(0, f"det:{det.name}", det.snapshot()) for det in self.owned]
        sent += [self._put(partition, f"pdet:{name}:{partition}", det.snapshot())
                 for partition, dets in sorted(self.stage.partitioned.items())
                 for name, det in dets.items()]
        if sent:
            await asyncio.gather(*sent)

    def _put(self, partition: int, key: str, state: Any) -> Any:
        value = orjson.dumps(state, option=orjson.OPT_NON_STR_KEYS).decode()
        self.table.data[key] = value
        return self.table.send_changelog(partition, key, value)
