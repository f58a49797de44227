"""deploy.procs: start/stop daemons through PID files, PID-reuse guard, polling with deadlines."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from deploy import procs
from deploy.procs import DeployError


def _starttime(pid: int) -> int:
    stat = procs._proc_stat(pid)
    assert stat is not None
    return stat[1]


@pytest.fixture
def foreign() -> Iterator[subprocess.Popen[bytes]]:
    """A process this test started without procs.start (stands in for "someone else's")."""
    child = subprocess.Popen(["sleep", "60"])
    yield child
    child.kill()
    child.wait()


def test_start_and_stop_sleep(tmp_path: Path) -> None:
    pidfile, logfile = tmp_path / "run" / "sleep.pid", tmp_path / "run" / "sleep.log"
    pid = procs.start(["sleep", "60"], pidfile=pidfile, logfile=logfile)

    assert procs.is_alive(pid)
    assert procs.running_pid(pidfile) == pid
    assert pidfile.read_text().splitlines()[0] == str(pid)
    assert "starting: sleep 60" in logfile.read_text()

    assert procs.stop(pidfile, timeout=5.0) == pid
    assert not procs.is_alive(pid)
    assert not pidfile.exists()
    assert procs.stop(pidfile) is None  # idempotent


def test_stop_escalates_to_sigkill(tmp_path: Path) -> None:
    pidfile, logfile = tmp_path / "stubborn.pid", tmp_path / "stubborn.log"
    code = ("import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
            "print('TERM', 'ignored', flush=True); time.sleep(60)")
    pid = procs.start([sys.executable, "-c", code], pidfile=pidfile, logfile=logfile)
    # the log starts with the command line: wait for the printed line, not the source text
    procs.wait_until(lambda: "TERM ignored" in logfile.read_text(), 10.0,
                     "the child to ignore TERM",
                     logs=[logfile], pid=pid)

    assert procs.stop(pidfile, timeout=0.5) == pid
    assert not procs.is_alive(pid)


def test_stop_refuses_pid_with_other_cmdline(tmp_path: Path,
                                             foreign: subprocess.Popen[bytes]) -> None:
    pidfile = tmp_path / "guard.pid"
    starttime = _starttime(foreign.pid)
    pidfile.write_text(f"{foreign.pid}\n"
                       f"{json.dumps({'argv': ['sleep', '61'], 'starttime': starttime})}\n")

    assert procs.running_pid(pidfile) is None
    assert procs.stop(pidfile, timeout=1.0) is None
    assert foreign.poll() is None, "a process with another cmdline must not be signalled"
    assert not pidfile.exists(), "a stale PID file is removed"


def test_stop_accepts_retitled_process_by_executable(tmp_path: Path,
                                                     foreign: subprocess.Popen[bytes]) -> None:
    """A process that rewrote its cmdline (setproctitle) is still ours if the exe matches."""
    pidfile = tmp_path / "retitled.pid"
    meta = {"argv": ["faust", "-worker-"], "starttime": _starttime(foreign.pid),
            "exe": os.readlink(f"/proc/{foreign.pid}/exe")}
    pidfile.write_text(f"{foreign.pid}\n{json.dumps(meta)}\n")

    assert procs.running_pid(pidfile) == foreign.pid
    assert procs.stop(pidfile, timeout=5.0) == foreign.pid
    assert foreign.wait(timeout=5.0) != 0


def test_stop_refuses_pid_with_other_start_time(tmp_path: Path,
                                                foreign: subprocess.Popen[bytes]) -> None:
    """Same PID and argv but another start time: the PID was reused."""
    pidfile = tmp_path / "reused.pid"
    starttime = _starttime(foreign.pid)
    pidfile.write_text(f"{foreign.pid}\n"
                       f"{json.dumps({'argv': ['sleep', '60'], 'starttime': starttime - 1})}\n")

    assert procs.stop(pidfile, timeout=1.0) is None
    assert foreign.poll() is None


def test_stale_and_garbage_pidfiles(tmp_path: Path) -> None:
    pidfile, logfile = tmp_path / "gone.pid", tmp_path / "gone.log"
    pid = procs.start(["true"], pidfile=pidfile, logfile=logfile)
    procs.wait_until(lambda: not procs.is_alive(pid), 5.0, "`true` to exit")
    assert procs.running_pid(pidfile) is None
    assert procs.stop(pidfile) is None
    assert not pidfile.exists()

    pidfile.write_text("not a pid\n")
    assert procs.read_pidfile(pidfile) is None
    assert procs.stop(pidfile) is None


def test_start_missing_binary(tmp_path: Path) -> None:
    with pytest.raises(DeployError, match="cannot start"):
        procs.start([str(tmp_path / "no-such-binary")], pidfile=tmp_path / "x.pid",
                    logfile=tmp_path / "x.log")


def test_wait_until_returns_value_and_tolerates_exceptions() -> None:
    calls: Iterator[Exception | int] = iter([ValueError("not yet"), 0, 42])

    def predicate() -> int:
        item = next(calls)
        if isinstance(item, Exception):
            raise item
        return item

    assert procs.wait_until(predicate, 5.0, "the answer", interval=0.01) == 42


def test_wait_until_timeout_includes_log_tail(tmp_path: Path) -> None:
    log = tmp_path / "svc.log"
    log.write_text("".join(f"line {i}\n" for i in range(100)) + "FATAL: port busy\n")

    def predicate() -> bool:
        raise ConnectionRefusedError("refused")

    with pytest.raises(DeployError) as info:
        procs.wait_until(predicate, 0.2, "the service", logs=[log], interval=0.05)
    message = str(info.value)
    assert "timed out after 0.2s waiting for the service" in message
    assert "FATAL: port busy" in message and "line 99" in message and "line 1\n" not in message
    assert isinstance(info.value.__cause__, ConnectionRefusedError)


def test_wait_until_fails_fast_when_process_dies(tmp_path: Path) -> None:
    pidfile, logfile = tmp_path / "crash.pid", tmp_path / "crash.log"
    code = "import sys; print('boom: bad config', flush=True); sys.exit(3)"
    pid = procs.start([sys.executable, "-c", code], pidfile=pidfile, logfile=logfile)

    with pytest.raises(DeployError, match=f"process {pid} exited") as info:
        procs.wait_until(lambda: False, 30.0, "health", logs=[logfile], pid=pid)
    assert "boom: bad config" in str(info.value)


def test_ports() -> None:
    port = procs.free_port()
    assert not procs.port_in_use(port) and not procs.accepts(port)
    assert not procs.listening(port)
    with socket.socket() as server:
        server.bind(("127.0.0.1", port))
        assert procs.port_in_use(port) and not procs.listening(port)  # bound, not listening
        server.listen()
        assert procs.port_in_use(port) and procs.accepts(port) and procs.listening(port)


def test_stop_keeps_the_record_of_a_successor(tmp_path: Path) -> None:
    """A supervisor may start the next process (and write its PID file) while ``stop`` still
    waits for the old one to exit: ``stop`` must not delete the successor's record, or the
    successor runs unrecorded and a second one gets started."""
    pidfile, logfile = tmp_path / "svc.pid", tmp_path / "svc.log"
    successor_file = tmp_path / "next.pid"
    successor = procs.start(["sleep", "60"], pidfile=successor_file, logfile=logfile)
    code = ("import os, signal, sys, time\n"
            "def term(*_):\n"
            f"    os.replace({str(successor_file)!r}, {str(pidfile)!r}); sys.exit(0)\n"
            "signal.signal(signal.SIGTERM, term)\n"
            "print('handler', 'set', flush=True)\n"
            "time.sleep(60)\n")
    pid = procs.start([sys.executable, "-c", code], pidfile=pidfile, logfile=logfile)
    # (the log also holds the command line: wait for the printed line, not the source)
    procs.wait_until(lambda: "handler set" in logfile.read_text(), 10.0, "the child's handler",
                     logs=[logfile], pid=pid)
    try:
        assert procs.stop(pidfile, timeout=5.0) == pid
        assert procs.running_pid(pidfile) == successor
    finally:
        os.kill(successor, 9)


def test_exit_status_of_a_child(tmp_path: Path) -> None:
    killed = procs.start(["sleep", "60"], pidfile=tmp_path / "a.pid", logfile=tmp_path / "a.log")
    failed = procs.start([sys.executable, "-c", "raise SystemExit(3)"],
                         pidfile=tmp_path / "b.pid", logfile=tmp_path / "b.log")
    assert procs.exit_status(killed) is None  # still running
    os.kill(killed, 9)
    procs.wait_until(lambda: not procs.is_alive(killed), 5.0, "sleep to die")
    procs.wait_until(lambda: not procs.is_alive(failed), 10.0, "the child to exit")
    assert procs.exit_status(killed) == -9
    assert procs.exit_status(failed) == 3
    assert procs.exit_status(os.getpid()) is None  # not our child


def test_exit_status_waits_for_an_exiting_child(tmp_path: Path) -> None:
    """A supervisor sees a big process gone from /proc before it can be reaped: the exit
    status must still be read (else the restart is logged as "exited", reason unknown)."""
    pid = procs.start([sys.executable, "-c", "import time; time.sleep(0.5); raise SystemExit(4)"],
                      pidfile=tmp_path / "c.pid", logfile=tmp_path / "c.log")
    assert procs.exit_status(pid) is None          # not yet
    assert procs.exit_status(pid, wait_s=10.0) == 4


def test_locked_excludes_a_second_holder(tmp_path: Path) -> None:
    lock = tmp_path / "svc.lock"
    code = ("import sys; from deploy import procs; from pathlib import Path\n"
            f"with procs.locked(Path({str(lock)!r})): print('got it', flush=True)\n")
    with procs.locked(lock):
        other = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                                 env={**os.environ, "PYTHONPATH": str(Path.cwd())})
        with pytest.raises(subprocess.TimeoutExpired):
            other.communicate(timeout=1.0)  # blocked while we hold the lock
    out, _ = other.communicate(timeout=10.0)
    assert out == b"got it\n"
