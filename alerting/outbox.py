"""The outbox: pending notifications, their retry schedule with backoff, and the dead ones.

The :class:`Outbox` is pure bookkeeping around a ``Notifier`` (Alertmanager's retry stage
without the sleeping): the caller asks what is ``due(now_ms)``, sends, and reports the
``result``. It never drops a notification — each ends delivered or dead with a reason —
and it sends a notification key once even if a restarted worker offers it again.
"""

from __future__ import annotations

import heapq
import itertools
from collections import OrderedDict
from dataclasses import asdict, dataclass
from typing import Any, Mapping

from alerting.lazy_heap import first_live
from alerting.notification import Notification, Notifier, PermanentError
from alerting.records import maker
from schemas.records import stable_id

OK, RETRYABLE, PERMANENT = "ok", "retryable", "permanent"


@dataclass(frozen=True)
class Attempt:
    """One try to send ``notification`` (``number`` counts from 1); report its result."""

    key: str
    number: int
    notification: Notification


@dataclass(frozen=True)
class Dead:
    notification: Notification
    reason: str
    attempts: int
    at_ms: int


@dataclass
class _Pending:
    notification: Notification
    first_ms: int
    next_ms: int
    attempts: int = 0
    in_flight: bool = False
    last_reason: str = ""


_new_pending = maker(_Pending)


class Outbox:
    """Pending notifications with their retry schedule (a heap: ``due`` never scans).

    Backoff is capped exponential, ``base_ms * 2**(n-1)`` up to ``cap_ms``, shortened by a
    jitter of up to ``jitter`` of itself. The jitter comes from a hash of (``seed``, key,
    attempt) rather than a stateful rng: it still spreads retries of different keys apart,
    and a restored outbox schedules exactly as the original would. An attempt without a
    result within ``attempt_timeout_ms`` counts as failed and is tried again. A notification
    dies after ``max_attempts`` tries or ``max_age_ms`` (None: never). Delivered and taken
    dead keys are remembered for ``remember_ms`` (at most ``max_remembered`` of them).
    """

    def __init__(self, *, base_ms: int = 1_000, cap_ms: int = 300_000, jitter: float = 0.5,
                 seed: int = 0, attempt_timeout_ms: int = 60_000, max_attempts: int | None = None,
                 max_age_ms: int | None = 24 * 3_600_000, remember_ms: int = 24 * 3_600_000,
                 max_remembered: int = 100_000) -> None:
        if not (0 < base_ms <= cap_ms and 0 <= jitter < 1 and attempt_timeout_ms > 0
                and remember_ms > 0 and max_remembered > 0 and (max_attempts or 1) > 0
                and (max_age_ms or 1) > 0):
            raise ValueError("Outbox: need 0 < base_ms <= cap_ms, 0 <= jitter < 1 and positive "
                             "timeouts, limits and windows")
        self.base_ms, self.cap_ms, self.jitter, self.seed = base_ms, cap_ms, jitter, seed
        self.attempt_timeout_ms, self.max_attempts, self.max_age_ms = \
            attempt_timeout_ms, max_attempts, max_age_ms
        self.remember_ms, self.max_remembered = remember_ms, max_remembered
        self._pending: dict[str, _Pending] = {}
        self._dead: dict[str, Dead] = {}
        self._done: OrderedDict[str, tuple[int, str]] = OrderedDict()  # key -> (ms, how)
        self._heap: list[tuple[int, int, str]] = []
        self._order = itertools.count()

    def backoff_ms(self, key: str, attempt: int) -> int:
        """The wait after failed attempt number ``attempt`` of ``key``."""
        full = min(self.cap_ms, self.base_ms * 2 ** min(attempt - 1, 62))
        u = int(stable_id("jitter", self.seed, key, attempt), 16) / 16 ** 20
        return max(1, int(full * (1 - self.jitter * u)))

    def offer(self, n: Notification, now_ms: int) -> bool:
        """Queue ``n`` unless its key is already pending, delivered or dead (False then)."""
        if self.status(n.key) is not None:
            return False
        self._pending[n.key] = _new_pending(n, now_ms, now_ms, 0, False, "")
        self._push(now_ms, n.key)
        return True

    def due(self, now_ms: int, limit: int | None = None) -> list[Attempt]:
        """Attempts to make now (oldest due first); each stays pending until its result."""
        out: list[Attempt] = []
        while self._heap and self._heap[0][0] <= now_ms and (limit is None or len(out) < limit):
            due, _, key = heapq.heappop(self._heap)
            p = self._pending.get(key)
            if p is None or p.next_ms != due:
                continue
            if p.in_flight and self._give_up(p, now_ms, "no result within attempt timeout"):
                continue
            p.attempts, p.in_flight = p.attempts + 1, True
            p.next_ms = now_ms + self.attempt_timeout_ms
            self._push(p.next_ms, key)
            out.append(Attempt(key, p.attempts, p.notification))
        return out

    def result(self, attempt: Attempt, outcome: str, now_ms: int, reason: str = "",
               retry_after_ms: int | None = None) -> bool:
        """Record how ``attempt`` went (OK, RETRYABLE or PERMANENT). False if the attempt is
        stale (a newer attempt of its key was made, or the key is settled): then ignored."""
        if outcome not in (OK, RETRYABLE, PERMANENT):
            raise ValueError(f"Outbox.result: outcome must be {OK!r}, {RETRYABLE!r} or "
                             f"{PERMANENT!r}, got {outcome!r}")
        p = self._pending.get(attempt.key)
        if p is None or p.attempts != attempt.number or not p.in_flight:
            return False
        if outcome == OK:
            del self._pending[attempt.key]
            self._remember(attempt.key, now_ms, "delivered")
        elif outcome == PERMANENT:
            self._kill(p, reason or "permanent failure", now_ms)
        elif not self._give_up(p, now_ms, reason or "retryable failure"):
            p.in_flight, p.last_reason = False, reason
            p.next_ms = now_ms + max(self.backoff_ms(attempt.key, p.attempts), retry_after_ms or 0)
            self._push(p.next_ms, attempt.key)
        return True

    def settle(self, attempt: Attempt, error: BaseException | None, now_ms: int) -> bool:
        """:meth:`result` from what ``Notifier.notify`` did: returned (None) or raised. An
        exception that is no NotifyError is retried: a bug in a notifier must not lose mail."""
        if error is None:
            return self.result(attempt, OK, now_ms)
        if isinstance(error, PermanentError):
            return self.result(attempt, PERMANENT, now_ms, error.reason)
        after = getattr(error, "retry_after_s", None)
        return self.result(attempt, RETRYABLE, now_ms, getattr(error, "reason", repr(error)),
                           None if after is None else int(after * 1000))

    def _give_up(self, p: _Pending, now_ms: int, reason: str) -> bool:
        too_many = self.max_attempts is not None and p.attempts >= self.max_attempts
        too_old = self.max_age_ms is not None and now_ms - p.first_ms >= self.max_age_ms
        if too_many or too_old:
            self._kill(p, f"gave up after {p.attempts} attempts "
                          f"({'limit' if too_many else 'too old'}): {reason}", now_ms)
        return too_many or too_old

    def _kill(self, p: _Pending, reason: str, now_ms: int) -> None:
        key = p.notification.key
        del self._pending[key]
        self._dead[key] = Dead(p.notification, reason, p.attempts, now_ms)

    def _remember(self, key: str, now_ms: int, how: str) -> None:
        self._done[key] = (now_ms, how)
        while self._done and (len(self._done) > self.max_remembered
                              or next(iter(self._done.values()))[0] < now_ms - self.remember_ms):
            self._done.popitem(last=False)

    def _push(self, due: int, key: str) -> None:
        heapq.heappush(self._heap, (due, next(self._order), key))

    def status(self, key: str) -> str | None:
        """"pending", "in_flight", "dead", "delivered" (the last two also once taken or
        remembered) or None: unknown, or forgotten after ``remember_ms``."""
        p = self._pending.get(key)
        if p is not None:
            return "in_flight" if p.in_flight else "pending"
        if key in self._dead:
            return "dead"
        done = self._done.get(key)
        return None if done is None else done[1]

    def dead(self) -> list[Dead]:
        return list(self._dead.values())

    def take_dead(self, now_ms: int) -> list[Dead]:
        """Hand the dead notifications over (to a dead-letter sink); their keys stay
        remembered so a re-offer is still refused."""
        out = list(self._dead.values())
        self._dead.clear()
        for d in out:
            self._remember(d.notification.key, now_ms, "dead")
        return out

    def __len__(self) -> int:
        return len(self._pending)

    def next_due_ms(self) -> int | None:
        """When :meth:`due` may next return something (for the caller's sleep)."""
        def live(entry: tuple[int, int, str]) -> bool:
            p = self._pending.get(entry[2])
            return p is not None and p.next_ms == entry[0]
        head = first_live(self._heap, live)
        return None if head is None else head[0]

    def snapshot(self) -> dict[str, Any]:
        """JSON-serialisable state. In-flight attempts come back as due at once on restore
        (their result is unknown: the receiver dedups on the key)."""
        return {"version": 1,
                "pending": [{**asdict(p), "notification": p.notification.to_dict()}
                            for p in self._pending.values()],
                "dead": [{**asdict(d), "notification": d.notification.to_dict()}
                         for d in self._dead.values()],
                "done": [[k, ms, how] for k, (ms, how) in self._done.items()]}

    def restore(self, state: Mapping[str, Any]) -> None:
        if not isinstance(state, Mapping) or state.get("version") != 1:
            raise ValueError("Outbox.restore: expected a version 1 snapshot")
        self._pending, self._heap, self._dead = {}, [], {}
        for d in state["pending"]:
            p = _Pending(**{**d, "notification": Notification.from_dict(d["notification"])})
            if p.in_flight:
                p.in_flight, p.next_ms = False, p.first_ms
            self._pending[p.notification.key] = p
            self._push(p.next_ms, p.notification.key)
        for d in state["dead"]:
            dead = Dead(**{**d, "notification": Notification.from_dict(d["notification"])})
            self._dead[dead.notification.key] = dead
        self._done = OrderedDict((k, (ms, how)) for k, ms, how in state["done"])


def drain(outbox: Outbox, notifier: Notifier, now_ms: int, limit: int | None = None) -> int:
    """Send what is due through a synchronous notifier; returns how many were delivered."""
    sent = 0
    for attempt in outbox.due(now_ms, limit):
        try:
            notifier.notify(attempt.notification)
        except Exception as exc:  # every failure is the outbox's to classify and keep
            outbox.settle(attempt, exc, now_ms)
        else:
            sent += outbox.settle(attempt, None, now_ms)
    return sent
