"""The supervisor loop: keeps the worker, the cockpit and the simulator running.

A process that dies is started again after the backoff of :mod:`deploy.supervision` (1 s
doubling to 30 s, never giving up); each restart is logged with the exit code or signal and
the tail of the process's log, and counted in ``run_dir/app/supervisor.json``, which the
cockpit shows on its system panel. The broker and ClickHouse are never touched here: an app
process dying never takes them down. ``citycc restart NAME`` leaves a request file and stops
the process; the supervisor then starts it again at once (see :mod:`citycc.apps`).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import time
from collections.abc import Callable
from typing import Any

from citycc import apps
from citycc.settings import Settings
from deploy import procs
from deploy.supervision import Backoff, ExitReason, ProcessState, status_record

log = logging.getLogger("citycc.supervisor")
TICK_S = 0.5
EXIT_WAIT_S = 10.0  # for a process seen gone to be reaped (see deploy.procs.exit_status)


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


class Supervisor:
    """One pass of :meth:`tick` notices dead processes and starts those that are due."""

    def __init__(self, settings: Settings, commands: dict[str, list[str]],
                 policy: Backoff = Backoff()) -> None:
        self.settings, self.commands, self.policy = settings, commands, policy
        self.states = {name: ProcessState(name) for name in commands}

    def tick(self, now: float, wall: int) -> None:
        changed = False
        for name, args in self.commands.items():
            state = self.states[name]
            pid = apps.running(self.settings, name)
            if pid is not None:
                if pid != state.pid:  # found running, or started by someone else
                    state.started(pid, now, wall)
                    changed = True
                continue
            if state.pid is not None:
                self._exited(state, now, wall)
                changed = True
            if state.due(now):
                try:
                    pid = apps.start_process(self.settings, name, args)
                except procs.DeployError as exc:  # cannot even be started: try again later
                    delay = state.exited(self.policy, ExitReason("unknown"), now, wall)
                    log.error("cannot start %s (%s); trying again in %.0f s", name, exc, delay)
                    changed = True
                    continue
                if state.started(pid, now, wall):
                    log.warning("restarted %s (pid %d), restart %d", name, pid, state.restarts)
                changed = True
        if changed:
            self.write_status(wall)

    def _exited(self, state: ProcessState, now: float, wall: int) -> None:
        old = state.pid
        assert old is not None
        request = apps.restart_request(self.settings, state.name)
        if request.exists():
            request.unlink(missing_ok=True)
            reason = ExitReason("operator")
        else:
            reason = ExitReason.from_returncode(procs.exit_status(old, EXIT_WAIT_S))
        delay = state.exited(self.policy, reason, now, wall)
        logfile = apps.logfile(self.settings, state.name)
        log.warning("%s (pid %d) %s; starting it again in %.0f s. Last lines of %s:\n%s",
                    state.name, old, reason, delay, logfile, procs.tail(logfile, 20))

    def write_status(self, wall: int) -> None:
        path = apps.status_path(self.settings)
        record = status_record(list(self.states.values()), os.getpid(), wall)
        tmp = path.with_name(f"{path.name}.tmp")
        try:
            tmp.write_text(json.dumps(record, indent=1))
            os.replace(tmp, path)
        except OSError as exc:  # the status is for people; supervising goes on without it
            log.error("cannot write %s: %s", path, exc)

    def stop_all(self) -> None:
        """Stop every supervised process (last started first), by PID."""
        for name in reversed(list(self.commands)):
            pid = apps.stop_process(self.settings, name)
            if pid:
                print(f"stopped {name} (pid {pid})", flush=True)


def supervise(settings: Settings, commands: dict[str, list[str]], *,
              on_tick: Callable[[], None] | None = None, policy: Backoff = Backoff()) -> int:
    """Run the supervisor in this process until SIGINT or SIGTERM; then stop the supervised
    processes and return the signal number. Records this process as ``supervisor.pid``."""
    stop = {"signal": 0}

    def on_signal(signum: int, _frame: Any) -> None:
        stop["signal"] = signum

    old = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    own = apps.pidfile(settings, apps.SUPERVISOR)
    procs.write_pidfile(own, os.getpid())
    sup = Supervisor(settings, commands, policy)
    try:
        while not stop["signal"]:
            sup.tick(time.monotonic(), wall_ms())
            if on_tick is not None:
                on_tick()
            time.sleep(TICK_S)  # a signal sets the flag; the loop ends within a tick
        print("stopping ...", flush=True)
        sup.stop_all()
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
        record = procs.read_pidfile(own)
        if record is not None and record.pid == os.getpid():
            own.unlink(missing_ok=True)
    return stop["signal"]
