"""bench/replay.py's data: a ClickHouse (a running one, or a local one started and stopped
here with the project's ``deploy.clickhouse``) and a simulated city loaded into its
``events_*`` the way the worker does: the simulator's batch messages, partitioned as Kafka's
default partitioner would, through :class:`streams.pipeline.StreamStep` (validation and
enrichment), :func:`warehouse.rows.event_columns` and :meth:`warehouse.sink.Warehouse.insert`.
"""

from __future__ import annotations

import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from aiokafka.partitioner import DefaultPartitioner

from city.profile import CityProfile
from citycc.settings import Settings, load_settings
from deploy import clickhouse, procs
from schemas.catalog import INPUT_STREAMS
from schemas.topics import TOPICS
from schemas.validate import Policy
from simulator.generate import Simulation
from simulator.producer import messages
from streams.pipeline import RawMessage, StreamStep
from warehouse.client import connect, wait_ready
from warehouse.rows import event_columns, table_for_stream
from warehouse.sink import Warehouse

STEP_MS = 5_000           # simulated time per simulator tick while loading
FLUSH_ROWS = 50_000       # rows per insert while loading


# -- ClickHouse ------------------------------------------------------------------------------

@contextmanager
def running_clickhouse(url: str, run_dir: Path) -> Iterator[Settings]:
    """Settings for the given ClickHouse, or for a local one started (and stopped) here."""
    if url:
        settings = load_settings({}, clickhouse_url=url, run_dir=run_dir)
        wait_ready(settings)
        yield settings
        return
    tcp, http = procs.free_ports(2)
    settings = load_settings({}, run_dir=run_dir, clickhouse_port=tcp,
                             clickhouse_http_port=http)
    clickhouse.start(settings)
    try:
        yield settings
    finally:
        clickhouse.stop(settings)


def drop_database(settings: Settings, database: str) -> None:
    client = connect(settings, database="default")
    try:
        client.execute(f"DROP DATABASE IF EXISTS {database}")
    finally:
        client.disconnect()


# -- the city, loaded as the worker would ----------------------------------------------------

@dataclass
class Loaded:
    start_ms: int
    end_ms: int
    events: int = 0
    by_stream: Counter[str] = field(default_factory=Counter)
    dead: int = 0
    seconds: float = 0.0


def _partition(partitioner: DefaultPartitioner, key: str, n: int) -> int:
    parts = list(range(n))
    return int(partitioner(key.encode(), parts, parts))


async def load_city(settings: Settings, profile: CityProfile, start_ms: int, end_ms: int,
                    scale: float, seed: int, incidents_per_hour: float) -> Loaded:
    """Simulate ``[start_ms, end_ms)`` and insert its valid events into ``events_*``."""
    sim = Simulation(profile, scale=scale, seed=seed, start_ms=start_ms,
                     incidents=incidents_per_hour)
    policy = Policy.for_city(profile, max_lateness_s=settings.max_lateness_s,
                             max_future_s=settings.max_future_s,
                             max_event_bytes=settings.max_event_bytes)
    steps = {s: StreamStep(s, profile, policy) for s in INPUT_STREAMS}
    partitioner = DefaultPartitioner()
    offsets: Counter[tuple[str, int]] = Counter()
    pending: dict[str, list[Any]] = {s: [] for s in INPUT_STREAMS}
    out = Loaded(start_ms, end_ms)
    wh = Warehouse(settings)
    await wh.start()
    t0 = time.perf_counter()

    async def flush(stream: str) -> None:
        if pending[stream]:
            await wh.insert(table_for_stream(stream), event_columns(stream, pending[stream]))
            pending[stream] = []

    try:
        for until in range(start_ms + STEP_MS, end_ms + 1, STEP_MS):
            msgs: dict[str, list[RawMessage]] = {s: [] for s in INPUT_STREAMS}
            for stream, topic, key, value, _ in messages(settings, sim.tick(until), 500):
                p = _partition(partitioner, key, TOPICS[stream].partitions)
                msgs[stream].append(RawMessage(topic, p, offsets[(topic, p)], value))
                offsets[(topic, p)] += 1
            for stream, batch in msgs.items():
                if not batch:
                    continue
                result = steps[stream].process(batch, until)
                out.dead += len(result.dead)
                out.by_stream[stream] += len(result.events)
                pending[stream] += [(e, ts, o, until) for e, ts, o in result.events]
                if len(pending[stream]) >= FLUSH_ROWS:
                    await flush(stream)
        for stream in INPUT_STREAMS:
            await flush(stream)
    finally:
        await wh.close()
    out.events = sum(out.by_stream.values())
    out.seconds = time.perf_counter() - t0
    return out
