"""What a replay produces, as data (pure): :class:`OutRecord`, one record the live worker
would have published, stamped with the event-time watermark that made it, and the digest
of a run (the determinism fingerprint: the same window replayed twice gives the same one).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Iterable

import orjson

from streams.outputs import Published


@dataclass(frozen=True, slots=True)
class OutRecord:
    """``at_ms``: the event-time watermark when it was produced; ``topic``: its registry
    name (:data:`schemas.topics.TOPICS`): ``alerts``, ``alert_events``, ``incident_events``,
    ``notifications``, ``silence_events``, ``command_results``, ``dispatch``,
    ``signal_requests``, ``deadletter``; ``key``/``value``: exactly the bytes the live
    worker publishes on that topic; ``headers``: its Kafka headers (a dead letter's code and
    origin; empty for every other topic)."""

    at_ms: int
    topic: str
    key: bytes
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = ()

    def to_json(self) -> bytes:
        """One JSONL line (without its newline): the value inline when it is JSON."""
        try:
            value: object = orjson.loads(self.value)
        except orjson.JSONDecodeError:
            value = {"raw": self.value.decode("utf-8", "replace")}
        return orjson.dumps({"at_ms": self.at_ms, "topic": self.topic,
                             "key": self.key.decode("utf-8", "replace"), "value": value,
                             **({"headers": {k: v.decode("utf-8", "replace")
                                             for k, v in self.headers}}
                                if self.headers else {})})


def stamped(at_ms: int, published: Iterable[Published]) -> list[OutRecord]:
    """The worker's records (:mod:`streams.outputs`) stamped with the watermark."""
    return [OutRecord(at_ms, topic, key, value, headers)
            for topic, key, value, headers in published]


class Digest:
    """sha256 over every record in order (watermark, topic, key, value, headers): two runs
    with the same digest produced the same records, ids included, in the same order."""

    def __init__(self) -> None:
        self._h = hashlib.sha256()
        self.count = 0

    def update(self, records: Iterable[OutRecord]) -> None:
        h = self._h
        for r in records:
            h.update(b"%d\0%s\0" % (r.at_ms, r.topic.encode()))
            h.update(len(r.key).to_bytes(4, "big") + r.key)
            h.update(len(r.value).to_bytes(8, "big") + r.value)
            for k, v in r.headers:
                h.update(k.encode() + b"\0" + len(v).to_bytes(4, "big") + v)
            h.update(b"\n")
            self.count += 1

    def hexdigest(self) -> str:
        return self._h.hexdigest()


def digest(records: Iterable[OutRecord]) -> str:
    d = Digest()
    d.update(records)
    return d.hexdigest()
