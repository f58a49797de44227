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

from warehouse.sink import Backoff

log = logging.getLogger(__name__)

Columns = dict[str, list[Any]]
InsertFn = Callable[[str, Columns], Awaitable[None]]
CheckpointFn = Callable[[], Awaitable[None]]
# Starts one send and returns its delivery (``partial(topic.send, key=..., value=...)``):
# called again when the send or its delivery failed.
SendFn = Callable[[], Awaitable[Awaitable[Any]]]
SleepFn = Callable[[float], Awaitable[Any]]


async def send_now(start: SendFn) -> None:
    """Start a send and wait for its delivery (for sends no buffer waits for)."""
    await (await start())


@dataclass
class Send:
    again: SendFn
    delivery: Awaitable[Any] | None   # None: not started, or failed; start it again


@dataclass
class Pending:
    rows: dict[str, dict[str, list[Any]]] = field(default_factory=dict)
    sends: list[Send] = field(default_factory=list)
    events: list[Any] = field(default_factory=list)
    row_count: int = 0
    since: float = 0.0


def _add_rows(held: dict[str, dict[str, list[Any]]], table: str, columns: Columns) -> None:
    rows = held.get(table)
    if rows is None:
        held[table] = {c: list(v) for c, v in columns.items()}
    else:
        for c, values in columns.items():
            rows[c].extend(values)


class FlushBuffer:
    """Accumulates one agent's output; :meth:`flush` makes it durable then acks.

    A flush that fails (an insert, a send, its delivery, the checkpoint) acks nothing and
    is retried with capped exponential backoff until it succeeds, blocking the agent that
    awaits it: a message is never acked, so its offset never committed, before what it
    caused is durable. (Faust commits past an unacked offset once a later one is acked,
    so a failed batch must not be dropped while its successors go on.)"""

    def __init__(self, name: str, insert: InsertFn, *, max_rows: int, max_age_s: float,
                 checkpoint: CheckpointFn | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 backoff: Backoff = Backoff(), sleep: SleepFn = asyncio.sleep) -> None:
        self.name = name
        self._insert = insert
        self._checkpoint = checkpoint
        self.max_rows = max_rows
        self.max_age_s = max_age_s
        self._clock = clock
        self._backoff = backoff
        self._sleep = sleep
        self._pending = Pending()
        self._lock = asyncio.Lock()
        self.flushed_rows = 0
        self.flushes = 0
        self.failed_flushes = 0
        self.failed_sends = 0

    def add(self, table: str, columns: Columns) -> None:
        """Add a columnar batch (column -> values) for ``table``."""
        n = len(next(iter(columns.values()), ()))
        if not n:
            return
        _add_rows(self._pending.rows, table, columns)
        self._pending.row_count += n

    async def send(self, start: SendFn) -> None:
        """Start a send now (its record reaches the broker without waiting for the flush);
        the flush waits for its delivery. A send that fails to start is kept and started
        again by the flush, never dropped."""
        try:
            delivery: Awaitable[Any] | None = await start()
        except Exception as exc:  # noqa: BLE001 - retried by the flush, which logs it
            self.failed_sends += 1
            log.warning("%s: a send failed to start (%r); the flush retries it", self.name,
                        exc)
            delivery = None
        self._pending.sends.append(Send(start, delivery))

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
            rows, failures = batch.row_count, 0
            try:
                while True:
                    try:
                        await self._make_durable(batch)
                        break
                    except Exception as exc:  # noqa: BLE001 - retried, nothing acked
                        failures += 1
                        self.failed_flushes += 1
                        delay = self._backoff.delay(failures)
                        log.error("%s: flush of %d messages failed (attempt %d): %r; none "
                                  "acked, retrying in %.2f s", self.name, len(batch.events),
                                  failures, exc, delay)
                        await self._sleep(delay)
            except BaseException:   # cancelled (shutdown): keep the batch, unacked
                self._restore(batch)
                raise
            for event in batch.events:
                event.ack()
            self.flushed_rows += rows
            self.flushes += 1

    async def _make_durable(self, batch: Pending) -> None:
        """Rows, sends, checkpoint; what succeeded is taken out of ``batch``, so a retry
        repeats only what failed."""
        for table in list(batch.rows):
            await self._insert(table, batch.rows[table])
            del batch.rows[table]
        deliveries = []
        for s in batch.sends:
            if s.delivery is None:
                s.delivery = await s.again()
            deliveries.append(s.delivery)
        results = await asyncio.gather(*deliveries, return_exceptions=True)
        failed = [(s, r) for s, r in zip(batch.sends, results) if isinstance(r, BaseException)]
        for s, _ in failed:
            s.delivery = None
        batch.sends = [s for s, _ in failed]
        if failed:
            raise failed[0][1]
        if self._checkpoint is not None:
            await self._checkpoint()

    def _restore(self, batch: Pending) -> None:
        """Put an unfinished ``batch`` back in front of what was added since."""
        later = self._pending
        for table, columns in later.rows.items():
            _add_rows(batch.rows, table, columns)
        batch.sends.extend(later.sends)
        batch.events.extend(later.events)
        batch.row_count += later.row_count
        self._pending = batch
