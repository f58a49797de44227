"""``citycc run``/``stop``/``status``: the whole command center as local processes.

The broker and ClickHouse come from :mod:`deploy.infra`; the worker, the cockpit and the
simulator are ``citycc`` subprocesses whose PIDs are recorded under ``run_dir/app``.
"""

from __future__ import annotations

import os
import signal
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from citycc.settings import Settings
from deploy import infra, procs

APP_PROCESSES = ("worker", "cockpit", "simulator")


def _pidfile(settings: Settings, name: str) -> Path:
    return Path(settings.run_dir) / "app" / f"{name}.pid"


def logfile(settings: Settings, name: str) -> Path:
    return Path(settings.run_dir) / "app" / f"{name}.log"


def start_process(settings: Settings, name: str, args: list[str],
                  env: dict[str, str] | None = None) -> int:
    """Start ``citycc <args>`` in the background unless it is already running."""
    pid = procs.running_pid(_pidfile(settings, name))
    if pid is not None:
        return pid
    return procs.start([sys.executable, "-m", "citycc.cli", *args],
                       pidfile=_pidfile(settings, name), logfile=logfile(settings, name),
                       env={**os.environ, **(env or {})})


def stop_process(settings: Settings, name: str) -> int | None:
    return procs.stop(_pidfile(settings, name))


def cockpit_healthy(settings: Settings) -> bool:
    with urllib.request.urlopen(f"{settings.cockpit_url}healthz", timeout=1.0) as resp:
        return bool(resp.status == 200)


def simulate(settings: Settings, *, scale: float, seed: int, rate: float,
             duration_s: float | None, batch_size: int, truth_path: Path | None,
             incidents_per_hour: float, demo_after_s: float | None = None) -> dict[str, Any]:
    """Run the simulated city into the input topics until the duration ends or a signal.

    ``demo_after_s``: also inject one incident of each kind, the first that many seconds
    after the start and then every 30 s, so a new user sees alerts within a minute.
    """
    import asyncio

    from city.profile import load_profile
    from simulator.generate import Simulation
    from simulator.incidents import KINDS
    from simulator.producer import run_producer

    start = time.time_ns() // 1_000_000
    sim = Simulation(load_profile(settings.city), scale=scale, seed=seed, start_ms=start,
                     incidents=incidents_per_hour)
    if demo_after_s is not None:
        for i, kind in enumerate(KINDS):
            sim.inject(kind, start + int((demo_after_s + 30 * i) * 1000))

    async def main() -> dict[str, Any]:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        return await run_producer(settings, sim, rate=rate, duration_s=duration_s,
                                  batch_size=batch_size, truth_path=truth_path,
                                  stop_event=stop)

    return asyncio.run(main())


def run_all(settings: Settings, *, scale: float, seed: int, detach: bool) -> int:
    """Bring everything up, print the cockpit URL, and (unless detached) wait for Ctrl-C."""
    from citycc.cli import _prepare
    print("starting broker and ClickHouse ...", flush=True)
    infra.up(settings)
    _prepare(settings)
    truth = Path(settings.run_dir) / "app" / "ground_truth.jsonl"
    pids = {
        "worker": start_process(settings, "worker", ["worker"]),
        "cockpit": start_process(settings, "cockpit", ["cockpit"]),
        "simulator": start_process(settings, "simulator", [
            "simulate", "--scale", str(scale), "--seed", str(seed), "--rate", "1",
            "--truth", str(truth), "--demo-after", "15"]),
    }
    procs.wait_until(lambda: cockpit_healthy(settings), 60.0, "the cockpit",
                     logs=[logfile(settings, "cockpit")], pid=pids["cockpit"])
    print(f"\ncitycc is running: simulated {settings.city} at scale {scale}\n"
          f"  cockpit:  {settings.cockpit_url}\n"
          f"  logs:     {Path(settings.run_dir) / 'app'}\n"
          f"  stop:     make stop   (or Ctrl-C here)\n", flush=True)
    if detach:
        return 0
    return _wait_and_stop(settings, pids)


def _wait_and_stop(settings: Settings, pids: dict[str, int]) -> int:
    stop = {"signal": 0}

    def on_signal(signum: int, _frame: Any) -> None:
        stop["signal"] = signum

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    code = 0
    while not stop["signal"]:
        dead = [n for n, pid in pids.items() if not procs.is_alive(pid)]
        if dead and not any(_pidfile(settings, n).exists() for n in dead):
            print("stopped from elsewhere (make stop)", flush=True)
            return 0
        if dead:
            print(f"process(es) {dead} exited; see {logfile(settings, dead[0])}:\n"
                  f"{procs.tail(logfile(settings, dead[0]))}", file=sys.stderr)
            code = 1
            break
        time.sleep(1.0)  # supervising children; a signal ends the wait early
    print("stopping ...", flush=True)
    stop_all(settings)
    return code


def stop_all(settings: Settings, *, keep_infra: bool = False) -> None:
    for name in reversed(APP_PROCESSES):
        pid = stop_process(settings, name)
        if pid:
            print(f"stopped {name} (pid {pid})")
    if not keep_infra:
        for name, pid in infra.down(settings).items():
            if pid:
                print(f"stopped {name} (pid {pid})")


def status_all(settings: Settings) -> dict[str, Any]:
    out: dict[str, Any] = dict(infra.status(settings))
    for name in APP_PROCESSES:
        out[name] = {"pid": procs.running_pid(_pidfile(settings, name)),
                     "log": str(logfile(settings, name))}
    return out
