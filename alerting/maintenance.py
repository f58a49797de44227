"""Maintenance windows: a schedule's decision to mute alerts, in local wall-clock time.

A recurring window (daily 01:00-05:00 Asia/Shanghai, computed with zoneinfo) knows its
occurrences; the Silencer (``alerting.silencer``) makes each one an ordinary silence.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from alerting.labels import Matcher
from alerting.silence_model import SilenceError, _check_who_why

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class MaintenanceWindow:
    """A recurring window in local wall-clock time; ``end_minute <= start_minute`` means it
    crosses midnight. ``days`` are the weekdays it starts on (0 = Monday)."""

    name: str
    matchers: tuple[Matcher, ...]
    start_minute: int
    end_minute: int
    timezone: str
    author: str
    reason: str
    days: frozenset[int] = frozenset(range(7))
    _zone: ZoneInfo = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _check_who_why(self.matchers, self.author, self.reason)
        for name in ("start_minute", "end_minute"):
            if not 0 <= getattr(self, name) < 1440:
                raise SilenceError(name, "minutes after midnight, 0..1439")
        if self.start_minute == self.end_minute:
            raise SilenceError("end", "equals start: a window must last")
        if not self.days or not self.days <= set(range(7)):
            raise SilenceError("days", "weekdays 0 (Monday) .. 6, at least one")
        try:
            object.__setattr__(self, "_zone", ZoneInfo(self.timezone))
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise SilenceError("timezone", f"unknown time zone {self.timezone!r}: use an "
                                           f"IANA name like Asia/Shanghai") from exc

    def _span(self, day: date) -> tuple[int, int]:
        end_day = day if self.end_minute > self.start_minute else day + timedelta(days=1)
        return _ms(day, self.start_minute, self._zone), _ms(end_day, self.end_minute, self._zone)

    def _today(self, now_ms: int) -> date:
        return datetime.fromtimestamp(now_ms / 1000, tz=self._zone).date()

    def occurrence_at(self, now_ms: int) -> tuple[int, int] | None:
        """The ``(start_ms, end_ms)`` of the occurrence covering ``now_ms``, if any."""
        today = self._today(now_ms)
        for day in (today - timedelta(days=1), today):
            if day.weekday() in self.days:
                start, end = self._span(day)
                if start <= now_ms < end:
                    return start, end
        return None

    def next_start_ms(self, after_ms: int) -> int:
        """The start of the first occurrence after ``after_ms`` (within 8 days: weekly)."""
        today = self._today(after_ms)
        starts = (self._span(today + timedelta(days=k))[0] for k in range(9)
                  if (today + timedelta(days=k)).weekday() in self.days)
        return next(s for s in starts if s > after_ms)


def _ms(day: date, minute: int, zone: ZoneInfo) -> int:
    return int(datetime.combine(day, time(minute // 60, minute % 60), tzinfo=zone)
               .timestamp()) * 1000


class WindowSchedule:
    """Which windows' occurrences have begun: :meth:`due` gives each occurrence once, as
    ``(window, start_ms, end_ms)``, when ``now_ms`` is inside it (``last``, the start of
    the latest given per window, is what a checkpoint keeps)."""

    def __init__(self, windows: tuple[MaintenanceWindow, ...]) -> None:
        self.windows = windows
        self.next = {w.name: 0 for w in windows}   # no occurrence begins before this
        self.last: dict[str, int] = {}

    def due(self, now_ms: int) -> list[tuple[MaintenanceWindow, int, int]]:
        out = []
        for w in self.windows:
            if now_ms < self.next[w.name]:
                continue
            occ = w.occurrence_at(now_ms)
            self.next[w.name] = occ[1] if occ else w.next_start_ms(now_ms)
            if occ is None or self.last.get(w.name, -1) >= occ[0]:
                continue
            self.last[w.name] = occ[0]
            out.append((w, *occ))
        return out

    def next_ms(self) -> list[int]:
        """When each window may next begin (or its current occurrence ends)."""
        return list(self.next.values())

