"""The replay controls a cockpit client may send (pure): play, pause, speed, seek, stop.

One UTF-8 JSON text frame ``{"type": "replay", "op": ..., ...}``:

* ``{"op": "play"}``, ``{"op": "pause"}``, ``{"op": "stop"}`` (the session ends for everyone);
* ``{"op": "speed", "speed": N}`` (a number of event seconds per second, up to
  :data:`MAX_SPEED`) or ``{"op": "speed", "speed": "max"}`` (as fast as possible);
* ``{"op": "seek", "at_ms": T}`` (UTC epoch ms inside the session's window).

Each may carry a ``command_id`` (a string of at most 128 characters): a refusal echoes it
(``command_error``), and the session's state sent after the control names it (``answers``).

Every signed-in role may send them (they change what this session shows, never the city).
A bad frame is refused with a :class:`~cockpit_api.errors.CommandRejected` (``missing_field``,
``wrong_type``, ``unknown_value``, ``bad_speed``), the live cockpit refuses every one with
:data:`NOT_REPLAY`. The window bounds are the channel's to check (``outside_window``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import CommandRejected

TYPE = "replay"
OPS = ("play", "pause", "speed", "seek", "stop")
MAX_SPEED_WORD = "max"
NOT_REPLAY = "not_replay"                 # a replay control sent to the live cockpit
READ_ONLY = "replay_read_only"            # an operator command sent to a replay
OUTSIDE_WINDOW = "outside_window"         # a seek before or after the session's window
NO_REWIND = "exercise_no_rewind"          # a seek back in time in an exercise
MAX_MS = 2 ** 53 - 1
MAX_SPEED = 1000.0
MAX_ID = 128


@dataclass(frozen=True)
class Control:
    """A valid control: ``op`` and its argument (``speed``: None is as fast as possible)."""

    op: str
    at_ms: int | None = None
    speed: float | None = None
    command_id: str | None = None


def refuse_live(msg: Mapping[str, Any]) -> CommandRejected:
    """What the live cockpit answers the replay control ``msg``."""
    return CommandRejected(NOT_REPLAY, "type", "this cockpit shows live operations: there is "
                           "no replay to play, pause, seek or stop", _command_id(msg))


def _command_id(msg: Mapping[str, Any]) -> str | None:
    raw = msg.get("command_id")
    return raw if isinstance(raw, str) and 0 < len(raw) <= MAX_ID else None


def parse_control(msg: Mapping[str, Any]) -> Control:
    """A ``replay`` frame (decoded) -> :class:`Control`, or CommandRejected."""
    cid = _command_id(msg)
    try:
        return _parse(msg, cid)
    except CommandRejected as exc:
        exc.command_id = cid
        raise


def _parse(msg: Mapping[str, Any], cid: str | None) -> Control:
    if msg.get("command_id") is not None and cid is None:
        raise CommandRejected("wrong_type", "command_id",
                              f"command_id must be a string of 1 to {MAX_ID} characters")
    op = msg.get("op")
    if op is None:
        raise CommandRejected("missing_field", "op", f"required: one of {', '.join(OPS)}")
    if not isinstance(op, str):
        raise CommandRejected("wrong_type", "op", "op must be a string")
    if op not in OPS:
        raise CommandRejected("unknown_value", "op",
                              f"{op[:40]!r} is not one of {', '.join(OPS)}")
    if op == "seek":
        at = msg.get("at_ms")
        if at is None:
            raise CommandRejected("missing_field", "at_ms", "a seek needs at_ms (UTC epoch ms)")
        if isinstance(at, bool) or not isinstance(at, int) or not 0 <= at <= MAX_MS:
            raise CommandRejected("wrong_type", "at_ms", "at_ms must be an integer of UTC "
                                  "epoch milliseconds")
        return Control(op, at_ms=at, command_id=cid)
    if op == "speed":
        speed = msg.get("speed")
        if speed is None:
            raise CommandRejected("missing_field", "speed", "a speed needs speed: a number "
                                  f"or {MAX_SPEED_WORD!r}")
        if speed == MAX_SPEED_WORD:
            return Control(op, speed=None, command_id=cid)
        if isinstance(speed, bool) or not isinstance(speed, (int, float)) or \
                not math.isfinite(speed) or not 0 < speed <= MAX_SPEED:
            raise CommandRejected("bad_speed", "speed", f"a speed is a number above 0 and at "
                                  f"most {MAX_SPEED:g}, or {MAX_SPEED_WORD!r}")
        return Control(op, speed=float(speed), command_id=cid)
    return Control(op, command_id=cid)
