"""The lifecycle state of each alert, folded from ``alert_events`` (pure, bounded).

Mirrors what ``alerting.lifecycle.AlertBook`` evolves, as far as the cockpit shows it:
state (firing / acknowledged / resolved), who acknowledged, who claimed, the latest
comments. An event at or before the (occurrence, seq) already held is a redelivery and is
ignored; a ``forget`` removes the alert. Following a topic from a backfill may start in the
middle of an occurrence: the state is then right, an earlier claim may be unknown.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from typing import Any

from alerting.lifecycle import ACK, CLAIM, FORGET, STATES, UNCLAIM, UNFLAPPING, FLAPPING

from .errors import MalformedMessage

DEFAULT_MAX_STATES = 2000
DEFAULT_MAX_COMMENTS = 5
_STR_FIELDS = ("event_id", "fingerprint", "action", "to_state")
_INT_FIELDS = ("occurrence", "seq", "at_ms")
_COPIED = ("severity", "kind", "entity_id", "district", "alert_id")

AlertState = dict[str, Any]


def normalize_alert_event(obj: object) -> dict[str, Any]:
    """Check the fields the cockpit relies on; return a copy (unknown fields pass)."""
    if not isinstance(obj, dict):
        raise MalformedMessage(f"alert event is not a JSON object but {type(obj).__name__}")
    ev = dict(obj)
    for k in _STR_FIELDS:
        if not isinstance(ev.get(k), str) or not ev[k]:
            raise MalformedMessage(f"alert event {ev.get('event_id')!r}: {k!r} must be a "
                                   f"non-empty string")
    for k in _INT_FIELDS:
        if isinstance(ev.get(k), bool) or not isinstance(ev.get(k), int):
            raise MalformedMessage(f"alert event {ev['event_id']!r}: {k!r} must be an integer")
    if ev["to_state"] not in STATES:
        raise MalformedMessage(f"alert event {ev['event_id']!r}: to_state "
                               f"{ev['to_state']!r} not in {STATES}")
    for k in ("actor", "comment", *_COPIED):
        ev[k] = ev[k] if isinstance(ev.get(k), str) else ""
    ev["labels"] = ev["labels"] if isinstance(ev.get("labels"), dict) else {}
    return ev


def entry_of(ev: dict[str, Any]) -> dict[str, Any]:
    """What a client is told of one event (for its feedback and the row's last action)."""
    return {k: ev.get(k) for k in ("event_id", "fingerprint", "occurrence", "seq", "action",
                                   "from_state", "to_state", "actor", "comment", "at_ms")}


class AlertStates:
    """Latest lifecycle state per fingerprint, at most ``max_states`` (resolved go first)."""

    def __init__(self, max_states: int = DEFAULT_MAX_STATES,
                 max_comments: int = DEFAULT_MAX_COMMENTS) -> None:
        if max_states < 1 or max_comments < 0:
            raise ValueError("max_states must be >= 1 and max_comments >= 0")
        self.max_states, self.max_comments = max_states, max_comments
        self._states: OrderedDict[str, AlertState] = OrderedDict()
        self._comments: dict[str, deque[dict[str, Any]]] = {}

    def apply(self, ev: dict[str, Any]) -> tuple[bool, AlertState | None]:
        """Fold one normalised event: (changed, the state after it or None if forgotten)."""
        fp = ev["fingerprint"]
        cur = self._states.get(fp)
        if cur is not None and (ev["occurrence"], ev["seq"]) <= (cur["occurrence"], cur["seq"]):
            return False, cur
        if ev["action"] == FORGET:
            self._states.pop(fp, None)
            self._comments.pop(fp, None)
            return cur is not None, None
        new_occurrence = cur is None or ev["occurrence"] != cur["occurrence"]
        st: AlertState = dict(cur) if cur is not None else {"fingerprint": fp, "flapping": False}
        if new_occurrence:
            st.update(owner="", acked_by="", since_ms=ev["at_ms"])
            self._comments[fp] = deque(maxlen=self.max_comments)
        st.update({k: ev[k] for k in _COPIED}, labels=ev["labels"], state=ev["to_state"],
                  occurrence=ev["occurrence"], seq=ev["seq"], updated_ms=ev["at_ms"],
                  last=entry_of(ev))
        action, who = ev["action"], ev["actor"]
        if action == CLAIM:
            st["owner"] = who
        elif action == UNCLAIM:
            st["owner"] = ""
        if action == ACK:
            st["acked_by"] = who
        elif ev["to_state"] != "acknowledged":
            st["acked_by"] = ""
        if action in (FLAPPING, UNFLAPPING):
            st["flapping"] = action == FLAPPING
        if ev["comment"] and not who.startswith("detector:") and who != "system":
            self._comments[fp].append({"actor": who, "comment": ev["comment"],
                                       "at_ms": ev["at_ms"], "action": action})
        st["comments"] = list(self._comments[fp])
        self._states[fp] = st
        self._states.move_to_end(fp)
        self._evict()
        return True, st

    def get(self, fingerprint: str) -> AlertState | None:
        return self._states.get(fingerprint)

    def states(self) -> list[AlertState]:
        """Every held state, most recently changed first."""
        return list(reversed(self._states.values()))

    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(STATES, 0)
        for st in self._states.values():
            out[st["state"]] += 1
        return out

    def __len__(self) -> int:
        return len(self._states)

    def _evict(self) -> None:
        while len(self._states) > self.max_states:
            victim = next((k for k, s in self._states.items() if s["state"] == "resolved"),
                          next(iter(self._states)))
            del self._states[victim]
            self._comments.pop(victim, None)
