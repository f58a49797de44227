"""Replay benchmark: warehouse -> replay pipeline rates, seek, determinism, SF import.

Loads ``--hours`` of a simulated city (``--scale``, ``--seed``, seeded incidents) into a real
ClickHouse's ``events_*`` tables the way the worker does (the simulator's batch messages,
partitioned as Kafka's default partitioner would, through :class:`streams.pipeline.
StreamStep` validation and enrichment, :func:`warehouse.rows.event_columns` and
:meth:`warehouse.sink.Warehouse.insert`), then prints on one process:

  (a) events/s: read-only from ClickHouse (:mod:`warehouse.replay_read`), Replayer-only in
      memory (``--mem-minutes`` of the window, decoded beforehand), and end to end;
  (b) time to seek in the window (state at ``t`` rebuilt from the start);
  (c) determinism: two replays of the same window, their output digests and record counts;
  (d) the SF Fire import: parse+map rate (``bench/sf_import.py``'s ``run``) and load rate into
      ClickHouse (:func:`warehouse.cad_load.load`) in rows/s with peak traced memory and max
      RSS, on rows of ``--sf FILE`` (default the shared sample) repeated to ``--sf-rows``.

ClickHouse: ``--clickhouse URL`` (a running one, e.g. ``make run``'s), else a local server is
started on free ports in a temporary directory with the project's own ``deploy.clickhouse``
and stopped (by PID) at the end. The bench's databases are dropped at the end.

Usage: python bench/replay.py [--hours 1] [--scale 1] [--seed 7] [--clickhouse URL]
                              [--parts load,read,mem,e2e,seek,determinism,sf]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import hashlib
import multiprocessing
import resource
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from aiokafka.partitioner import DefaultPartitioner  # noqa: E402

from city.profile import CityProfile, load_profile  # noqa: E402
from citycc.settings import Settings, load_settings  # noqa: E402
from deploy import clickhouse, procs  # noqa: E402
from schemas.catalog import INPUT_STREAMS  # noqa: E402
from schemas.topics import TOPICS  # noqa: E402
from schemas.validate import Policy, parse_event_time  # noqa: E402
from simulator.generate import Simulation  # noqa: E402
from simulator.producer import messages  # noqa: E402
from streams.pipeline import RawMessage, StreamStep  # noqa: E402
from warehouse.client import connect, wait_ready  # noqa: E402
from warehouse.rows import event_columns, table_for_stream  # noqa: E402
from warehouse.sink import Warehouse  # noqa: E402

PARTS = ("load", "read", "mem", "e2e", "seek", "determinism", "sf")
SHARED_SF = ROOT.parent.parent / "shared" / "datasets" / "sf_fire_calls" / \
    "sf-fire-calls_first1000_jnybrahma.csv"
STEP_MS = 5_000           # simulated time per simulator tick while loading
FLUSH_ROWS = 50_000       # rows per insert while loading
HOUR_MS = 3_600_000


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hours", type=float, default=1.0, help="window length (simulated hours)")
    ap.add_argument("--scale", type=float, default=1.0, help="city scale (1x: ~2,500 ev/s)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--start", default="2026-03-02T08:00:00Z",
                    help="event time of the window's start (ISO 8601)")
    ap.add_argument("--incidents-per-hour", type=float, default=6.0)
    ap.add_argument("--clickhouse", default="",
                    help="URL of a running ClickHouse (default: start a local one)")
    ap.add_argument("--parts", default=",".join(PARTS),
                    help=f"comma-separated subset of {','.join(PARTS)}")
    ap.add_argument("--mem-minutes", type=float, default=5.0,
                    help="minutes of the window held in memory for the Replayer-only rate")
    ap.add_argument("--determinism-minutes", type=float, default=0.0,
                    help="length of the window replayed twice (0: the whole window)")
    ap.add_argument("--seek-at", default="0.5,1.0",
                    help="seek targets as fractions of the window")
    ap.add_argument("--sf", type=Path, default=SHARED_SF, help="SF calls-for-service CSV")
    ap.add_argument("--sf-rows", type=int, default=200_000,
                    help="rows of the SF file repeated (distinct call numbers) to this many")
    args = ap.parse_args(argv)
    args.parts = parse_parts(args.parts)
    return args


def parse_parts(text: str) -> tuple[str, ...]:
    """``"read,e2e"`` -> ``("read", "e2e")`` in :data:`PARTS` order; unknown names refused."""
    names = {p.strip() for p in text.split(",") if p.strip()}
    unknown = sorted(names - set(PARTS))
    if unknown:
        raise SystemExit(f"unknown part(s) {unknown}; parts: {','.join(PARTS)}")
    return tuple(p for p in PARTS if p in names)


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


# -- SF Fire import (d) ----------------------------------------------------------------------

def repeat_csv(source: Path, target: Path, rows: int) -> int:
    """Write ``rows`` data rows: the source's rows over and over, each pass with its own
    call, incident and row ids (so the calls stay distinct, as in the full file)."""
    with source.open(newline="", encoding="utf-8") as f:
        header, *base = list(csv.reader(f))
    call, inc, row_id = (header.index(c) for c in ("CallNumber", "IncidentNumber", "RowID"))
    written = 0
    with target.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        n = 0
        while written < rows:
            for r in base:
                if written >= rows:
                    break
                r = list(r)
                if n:
                    r[call] = str(int(r[call]) + n * 100_000_000)
                    r[inc] = str(int(r[inc]) + n * 100_000_000)
                    r[row_id] = f"{r[call]}-{r[1]}"
                w.writerow(r)
                written += 1
            n += 1
    return written


def _sf_load_child(settings: Settings, path: str, traced: bool, queue: Any) -> None:
    """Load the file into ClickHouse in a process of its own (so its max RSS is the load's)."""
    from replay.cad_import import reader
    from warehouse.cad_load import load
    if traced:
        tracemalloc.start()
    t0 = time.perf_counter()
    with open(path, newline="", encoding="utf-8", errors="replace") as f:
        s = asyncio.run(load(settings, "benchsf", Path(path).name, reader.read(f)))
    dt = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1] if traced else 0
    queue.put({"rows": s.rows_read, "records": s.records, "bad": sum(s.bad_rows.values()),
               "seconds": dt, "traced_peak": peak,
               "max_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss})


def sf_load(settings: Settings, path: Path, traced: bool) -> dict[str, Any]:
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    p = ctx.Process(target=_sf_load_child, args=(settings, str(path), traced, queue))
    p.start()
    result = queue.get(timeout=3600)
    p.join(60)
    return result


def bench_sf(settings: Settings, source: Path, rows: int, tmp: Path) -> list[str]:
    from bench.sf_import import run as parse_map
    from warehouse.cad_load import history_settings
    path = tmp / "sf-repeated.csv"
    written = repeat_csv(source, path, rows)
    lines = [f"(d) SF import: {source.name} repeated to {written:,} rows "
             f"({path.stat().st_size / 1e6:.1f} MB)"]
    t0 = time.perf_counter()
    s = parse_map(path)
    dt = time.perf_counter() - t0
    tracemalloc.start()
    parse_map(path)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    lines.append(f"    parse+map: {s.rows_read / dt:,.0f} rows/s ({s.records:,} records, "
                 f"{dt:.2f} s); peak traced memory {peak / 1024:,.0f} KiB")
    db = history_settings(settings, "benchsf").clickhouse.database
    try:
        timed = sf_load(settings, path, traced=False)
        drop_database(settings, db)
        traced = sf_load(settings, path, traced=True)
    finally:
        drop_database(settings, db)
    lines.append(f"    load into ClickHouse (cad_load.load, fresh database): "
                 f"{timed['rows'] / timed['seconds']:,.0f} rows/s = "
                 f"{timed['records'] / timed['seconds']:,.0f} events/s ({timed['seconds']:.1f} s,"
                 f" {timed['bad']} bad rows); load process max RSS "
                 f"{timed['max_rss_kib'] / 1024:,.0f} MiB")
    lines.append(f"    load under tracemalloc: peak traced memory "
                 f"{traced['traced_peak'] / 1024:,.0f} KiB (max RSS "
                 f"{traced['max_rss_kib'] / 1024:,.0f} MiB)")
    return lines


# -- main ------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    profile = load_profile(load_settings({}).city)
    start_ms = parse_event_time(args.start)
    end_ms = start_ms + int(args.hours * HOUR_MS)
    out: list[str] = []
    with tempfile.TemporaryDirectory(prefix="citycc-bench-replay-") as tmp, \
            running_clickhouse(args.clickhouse, Path(tmp) / "run") as base:
        settings = base.with_overrides(
            clickhouse_database=f"bench_replay_{int(time.time())}")
        print(f"ClickHouse {wait_ready(settings)} at {settings.clickhouse.host}:"
              f"{settings.clickhouse.port}; database {settings.clickhouse.database}",
              flush=True)
        try:
            if "sf" in args.parts:
                out += bench_sf(settings, args.sf, args.sf_rows, Path(tmp))
                print("\n".join(out), flush=True)
            if set(args.parts) - {"sf"}:
                loaded = asyncio.run(load_city(settings, profile, start_ms, end_ms, args.scale,
                                               args.seed, args.incidents_per_hour))
                line = (f"loaded {args.hours:g} h of city-{args.scale:g}x (seed {args.seed}): "
                        f"{loaded.events:,} events {dict(loaded.by_stream)}, {loaded.dead} "
                        f"dead letters, in {loaded.seconds:.1f} s "
                        f"({loaded.events / loaded.seconds:,.0f} ev/s simulate+validate+insert)")
                print(line, flush=True)
                out.append(line)
                out += run_replay_parts(settings, profile, loaded, args)
        finally:
            drop_database(settings, settings.clickhouse.database)
    print("\n== bench/replay.py " + " ".join(argv if argv is not None else sys.argv[1:]))
    print("\n".join(out))


def run_replay_parts(settings: Settings, profile: CityProfile, loaded: Loaded,
                     args: argparse.Namespace) -> list[str]:
    """(a) rates, (b) seek, (c) determinism over the loaded window."""
    from replay.setup import setup_from_settings
    from replay.window import Window
    setup = setup_from_settings(settings, profile)
    window = Window(loaded.start_ms, loaded.end_ms + 1)     # (end exclusive)
    db = settings.clickhouse.database
    parts, lines = args.parts, []
    client = connect(settings)
    try:
        if "read" in parts:
            lines.append(bench_read(client, db, window))
            print(lines[-1], flush=True)
        if "mem" in parts:
            lines.append(bench_memory(client, db, window, setup, args.mem_minutes))
            print(lines[-1], flush=True)
        if {"e2e", "seek", "determinism"} & set(parts):
            seeks = [window.start_ms + int(float(f) * (loaded.end_ms - loaded.start_ms))
                     for f in args.seek_at.split(",")]
            run = replay_loop(client, db, window, setup, seeks, keep="seek" in parts)
            lines.append(f"(a) end to end (ClickHouse -> Replayer, one process): "
                         f"{run.events / run.seconds:,.0f} ev/s ({run.events:,} events, "
                         f"{run.seconds:.1f} s); {run.count:,} records, digest "
                         f"{run.digest[:16]}")
            print(lines[-1], flush=True)
            if "seek" in parts:
                seek = bench_seek(run, window, seeks)
                lines += seek
                print("\n".join(seek), flush=True)
            if "determinism" in parts:
                det = bench_determinism(settings, setup, window, run, args)
                lines += det
                print("\n".join(det), flush=True)
    finally:
        client.disconnect()
    return lines


def _count_runs(runs: Iterator[tuple[str, list[Any], list[int]]]) -> int:
    return sum(len(events) for _, events, _ in runs)


def bench_read(client: Any, db: str, window: Any) -> str:
    """Read-only: the warehouse reader's runs (query, decode, event-time merge), nothing fed."""
    from warehouse.replay_read import read_window
    t0 = time.perf_counter()
    n = _count_runs(read_window(client, db, window))
    dt = time.perf_counter() - t0
    return (f"(a) read-only from ClickHouse (warehouse.replay_read.read_window: query, "
            f"decode, merge): {n / dt:,.0f} ev/s ({n:,} events, {dt:.1f} s)")


def bench_memory(client: Any, db: str, window: Any, setup: Any, minutes: float) -> str:
    """Replayer only: the first ``minutes`` of the window read into memory first."""
    from replay.engine import Replayer
    from replay.window import Window
    from warehouse.replay_read import read_window
    part = Window(window.start_ms, min(window.end_ms, window.start_ms + int(minutes * 60_000)))
    runs = list(read_window(client, db, part))
    n = sum(len(e) for _, e, _ in runs)
    rp = Replayer(setup, part.start_ms)
    t0 = time.perf_counter()
    records = 0
    for stream, events, times in runs:
        records += len(rp.feed(stream, events, times))
    records += len(rp.advance(part.end_ms))
    dt = time.perf_counter() - t0
    return (f"(a) Replayer only, in memory (first {minutes:g} min, {n:,} events decoded "
            f"beforehand): {n / dt:,.0f} ev/s ({dt:.1f} s, {records:,} records)")


@dataclass
class Run:
    events: int
    seconds: float
    count: int
    digest: str
    records: list[Any]
    reached: dict[int, float]       # seek target -> seconds from the start to get there


def replay_loop(client: Any, db: str, window: Any, setup: Any, seeks: list[int],
                keep: bool) -> Run:
    """The window from the warehouse through one Replayer, as ``citycc replay run`` drives it
    (without writing outputs); ``keep``: hold every record (for the seek figure)."""
    from replay.engine import Replayer
    from replay.timeline import Digest
    from warehouse.replay_read import read_window
    rp = Replayer(setup, window.start_ms)
    digest, held = Digest(), []
    todo, reached = sorted(seeks), {}
    t0 = time.perf_counter()
    for stream, events, times in read_window(client, db, window):
        while todo and times[0] > todo[0]:
            reached[todo.pop(0)] = time.perf_counter() - t0
        out = rp.feed(stream, events, times)
        digest.update(out)
        if keep:
            held += out
    out = rp.advance(window.end_ms)
    digest.update(out)
    held += out if keep else []
    dt = time.perf_counter() - t0
    for t in todo:
        reached[t] = dt
    return Run(rp.counters["events"], dt, digest.count, digest.hexdigest(), held, reached)


def bench_seek(run: Run, window: Any, seeks: list[int]) -> list[str]:
    """The replay cockpit's seek (cockpit_api.replay: snapshots of the hub every 5 min of
    event time, then the records after the nearest), against rebuilding from the start."""
    from cockpit_api.hub import AlertHub
    from cockpit_api.replay.channel import ReplayChannel
    hours = (window.end_ms - window.start_ms) / HOUR_MS
    t0 = time.perf_counter()
    channel = ReplayChannel.replay(AlertHub(), run.records, window.start_ms, window.end_ms,
                                   speed=None, paused=True)
    prep = time.perf_counter() - t0
    times = []
    for t in [*seeks, window.start_ms + (window.end_ms - window.start_ms) // 7, *seeks[:1]]:
        a = time.perf_counter()
        channel.seek(t)
        times.append((t, time.perf_counter() - a))
    worst = max(dt for _, dt in times)
    return [f"(b) seek in the replay cockpit ({hours:g} h window, {len(run.records):,} "
            f"records, {len(channel.picture.snapshots) - 1} snapshots made in {prep:.2f} s "
            f"once): " + ", ".join(f"to +{(t - window.start_ms) / 60_000:.0f} min "
                                    f"{dt * 1000:.0f} ms" for t, dt in times) +
            f"; worst {worst * 1000:.0f} ms",
            "    rebuilding the detector/engine state at t from the start instead (Replayer "
            "from the warehouse): " + ", ".join(
                f"+{(t - window.start_ms) / 60_000:.0f} min {dt:.1f} s"
                for t, dt in sorted(run.reached.items()))]


def bench_determinism(settings: Settings, setup: Any, window: Any, run: Run,
                      args: argparse.Namespace) -> list[str]:
    """Two ``citycc replay run`` sessions (replay.session.run_session, outputs written to
    their own database) of the same window: their digests and counts, and the bench's own
    loop's when the window is the same."""
    from replay.session import run_session
    from replay.window import Window
    w = window
    if args.determinism_minutes:
        w = Window(window.start_ms, min(window.end_ms,
                                         window.start_ms + int(args.determinism_minutes * 60_000)))
    got = []
    for _ in range(2):
        summary = run_session(settings, setup, w, progress=False)
        drop_database(settings, summary["database"])
        got.append(summary)
    a, b = got
    same = (a["digest"], a["records"]) == (b["digest"], b["records"])
    lines = [f"(c) determinism: two replay sessions of the same {(w.end_ms - w.start_ms) / 60_000:g}"
             f" min: digests {a['digest'][:16]} / {b['digest'][:16]}, records {a['records']:,} "
             f"/ {b['records']:,}: {'IDENTICAL' if same else 'DIFFERENT'}; alerts "
             f"{a['alerts']}, incidents {a['incidents']}, packages {a['packages']}, "
             f"notifications {a['notifications']}",
             f"    the session's own rate (outputs written to its database): "
             f"{a['events_per_s']:,} and {b['events_per_s']:,} ev/s"]
    if w == window:
        lines.append(f"    the bench's loop (same window, no output writes): digest "
                     f"{run.digest[:16]}, {run.count:,} records: "
                     f"{'same' if (run.digest, run.count) == (a['digest'], a['records']) else 'DIFFERENT'}")
    return lines


if __name__ == "__main__":
    main()
