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

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from alerting.incident_model import CALL_STREAMS
from alerting.labels import LabelError, parse_matchers
from alerting.lifecycle import COMMANDS as ALERT_COMMANDS
from alerting.lifecycle import MAX_ACTOR, MAX_COMMENT, MAX_ID
from alerting.matchers import MATCHES_EVERYTHING, check_silence_matchers
from alerting.regex import BAD_REGEX, REGEX_CODES
from alerting.window import MAX_AHEAD_MS, OUT_OF_WINDOW
from schemas.chars import bad_character
from schemas.errors import ValidationError
from schemas.jsonin import decode
from schemas.validate import format_event_time, parse_event_time

from .errors import CommandRejected

MAX_MESSAGE_BYTES = 8 * 1024
MAX_NOTE = 4000          # alerting.incident_ops.add_note's limit
MAX_MATCHERS, MAX_MATCHER_CHARS, MAX_LIST = 20, 256, 200
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


class _Bad(Exception):
    """A check's failure; the caller adds the field and the command id."""

    def __init__(self, code: str, reason: str, field: str | None = None) -> None:
        super().__init__(reason)
        self.code, self.reason, self.field = code, reason, field


Check = Callable[[Any, int], Any]  # (value, now_ms) -> normalised value, or raise _Bad


def _string(v: Any, limit: int) -> str:
    if not isinstance(v, str):
        raise _Bad("wrong_type", f"must be a string, not {_type(v)}")
    if len(v) > limit:
        raise _Bad("too_long", f"{len(v)} characters; at most {limit}")
    return v


def _chars(s: str, text: bool = False) -> str:
    """``s`` unless it holds a character ``schemas.chars`` refuses (``bad_characters``)."""
    bad = bad_character(s, text=text)
    if bad is not None:
        raise _Bad("bad_characters", f"holds {bad}: no control"
                   f"{' or' if text else ', invisible or'} bidi characters")
    return s


def ident(v: Any, now_ms: int = 0) -> str:
    """An id: 1..MAX_ID characters, no control, invisible or bidi characters, no
    surrounding spaces."""
    s = _chars(_string(v, MAX_ID))
    if not s.strip():
        raise _Bad("empty", "must not be empty")
    if s != s.strip():
        raise _Bad("bad_value", "has surrounding spaces")
    return s


def actor(v: Any, now_ms: int = 0) -> str:
    s = _chars(_string(v, MAX_ACTOR)).strip()
    if not s:
        raise _Bad("empty", "who gives the command must be named")
    return s


def text(limit: int, required: bool = False) -> Check:
    """Free text of at most ``limit`` characters (``required``: not blank); newlines and
    tabs are fine."""
    def check(v: Any, now_ms: int = 0) -> str:
        s = _chars(_string(v, limit), text=True).strip()
        if required and not s:
            raise _Bad("empty", "must not be blank")
        return s
    return check


def choice(*values: str) -> Check:
    def check(v: Any, now_ms: int = 0) -> str:
        if v not in values:
            raise _Bad("unknown_value" if isinstance(v, str) else "wrong_type",
                       f"must be one of {list(values)}, not {v!r}"[:200])
        return str(v)
    return check


def boolean(v: Any, now_ms: int = 0) -> bool:
    if not isinstance(v, bool):
        raise _Bad("wrong_type", f"must be true or false, not {_type(v)}")
    return v


def occurrence(v: Any, now_ms: int = 0) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise _Bad("wrong_type", f"must be an integer, not {_type(v)}")
    if v < 0:
        raise _Bad("bad_value", "must be >= 0 (0: the current occurrence)")
    return v


def future_time(v: Any, now_ms: int) -> str | None:
    """ISO 8601 with an offset, later than now (``null``: open-ended); canonical UTC form."""
    if v is None:
        return None
    if not isinstance(v, str):
        raise _Bad("wrong_type", f"must be an ISO 8601 time or null, not {_type(v)}")
    _string(v, 64)
    try:
        ms = parse_event_time(v)
    except (ValidationError, OverflowError) as exc:
        raise _Bad("bad_time", getattr(exc, "reason", str(exc))) from None
    if ms <= now_ms:
        raise _Bad("bad_value", f"{v} is not in the future")
    if ms > now_ms + MAX_AHEAD_MS:   # (the engine's bound: alerting.window)
        raise _Bad(OUT_OF_WINDOW, f"{v} is more than {MAX_AHEAD_MS // 86_400_000} days "
                                  f"ahead: leave the end out (until expired) instead")
    return format_event_time(ms)


def _list(v: Any, limit: int, item: Callable[[Any, int], Any], now_ms: int) -> list[Any]:
    if not isinstance(v, list):
        raise _Bad("wrong_type", f"must be a list, not {_type(v)}")
    if not v:
        raise _Bad("empty", "must name at least one")
    if len(v) > limit:
        raise _Bad("too_long", f"{len(v)} items; at most {limit}")
    out = []
    for i, x in enumerate(v):
        try:
            out.append(item(x, now_ms))
        except _Bad as exc:
            raise _Bad(exc.code, exc.reason, f"[{i}]") from None
    return out


def fingerprints(v: Any, now_ms: int = 0) -> list[str]:
    return list(dict.fromkeys(_list(v, MAX_LIST, ident, now_ms)))


def _matcher(v: Any, now_ms: int) -> str:
    s = _chars(_string(v, MAX_MATCHER_CHARS), text=True)   # (as the engine: alerting.intake)
    try:
        parse_matchers([s])
    except LabelError as exc:   # (a refused regex: bad_regex or too_long, as the engine says)
        raise _Bad(exc.code if exc.code in REGEX_CODES else "bad_value", str(exc)) from None
    return s.strip()


def matchers(v: Any, now_ms: int = 0) -> list[str]:
    """Alertmanager's matchers, each item one or more: ``entity_id="GASC-YL-00183"``,
    ``{kind="gas_leak", district="kaifu"}``; refused (``matches_everything``) when together
    they match an alert without labels, by the function the engine asks too."""
    items = _list(v, MAX_MATCHERS, _matcher, now_ms)
    try:
        check_silence_matchers(parse_matchers(items))
    except LabelError as exc:
        raise _Bad(exc.code, exc.reason) from None
    return items


def unit_ids(v: Any, now_ms: int = 0) -> list[str]:
    """Unit ids, each once (an empty list is fine: an edit may only add or only remove)."""
    from dispatch.actions import MAX_UNITS
    if v == []:
        return []
    return list(dict.fromkeys(_list(v, MAX_UNITS, ident, now_ms)))


@dataclass(frozen=True)
class Arg:
    name: str
    check: Check
    required: bool = True
    default: Any = None
    has_default: bool = False  # optional args with a default are always in the output


def _alert_args(comment_required: bool) -> tuple[Arg, ...]:
    return (Arg("fingerprint", ident),
            Arg("comment", text(MAX_COMMENT, comment_required), comment_required),
            Arg("occurrence", occurrence, False))


def dispatch_actions() -> dict[str, tuple[Arg, ...]]:
    """The dispatch board's actions, as declared once in :data:`dispatch.actions.ACTIONS`
    (names, arguments, which are required), with this door's checks of each kind of
    argument (and a unit status one of the APCO statuses); the board's own
    :func:`~dispatch.actions.check_args` runs after them (:func:`validate_command`)."""
    from dispatch.actions import ACTIONS as BOARD_ACTIONS
    from dispatch.actions import MAX_REASON
    from dispatch.status import BASE_STATUSES
    out: dict[str, tuple[Arg, ...]] = {}
    for action in BOARD_ACTIONS.values():
        args = []
        for a in action.args:
            if a.kind == "ids":
                args.append(Arg(a.name, unit_ids, a.required, [], not a.required))
            elif a.kind == "text":
                args.append(Arg(a.name, text(MAX_REASON, a.required), a.required))
            else:
                args.append(Arg(a.name, choice(*BASE_STATUSES) if a.name == "status" else ident,
                                a.required))
        out[action.name] = tuple(args)
    return out


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
        raise CommandRejected("not_object", "", f"a message is a JSON object, not {_type(msg)}")
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
                              f"the command is a JSON object, not {_type(obj)}")
    raw_id = obj.get("command_id")
    echo = raw_id if isinstance(raw_id, str) and len(raw_id) <= MAX_ID else None
    out: dict[str, Any] = {}
    try:
        out["command_id"] = _field(obj, Arg("command_id", ident), now_ms)
        action = obj.get("action")
        if action is None:
            raise _Bad("missing_field", "required", "action")
        if not isinstance(action, str):
            raise _Bad("wrong_type", f"must be a string, not {_type(action)}", "action")
        if action not in ACTIONS:
            raise _Bad("unknown_action", f"{action!r} is not one of {sorted(ACTIONS)}"[:300],
                       "action")
        out["action"] = action
        out["actor"] = _field(obj, Arg("actor", actor), now_ms)
        spec = ACTIONS[action]
        allowed = set(COMMON_FIELDS) | {a.name for a in spec}
        for k in obj:
            if k not in allowed:
                raise _Bad("unknown_field", f"not an argument of {action!r}; it takes "
                           f"{[a.name for a in spec]}", str(k)[:64])
        for arg in spec:
            if obj.get(arg.name) is not None or arg.required:
                out[arg.name] = _field(obj, arg, now_ms)
            elif arg.has_default:
                out[arg.name] = arg.default
    except _Bad as exc:
        raise CommandRejected(exc.code, exc.field or "", exc.reason, echo) from None
    if action == "merge_incidents" and out["target"] == out["source"]:
        raise CommandRejected("bad_value", "source", "cannot merge an incident into itself",
                              echo)
    if action in DISPATCH_ACTIONS:
        _board_check(out, echo)
    if action == "dispatch_edit":
        if not out["add"] and not out["remove"]:
            raise CommandRejected("empty", "add", "an edit adds or removes at least one unit",
                                  echo)
        both = set(out["add"]) & set(out["remove"])
        if both:
            raise CommandRejected("bad_value", "remove", f"added and removed at once: "
                                  f"{sorted(both)[:5]}", echo)
    out["at"] = format_event_time(now_ms)
    key = next((out[k] for k in KEY_FIELDS if k in out), out["command_id"])
    return ValidCommand(out, key)


def _board_check(command: dict[str, Any], echo: str | None) -> None:
    """The board's own check of a dispatch command's arguments, after this door's: a
    safety net (the door's checks are at least as strict; a refusal here keeps the board's
    code)."""
    from dispatch.actions import ActionError, check_args
    try:
        check_args(command)
    except ActionError as exc:
        raise CommandRejected(exc.code, exc.field, exc.reason, echo) from None


def _field(obj: Mapping[str, Any], arg: Arg, now_ms: int) -> Any:
    v = obj.get(arg.name)
    if v is None:
        raise _Bad("missing_field", "required" if arg.name not in obj else
                   "required, and null is not a value", arg.name)
    try:
        return arg.check(v, now_ms)
    except _Bad as exc:
        raise _Bad(exc.code, exc.reason, arg.name + (exc.field or "")) from None


def _type(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, float) and not math.isfinite(v):
        return "a non-finite number"
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean",
            int: "a number", float: "a number"}.get(type(v), type(v).__name__)
