"""Open incidents as the cockpit shows them, folded from ``incident_events`` (pure, bounded).

Each event kind changes the view as ``alerting.incident_state.IncidentState.apply`` changes
the incident (see that module for the payloads); every event is also a timeline entry, of
which the last ``timeline`` are kept. An event at or before an incident's ``seq`` is a
redelivery and is ignored. Resolved and merged incidents leave the board (a client is told,
then forgets them). An event for an incident whose ``opened`` was never seen (the feed
started after it) makes a *partial* incident, so an open incident is never invisible.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any

from alerting.incident_calls import UNIT_RECORD
from schemas.errors import ValidationError
from schemas.jsonin import decode
from schemas.records import SEVERITIES

from .errors import MalformedMessage, require_ids
from .guidance_view import guidance_of

DEFAULT_MAX_OPEN = 500
DEFAULT_TIMELINE = 30
MAX_MEMBERS = 1000       # per incident; further alerts are counted in ``truncated``
KEEP_CLOSED = 5000       # ids of closed incidents remembered, so late events stay closed
CLOSING = {"resolved": "resolved", "merged_into": "merged"}
_MEMBER_FIELDS = ("fingerprint", "alert_id", "kind", "stream", "severity", "status",
                  "entity_id", "district", "title_zh", "title_en", "first_ms", "event_ms")
_HEAD_FIELDS = ("category", "category_zh", "category_en", "severity", "district", "lat",
                "lon", "opened_ms", "split_from")
_RANK = {s: i for i, s in enumerate(reversed(SEVERITIES))}


def normalize_incident_event(obj: object) -> dict[str, Any]:
    """Check an incident event and parse its ``payload_json``; unknown fields pass."""
    if not isinstance(obj, dict):
        raise MalformedMessage(f"incident event is not a JSON object but {type(obj).__name__}")
    ev = dict(obj)
    require_ids(ev, "incident event", ("event_id", "incident_id", "kind"))
    for k in ("seq", "at_ms"):
        if isinstance(ev.get(k), bool) or not isinstance(ev.get(k), int):
            raise MalformedMessage(f"incident event {ev['event_id']!r}: {k!r} must be an int")
    raw = ev.pop("payload_json", None)
    try:
        payload = decode(raw, field="payload_json") if isinstance(raw, str) else \
            ev.get("payload", {})
    except ValidationError as exc:
        raise MalformedMessage(f"incident event {ev['event_id']!r}: payload_json is not "
                               f"JSON the cockpit takes: {exc.reason} [{exc.code}]") from None
    if not isinstance(payload, dict):
        raise MalformedMessage(f"incident event {ev['event_id']!r}: payload is not an object")
    ev["payload"] = payload
    ev["actor"] = ev["actor"] if isinstance(ev.get("actor"), str) else ""
    return ev


def _slim(member: Any) -> dict[str, Any] | None:
    if not isinstance(member, dict) or not isinstance(member.get("fingerprint"), str):
        return None
    return {k: member.get(k) for k in _MEMBER_FIELDS}


def _detail(kind: str, p: dict[str, Any]) -> dict[str, Any]:
    """The part of a payload a timeline entry shows (members left out; of an enrichment,
    its guidance)."""
    if kind == "opened":
        return {"category": p.get("category"), "category_zh": p.get("category_zh"),
                "category_en": p.get("category_en"), "severity": p.get("severity"),
                "alerts": len(p.get("members") or ())}
    if kind in ("alert_attached", "alert_resolved"):
        return _slim(p.get("member")) or {}
    if kind == "merged":
        return {"source": p.get("source"), "alerts": len(p.get("members") or ())}
    if kind == "split":
        fps = [str(f) for f in p.get("fingerprints") or ()]
        return {"fingerprints": fps[:20], "count": len(fps), "new_incident": p.get("new_incident")}
    if kind == "enriched":   # the guidance, never the enrichment's raw keys
        return {"guidance": guidance_of(p.get("enrichment"))}
    if kind == UNIT_RECORD:  # which unit, its new status, for which call (no coordinates)
        return {k: p.get(k) for k in ("unit", "status", "stream", "call_id")}
    return {k: (v[:300] if isinstance(v, str) else v) for k, v in list(p.items())[:12]
            if isinstance(v, (str, int, float, bool)) or v is None or
            (isinstance(v, list) and len(v) <= 20 and all(isinstance(x, str) for x in v))}


def timeline_entry(ev: dict[str, Any]) -> dict[str, Any]:
    return {"event_id": ev["event_id"], "seq": ev["seq"], "kind": ev["kind"],
            "at_ms": ev["at_ms"], "actor": ev["actor"], "detail": _detail(ev["kind"],
                                                                           ev["payload"])}


@dataclass
class _Incident:
    head: dict[str, Any]
    timeline: deque[dict[str, Any]]
    members: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: dict[str, dict[str, Any]] = field(default_factory=dict)

    def add(self, member: Any) -> None:
        m = _slim(member)
        if m is None:
            return
        if m["fingerprint"] not in self.members and len(self.members) >= MAX_MEMBERS:
            self.head["truncated"] += 1
            return
        self.members[m["fingerprint"]] = m
        if self.head["partial"] and _RANK.get(m["severity"], 0) > _RANK.get(
                self.head["severity"], 0):
            self.head["severity"] = m["severity"]

    def view(self) -> dict[str, Any]:
        members = list(self.members.values())
        streams = {m["stream"] for m in members if m.get("stream")}
        streams |= {c["stream"] for c in self.calls.values() if c.get("stream")}
        return {**self.head, "alerts": len(members) + self.head["truncated"],
                "firing": sum(m.get("status") == "firing" for m in members),
                "streams": sorted(streams), "members": members, "calls": dict(self.calls),
                "timeline": list(self.timeline)}


class IncidentBoard:
    """Up to ``max_open`` open incidents (least recently changed go first when full)."""

    def __init__(self, max_open: int = DEFAULT_MAX_OPEN, timeline: int = DEFAULT_TIMELINE
                 ) -> None:
        if max_open < 1 or timeline < 1:
            raise ValueError("max_open and timeline must be >= 1")
        self.max_open, self.timeline = max_open, timeline
        self.evicted = 0
        self._open: OrderedDict[str, _Incident] = OrderedDict()
        self._closed: OrderedDict[str, str] = OrderedDict()  # id -> status

    def apply(self, ev: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """Fold one normalised event: (the incident's view after it, its timeline entry),
        or None when it changes nothing (a redelivery, or about a closed incident)."""
        iid, kind, p = ev["incident_id"], ev["kind"], ev["payload"]
        inc = self._open.get(iid)
        if inc is None:
            if iid in self._closed or kind in CLOSING:
                return None
            inc = self._new(iid, ev, partial=kind != "opened")
        elif ev["seq"] <= inc.head["seq"]:
            return None
        entry = timeline_entry(ev)
        _apply(inc, kind, p)
        inc.head["seq"], inc.head["last_ms"] = ev["seq"], max(inc.head["last_ms"], ev["at_ms"])
        inc.timeline.append(entry)
        if kind in CLOSING:
            inc.head["status"] = CLOSING[kind]
            inc.head["merged_into"] = str(p.get("target") or "")
            del self._open[iid]
            self._closed[iid] = inc.head["status"]
            while len(self._closed) > KEEP_CLOSED:
                self._closed.popitem(last=False)
            return inc.view(), entry
        self._open[iid] = inc
        self._open.move_to_end(iid)
        while len(self._open) > self.max_open:
            self._open.popitem(last=False)
            self.evicted += 1
        return inc.view(), entry

    def incidents(self) -> list[dict[str, Any]]:
        """Views of the open incidents, most recently changed first."""
        return [inc.view() for inc in reversed(self._open.values())]

    def get(self, incident_id: str) -> dict[str, Any] | None:
        inc = self._open.get(incident_id)
        return inc.view() if inc is not None else None

    def __len__(self) -> int:
        return len(self._open)

    def _new(self, iid: str, ev: dict[str, Any], partial: bool) -> _Incident:
        head = {"incident_id": iid, "category": "", "category_zh": "", "category_en": "",
                "severity": "info", "district": "", "lat": None, "lon": None,
                "opened_ms": ev["at_ms"], "last_ms": ev["at_ms"], "split_from": "",
                "status": "open", "seq": 0, "notes": 0, "merged_from": [], "merged_into": "",
                "partial": partial, "truncated": 0, "guidance": None}
        return _Incident(head, deque(maxlen=self.timeline))


def _calls(raw: Any) -> dict[str, dict[str, Any]]:
    if not isinstance(raw, dict):
        return {}
    return {str(k): dict(v) for k, v in raw.items() if isinstance(v, dict)}


def _apply(inc: _Incident, kind: str, p: dict[str, Any]) -> None:
    """Change the view by one event (an unknown kind is a timeline record only)."""
    h = inc.head
    if kind in ("opened", "enriched") and "enrichment" in p:
        h["guidance"] = guidance_of(p.get("enrichment"))
    if kind == "opened":
        h.update({k: p[k] for k in _HEAD_FIELDS if k in p}, partial=False)
        for m in p.get("members") or ():
            inc.add(m)
        inc.calls.update(_calls(p.get("calls")))
    elif kind in ("alert_attached", "alert_resolved"):
        inc.add(p.get("member"))
    elif kind == "merged":
        for m in p.get("members") or ():
            inc.add(m)
        inc.calls.update(_calls(p.get("calls")))
        h["merged_from"] = [*h["merged_from"], str(p.get("source", "")),
                            *map(str, p.get("merged_from") or ())]
    elif kind == "split":
        fps = set(p.get("fingerprints") or ())
        for fp in fps & set(inc.members):
            del inc.members[fp]
        for cid in [c for c, i in inc.calls.items() if i.get("fingerprint") in fps]:
            del inc.calls[cid]
    elif kind == "severity_changed" and p.get("to") in _RANK:
        h["severity"] = p["to"]
    elif kind == "call_linked" and isinstance(p.get("call_id"), str):
        inc.calls[p["call_id"]] = {"stream": p.get("stream"), "via": p.get("via"),
                                   "fingerprint": p.get("fingerprint", "")}
    elif kind == "call_unlinked" and isinstance(p.get("call_id"), str):
        inc.calls.pop(p["call_id"], None)
    elif kind == "note_added":
        h["notes"] += 1
