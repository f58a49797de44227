"""A replay session's cockpit channel: its picture played at a pace, controlled by the page.

:class:`ReplayChannel` is what a replay cockpit (:mod:`cockpit_api.replay.server`) shares
between its clients: the hub's picture of the session (:class:`~.picture.ReplayPicture`),
its pacer (:class:`replay.pace.Pacer`: 1x, N x, as fast as possible, paused) and its mode:

* ``replay`` (:meth:`ReplayChannel.replay`) -- a timeline computed beforehand, played and
  sought at will; read-only: an operator command is refused ``replay_read_only``.
* ``exercise`` (:meth:`ReplayChannel.exercise`) -- a drill: its pipeline (a :class:`Drill`,
  e.g. a :class:`replay.engine.Replayer` fed a scenario) makes the records as event time
  passes, and the operators' commands ARE applied: they go to the drill's pipeline
  (``Drill.command``) and what they change comes back through the hub. A drill only runs
  forward: a seek back is refused ``exercise_no_rewind``.

Every client is told the session (``{"type": "replay", ...}``: :meth:`ReplayChannel.state`)
in its snapshot, after every control and every :data:`TELL_EVERY_S` while it plays.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol

from replay.pace import Pacer
from replay.timeline import OutRecord

from ..errors import CommandRejected
from ..hub import AlertHub
from .controls import NO_REWIND, OUTSIDE_WINDOW, Control
from .picture import SNAPSHOT_EVERY_MS, ReplayPicture

log = logging.getLogger(__name__)

MODES = ("replay", "exercise")
TELL_EVERY_S = 0.5
Clock = Callable[[], float]


class Drill(Protocol):
    """An exercise's pipeline (e.g. a :class:`replay.engine.Replayer` and its scenario):
    the records it makes up to event time ``at_ms``, and those an operator command makes
    (``values``: the commands as the cockpit puts them on the commands topic)."""

    def until(self, at_ms: int) -> Sequence[OutRecord]: ...

    def command(self, values: Sequence[bytes]) -> Sequence[OutRecord]: ...


class ReplayChannel:
    """See the module docstring; build one with :meth:`replay` or :meth:`exercise`."""

    def __init__(self, hub: AlertHub, records: Iterable[OutRecord], start_ms: int,
                 end_ms: int, *, mode: str = "replay", drill: Drill | None = None,
                 speed: float | None = 1.0, paused: bool = False, label: str = "",
                 snapshot_every_ms: int = SNAPSHOT_EVERY_MS,
                 clock: Clock = time.monotonic) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
        if (mode == "exercise") != (drill is not None):
            raise ValueError("an exercise needs its drill, and only an exercise has one")
        if end_ms < start_ms:
            raise ValueError("the window ends before it starts")
        self.hub, self.mode, self.drill, self.label = hub, mode, drill, label
        self.start_ms, self.end_ms, self.clock = start_ms, end_ms, clock
        self.picture = ReplayPicture(hub, records, start_ms, snapshot_every_ms)
        self.pacer = Pacer(speed, start_ms, clock())
        if paused:
            self.pacer.pause(clock())
        self.stopped = asyncio.Event()
        self._wake = asyncio.Event()
        self._told = 0.0
        self.rounds = 0     # turns of the player's loop (a test waits for them)
        hub.feed_state = mode

    @classmethod
    def replay(cls, hub: AlertHub, timeline: Sequence[OutRecord], start_ms: int,
               end_ms: int, **options: Any) -> ReplayChannel:
        """A read-only replay of ``timeline`` (sorted by ``at_ms``) over the window
        ``start_ms``..``end_ms``; its snapshots are taken now (:meth:`ReplayPicture.prepare`)."""
        channel = cls(hub, timeline, start_ms, end_ms, **options)
        channel.picture.prepare()
        return channel

    @classmethod
    def exercise(cls, hub: AlertHub, drill: Drill, start_ms: int, end_ms: int,
                 **options: Any) -> ReplayChannel:
        """A drill over ``start_ms``..``end_ms`` (its event time, e.g. a scenario shifted to
        now) whose records ``drill`` makes as it goes and whose commands it applies."""
        return cls(hub, (), start_ms, end_ms, mode="exercise", drill=drill, **options)

    # --- what the clients are told -------------------------------------------------------
    @property
    def at_ms(self) -> int:
        return self.picture.at_ms

    @property
    def ended(self) -> bool:
        return self.at_ms >= self.end_ms

    def state(self) -> dict[str, Any]:
        """The session as the page shows it (UTC epoch ms; ``speed`` null: as fast as
        possible)."""
        return {"type": "replay", "mode": self.mode, "label": self.label,
                "start_ms": self.start_ms, "end_ms": self.end_ms, "at_ms": self.at_ms,
                "speed": self.pacer.speed, "paused": self.pacer.paused or self.ended,
                "ended": self.ended, "stopped": self.stopped.is_set(),
                "can_rewind": self.mode == "replay"}

    def tell(self, answers: str | None = None) -> None:
        """Send every client the session's state (an answer, not a delta: no seq);
        ``answers``: the ``command_id`` of the control that changed it."""
        self._told = self.clock()
        message = self.state()
        if answers is not None:
            message["answers"] = answers
        for sub in list(self.hub.delivery.subs.values()):
            self.hub.reply(sub, message)

    # --- controls (every signed-in role) -------------------------------------------------
    def control(self, ctl: Control) -> None:
        """Apply a control (:mod:`~cockpit_api.replay.controls`), or CommandRejected."""
        now = self.clock()
        if ctl.op == "seek":
            assert ctl.at_ms is not None
            try:
                self.seek(ctl.at_ms)
            except CommandRejected as exc:
                exc.command_id = ctl.command_id
                raise
        elif ctl.op == "pause":
            self._hold()
        elif ctl.op == "play":
            if self.ended and self.mode == "replay":   # from the start again
                self.seek(self.start_ms)
            self.pacer.resume(self.clock())
        elif ctl.op == "speed":   # from the time the clients were shown, without a jump
            self.pacer.seek(self.at_ms, now)
            self.pacer.set_speed(ctl.speed, now)
        elif ctl.op == "stop":
            self.stop()
        self._wake.set()
        self.tell(ctl.command_id)

    def seek(self, at_ms: int) -> None:
        """The picture at ``at_ms`` (see :class:`ReplayPicture`), for every client."""
        if not self.start_ms <= at_ms <= self.end_ms:
            raise CommandRejected(OUTSIDE_WINDOW, "at_ms", "the session's window is "
                                  f"{self.start_ms}..{self.end_ms} (UTC ms), not {at_ms}")
        if self.mode == "exercise":
            if at_ms < self.at_ms:
                raise CommandRejected(NO_REWIND, "at_ms", "an exercise only runs forward")
            assert self.drill is not None
            self.picture.extend(self.drill.until(at_ms))
        self.picture.seek(at_ms)
        self.pacer.seek(at_ms, self.clock())
        self._wake.set()

    def stop(self) -> None:
        self._hold()
        self.stopped.set()
        self._wake.set()

    def _hold(self) -> None:
        """Pause at the time the clients were shown (it goes on from there)."""
        now = self.clock()
        self.pacer.seek(self.at_ms, now)
        self.pacer.pause(now)

    def _due(self, now: float) -> int:
        """The event time due at ``now`` (the pacer says how long until the window's end)."""
        if self.pacer.paused:
            return self.at_ms
        if self.pacer.speed is None:
            return self.end_ms
        wait = self.pacer.wait_s(self.end_ms, now)
        return self.end_ms - math.ceil(wait * 1000 * self.pacer.speed)

    # --- operator commands (exercise only) -----------------------------------------------
    def command(self, value: bytes) -> None:
        """An exercise's operator command, applied by its drill; what it makes comes back
        through the hub at once."""
        assert self.drill is not None
        self.picture.extend(self.drill.command([value]))
        while self.picture.step() is not None:
            pass

    # --- playing -------------------------------------------------------------------------
    async def run(self) -> None:
        """Play until stopped: fold each record when its event time is due, yielding to the
        clients' relays between records (as the live feed does)."""
        self.pacer.seek(self.at_ms, self.clock())   # the pace counts from now (kept paused)
        while not self.stopped.is_set():
            self.rounds += 1
            target = min(self._due(self.clock()), self.end_ms)
            if self.drill is not None and target > self.picture.end_ms:
                self.picture.extend(self.drill.until(target))
            while not self.stopped.is_set() and (nxt := self.picture.next_at()) is not None \
                    and nxt <= target and not self._wake.is_set():
                self.picture.step()
                await asyncio.sleep(0)
            if self._wake.is_set():        # a control came: start over from its state
                self._wake.clear()
                continue
            if not self.pacer.paused:
                self.picture.at_ms = max(self.picture.at_ms, target)
            if self.ended and not self.pacer.paused:
                self._hold()
                self.tell()
            elif self.clock() - self._told >= TELL_EVERY_S and not self.pacer.paused:
                self.tell()
            await self._sleep()

    async def _sleep(self) -> None:
        nxt = self.picture.next_at()
        wait = math.inf if self.pacer.paused else TELL_EVERY_S \
            if nxt is None or self.drill is not None else \
            min(TELL_EVERY_S, self.pacer.wait_s(nxt, self.clock()))
        try:
            async with asyncio.timeout(None if math.isinf(wait) else max(wait, 0.001)):
                await self._wake.wait()
        except TimeoutError:
            return
        self._wake.clear()
