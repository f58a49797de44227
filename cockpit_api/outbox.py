"""One client's bounded, coalescing outbox of encoded messages (no I/O).

Bounded by a count and by bytes (a message alone in an empty outbox is always taken: a
snapshot may be larger than the byte bound). :meth:`Outbox.put` answers False when a message
does not fit: the caller drops the client. A message of a :data:`~cockpit_api.protocol.COALESCED`
kind is folded into a pending one of the same key (see :mod:`cockpit_api.protocol`); the rest
keep their order. Encoded bodies are shared between clients (encoded once per audience);
:meth:`Outbox.take_nowait` adds the client's own ``prev`` when it hands a delta out.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from .protocol import COALESCED

Key = tuple[str, str]


@dataclass
class Entry:
    data: bytes                        # the encoded message (shared with other clients)
    seq: int | None = None             # a delta's seq (None: not a delta)
    start: int | None = None           # a snapshot's / resumed's seq: the chain restarts
    key: Key | None = None             # coalescing key
    msg: dict[str, Any] | None = None  # the message, to fold a newer one into


def key_of(msg: Mapping[str, Any]) -> Key | None:
    kind = msg.get("type")
    if kind not in COALESCED:
        return None
    return (str(kind), str(msg.get("layer", "")))


def newer(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """Whether item ``new`` supersedes ``old`` (the newest ``at_ms`` wins; a tie or an item
    without a time: the one that came later)."""
    a, b = old.get("at_ms"), new.get("at_ms")
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) \
            and not isinstance(a, bool) and not isinstance(b, bool):
        return b >= a
    return True


def fold(pending: dict[str, Any], msg: Mapping[str, Any]) -> dict[str, Any]:
    """``msg`` folded into ``pending`` (neither is changed: both may be shared)."""
    out = {**msg, "seq": pending.get("seq"), "through": msg.get("seq")}
    if out["seq"] is None:   # an unsequenced kind (stats)
        del out["seq"], out["through"]
    old, new = pending.get("items"), msg.get("items")
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        items = dict(old)
        for k, item in new.items():
            prior = items.get(k)
            if not (isinstance(prior, Mapping) and isinstance(item, Mapping)) \
                    or newer(prior, item):
                items[k] = item
        out["items"] = items
    return out


def with_prev(data: bytes, prev: int | None) -> bytes:
    """A delta's frame: its body with ``"prev"`` first (bodies are JSON objects)."""
    if prev is None or data[:1] != b"{":
        return data
    return b'{"prev":%d,' % prev + data[1:] if data != b"{}" else b'{"prev":%d}' % prev


class Outbox:
    """A client's queue; ``last``: the seq of the last delta (or chain start) handed out."""

    def __init__(self, max_count: int, max_bytes: int) -> None:
        if max_count < 2 or max_bytes < 1:
            raise ValueError("an outbox holds at least 2 messages and 1 byte")
        self.max_count, self.max_bytes = max_count, max_bytes
        self._q: deque[Entry] = deque()
        self._pending: dict[Key, Entry] = {}
        self.bytes = 0
        self.last: int | None = None
        self.coalesced = 0
        self._ready = asyncio.Event()

    def qsize(self) -> int:
        return len(self._q)

    def empty(self) -> bool:
        return not self._q

    def clear(self) -> None:
        self._q.clear()
        self._pending.clear()
        self.bytes = 0

    def put(self, data: bytes, msg: dict[str, Any] | None = None, *, seq: int | None = None,
            start: int | None = None) -> bool:
        """Queue (or fold) one message; False when it does not fit (nothing is changed)."""
        key = key_of(msg) if msg is not None else None
        pending = self._pending.get(key) if key is not None else None
        if pending is not None and pending.msg is not None and msg is not None:
            merged = fold(pending.msg, msg)
            body = orjson.dumps(merged)
            if self.bytes - len(pending.data) + len(body) > self.max_bytes:
                return False
            self.bytes += len(body) - len(pending.data)
            pending.data, pending.msg = body, merged
            self.coalesced += 1
            return True
        if self._q and (len(self._q) >= self.max_count
                        or self.bytes + len(data) > self.max_bytes):
            return False
        entry = Entry(data, seq, start, key, msg if key is not None else None)
        self._q.append(entry)
        self.bytes += len(data)
        if key is not None:
            self._pending[key] = entry
        self._ready.set()
        return True

    def _pop(self) -> Entry:
        if not self._q:
            raise asyncio.QueueEmpty
        entry = self._q.popleft()
        self.bytes -= len(entry.data)
        if entry.key is not None and self._pending.get(entry.key) is entry:
            del self._pending[entry.key]
        return entry

    def get_nowait(self) -> bytes:
        """The next message's shared body (as queued: without ``prev``)."""
        return self._frame(self._pop(), stamp=False)

    def take_nowait(self) -> bytes:
        """The next frame to send: a delta with this client's ``prev``."""
        return self._frame(self._pop(), stamp=True)

    async def take(self) -> bytes:
        while not self._q:
            self._ready.clear()
            await self._ready.wait()
        return self.take_nowait()

    def _frame(self, entry: Entry, stamp: bool) -> bytes:
        if entry.start is not None:
            self.last = entry.start
            return entry.data
        if entry.seq is None:
            return entry.data
        prev, self.last = self.last, entry.seq
        return with_prev(entry.data, prev) if stamp else entry.data
