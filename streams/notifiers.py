"""Notification delivery (I/O): the cockpit channel and the signed webhook.

Every notification goes to the cockpit (a record on the ``notifications`` topic, which the
cockpit shows and the warehouse keeps) and, when ``CITYCC_WEBHOOK_URL`` is set, is POSTed
there, signed (``X-Citycc-Signature: t=...,v1=<HMAC-SHA256>``) and keyed
(``X-Citycc-Key``: the same notification always carries the same key, so a receiver can drop
a redelivery). A channel that succeeded is not tried again when another one fails; the
outbox (``alerting.notify.Outbox``) owns the retry schedule. An outage of a channel never
blocks the pipeline: delivery runs after the state is checkpointed, with a timeout per try.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Awaitable, Callable

import aiohttp

from alerting.notify import (OK, PERMANENT, RETRYABLE, Attempt, Dead, Notification, Outbox,
                             PermanentError, sign_webhook, webhook_payload)
from alerting.webhook import webhook_problem

log = logging.getLogger(__name__)
COCKPIT, WEBHOOK = "cockpit", "webhook"
Publish = Callable[[dict[str, Any]], Awaitable[None]]


def outcome_record(n: Notification, outcome: str, at_ms: int, attempts: int = 0,
                   reason: str = "", channel: str = "") -> dict[str, Any]:
    """A notification outcome on the ``notifications`` topic (and a warehouse row)."""
    return {"notification": n.to_dict(), "outcome": outcome, "channel": channel,
            "attempts": attempts, "reason": reason, "at_ms": at_ms}


class WebhookChannel:
    """HTTP POST with an HMAC signature. 2xx: delivered; 408/429/5xx or no answer:
    retryable (honouring Retry-After); any other status: permanent."""

    def __init__(self, url: str, secret: str, timeout_s: float = 5.0) -> None:
        problem = webhook_problem(url, secret) or ("" if url else "no webhook URL")
        if problem:   # at start, not at every send (load_settings says so first)
            raise ValueError(f"WebhookChannel: {problem}")
        self.url, self.secret, self.timeout_s = url, secret.encode(), timeout_s
        self._session: aiohttp.ClientSession | None = None

    async def send(self, n: Notification, now_ms: int) -> tuple[str, str, int | None]:
        """-> (outcome, reason, retry_after_ms)."""
        try:
            body = webhook_payload(n)
        except PermanentError as exc:   # (details that are not JSON: no retry can help)
            return PERMANENT, exc.reason, None
        headers = {"Content-Type": "application/json", "X-Citycc-Key": n.key,
                   "X-Citycc-Receiver": n.receiver,
                   "X-Citycc-Signature": sign_webhook(body, self.secret, now_ms // 1000)}
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout_s))
        try:
            async with self._session.post(self.url, data=body, headers=headers) as resp:
                if 200 <= resp.status < 300:
                    return OK, "", None
                reason = f"HTTP {resp.status}"
                if resp.status in (408, 429) or resp.status >= 500:
                    after = resp.headers.get("Retry-After", "")
                    return RETRYABLE, reason, int(float(after) * 1000) if \
                        after.replace(".", "", 1).isdigit() else None
                return PERMANENT, reason, None
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            return RETRYABLE, f"{type(exc).__name__}: {exc}"[:300], None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class Delivery:
    """Runs the outbox's due attempts over the channels; remembers which channels of a
    notification are done (checkpointed with the engine: :meth:`snapshot`)."""

    def __init__(self, outbox: Outbox, publish: Publish, webhook: WebhookChannel | None = None,
                 limit: int = 500) -> None:
        self.outbox, self.publish, self.webhook, self.limit = outbox, publish, webhook, limit
        self.done: dict[str, list[str]] = {}   # key -> channels that succeeded
        self.counters = {"delivered": 0, "retried": 0, "dead": 0, "failed": 0}
        self._dead: list[Dead] = []   # taken from the outbox, their record not yet published

    def channels(self) -> list[str]:
        return [COCKPIT] + ([WEBHOOK] if self.webhook is not None else [])

    async def run(self, now_ms: int) -> int:
        """One delivery round; returns how many notifications settled. Nothing a channel
        does escapes it: a notification whose delivery raised is the outbox's to retry (or
        kill, for a PermanentError), and the round goes on with the others."""
        settled = 0
        for attempt in self.outbox.due(now_ms, self.limit):
            try:
                settled += await self._one(attempt, now_ms)
            except Exception as exc:   # (a bug in a channel, the broker gone meanwhile)
                self.counters["failed"] += 1
                log.warning("delivery of %s raised %r; the outbox retries it",
                            attempt.key, exc)
                self.outbox.settle(attempt, exc, now_ms)
        self._dead += self.outbox.take_dead(now_ms)
        while self._dead:
            dead = self._dead[0]
            try:
                await self.publish(outcome_record(dead.notification, "dead", now_ms,
                                                  dead.attempts, dead.reason))
            except Exception as exc:   # kept for the next round: a dead letter is not lost
                log.warning("cannot publish the dead notification %s (%r); will retry",
                            dead.notification.key, exc)
                break
            self._dead.pop(0)
            self.counters["dead"] += 1
            self.done.pop(dead.notification.key, None)
        return settled

    async def _one(self, attempt: Attempt, now_ms: int) -> int:
        n, done = attempt.notification, self.done.setdefault(attempt.notification.key, [])
        if COCKPIT not in done:
            await self.publish(outcome_record(n, "sent", now_ms, attempt.number, "", COCKPIT))
            done.append(COCKPIT)
        if self.webhook is not None and WEBHOOK not in done:
            outcome, reason, after = await self.webhook.send(n, now_ms)
            if outcome != OK:
                self.outbox.result(attempt, outcome, now_ms, reason, after)
                if outcome == RETRYABLE:
                    self.counters["retried"] += 1
                    log.warning("webhook delivery of %s failed (%s); will retry", n.key, reason)
                return 0
            done.append(WEBHOOK)
        self.outbox.result(attempt, OK, now_ms)
        del self.done[n.key]
        self.counters["delivered"] += 1
        await self.publish(outcome_record(n, "delivered", now_ms, attempt.number, "",
                                          ",".join(self.channels())))
        return 1

    def snapshot(self) -> dict[str, Any]:
        return {"done": self.done}

    def restore(self, state: dict[str, Any]) -> None:
        self.done = {k: list(v) for k, v in state.get("done", {}).items()}


__all__ = ["COCKPIT", "WEBHOOK", "Delivery", "WebhookChannel", "outcome_record", "PERMANENT"]
