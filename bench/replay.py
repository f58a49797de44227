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
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.replay_data import Loaded, drop_database, load_city, running_clickhouse  # noqa: E402
from bench.replay_sf import bench_sf  # noqa: E402
from city.profile import CityProfile, load_profile  # noqa: E402
from citycc.settings import Settings, load_settings  # noqa: E402
from schemas.validate import parse_event_time  # noqa: E402
from warehouse.client import connect, wait_ready  # noqa: E402

PARTS = ("load", "read", "mem", "e2e", "seek", "determinism", "sf")
SHARED_SF = ROOT.parent.parent / "shared" / "datasets" / "sf_fire_calls" / \
    "sf-fire-calls_first1000_jnybrahma.csv"
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


# -- main ------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    # stopped by SIGTERM: unwind, so the ClickHouse it started is stopped and its data removed
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
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
            try:
                drop_database(settings, settings.clickhouse.database)
            except Exception as exc:  # noqa: BLE001 - a busy server: say so, go on
                print(f"(could not drop {settings.clickhouse.database}: {exc!r})")
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
    n = _count_runs(read_window(client, db, window, raw=True))
    dt = time.perf_counter() - t0
    return (f"(a) read-only from ClickHouse (warehouse.replay_read.read_window, raw bodies: query, "
            f"decode, merge): {n / dt:,.0f} ev/s ({n:,} events, {dt:.1f} s)")


def bench_memory(client: Any, db: str, window: Any, setup: Any, minutes: float) -> str:
    """Replayer only: the first ``minutes`` of the window read into memory first."""
    from replay.engine import Replayer
    from replay.window import Window
    from warehouse.replay_read import read_window
    part = Window(window.start_ms, min(window.end_ms, window.start_ms + int(minutes * 60_000)))
    runs = list(read_window(client, db, part, raw=True))
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
    for stream, events, times in read_window(client, db, window, raw=True):
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
    hours = round((window.end_ms - window.start_ms) / HOUR_MS, 3)
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
    minutes = (w.end_ms - w.start_ms) / 60_000
    lines = [f"(c) determinism: two replay sessions of the same {minutes:g} min: digests "
             f"{a['digest'][:16]} / {b['digest'][:16]}, records {a['records']:,} / "
             f"{b['records']:,}: {'IDENTICAL' if same else 'DIFFERENT'}; alerts "
             f"{a['alerts']}, incidents {a['incidents']}, packages {a['packages']}, "
             f"notifications {a['notifications']}",
             f"    the session's own rate (outputs written to its database): "
             f"{a['events_per_s']:,} and {b['events_per_s']:,} ev/s"]
    if w == window:
        agree = (run.digest, run.count) == (a["digest"], a["records"])
        lines.append(f"    the bench's loop (same window, no output writes): digest "
                     f"{run.digest[:16]}, {run.count:,} records: "
                     f"{'same' if agree else 'DIFFERENT'}")
    return lines


if __name__ == "__main__":
    main()
