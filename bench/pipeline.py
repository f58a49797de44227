"""Pipeline benchmark: simulator -> broker -> one worker -> ClickHouse / cockpit.

Prints, on this machine, with services started by the project's own code:
  * the raw aiokafka consume+decode ceiling (events/s), measured in the same run;
  * per city scale (1x = ~2,500 events/s): events/s produced in real time, events/s landed in
    ClickHouse, the backlog left when the producer stopped, and event-to-websocket alert
    latency p50/p99 (injected gas leaks, received by a websocket client of the cockpit);
  * the worker's maximum drain rate over a pre-loaded backlog (validate+detect+sink).

Usage: python bench/pipeline.py [--scales 1,4,8,16] [--seconds 20] [--backlog 400000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import websockets
from aiokafka import AIOKafkaConsumer, TopicPartition

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from city.profile import load_profile  # noqa: E402
from citycc.cli import _prepare  # noqa: E402
from citycc.settings import Settings, load_settings  # noqa: E402
from deploy import infra, procs  # noqa: E402
from simulator.generate import Simulation  # noqa: E402
from simulator.producer import messages, run_producer, start_producer  # noqa: E402
from streams.admin import topic_partitions  # noqa: E402
from schemas.validate import format_event_time, parse_event_time  # noqa: E402
from warehouse.client import connect  # noqa: E402
from cockpit_api.auth.testing import login_frame, origin, write_test_users  # noqa: E402

LEAK_EVERY_S = 2.0


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def spawn(settings: Settings, args: list[str], log: Path) -> subprocess.Popen[bytes]:
    out = open(log, "ab")
    return subprocess.Popen([sys.executable, "-m", "citycc.cli", *args], cwd=ROOT,
                            env={**os.environ, **settings.to_environ()}, stdout=out,
                            stderr=subprocess.STDOUT, start_new_session=True)


def stop(p: subprocess.Popen[bytes]) -> None:
    p.terminate()
    try:
        p.wait(20)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait(5)


def landed(settings: Settings) -> int:
    client = connect(settings)
    try:
        db = settings.clickhouse.database
        return int(client.execute(f"SELECT count() FROM {db}.events_lifeline") [0][0] +
                   sum(client.execute(f"SELECT count() FROM {db}.events_{s}")[0][0]
                       for s in ("ems", "fire", "traffic", "hazmat")))
    finally:
        client.disconnect()


async def preload(settings: Settings, scale: float, seconds: float, start: int) -> int:
    """Produce ``seconds`` of a city at ``scale`` as fast as possible; return events sent."""
    sim = Simulation(load_profile(settings.city), scale=scale, seed=11, start_ms=start,
                     incidents=0)
    producer = await start_producer(settings, time.monotonic() + 30)
    total = 0
    try:
        for t in range(start + 1000, start + int(seconds * 1000) + 1, 1000):
            for _, topic, key, value, n in messages(settings, sim.tick(t), 500):
                await producer.send(topic, value, key=key.encode())
                total += n
        await producer.flush()
    finally:
        await producer.stop()
    return total


async def raw_ceiling(settings: Settings, expected: int) -> float:
    """aiokafka consume + orjson decode of every event on the lifeline..hazmat topics."""
    topics = [settings.topic(s) for s in ("lifeline", "ems", "fire", "traffic", "hazmat")]
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.bootstrap, group_id=None,
                                enable_auto_commit=False, fetch_max_bytes=64 * 1024 * 1024,
                                max_partition_fetch_bytes=16 * 1024 * 1024)
    await consumer.start()
    try:
        known = await topic_partitions(settings.bootstrap, topics)
        tps = [TopicPartition(t, p) for t in topics for p in known.get(t, [])]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        seen, t0 = 0, time.perf_counter()
        while seen < expected:
            batch = await consumer.getmany(timeout_ms=1000, max_records=5000)
            if not batch:
                break
            for records in batch.values():
                for r in records:
                    doc = orjson.loads(r.value)
                    seen += len(doc["events"]) if "events" in doc else 1
        return seen / (time.perf_counter() - t0)
    finally:
        await consumer.stop()


async def live_run(settings: Settings, scale: float, seconds: float) -> dict[str, Any]:
    """Real-time simulator at ``scale`` plus periodic gas leaks; measure alert latency."""
    latencies: list[float] = []
    detect: list[float] = []  # event -> detected by the worker (the rest: alert topic + cockpit)
    leaks: dict[str, int] = {}

    async def watch(ws: Any, done: asyncio.Event) -> None:
        while not done.is_set():
            try:
                msg = orjson.loads(await asyncio.wait_for(ws.recv(), 0.5))
            except asyncio.TimeoutError:
                continue
            alert = msg.get("alert") if msg.get("type") == "alert" else None
            if alert and alert.get("entity_id") in leaks and alert["status"] == "firing":
                sent = leaks.pop(alert["entity_id"])
                latencies.append(now_ms() - sent)
                detect.append(parse_event_time(alert["detected_at"]) - sent)

    async def leak_injector(done: asyncio.Event) -> None:
        producer = await start_producer(settings, time.monotonic() + 30)
        i = 0
        try:
            while not done.is_set():
                t = now_ms()
                entity = f"BENCH-LEAK-{scale}-{i}"
                event = {"event_id": f"bench-leak-{scale}-{i}", "type": "reading",
                         "event_time": _iso(t), "source": "bench", "entity_id": entity,
                         "lat": 28.19, "lon": 112.99, "kind": "gas_concentration",
                         "value": 35.0, "unit": "%LEL"}
                leaks[entity] = t
                await producer.send_and_wait(settings.topic("lifeline"),
                                             orjson.dumps(event), key=entity.encode())
                i += 1
                try:
                    await asyncio.wait_for(done.wait(), LEAK_EVERY_S)
                except asyncio.TimeoutError:
                    pass
        finally:
            await producer.stop()

    sim = Simulation(load_profile(settings.city), scale=scale, seed=7, start_ms=now_ms(),
                     incidents=0)
    before = landed(settings)
    async with websockets.connect(f"ws://127.0.0.1:{settings.cockpit_port}/ws",
                                  max_size=None, origin=origin(settings.cockpit_port)) as ws:
        await ws.send(login_frame("大屏"))   # the big screen (its test user, see main)
        done = asyncio.Event()
        tasks = [asyncio.create_task(watch(ws, done)),
                 asyncio.create_task(leak_injector(done))]
        t0 = time.monotonic()
        stats = await run_producer(settings, sim, rate=1.0, duration_s=seconds)
        elapsed = time.monotonic() - t0
        after = landed(settings)
        await asyncio.sleep(1.0)  # let the last injected leak's alert arrive
        done.set()
        await asyncio.gather(*tasks)
    produced = stats["events"]
    lat = np.array(latencies) if latencies else np.array([np.nan])
    return {"scale": scale, "produced_per_s": produced / elapsed,
            "landed_per_s": (after - before) / elapsed,
            "backlog_at_end": max(0, produced - (after - before)),
            "alerts": len(latencies), "p50_ms": float(np.percentile(lat, 50)),
            "p99_ms": float(np.percentile(lat, 99)),
            "detect_p50_ms": float(np.percentile(detect, 50)) if detect else float("nan")}


async def warm_up(settings: Settings) -> None:
    producer = await start_producer(settings, time.monotonic() + 30)
    try:
        event = {"event_id": "bench-warmup", "type": "reading", "event_time": _iso(now_ms()),
                 "source": "bench", "entity_id": "BENCH-WARMUP", "lat": 28.19, "lon": 112.99,
                 "kind": "pm25", "value": 30.0, "unit": "µg/m³"}
        await producer.send_and_wait(settings.topic("lifeline"), orjson.dumps(event))
    finally:
        await producer.stop()


def _iso(ms: int) -> str:
    return format_event_time(ms)


def wait_landed(settings: Settings, want: int, deadline: float) -> float:
    t0 = time.monotonic()
    procs.wait_until(lambda: landed(settings) >= want, deadline, f"{want} rows",
                     interval=0.2)
    return time.monotonic() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scales", default="1,4,8,16")
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--backlog-seconds", type=float, default=40.0,
                    help="seconds of a city-4x to pre-load for the drain measurement")
    args = ap.parse_args()
    run_dir = Path(tempfile.mkdtemp(prefix="citycc-bench-"))
    ports = procs.free_ports(4)
    base = load_settings({}, run_dir=run_dir, broker_port=ports[0], clickhouse_port=ports[1],
                         clickhouse_http_port=ports[2], cockpit_port=ports[3],
                         log_level="WARNING")
    print(f"citycc pipeline benchmark — {os.cpu_count()} cores, run dir {run_dir}")
    write_test_users(base.users_path)   # the cockpit's big screen signs in as 大屏
    with infra.running(base):
        # 1. backlog: raw ceiling and the worker's drain rate over the same data
        s = base.with_overrides(topic_prefix="drain", worker_id="bench-drain",
                                clickhouse_database="bench_drain")
        _prepare(s)
        start = now_ms() - int(args.backlog_seconds * 1000) - 5000
        total = asyncio.run(preload(s, 4.0, args.backlog_seconds, start))
        ceiling = asyncio.run(raw_ceiling(s, total))
        worker = spawn(s, ["worker"], run_dir / "drain-worker.log")
        try:
            wait_landed(s, 1, 120)
            t_first = time.monotonic()
            first = landed(s)
            wait_landed(s, total, 600)
            drain = (total - first) / (time.monotonic() - t_first)
        finally:
            stop(worker)
        print(f"\nbacklog: {total:,} events (city-4x, {args.backlog_seconds:.0f} s)")
        print(f"  raw aiokafka consume+decode ceiling: {ceiling:12,.0f} events/s")
        print(f"  worker drain (validate+detect+sink): {drain:12,.0f} events/s")
        # 2. live city at each scale
        print(f"\nlive, real-time simulator, {args.seconds:.0f} s per scale, one worker:")
        print(f"  {'scale':>6} {'produced/s':>11} {'landed/s':>10} {'backlog':>8} "
              f"{'alerts':>6} {'p50 ms':>7} {'p99 ms':>7} {'detect p50':>10}")
        for scale in [float(x) for x in args.scales.split(",")]:
            s = base.with_overrides(topic_prefix=f"live{int(scale)}",
                                    worker_id=f"bench-live-{int(scale)}",
                                    clickhouse_database=f"bench_live{int(scale)}")
            _prepare(s)
            worker = spawn(s, ["worker"], run_dir / f"worker-{scale}.log")
            cockpit = spawn(s, ["cockpit"], run_dir / f"cockpit-{scale}.log")
            try:
                procs.wait_until(lambda: procs.accepts(s.cockpit_port), 30, "cockpit")
                asyncio.run(warm_up(s))
                wait_landed(s, 1, 120)  # the worker has its partitions
                r = asyncio.run(live_run(s, scale, args.seconds))
            finally:
                stop(worker)
                stop(cockpit)
            print(f"  {scale:>5.0f}x {r['produced_per_s']:>11,.0f} {r['landed_per_s']:>10,.0f}"
                  f" {r['backlog_at_end']:>8,} {r['alerts']:>6} {r['p50_ms']:>7.0f}"
                  f" {r['p99_ms']:>7.0f} {r['detect_p50_ms']:>10.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
