"""The supervisor's restart policy and status record: pure (no I/O, no clock; ``now`` is passed).

A supervised process that dies is started again after a delay that doubles with each
consecutive failure, from ``initial_s`` up to ``max_s`` (it never gives up: a command center
keeps trying). A process that ran ``stable_s`` before it died starts the count afresh. A
restart an operator asked for (``citycc restart``) is immediate and is no failure.

The supervisor writes :meth:`ProcessState.to_dict` of each process to ``run_dir/app/
supervisor.json``; the cockpit reads it back with :func:`parse_status` and shows it.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STATUS_FILE = "supervisor.json"
REASON_KINDS = ("signal", "exit", "operator", "unknown")


def status_path(run_dir: Path) -> Path:
    """Where the supervisor of ``run_dir`` keeps its status (and the cockpit reads it)."""
    return Path(run_dir) / "app" / STATUS_FILE


@dataclass(frozen=True)
class Backoff:
    """Delay before the n-th consecutive restart: ``initial_s * factor**(n-1)``, capped."""

    initial_s: float = 1.0
    factor: float = 2.0
    max_s: float = 30.0
    stable_s: float = 60.0

    def __post_init__(self) -> None:
        if self.initial_s < 0 or self.factor < 1 or self.max_s < self.initial_s \
                or self.stable_s < 0:
            raise ValueError(f"invalid backoff {self}")

    def delay(self, failures: int) -> float:
        if failures <= 0:
            return 0.0
        # exponent capped so a long outage cannot overflow the float
        return min(self.max_s, self.initial_s * self.factor ** min(failures - 1, 64))


@dataclass(frozen=True)
class ExitReason:
    """Why a process is gone: killed by a signal, exited with a code, an operator's restart,
    or unknown (not our child, so its status could not be read)."""

    kind: str
    code: int | None = None
    signal: str | None = None

    @classmethod
    def from_returncode(cls, returncode: int | None) -> "ExitReason":
        """From ``Popen.returncode`` (negative: the signal that killed it; None: unknown)."""
        if returncode is None:
            return cls("unknown")
        if returncode < 0:
            try:
                name = signal.Signals(-returncode).name
            except ValueError:
                name = f"signal {-returncode}"
            return cls("signal", signal=name)
        return cls("exit", code=returncode)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "code": self.code, "signal": self.signal}

    def __str__(self) -> str:
        if self.kind == "signal":
            return f"killed by {self.signal}"
        if self.kind == "exit":
            return f"exited with code {self.code}"
        return "restart requested by an operator" if self.kind == "operator" else "exited"


@dataclass
class ProcessState:
    """One supervised process: what runs now and its restart history."""

    name: str
    pid: int | None = None
    started_at: float | None = None     # monotonic s of the current run's start
    failures: int = 0                   # consecutive failures (reset after a stable run)
    restarts: int = 0
    last_restart_ms: int | None = None  # wall clock, for people
    last_reason: ExitReason | None = None
    due_at: float | None = None         # monotonic s when the next start is due
    next_start_ms: int | None = None    # the same, wall clock

    def exited(self, policy: Backoff, reason: ExitReason, now: float, wall_ms: int) -> float:
        """The running process is gone: schedule its restart; returns the delay (s)."""
        stable = self.started_at is not None and now - self.started_at >= policy.stable_s
        if stable:
            self.failures = 0
        if reason.kind != "operator":
            self.failures += 1
        delay = 0.0 if reason.kind == "operator" else policy.delay(self.failures)
        self.pid, self.started_at, self.last_reason = None, None, reason
        self.due_at, self.next_start_ms = now + delay, wall_ms + int(delay * 1000)
        return delay

    def due(self, now: float) -> bool:
        return self.pid is None and (self.due_at is None or now >= self.due_at)

    def started(self, pid: int, now: float, wall_ms: int) -> bool:
        """A process was started (or found running); True if that was a restart."""
        restart = self.due_at is not None
        if restart:
            self.restarts += 1
            self.last_restart_ms = wall_ms
        self.pid, self.started_at, self.due_at, self.next_start_ms = pid, now, None, None
        return restart

    def to_dict(self) -> dict[str, Any]:
        return {"pid": self.pid, "restarts": self.restarts,
                "last_restart_ms": self.last_restart_ms,
                "last_reason": self.last_reason.to_dict() if self.last_reason else None,
                "next_start_ms": self.next_start_ms}


def status_record(states: list[ProcessState], supervisor_pid: int,
                  wall_ms: int) -> dict[str, Any]:
    return {"supervisor_pid": supervisor_pid, "updated_ms": wall_ms,
            "processes": {s.name: s.to_dict() for s in states}}


class StatusError(ValueError):
    """The status file does not hold a supervisor status (code ``bad_status``)."""

    code = "bad_status"


def _opt_int(entry: dict[str, Any], key: str) -> int | None:
    value = entry.get(key)
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    raise StatusError(f"{key} must be an integer or null, not {value!r}")


def parse_status(obj: object) -> dict[str, Any]:
    """Check a decoded status file; returns ``{"processes": {name: entry}}`` with only the
    fields the cockpit shows, or raises :class:`StatusError`."""
    if not isinstance(obj, dict) or not isinstance(obj.get("processes"), dict):
        raise StatusError("not a supervisor status object")
    out: dict[str, Any] = {}
    for name, entry in obj["processes"].items():
        if not isinstance(name, str) or not isinstance(entry, dict):
            raise StatusError(f"bad entry for process {name!r}")
        reason = entry.get("last_reason")
        if reason is not None:
            if not isinstance(reason, dict) or reason.get("kind") not in REASON_KINDS:
                raise StatusError(f"{name}: bad last_reason {reason!r}")
            sig = reason.get("signal")
            if sig is not None and not isinstance(sig, str):
                raise StatusError(f"{name}: bad signal {sig!r}")
            reason = {"kind": reason["kind"], "code": _opt_int(reason, "code"), "signal": sig}
        restarts = _opt_int(entry, "restarts")
        out[name] = {"pid": _opt_int(entry, "pid"), "restarts": restarts or 0,
                     "last_restart_ms": _opt_int(entry, "last_restart_ms"),
                     "last_reason": reason, "next_start_ms": _opt_int(entry, "next_start_ms")}
    return {"processes": out}
