"""Batched, at-least-once hand-off from agents to ClickHouse and Kafka.

Agents add the rows and outgoing messages of a processed batch together with the Faust
events they came from. A flush (by size or age) writes the rows, waits until the outgoing
messages are acknowledged by the broker, checkpoints state, and only then acks the source
events, so their offsets are committed only after everything they caused is durable.
A crash before that replays the batch; ClickHouse (ReplacingMergeTree + FINAL) and the
deterministic alert/dead-letter ids make the replay idempotent.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

log = logging.getLogger(__name__)

Columns = dict[str, list[Any]]
InsertFn = Callable[[str, Columns], Awaitable[None]]
CheckpointFn = Callable[[], Awaitable[None]]


@dataclass
class Pending:
    rows: dict[str, dict[str, list[Any]]] = field(default_factory=dict)
    sends: list[Awaitable[Any]] = field(default_factory=list)
    events: list[Any] = field(default_factory=list)
    row_count: int = 0
    since: float = 0.0


class FlushBuffer:
    """Accumulates one agent's output; :meth:`flush` makes it durable then acks."""

    def __init__(self, name: str, insert: InsertFn, *, max_rows: int, max_age_s: float,
                 checkpoint: CheckpointFn | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        self._insert = insert
        self._checkpoint = checkpoint
        self.max_rows = max_rows
        self.max_age_s = max_age_s
        self._clock = clock
        self._pending = Pending()
        self._lock = asyncio.Lock()
        self.flushed_rows = 0
        self.flushes = 0

    def add(self, table: str, columns: Columns) -> None:
        """Add a columnar batch (column -> values) for ``table``."""
        n = len(next(iter(columns.values()), ()))
        if not n:
            return
        held = self._pending.rows.get(table)
        if held is None:
            self._pending.rows[table] = {c: list(v) for c, v in columns.items()}
        else:
            for c, values in columns.items():
                held[c].extend(values)
        self._pending.row_count += n

    def add_send(self, fut: Awaitable[Any]) -> None:
        self._pending.sends.append(fut)

    def add_events(self, events: list[Any]) -> None:
        if events and not self._pending.events:
            self._pending.since = self._clock()
        self._pending.events.extend(events)

    @property
    def pending(self) -> bool:
        """Source events wait for a flush."""
        return bool(self._pending.events)

    def due(self) -> bool:
        p = self._pending
        return bool(p.events) and (p.row_count >= self.max_rows
                                   or self._clock() - p.since >= self.max_age_s)

    async def flush_if_due(self) -> None:
        if self.due():
            await self.flush()

    async def flush(self) -> None:
        async with self._lock:
            batch, self._pending = self._pending, Pending()
            if not batch.events:
                return
            for table, rows in batch.rows.items():
                await self._insert(table, rows)
            if batch.sends:
                await asyncio.gather(*batch.sends)
            if self._checkpoint is not None:
                await self._checkpoint()
            for event in batch.events:
                event.ack()
            self.flushed_rows += batch.row_count
            self.flushes += 1
