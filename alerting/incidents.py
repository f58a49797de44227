"""Incidents: firing alerts correlated into the one incident a dispatcher works on.

Why: a hazmat tanker leaking on a road raises a tank alert, a stopped-vehicle alert, the
congestion behind it and a cluster of 120 calls; the command centre must see ONE compound
incident with one timeline, not four alerts.

An alert joins an open incident when its kind is compatible with the incident's category
(``incident_model.DEFAULT_CATEGORIES``: which kinds *open* one, which only *join* one) and
it is close in space — within the category's radius of any located alert of the incident,
or sharing an entity (its own, or one its explanation names: an accident's segments, a
stopped tanker's tank) or an evidence event — and in time (within the category's window of
the incident's last alert). Of several candidates: a shared entity first, then an incident
of the alert's own kind, then the higher category priority, the nearer, the older. When
none takes it, the alert waits in the pending pool until ``min_alerts`` compatible alerts
are near each other and one of them may open the category (``info`` notices never open
one). An incident that opens or grows pulls in the waiting alerts it now reaches, and a new
incident absorbs open lower-priority incidents nearby whose every alert it accepts
(congestion seen before the tanker's alarm still ends up in the hazmat incident). A
resolved alert never opens an incident; an incident resolves once all its alerts have
resolved and ``quiet_s`` has passed.

Ids are deterministic: an incident's from its first alert's fingerprint and time, an
event's from (incident, seq), so a redelivery after a restart gives the same ids. Pure: no
I/O, no clock. ``now_ms`` is the correlator's clock (wall time live, the replay clock in a
replay: pending alerts expire and quiet periods end against it); commands carry their time.
"""

from __future__ import annotations

import fnmatch
import heapq
from typing import Any, Iterable, Mapping

from alerting.incident_model import (CALL_STREAMS, CORRELATOR, DEFAULT_CATEGORIES, EVENT_KINDS,
                                     EVIDENCE_MAX, SEEN_MAX, Category, CorrelatorConfig,
                                     Incident, IncidentError, IncidentEvent, Member,
                                     SeverityContext, grow_escalation,
                                     km_between, make_event, member_from_alert)
from alerting.incident_ops import IncidentOps
from alerting.incident_reach import IncidentReach
from alerting.incident_state import entity_keys
from schemas.errors import ValidationError
from schemas.validate import parse_event_time

# An incident with a primary alert of its own is absorbed only if it began within this
# share of its category's radius of the absorbing incident (traffic: 0.75 km).
ABSORB_PRIMARY_KM = 0.5

__all__ = ["Correlator", "Category", "CorrelatorConfig", "DEFAULT_CATEGORIES", "EVENT_KINDS",
           "Incident", "IncidentError", "IncidentEvent", "IncidentOps", "Member",
           "SeverityContext", "grow_escalation", "km_between", "make_event",
           "member_from_alert"]


def _merged_evidence(old: tuple[str, ...], new: tuple[str, ...]) -> tuple[str, ...]:
    """The last ``EVIDENCE_MAX`` distinct ids of ``old`` then ``new`` (``old`` has no repeats:
    a member's evidence never has). An update usually brings one id, often one it has."""
    if len(new) == 1:
        return old if new[0] in old else (old + new)[-EVIDENCE_MAX:]
    return tuple(dict.fromkeys(old + new))[-EVIDENCE_MAX:]


class Correlator(IncidentReach):
    """Alerts in, :class:`IncidentEvent` out (operator commands: :class:`IncidentOps`)."""

    # -- alerts and calls in --------------------------------------------------------------
    def observe(self, alert: Mapping[str, Any], now_ms: int, member: Member | None = None
                ) -> list[IncidentEvent]:
        """One alert state message; IncidentError (nothing changed) if it is malformed.
        ``member``: ``member_from_alert(alert)``, if the caller made it (to check first)."""
        m = member_from_alert(alert) if member is None else member
        out: list[IncidentEvent] = []
        self._sweep(now_ms, out)
        iid = self._by_fp.get(m.fingerprint)
        if iid is not None:
            self._update(self.incidents[iid], m, out)
        elif m.fingerprint in self.pending:
            self._update_pending(m)
        elif m.status != "firing":
            self._count("resolved_without_incident")
        elif self._closed_dup(m):
            self._count("duplicates")
        else:
            self._place(m, out)
        return out

    def expire(self, fingerprint: str, cause: str, at_ms: int) -> list[IncidentEvent]:
        """An alert the lifecycle resolved itself (its detector did not re-assert it by
        its ``ends_at``): its member resolves as if the detector had said so, and the
        incident follows the rule for resolved alerts. ``cause`` (the lifecycle event's
        id) identifies it, so a second call is a no-op."""
        out: list[IncidentEvent] = []
        self._sweep(at_ms, out)
        iid = self._by_fp.get(fingerprint)
        if iid is not None:
            o = self.incidents[iid].members[fingerprint]
            self._update(self.incidents[iid], Member(
                fingerprint, cause, o.kind, o.detector, o.stream, o.severity, "resolved",
                o.entity_id, o.lat, o.lon, o.district, at_ms, at_ms, o.title_zh, o.title_en,
                (), (), {}, (), (), (cause,)), out)
        elif fingerprint in self.pending:
            self._drop_pending(fingerprint)
            self._count("pending_resolved")
        return out

    def observe_many(self, alerts: Iterable[Mapping[str, Any]], now_ms: int
                     ) -> tuple[list[IncidentEvent], list[tuple[int, IncidentError]]]:
        """A batch; bad alerts come back with their index instead of stopping the batch."""
        out: list[IncidentEvent] = []
        bad: list[tuple[int, IncidentError]] = []
        for i, a in enumerate(alerts):
            try:
                out += self.observe(a, now_ms)
            except IncidentError as exc:
                bad.append((i, exc))
        return out, bad

    def tick(self, now_ms: int) -> list[IncidentEvent]:
        """Resolve incidents whose alerts all resolved ``quiet_s`` ago; expire pending."""
        out: list[IncidentEvent] = []
        self._sweep(now_ms, out)
        return out
    # -- correlation ---------------------------------------------------------------------------
    def _sweep(self, now_ms: int, out: list[IncidentEvent]) -> None:
        while self._due and self._due[0][0] <= now_ms:
            due, iid = heapq.heappop(self._due)
            if self._resolving.get(iid) == due and iid in self.incidents:
                self._emit(out, iid, "resolved", due, CORRELATOR,
                           {"reason": "all alerts resolved", "quiet_s": self.config.quiet_s})
        while self._expiry and self._expiry[0][0] < now_ms:
            exp, fp = heapq.heappop(self._expiry)
            m = self.pending.get(fp)
            if m is not None and self._expires(m) == exp:
                self._drop_pending(fp)
                self._count("pending_expired")
        self._expire_loose(now_ms)

    def _merged_member(self, old: Member, m: Member) -> Member | None:
        """``m`` as the next state of ``old`` (None: a redelivery already applied)."""
        if m.alert_id in old.seen:
            self._count("duplicates")
            return None
        m.first_ms, m.seen = old.first_ms, (old.seen + (m.alert_id,))[-SEEN_MAX:]
        if m.lat is None or m.lon is None:
            m.lat, m.lon = old.lat, old.lon
        if old.tags or m.tags:   # (most alerts carry none of these)
            m.tags = tuple(dict.fromkeys(old.tags + m.tags))
        if old.calls or m.calls:
            m.calls = tuple(dict.fromkeys(old.calls + m.calls))
        if old.related or m.related:
            m.related = tuple(dict.fromkeys(old.related + m.related))[:50]
        m.evidence = _merged_evidence(old.evidence, m.evidence)
        if old.attrs:
            m.attrs = {**old.attrs, **m.attrs}
        return m

    def _update(self, inc: Incident, m: Member, out: list[IncidentEvent]) -> None:
        new = self._merged_member(inc.members[m.fingerprint], m)
        if new is None:
            return
        kind = "alert_resolved" if new.status == "resolved" else "alert_attached"
        self._emit_member(out, inc.incident_id, kind, new)
        self._link_member_calls(inc, new, out)
        self._refresh(inc, new.event_ms, out, CORRELATOR)
        self._reseverity(inc, new.event_ms, out, CORRELATOR)

    def _update_pending(self, m: Member) -> None:
        new = self._merged_member(self.pending[m.fingerprint], m)
        if new is None:
            return
        self._drop_pending(m.fingerprint)
        if new.status == "resolved":
            self._count("pending_resolved")
        else:
            self._add_pending(new)

    def _closed_dup(self, m: Member) -> bool:
        iid = self._closed_fp.get(m.fingerprint)
        old = self.closed[iid].members.get(m.fingerprint) \
            if iid is not None and iid in self.closed else None
        return old is not None and m.alert_id in old.seen

    def _place(self, m: Member, out: list[IncidentEvent]) -> None:
        roles = self._roles(m)
        entity_only = not roles and any(fnmatch.fnmatchcase(m.kind, p)
                                        for p in self.config.entity_kinds)
        target = self._target(m, roles, entity_only) if roles or entity_only else None
        if target is not None:
            self._attach(target, m, out)
            target = self._bridge(target, m, out)
            target = self._gather(target, m, out)
            self._adopt(target, [m], out)
            self._link_loose(target, m, out)
            self._refresh(target, m.event_ms, out, CORRELATOR)
            self._reseverity(target, m.event_ms, out, CORRELATOR)
            return
        if not roles:
            self._count("uncorrelated")  # a kind no category takes (data quality, ...)
            return
        group, cat = self._group(m, roles)
        if cat is None:
            self._add_pending(m)
            return
        inc = self._open(cat, group, out, m.event_ms, CORRELATOR)
        for x in group:  # only once opened: a failed emit must not lose pending alerts
            if x.fingerprint in self.pending:
                self._drop_pending(x.fingerprint)
        self._adopt(inc, group, out)
        if self.config.absorb:
            self._absorb(inc, cat, out)
        inc = self._gather(inc, m, out)
        for x in group:
            self._link_loose(inc, x, out)
        self._reseverity(inc, m.event_ms, out, CORRELATOR)
    def _adopt(self, inc: Incident, added: list[Member], out: list[IncidentEvent]) -> None:
        """Pull in pending alerts near the alerts just added: the incident grew to them."""
        cat, queue = self._cat(inc.category), list(added)
        w = cat.window_s * 1000
        while queue:
            for p, _ in self._near_pending(queue.pop(), cat.radius_km):
                if p.fingerprint in self.pending and inc.category in self._roles(p) and \
                        inc.opened_ms - w <= p.event_ms <= inc.last_ms + w:
                    self._drop_pending(p.fingerprint)
                    self._attach(inc, p, out)
                    queue.append(p)

    def _target(self, m: Member, roles: Mapping[str, str], entity_only: bool) -> Incident | None:
        """The open incident ``m`` joins: same entity/evidence first, then one of a
        category it could open itself (its own kind), then the higher category priority,
        the nearer, the older."""
        same = {i for k in entity_keys(m) for i in self._by_entity.get(k, {})}
        for e in m.evidence:
            same |= set(self._by_evidence.get(e, {}))
        same = {iid for iid in same if iid in self.incidents}
        best: tuple[Any, ...] | None = None
        for iid in same:   # an incident sharing an entity beats any that is only near
            inc = self.incidents[iid]
            if inc.category not in roles and not entity_only:
                continue
            cat = self._cat(inc.category)
            w = cat.window_s * 1000
            if inc.opened_ms - w <= m.event_ms <= inc.last_ms + w:
                key = (roles.get(inc.category) != "opens", -cat.priority, inc.opened_ms, iid)
                best = key if best is None or key < best else best
        if best is not None:
            return self.incidents[best[-1]]
        if not roles or m.lat is None or m.lon is None:
            return None

        def rank(inc: Incident) -> tuple[tuple[Any, ...], float] | None:
            cat = self._cat(inc.category)
            w = cat.window_s * 1000
            if inc.incident_id in same or inc.category not in roles or \
                    not inc.opened_ms - w <= m.event_ms <= inc.last_ms + w:
                return None
            return (roles[inc.category] != "opens", -cat.priority), cat.radius_km

        radius = max(self._cat(c).radius_km for c in roles)
        hit = self._nearest_by(m.lat, m.lon, radius, rank, roles)
        if hit is None:   # a symptom farther out: the event it comes from
            return self._reach_target(m, roles, same)
        return self.incidents[hit[0]]

    def _group(self, m: Member, roles: Mapping[str, str]
               ) -> tuple[list[Member], Category | None]:
        """The pending alerts ``m`` can open an incident with, for the best category."""
        near = self._near_pending(m, max(self._cat(c).radius_km for c in roles))
        for name in sorted(roles, key=lambda c: (-self._cat(c).priority, c)):
            cat = self._cat(name)
            w = cat.window_s * 1000
            group = [m] + [p for p, d in near if d <= cat.radius_km and name in self._roles(p)
                           and abs(p.event_ms - m.event_ms) <= w]
            if len(group) >= cat.min_alerts and \
                    any(self._roles(x)[name] == "opens" for x in group):
                return group, cat
        return [], None
    def _absorb(self, inc: Incident, cat: Category, out: list[IncidentEvent]) -> None:
        """Merge in nearby lower-priority incidents whose every alert ``cat`` accepts; one
        holding a primary alert of its own (an accident report) only if it began where
        this one did (a tanker crash reported as an accident too)."""
        found: set[str] = set()

        def reach(other: Incident) -> float | None:  # (what the loop below would accept)
            if other.incident_id in found or other is inc or \
                    self._cat(other.category).priority >= cat.priority:
                return None
            return cat.radius_km

        lower = [c for c in self._grid if self._cat(c).priority < cat.priority]
        for m in list(inc.members.values()):
            if m.lat is not None and m.lon is not None and lower:
                found |= set(self._near_incidents(m.lat, m.lon, cat.radius_km, reach, True,
                                                  lower))
        w = cat.window_s * 1000
        for iid in sorted(found - {inc.incident_id}):
            other = self.incidents.get(iid)
            if other is None or self._cat(other.category).priority >= cat.priority or \
                    other.last_ms < inc.opened_ms - w or other.opened_ms > inc.last_ms + w:
                continue
            if self._primary(other) and not self._anchors_near(
                    inc, other, ABSORB_PRIMARY_KM * self._cat(other.category).radius_km):
                continue   # its own event (an accident reported elsewhere), not a symptom
            if all(cat.name in self._roles(x) for x in other.members.values()):
                self._merge(inc, other, CORRELATOR, inc.last_ms, out)
