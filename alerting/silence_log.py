"""Silence events: every silence's creation, change and end, as records for a topic.

Why: a dispatcher must see what is muted, by whom, why and until when, and be able to end
it; an auditor must see who muted what afterwards. Alertmanager keeps only the current
silences. The engine emits one record per change (``created``, ``extended``, ``expired``
by an operator, ``ended``: expired, its alerts resolved, or unused); the cockpit keeps the
current ones and the warehouse all of them. Ids are deterministic (silence, action, time),
so a replayed command yields the same record.
"""

from __future__ import annotations

import re
from typing import Any

from alerting.labels import LabelError, Matcher, render
from alerting.matchers import parse_text, restored_matcher
from alerting.silences import Silence
from schemas.records import stable_id
from schemas.validate import format_event_time

ACTIONS = ("created", "extended", "expired", "ended")
# how records written before issue 12 spelled a matcher: name op "value", the value unescaped
_WRITTEN_BEFORE = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)(=~|!~|!=|=)"(.*)"\Z', re.S)


def silence_event(s: Silence, action: str, at_ms: int, actor: str,
                  end_reason: str = "") -> dict[str, Any]:
    """The wire record of one silence change (``ends_at`` None: until it is ended)."""
    if action not in ACTIONS:
        raise ValueError(f"silence event action {action!r} is not one of {ACTIONS}")
    return {
        "event_id": stable_id("silence-event", s.id, action, at_ms),
        "silence_id": s.id, "action": action, "at": format_event_time(at_ms),
        "at_ms": at_ms, "actor": actor, "author": s.author, "reason": s.reason,
        "matchers": [render(m) for m in s.matchers],
        "starts_at": format_event_time(s.starts_ms),
        "ends_at": None if s.ends_ms is None else format_event_time(s.ends_ms),
        "until_resolved": s.until_resolved, "end_reason": end_reason,
    }


def record_matchers(texts: Any, restored: bool = False) -> tuple[Matcher, ...]:
    """The matchers of a record's ``matchers`` (a list of texts). The engine writes them
    with ``render``, which parses back exactly; records written before issue 12 held
    ``name op "value"`` unescaped, and a text of theirs that does not parse (a regex's
    ``\\d``, a quote in a value) is read as it was written, so the silence stays as it was.
    ``restored`` (the engine rebuilding its silences from the log): a regex refused now (RE2,
    the length bound) comes back as a refused matcher that matches nothing, and the silence
    is ended (``restored_matcher``); otherwise it is a LabelError like any bad matcher."""
    if not isinstance(texts, list):
        raise LabelError(f"a record's matchers are a list, not {type(texts).__name__}")
    out: list[Matcher] = []
    for text in texts:
        try:
            found = parse_text(text, restored)
            if not found:
                raise LabelError(f"{text!r} holds no matcher")
            out.extend(found)
        except LabelError:
            old = _WRITTEN_BEFORE.match(text) if isinstance(text, str) else None
            if old is None:
                raise
            name, op, value = old.group(1), old.group(2), old.group(3)
            out.append(restored_matcher(name, op, value) if restored else
                       Matcher(name, op, value))
    return tuple(out)
