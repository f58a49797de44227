"""Operator commands from cockpit clients: cheap, precise validation (pure, no I/O, no clock).

A client sends ``{"type": "command", "command": {...}}`` as one UTF-8 JSON text frame of at
most :data:`MAX_MESSAGE_BYTES`. The command holds ``command_id`` (client-made, e.g. a uuid:
a resend with the same id is a no-op for the worker), ``actor`` (the operator), ``action``
and that action's arguments (:data:`ACTIONS`). Anything else is refused with a
:class:`CommandRejected` naming a stable ``code`` (:data:`CODES`), the ``field`` and the
reason. A valid command gets ``at`` (when the cockpit received it; a client's own ``at`` is
replaced), optional arguments their defaults, and a Kafka key: the fingerprint, incident or
silence it is about, else its ``command_id``.

The worker checks the command again against its state (unknown alert, illegal transition...)
and answers on ``command_results``; this layer only refuses what can never be valid.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from alerting.incident_model import CALL_STREAMS
from alerting.lifecycle import COMMANDS as ALERT_COMMANDS
from alerting.lifecycle import MAX_COMMENT, MAX_ID
from alerting.matchers import MATCHES_EVERYTHING
from alerting.regex import BAD_REGEX
from alerting.window import OUT_OF_WINDOW
from schemas.errors import ValidationError
from schemas.jsonin import decode
from schemas.validate import format_event_time

from .command_args import (Arg, Bad, actor, boolean, choice, fingerprints, future_time,
                           ident, matchers, occurrence, text, type_name)
from .dispatch_commands import board_check, check_edit, dispatch_actions
from .errors import CommandRejected

MAX_MESSAGE_BYTES = 8 * 1024
MAX_NOTE = 4000          # alerting.incident_ops.add_note's limit
CODES = ("malformed_json", "too_large", "not_object", "unknown_type", "unknown_action",
         "missing_field", "unknown_field", "wrong_type", "empty", "too_long", "unknown_value",
         "bad_time", "bad_value", MATCHES_EVERYTHING, BAD_REGEX, OUT_OF_WINDOW,
         "too_deep", "duplicate_key", "bad_characters",
         # the server's own: the commands topic cannot take it now; a bug in the checks
         "unavailable", "internal",
         # who may: not signed in (or no longer); the role may not; over the command rate
         "unauthenticated", "forbidden", "rate_limited")
COMMON_FIELDS = ("command_id", "actor", "action", "at")
KEY_FIELDS = ("fingerprint", "incident_id", "target", "silence_id", "unit_id", "moveup_id")


def _alert_args(comment_required: bool) -> tuple[Arg, ...]:
    return (Arg("fingerprint", ident),
            Arg("comment", text(MAX_COMMENT, comment_required), comment_required),
            Arg("occurrence", occurrence, False))


# action -> its arguments; the one place the cockpit's command vocabulary is declared
ACTIONS: Mapping[str, tuple[Arg, ...]] = {
    **{a: _alert_args(a == "comment") for a in ALERT_COMMANDS},
    "silence": (Arg("matchers", matchers), Arg("reason", text(MAX_COMMENT, True)),
                Arg("ends_at", future_time, False, None, True),
                Arg("until_resolved", boolean, False, False, True)),
    "expire_silence": (Arg("silence_id", ident),),
    "extend_silence": (Arg("silence_id", ident), Arg("ends_at", future_time, False, None, True)),
    "merge_incidents": (Arg("target", ident), Arg("source", ident)),
    "split_incident": (Arg("incident_id", ident), Arg("fingerprints", fingerprints)),
    "link_call": (Arg("incident_id", ident), Arg("call_id", ident),
                  Arg("stream", choice(*CALL_STREAMS))),
    "add_note": (Arg("incident_id", ident), Arg("text", text(MAX_NOTE, True))),
    "resolve_incident": (Arg("incident_id", ident), Arg("comment", text(MAX_COMMENT), False)),
    **dispatch_actions(),
}
DISPATCH_ACTIONS = tuple(dispatch_actions())


@dataclass(frozen=True)
class ValidCommand:
    """A command ready for the ``commands`` topic: its JSON object and its Kafka key."""

    command: dict[str, Any]
    key: str

    @property
    def command_id(self) -> str:
        return str(self.command["command_id"])


def parse_client_message(raw: str | bytes, now_ms: int, actor: str | None = None
                         ) -> ValidCommand:
    """One websocket frame -> a valid command, or :class:`CommandRejected`. ``actor``: the
    signed-in user, who gives the command; a command naming an actor itself is refused."""
    size = len(raw.encode("utf-8", "surrogatepass")) if isinstance(raw, str) else len(raw)
    if size > MAX_MESSAGE_BYTES:
        raise CommandRejected("too_large", "", f"{size} bytes; at most {MAX_MESSAGE_BYTES}")
    try:
        msg = decode(raw)   # (schemas.jsonin: malformed_json, too_deep, duplicate_key)
    except ValidationError as exc:
        raise CommandRejected(exc.code, exc.field, exc.reason) from None
    if not isinstance(msg, dict):
        raise CommandRejected("not_object", "", f"a message is a JSON object, not {type_name(msg)}")
    if msg.get("type") != "command":
        raise CommandRejected("unknown_type", "type",
                              f"{msg.get('type')!r} is not a message type; send 'command'"[:200])
    command = msg.get("command")
    if actor is not None and isinstance(command, dict):
        if "actor" in command:
            raw_id = command.get("command_id")
            raise CommandRejected("forbidden", "actor", "the actor of a command is the "
                                  "signed-in user; a command names none",
                                  raw_id if isinstance(raw_id, str) and len(raw_id) <= MAX_ID
                                  else None)
        command = {**command, "actor": actor}
    return validate_command(command, now_ms)


def validate_command(obj: object, now_ms: int) -> ValidCommand:
    """A command object -> :class:`ValidCommand` with ``at`` = ``now_ms``; or CommandRejected."""
    if not isinstance(obj, dict):
        raise CommandRejected("not_object", "command",
                              f"the command is a JSON object, not {type_name(obj)}")
    raw_id = obj.get("command_id")
    echo = raw_id if isinstance(raw_id, str) and len(raw_id) <= MAX_ID else None
    out: dict[str, Any] = {}
    try:
        out["command_id"] = _field(obj, Arg("command_id", ident), now_ms)
        action = obj.get("action")
        if action is None:
            raise Bad("missing_field", "required", "action")
        if not isinstance(action, str):
            raise Bad("wrong_type", f"must be a string, not {type_name(action)}", "action")
        if action not in ACTIONS:
            raise Bad("unknown_action", f"{action!r} is not one of {sorted(ACTIONS)}"[:300],
                       "action")
        out["action"] = action
        out["actor"] = _field(obj, Arg("actor", actor), now_ms)
        spec = ACTIONS[action]
        allowed = set(COMMON_FIELDS) | {a.name for a in spec}
        for k in obj:
            if k not in allowed:
                raise Bad("unknown_field", f"not an argument of {action!r}; it takes "
                           f"{[a.name for a in spec]}", str(k)[:64])
        for arg in spec:
            if obj.get(arg.name) is not None or arg.required:
                out[arg.name] = _field(obj, arg, now_ms)
            elif arg.has_default:
                out[arg.name] = arg.default
    except Bad as exc:
        raise CommandRejected(exc.code, exc.field or "", exc.reason, echo) from None
    if action == "merge_incidents" and out["target"] == out["source"]:
        raise CommandRejected("bad_value", "source", "cannot merge an incident into itself",
                              echo)
    if action in DISPATCH_ACTIONS:
        board_check(out, echo)
    if action == "dispatch_edit":
        check_edit(out, echo)
    out["at"] = format_event_time(now_ms)
    key = next((out[k] for k in KEY_FIELDS if k in out), out["command_id"])
    return ValidCommand(out, key)


def _field(obj: Mapping[str, Any], arg: Arg, now_ms: int) -> Any:
    v = obj.get(arg.name)
    if v is None:
        raise Bad("missing_field", "required" if arg.name not in obj else
                   "required, and null is not a value", arg.name)
    try:
        return arg.check(v, now_ms)
    except Bad as exc:
        raise Bad(exc.code, exc.reason, arg.name + (exc.field or "")) from None
