"""Pacing a replay against the wall clock (pure: the wall time is passed in).

A :class:`Pacer` maps event time to wall time: at speed ``s``, an event ``d`` ms of event
time after the anchor is due ``d / s`` ms of wall time after the anchor's wall time;
``speed=None`` is as fast as possible (never wait). Pause, resume, a change of speed and a
seek re-anchor it, so none of them makes the replay rush to catch up. The replay itself
never depends on it: pacing decides *when* events are fed, never *what* comes out.
"""

from __future__ import annotations

import math


class Pacer:
    def __init__(self, speed: float | None, event_ms: int, wall_s: float) -> None:
        if speed is not None and not speed > 0:
            raise ValueError(f"speed must be > 0 (or None: as fast as possible), got {speed}")
        self.speed = speed
        self._event_ms, self._wall_s = event_ms, wall_s
        self._paused_at: float | None = None
        self._last_ms = event_ms   # the last event time asked about (a resume's anchor)

    @property
    def paused(self) -> bool:
        return self._paused_at is not None

    def wait_s(self, event_ms: int, wall_s: float) -> float:
        """Seconds to wait at ``wall_s`` before feeding the event at ``event_ms`` (0: now;
        infinity while paused)."""
        if self._paused_at is not None:
            return math.inf
        self._last_ms = event_ms
        if self.speed is None:
            return 0.0
        due = self._wall_s + (event_ms - self._event_ms) / 1000.0 / self.speed
        return max(0.0, due - wall_s)

    def pause(self, wall_s: float) -> None:
        if self._paused_at is None:
            self._paused_at = wall_s

    def resume(self, wall_s: float) -> None:
        """Go on from where it paused: the paused time is not made up for."""
        if self._paused_at is not None:
            self._wall_s += wall_s - self._paused_at
            self._paused_at = None

    def seek(self, event_ms: int, wall_s: float) -> None:
        """From now on, ``event_ms`` is due at ``wall_s`` (a jump in the replay)."""
        self._event_ms, self._wall_s, self._last_ms = event_ms, wall_s, event_ms
        if self._paused_at is not None:
            self._paused_at = wall_s

    def set_speed(self, speed: float | None, wall_s: float) -> None:
        """Another speed from the last event time asked about, without a jump."""
        if speed is not None and not speed > 0:
            raise ValueError(f"speed must be > 0 (or None), got {speed}")
        at = self._paused_at if self._paused_at is not None else wall_s
        self._event_ms, self._wall_s, self.speed = self._last_ms, at, speed
