"""citycc.supervisor on real (short-lived) ``citycc`` processes, no broker needed: a process
that exits is started again after the backoff, the exit code is recorded in the status file,
and a process found running is adopted, not started twice."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from citycc import apps
from citycc.settings import load_settings
from citycc.supervisor import Supervisor
from deploy import procs
from deploy.supervision import Backoff

FAILS = ["alerts", "at", "not-a-time"]  # exits with code 2 at once, touches nothing


def test_a_failing_process_is_restarted_after_its_backoff(tmp_path: Path) -> None:
    s = load_settings({}, run_dir=tmp_path)
    sup = Supervisor(s, {"worker": FAILS}, Backoff(initial_s=5.0, max_s=10.0))
    sup.tick(0.0, 0)
    first = sup.states["worker"].pid
    assert first is not None
    procs.wait_until(lambda: apps.running(s, "worker") is None, 30.0, "the process to exit",
                     logs=[apps.logfile(s, "worker")])
    sup.tick(1.0, 1_000)                       # noticed: exit code 2, restart due at 6.0
    status = json.loads(apps.status_path(s).read_text())["processes"]["worker"]
    assert status["last_reason"] == {"kind": "exit", "code": 2, "signal": None}
    assert status["next_start_ms"] == 6_000 and status["restarts"] == 0
    sup.tick(5.9, 5_900)
    assert sup.states["worker"].pid is None    # still backing off
    sup.tick(6.0, 6_000)
    second = sup.states["worker"].pid
    assert second not in (None, first)
    status = json.loads(apps.status_path(s).read_text())["processes"]["worker"]
    assert status["restarts"] == 1 and status["last_restart_ms"] == 6_000
    assert "alerts at not-a-time" in apps.logfile(s, "worker").read_text()


def test_a_running_process_is_adopted_not_started_again(tmp_path: Path) -> None:
    s = load_settings({}, run_dir=tmp_path)
    pid = procs.start(["sleep", "30"], pidfile=apps.pidfile(s, "simulator"),
                      logfile=apps.logfile(s, "simulator"))
    try:
        sup = Supervisor(s, {"simulator": ["simulate"]})
        sup.tick(0.0, 0)
        assert sup.states["simulator"].pid == pid and apps.running(s, "simulator") == pid
        assert sup.states["simulator"].restarts == 0
    finally:
        procs.stop(apps.pidfile(s, "simulator"), 5.0)


def test_restart_without_a_supervisor_starts_the_same_command_once(tmp_path: Path) -> None:
    from citycc.services import restart
    s = load_settings({}, run_dir=tmp_path)
    old = procs.start(["sleep", "30"], pidfile=apps.pidfile(s, "cockpit"),
                      logfile=apps.logfile(s, "cockpit"))
    try:
        new = restart(s, "cockpit")
        assert new != old and not procs.is_alive(old)
        assert apps.running(s, "cockpit") == new
        record = procs.read_pidfile(apps.pidfile(s, "cockpit"))
        assert record is not None and record.argv == ("sleep", "30")
    finally:
        procs.stop(apps.pidfile(s, "cockpit"), 5.0)


def test_restart_of_a_process_that_is_not_running_is_refused(tmp_path: Path) -> None:
    from citycc.services import restart
    with pytest.raises(procs.DeployError, match="not running"):
        restart(load_settings({}, run_dir=tmp_path), "worker")
