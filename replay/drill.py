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


class DrillPipeline:
    """A drill's pipeline: its events fed to its own Replayer as event time passes
    (:meth:`until`), the operators' commands applied at the watermark (:meth:`command`);
    every record through :meth:`take` (the result, the digest, ``keep``). It is the
    ``Drill`` an exercise cockpit channel drives (``cockpit_api.replay.channel``)."""

    def __init__(self, setup: ReplaySetup, events: Sequence[tuple[str, Mapping[str, Any]]],
                 start_ms: int, keep: Callable[[list[OutRecord]], Any] | None = None) -> None:
        self.replayer = Replayer(setup, start_ms)
        self.result, self.digest, self.keep = DrillResult(), Digest(), keep
        inputs: dict[str, list[tuple[int, int, Mapping[str, Any]]]] = {}
        for i, (stream, e) in enumerate(events):
            inputs.setdefault(stream, []).append((parse_event_time(e["event_time"]), i, e))
        for items in inputs.values():
            items.sort(key=lambda x: (x[0], x[1]))
        self.last_ms = max((v[-1][0] for v in inputs.values()), default=start_ms)
        self._runs = merge_runs({s: iter(v) for s, v in inputs.items()},
                                self.replayer.tick_ms)
        self._next: Any = next(self._runs, None)

    def until(self, at_ms: int) -> list[OutRecord]:
        """Every event up to ``at_ms`` fed, then ticked to ``at_ms``; the records made."""
        out: list[OutRecord] = []
        while self._next is not None and self._next[2][0] <= at_ms:
            stream, batch, times = self._next
            out += self.replayer.feed(stream, batch, times)
            self._next = next(self._runs, None)
        out += self.replayer.advance(max(at_ms, self.replayer.watermark_ms))
        self.take(out)
        return out

    def command(self, values: Sequence[bytes]) -> list[OutRecord]:
        out = self.replayer.command(values)
        self.take(out)
        return out

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

    def finish(self) -> DrillResult:
        r = self.result
        r.records, r.digest = self.digest.count, self.digest.hexdigest()
        r.events = self.replayer.counters["events"]
        r.dead_letters = self.replayer.counters["dead"]
        return r


def run_drill(setup: ReplaySetup, events: Sequence[tuple[str, Mapping[str, Any]]],
              start_ms: int, *, tail_ms: int = TAIL_MS,
              wait: Callable[[int], Any] | None = None,
              keep: Callable[[list[OutRecord]], Any] | None = None) -> DrillResult:
    """Run the drill's ``events`` (stream, event; from :func:`replay.exercise.drill_events`
    or :func:`~replay.exercise.shift_events`) from ``start_ms`` to ``tail_ms`` after the
    last; ``wait(event_ms)`` returns when that event time is due (None: as fast as
    possible). Paced, time advances one tick at a time, each when it is due."""
    drill = DrillPipeline(setup, events, start_ms, keep)
    end = drill.last_ms + tail_ms
    if wait is None:
        drill.until(end)
        return drill.finish()
    step = drill.replayer.tick_ms
    t = (start_ms // step + 1) * step
    while t < end:
        wait(t)
        drill.until(t)
        t += step
    wait(end)
    drill.until(end)
    return drill.finish()
