"""Cockpit websocket delivery benchmark: many signed-in clients in separate processes.

Starts the project's Kafka broker (deploy.broker) and a real cockpit process
(``python -m cockpit_api.server``) in a temporary run directory, signs in ``--clients``
authenticated clients spread over ``--procs`` processes (users of every kind: whole city,
one agency, one district), and prints:

1. delivery: alerts produced to the broker at ``--rate`` per second for ``--seconds``
   (each carries the producer's ``time_ns``) while the simulated city runs at
   ``--city-scale`` in real time (its traffic and hazmat streams feed the map layers, sent
   batched once a second): delivered updates/s
   summed over the clients, delta latency producer -> client receipt p50/p99 (target p99 <
   100 ms), sequence breaks (``prev`` not the held seq: must be 0);
2. reconnect storm: every client disconnects at once, alerts keep coming, every client
   reconnects at once with its last seq: all resumed (no snapshot), time until all are, and
   per client no alert it may see missing over the whole run (must be 0);
3. memory: the cockpit's RSS, then 10 clients that sign in and stop reading while a burst of
   large alerts goes out, RSS after they are dropped (1013) and the count dropped.

Exit status 1 if a sequence broke, an alert was missed, a resume was refused or the slow
clients were not all dropped. ``--smoke``: a few clients for a few seconds (run by a test so
this bench cannot rot).

    python bench/cockpit.py [--clients 200 --procs 4 --rate 50 --seconds 20] [--smoke]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from aiokafka import AIOKafkaProducer  # noqa: E402

from bench.cockpit_clients import bench_alert, hold_clients, run_clients  # noqa: E402
from city.profile import load_profile  # noqa: E402
from citycc.settings import Settings, load_settings  # noqa: E402
from cockpit_api.auth.testing import PASSWORD, origin, write_test_users  # noqa: E402
from deploy import broker, procs  # noqa: E402
from simulator.generate import Simulation  # noqa: E402
from simulator.producer import run_producer  # noqa: E402
from streams.admin import ensure_topics  # noqa: E402

SLOW_CLIENTS = 10


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def users_for(districts: list[str]) -> dict[str, tuple[str, str, tuple[str, ...]]]:
    """Bench users: whole-city screens and supervisors, agency dispatchers, district leads."""
    users: dict[str, tuple[str, str, tuple[str, ...]]] = {
        "screen": ("viewer", "", ()), "boss": ("supervisor", "", ()),
        "ems": ("dispatcher", "120", ()), "fire": ("dispatcher", "119", ())}
    users.update({f"lead-{d}": ("supervisor", "", (d,)) for d in districts[:3]})
    return users


def healthz(port: int) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
            return orjson.loads(r.read())   # type: ignore[no-any-return]
    except OSError:
        return None


def wait_for(what: Any, deadline_s: float, why: str) -> Any:
    end = time.monotonic() + deadline_s
    while True:
        got = what()
        if got:
            return got
        if time.monotonic() > end:
            raise SystemExit(f"bench: timed out waiting for {why}")
        time.sleep(0.1)


class Producer:
    """Alerts to the broker's alerts topic, numbered across the whole run."""

    def __init__(self, settings: Settings, districts: list[str]) -> None:
        self.settings, self.districts, self.count = settings, districts, 0

    async def run(self, rate: float, seconds: float, pad: int = 0) -> None:
        producer = AIOKafkaProducer(bootstrap_servers=self.settings.bootstrap, linger_ms=0)
        await producer.start()
        try:
            topic, t0, n = self.settings.topic("alerts"), time.monotonic(), 0
            while (elapsed := time.monotonic() - t0) < seconds:
                due = int(elapsed * rate) + 1
                while n < due:
                    alert = bench_alert(self.count, self.districts, time.time_ns(), pad)
                    await producer.send(topic, orjson.dumps(alert),
                                        key=alert["fingerprint"].encode())
                    self.count, n = self.count + 1, n + 1
                await asyncio.sleep(max(0.0, (n / rate) - (time.monotonic() - t0)))
            await producer.flush()
        finally:
            await producer.stop()

    def produce(self, rate: float, seconds: float, pad: int = 0) -> None:
        asyncio.run(self.run(rate, seconds, pad))

    def produce_with_city(self, rate: float, seconds: float, scale: float) -> dict[str, Any]:
        """The alerts and, alongside, the simulated city at ``scale`` in real time (its
        traffic and hazmat streams feed the cockpit's map layers); the simulator's stats."""
        async def both() -> dict[str, Any]:
            if scale <= 0:
                await self.run(rate, seconds)
                return {"events": 0}
            sim = Simulation(load_profile(self.settings.city), scale=scale, seed=7,
                             start_ms=time.time_ns() // 1_000_000, incidents=0)
            city = asyncio.create_task(run_producer(self.settings, sim, rate=1.0,
                                                    duration_s=seconds))
            await self.run(rate, seconds)
            return await city
        return asyncio.run(both())


class Pool:
    """The client processes and their pipes."""

    def __init__(self, settings: Settings, users: list[str], clients: int, nprocs: int,
                 compression: str | None) -> None:
        ctx = mp.get_context("spawn")
        url = f"ws://127.0.0.1:{settings.cockpit_port}/ws"
        names = [(users[i % len(users)], PASSWORD) for i in range(clients)]
        self.pipes, self.procs = [], []
        for k in range(nprocs):
            mine = names[k::nprocs]
            parent, child = ctx.Pipe()
            p = ctx.Process(target=run_clients, args=(child, url, origin(settings.cockpit_port),
                                                      mine, compression), daemon=True)
            p.start()
            self.pipes.append(parent)
            self.procs.append(p)

    def ask(self, cmd: str, arg: Any = None, timeout: float = 120) -> list[Any]:
        for pipe in self.pipes:
            pipe.send((cmd, arg))
        out = []
        for pipe in self.pipes:
            if not pipe.poll(timeout):
                raise SystemExit(f"bench: a client process did not answer {cmd!r}")
            out.append(pipe.recv())
        return out

    def stop(self) -> None:
        try:
            self.ask("quit", timeout=30)
        finally:
            for p in self.procs:
                p.join(10)
                if p.is_alive():
                    p.kill()


def merged(parts: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"lat": [], "why": []}
    for part in parts:
        for k, v in part.items():
            out[k] = out.get(k, 0) + v if not isinstance(v, list) else out[k] + v
    return out


def start_cockpit(settings: Settings, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, **settings.to_environ(), "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "cockpit_api.server"], cwd=ROOT, env=env,
                            stdout=open(log, "ab"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def run(args: argparse.Namespace, tmp: Path) -> int:
    ports = procs.free_ports(3)
    settings = load_settings({}, run_dir=tmp, broker_port=ports[0], cockpit_port=ports[1],
                             clickhouse_port=ports[2],   # none: the KPI figures are stale
                             max_connections=args.clients + SLOW_CLIENTS + 50,
                             max_connections_per_user=args.clients + SLOW_CLIENTS)
    districts = [d.code for d in load_profile(settings.city).districts]
    users = users_for(districts)
    write_test_users(settings.users_path, users)
    broker.start(settings)
    cockpit = None
    pool = None
    failed = False
    try:
        asyncio.run(ensure_topics(settings))
        cockpit = start_cockpit(settings, tmp / "cockpit.log")
        wait_for(lambda: (healthz(settings.cockpit_port) or {}).get("feed") == "connected",
                 60, "the cockpit and its feed")
        producer = Producer(settings, districts)
        t0 = time.monotonic()
        pool = Pool(settings, list(users), args.clients, args.procs,
                    None if args.no_compression else "deflate")
        pool.ask("sign_in")
        print(f"{args.clients} clients in {args.procs} processes signed in "
              f"in {time.monotonic() - t0:.1f} s; cockpit RSS {rss_mb(cockpit.pid):.0f} MB",
              flush=True)

        # 1. delivery
        pool.ask("measure", True)
        t0, cpu0 = time.monotonic(), cpu_s(cockpit.pid)
        city = producer.produce_with_city(args.rate, args.seconds, args.city_scale)
        elapsed = time.monotonic() - t0
        busy = (cpu_s(cockpit.pid) - cpu0) / elapsed
        time.sleep(1.5)   # the last deltas arrive
        pool.ask("measure", False)
        m = merged(pool.ask("take", (producer.count, districts)))
        lat = np.array(m["lat"]) if m["lat"] else np.array([np.nan])
        p50, p99 = np.percentile(lat, 50), np.percentile(lat, 99)
        print(f"delivery: {producer.count} alerts at {args.rate:g}/s and the city at "
              f"{args.city_scale:g}x ({city['events'] / elapsed:,.0f} events/s) for "
              f"{elapsed:.1f} s -> "
              f"{m['deltas'] / elapsed:,.0f} updates/s delivered to {args.clients} clients; "
              f"latency p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {lat.max():.1f} ms "
              f"(target p99 < 100 ms: {'met' if p99 < 100 else 'MISSED'}); "
              f"seq breaks {m['breaks']}, missing {m['missing']}; the cockpit used "
              f"{busy:.0%} of a core (load average {os.getloadavg()[0]:.1f} on "
              f"{os.cpu_count()} cores)", flush=True)
        failed |= m["breaks"] > 0 or m["missing"] > 0
        if args.only_delivery:
            return finish(failed, tmp)

        # 2. reconnect storm
        pool.ask("close")
        producer.produce(args.rate, args.gap)     # deltas they miss while away
        took = max(pool.ask("resume"))
        producer.produce(args.rate, 1.0)
        time.sleep(1.5)
        s = merged(pool.ask("take", (producer.count, districts)))
        resumed_ok = s["resumed"] == args.clients and s["snapshots"] == args.clients
        print(f"reconnect storm: {args.clients} clients reconnected at once after "
              f"{args.gap:g} s away: {s['resumed']} resumed, {len(s['why'])} refused "
              f"{sorted(set(s['why']))}, all in {took:.2f} s; over the run: seq breaks "
              f"{s['breaks']}, alerts missing {s['missing']} of "
              f"{producer.count} produced", flush=True)
        failed |= not resumed_ok or s["breaks"] > 0 or s["missing"] > 0
        pool.stop()
        pool = None

        # 3. memory with clients that stop reading (first the same burst without them)
        time.sleep(1.0)
        idle = rss_mb(cockpit.pid)
        producer.produce(args.burst_rate, args.control_s, pad=args.pad)
        time.sleep(1.0)
        before = rss_mb(cockpit.pid)
        dropped0 = (healthz(settings.cockpit_port) or {}).get("dropped_clients", 0)
        ctx = mp.get_context("spawn")
        parent, child = ctx.Pipe()
        slow = ctx.Process(target=hold_clients, daemon=True,
                           args=(child, f"ws://127.0.0.1:{settings.cockpit_port}/ws",
                                 origin(settings.cockpit_port),
                                 [("screen", PASSWORD)] * SLOW_CLIENTS))
        slow.start()
        assert parent.poll(60) and parent.recv()
        peak = before
        t0 = time.monotonic()
        while time.monotonic() - t0 < args.burst_s:
            producer.produce(args.burst_rate, 1.0, pad=args.pad)
            peak = max(peak, rss_mb(cockpit.pid))
            if args.verbose:
                h = healthz(settings.cockpit_port) or {}
                print("  burst:", producer.count, h.get("published"), h.get("clients"),
                      h.get("dropped_clients"), f"{rss_mb(cockpit.pid):.0f} MB", flush=True)
            if (healthz(settings.cockpit_port) or {}).get("dropped_clients", 0) - dropped0 \
                    >= SLOW_CLIENTS:
                break
        time.sleep(1.0)
        after = rss_mb(cockpit.pid)
        dropped = (healthz(settings.cockpit_port) or {}).get("dropped_clients", 0) - dropped0
        parent.send("release")
        parent.poll(10)
        slow.join(10)
        print(f"memory: cockpit RSS {idle:.0f} MB idle, {before:.0f} MB after a "
              f"{args.control_s:g} s burst of {args.pad // 1024} KB alerts at "
              f"{args.burst_rate:g}/s with no client; then {SLOW_CLIENTS} clients that stop "
              f"reading and the same burst: peak {peak:.0f} MB, {after:.0f} MB after; "
              f"dropped (1013): {dropped} of {SLOW_CLIENTS}", flush=True)
        failed |= dropped < SLOW_CLIENTS
    finally:
        if pool is not None:
            pool.stop()
        if cockpit is not None:
            cockpit.terminate()
            try:
                cockpit.wait(20)
            except subprocess.TimeoutExpired:
                cockpit.kill()
        broker.stop(settings)
    return finish(failed, tmp)


def finish(failed: bool, tmp: Path) -> int:
    if failed:
        log = (tmp / "cockpit.log").read_text(errors="replace").splitlines()
        print("FAILED; the cockpit's log ends:", *log[-15:], sep="\n  ", flush=True)
    else:
        print("ok", flush=True)
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--procs", type=int, default=4)
    parser.add_argument("--rate", type=float, default=50.0, help="alerts per second")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--city-scale", type=float, default=1.0,
                        help="the simulated city alongside (its map layers); 0: none")
    parser.add_argument("--gap", type=float, default=2.0, help="seconds the clients are away")
    parser.add_argument("--burst-rate", type=float, default=200.0)
    parser.add_argument("--burst-s", type=float, default=30.0)
    parser.add_argument("--control-s", type=float, default=5.0)
    parser.add_argument("--pad", type=int, default=64 * 1024, help="bytes per burst alert")
    parser.add_argument("--verbose", action="store_true")
    parser.add_argument("--no-compression", action="store_true",
                        help="clients do not offer permessage-deflate")
    parser.add_argument("--only-delivery", action="store_true",
                        help="stop after the delivery figures")
    parser.add_argument("--smoke", action="store_true", help="a few clients, a few seconds")
    args = parser.parse_args(argv)
    if args.smoke:
        args.clients, args.procs, args.seconds, args.gap = 6, 2, 2.0, 1.0
        args.control_s, args.city_scale = 2.0, 0.1
    with tempfile.TemporaryDirectory(prefix="citycc-bench-cockpit-") as tmp:
        return run(args, Path(tmp))


if __name__ == "__main__":
    sys.exit(main())
