"""Daemon subprocesses tracked by PID files, guarded against PID reuse.

A PID file holds the PID on its first line and, on the second, a JSON record of the argv,
executable and kernel start time of the process. :func:`stop` signals a PID only while
``/proc`` shows that same start time and that same argv (or, for a process that retitled
itself with setproctitle, as Faust does when that package is installed, the same executable).
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

# Popen objects of daemons started by this process, so they get reaped (no zombies).
_children: dict[int, subprocess.Popen[bytes]] = {}
# Return codes of those children once reaped (negative: killed by that signal).
_exit_codes: dict[int, int] = {}


class DeployError(RuntimeError):
    """A local service could not be installed, started, checked or stopped."""


@dataclass(frozen=True)
class PidRecord:
    pid: int
    argv: tuple[str, ...]
    starttime: int
    exe: str | None = None


def _proc_stat(pid: int) -> tuple[str, int] | None:
    """(state, starttime) of ``pid`` from ``/proc``, or None if there is no such process."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    fields = raw[raw.rindex(")") + 2:].split()  # the command name may contain spaces
    return fields[0], int(fields[19])


def _cmdline(pid: int) -> tuple[str, ...] | None:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return tuple(part.decode(errors="replace") for part in raw.split(b"\0")[:-1])


def _exe(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/exe")
    except OSError:  # gone, exiting, or not ours to inspect
        return None


def is_alive(pid: int) -> bool:
    """True if ``pid`` exists and is not a zombie (reaps it if it is our child)."""
    child = _children.get(pid)
    if child is not None and child.poll() is not None:
        del _children[pid]
        _exit_codes[pid] = child.returncode
        return False
    stat = _proc_stat(pid)
    return stat is not None and stat[0] not in ("Z", "X")


def exit_status(pid: int, wait_s: float = 0.0) -> int | None:
    """Return code of a child this process started (negative: killed by that signal), waiting
    up to ``wait_s`` for it to be reaped; None if unknown (still running, or not our child).

    Wait when the child was seen gone: a big process that is exiting already has no command
    line or executable in ``/proc`` (so it no longer matches its PID file) while it is still
    freeing its memory, before it becomes a zombie that can be reaped."""
    child = _children.get(pid)
    if child is not None:
        try:
            child.wait(timeout=wait_s)
        except subprocess.TimeoutExpired:
            return None
        is_alive(pid)
    return _exit_codes.get(pid)


def read_pidfile(pidfile: Path) -> PidRecord | None:
    """The record in ``pidfile``, or None if it is missing or unreadable."""
    try:
        pid_line, meta_line = pidfile.read_text().splitlines()[:2]
        meta = json.loads(meta_line)
        return PidRecord(int(pid_line), tuple(meta["argv"]), int(meta["starttime"]),
                         meta.get("exe"))
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        return None


def _matches(record: PidRecord) -> bool:
    stat = _proc_stat(record.pid)
    if not is_alive(record.pid) or stat is None or stat[1] != record.starttime:
        return False
    return _cmdline(record.pid) == record.argv or (
        record.exe is not None and _exe(record.pid) == record.exe)


def _gone(record: PidRecord) -> bool:
    """The recorded process has exited (its PID is free, a zombie, or reused)."""
    stat = _proc_stat(record.pid)
    return not is_alive(record.pid) or stat is None or stat[1] != record.starttime


def running_pid(pidfile: Path) -> int | None:
    """PID of the live process recorded in ``pidfile`` (same identity), else None."""
    record = read_pidfile(pidfile)
    return record.pid if record is not None and _matches(record) else None


def start(argv: Sequence[str], *, pidfile: Path, logfile: Path,
          env: Mapping[str, str] | None = None, cwd: Path | None = None) -> int:
    """Start ``argv`` detached (own session), output appended to ``logfile``; write ``pidfile``."""
    pidfile.parent.mkdir(parents=True, exist_ok=True)
    logfile.parent.mkdir(parents=True, exist_ok=True)
    with open(logfile, "ab") as log:
        if log.tell() > 0:
            log.write(b"\n")
        log.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} starting: {' '.join(argv)}\n"
                  .encode())
        log.flush()
        try:
            child = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=log,
                                     stderr=subprocess.STDOUT, start_new_session=True,
                                     env=None if env is None else dict(env), cwd=cwd)
        except OSError as exc:
            raise DeployError(f"cannot start {argv[0]}: {exc}") from exc
    _children[child.pid] = child
    write_pidfile(pidfile, child.pid, argv)
    return child.pid


def write_pidfile(pidfile: Path, pid: int, argv: Sequence[str] | None = None) -> PidRecord:
    """Record the live process ``pid`` (``argv``, default its command line from ``/proc``;
    executable; start time) in ``pidfile``."""
    stat = _proc_stat(pid)
    record = PidRecord(pid, tuple(argv) if argv is not None else (_cmdline(pid) or ()),
                       stat[1] if stat is not None else -1, _exe(pid))
    meta = {"argv": list(record.argv), "starttime": record.starttime, "exe": record.exe}
    pidfile.parent.mkdir(parents=True, exist_ok=True)
    tmp = pidfile.with_name(f"{pidfile.name}.{os.getpid()}.tmp")
    tmp.write_text(f"{pid}\n{json.dumps(meta)}\n")
    os.replace(tmp, pidfile)
    return record


def _unlink_if_same(pidfile: Path, record: PidRecord) -> None:
    """Remove ``pidfile`` only while it still names ``record``'s process: a supervisor may
    have started the next one (and written its own record) while this one was stopping."""
    current = read_pidfile(pidfile)
    if current is None or (current.pid, current.starttime) == (record.pid, record.starttime):
        pidfile.unlink(missing_ok=True)


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (created) for the block: check-then-start of
    one service by two processes at once cannot start it twice."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _signal(record: PidRecord, sig: signal.Signals) -> None:
    """Send ``sig`` via a pidfd opened before the identity check, so a reused PID is safe."""
    try:
        fd = os.pidfd_open(record.pid)
    except ProcessLookupError:
        return
    except OSError:  # pidfd unsupported (old kernel): fall back to a checked kill
        if _matches(record):
            os.kill(record.pid, sig)
        return
    try:
        if _matches(record):
            signal.pidfd_send_signal(fd, sig)
    except ProcessLookupError:
        pass
    finally:
        os.close(fd)


def stop(pidfile: Path, timeout: float = 15.0) -> int | None:
    """SIGTERM the process recorded in ``pidfile``, SIGKILL after ``timeout`` s.

    Returns the PID that was stopped, or None if the file was missing or stale (a stale
    file is removed). Never signals a process that is not the one recorded (see module doc).
    """
    record = read_pidfile(pidfile)
    if record is None or not _matches(record):
        if record is None:
            pidfile.unlink(missing_ok=True)
        else:
            _unlink_if_same(pidfile, record)  # a successor may have just been recorded
        return None
    _signal(record, signal.SIGTERM)
    try:
        wait_until(lambda: _gone(record), timeout, f"PID {record.pid} to exit on SIGTERM")
    except DeployError:
        _signal(record, signal.SIGKILL)
        wait_until(lambda: _gone(record), 10.0, f"PID {record.pid} to exit on SIGKILL")
    if record.pid in _children:
        is_alive(record.pid)  # reap it, keeping its exit status
    _unlink_if_same(pidfile, record)
    return record.pid


def tail(path: Path, lines: int = 30) -> str:
    """Last ``lines`` lines of a text file ("" if it does not exist)."""
    try:
        with open(path, "rb") as handle:
            handle.seek(max(0, handle.seek(0, os.SEEK_END) - 64 * 1024))
            data = handle.read()
    except FileNotFoundError:
        return ""
    return "\n".join(data.decode(errors="replace").splitlines()[-lines:])


def wait_until(predicate: Callable[[], T], deadline: float, what: str, *,
               logs: Sequence[Path] = (), pid: int | None = None,
               interval: float = 0.1) -> T:
    """Poll ``predicate`` until it returns a truthy value (returned) or ``deadline`` s pass.

    Exceptions from the predicate count as "not yet". If ``pid`` is given and that process
    dies, fail at once. Errors name ``what`` and include the tail of each of ``logs``.
    """
    end = time.monotonic() + deadline
    last_exc: BaseException | None = None
    while True:
        try:
            result = predicate()
            if result:
                return result
        except Exception as exc:  # noqa: BLE001 - any failure means "not ready yet"
            last_exc = exc
        if pid is not None and not is_alive(pid):
            problem = f"process {pid} exited while waiting for {what}"
            break
        if time.monotonic() >= end:
            problem = f"timed out after {deadline:.1f}s waiting for {what}"
            break
        time.sleep(interval)
    parts = [problem + (f" (last error: {last_exc!r})" if last_exc else "")]
    for log in logs:
        parts.append(f"--- last lines of {log}:\n{tail(log) or '(empty or missing)'}")
    raise DeployError("\n".join(parts)) from last_exc


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """True if something listens on ``host:port`` (a bind attempt fails)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on ``host`` that is free right now (for tests and ad-hoc instances)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def free_ports(n: int, host: str = "127.0.0.1") -> list[int]:
    """``n`` distinct ports free right now: separate :func:`free_port` calls may return the
    same port (the kernel hands a released one out again), and two services told to use
    one port make the second fail with "Address already in use"."""
    ports: set[int] = set()
    while len(ports) < n:
        ports.add(free_port(host))
    return sorted(ports)


def listening(port: int) -> bool:
    """True if a local socket listens on ``port`` (read from /proc/net, no connection made).

    Cheaper and quieter than connecting: servers log nothing and have no handler to tear down.
    """
    hex_port = f":{port:04X}"
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except FileNotFoundError:
            continue
        for row in rows:
            cols = row.split()
            if cols[1].endswith(hex_port) and cols[3] == "0A":  # 0A: TCP_LISTEN
                return True
    return False


def accepts(port: int, host: str = "127.0.0.1", timeout: float = 0.5) -> bool:
    """True if a TCP connection to ``host:port`` succeeds."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False
