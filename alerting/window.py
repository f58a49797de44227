"""The engine's accepted time window: event times too far from ``now`` are refused (pure).

Why: the engine applies an alert at its own ``detected_at`` and schedules from it (flap
windows, ends, group timers, escalation), so a time in 2000 or in year 1 put every
schedule decades behind ``now``; and a time far ahead would hold a deadline that never
comes. An input whose time is outside the window is refused with the code
``out_of_window`` (and dead-lettered with its bytes by the worker), never applied.

What real operation needs: late data is normal -- the worker, the broker or a detector down
for hours, then the backlog replayed -- so the past bound is the broker's own horizon,
:data:`MAX_PAST_MS` (Kafka keeps a topic seven days by default: nothing older can be
replayed); a longer outage needs the operator, not the engine. The future bound is a clock
skew between machines, :data:`MAX_FUTURE_MS` (ingest refuses events more than five minutes
ahead; a detector's decision time may lag that a little). A deadline (an alert's or a
silence's ``ends_at``) may lie further ahead, up to :data:`MAX_AHEAD_MS`: a silence longer
than that is written open-ended and expired by hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from alerting.alert_model import CommandError
from schemas.errors import ValidationError
from schemas.validate import parse_event_time

OUT_OF_WINDOW = "out_of_window"
MAX_PAST_MS = 7 * 86_400_000
MAX_FUTURE_MS = 15 * 60_000
MAX_AHEAD_MS = 366 * 86_400_000
# an input's event times, and whether each is a deadline (its future bound is MAX_AHEAD_MS)
ALERT_TIMES = (("detected_at", False), ("event_time", False), ("ends_at", True))
DISPATCH_TIMES = (("event_time", False),)


@dataclass(frozen=True)
class TimeWindow:
    """How far behind and ahead of ``now`` an event time, and ahead a deadline, may be."""

    past_ms: int = MAX_PAST_MS
    future_ms: int = MAX_FUTURE_MS
    ahead_ms: int = MAX_AHEAD_MS

    def __post_init__(self) -> None:
        for name in ("past_ms", "future_ms", "ahead_ms"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ValueError(f"TimeWindow.{name}: must be an int >= 0, got {v!r}")

    def check(self, ms: int, now_ms: int, field: str, deadline: bool = False) -> None:
        """Refuse (CommandError ``out_of_window``) a time outside the window."""
        ahead = self.ahead_ms if deadline else self.future_ms
        if ms < now_ms - self.past_ms:
            raise CommandError(OUT_OF_WINDOW, f"{(now_ms - ms) // 1000} s before now: the "
                               f"engine takes times at most {self.past_ms // 1000} s old", field)
        if ms > now_ms + ahead:
            raise CommandError(OUT_OF_WINDOW, f"{(ms - now_ms) // 1000} s after now: the "
                               f"engine takes times at most {ahead // 1000} s ahead", field)

    def check_fields(self, msg: Any, now_ms: int,
                     names: tuple[tuple[str, bool], ...]) -> None:
        """Check the times of ``msg`` named in ``names`` that are there and readable (one
        missing or malformed is the caller's to refuse, with its own code)."""
        if not isinstance(msg, Mapping):
            return
        for name, deadline in names:
            value = msg.get(name)
            if value is None:
                continue
            try:
                ms = parse_event_time(value)
            except (ValidationError, OverflowError):
                continue
            self.check(ms, now_ms, name, deadline)

    def check_alert(self, msg: Any, now_ms: int) -> None:
        self.check_fields(msg, now_ms, ALERT_TIMES)

    def check_dispatch(self, event: Any, now_ms: int) -> None:
        self.check_fields(event, now_ms, DISPATCH_TIMES)
