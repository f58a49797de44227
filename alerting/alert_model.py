"""The alert lifecycle's vocabulary: states, actions and legal transitions, the operator's
:class:`Command`, the immutable :class:`AlertEvent` and the book's timings.

Apart from :mod:`alerting.lifecycle` (the book that decides) because the pipeline, the
cockpit's validation, escalation and the warehouse's replay all speak these names without
needing the state machine. Pure.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Mapping

from schemas.chars import bad_character
from schemas.errors import ValidationError
from schemas.records import SEVERITIES
from schemas.validate import parse_event_time

FIRING, ACKNOWLEDGED, RESOLVED = "firing", "acknowledged", "resolved"
STATES = (FIRING, ACKNOWLEDGED, RESOLVED)
# event actions; the first six are also the operator commands
ACK, UNACK, CLAIM, UNCLAIM, RESOLVE, COMMENT = "ack", "unack", "claim", "unclaim", "resolve", \
    "comment"
FIRE, REFIRE, UPDATE, RETRIGGER = "fire", "refire", "update", "retrigger"
FLAPPING, UNFLAPPING, FORGET = "flapping", "unflapping", "forget"
COMMANDS = (ACK, UNACK, CLAIM, UNCLAIM, RESOLVE, COMMENT)
ACTIONS = COMMANDS + (FIRE, REFIRE, UPDATE, RETRIGGER, FLAPPING, UNFLAPPING, FORGET)
SYSTEM = "system"
DETECTOR_ACTOR = "detector:"   # the lifecycle records a detector's alert as detector:<name>
# the comment (a code: the cockpit's vocabulary says it in words) of the system's resolve of
# an alert whose detector did not re-assert it before its ends_at
NOT_REASSERTED = "not_reasserted"
MAX_ACTOR, MAX_COMMENT, MAX_ID = 128, 2000, 128
# (state, command) -> state after it; any other pair is an illegal transition
TRANSITIONS: dict[tuple[str, str], str] = {
    (FIRING, ACK): ACKNOWLEDGED, (FIRING, CLAIM): FIRING, (FIRING, UNCLAIM): FIRING,
    (FIRING, RESOLVE): RESOLVED, (FIRING, COMMENT): FIRING,
    (ACKNOWLEDGED, UNACK): FIRING, (ACKNOWLEDGED, CLAIM): ACKNOWLEDGED,
    (ACKNOWLEDGED, UNCLAIM): ACKNOWLEDGED, (ACKNOWLEDGED, RESOLVE): RESOLVED,
    (ACKNOWLEDGED, COMMENT): ACKNOWLEDGED, (RESOLVED, COMMENT): RESOLVED,
}


class CommandError(ValueError):
    """An input the book refuses. ``code`` is stable (count it, show it to the operator),
    ``field`` names the offending field ("" for the whole input), ``reason`` says why."""

    def __init__(self, code: str, reason: str, field: str = "") -> None:
        super().__init__(f"{field or '<input>'}: {reason} [{code}]")
        self.code, self.reason, self.field = code, reason, field

    def __reduce__(self) -> tuple[type, tuple[str, str, str]]:
        return (type(self), (self.code, self.reason, self.field))


@dataclass(frozen=True)
class LifecycleConfig:
    """Timings of the book. ``ack_timeout_ms=None`` disables re-triggering; an alert is
    flapping after more than ``flap_changes`` firing/resolved changes within
    ``flap_window_ms`` and stops after ``flap_quiet_ms`` without one (Nagios-style)."""

    ack_timeout_ms: int | None = 30 * 60_000
    flap_changes: int = 6
    flap_window_ms: int = 10 * 60_000
    flap_quiet_ms: int = 15 * 60_000
    resolved_ttl_ms: int = 24 * 3_600_000   # resolved alerts are forgotten after this
    remember_causes: int = 64               # per fingerprint, for duplicate detection

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if v is None and f.name == "ack_timeout_ms":
                continue
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"LifecycleConfig.{f.name}: must be a positive int, got {v!r}")


@dataclass(frozen=True)
class Command:
    """An operator's request. A client-made ``command_id`` turns a redelivery into a no-op;
    ``occurrence`` (0: whichever is current) refuses a command aimed at an occurrence that
    is already over."""

    action: str
    fingerprint: str
    actor: str
    comment: str = ""
    command_id: str = ""
    occurrence: int = 0

    @classmethod
    def from_dict(cls, d: Any) -> Command:
        """A command from its wire form (the cockpit's JSON), checked field by field."""
        if not isinstance(d, Mapping):
            raise CommandError("bad_command", f"a command is an object, not {type(d).__name__}")
        names = {f.name for f in fields(cls)}
        for k in d:
            if k not in names:
                raise CommandError("bad_command", f"unknown field; expected {sorted(names)}",
                                   str(k))
        kw = {k: d.get(k, "" if k != "occurrence" else 0)
              for k in names if k in d or k in ("action", "fingerprint", "actor")}
        # checked before it is made: a compiled Command refuses a field of the wrong type
        # with a bare TypeError (citycc.native)
        _check(kw["action"], kw["fingerprint"], kw["actor"], kw.get("comment", ""),
               kw.get("command_id", ""), kw.get("occurrence", 0))
        return cls(**kw)

    def check(self) -> None:
        _check(self.action, self.fingerprint, self.actor, self.comment, self.command_id,
               self.occurrence)


def check_not_reserved(actor: str) -> None:
    """The names the engine and the detectors act under are not an operator's to take: a
    resolve by "system" with the comment not_reasserted would pass for an expiry."""
    name = actor.strip()
    if name == SYSTEM or name.startswith(DETECTOR_ACTOR):
        raise CommandError("reserved_actor", f"{name!r} is a name the engine or a detector "
                                             "acts under, not an operator's", "actor")


def _check(action: Any, fingerprint: Any, actor: Any, comment: Any, command_id: Any,
           occurrence: Any) -> None:
    """A command's fields, checked (CommandError names the first bad one)."""
    if action not in COMMANDS:
        raise CommandError("unknown_action", f"{action!r} is not one of {COMMANDS}", "action")
    _text(fingerprint, "fingerprint", MAX_ID, "bad_command", required=True)
    if not isinstance(actor, str) or not actor.strip():
        raise CommandError("missing_actor", "who is acting must be given", "actor")
    _text(actor, "actor", MAX_ACTOR, "bad_command")
    check_not_reserved(actor)
    _text(comment, "comment", MAX_COMMENT, "bad_command", free=True)
    _text(command_id, "command_id", MAX_ID, "bad_command")
    if action == COMMENT and not comment.strip():
        raise CommandError("missing_comment", "a comment needs text", "comment")
    if isinstance(occurrence, bool) or not isinstance(occurrence, int) or occurrence < 0:
        raise CommandError("bad_command", "must be an int >= 0", "occurrence")


def _text(v: Any, name: str, limit: int, code: str, required: bool = False,
          free: bool = False) -> None:
    """A string field of at most ``limit`` characters (``required``: not empty) that holds
    no character :func:`check_chars` refuses (``free``: free text)."""
    if not isinstance(v, str) or (required and not v):
        raise CommandError(code, "must be a non-empty string" if required else "must be a string",
                           name)
    if len(v) > limit:
        raise CommandError(code, f"longer than {limit} characters", name)
    check_chars(v, name, free)


def check_chars(value: str, field: str, text: bool = False) -> None:
    """CommandError ``bad_characters`` if ``value`` holds a character ``schemas.chars``
    refuses in an id or a name (control, invisible, bidi), or with ``text`` in free text
    (control other than newline and tab, bidi): an audit trail must not show a spoofed
    name, nor an override reverse what an operator reads."""
    bad = bad_character(value, text=text)
    if bad is not None:
        what = "control or bidi" if text else "control, invisible or bidi"
        raise CommandError("bad_characters", f"holds {bad}: no {what} characters", field)


def check_id(value: str, field: str) -> None:
    """An id or a name: no refused character (``bad_characters``), not blank (``empty``)."""
    check_chars(value, field)
    if not value.strip():
        raise CommandError("empty", "must not be blank", field)


@dataclass(frozen=True)
class AlertEvent:
    """One state change of one alert occurrence. ``event_id`` = stable_id(occurrence_id,
    seq); ``from_state`` is "" for a fingerprint's first event; ``notify`` says whether
    receivers should hear of it (False for operator actions and while flapping);
    ``ends_ms``: when the alert resolves unless re-asserted (0: never; the detector's
    ``ends_at``)."""

    event_id: str
    fingerprint: str
    occurrence: int
    occurrence_id: str
    seq: int
    from_state: str
    to_state: str
    action: str
    actor: str
    comment: str
    at_ms: int
    severity: str
    kind: str
    entity_id: str
    district: str
    labels: tuple[tuple[str, str], ...]
    alert_id: str
    cause_id: str
    notify: bool
    ends_ms: int = 0

    def to_dict(self) -> dict[str, Any]:
        d = {f: getattr(self, f) for f in _EVENT_FIELDS}  # (asdict's deep copy: 4x slower)
        d["labels"] = dict(self.labels)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> AlertEvent:
        args = {f.name: d[f.name] for f in fields(cls) if f.name != "ends_ms"}
        args["ends_ms"] = int(d.get("ends_ms") or 0)   # (absent from older logs)
        args["labels"] = tuple(sorted(dict(args["labels"]).items()))
        return cls(**args)


_EVENT_FIELDS = tuple(f.name for f in fields(AlertEvent))


def alert_fields(msg: Mapping[str, Any]) -> tuple[str, str, str, str, int]:
    """(fingerprint, status, alert_id, severity, event ms) of a detector alert, checked."""
    get = msg.get
    fp, alert_id, status, severity = get("fingerprint"), get("alert_id"), get("status"), \
        get("severity")
    if not isinstance(fp, str) or not fp:
        raise CommandError("bad_alert", "must be a non-empty string", "fingerprint")
    if not isinstance(alert_id, str) or not alert_id:
        raise CommandError("bad_alert", "must be a non-empty string", "alert_id")
    if status not in (FIRING, RESOLVED):
        raise CommandError("bad_alert", f"must be {FIRING!r} or {RESOLVED!r}", "status")
    if severity not in SEVERITIES:
        raise CommandError("bad_alert", f"must be one of {SEVERITIES}", "severity")
    try:
        ms = parse_event_time(get("event_time"))
    except ValidationError as exc:
        raise CommandError("bad_alert", exc.reason, "event_time") from exc
    return fp, status, alert_id, severity, ms


def alert_ends_ms(msg: Mapping[str, Any]) -> int:
    """A detector alert's ``ends_at`` in epoch ms, checked (0: none, it never expires)."""
    ends = msg.get("ends_at")
    if ends is None:
        return 0
    try:
        return parse_event_time(ends)
    except ValidationError as exc:
        raise CommandError("bad_alert", exc.reason, "ends_at") from exc
