"""Fan-out to the websocket clients: sequence numbers, the ring of recent deltas, snapshots,
resumes and subscriptions (pure; the protocol is :mod:`cockpit_api.protocol`).

The websockets broadcast recipe: :meth:`Delivery.fan_out` numbers a message, keeps it in the
ring, cuts it to each client's audience (:mod:`cockpit_api.visibility`, encoded once per
distinct cut) and ``put``s it into every client's :class:`~cockpit_api.outbox.Outbox`
without waiting; a relay task per client (``client.py``) drains it. A client whose outbox
overflows is dropped: unsubscribed, its outbox emptied, ``close_reason`` set, ``dropped``
set; the server closes it (1013) and it resumes from its last ``seq``.

Everything here runs in one step of the event loop (no await): a snapshot and the
subscription that follows it, or a resume's replay, cannot interleave with a fan-out.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import secrets
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from .auth.roles import View
from .outbox import Outbox
from .protocol import ALL, UNSEQUENCED, Interest, Resume
from .visibility import EVERYONE, Audience, Visibility

log = logging.getLogger("cockpit_api.hub")

DEFAULT_QUEUE_SIZE = 256
DEFAULT_QUEUE_BYTES = 8 * 1024 * 1024
DEFAULT_RING_SIZE = 4096
DEFAULT_RING_BYTES = 16 * 1024 * 1024
OVERFLOW_REASON = "client too slow: send queue overflowed"


class Counters(Protocol):
    dropped_clients: int


@dataclass(eq=False)
class Subscription:
    """One client: its outbox, who it is (``role``) and what it asked for (``interest``);
    ``audience`` is the two together, what it is sent."""

    id: int
    queue: Outbox
    closed: bool = False
    close_reason: str = ""
    dropped: asyncio.Event = field(default_factory=asyncio.Event)
    role: Audience = EVERYONE
    interest: Interest = ALL
    audience: Audience = EVERYONE


def narrowed(role: Audience, interest: Interest) -> Audience:
    """The audience of a client of ``role`` subscribed to ``interest``."""
    view = role.view
    if interest.districts is not None:
        districts = interest.districts if view.districts is None \
            else view.districts & interest.districts
        view = View(view.agencies, frozenset(districts))
    return Audience(view, role.user, role.every_result, interest.layers)


@dataclass
class Ring:
    """The recent deltas, bounded by count and bytes; every seq after ``floor`` is held."""

    max_count: int = DEFAULT_RING_SIZE
    max_bytes: int = DEFAULT_RING_BYTES
    floor: int = 0
    bytes: int = 0
    _items: deque[tuple[int, dict[str, Any], int]] = field(default_factory=deque)

    def __post_init__(self) -> None:
        if self.max_count < 1 or self.max_bytes < 1:
            raise ValueError("the ring holds at least one delta and one byte")

    def __len__(self) -> int:
        return len(self._items)

    def add(self, seq: int, msg: dict[str, Any], size: int) -> None:
        self._items.append((seq, msg, size))
        self.bytes += size
        while len(self._items) > self.max_count or \
                (self.bytes > self.max_bytes and len(self._items) > 1):
            old, _, old_size = self._items.popleft()
            self.floor, self.bytes = old, self.bytes - old_size

    def after(self, seq: int) -> Iterator[tuple[int, dict[str, Any]]]:
        for s, msg, _ in self._items:
            if s > seq:
                yield s, msg


class Delivery:
    """The clients of one hub and what they are sent (see the module docstring).
    ``snapshot()`` and ``stats()`` build those messages; ``wants(view)`` tells the hub a
    client needs a view's figures (the KPI scopes)."""

    def __init__(self, visibility: Visibility, counters: Counters,
                 snapshot: Callable[[], dict[str, Any]], stats: Callable[[], dict[str, Any]],
                 wants: Callable[[View], None], *, queue_size: int = DEFAULT_QUEUE_SIZE,
                 queue_bytes: int = DEFAULT_QUEUE_BYTES, ring: Ring | None = None) -> None:
        if queue_size < 2 or queue_bytes < 1:
            raise ValueError("queue_size must be >= 2 and queue_bytes >= 1")
        self.visibility, self.counters = visibility, counters
        self._snapshot, self._stats, self._wants = snapshot, stats, wants
        self.queue_size, self.queue_bytes = queue_size, queue_bytes
        self.ring = ring if ring is not None else Ring()
        self.seq = 0
        self.epoch = secrets.token_hex(8)   # this hub's seqs mean nothing to another's
        self.subs: dict[int, Subscription] = {}
        self._ids = itertools.count()

    # --- the producer --------------------------------------------------------------------
    def fan_out(self, message: dict[str, Any]) -> None:
        """Number (unless :data:`UNSEQUENCED`), keep in the ring and send ``message``."""
        seq, whole = None, None
        if message.get("type") not in UNSEQUENCED:
            self.seq += 1
            seq = self.seq
            message = {**message, "seq": seq}
            whole = orjson.dumps(message)
            self.ring.add(seq, message, len(whole))
        for sub, out, data in self.visibility.encoded(message, list(self.subs.values()),
                                                      whole):
            self._put(sub, data, out, seq)

    # --- the clients ---------------------------------------------------------------------
    def subscribe(self, role: Audience = EVERYONE, interest: Interest = ALL,
                  resume: Resume | str | None = None) -> Subscription:
        """Register a client; its outbox already holds the snapshot (or, for a ``resume``
        the ring still covers, ``resumed`` and the deltas after it) and a stats message."""
        sub = Subscription(next(self._ids), Outbox(self.queue_size, self.queue_bytes),
                           role=role, interest=interest, audience=narrowed(role, interest))
        self._wants(sub.audience.view)
        why = self._resume(sub, resume) if resume is not None else ""
        if why is not None:
            self._put_snapshot(sub, why)
        self.subs[sub.id] = sub
        self.reply(sub, self._stats())
        return sub

    def resnapshot(self, sub: Subscription, interest: Interest | None = None) -> None:
        """Start the client over from a fresh snapshot (what was queued is superseded),
        after changing its subscription to ``interest`` if given."""
        if sub.closed:
            return
        if interest is not None:
            sub.interest, sub.audience = interest, narrowed(sub.role, interest)
            self._wants(sub.audience.view)
        sub.queue.clear()
        self._put_snapshot(sub, "")
        if interest is not None:
            self.reply(sub, interest.to_message())

    def unsubscribe(self, sub: Subscription) -> None:
        self.subs.pop(sub.id, None)
        sub.closed = True

    def reply(self, sub: Subscription, message: Mapping[str, Any]) -> None:
        """Queue a message for one client only (behind what it was already sent)."""
        if sub.closed:
            return
        msg = dict(message)
        if not sub.queue.put(orjson.dumps(msg), msg):
            self.drop(sub)

    def drop(self, sub: Subscription) -> None:
        self.subs.pop(sub.id, None)
        sub.queue.clear()
        sub.closed = True
        sub.close_reason = OVERFLOW_REASON
        sub.dropped.set()
        self.counters.dropped_clients += 1
        log.warning("dropped client %d: %s", sub.id, OVERFLOW_REASON)

    # --- internals -----------------------------------------------------------------------
    def _put(self, sub: Subscription, data: bytes, msg: dict[str, Any] | None,
             seq: int | None) -> None:
        if not sub.queue.put(data, msg, seq=seq):
            self.drop(sub)

    def _put_snapshot(self, sub: Subscription, why: str) -> None:
        snap = {**self.visibility.snapshot_for(self._snapshot(), sub.audience),
                "seq": self.seq, "epoch": self.epoch}
        if why:
            snap["why"] = why
        if not sub.queue.put(orjson.dumps(snap), start=self.seq):   # (only when not empty)
            self.drop(sub)

    def _resume(self, sub: Subscription, resume: Resume | str) -> str | None:
        """Queue the replay of the deltas after ``resume`` (None), or why it cannot be."""
        if isinstance(resume, str):
            return resume
        if resume.epoch != self.epoch:
            return "epoch"
        if resume.seq > self.seq:
            return "ahead"
        if resume.seq < self.ring.floor:
            return "gone"
        sub.queue.put(orjson.dumps({"type": "resumed", "from": resume.seq, "to": self.seq,
                                    "epoch": self.epoch}), start=resume.seq)
        for seq, msg in self.ring.after(resume.seq):
            out = self.visibility.message_for(msg, sub.audience)
            if out is not None and not sub.queue.put(orjson.dumps(out), out, seq=seq):
                sub.queue.clear()   # more than its outbox holds: a snapshot is smaller
                return "gone"
        return None
