"""Running totals over an open incident's alerts, kept as alerts join, change and leave.

Why: every alert update asks the same questions of its incident — the latest alert time
(``last_ms``), whether all its alerts have resolved, its worst severity, how many alerts
fire and from how many streams, which cargo UN numbers and which kinds of alert it holds. Answering them by
scanning the members made an update cost O(alerts in the incident); a :class:`Tally`
answers each in O(1) (the latest time: amortised O(log n)). ``IncidentState`` keeps one per
open incident, changed exactly where its member indexes change.
"""

from __future__ import annotations

import heapq
from typing import Any, Hashable

from alerting.incident_model import Member


def _bump(counts: dict[Any, int], key: Hashable, step: int) -> None:
    n = counts.get(key, 0) + step
    if n > 0:
        counts[key] = n
    else:
        counts.pop(key, None)


class Tally:
    """Counts over a set of :class:`Member` (add with ``step=+1``, remove with ``-1``)."""

    __slots__ = ("n", "firing", "resolved", "severities", "streams", "un_numbers", "kinds",
                 "_times", "_heap")

    def __init__(self) -> None:
        self.n = self.firing = self.resolved = 0
        self.severities: dict[str, int] = {}
        self.streams: dict[str, int] = {}     # non-empty streams only
        self.un_numbers: dict[str, int] = {}  # non-empty attrs["un_number"] only
        self.kinds: dict[tuple[str, tuple[str, ...]], int] = {}  # (kind, tags) of the alerts
        self._times: dict[int, int] = {}      # event_ms -> how many members have it
        self._heap: list[int] = []            # -event_ms; entries not in _times are stale

    def add(self, m: Member, step: int) -> None:
        self.n += step
        if m.status == "firing":
            self.firing += step
        elif m.status == "resolved":
            self.resolved += step
        _bump(self.severities, m.severity, step)
        if m.stream:
            _bump(self.streams, m.stream, step)
        un = m.attrs.get("un_number")
        if un:
            _bump(self.un_numbers, un, step)
        _bump(self.kinds, (m.kind, m.tags), step)
        self._time(m.event_ms, step)

    def replace(self, old: Member, new: Member) -> None:
        """``add(new, +1)`` and ``add(old, -1)``, touching only what differs."""
        if old.status != new.status:
            if old.status == "firing":
                self.firing -= 1
            elif old.status == "resolved":
                self.resolved -= 1
            if new.status == "firing":
                self.firing += 1
            elif new.status == "resolved":
                self.resolved += 1
        if old.severity != new.severity:
            _bump(self.severities, new.severity, +1)
            _bump(self.severities, old.severity, -1)
        if old.stream != new.stream:
            if new.stream:
                _bump(self.streams, new.stream, +1)
            if old.stream:
                _bump(self.streams, old.stream, -1)
        un_old, un_new = old.attrs.get("un_number"), new.attrs.get("un_number")
        if un_old != un_new:
            if un_new:
                _bump(self.un_numbers, un_new, +1)
            if un_old:
                _bump(self.un_numbers, un_old, -1)
        if old.kind != new.kind or old.tags != new.tags:
            _bump(self.kinds, (new.kind, new.tags), +1)
            _bump(self.kinds, (old.kind, old.tags), -1)
        if old.event_ms != new.event_ms:
            self._time(new.event_ms, +1)
            self._time(old.event_ms, -1)

    def _time(self, t: int, step: int) -> None:
        times = self._times
        had = t in times
        _bump(times, t, step)
        if not had and t in times:
            heapq.heappush(self._heap, -t)
            if len(self._heap) > 2 * len(times) + 16:  # drop stale entries now and then
                self._heap = [-x for x in times]
                heapq.heapify(self._heap)

    def last_ms(self, default: int) -> int:
        """The latest ``event_ms`` of the members (``default`` when there are none)."""
        h, times = self._heap, self._times
        while h and -h[0] not in times:
            heapq.heappop(h)
        return -h[0] if h else default

    @property
    def all_resolved(self) -> bool:
        return self.n > 0 and self.resolved == self.n
