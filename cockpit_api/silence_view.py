"""The current silences as the cockpit shows them, folded from ``silence_events`` (pure, bounded).

A silence is current from its ``created`` record until an ``expired`` or ``ended`` record for
its id (``alerting.silence_log``). Every record carries the whole silence, so the latest one
is the view; an ``extended`` seen without its ``created`` (the feed started after it) makes a
*partial* silence, so a current silence is never invisible. Closing is final: the ids of
closed silences are remembered (up to ``keep_closed``), so a late or redelivered record -- an
``ended`` read before its ``created``, a ``created`` again after it -- never brings one back
(the engine never reuses an id). A record at or before the one held (``at_ms``, then the
action's place in the life of a silence) is a redelivery and changes nothing.

:meth:`SilenceBoard.matching` answers which current silences mute a label set, with the
engine's own matchers (``alerting.labels``), so the cockpit marks an alert as the engine
mutes it. No clock here: a silence whose end has passed stays until its ``ended`` record.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from alerting.labels import LabelError, Matcher, labels_of, matches_all
from alerting.silence_log import ACTIONS, record_matchers
from schemas.errors import ValidationError
from schemas.validate import parse_event_time

from .errors import MalformedMessage, require_ids

DEFAULT_MAX_CURRENT = 1000
KEEP_CLOSED = 5000       # ids of closed silences remembered, so late records stay closed
CLOSING = ("expired", "ended")
_RANK = {a: i for i, a in enumerate(ACTIONS)}   # created < extended < expired < ended
_TEXT = ("actor", "author", "reason", "end_reason", "at")

Matchers = tuple[Matcher, ...]


def _matchers(ev: dict[str, Any]) -> Matchers:
    raw = ev.get("matchers")
    if not isinstance(raw, list) or not raw or not all(isinstance(m, str) for m in raw):
        raise MalformedMessage(f"silence event {ev['event_id']!r}: 'matchers' must be a "
                               f"non-empty list of strings")
    try:
        return record_matchers(raw)
    except LabelError as exc:
        raise MalformedMessage(f"silence event {ev['event_id']!r}: {exc}") from None


def _time(ev: dict[str, Any], k: str) -> int | None:
    v = ev.get(k)
    if v is None:
        return None
    try:
        return parse_event_time(v)
    except ValidationError as exc:
        raise MalformedMessage(f"silence event {ev['event_id']!r}: {k!r} {v!r} is not an "
                               f"ISO 8601 time with an offset ({exc.reason})") from None


def normalize_silence_event(obj: object) -> dict[str, Any]:
    """Check a silence event; return a copy with ``starts_ms``/``ends_ms`` added (unknown
    fields pass). A closing record needs only its ids, action and time: whatever else is
    wrong with it, the silence is over."""
    if not isinstance(obj, dict):
        raise MalformedMessage(f"silence event is not a JSON object but {type(obj).__name__}")
    ev = dict(obj)
    require_ids(ev, "silence event", ("event_id", "silence_id", "action"))
    if ev["action"] not in ACTIONS:
        raise MalformedMessage(f"silence event {ev['event_id']!r}: action {ev['action']!r} "
                               f"not in {ACTIONS}")
    if isinstance(ev.get("at_ms"), bool) or not isinstance(ev.get("at_ms"), int):
        raise MalformedMessage(f"silence event {ev['event_id']!r}: 'at_ms' must be an integer")
    for k in _TEXT:
        ev[k] = ev[k] if isinstance(ev.get(k), str) else ""
    ev["until_resolved"] = ev.get("until_resolved") is True
    if ev["action"] in CLOSING:
        ok = isinstance(ev.get("matchers"), list) and all(isinstance(m, str)
                                                         for m in ev["matchers"])
        ev["matchers"] = ev["matchers"] if ok else []
        for k in ("starts_at", "ends_at"):
            ev[k] = ev[k] if isinstance(ev.get(k), str) else None
        return ev
    _matchers(ev)
    ev["starts_ms"], ev["ends_ms"] = _time(ev, "starts_at"), _time(ev, "ends_at")
    return ev


def alert_labels(state: Mapping[str, Any] | None, alert: Mapping[str, Any] | None
                 ) -> dict[str, str] | None:
    """The labels the engine matches silences against: its own, which the lifecycle state
    carries; without them, ``labels_of`` the detector alert (else of the state's fields).
    None: no alert at all."""
    own = state.get("labels") if state is not None else None
    if isinstance(own, Mapping) and own:
        return {str(k): str(v) for k, v in own.items() if v not in (None, "")}
    if alert is not None:
        return labels_of(alert)
    return labels_of(state) if state is not None else None


def entry_of(ev: dict[str, Any]) -> dict[str, Any]:
    """What a client is told of one record (the feedback of an expire, the panel's news)."""
    return {k: ev.get(k) for k in ("event_id", "silence_id", "action", "at_ms", "actor",
                                   "end_reason")}


def view_of(ev: dict[str, Any], partial: bool) -> dict[str, Any]:
    """A current silence as a client shows it, from its latest record."""
    return {"silence_id": ev["silence_id"], "matchers": list(ev["matchers"]),
            "author": ev["author"], "reason": ev["reason"], "starts_at": ev.get("starts_at"),
            "starts_ms": ev["starts_ms"], "ends_at": ev.get("ends_at"), "ends_ms": ev["ends_ms"],
            "until_resolved": ev["until_resolved"], "action": ev["action"],
            "actor": ev["actor"], "updated_ms": ev["at_ms"], "partial": partial}


@dataclass(frozen=True)
class SilenceChange:
    """What one record changed: the silence after it (None: it is over), the record's
    entry, and the matchers it had before and has after (empty: none), so a caller can find
    the alerts whose marks may have changed."""

    silence_id: str
    view: dict[str, Any] | None
    entry: dict[str, Any]
    before: Matchers
    after: Matchers

    def touches(self, labels: Mapping[str, str]) -> bool:
        return any(ms and matches_all(ms, labels) for ms in (self.before, self.after))


@dataclass
class _Current:
    view: dict[str, Any]
    matchers: Matchers
    key: tuple[int, int]          # (at_ms, action rank) of the record it was made from


class SilenceBoard:
    """Up to ``max_current`` current silences (least recently changed go first when full,
    counted in ``evicted``)."""

    def __init__(self, max_current: int = DEFAULT_MAX_CURRENT,
                 keep_closed: int = KEEP_CLOSED) -> None:
        if max_current < 1 or keep_closed < 1:
            raise ValueError("max_current and keep_closed must be >= 1")
        self.max_current, self.keep_closed = max_current, keep_closed
        self.evicted = 0
        self._current: OrderedDict[str, _Current] = OrderedDict()
        self._closed: OrderedDict[str, str] = OrderedDict()   # id -> the closing action

    def apply(self, ev: dict[str, Any]) -> SilenceChange | None:
        """Fold one normalised record; None when it changes nothing (a redelivery, a late
        record, anything about a closed silence)."""
        sid, action = ev["silence_id"], ev["action"]
        if sid in self._closed:
            return None
        held = self._current.get(sid)
        before = held.matchers if held is not None else ()
        if action in CLOSING:
            self._current.pop(sid, None)
            self._closed[sid] = action
            while len(self._closed) > self.keep_closed:
                self._closed.popitem(last=False)
            return SilenceChange(sid, None, entry_of(ev), before, ())
        key = (ev["at_ms"], _RANK[action])
        if held is not None and key <= held.key:
            return None
        partial = held.view["partial"] if held is not None else action != "created"
        now = _Current(view_of(ev, partial), _matchers(ev), key)
        self._current[sid] = now
        self._current.move_to_end(sid)
        while len(self._current) > self.max_current:
            self._current.popitem(last=False)
            self.evicted += 1
        return SilenceChange(sid, now.view, entry_of(ev), before, now.matchers)

    def matching(self, labels: Mapping[str, str]) -> tuple[str, ...]:
        """Ids of the current silences whose matchers all match ``labels`` (least recently
        changed first)."""
        return tuple(sid for sid, c in self._current.items() if matches_all(c.matchers, labels))

    def silences(self) -> list[dict[str, Any]]:
        """Views of the current silences, most recently changed first."""
        return [c.view for c in reversed(self._current.values())]

    def get(self, silence_id: str) -> dict[str, Any] | None:
        c = self._current.get(silence_id)
        return c.view if c is not None else None

    def __len__(self) -> int:
        return len(self._current)
