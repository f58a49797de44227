"""Replay cockpit benchmark: the time to seek in a one-hour city-wide window (target < 1 s).

A simulated city (default city-1x, one hour, incidents from the seed) goes through the
replay engine (:class:`replay.engine.Replayer`: the worker's own stages on an event-time
watermark) as fast as possible; its timeline then feeds a replay cockpit's channel
(:class:`cockpit_api.replay.channel.ReplayChannel`, the city's hub with its unit board) and
is sought at random moments and at the worst ones (just before each capture boundary: the
most records to fold after the capture). Each seek is what a drag of the page's slider
does: restore the nearest capture, fold the records after it, a fresh snapshot for a client.

Usage: python bench/replay_cockpit.py [--scale 1] [--minutes 60] [--every-min 5] [--seeks 40]

Measured (2 shared cores, busy; two runs): city-1x, one hour: 8,916,481 events -> 5,193
records (425-1,407 s to compute the timeline); prepare 0.31-0.40 s, 11 captures, 3.1 MB
(largest 0.36 MB); 54 seeks (40 random, 12 just before a boundary, the end, the start):
median 15-17 ms, p90 28-41 ms, max 88-103 ms, each with a client's fresh snapshot.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from city.profile import load_profile  # noqa: E402
from citycc.settings import load_settings  # noqa: E402
from cockpit_api.replay.channel import ReplayChannel  # noqa: E402
from cockpit_api.replay.server import ReplayHub, attach  # noqa: E402
from cockpit_api.server import dispatch_view, map_layers, places_of  # noqa: E402
from replay.engine import Replayer  # noqa: E402
from replay.merge import merge_runs  # noqa: E402
from replay.setup import setup_from_settings  # noqa: E402
from replay.timeline import OutRecord  # noqa: E402
from schemas.validate import parse_event_time  # noqa: E402
from simulator.generate import Simulation  # noqa: E402

START_MS = 1_795_600_800_000   # 2026-11-25T10:00:00Z (18:00 in Changsha)
HOLD_MS = 60_000               # events are fed once the simulation is this far past them


def simulated_timeline(scale: float, minutes: int, per_hour: float, seed: int
                       ) -> tuple[list[OutRecord], int, int]:
    """(records, events fed, events too late to feed) of the simulated window."""
    settings = load_settings({})
    replayer = Replayer(setup_from_settings(settings), START_MS)
    sim = Simulation(load_profile(settings.city), scale=scale, seed=seed, start_ms=START_MS,
                     incidents=per_hour)
    held: dict[str, list[tuple[int, int, dict[str, Any]]]] = defaultdict(list)
    records: list[OutRecord] = []
    fed = late = n = 0
    end = START_MS + minutes * 60_000

    fed_before = START_MS   # everything before this time has been fed

    def feed(cut: int) -> None:
        """Feed the held events before ``cut`` (a tick boundary: whole intervals)."""
        nonlocal fed, late, fed_before
        ready: dict[str, list[tuple[int, int, dict[str, Any]]]] = {}
        for stream, items in held.items():
            items.sort(key=lambda x: (x[0], x[1]))
            k = next((i for i, x in enumerate(items) if x[0] >= cut), len(items))
            ok = [x for x in items[:k] if x[0] >= fed_before]
            late += k - len(ok)
            ready[stream], held[stream] = ok, items[k:]
        for stream, events, times in merge_runs({s: iter(v) for s, v in ready.items()}):
            records.extend(replayer.feed(stream, events, times))
            fed += len(events)
        fed_before = max(fed_before, cut)

    for t in range(START_MS + 1000, end + 1, 1000):
        for stream, events in sim.tick(t).items():
            for e in events:
                held[stream].append((parse_event_time(e["event_time"]), n, e))
                n += 1
        if t % 10_000 == 0:
            feed(t - HOLD_MS)
    feed(end + HOLD_MS)
    records.extend(replayer.advance(end))
    return records, fed, late


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--minutes", type=int, default=60)
    ap.add_argument("--incidents-per-hour", type=float, default=12)
    ap.add_argument("--every-min", type=float, default=5.0, help="capture interval")
    ap.add_argument("--seeks", type=int, default=40)
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    c0 = time.perf_counter()
    records, fed, late = simulated_timeline(a.scale, a.minutes, a.incidents_per_hour, a.seed)
    c1 = time.perf_counter()
    end = START_MS + a.minutes * 60_000
    print(f"timeline: {fed:,} events ({late:,} too late to feed) -> {len(records):,} records "
          f"in {c1 - c0:.1f} s; {dict(Counter(r.topic for r in records))}")
    settings = load_settings({})
    profile = load_profile(settings.city)
    hub = ReplayHub(places=places_of(profile), dispatch=dispatch_view(settings, profile),
                    layers=map_layers(profile))
    c2 = time.perf_counter()
    every = int(a.every_min * 60_000)
    ch = ReplayChannel.replay(hub, records, START_MS, end, snapshot_every_ms=every)
    attach(hub, ch)
    c3 = time.perf_counter()
    sizes = [s.size for s in ch.picture.snapshots]
    print(f"prepare (fold all, capture every {a.every_min:g} min): {c3 - c2:.2f} s, "
          f"{len(sizes) - 1} captures, {sum(sizes) / 1e6:.1f} MB (largest "
          f"{max(sizes) / 1e6:.2f} MB)")
    sub = hub.subscribe()
    rng = random.Random(a.seed)
    worst = [START_MS + k * every - 1 for k in range(1, a.minutes * 60_000 // every + 1)]
    plan = [rng.randrange(START_MS, end + 1) for _ in range(a.seeks)] + worst + [end, START_MS]
    times = []
    for at in plan:
        s0 = time.perf_counter()
        ch.seek(at)
        times.append(time.perf_counter() - s0)
        sub.queue.clear()
    ch.seek(end)
    snap_s = time.perf_counter()
    hub.resnapshot(sub)
    snap_s = time.perf_counter() - snap_s
    print(f"seek ({len(plan)}: {a.seeks} random, {len(worst)} just before a boundary, the "
          f"end, the start): median {statistics.median(times) * 1000:.0f} ms, "
          f"p90 {sorted(times)[int(len(times) * 0.9)] * 1000:.0f} ms, "
          f"max {max(times) * 1000:.0f} ms; a client's snapshot {snap_s * 1000:.0f} ms "
          f"({len(hub.incidents)} open incidents at the end)")
    print("PASS" if max(times) < 1.0 else "FAIL", "seek < 1 s")


if __name__ == "__main__":
    main()
