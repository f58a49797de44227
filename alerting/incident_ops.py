"""The operations that change incidents, each by emitting events: open, attach, merge,
split, link a call, note, record, resolve, and keep the severity and enrichment current.

Why apart: operators (merge, split, notes, unit records) and the correlator (which opens,
attaches and absorbs from alerts, ``alerting.incidents``) change incidents the same way,
so they share these operations and their checks. A bad command raises IncidentError and
changes nothing. Pure: the actor and the time come with the command.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any, Iterable, Mapping

from alerting.incident_model import (CALL_STREAMS, CORRELATOR, EVENT_KINDS, RANK, SEVERITIES,
                                     Category, CorrelatorConfig, Enricher, EscalationPolicy,
                                     Incident, IncidentError, IncidentEvent, Member,
                                     SeverityContext, grow_escalation)
from alerting.incident_state import IncidentState
from alerting.records import maker
from schemas.memo import remember
from schemas.records import stable_id

_new_context = maker(SeverityContext)   # (made per incident update: every field, in order)
_RECORD_KIND = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_")


def _require(actor: str) -> None:
    if not isinstance(actor, str) or not actor.strip():
        raise IncidentError("a command needs an actor (who did it)")


class IncidentOps(IncidentState):
    """``escalation`` (pure: its answers are remembered by context) turns an incident's
    alerts into its severity (never lowered automatically; a split recomputes it);
    ``enricher`` (e.g. ``alerting.enrich.enrich`` bound to a profile) runs when an
    incident opens, its result stored in the event."""

    def __init__(self, config: CorrelatorConfig | None = None, *,
                 escalation: EscalationPolicy = grow_escalation,
                 enricher: Enricher | None = None) -> None:
        super().__init__(config)
        self.escalation, self.enricher = escalation, enricher
        self._severity_memo: dict[tuple[Any, ...], str] = {}

    # -- operator commands (IncidentError for a bad one, and nothing changes) ---------------
    def merge(self, target_id: str, source_id: str, *, actor: str, at_ms: int
              ) -> list[IncidentEvent]:
        _require(actor)
        target, source = self._open_inc(target_id), self._open_inc(source_id)
        if target is source:
            raise IncidentError(f"cannot merge incident {target_id} into itself")
        out: list[IncidentEvent] = []
        self._merge(target, source, actor, at_ms, out)
        return out

    def split(self, incident_id: str, fingerprints: Iterable[str], *, actor: str,
              at_ms: int) -> list[IncidentEvent]:
        """Move the named alerts (by fingerprint) out into a new incident."""
        _require(actor)
        inc = self._open_inc(incident_id)
        fps = [fingerprints] if isinstance(fingerprints, str) else \
            list(dict.fromkeys(fingerprints))
        missing = [f for f in fps if f not in inc.members]
        if not fps or missing:
            raise IncidentError(f"split of {incident_id}: name alerts it holds "
                                f"(not held: {missing})")
        if len(fps) == len(inc.members):
            raise IncidentError(f"splitting every alert out of {incident_id} would leave it "
                                f"empty; resolve or merge it instead")
        moved = [inc.members[f] for f in fps]
        calls = {c: i for c, i in inc.calls.items() if i.get("fingerprint") in fps}
        new_id = "INC-" + stable_id("incident-split", incident_id, inc.seq, *sorted(fps))
        out: list[IncidentEvent] = []
        self._emit(out, incident_id, "split", at_ms, actor,
                   {"fingerprints": sorted(fps), "new_incident": new_id})
        self._open(self._split_category(moved, inc.category), moved, out, at_ms, actor,
                   split_from=incident_id, calls=calls, iid=new_id)
        self._reseverity(inc, at_ms, out, actor, recompute=True)
        return out

    def link_call(self, incident_id: str, call_id: str, *, stream: str, actor: str,
                  at_ms: int, event_id: str = "") -> list[IncidentEvent]:
        """Link a 120 (``ems``) or 119 (``fire``) call; linking it again is a no-op. A call
        linked to another open incident (by the correlator or an operator) moves: unlinked
        there (``call_unlinked``, naming where it went) and linked here, on both timelines."""
        _require(actor)
        self._open_inc(incident_id)
        if not isinstance(call_id, str) or not call_id or stream not in CALL_STREAMS:
            raise IncidentError(f"link_call: call id must be non-empty and stream one of "
                                f"{CALL_STREAMS} (120: ems, 119: fire), got "
                                f"{call_id!r}/{stream!r}")
        other = self._call_of.get(call_id)
        out: list[IncidentEvent] = []
        if other == incident_id:
            return out
        link = {"call_id": call_id, "stream": stream, "via": "command", "event_id": event_id}
        if other is not None:
            was = self.incidents[other].calls.get(call_id, {})
            self._emit(out, other, "call_unlinked", at_ms, actor, {
                "call_id": call_id, "stream": was.get("stream", stream),
                "moved_to": incident_id})
            link["moved_from"] = other
        self._emit(out, incident_id, "call_linked", at_ms, actor, link)
        return out

    def add_note(self, incident_id: str, text: str, *, actor: str, at_ms: int
                 ) -> list[IncidentEvent]:
        _require(actor)
        self._known_inc(incident_id)
        if not isinstance(text, str) or not text.strip() or len(text) > 4000:
            raise IncidentError("a note needs 1..4000 characters of text")
        out: list[IncidentEvent] = []
        self._emit(out, incident_id, "note_added", at_ms, actor, {"text": text.strip()})
        return out

    def record(self, incident_id: str, kind: str, payload: Mapping[str, Any], at_ms: int,
               actor: str) -> list[IncidentEvent]:
        """A dispatch/unit event on the timeline (``unit_dispatched``, ``unit_on_scene``...)."""
        _require(actor)
        self._known_inc(incident_id)
        if not isinstance(kind, str) or not kind or not set(kind) <= _RECORD_KIND or \
                kind in EVENT_KINDS or len(kind) > 48 or not isinstance(payload, Mapping):
            raise IncidentError(f"record {kind!r}: kind must be lower_snake_case, not one of "
                                f"{EVENT_KINDS}, and the payload a mapping")
        out: list[IncidentEvent] = []
        self._emit(out, incident_id, kind, at_ms, actor, dict(payload))
        return out

    def resolve(self, incident_id: str, *, actor: str, at_ms: int,
                reason: str = "closed by operator") -> list[IncidentEvent]:
        """Close an incident by hand (a false alarm, or handed over)."""
        _require(actor)
        self._open_inc(incident_id)
        out: list[IncidentEvent] = []
        self._emit(out, incident_id, "resolved", at_ms, actor, {"reason": str(reason)})
        return out

    # -- shared operations ----------------------------------------------------------------
    def _attach(self, inc: Incident, m: Member, out: list[IncidentEvent]) -> None:
        self._emit_member(out, inc.incident_id, "alert_attached", m)
        self._link_member_calls(inc, m, out)

    def _open(self, cat: Category, group: list[Member], out: list[IncidentEvent], at_ms: int,
              actor: str, *, split_from: str = "", calls: Mapping[str, Any] | None = None,
              iid: str | None = None) -> Incident:
        group = sorted(group, key=lambda x: (x.first_ms, x.fingerprint))
        first, n = group[0], 0
        while iid is None or self.get(iid) is not None:  # suffix only on a true collision
            iid = "INC-" + stable_id("incident", first.fingerprint, first.first_ms,
                                     *([n] if n else []))
            n += 1
        loc = next((x for x in group if x.lat is not None and x.lon is not None), None)
        districts = Counter(x.district for x in group if x.district)
        stub = Incident(iid, cat.name, cat.zh, cat.en, "info", first.first_ms,
                        loc.lat if loc else None, loc.lon if loc else None,
                        districts.most_common(1)[0][0] if districts else "",
                        members={x.fingerprint: x for x in group}, calls=dict(calls or {}),
                        split_from=split_from, last_ms=max(x.event_ms for x in group))
        stub.severity = self._severity(stub, recompute=True)
        payload = {"category": cat.name, "category_zh": cat.zh, "category_en": cat.en,
                   "severity": stub.severity, "opened_ms": stub.opened_ms, "lat": stub.lat,
                   "lon": stub.lon, "district": stub.district, "split_from": split_from,
                   "members": [x.to_dict() for x in group], "calls": dict(calls or {}),
                   "enrichment": self._enrich(stub)}
        self._emit(out, iid, "opened", at_ms, actor, payload)
        inc = self.incidents[iid]
        for x in group:
            self._link_member_calls(inc, x, out)
        return inc

    def _enrich(self, stub: Incident) -> dict[str, Any]:
        if self.enricher is None:
            return {}
        try:
            return json.loads(json.dumps(dict(self.enricher(stub)), allow_nan=False))
        except Exception as exc:  # advisory data: an incident must open even if it fails
            self._count("enrich_failed")
            return {"error": f"{type(exc).__name__}: {exc}"}

    def _refresh(self, inc: Incident, at_ms: int, out: list[IncidentEvent], actor: str) -> None:
        """Enrich again when an alert brings a cargo (UN number) the enrichment lacks."""
        if self.enricher is None or "hazmat" not in inc.enrichment:
            return
        tally = self._tally.get(inc.incident_id)
        new = set(tally.un_numbers) if tally is not None else \
            {m.attrs["un_number"] for m in inc.members.values() if m.attrs.get("un_number")}
        if not new:   # (most incidents: no cargo named)
            return
        have = {h.get("un_number") for h in inc.enrichment.get("hazmat") or ()}
        if new - have:
            self._emit(out, inc.incident_id, "enriched", at_ms, actor,
                       {"enrichment": self._enrich(inc)})

    def _merge(self, target: Incident, source: Incident, actor: str, at_ms: int,
               out: list[IncidentEvent]) -> None:
        self._emit(out, source.incident_id, "merged_into", at_ms, actor,
                   {"target": target.incident_id})
        self._emit(out, target.incident_id, "merged", at_ms, actor, {
            "source": source.incident_id, "members": [m.to_dict() for m in
                                                      source.members.values()],
            "calls": source.calls, "merged_from": source.merged_from})
        self._refresh(target, at_ms, out, actor)
        self._reseverity(target, at_ms, out, actor)

    def _split_category(self, moved: list[Member], fallback: str) -> Category:
        for c in sorted(self.config.categories, key=lambda c: (-c.priority, c.name)):
            roles = [self._roles(x).get(c.name) for x in moved]
            if all(roles) and "opens" in roles:
                return c
        return self._cat(fallback)

    def _link_member_calls(self, inc: Incident, m: Member, out: list[IncidentEvent]) -> None:
        for cid, stream in m.calls:
            if cid not in self._call_of:  # a call belongs to one incident
                self._emit(out, inc.incident_id, "call_linked", m.event_ms, CORRELATOR, {
                    "call_id": cid, "stream": stream, "via": "alert",
                    "fingerprint": m.fingerprint})

    def _severity(self, inc: Incident, recompute: bool = False) -> str:
        tally = self._tally.get(inc.incident_id) if self.incidents.get(inc.incident_id) is inc \
            else None
        if tally is None:   # an incident about to open, not yet in the state
            ms = inc.members.values()
            base = max((m.severity for m in ms), key=RANK.__getitem__, default="info")
            firing, streams = sum(m.status == "firing" for m in ms), \
                len({m.stream for m in ms if m.stream})
        else:
            base = max(tally.severities, key=RANK.__getitem__, default="info")
            firing, streams = tally.firing, len(tally.streams)
        key = (inc.category, base, inc.severity, len(inc.members), firing, streams,
               len(inc.calls))
        new = self._severity_memo.get(key)
        if new is None:   # (the policy is a pure function of the context)
            new = self.escalation(_new_context(*key))
            if new not in RANK:
                raise IncidentError(f"escalation policy returned {new!r}, not one of "
                                    f"{SEVERITIES}")
            remember(self._severity_memo, key, new, 4096)
        floor = base if recompute else max(base, inc.severity, key=RANK.__getitem__)
        return max(new, floor, key=RANK.__getitem__)

    def _reseverity(self, inc: Incident, at_ms: int, out: list[IncidentEvent], actor: str,
                    recompute: bool = False) -> None:
        new = self._severity(inc, recompute)
        if new != inc.severity:
            self._emit(out, inc.incident_id, "severity_changed", at_ms, actor,
                       {"from": inc.severity, "to": new, "alerts": len(inc.members)})

    def _open_inc(self, iid: str) -> Incident:
        inc = self.incidents.get(iid)
        if inc is not None:
            return inc
        old = self.closed.get(iid)
        if old is not None:
            into = f" into {old.merged_into}" if old.merged_into else ""
            raise IncidentError(f"incident {iid} is {old.status}{into}; only open incidents "
                                f"can be changed")
        raise IncidentError(f"no incident {iid!r}")

    def _known_inc(self, iid: str) -> Incident:
        inc = self.get(iid)
        if inc is None:
            raise IncidentError(f"no incident {iid!r} (open or recently closed)")
        return inc

