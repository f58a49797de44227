"""The pace of a replay (pure): which event time is due at a wall-clock moment, at 1x, N x
or as fast as possible, with pause, play and seek. The wall clock is passed in (``now_s``,
seconds of a monotonic clock), never read here.

The pacer holds an anchor -- event time ``at_ms`` at wall time ``since_s`` -- moved by every
change, so a change never jumps the event time: at N x, ``N`` seconds of event time pass per
wall second after the anchor; paused, the event time stays at the anchor; ``speed=None`` is
"as fast as possible" (whatever is next is due now).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

MAX_SPEED = 1000.0


class PaceError(ValueError):
    """A speed the pacer cannot take (``code``: ``bad_speed``)."""

    code = "bad_speed"


def check_speed(speed: float | None) -> float | None:
    """``speed`` if the pacer can take it (None: as fast as possible), else PaceError."""
    if speed is None:
        return None
    if isinstance(speed, bool) or not isinstance(speed, (int, float)) or \
            not math.isfinite(speed) or not 0 < speed <= MAX_SPEED:
        raise PaceError(f"speed must be a number above 0 and at most {MAX_SPEED:g}, or "
                        f"as fast as possible; not {speed!r}")
    return float(speed)


@dataclass
class Pacer:
    """Event time against the wall clock (see the module docstring)."""

    at_ms: int                    # the anchor's event time
    since_s: float = 0.0          # the anchor's wall time
    speed: float | None = 1.0     # event seconds per wall second; None: as fast as possible
    paused: bool = False

    def __post_init__(self) -> None:
        self.speed = check_speed(self.speed)

    def position(self, now_s: float) -> int | None:
        """The event time due at ``now_s`` (None: everything, as fast as possible)."""
        if self.paused:
            return self.at_ms
        if self.speed is None:
            return None
        return self.at_ms + int(max(0.0, now_s - self.since_s) * 1000 * self.speed)

    def wait_s(self, at_ms: int, now_s: float) -> float:
        """Wall seconds until event time ``at_ms`` is due (inf while paused, 0 if due)."""
        if self.paused:
            return math.inf
        if self.speed is None:
            return 0.0
        due = self.position(now_s)
        assert due is not None
        return max(0.0, (at_ms - due) / 1000 / self.speed)

    def pause(self, at_ms: int, now_s: float) -> None:
        """Hold at ``at_ms`` (where the replay got to: as fast as possible, the pacer cannot
        know it)."""
        self._anchor(at_ms, now_s)
        self.paused = True

    def play(self, at_ms: int, now_s: float) -> None:
        self._anchor(at_ms, now_s)
        self.paused = False

    def seek(self, at_ms: int, now_s: float) -> None:
        """Go on from ``at_ms`` (paused or playing, as before)."""
        self._anchor(at_ms, now_s)

    def set_speed(self, speed: float | None, at_ms: int, now_s: float) -> None:
        self.speed = check_speed(speed)
        self._anchor(at_ms, now_s)

    def _anchor(self, at_ms: int, now_s: float) -> None:
        self.at_ms, self.since_s = at_ms, now_s
