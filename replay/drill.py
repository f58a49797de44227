"""An exercise session: a drill's events (:mod:`replay.exercise`) through its own
:class:`~replay.engine.Replayer`, from now, at 1x (or faster), every output kept apart.

Pure apart from the injected ``wait`` (the CLI's sleep until an event is due): the drill's
events, ``start_ms`` (now) and the setup come in, its records and a summary go out. The
records go to the session's own sinks (``<db>_exercise_<id>``, a JSONL file) via
``keep``; nothing here knows the live topics or the live database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import orjson

from replay.engine import Replayer
from replay.exercise import cap_exports
from replay.merge import merge_runs
from replay.setup import ReplaySetup
from replay.timeline import Digest, OutRecord
from schemas.records import stable_id
from schemas.validate import parse_event_time

TAIL_MS = 120_000    # event time ticked after the last event: groups flush, incidents open


def exercise_id(source: str | bytes, start_ms: int) -> str:
    """An exercise's id: its scenario (or incident) and its start (12 hex digits, a valid
    part of a database name)."""
    text = source.decode("utf-8", "replace") if isinstance(source, bytes) else source
    return stable_id("exercise", text, start_ms)[:12]


def exercise_database(live_database: str, ex_id: str) -> str:
    from warehouse.client import check_identifier   # (only the name's check)
    return check_identifier(f"{live_database}_exercise_{ex_id}")


@dataclass
class DrillResult:
    incidents: list[dict[str, Any]] = field(default_factory=list)   # opened, in order
    incident_events: list[dict[str, Any]] = field(default_factory=list)
    records: int = 0
    digest: str = ""
    events: int = 0
    dead_letters: int = 0

    def caps(self, sent_ms: int) -> dict[str, str]:
        """Every incident's CAP export, ``status=Exercise``."""
        return cap_exports(self.incident_events, sent_ms)


def run_drill(setup: ReplaySetup, events: Sequence[tuple[str, Mapping[str, Any]]],
              start_ms: int, *, tail_ms: int = TAIL_MS,
              wait: Callable[[int], Any] | None = None,
              keep: Callable[[list[OutRecord]], Any] | None = None) -> DrillResult:
    """Run the drill's ``events`` (stream, event; from :func:`replay.exercise.drill_events`
    or :func:`~replay.exercise.shift_events`) from ``start_ms``; ``wait(event_ms)`` returns
    when that event time is due (None: as fast as possible)."""
    replayer = Replayer(setup, start_ms)
    result, digest = DrillResult(), Digest()
    inputs: dict[str, list[tuple[int, int, Mapping[str, Any]]]] = {}
    for i, (stream, e) in enumerate(events):
        inputs.setdefault(stream, []).append((parse_event_time(e["event_time"]), i, e))
    for items in inputs.values():
        items.sort(key=lambda x: (x[0], x[1]))

    def take(records: list[OutRecord]) -> None:
        digest.update(records)
        for r in records:
            if r.topic == "incident_events":
                row = orjson.loads(r.value)
                result.incident_events.append(row)
                if row["kind"] == "opened":
                    p = orjson.loads(row["payload_json"])
                    result.incidents.append({
                        "incident_id": row["incident_id"], "category": p["category"],
                        "district": p["district"], "lat": p["lat"], "lon": p["lon"],
                        "severity": p["severity"], "opened_ms": p["opened_ms"]})
        if keep is not None:
            keep(records)

    def until(t: int) -> None:
        """Tick up to ``t``; paced, one tick at a time, each when it is due (a drill's
        cockpit sees time pass between the events, as live)."""
        if wait is not None:
            step = replayer.tick_ms
            nxt = (replayer.watermark_ms // step + 1) * step
            while nxt < t:
                wait(nxt)
                take(replayer.advance(nxt))
                nxt += step
            wait(t)
        take(replayer.advance(t))

    last = start_ms
    for stream, batch, times in merge_runs({s: iter(v) for s, v in inputs.items()},
                                           replayer.tick_ms):
        until(times[0])
        take(replayer.feed(stream, batch, times))
        last = times[-1]
    until(last + tail_ms)
    result.records, result.digest = digest.count, digest.hexdigest()
    result.events, result.dead_letters = replayer.counters["events"], replayer.counters["dead"]
    return result
