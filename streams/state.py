"""Detector state checkpoints in Faust tables (one table per input stream).

Keys: ``limits:<partition>`` holds the limit detector of that source partition (written to
that changelog partition, so it moves with the partition; saved when it changed, before the
messages are acked); ``pdet:<name>:<partition>`` holds a per-partition detector (a sensor's
baseline: written to that partition too, every checkpoint interval); ``det:<name>`` holds an
event-level detector's snapshot (written to partition 0 of its owner stream's table).
Beside each, ``active:<key>`` holds the firing findings that state made (the stage's
:class:`~detectors.reassert.Reasserter`), written with it, so after a restore the detectors
re-assert exactly what their restored state says is firing.
Faust creates the changelog topics compacted (``cleanup.policy=compact``), so a changelog
keeps the newest checkpoint of each key, not every checkpoint ever written. A checkpoint
longer than a record may be is split into parts under ``<key>#<i>`` (:mod:`streams.chunks`).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import orjson

from detectors.findings import EventDetector
from streams import chunks
from streams.detection import DetectionStage, unit

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
        snap = self._get(f"limits:{partition}")
        if snap:
            self.stage.limit_detector(partition).restore(orjson.loads(snap))
            self._restore_active("limits", partition)
        for name, det in self.stage.partition_detectors(partition).items():
            if self._restore_one(det, f"pdet:{name}:{partition}"):
                self._restore_active(f"pdet:{name}", partition)
        if not self._detectors_restored:
            self._detectors_restored = True
            for det in self.owned:
                if self._restore_one(det, f"det:{det.name}"):
                    self._restore_active(f"det:{det.name}", None)

    def _restore_active(self, part: str, partition: int | None) -> None:
        """The firing findings of a restored unit: re-asserted at the next tick."""
        key = part if partition is None else f"{part}:{partition}"
        snap = self._get(f"active:{key}")
        if self.stage.active is None or not snap:
            return
        try:
            self.stage.active.restore(unit(self.stage.stream, part, partition),
                                      orjson.loads(snap))
        except Exception:  # an older or broken snapshot: its alerts expire instead
            log.exception("cannot restore the firing findings of %s", key)

    def _restore_one(self, det: EventDetector, key: str) -> bool:
        snap = self._get(key)
        if snap:
            try:
                det.restore(orjson.loads(snap))
                return True
            except Exception:  # a snapshot of an older version: start afresh
                log.exception("cannot restore %s; starting with empty state", key)
        return False

    def forget(self, partition: int) -> None:
        """A revoked partition: its state is re-read from the table if it comes back."""
        self._restored.discard(partition)
        if self.stage.active is not None:
            for part in ["limits"] + [f"pdet:{n}" for n in self.stage.partitioned.get(
                    partition, {})]:
                self.stage.active.forget(unit(self.stage.stream, part, partition))
        self.stage.limits.pop(partition, None)
        self.stage.partitioned.pop(partition, None)
        self.stage.dirty.discard(partition)

    async def checkpoint_limits(self) -> None:
        sent = []
        for partition in sorted(self.stage.dirty):
            sent.append(self._put(partition, f"limits:{partition}",
                                  self.stage.limit_detector(partition).snapshot()))
            sent += self._put_active("limits", partition)
        self.stage.dirty.clear()
        if sent:
            await asyncio.gather(*sent)

    async def checkpoint_detectors(self) -> None:
        sent = [self._put(0, f"det:{det.name}", det.snapshot()) for det in self.owned]
        sent += [self._put(partition, f"pdet:{name}:{partition}", det.snapshot())
                 for partition, dets in sorted(self.stage.partitioned.items())
                 for name, det in dets.items()]
        for det in self.owned:
            sent += self._put_active(f"det:{det.name}", None)
        for partition, dets in sorted(self.stage.partitioned.items()):
            for name in dets:
                sent += self._put_active(f"pdet:{name}", partition)
        if sent:
            await asyncio.gather(*sent)

    def _put_active(self, part: str, partition: int | None) -> list[Any]:
        if self.stage.active is None:
            return []
        key = part if partition is None else f"{part}:{partition}"
        return [self._put(partition or 0, f"active:{key}",
                          self.stage.active.snapshot(unit(self.stage.stream, part, partition)))]

    def _get(self, key: str) -> str | None:
        """A checkpoint as written (put together if it was split); None if missing or torn."""
        try:
            return chunks.join(self.table.data.get, key)
        except chunks.ChunkError:
            log.exception("checkpoint %s is incomplete; starting that state afresh", key)
            return None

    def _put(self, partition: int, key: str, state: Any) -> Any:
        """Write a checkpoint to ``partition`` of the changelog, split into records under the
        record limit (:mod:`streams.chunks`); the parts go before the manifest, in order."""
        value = orjson.dumps(state, option=orjson.OPT_NON_STR_KEYS).decode()
        sent = []
        for record_key, record in chunks.split(key, value):
            self.table.data[record_key] = record
            sent.append(self.table.send_changelog(partition, record_key, record))
        return sent[0] if len(sent) == 1 else asyncio.gather(*sent)
