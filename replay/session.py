"""A headless replay session: the warehouse's events of a window through a
:class:`~replay.engine.Replayer`, paced, its outputs kept apart from live operations.

Isolation: the session's outputs go to a database of its own, ``<database>_replay_<session
id>``, made by the same migrations as the live one, with the rows the worker's sink agents
would write for the same records (:func:`streams.sink_decode.topic_decoders`) and the
replayed events as the input agents store them (``events_*``), so every query, KPI and
cockpit history view works on it unchanged; nothing is sent to a broker and
the live database is only read. Optionally every record goes to a JSONL file too. The
summary's ``digest`` (sha256 over every record, :class:`~replay.timeline.Digest`) is the
determinism fingerprint: the same window replayed twice gives the same one.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Callable, Iterable

import orjson

from replay.engine import Replayer
from replay.pace import Pacer
from replay.setup import ReplaySetup
from replay.timeline import Digest, OutRecord
from replay.window import Window
from streams.pipeline import RawMessage
from streams.sink_decode import topic_decoders
from warehouse.client import check_identifier, connect
from warehouse.migrate import migrate
from warehouse.replay_read import count_events, read_window
from warehouse.replay_prefetch import prefetched_window
from warehouse.rows import event_columns, table_for_stream

FLUSH_ROWS = 20_000


def replay_database(live_database: str, session_id: str) -> str:
    return check_identifier(f"{live_database}_replay_{session_id}")


class _Msg(RawMessage):
    """A record as the sink decoders take it (with the dead letters' headers)."""

    def __init__(self, topic: str, offset: int, value: bytes, headers: Any) -> None:
        super().__init__(topic, 0, offset, value)
        object.__setattr__(self, "headers", list(headers))


class OutputWriter:
    """The session's records as warehouse rows (batched by table) and JSONL lines."""

    def __init__(self, client: Any, database: str | None, jsonl: IO[bytes] | None,
                 flush_rows: int = FLUSH_ROWS) -> None:
        self.client, self.database, self.jsonl = client, database, jsonl
        self.decoders = topic_decoders()
        self.pending: dict[str, list[OutRecord]] = {}
        self.events: dict[str, dict[str, list[Any]]] = {}
        self.held = 0
        self.flush_rows = flush_rows
        self.rows: Counter[str] = Counter()
        self.offset = 0

    def add(self, records: Iterable[OutRecord]) -> None:
        for r in records:
            if self.jsonl is not None:
                self.jsonl.write(r.to_json() + b"\n")
            if self.database is not None and r.topic in self.decoders:
                self.pending.setdefault(r.topic, []).append(r)
                self.held += 1
        if self.held >= self.flush_rows:
            self.flush()

    def add_events(self, stream: str, events: list[Any], now: int) -> None:
        """Validated events as the worker's input agent sinks them (events_<stream>)."""
        if self.database is None:
            return
        cols = event_columns(stream, [(e, ts, origin, now) for e, ts, origin in events])
        held = self.events.setdefault(stream, {c: [] for c in cols})
        for c, values in cols.items():
            held[c] += values
        self.held += len(events)
        if self.held >= self.flush_rows:
            self.flush()

    def flush(self) -> None:
        for stream, columns in self.events.items():
            self._insert(table_for_stream(stream), columns)
        self.events.clear()
        for topic, records in self.pending.items():
            msgs = []
            for r in records:
                msgs.append(_Msg(topic, self.offset, r.value, r.headers))
                self.offset += 1
            tables, _ = self.decoders[topic](msgs, records[-1].at_ms)
            for table, columns in tables:
                self._insert(table, columns)
        self.pending.clear()
        self.held = 0

    def _insert(self, table: str, columns: dict[str, list[Any]]) -> None:
        n = len(next(iter(columns.values()), []))
        if n:
            self.client.execute(f"INSERT INTO {self.database}.{table} "
                                f"({', '.join(columns)}) VALUES", list(columns.values()),
                                columnar=True)
            self.rows[table] += n


@dataclass
class Tally:
    """What a session produced, counted from its records."""

    counts: Counter[str] = field(default_factory=Counter)

    def add(self, records: Iterable[OutRecord]) -> None:
        c = self.counts
        for r in records:
            c[r.topic] += 1
            if r.topic == "alerts":
                v = orjson.loads(r.value)
                if v.get("status") == "firing" and not v.get("reasserted"):
                    c["alerts_firing"] += 1
            elif r.topic == "incident_events" and b'"kind":"opened"' in r.value:
                c["incidents"] += 1
            elif r.topic == "dispatch" and b'"kind":"package_recommended"' in r.value:
                c["packages"] += 1
            elif r.topic == "notifications" and b'"outcome":"delivered"' in r.value:
                c["notified"] += 1


def run_session(settings: Any, setup: ReplaySetup, window: Window, *,
                session_id: str | None = None, speed: float | None = None,
                jsonl: Path | None = None, write_db: bool = True,
                progress: bool = True, tail_ms: int = 0,
                on_records: Callable[[list[OutRecord]], Any] | None = None,
                prefetch: bool = True,
                clock: Callable[[], float] = time.monotonic,
                sleep: Callable[[float], Any] = time.sleep) -> dict[str, Any]:
    """Replay ``window`` from the live database of ``settings``; return the summary.
    ``tail_ms``: event time ticked past the window's end with no input (alerts that
    resolve or time out after the last event). ``on_records`` also sees every record, in
    order (the replay cockpit keeps its timeline so). ``prefetch``: the window is read by
    a child process ahead of the replay (:mod:`warehouse.replay_prefetch`; the same runs)."""
    sid = session_id or window.session_id()
    live = settings.clickhouse.database
    database = replay_database(live, sid) if write_db else None
    reader = connect(settings)
    writer_client = None
    out_file = open(jsonl, "wb") if jsonl is not None else None
    try:
        if database is not None:
            boot = connect(settings, database="default")
            try:
                boot.execute(f"DROP DATABASE IF EXISTS {database}")   # a session afresh
                migrate(boot, database)
            finally:
                boot.disconnect()
            writer_client = connect(settings, database=database)
        total = count_events(reader, live, window) if progress else 0
        writer = OutputWriter(writer_client, database, out_file)
        replayer = Replayer(setup, window.start_ms)
        replayer.on_events = writer.add_events
        digest, tally = Digest(), Tally()
        bar = _bar(total, sid) if progress else None
        t0 = clock()
        pacer = Pacer(speed, window.start_ms, t0)

        def keep(records: list[OutRecord]) -> None:
            digest.update(records)
            tally.add(records)
            writer.add(records)
            if on_records is not None:
                on_records(records)

        runs = prefetched_window(settings, live, window) if prefetch else \
            read_window(reader, live, window, raw=True)
        for stream, events, times in runs:
            wait = pacer.wait_s(times[0], clock())
            if wait > 0:
                sleep(wait)
            keep(replayer.feed(stream, events, times))
            if bar is not None:
                bar.update(len(events))
        keep(replayer.advance(window.end_ms + tail_ms))
        writer.flush()
        wall = clock() - t0
        if bar is not None:
            bar.close()
    finally:
        reader.disconnect()
        if writer_client is not None:
            writer_client.disconnect()
        if out_file is not None:
            out_file.close()
    fed = replayer.counters["events"]
    c = tally.counts
    return {"session": sid, "database": database, "window": window.as_dict(),
            "speed": speed or "max", "events": fed, "dead_letters": replayer.counters["dead"],
            "alerts": c["alerts_firing"], "alert_events": c["alert_events"],
            "incidents": c["incidents"], "packages": c["packages"],
            "notifications": c["notified"], "records": digest.count,
            "rows": dict(writer.rows), "wall_s": round(wall, 3),
            "events_per_s": round(fed / wall) if wall > 0 else None,
            "digest": digest.hexdigest(), "jsonl": str(jsonl) if jsonl else None}


def _bar(total: int, sid: str) -> Any:
    from tqdm import tqdm
    return tqdm(total=total, unit="ev", unit_scale=True, desc=f"replay {sid}",
                mininterval=0.5, leave=True, disable=None)   # (None: off when not a TTY)
