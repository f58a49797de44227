"""Send a :class:`Simulation` to Kafka: batches ``{"events": [...]}`` keyed by gateway.

Real-time mode (``rate > 0``) paces event time against wall time (``rate`` 1.0: one simulated
second per second, so with ``start_ms`` = now the event time is the wall time); ``rate`` 0
sends as fast as the broker takes it. The key of a message is the events' ``source`` (a
gateway: a district's sensor gateway, a hospital's AVL feed...), stable per entity, so one
entity's events stay in order on one partition while the load spreads over partitions.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError, KafkaError

from citycc.settings import Settings
from schemas.wire import encode_batch

from .generate import Simulation

log = logging.getLogger("citycc.simulator")
FAST_STEP_MS = 5_000      # simulated time per tick in fast mode
REAL_STEP_S = 0.5         # wall time between ticks in real-time mode
LOG_EVERY_S = 10.0


async def start_producer(settings: Settings, deadline: float) -> AIOKafkaProducer:
    """Start a producer, retrying with backoff while the broker is not up (until deadline)."""
    delay = 0.2
    while True:
        producer = AIOKafkaProducer(
            bootstrap_servers=settings.bootstrap, client_id="citycc-simulator", acks=1,
            linger_ms=5, max_batch_size=256 * 1024,
            max_request_size=settings.broker_message_max_bytes,
            compression_type=None, request_timeout_ms=30_000)
        try:
            await producer.start()
            return producer
        except (KafkaError, OSError) as exc:
            await _quiet_stop(producer)
            if time.monotonic() + delay > deadline:
                raise KafkaConnectionError(
                    f"Kafka at {settings.bootstrap} not reachable: {exc!r}") from exc
            log.info("broker %s not up yet (%s); retrying in %.1f s", settings.bootstrap,
                     exc.__class__.__name__, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)


async def _quiet_stop(producer: AIOKafkaProducer) -> None:
    try:
        await producer.stop()
    except Exception:  # noqa: BLE001 - a producer that never started may fail to stop
        pass


def messages(settings: Settings, events: dict[str, list[dict[str, Any]]],
             batch_size: int) -> list[tuple[str, str, str, bytes, int]]:
    """Group a tick's events into (stream, topic, key, value, n_events) batch messages."""
    out = []
    for stream, evs in events.items():
        by_key: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for e in evs:
            by_key[e["source"]].append(e)
        topic = settings.topic(stream)
        for key, group in by_key.items():
            for i in range(0, len(group), batch_size):
                chunk = group[i:i + batch_size]
                out.append((stream, topic, key, encode_batch(chunk), len(chunk)))
    return out


async def _send(producer: AIOKafkaProducer, batch: list[tuple[str, str, str, bytes, int]],
                retry_s: float) -> None:
    """Send messages and wait for their delivery; retry failed ones until ``retry_s``."""
    deadline, delay = time.monotonic() + retry_s, 0.2
    while batch:
        failed: list[tuple[str, str, str, bytes, int]] = []
        errors: list[BaseException] = []
        pending = []
        for m in batch:
            try:
                pending.append((m, await producer.send(m[1], m[3], key=m[2].encode())))
            except KafkaError as exc:
                failed.append(m)
                errors.append(exc)
        results = await asyncio.gather(*(f for _, f in pending), return_exceptions=True)
        for (m, _), r in zip(pending, results):
            if isinstance(r, BaseException):
                failed.append(m)
                errors.append(r)
        if failed and time.monotonic() + delay > deadline:
            raise errors[0]
        if failed:
            log.warning("%d messages failed (%r); retrying", len(failed), errors[0])
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)
        batch = failed


async def run_producer(settings: Settings, sim: Simulation, *, rate: float = 1.0,
                       duration_s: float | None = None, batch_size: int = 500,
                       truth_path: str | Path | None = None,
                       stop_event: asyncio.Event | None = None,
                       connect_timeout_s: float = 60.0) -> dict[str, Any]:
    """Run ``sim`` into Kafka for ``duration_s`` simulated seconds (None: until stopped).

    Ground truth of each incident is appended to ``truth_path`` (JSONL, truncated at the
    start) as it begins. Returns stats: events by stream, messages, bytes, events/s.
    """
    if rate < 0:
        raise ValueError("rate must be >= 0 (0: as fast as possible)")
    batch_size = max(1, min(batch_size, settings.max_batch_events))
    stop = stop_event or asyncio.Event()
    end_ms = sim.now_ms + int(duration_s * 1000) if duration_s is not None else None
    truth = Path(truth_path) if truth_path else None
    if truth:
        truth.parent.mkdir(parents=True, exist_ok=True)
        truth.write_bytes(b"")
    producer = await start_producer(settings, time.monotonic() + connect_timeout_s)
    by_stream: Counter[str] = Counter()
    n_msgs = n_bytes = 0
    sim0, wall0 = sim.now_ms, time.monotonic()
    next_log = wall0 + LOG_EVERY_S
    try:
        while not stop.is_set() and (end_ms is None or sim.now_ms < end_ms):
            if rate > 0:
                until = sim0 + int((time.monotonic() - wall0) * rate * 1000)
            else:
                until = sim.now_ms + FAST_STEP_MS
            if end_ms is not None:
                until = min(until, end_ms)
            if until > sim.now_ms:
                batch = messages(settings, sim.tick(until), batch_size)
                await _send(producer, batch, connect_timeout_s)
                for stream, _, _, value, n in batch:
                    by_stream[stream] += n
                    n_bytes += len(value)
                n_msgs += len(batch)
                append_truth(truth, sim.pop_truth())
                append_truth(truth, [{"record": "trip", **r} for r in sim.pop_trips()])
            if time.monotonic() >= next_log:
                next_log += LOG_EVERY_S
                log.info("simulator: %d events, %d messages, sim time %+.0f s",
                         sum(by_stream.values()), n_msgs, (sim.now_ms - sim0) / 1000)
            if rate > 0 and (end_ms is None or sim.now_ms < end_ms):
                try:
                    await asyncio.wait_for(stop.wait(), REAL_STEP_S)
                except asyncio.TimeoutError:
                    pass
            else:
                await asyncio.sleep(0)
        await producer.flush()
    finally:
        await _quiet_stop(producer)
    elapsed = time.monotonic() - wall0
    total = sum(by_stream.values())
    return {"events": total, "by_stream": dict(by_stream), "messages": n_msgs,
            "bytes": n_bytes, "elapsed_s": round(elapsed, 3),
            "events_per_s": round(total / elapsed, 1) if elapsed > 0 else 0.0,
            "sim_seconds": (sim.now_ms - sim0) / 1000, "incidents": len(sim.truth)}


def append_truth(path: Path | None, records: list[dict[str, Any]]) -> None:
    """Append ground-truth records to a JSONL file."""
    if path is None or not records:
        return
    with path.open("ab") as f:
        for r in records:
            f.write(orjson.dumps(r) + b"\n")


def format_stats(stats: dict[str, Any]) -> str:
    """One human line per stream plus totals, for the CLI."""
    lines = [f"  {s:<9} {n:>10,} events" for s, n in sorted(stats["by_stream"].items())]
    lines.append(f"  total     {stats['events']:>10,} events in {stats['messages']:,} messages "
                 f"({stats['bytes'] / 1e6:.1f} MB), {stats['events_per_s']:,.0f} events/s over "
                 f"{stats['elapsed_s']:.1f} s; {stats['incidents']} incidents")
    return "\n".join(lines)
