"""The checks of a command's arguments (pure): each takes the value and ``now_ms`` and
returns the normalised value or raises :class:`Bad` with a stable code; :class:`Arg` names
an argument, its check and whether it is required (:mod:`cockpit_api.commands` declares
which action takes which)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from alerting.labels import LabelError, parse_matchers
from alerting.lifecycle import MAX_ACTOR, MAX_ID
from alerting.matchers import check_silence_matchers
from alerting.regex import REGEX_CODES
from alerting.window import MAX_AHEAD_MS, OUT_OF_WINDOW
from schemas.chars import bad_character
from schemas.errors import ValidationError
from schemas.validate import format_event_time, parse_event_time

MAX_MATCHERS, MAX_MATCHER_CHARS, MAX_LIST = 20, 256, 200


class Bad(Exception):
    """A check's failure; the caller adds the field and the command id."""

    def __init__(self, code: str, reason: str, field: str | None = None) -> None:
        super().__init__(reason)
        self.code, self.reason, self.field = code, reason, field


Check = Callable[[Any, int], Any]  # (value, now_ms) -> normalised value, or raise Bad


def _string(v: Any, limit: int) -> str:
    if not isinstance(v, str):
        raise Bad("wrong_type", f"must be a string, not {type_name(v)}")
    if len(v) > limit:
        raise Bad("too_long", f"{len(v)} characters; at most {limit}")
    return v


def _chars(s: str, text: bool = False) -> str:
    """``s`` unless it holds a character ``schemas.chars`` refuses (``bad_characters``)."""
    bad = bad_character(s, text=text)
    if bad is not None:
        raise Bad("bad_characters", f"holds {bad}: no control"
                   f"{' or' if text else ', invisible or'} bidi characters")
    return s


def ident(v: Any, now_ms: int = 0) -> str:
    """An id: 1..MAX_ID characters, no control, invisible or bidi characters, no
    surrounding spaces."""
    s = _chars(_string(v, MAX_ID))
    if not s.strip():
        raise Bad("empty", "must not be empty")
    if s != s.strip():
        raise Bad("bad_value", "has surrounding spaces")
    return s


def actor(v: Any, now_ms: int = 0) -> str:
    s = _chars(_string(v, MAX_ACTOR)).strip()
    if not s:
        raise Bad("empty", "who gives the command must be named")
    return s


def text(limit: int, required: bool = False) -> Check:
    """Free text of at most ``limit`` characters (``required``: not blank); newlines and
    tabs are fine."""
    def check(v: Any, now_ms: int = 0) -> str:
        s = _chars(_string(v, limit), text=True).strip()
        if required and not s:
            raise Bad("empty", "must not be blank")
        return s
    return check


def choice(*values: str) -> Check:
    def check(v: Any, now_ms: int = 0) -> str:
        if v not in values:
            raise Bad("unknown_value" if isinstance(v, str) else "wrong_type",
                       f"must be one of {list(values)}, not {v!r}"[:200])
        return str(v)
    return check


def boolean(v: Any, now_ms: int = 0) -> bool:
    if not isinstance(v, bool):
        raise Bad("wrong_type", f"must be true or false, not {type_name(v)}")
    return v


def occurrence(v: Any, now_ms: int = 0) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise Bad("wrong_type", f"must be an integer, not {type_name(v)}")
    if v < 0:
        raise Bad("bad_value", "must be >= 0 (0: the current occurrence)")
    return v


def future_time(v: Any, now_ms: int) -> str | None:
    """ISO 8601 with an offset, later than now (``null``: open-ended); canonical UTC form."""
    if v is None:
        return None
    if not isinstance(v, str):
        raise Bad("wrong_type", f"must be an ISO 8601 time or null, not {type_name(v)}")
    _string(v, 64)
    try:
        ms = parse_event_time(v)
    except (ValidationError, OverflowError) as exc:
        raise Bad("bad_time", getattr(exc, "reason", str(exc))) from None
    if ms <= now_ms:
        raise Bad("bad_value", f"{v} is not in the future")
    if ms > now_ms + MAX_AHEAD_MS:   # (the engine's bound: alerting.window)
        raise Bad(OUT_OF_WINDOW, f"{v} is more than {MAX_AHEAD_MS // 86_400_000} days "
                                  f"ahead: leave the end out (until expired) instead")
    return format_event_time(ms)


def list_of(v: Any, limit: int, item: Callable[[Any, int], Any], now_ms: int) -> list[Any]:
    if not isinstance(v, list):
        raise Bad("wrong_type", f"must be a list, not {type_name(v)}")
    if not v:
        raise Bad("empty", "must name at least one")
    if len(v) > limit:
        raise Bad("too_long", f"{len(v)} items; at most {limit}")
    out = []
    for i, x in enumerate(v):
        try:
            out.append(item(x, now_ms))
        except Bad as exc:
            raise Bad(exc.code, exc.reason, f"[{i}]") from None
    return out


def fingerprints(v: Any, now_ms: int = 0) -> list[str]:
    return list(dict.fromkeys(list_of(v, MAX_LIST, ident, now_ms)))


def _matcher(v: Any, now_ms: int) -> str:
    s = _chars(_string(v, MAX_MATCHER_CHARS), text=True)   # (as the engine: alerting.intake)
    try:
        parse_matchers([s])
    except LabelError as exc:   # (a refused regex: bad_regex or too_long, as the engine says)
        raise Bad(exc.code if exc.code in REGEX_CODES else "bad_value", str(exc)) from None
    return s.strip()


def matchers(v: Any, now_ms: int = 0) -> list[str]:
    """Alertmanager's matchers, each item one or more: ``entity_id="GASC-YL-00183"``,
    ``{kind="gas_leak", district="kaifu"}``; refused (``matches_everything``) when together
    they match an alert without labels, by the function the engine asks too."""
    items = list_of(v, MAX_MATCHERS, _matcher, now_ms)
    try:
        check_silence_matchers(parse_matchers(items))
    except LabelError as exc:
        raise Bad(exc.code, exc.reason) from None
    return items


@dataclass(frozen=True)
class Arg:
    name: str
    check: Check
    required: bool = True
    default: Any = None
    has_default: bool = False  # optional args with a default are always in the output


def type_name(v: Any) -> str:
    """How a JSON value is named in a refusal."""
    if v is None:
        return "null"
    if isinstance(v, float) and not math.isfinite(v):
        return "a non-finite number"
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean",
            int: "a number", float: "a number"}.get(type(v), type(v).__name__)
