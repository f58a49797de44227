"""An exercise channel's drill over a :class:`replay.engine.Replayer` (pure: no I/O, no
clock): the drill's events fed as the session's event time passes, the operators'
commands applied at the replayer's watermark (:class:`~.channel.Drill`).

The events go in whole runs (:func:`replay.merge.merge_runs`: one stream, one tick
interval), never cut where the session happens to be when the page asks: what the drill's
pipeline makes of its events does not depend on the pace it is played at (only the
operators' commands, given when they are given, do).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from replay.engine import Replayer
from replay.merge import Run, merge_runs
from replay.timeline import OutRecord
from schemas.validate import parse_event_time


class ReplayerDrill:
    """``events``: the drill's ``(stream, event)`` (e.g. a scenario shifted to now), fed to
    ``replayer`` (whose watermark is the exercise's start); ``keep``: told every record
    made (the session's own sinks: its database, its file)."""

    def __init__(self, replayer: Replayer, events: Sequence[tuple[str, Mapping[str, Any]]],
                 keep: Callable[[list[OutRecord]], Any] | None = None) -> None:
        self.replayer, self.keep = replayer, keep
        inputs: dict[str, list[tuple[int, int, Mapping[str, Any]]]] = {}
        for i, (stream, e) in enumerate(events):
            inputs.setdefault(stream, []).append((parse_event_time(e["event_time"]), i, e))
        for items in inputs.values():
            items.sort(key=lambda x: (x[0], x[1]))
        self._runs: Iterator[Run] = merge_runs({s: iter(v) for s, v in inputs.items()},
                                               replayer.tick_ms)
        self._next: Run | None = next(self._runs, None)

    def until(self, at_ms: int) -> list[OutRecord]:
        """What the drill makes up to event time ``at_ms``: every run that ends by then,
        and the ticks up to it (or up to the start of the next run's tick interval, if
        that one began before it)."""
        out: list[OutRecord] = []
        while self._next is not None and self._next[2][-1] <= at_ms:
            stream, events, times = self._next
            out += self.replayer.feed(stream, events, times)
            self._next = next(self._runs, None)
        # not past the start of the next run's tick interval: it must stay open for it
        tick = self.replayer.tick_ms
        held = self._next[2][0] // tick * tick if self._next is not None else at_ms
        out += self.replayer.advance(min(at_ms, held))
        return self._kept(out)

    def command(self, values: Sequence[bytes]) -> list[OutRecord]:
        return self._kept(self.replayer.command(values))

    def _kept(self, records: list[OutRecord]) -> list[OutRecord]:
        if self.keep is not None and records:
            self.keep(records)
        return records
