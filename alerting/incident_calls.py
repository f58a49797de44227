"""120/119 calls and unit movements on incidents.

A single call raises no alert (only a cluster of calls does), but the dispatcher working a
hazmat leak must see the 119 call that reported it, and the ambulances and engines that
went. So the correlator also reads the call streams:

- a 120 ``call``, 119 ``call`` or 119 ``incident`` is linked (``call_linked``) to the open
  incident whose alerts cite its event id, else to the one it would join as an alert of
  its kind (``ems_calls``/``fire_calls``/``fire_incident``, tagged with its complaint
  family or 119 category, at ``info`` so it never opens one): compatible category, within
  the radius and window. A call no incident takes waits (``loose``) for an incident that
  opens or grows near it within the window;
- a unit status change (an ambulance's ``unit_status`` naming a call, an engine's
  ``engine_status`` naming a 119 incident) of a linked call goes on that incident's
  timeline as a ``unit_status`` record. Position reports are not recorded.

Links are events like any other (replayed, exported); the loose calls are state (in the
snapshot), not events. The correlator never moves a linked call; a dispatcher's
``link_call`` to another incident does (``IncidentOps.link_call``). A mixin of
:class:`alerting.incidents.Correlator`, over the pending pool (the mixins are one chain,
``IncidentState`` <- ``IncidentOps`` <- ``PendingPool`` <- ``CallLinks`` <- ``IncidentReach``
<- ``Correlator``, so that mypyc can compile them: it takes single inheritance only).
"""

from __future__ import annotations

import heapq
from collections import OrderedDict
from typing import Any, Mapping

from alerting.incident_model import (CALL_STREAMS, CORRELATOR, Incident, IncidentError,
                                     IncidentEvent, Member, cell_of, cells_near, coord,
                                     km_between)
from alerting.incident_pending import PendingPool
from detectors.clusters import COMPLAINT_FAMILY
from schemas.errors import ValidationError
from schemas.validate import parse_event_time

_CALL_KIND = {("ems", "call"): "ems_calls", ("fire", "call"): "fire_calls",
              ("fire", "incident"): "fire_incident"}
_UNIT_KEY = {("ems", "unit_status"): "call_id", ("fire", "engine_status"): "incident_id"}
# the (stream, type) of the events the correlator reads (the worker forwards only these)
DISPATCH_TYPES = frozenset(_CALL_KIND) | frozenset(_UNIT_KEY)
UNIT_RECORD = "unit_status"
MAX_LOOSE, MAX_UNITS_SEEN = 5_000, 20_000


class CallLinks(PendingPool):
    """Calls linked to incidents, loose calls waiting, unit status on the timeline. Uses
    the correlator's ``_sweep`` and ``_target`` and the pending pool's ``_expires``."""

    def _sweep(self, now_ms: int, out: list[IncidentEvent]) -> None:
        raise NotImplementedError   # the correlator's

    def _target(self, m: Member, roles: Mapping[str, str], entity_only: bool
                ) -> Incident | None:
        raise NotImplementedError   # the correlator's

    families: Mapping[str, str] = COMPLAINT_FAMILY   # 120 complaint -> family (tag)

    def _reset(self) -> None:
        super()._reset()
        self._loose: dict[str, tuple[Member, str]] = {}   # call id -> (as a member, stream)
        self._loose_grid: dict[tuple[int, int], set[str]] = {}
        self._loose_expiry: list[tuple[int, str]] = []
        self._units_seen: OrderedDict[str, None] = OrderedDict()

    # -- in ---------------------------------------------------------------------------------
    def observe_call(self, event: Mapping[str, Any], stream: str, now_ms: int
                     ) -> list[IncidentEvent]:
        """A 120/119 ``call`` (or 119 ``incident``) event; IncidentError if malformed."""
        if not isinstance(event, Mapping) or not event.get("event_id") or \
                not event.get("entity_id") or stream not in CALL_STREAMS:
            raise IncidentError(f"a call needs event_id, entity_id and a stream in "
                                f"{CALL_STREAMS}: {event!r:.120}")
        out: list[IncidentEvent] = []
        self._sweep(now_ms, out)
        cid, eid = str(event["entity_id"]), str(event["event_id"])
        if cid in self._call_of or cid in self._loose:
            return out
        try:
            at = parse_event_time(event.get("event_time"))
        except ValidationError as exc:
            raise IncidentError(f"call {cid}: {exc}") from exc
        hits = [i for i in self._by_evidence.get(eid, ()) if i in self.incidents]
        if hits:
            iid = min(hits, key=lambda i: (-self._cat(self.incidents[i].category).priority, i))
            self._link(out, iid, cid, stream, "evidence", eid, at)
            return out
        m = self._call_member(event, stream, cid, eid, at)
        if m is None:
            return out
        roles = self._roles(m)
        target = self._target(m, roles, False) if roles else None
        if target is not None and not self._call_reaches(target, m):
            target = None   # too far for one caller's position: wait for a nearer one
        if target is not None:
            self._link(out, target.incident_id, cid, stream, "nearby", eid, at)
        elif roles:
            self._add_loose(m, stream)
        return out

    def observe_unit(self, event: Mapping[str, Any], stream: str, now_ms: int
                     ) -> list[IncidentEvent]:
        """An ambulance/engine status change: on the timeline of its call's incident."""
        if not isinstance(event, Mapping) or not event.get("event_id") or \
                not event.get("entity_id"):
            raise IncidentError(f"a unit status needs event_id and entity_id: {event!r:.120}")
        out: list[IncidentEvent] = []
        key = _UNIT_KEY.get((stream, str(event.get("type", ""))))
        ref = str(event.get(key) or "") if key else ""
        iid = self._call_of.get(ref) if ref else None
        eid = str(event["event_id"])
        if iid is None or iid not in self.incidents or eid in self._units_seen:
            return out
        try:
            at = parse_event_time(event.get("event_time"))
        except ValidationError as exc:
            raise IncidentError(f"unit {event['entity_id']}: {exc}") from exc
        self._units_seen[eid] = None
        if len(self._units_seen) > MAX_UNITS_SEEN:
            self._units_seen.popitem(last=False)
        self._emit(out, iid, UNIT_RECORD, at, CORRELATOR, {
            "unit": str(event["entity_id"]), "status": str(event.get("status", "")),
            "stream": stream, "call_id": ref, "event_id": eid,
            "lat": coord(event.get("lat"), 90), "lon": coord(event.get("lon"), 180)})
        return out

    def observe_dispatch(self, event: Mapping[str, Any], stream: str, now_ms: int
                         ) -> list[IncidentEvent]:
        """Any event of :data:`DISPATCH_TYPES` (others are ignored)."""
        kind = (stream, str(event.get("type", ""))) if isinstance(event, Mapping) else None
        if kind in _CALL_KIND:
            return self.observe_call(event, stream, now_ms)
        if kind in _UNIT_KEY:
            return self.observe_unit(event, stream, now_ms)
        return []

    # -- linking --------------------------------------------------------------------------
    def _link(self, out: list[IncidentEvent], iid: str, cid: str, stream: str, via: str,
              eid: str, at: int) -> None:
        self._emit(out, iid, "call_linked", at, CORRELATOR,
                   {"call_id": cid, "stream": stream, "via": via, "event_id": eid})

    def _call_member(self, event: Mapping[str, Any], stream: str, cid: str, eid: str,
                     at: int) -> Member | None:
        """The call as the alert it would be (info: it joins, never opens); None if it is
        not a call kind or has no location."""
        kind = _CALL_KIND.get((stream, str(event.get("type", "call"))))
        lat, lon = coord(event.get("lat"), 90), coord(event.get("lon"), 180)
        if kind is None or lat is None or lon is None:
            return None
        tag = str(event.get("complaint") or event.get("category") or "")
        tags = tuple(t for t in dict.fromkeys((tag, self.families.get(tag, ""))) if t)
        return Member(fingerprint=f"call:{cid}", alert_id=eid, kind=kind, detector="call",
                      stream=stream, severity="info", status="firing", entity_id=cid,
                      lat=lat, lon=lon, district=str(event.get("district") or ""),
                      first_ms=at, event_ms=at, tags=tags)

    def _call_radius(self, inc: Incident) -> float:
        return min(self._cat(inc.category).radius_km, self.config.call_radius_km)

    def _call_reaches(self, inc: Incident, m: Member) -> bool:
        """Whether the call ``m`` is within the call radius of one of ``inc``'s alerts, or
        named by one (its id among their entities)."""
        if inc.incident_id in self._by_entity.get(m.entity_id, {}):
            return True
        r = self._call_radius(inc)
        return any(x.lat is not None and x.lon is not None and
                   km_between(m.lat, m.lon, x.lat, x.lon) <= r  # type: ignore[arg-type]
                   for x in inc.members.values())

    def _link_loose(self, inc: Incident, m: Member, out: list[IncidentEvent]) -> None:
        """``m`` opened or joined ``inc``: link the loose calls near it that ``inc`` takes."""
        if not self._loose or m.lat is None or m.lon is None:
            return
        cat, r = self._cat(inc.category), self._call_radius(inc)
        w = cat.window_s * 1000
        for cell in cells_near(m.lat, m.lon, r, self.config.cell_deg):
            for cid in sorted(self._loose_grid.get(cell, ())):
                if cid in self._call_of:   # linked meanwhile (an alert named it, a command)
                    self._drop_loose(cid)
                    continue
                c, stream = self._loose[cid]
                if inc.category in self._roles(c) and \
                        inc.opened_ms - w <= c.event_ms <= inc.last_ms + w and \
                        km_between(m.lat, m.lon, c.lat, c.lon) <= r:  # type: ignore[arg-type]
                    self._drop_loose(cid)
                    self._link(out, inc.incident_id, cid, stream, "nearby", c.alert_id,
                               c.event_ms)

    def _add_loose(self, m: Member, stream: str) -> None:
        if len(self._loose) >= MAX_LOOSE:
            self._count("loose_calls_dropped")
            return
        cid = m.entity_id
        self._loose[cid] = (m, stream)
        self._loose_grid.setdefault(cell_of(m.lat, m.lon, self.config.cell_deg),  # type: ignore[arg-type]
                                    set()).add(cid)
        heapq.heappush(self._loose_expiry, (self._expires(m), cid))

    def _drop_loose(self, cid: str) -> None:
        m, _ = self._loose.pop(cid)
        cell = cell_of(m.lat, m.lon, self.config.cell_deg)  # type: ignore[arg-type]
        self._loose_grid[cell].discard(cid)
        if not self._loose_grid[cell]:
            del self._loose_grid[cell]

    def _expire_loose(self, now_ms: int) -> None:
        while self._loose_expiry and self._loose_expiry[0][0] < now_ms:
            until, cid = heapq.heappop(self._loose_expiry)
            entry = self._loose.get(cid)
            if entry is not None and self._expires(entry[0]) == until:
                self._drop_loose(cid)

    # -- checkpoint -------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        return {**super().snapshot(), "calls": {
            "loose": [{"stream": s, "member": m.to_dict()} for m, s in self._loose.values()],
            "units_seen": list(self._units_seen)}}

    def restore(self, state: Mapping[str, Any]) -> None:
        super().restore(state)
        calls = state.get("calls") or {}
        try:
            for d in calls.get("loose", ()):
                self._add_loose(Member.from_dict(d["member"]), str(d["stream"]))
        except (KeyError, TypeError, ValueError) as exc:
            self._reset()
            raise IncidentError(f"corrupt correlator snapshot (calls): {exc!r}") from exc
        self._units_seen = OrderedDict.fromkeys(calls.get("units_seen", ()))
