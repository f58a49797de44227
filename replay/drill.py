"""An exercise session: a drill's events (:mod:`replay.exercise`) through its own
pipeline (a :class:`Drill`: ``cockpit_api.replay.drill.ReplayerDrill`` over a fresh
:class:`~replay.engine.Replayer`), from now, at 1x (or faster), every output kept apart.

Pure apart from the injected ``wait`` (the CLI's sleep until an event time is due): the
drill's records are taken by a :class:`DrillLog` (incidents, CAP exports with status
Exercise, digest), which hands them to the session's own sinks (``<db>_exercise_<id>``, a
JSONL file); nothing here knows the live topics or the live database. Headless, the CLI
drives the drill with :func:`run_drill`; with a cockpit, the exercise channel of the replay
cockpit drives it (``ReplayChannel.exercise``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Protocol, Sequence

import orjson

from replay.exercise import cap_exports
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


class Drill(Protocol):
    """A drill's pipeline (``cockpit_api.replay.drill.ReplayerDrill``: the drill's events
    through its own Replayer): the records made up to event time ``at_ms``, and those an
    operator command makes."""

    def until(self, at_ms: int) -> Sequence[OutRecord]: ...

    def command(self, values: Sequence[bytes]) -> Sequence[OutRecord]: ...


class DrillLog:
    """What a drill made, taken record by record (its ``keep``): the incidents it opened,
    their events (for the CAP exports) and the digest; then handed on to ``keep``."""

    def __init__(self, keep: Callable[[list[OutRecord]], Any] | None = None) -> None:
        self.result, self.digest, self.keep = DrillResult(), Digest(), keep

    def take(self, records: list[OutRecord]) -> None:
        self.digest.update(records)
        result = self.result
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
        if self.keep is not None:
            self.keep(records)

    def finish(self, counters: Mapping[str, int]) -> DrillResult:
        """The result (``counters``: the drill's Replayer's)."""
        r = self.result
        r.records, r.digest = self.digest.count, self.digest.hexdigest()
        r.events, r.dead_letters = counters.get("events", 0), counters.get("dead", 0)
        return r


def last_event_ms(events: Sequence[tuple[str, Mapping[str, Any]]], start_ms: int) -> int:
    return max((parse_event_time(e["event_time"]) for _, e in events), default=start_ms)


def run_drill(drill: Drill, start_ms: int, end_ms: int, *, tick_ms: int = 1000,
              wait: Callable[[int], Any] | None = None) -> None:
    """Drive ``drill`` from ``start_ms`` to ``end_ms`` headless; ``wait(event_ms)`` returns
    when that event time is due (None: as fast as possible). Paced, time advances one tick
    at a time, each when it is due; what the drill makes does not depend on the pace."""
    if wait is None:
        drill.until(end_ms)
        return
    t = (start_ms // tick_ms + 1) * tick_ms
    while t < end_ms:
        wait(t)
        drill.until(t)
        t += tick_ms
    wait(end_ms)
    drill.until(end_ms)
