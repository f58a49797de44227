"""``citycc run``/``stop``/``restart``/``status``: the whole command center as local processes.

The broker and ClickHouse come from :mod:`deploy.infra`; the worker, the cockpit and the
simulator are ``citycc`` subprocesses (:mod:`citycc.apps`) kept running by the supervisor
(:mod:`citycc.supervisor`): in the foreground under ``citycc run``, as a background
``citycc supervise`` under ``citycc run --detach``.
"""

from __future__ import annotations

import json
import signal
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from citycc import apps
from citycc.settings import Settings
from deploy import infra, procs
from deploy.supervision import parse_status
from streams.progress import processing_since, progress_path

READY_DEADLINE_S = 120.0
STOP_SUPERVISOR_S = 90.0   # it stops the worker (up to 15 s + 10 s) and the rest first


def cockpit_feed_connected(settings: Settings) -> bool:
    """The cockpit answers ``/healthz`` and its Kafka feed is connected."""
    with urllib.request.urlopen(f"{settings.cockpit_url}healthz", timeout=1.0) as resp:
        return bool(resp.status == 200 and json.load(resp).get("feed") == "connected")


def worker_processing(settings: Settings) -> bool:
    """The running worker process has taken input (its group joined, partitions assigned)."""
    pid = apps.running(settings, "worker")
    path = progress_path(settings.run_dir, settings.worker_id)
    return pid is not None and processing_since(path, pid) is not None


def ready(settings: Settings) -> bool:
    """The first alert path is live: the worker processes input and the cockpit's feed is
    connected (an alert raised now reaches the screen)."""
    return worker_processing(settings) and cockpit_feed_connected(settings)


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


def _banner(settings: Settings, scale: float, login: str) -> str:
    return (f"\ncitycc is running: simulated {settings.city} at scale {scale}\n"
            f"  cockpit:  {settings.cockpit_url}   (dispatcher console)\n"
            f"  screen:   {settings.cockpit_url.rstrip('/')}/screen   (the hall's big screen)\n"
            f"  metrics:  {settings.cockpit_url.rstrip('/')}/metrics\n"
            f"  sign in:  {login}\n"
            f"  logs:     {apps.app_dir(settings)}\n"
            f"  restart:  citycc restart worker|cockpit|simulator\n"
            f"  stop:     make stop   (or Ctrl-C here)\n")


def run_all(settings: Settings, *, scale: float, seed: int, detach: bool) -> int:
    """Bring everything up under a supervisor; print the cockpit URL once the first alert
    path is live; unless detached, supervise here until Ctrl-C (which stops everything)."""
    from citycc.cli import _prepare
    from citycc.supervisor import supervise
    running = apps.running(settings, apps.SUPERVISOR)
    if running is not None:
        print(f"citycc is already running (supervisor pid {running}); "
              f"cockpit: {settings.cockpit_url}", file=sys.stderr)
        return 1
    from citycc.accounts import ensure_demo_users
    login = ensure_demo_users(settings)   # nothing is open: a demo user of each role
    print("starting broker and ClickHouse ...", flush=True)
    infra.up(settings)
    _prepare(settings)
    cmds = apps.commands(settings, scale=scale, seed=seed)
    if detach:
        pid = apps.start_process(settings, apps.SUPERVISOR, [
            "supervise", "--scale", str(scale), "--seed", str(seed)])
        procs.wait_until(lambda: ready(settings), READY_DEADLINE_S,
                         "the worker to process and the cockpit feed to connect",
                         logs=[apps.logfile(settings, n)
                               for n in (apps.SUPERVISOR, "worker", "cockpit")], pid=pid)
        print(_banner(settings, scale, login), flush=True)
        return 0
    started, announced = time.monotonic(), {"done": False, "warned": False}

    def announce() -> None:
        if announced["done"]:
            return
        try:
            live = ready(settings)
        except (OSError, ValueError):  # not answering yet, or not a JSON health answer
            live = False
        if live:
            announced["done"] = True
            print(_banner(settings, scale, login), flush=True)
        elif time.monotonic() - started > READY_DEADLINE_S and not announced["warned"]:
            announced["warned"] = True
            print(f"still waiting for the worker to process input; see the logs in "
                  f"{apps.app_dir(settings)}", file=sys.stderr, flush=True)

    signum = supervise(settings, cmds, on_tick=announce)
    if signum == signal.SIGINT:  # Ctrl-C here: everything; SIGTERM (citycc stop): the apps
        stop_infra(settings)
    return 0


def stop_infra(settings: Settings) -> None:
    for name, pid in infra.down(settings).items():
        if pid:
            print(f"stopped {name} (pid {pid})")


def stop_all(settings: Settings, *, keep_infra: bool = False) -> None:
    """Stop the supervisor (it stops what it supervises), any app process left, and unless
    ``keep_infra`` the broker and ClickHouse; all by recorded PID."""
    pid = apps.stop_process(settings, apps.SUPERVISOR, STOP_SUPERVISOR_S)
    if pid:
        print(f"stopped supervisor (pid {pid})")
    for name in reversed(apps.APP_PROCESSES):
        pid = apps.stop_process(settings, name)
        if pid:
            print(f"stopped {name} (pid {pid})")
    if not keep_infra:
        stop_infra(settings)


def restart(settings: Settings, name: str, deadline_s: float = 60.0) -> int:
    """``citycc restart NAME``: stop the process by its PID and have it started again, by the
    supervisor if one runs (never a second copy), else here with the same command line.
    Returns the new PID."""
    old = procs.read_pidfile(apps.pidfile(settings, name))
    if apps.running(settings, apps.SUPERVISOR) is not None:
        previous = apps.running(settings, name)
        if previous is not None:  # else it is waiting for its backoff: the supervisor starts it
            apps.restart_request(settings, name).touch()
            apps.stop_process(settings, name)

        def successor() -> int:
            pid = apps.running(settings, name)
            return pid if pid is not None and pid != previous else 0
        return procs.wait_until(successor, deadline_s, f"the supervisor to restart {name}",
                                logs=[apps.logfile(settings, apps.SUPERVISOR)])
    if old is None or apps.running(settings, name) is None:
        raise procs.DeployError(f"{name} is not running: start everything with `citycc run`")
    with procs.locked(apps.app_dir(settings) / f"{name}.restart.lock"):
        apps.stop_process(settings, name)
        return apps.start_argv(settings, name, old.argv)


def status_all(settings: Settings) -> dict[str, Any]:
    out: dict[str, Any] = dict(infra.status(settings))
    for name in (*apps.APP_PROCESSES, apps.SUPERVISOR):
        out[name] = {"pid": apps.running(settings, name),
                     "log": str(apps.logfile(settings, name))}
    try:
        out["restarts"] = parse_status(json.loads(apps.status_path(settings).read_text()))
    except (OSError, ValueError):  # no supervisor has run here, or a torn file
        out["restarts"] = None
    return out
