"""Restart benchmark: kill -9 of the worker and of the cockpit under ``citycc run``.

On a running, supervised stack (``citycc run`` at city-1x; ``--start`` starts one in a
fresh run directory on free ports and stops it afterwards), kills the worker and the cockpit
``--kills`` times each, alternately, ``--gap`` s apart (more than the supervisor's stable
period per process, so each kill is a first failure: 1 s backoff). Meanwhile it produces
marked events at ``--rate`` events/s. Prints:
  * time from kill -9 until the restarted worker takes input again (min/median/max), and
    until the restarted cockpit serves with its feed connected;
  * marked events lost (produced, not in ClickHouse) and duplicate rows (FINAL vs distinct),
    plus redelivered rows before ClickHouse merged them.

Usage: python bench/restart.py [--start] [--scale 1] [--kills 5] [--gap 35] [--rate 100]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from citycc import apps  # noqa: E402
from citycc.services import cockpit_feed_connected  # noqa: E402
from citycc.settings import Settings, load_settings  # noqa: E402
from deploy import procs  # noqa: E402
from deploy.supervision import parse_status  # noqa: E402
from schemas.validate import format_event_time  # noqa: E402
from streams.progress import processing_since, progress_path  # noqa: E402
from warehouse.client import query  # noqa: E402

BATCH = 50


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def citycc(s: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "citycc.cli", *args], cwd=ROOT, text=True,
                          env={**os.environ, **s.to_environ()}, capture_output=True)


class Marked:
    """Produces marked lifeline readings at a steady rate until stopped; counts what the
    broker acknowledged."""

    def __init__(self, s: Settings, rate: float) -> None:
        self.s, self.rate, self.tag = s, rate, f"rb{uuid.uuid4().hex[:8]}"
        self.sent, self.stop = 0, threading.Event()
        self.thread = threading.Thread(target=lambda: asyncio.run(self._run()))

    def event(self, i: int, t: int) -> dict[str, Any]:
        return {"event_id": f"{self.tag}-{i}", "type": "reading",
                "event_time": format_event_time(t), "source": "bench-restart",
                "entity_id": f"WTR-RB-{i % 100:03d}", "lat": 28.19, "lon": 112.99,
                "kind": "water_pressure", "value": 0.3, "unit": "MPa"}

    async def _run(self) -> None:
        producer = AIOKafkaProducer(bootstrap_servers=self.s.bootstrap, acks="all")
        await producer.start()
        try:
            while not self.stop.is_set():
                t = now_ms()
                events = [self.event(self.sent + i, t) for i in range(BATCH)]
                await producer.send_and_wait(self.s.topic("lifeline"),
                                             orjson.dumps({"events": events}))
                self.sent += BATCH
                await asyncio.sleep(BATCH / self.rate)
        finally:
            await producer.stop()


def scalar(s: Settings, sql: str) -> Any:
    return query(s, sql)[0][0]


def kill_and_time(s: Settings, name: str, deadline: float) -> float:
    """kill -9 ``name``; seconds until its successor works again."""
    old = apps.running(s, name)
    if old is None:
        raise SystemExit(f"{name} is not running: start the stack (citycc run) or use --start")
    killed = now_ms()
    os.kill(old, signal.SIGKILL)

    def back() -> int:
        pid = apps.running(s, name)
        if pid is None or pid == old:
            return 0
        if name == "worker":
            return processing_since(progress_path(s.run_dir, s.worker_id), pid) or 0
        return now_ms() if cockpit_feed_connected(s) else 0
    return (procs.wait_until(back, deadline, f"{name} to work again", interval=0.05)
            - killed) / 1000


def summary(xs: list[float]) -> str:
    return f"min {min(xs):.1f} s, median {statistics.median(xs):.1f} s, max {max(xs):.1f} s"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--start", action="store_true", help="start a stack of its own (and stop it)")
    p.add_argument("--scale", type=float, default=1.0, help="city scale of a started stack")
    p.add_argument("--kills", type=int, default=5, help="kills of each process")
    p.add_argument("--gap", type=float, default=35.0, help="seconds between kills")
    p.add_argument("--rate", type=float, default=100.0, help="marked events/s")
    args = p.parse_args()
    s = load_settings()
    if args.start:
        ports = procs.free_ports(4)
        s = s.with_overrides(run_dir=Path(tempfile.mkdtemp(prefix="citycc-restart-")),
                             broker_port=ports[0], clickhouse_port=ports[1],
                             clickhouse_http_port=ports[2], cockpit_port=ports[3])
        up = citycc(s, "run", "--detach", "--scale", str(args.scale))
        if up.returncode != 0:
            print(up.stdout, up.stderr, file=sys.stderr)
            return 1
    marked = Marked(s, args.rate)
    times: dict[str, list[float]] = {"worker": [], "cockpit": []}
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # run the finally: stop the stack
    try:
        marked.thread.start()
        for i in range(args.kills):
            for name in ("worker", "cockpit"):
                time.sleep(args.gap)
                times[name].append(kill_and_time(s, name, 180.0))
                print(f"  kill {i + 1} of {name}: working again after "
                      f"{times[name][-1]:.1f} s", flush=True)
        time.sleep(5)
        marked.stop.set()
        marked.thread.join()
        table = f"{s.clickhouse.database}.events_lifeline"
        where = f"WHERE startsWith(event_id, '{marked.tag}-')"
        final = f"SELECT count() FROM {table} FINAL {where}"
        try:
            procs.wait_until(lambda: scalar(s, final) >= marked.sent, 180.0, "marked events")
        except procs.DeployError as exc:
            print(f"  not every marked event landed: {exc}", file=sys.stderr)
        landed, distinct = scalar(s, final), scalar(s, f"SELECT uniqExact(event_id) "
                                                         f"FROM {table} {where}")
        raw = scalar(s, f"SELECT count() FROM {table} {where}")
        restarts = parse_status(json.loads(apps.status_path(s).read_text()))["processes"]
    finally:
        marked.stop.set()
        if args.start:
            citycc(s, "stop")
    print(f"\nkill -9 under citycc run, {args.kills} times each, {args.gap:.0f} s apart, "
          f"scale {args.scale if args.start else '(of the running stack)'}:")
    print(f"  worker processing again:   {summary(times['worker'])}")
    print(f"  cockpit serving again:     {summary(times['cockpit'])}")
    print(f"  marked events produced:    {marked.sent:,}")
    print(f"  events lost:               {marked.sent - distinct:,}")
    print(f"  duplicate rows (FINAL):    {landed - distinct:,}")
    print(f"  rows redelivered (before merge, collapsed by FINAL): {raw - distinct:,}")
    for name in ("worker", "cockpit"):
        other = restarts[name]["restarts"] - args.kills
        print(f"  {name} restarts not caused by a kill (crashes): {other}"
              + (f"; see {apps.logfile(s, apps.SUPERVISOR)}" if other else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
