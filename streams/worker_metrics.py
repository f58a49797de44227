"""The worker's figures for Prometheus, kept as a small file the cockpit reads at each scrape.

Why a file and not a port per worker: the worker already proves its progress through files
in the run directory (:mod:`streams.progress`) that the supervisor and the cockpit read;
one more file keeps the whole command center one scrape target (the cockpit's
``/metrics``, :mod:`cockpit_api.metrics`), with no port to choose, open or secure per
worker. The cost: the cockpit and the workers share the run directory (they do under
``citycc run``), and a figure is as old as the file (``written_ms``, at most
:data:`WRITE_INTERVAL_S` while the worker runs).

``run_dir/app/metrics-<worker_id>.json``: the input events taken by stream, the dead
letters by code (every dead letter the worker publishes), the alerts its engine holds by
lifecycle state, and its consumer lag per topic-partition (the end of the partition as
last fetched minus the committed offset). Counters start at zero when the process starts
(Prometheus' ``rate()`` takes the reset). Counting is in memory; a timer writes the file
(atomic replace), so the hot path does no file I/O.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import orjson

log = logging.getLogger(__name__)

WRITE_INTERVAL_S = 1.0
PREFIX = "metrics-"


def metrics_dir(run_dir: Path) -> Path:
    return Path(run_dir) / "app"


def metrics_path(run_dir: Path, worker_id: str) -> Path:
    return metrics_dir(run_dir) / f"{PREFIX}{worker_id}.json"


class WorkerMetrics:
    """What one worker process counts (no I/O but :meth:`write`)."""

    def __init__(self, path: Path, worker_id: str, pid: int) -> None:
        self.path, self.worker_id, self.pid = path, worker_id, pid
        self.events_in: dict[str, int] = {}
        self.dead_letters: dict[str, int] = {}

    def count_events(self, stream: str, n: int) -> None:
        if n:
            self.events_in[stream] = self.events_in.get(stream, 0) + n

    def count_dead(self, records: Iterable[Mapping[str, Any]]) -> None:
        for r in records:
            code = str(r.get("code") or "unknown")
            self.dead_letters[code] = self.dead_letters.get(code, 0) + 1

    def to_dict(self, alerts: Mapping[str, int], lag: Mapping[tuple[str, int], int],
                now_ms: int) -> dict[str, Any]:
        return {"worker_id": self.worker_id, "pid": self.pid, "written_ms": now_ms,
                "events_in": dict(self.events_in), "dead_letters": dict(self.dead_letters),
                "alerts": dict(alerts),
                "lag": [[t, p, n] for (t, p), n in sorted(lag.items())]}

    def write(self, alerts: Mapping[str, int], lag: Mapping[tuple[str, int], int],
              now_ms: int) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f"{self.path.name}.{self.pid}.tmp")
        tmp.write_bytes(orjson.dumps(self.to_dict(alerts, lag, now_ms)))
        os.replace(tmp, self.path)


def consumer_lag(app: Any) -> dict[tuple[str, int], int]:
    """A Faust app's lag per assigned partition: the high watermark its consumer last
    fetched minus the offset committed (Faust's monitor), or the one after the last read
    before the first commit; partitions with neither are left out."""
    out: dict[tuple[str, int], int] = {}
    try:
        assigned = app.consumer.assignment()
    except Exception:   # noqa: BLE001 - not started or between assignments: no figures
        return out
    monitor = app.monitor
    for tp in assigned:
        try:
            end = app.consumer.highwater(tp)
        except Exception:   # noqa: BLE001 - a partition being revoked
            continue
        done = monitor.tp_committed_offsets.get(tp)
        if done is None and tp in monitor.tp_read_offsets:
            done = monitor.tp_read_offsets[tp] + 1
        if end is not None and done is not None:
            out[(tp.topic, tp.partition)] = max(0, int(end) - int(done))
    return out


def read_all(app_dir: Path) -> list[dict[str, Any]]:
    """Every worker's metrics file in ``app_dir`` (sorted by name); one that cannot be
    read or is not a metrics record is logged and left out (never raises)."""
    out: list[dict[str, Any]] = []
    try:
        paths = sorted(Path(app_dir).glob(f"{PREFIX}*.json"))
    except OSError:
        return out
    for path in paths:
        try:
            record = orjson.loads(path.read_bytes())
            _check(record)
        except (OSError, ValueError) as exc:
            log.warning("ignoring the worker metrics file %s: %s", path, exc)
            continue
        out.append(record)
    return out


def _check(record: object) -> None:
    """ValueError unless ``record`` has the shape :meth:`WorkerMetrics.to_dict` writes."""
    if not isinstance(record, dict) or not isinstance(record.get("worker_id"), str):
        raise ValueError("not a worker metrics record")
    for key in ("events_in", "dead_letters", "alerts"):
        part = record.get(key)
        if not isinstance(part, dict) or not all(
                isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool)
                for k, v in part.items()):
            raise ValueError(f"{key!r} is not a mapping of names to counts")
    lag = record.get("lag")
    if not isinstance(lag, list) or not all(
            isinstance(x, list) and len(x) == 3 and isinstance(x[0], str)
            and isinstance(x[1], int) and isinstance(x[2], int) for x in lag):
        raise ValueError("'lag' is not a list of [topic, partition, messages]")
    if not isinstance(record.get("written_ms"), int):
        raise ValueError("'written_ms' is not a time")
