"""The command center's app processes (worker, cockpit, simulator) and where their files are.

Each is a ``citycc`` subprocess recorded under ``run_dir/app``: ``<name>.pid`` (see
:mod:`deploy.procs`), ``<name>.log``, ``<name>.lock`` (held while checking and starting, so
two starters cannot start it twice) and ``<name>.restart`` (an operator asked for a restart:
the supervisor starts it again at once, see :mod:`citycc.supervisor`). The supervisor itself
is recorded as ``supervisor.pid``; its status is ``supervisor.json``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

from citycc.settings import Settings
from deploy import procs
from deploy import supervision

APP_PROCESSES = ("worker", "cockpit", "simulator")
SUPERVISOR = "supervisor"


def app_dir(settings: Settings) -> Path:
    return Path(settings.run_dir) / "app"


def pidfile(settings: Settings, name: str) -> Path:
    return app_dir(settings) / f"{name}.pid"


def logfile(settings: Settings, name: str) -> Path:
    return app_dir(settings) / f"{name}.log"


def restart_request(settings: Settings, name: str) -> Path:
    return app_dir(settings) / f"{name}.restart"


def status_path(settings: Settings) -> Path:
    return supervision.status_path(settings.run_dir)


def commands(settings: Settings, *, scale: float, seed: int) -> dict[str, list[str]]:
    """The ``citycc`` arguments of each app process, in start order."""
    truth = app_dir(settings) / "ground_truth.jsonl"
    # the worker's and the cockpit's unit registry is the simulated city's fleet
    fleet = ["--dispatch-scale", str(scale)]
    return {"worker": ["worker", *fleet], "cockpit": ["cockpit", *fleet],
            "simulator": ["simulate", "--scale", str(scale), "--seed", str(seed),
                          "--rate", "1", "--truth", str(truth), "--demo-after", "15"]}


def citycc_argv(args: Sequence[str]) -> list[str]:
    return [sys.executable, "-m", "citycc.cli", *args]


def start_argv(settings: Settings, name: str, argv: Sequence[str]) -> int:
    """Start ``argv`` as the process ``name`` unless one is running (whose PID is returned)."""
    with procs.locked(app_dir(settings) / f"{name}.lock"):
        pid = procs.running_pid(pidfile(settings, name))
        if pid is not None:
            return pid
        return procs.start(argv, pidfile=pidfile(settings, name),
                           logfile=logfile(settings, name), env=dict(os.environ))


def start_process(settings: Settings, name: str, args: list[str]) -> int:
    """Start ``citycc <args>`` as ``name`` in the background unless it is already running."""
    return start_argv(settings, name, citycc_argv(args))


def stop_process(settings: Settings, name: str, timeout: float = 15.0) -> int | None:
    return procs.stop(pidfile(settings, name), timeout)


def running(settings: Settings, name: str) -> int | None:
    return procs.running_pid(pidfile(settings, name))
