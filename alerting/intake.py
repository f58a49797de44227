"""What the engine's entry points admit, checked before an input changes anything.

Every input of :class:`alerting.engine.Engine` (a detector alert, a dispatch record, an
operator command) comes from outside: a topic anyone with access can write, decoded JSON of
any shape. Before any part of the engine sees it, it must be a JSON object nested at most
``schemas.limits.MAX_DEPTH`` deep (``too_deep``: a value that deep can always be copied,
printed and written to the checkpoint again), and its ids, label values and actor must be
free of control, invisible and bidi characters (``bad_characters``, ``schemas.chars``: an
audit trail must not show a spoofed name). A refusal here is a :class:`CommandError` with
that code, and nothing has changed.
"""

from __future__ import annotations

from typing import Any, Mapping

from alerting.alert_model import CommandError, check_chars, check_id, check_not_reserved
from alerting.labels import LABEL_FIELDS
from alerting.matchers import Matcher
from schemas.errors import ValidationError
from schemas.jsonin import too_deep
from schemas.limits import MAX_DEPTH
from schemas.validate import parse_event_time

# the text of an alert that names it or is one of its labels (alerting.labels)
ALERT_IDS = ("fingerprint", "alert_id") + LABEL_FIELDS
# the ids a dispatch record's event names (the correlator reads these)
DISPATCH_IDS = ("event_id", "entity_id", "call_id", "incident_id")
# what an alert is known by: never blank (a blank entity would merge unrelated alerts)
_NAMING = ("fingerprint", "alert_id", "entity_id")
_MAX_TEXT = 2000
_FREE_TEXT = ("text", "comment", "reason")   # command fields that may hold lines


def admit(item: Any, not_object: str, what: str) -> Mapping[str, Any]:
    """``item`` if it is a JSON object at most MAX_DEPTH deep; else CommandError with the
    code ``not_object`` or ``too_deep``."""
    if not isinstance(item, Mapping):
        raise CommandError(not_object, f"{what} is a JSON object, not {type(item).__name__}")
    if too_deep(item, MAX_DEPTH):
        raise CommandError("too_deep", f"{what} nests deeper than {MAX_DEPTH} levels")
    return item


def text_of(item: Any, key: str) -> str:
    """``item[key]`` if it is text (at most 128 characters of it), else "" (for naming an
    input in a refusal without printing whatever it holds)."""
    v = item.get(key) if isinstance(item, Mapping) else None
    return v[:128] if isinstance(v, str) else ""


def check_alert(msg: Mapping[str, Any]) -> None:
    """The ids and label values of a detector alert (its text fields that the lifecycle,
    routing and the incidents read), checked as one string first: nearly always clean."""
    get = msg.get
    texts = [get(k) for k in ALERT_IDS]
    extra = get("labels")
    if isinstance(extra, Mapping):
        texts += list(extra.keys()) + list(extra.values())
    if "".join([t for t in texts if type(t) is str]).isprintable():
        for key in _NAMING:
            v = get(key)
            if type(v) is str and not v.strip():
                raise CommandError("empty", "must not be blank", key)
        return
    for key in ALERT_IDS:   # (which one, to say so)
        v = get(key)
        if isinstance(v, str):
            (check_id if key in _NAMING else check_chars)(v, key)
    for k, v in extra.items() if isinstance(extra, Mapping) else ():
        for t in (k, v):
            if isinstance(t, str):
                check_chars(t, f"labels.{k}"[:64] if isinstance(k, str) else "labels")


def check_dispatch(event: Mapping[str, Any]) -> None:
    for key in DISPATCH_IDS:
        v = event.get(key)
        if isinstance(v, str):
            check_id(v, key)


def check_command_id(cmd: Mapping[str, Any]) -> str:
    """A command's ``command_id``: "" (none: nobody can be answered), or an id."""
    cid = cmd.get("command_id")
    if cid is None or cid == "":
        return ""
    if not isinstance(cid, str) or len(cid) > 128:
        raise CommandError("bad_command", "must be a string of at most 128 characters",
                           "command_id")
    check_id(cid, "command_id")
    return cid


def check_matchers(matchers: tuple[Matcher, ...]) -> None:
    """A silence's matchers: no control (but a newline or a tab: a quoted value may spell
    them, and a recorded matcher writes them escaped) and no bidi character."""
    for m in matchers:
        check_chars(m.name, "matchers", text=True)
        check_chars(m.value, "matchers", text=True)


def command_time(value: Any, name: str) -> int:
    """A command's time argument (ISO 8601 with an offset) in epoch ms."""
    try:
        return parse_event_time(value)
    except ValidationError as exc:
        raise CommandError("bad_command", exc.reason, name) from exc


def command_text(cmd: Mapping[str, Any], name: str, required: bool = False) -> str:
    """A command's text argument, stripped: at most _MAX_TEXT characters (``required``: not
    blank); an id or a name with no refused character, free text (_FREE_TEXT) with no
    control but newlines and tabs and no bidi character; an actor not a reserved name."""
    v = cmd.get(name, "")
    if not isinstance(v, str) or (required and not v.strip()) or len(v) > _MAX_TEXT:
        raise CommandError("missing_actor" if name == "actor" else "bad_command",
                           f"must be a {'non-empty ' if required else ''}string of at most "
                           f"{_MAX_TEXT} characters", name)
    if name in _FREE_TEXT:
        check_chars(v, name, text=True)
    elif v:
        check_id(v, name)
    if name == "actor":
        check_not_reserved(v)
    return v.strip()
