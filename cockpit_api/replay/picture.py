"""A replay's timeline folded into the cockpit hub, with seek (no I/O, no clock).

The records (:class:`replay.timeline.OutRecord`, sorted by ``at_ms``) go into the hub as the
live feed puts the topics' messages (:func:`cockpit_api.feed.apply_message`): a replay's
picture is built by the same code as the live one. ``deadletter`` and any topic the cockpit
does not follow are skipped (counted in :attr:`ReplayPicture.skipped`).

Seek: the picture at event time ``t`` is the hub fed every record with ``at_ms <= t``. To
get there in well under a second, the picture is captured
(:func:`~cockpit_api.replay.hub_state.capture`) every ``snapshot_every_ms`` of event time
(for a whole replay once at the start, :meth:`ReplayPicture.prepare`; for an exercise as it
goes), and a seek starts from the nearest capture before ``t`` (or from where it is, when
that is nearer) and folds the records after it, without sending them to the clients. Then
every client is sent a fresh snapshot of a new epoch (its seqs of before mean nothing now).
"""

from __future__ import annotations

import bisect
import secrets
from collections.abc import Iterable
from typing import Any

from replay.timeline import OutRecord

from ..delivery import Ring
from ..feed import Source, apply_message, sources_for
from ..hub import AlertHub
from .hub_state import HubState, capture, restore

SNAPSHOT_EVERY_MS = 5 * 60_000


class ReplayPicture:
    """``hub`` fed from ``records`` (see the module docstring). ``applied``: how many records
    the hub holds; ``at_ms``: the event time it shows."""

    def __init__(self, hub: AlertHub, records: Iterable[OutRecord], start_ms: int,
                 snapshot_every_ms: int = SNAPSHOT_EVERY_MS) -> None:
        if snapshot_every_ms <= 0:
            raise ValueError("snapshot_every_ms must be > 0")
        self.hub, self.start_ms, self.every_ms = hub, start_ms, snapshot_every_ms
        self.records: list[OutRecord] = []
        self._at: list[int] = []
        self.applied, self.at_ms, self.skipped = 0, start_ms, 0
        self.sources: dict[str, Source] = {s.topic: s for s in sources_for(hub)}
        self.snapshots: list[HubState] = [capture(hub, -1, 0)]   # the picture before any
        self._snap_at: list[int] = [-1]
        self.extend(records)

    # --- the timeline --------------------------------------------------------------------
    def extend(self, records: Iterable[OutRecord]) -> None:
        """Add records after those held (an exercise's, as its pipeline makes them). A record
        earlier than the last held is kept at the last's time: a timeline never goes back."""
        for rec in records:
            if self._at and rec.at_ms < self._at[-1]:
                rec = OutRecord(self._at[-1], rec.topic, rec.key, rec.value)
            self.records.append(rec)
            self._at.append(rec.at_ms)

    @property
    def end_ms(self) -> int:
        """The last record's event time (the start without any)."""
        return self._at[-1] if self._at else self.start_ms

    def next_at(self) -> int | None:
        """The event time of the next record not folded yet (None: all are)."""
        return self._at[self.applied] if self.applied < len(self._at) else None

    # --- folding -------------------------------------------------------------------------
    def step(self) -> OutRecord | None:
        """Fold the next record into the hub (its clients are sent what it changed)."""
        if self.applied >= len(self.records):
            return None
        rec = self.records[self.applied]
        self._keep_snapshot(rec.at_ms)
        self._fold(rec, self.applied)
        self.applied += 1
        self.at_ms = max(self.at_ms, rec.at_ms)
        return rec

    def prepare(self) -> int:
        """Capture the picture every ``snapshot_every_ms`` over the whole timeline, then go
        back to the start; before the clients come (it folds quietly). The captures made."""
        with _quiet(self.hub):
            while self.step() is not None:
                pass
            restore(self.hub, self.snapshots[0])
        self.applied, self.at_ms = 0, self.start_ms
        self.new_epoch()   # (the ring let go of what the folding put in it)
        return len(self.snapshots) - 1

    def seek(self, at_ms: int) -> None:
        """Rebuild the picture at ``at_ms`` (see the module docstring) and start every
        client over from a fresh snapshot of a new epoch."""
        target = bisect.bisect_right(self._at, at_ms)
        snap = self.snapshots[bisect.bisect_right(self._snap_at, at_ms) - 1]
        with _quiet(self.hub):
            if not (self.applied <= target and self.applied >= snap.applied):
                restore(self.hub, snap)
                self.applied = snap.applied
            while self.applied < target:
                self._fold(self.records[self.applied], self.applied)
                self.applied += 1
        self.at_ms = at_ms
        self.new_epoch()

    def new_epoch(self) -> None:
        """Every client starts over from a fresh snapshot; what it held means nothing now."""
        delivery = self.hub.delivery
        delivery.epoch = secrets.token_hex(8)
        delivery.ring = Ring(delivery.ring.max_count, delivery.ring.max_bytes,
                             floor=delivery.seq)
        for sub in list(delivery.subs.values()):
            self.hub.resnapshot(sub)

    def _fold(self, rec: OutRecord, index: int) -> None:
        source = self.sources.get(rec.topic)
        if source is None:          # deadletter, or a topic the cockpit does not follow
            self.skipped += 1
            return
        apply_message(self.hub, source, rec.value, f"replay {rec.topic}@{index}")

    def _keep_snapshot(self, next_at: int) -> None:
        """Before folding a record at ``next_at``: capture the picture at the last snapshot
        boundary before it, if it is past the last capture (the picture holds every record
        up to that boundary, and none after)."""
        if next_at <= self.start_ms:
            return
        boundary = self.start_ms + (next_at - 1 - self.start_ms) // self.every_ms * self.every_ms
        if boundary > self._snap_at[-1] and boundary >= self.at_ms and \
                boundary > self.start_ms:
            self.snapshots.append(capture(self.hub, boundary, self.applied))
            self._snap_at.append(boundary)


class _quiet:
    """Fold without sending: the hub's clients are set aside meanwhile (they are sent a
    fresh snapshot after, :meth:`ReplayPicture.new_epoch`)."""

    def __init__(self, hub: AlertHub) -> None:
        self.hub = hub
        self.subs: dict[int, Any] = {}

    def __enter__(self) -> None:
        self.subs, self.hub.delivery.subs = self.hub.delivery.subs, {}

    def __exit__(self, *exc: object) -> None:
        self.hub.delivery.subs = self.subs
