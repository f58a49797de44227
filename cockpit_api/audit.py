"""The cockpit's audit trail: every sign-in and every command, applied or refused, as a
record on the ``audit`` topic, which the worker sinks into ClickHouse (``command_audit``).

:meth:`AuditTrail.record` never waits: records queue (bounded) and a background task sends
them in batches through a lazily connected producer, retrying while the broker is away, so a
flood or a broker outage never stalls the event loop. A record carries a random
``audit_id``: a batch sent again after an unconfirmed send collapses in the table. Should
the queue overflow (the broker away for long under a flood), the oldest records are dropped,
counted, and the count itself is recorded (``audit_dropped``) once the broker takes records
again; the log says it at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import deque
from collections.abc import Callable
from typing import Any

import orjson

from .command_sink import CommandSender
from .errors import CommandsUnavailable
from .feed import BACKOFF_INITIAL_S, next_backoff

log = logging.getLogger(__name__)

MAX_PENDING = 20_000
BATCH = 500
MAX_TEXT = 2000
CLOSE_WAIT_S = 3.0


def audit_record(*, at_ms: int, user: str, role: str, agency: str = "",
                 districts: tuple[str, ...] | list[str] = (), action: str, target: str = "",
                 command_id: str = "", result: str, code: str = "", field: str = "",
                 reason: str = "", remote: str = "", session: str = "",
                 command: Any = None) -> dict[str, Any]:
    """One audit record (the ``command_audit`` row's fields but ``at``; ``source`` cockpit).
    ``result``: ``signed_in``, ``forwarded``, ``refused`` (``code`` says why) or
    ``unconfirmed`` (the broker did not confirm it: code ``unavailable``)."""
    text = command if isinstance(command, str) or command is None else \
        orjson.dumps(command).decode()
    return {"audit_id": uuid.uuid4().hex, "at_ms": at_ms, "source": "cockpit", "user": user,
            "role": role, "agency": agency, "districts": list(districts), "action": action,
            "target": target, "command_id": command_id, "result": result, "code": code,
            "field": field, "reason": reason[:MAX_TEXT], "remote": remote,
            "session": session, "command": (text or "")[:MAX_TEXT]}


class AuditTrail:
    """Queues records for ``sender`` (a producer on the ``audit`` topic); :meth:`run` sends
    them until cancelled, :meth:`close` sends what is left (bounded by a deadline)."""

    def __init__(self, sender: CommandSender, *, max_pending: int = MAX_PENDING,
                 clock: Callable[[], int] = lambda: time.time_ns() // 1_000_000) -> None:
        self.sender, self.max_pending, self.clock = sender, max_pending, clock
        self.sent = self.dropped = 0
        self._pending: deque[dict[str, Any]] = deque()
        self._wake = asyncio.Event()
        self._unreported = 0

    def record(self, rec: dict[str, Any]) -> None:
        if len(self._pending) >= self.max_pending:
            self._pending.popleft()
            self.dropped += 1
            self._unreported += 1
            if self._unreported == 1:
                log.error("audit queue full (%d records, the broker does not take them): "
                          "dropping the oldest", self.max_pending)
        self._pending.append(rec)
        self._wake.set()

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def run(self) -> None:
        delay = BACKOFF_INITIAL_S
        while True:
            if not self._pending:
                self._wake.clear()
                await self._wake.wait()
            try:
                await self._send_batch()
                delay = BACKOFF_INITIAL_S
            except CommandsUnavailable as exc:
                log.warning("audit: %s; %d records waiting, retrying in %.1fs", exc,
                            len(self._pending), delay)
                await asyncio.sleep(delay)
                delay = next_backoff(delay)

    async def close(self, wait_s: float = CLOSE_WAIT_S) -> None:
        """Send what is queued, for at most ``wait_s``; what is left is logged as lost."""
        with contextlib.suppress(TimeoutError, CommandsUnavailable):
            async with asyncio.timeout(wait_s):
                while self._pending:
                    await self._send_batch()
        if self._pending:
            log.error("audit: %d records not sent at shutdown", len(self._pending))

    async def _send_batch(self) -> None:
        if self._unreported:
            self._pending.appendleft(audit_record(
                at_ms=self.clock(), user="", role="", action="audit_dropped",
                result="refused", code="audit_overflow",
                reason=f"{self._unreported} audit records dropped: the queue was full"))
            self._unreported = 0
        batch = [self._pending.popleft() for _ in range(min(BATCH, len(self._pending)))]
        try:
            await asyncio.gather(*(self.sender.send(r["user"] or r["action"], orjson.dumps(r))
                                   for r in batch))
        except BaseException:
            # all or nothing: the whole batch goes again (same ids: the table collapses them)
            self._pending.extendleft(reversed(batch))
            raise
        self.sent += len(batch)
