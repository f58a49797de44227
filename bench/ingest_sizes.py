"""The input-size sweep: every input the broker accepts is stored or dead-lettered.

Produces, to one input topic of a running broker and worker (``make run``, or the settings
of ``CITYCC_*``), messages of every size class from 0 bytes (and a tombstone) to past the
broker's record limit: filler that is not JSON at the 1 MB, 2 MB and ``max_message_bytes``
boundaries, 5 MB, and valid batches (4 events, ~900 KB, ``max_batch_events`` events)
interleaved with them. A message the broker refuses at produce time never got in and is
counted apart. Then it waits for ClickHouse and prints: messages tried, refused by the
broker, in, stored, dead-lettered (and with which codes), lost (must be 0).

Usage: python bench/ingest_sizes.py [--stream lifeline] [--deadline 120]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from citycc.settings import Settings, load_settings  # noqa: E402
from schemas.validate import format_event_time  # noqa: E402
from warehouse.client import connect  # noqa: E402

MB = 1_000_000
MIB = 1 << 20


@dataclass(frozen=True)
class Probe:
    """One message of the sweep: ``events`` valid events to store, or 0 when the whole
    message must be dead-lettered with ``code``."""

    label: str
    value: bytes | None
    events: int = 0
    code: str = ""


@dataclass
class Sweep:
    tried: int = 0
    refused: list[tuple[Probe, str]] = field(default_factory=list)  # and the broker's error
    accepted: dict[tuple[int, int], Probe] = field(default_factory=dict)  # (partition, offset)
    stored: int = 0
    dead_lettered: int = 0
    codes: Counter[str] = field(default_factory=Counter)
    wrong: list[str] = field(default_factory=list)      # landed, but not as expected

    @property
    def lost(self) -> int:
        return len(self.accepted) - self.stored - self.dead_lettered

    def summary(self) -> str:
        refused = [f"{p.label} ({why})" for p, why in self.refused]
        return (f"messages tried {self.tried}, refused by the broker {len(self.refused)} "
                f"{refused}, in {len(self.accepted)}, stored {self.stored}, "
                f"dead-lettered {self.dead_lettered} {dict(sorted(self.codes.items()))}, "
                f"lost {self.lost}" + (f", wrong {self.wrong}" if self.wrong else ""))


def reading(run: str, n: int, ts_ms: int) -> dict[str, Any]:
    return {"event_id": f"{run}-{n}", "type": "reading", "event_time": format_event_time(ts_ms),
            "source": "size-sweep", "entity_id": f"GAS-SW-{n % 40:03d}",
            "lat": 28.19, "lon": 112.99, "kind": "gas_concentration", "value": 3.0,
            "unit": "%LEL"}


def probes(settings: Settings, now_ms: int, run: str) -> list[Probe]:
    """The sweep's messages, each followed by a small valid batch (the neighbours a bad
    message must not take down with it)."""
    limit = settings.max_message_bytes
    serial = iter(range(10 ** 9))

    def batch(label: str, n: int) -> Probe:
        events = [reading(run, next(serial), now_ms) for _ in range(n)]
        return Probe(label, orjson.dumps({"events": events}), events=n)

    def filler(label: str, size: int) -> Probe:      # not JSON: "{" then "x"s
        value = (b"{" + b"x" * (size - 1))[:size]
        return Probe(label, value, code="too_large" if size > limit else "malformed_json")

    big = [filler("0 B", 0), Probe("tombstone", None, code="not_object"), filler("1 B", 1),
           batch("~900 KB valid", 900 * MB // (1000 * 210)),
           filler("900 KB", 900_000), filler("1 MiB - 1", MIB - 1), filler("1 MiB", MIB),
           filler("1 MiB + 1", MIB + 1), filler("1 MB + 1", MB + 1),
           filler("2 MB malformed", 2 * MB),
           batch(f"{settings.max_batch_events} events valid", settings.max_batch_events),
           filler("limit - 1", limit - 1), filler("limit", limit),
           filler("limit + 1", limit + 1), filler("5 MB", 5 * MB),
           filler("record limit + 1", settings.broker_message_max_bytes + 1)]
    out = [batch("4 valid", 4)]
    for p in big:
        out += [p, batch("4 valid", 4)]
    return out


async def produce(settings: Settings, topic: str, sweep: Sweep, items: list[Probe]) -> None:
    """One record per request, each acknowledged, so the broker judges each message alone;
    the client's own limit is far above the broker's, so the broker decides."""
    producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap, acks="all",
                                max_request_size=4 * settings.broker_message_max_bytes,
                                request_timeout_ms=30_000, client_id="citycc-size-sweep")
    await producer.start()
    try:
        for i, probe in enumerate(items):
            sweep.tried += 1
            try:
                md = await producer.send_and_wait(topic, probe.value, key=b"sweep-%d" % (i % 4))
            except KafkaError as exc:
                sweep.refused.append((probe, type(exc).__name__))
                continue
            sweep.accepted[(md.partition, md.offset)] = probe
    finally:
        await producer.stop()


def count(settings: Settings, topic: str, stream: str, sweep: Sweep) -> None:
    """Classify every accepted message from ClickHouse (FINAL: each row once)."""
    db = settings.clickhouse.database
    first = min((o for _, o in sweep.accepted), default=0)
    client = connect(settings)
    try:
        rows = dict(((p, o), n) for p, o, n in client.execute(
            f"SELECT src_partition, src_offset, count() FROM {db}.events_{stream} FINAL "
            "WHERE src_topic = %(t)s AND src_offset >= %(o)s "
            "GROUP BY src_partition, src_offset", {"t": topic, "o": first}))
        dead: dict[tuple[int, int], list[tuple[int, str, int, int]]] = {}
        for p, o, i, code, size, kept in client.execute(
                f"SELECT source_partition, source_offset, batch_index, code, raw_size, "
                f"length(raw) FROM {db}.dead_letters FINAL "
                "WHERE source_topic = %(t)s AND source_offset >= %(o)s",
                {"t": topic, "o": first}):
            dead.setdefault((p, o), []).append((i, code, size, kept))
    finally:
        client.disconnect()
    sweep.stored = sweep.dead_lettered = 0
    sweep.codes.clear()
    sweep.wrong = []
    for key, probe in sweep.accepted.items():
        n, letters = rows.get(key, 0), dead.get(key, [])
        size = len(probe.value or b"")
        if probe.events and n == probe.events and not letters:
            sweep.stored += 1
        elif not probe.events and n == 0 and len(letters) == 1 and letters[0][0] == -1:
            _, code, raw_size, kept = letters[0]
            sweep.dead_lettered += 1
            sweep.codes[code] += 1
            if code != probe.code or raw_size != size or kept > settings.max_message_bytes:
                sweep.wrong.append(f"{probe.label}: {code} size {raw_size} kept {kept}")
        elif n or letters:
            sweep.wrong.append(f"{probe.label}: {n} rows, dead letters {letters}")


def run_sweep(settings: Settings, *, stream: str = "lifeline", deadline_s: float = 120.0,
              alive: Callable[[], bool] = lambda: True) -> Sweep:
    """Produce the sweep to ``stream`` and wait (polling ClickHouse) until every accepted
    message is accounted for, or ``deadline_s``; the result says what is missing."""
    topic = settings.topic(stream)
    sweep = Sweep()
    items = probes(settings, time.time_ns() // 1_000_000, f"sw-{uuid.uuid4().hex[:8]}")
    asyncio.run(produce(settings, topic, sweep, items))
    end = time.monotonic() + deadline_s
    while True:
        count(settings, topic, stream, sweep)
        if sweep.lost == 0 or time.monotonic() > end or not alive():
            return sweep
        time.sleep(0.5)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--stream", default="lifeline")
    ap.add_argument("--deadline", type=float, default=120.0)
    args = ap.parse_args()
    settings = load_settings()
    start = time.monotonic()
    sweep = run_sweep(settings, stream=args.stream, deadline_s=args.deadline)
    print(f"input-size sweep on {settings.bootstrap} ({args.stream}, limit "
          f"{settings.max_message_bytes} B, record limit {settings.broker_message_max_bytes} "
          f"B) in {time.monotonic() - start:.1f} s")
    print(sweep.summary())
    return 0 if sweep.lost == 0 and not sweep.wrong else 1


if __name__ == "__main__":
    sys.exit(main())
