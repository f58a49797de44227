"""The worker's progress file: proof, for ``citycc run`` and the supervisor, that a worker
process has joined its group and is processing input.

``run_dir/app/progress-<worker_id>.json`` holds the PID of the worker process, when it
started, when it took its first batch of input messages and how many it has taken. The input
agents count every batch (:meth:`Progress.note`, no I/O); a timer writes the file when the
count changed (atomic replace), so the hot path does no file I/O.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import orjson

WRITE_INTERVAL_S = 0.5


def progress_path(run_dir: Path, worker_id: str) -> Path:
    return Path(run_dir) / "app" / f"progress-{worker_id}.json"


class Progress:
    """Input messages taken by one worker process."""

    def __init__(self, path: Path, pid: int, started_ms: int) -> None:
        self.path, self.pid, self.started_ms = path, pid, started_ms
        self.messages = self.batches = 0
        self.first_batch_ms: int | None = None
        self.last_batch_ms: int | None = None
        self._written = -1

    def note(self, messages: int, now_ms: int) -> None:
        self.messages += messages
        self.batches += 1
        if self.first_batch_ms is None:
            self.first_batch_ms = now_ms
        self.last_batch_ms = now_ms

    def to_dict(self) -> dict[str, Any]:
        return {"pid": self.pid, "started_ms": self.started_ms,
                "first_batch_ms": self.first_batch_ms, "last_batch_ms": self.last_batch_ms,
                "batches": self.batches, "messages": self.messages}

    def write_if_changed(self) -> bool:
        if self.batches == self._written:
            return False
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f"{self.path.name}.{self.pid}.tmp")
        tmp.write_bytes(orjson.dumps(self.to_dict()))
        os.replace(tmp, self.path)
        self._written = self.batches
        return True


def read_progress(path: Path) -> dict[str, Any] | None:
    """The progress record in ``path``; None if missing or not one (never raises)."""
    try:
        obj = orjson.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    keys = ("pid", "started_ms", "batches", "messages")
    if not isinstance(obj, dict) or not all(isinstance(obj.get(k), int) for k in keys):
        return None
    first = obj.get("first_batch_ms")
    return obj if first is None or isinstance(first, int) else None


def processing_since(path: Path, pid: int) -> int | None:
    """Wall-clock ms at which worker process ``pid`` took its first input batch, or None if
    it has not (yet) (the file may still be a predecessor's)."""
    record = read_progress(path)
    if record is None or record["pid"] != pid:
        return None
    first = record.get("first_batch_ms")
    return first if isinstance(first, int) else None
