"""The incidents' event-sourced state: open and recently closed incidents and the indexes
that make correlation O(nearby) instead of O(open incidents).

Why a separate layer: :meth:`IncidentState.apply` is the only place incident state and
its indexes change, live and on replay, so ``Correlator.from_events(log)`` rebuilds exactly
what the live correlator had. The spatial index is a grid of ``cell_deg`` (~0.01°, ~1 km)
cells holding, per category and incident, the fingerprints of its located alerts; a lookup
reads the few cells around a point (``alerting.incident_search``). Entity, evidence and
call indexes are reference-counted so that removing one alert never unlinks another's, and
a :class:`~alerting.incident_tally.Tally` per open incident keeps what every update asks
of its alerts. An alert update changes only the index entries that differ, so its cost
does not grow with the incident. The decisions live in ``alerting.incidents``.
"""

from __future__ import annotations

import heapq
from collections import OrderedDict
from typing import Any, Iterable, Mapping

from alerting.geo import Cell, cell_of
from alerting.incident_handlers import HANDLERS, on_record
from alerting.incident_model import (CORRELATOR, Category, CorrelatorConfig, Incident,
                                     IncidentError, IncidentEvent, Member, make_event_plain)
from alerting.incident_search import IncidentSearch
from alerting.incident_tally import Tally

def entity_keys(m: Member) -> set[str]:
    """The entities an alert is about: its own and those its explanation names."""
    return {k for k in (m.entity_id, *m.related) if k}


def _ref(index: dict[str, dict[str, int]], key: str, iid: str, step: int) -> None:
    d = index.setdefault(key, {})
    n = d.get(iid, 0) + step
    if n > 0:
        d[iid] = n
    else:
        d.pop(iid, None)
        if not d:
            del index[key]


class IncidentState(IncidentSearch):
    """Incidents and their indexes; changed only through :meth:`apply`."""

    def __init__(self, config: CorrelatorConfig | None = None) -> None:
        self.config = config or CorrelatorConfig()
        self.cats = {c.name: c for c in self.config.categories}
        self._roles_memo: dict[tuple[str, tuple[str, ...], str], dict[str, str]] = {}
        self._reset()

    def _reset(self) -> None:
        self.incidents: dict[str, Incident] = {}
        self.closed: OrderedDict[str, Incident] = OrderedDict()
        self.lsn = 0
        self.distance_checks = 0
        self._counters: dict[str, int] = {}
        self._by_fp: dict[str, str] = {}
        self._closed_fp: dict[str, str] = {}
        # category -> cell -> incident -> fingerprints of its alerts there (by category,
        # so a search reads only the incidents an alert could join)
        self._grid: dict[str, dict[Cell, dict[str, set[str]]]] = {}
        self._by_entity: dict[str, dict[str, int]] = {}
        self._by_evidence: dict[str, dict[str, int]] = {}
        self._call_of: dict[str, str] = {}
        self._resolving: dict[str, int] = {}
        self._due: list[tuple[int, str]] = []
        self._tally: dict[str, Tally] = {}   # open incident -> totals over its members

    # -- reading ------------------------------------------------------------------------------
    def get(self, incident_id: str) -> Incident | None:
        return self.incidents.get(incident_id) or self.closed.get(incident_id)

    def incident_of(self, fingerprint: str) -> str | None:
        """The open incident holding an alert fingerprint, if any."""
        return self._by_fp.get(fingerprint)

    def open_incidents(self) -> list[Incident]:
        return sorted(self.incidents.values(), key=lambda i: (i.opened_ms, i.incident_id))

    @property
    def counters(self) -> dict[str, int]:
        return {**self._counters, "open": len(self.incidents),
                "distance_checks": self.distance_checks}

    def _count(self, name: str, n: int = 1) -> None:
        self._counters[name] = self._counters.get(name, 0) + n

    def _cat(self, name: str) -> Category:
        """The category (a placeholder for one no longer configured: joins by entity only)."""
        return self.cats.get(name) or Category(name, name, name, ())

    def _roles(self, m: Member) -> dict[str, str]:
        """{category: "opens" | "joins"} for an alert's kind, tags, severity (memoised)."""
        key = (m.kind, m.tags, m.severity)
        r = self._roles_memo.get(key)
        if r is None:
            r = {c.name: role for c in self.config.categories
                 if (role := c.role(m.kind, m.tags, m.severity)) is not None}
            self._roles_memo[key] = r
        return r

    # -- snapshot / replay ------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """JSON-serialisable state (open and retained closed incidents)."""
        return {"v": 1, "lsn": self.lsn, "counters": dict(self._counters),
                "incidents": [i.to_dict() for i in self.incidents.values()],
                "closed": [i.to_dict() for i in self.closed.values()]}

    def restore(self, state: Mapping[str, Any]) -> None:
        if not isinstance(state, Mapping) or state.get("v") != 1:
            raise IncidentError("not a version-1 correlator snapshot")
        self._reset()
        try:
            for d in state["closed"]:
                self._retain(Incident.from_dict(d))
            for d in state["incidents"]:
                inc = Incident.from_dict(d)
                self.incidents[inc.incident_id] = inc
                for m in inc.members.values():
                    self._index(inc, m, +1)
                for cid in inc.calls:
                    self._index_call(inc, cid, +1)
                self._track(inc)
            self.lsn, self._counters = int(state["lsn"]), dict(state["counters"])
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            self._reset()
            raise IncidentError(f"corrupt correlator snapshot: {exc!r}") from exc

    @classmethod
    def from_events(cls, events: Iterable[IncidentEvent],
                    config: CorrelatorConfig | None = None, **kw: Any) -> Any:
        """Rebuild the incidents from their event log (pending alerts are not in it)."""
        state = cls(config, **kw)
        for ev in sorted(events, key=lambda e: e.lsn):
            state.apply(ev)
        return state

    # -- the one mutation path ----------------------------------------------------------------
    def _emit(self, out: list[IncidentEvent], incident_id: str, kind: str, at_ms: int,
              actor: str, payload: Mapping[str, Any],
              live: Mapping[str, Any] | None = None, known_plain: bool = False
              ) -> IncidentEvent:
        """Record and apply one event. ``live``: the payload with a :class:`Member` where
        ``payload`` has its ``to_dict()`` (applied without rebuilding the member);
        ``known_plain``: ``payload`` is plain data by construction (``canonical.encode``)."""
        inc = self.get(incident_id)
        ev, is_plain = make_event_plain(incident_id, (inc.seq if inc else 0) + 1, self.lsn + 1,
                                        kind, at_ms, actor, payload, known_plain)
        # plain data is what parsing the event's JSON would give back: apply it unparsed
        self.apply(ev, (live or payload) if is_plain else None)
        out.append(ev)
        return ev

    def _emit_member(self, out: list[IncidentEvent], incident_id: str, kind: str,
                     m: Member) -> None:
        """An ``alert_attached``/``alert_resolved`` event carrying ``m`` (the correlator's)."""
        self._emit(out, incident_id, kind, m.event_ms, CORRELATOR, {"member": m.to_dict()},
                   {"member": m}, m.plain)

    def apply(self, ev: IncidentEvent, payload: Mapping[str, Any] | None = None) -> None:
        """Apply one event (live, and in ``lsn`` order to rebuild from the log).
        ``payload``: the event's payload if the caller holds it already (it must equal the
        parsed ``ev.payload``, a member may be the :class:`Member` itself); handlers copy
        the dicts they keep, so it may be shared, and keep a given Member as it is."""
        p, iid = (ev.payload if payload is None else payload), ev.incident_id
        self.lsn = max(self.lsn, ev.lsn)
        if ev.kind == "opened":
            inc = Incident(iid, p["category"], p["category_zh"], p["category_en"],
                           p["severity"], int(p["opened_ms"]), p["lat"], p["lon"],
                           p["district"], split_from=p.get("split_from", ""),
                           enrichment=dict(p.get("enrichment") or {}))
            self.incidents[iid] = inc
            for d in p["members"]:
                self._add_member(inc, Member.from_dict(d))
            for cid, info in (p.get("calls") or {}).items():
                self._add_call(inc, cid, info)
        else:
            found = self.get(iid)
            if found is None:
                raise IncidentError(f"event {ev.event_id} ({ev.kind}): unknown incident {iid}")
            inc = found
            HANDLERS.get(ev.kind, on_record)(self, inc, p, ev)
        inc.seq = ev.seq
        if inc.status == "open":
            self._track(inc)

    # -- indexes --------------------------------------------------------------------------------
    def _add_member(self, inc: Incident, m: Member) -> None:
        inc.members[m.fingerprint] = m
        self._index(inc, m, +1)

    def _drop_member(self, inc: Incident, m: Member) -> None:
        self._index(inc, m, -1)
        del inc.members[m.fingerprint]

    def _replace_member(self, inc: Incident, old: Member, m: Member) -> None:
        """``m`` (same fingerprint) in place of ``old``: the indexes change only where the
        two differ (an update usually moves nothing and adds an evidence id or two)."""
        iid = inc.incident_id
        del inc.members[old.fingerprint]   # to the end, as a drop and an add would
        inc.members[m.fingerprint] = m
        self._tally_of(iid).replace(old, m)
        self._by_fp[m.fingerprint] = iid
        if (old.lat != m.lat or old.lon != m.lon) and self._cell(old) != self._cell(m):
            self._grid_ref(inc, old, -1)
            self._grid_ref(inc, m, +1)
        if old.entity_id != m.entity_id or old.related != m.related:
            keys_old, keys_new = entity_keys(old), entity_keys(m)
            for key in keys_new - keys_old:
                _ref(self._by_entity, key, iid, +1)
            for key in keys_old - keys_new:
                _ref(self._by_entity, key, iid, -1)
        o, n = old.evidence, m.evidence
        if o == n:
            return
        k = len(o) - len(n) + 1   # (counted per occurrence, as _index counts them)
        if n and k >= 0 and n[:-1] == o[k:]:   # one id added, the oldest k dropped
            _ref(self._by_evidence, n[-1], iid, +1)
            for e in o[:k]:
                _ref(self._by_evidence, e, iid, -1)
        else:
            ev_old, ev_new = set(o), set(n)
            if len(ev_old) < len(o) or len(ev_new) < len(n):
                ev_old = ev_new = set()   # repeated ids are counted: move them all
            for e in n:
                if e not in ev_old:
                    _ref(self._by_evidence, e, iid, +1)
            for e in o:
                if e not in ev_new:
                    _ref(self._by_evidence, e, iid, -1)

    def _index(self, inc: Incident, m: Member, step: int) -> None:
        iid, fp = inc.incident_id, m.fingerprint
        if step > 0:
            self._by_fp[fp] = iid
        elif self._by_fp.get(fp) == iid:
            del self._by_fp[fp]
        self._tally_of(iid).add(m, step)
        self._grid_ref(inc, m, step)
        for key in entity_keys(m):
            _ref(self._by_entity, key, iid, step)
        for e in m.evidence:
            _ref(self._by_evidence, e, iid, step)

    def _tally_of(self, iid: str) -> Tally:
        t = self._tally.get(iid)   # (not setdefault: that makes a Tally on every call)
        if t is None:
            t = self._tally[iid] = Tally()
        return t

    def _cell(self, m: Member) -> Cell | None:
        if m.lat is None or m.lon is None:
            return None
        return cell_of(m.lat, m.lon, self.config.cell_deg)

    def _grid_ref(self, inc: Incident, m: Member, step: int) -> None:
        cell = self._cell(m)
        if cell is None:
            return
        iid = inc.incident_id
        if step > 0:
            self._grid.setdefault(inc.category, {}).setdefault(cell, {}).setdefault(
                iid, set()).add(m.fingerprint)
            return
        grid = self._grid.get(inc.category, {})
        if iid in grid.get(cell, {}):
            fps = grid[cell][iid]
            fps.discard(m.fingerprint)
            if not fps:
                del grid[cell][iid]
                if not grid[cell]:
                    del grid[cell]
                    if not grid:
                        del self._grid[inc.category]

    def _add_call(self, inc: Incident, cid: str, info: Mapping[str, str]) -> None:
        inc.calls[cid] = dict(info)
        self._index_call(inc, cid, +1)

    def _index_call(self, inc: Incident, cid: str, step: int) -> None:
        if step > 0:
            self._call_of[cid] = inc.incident_id
        elif self._call_of.get(cid) == inc.incident_id:
            del self._call_of[cid]
        _ref(self._by_entity, cid, inc.incident_id, step)

    def _close(self, inc: Incident) -> None:
        """Out of the open set and every index; kept (bounded) for notes and exports."""
        self.incidents.pop(inc.incident_id, None)
        for m in inc.members.values():
            self._index(inc, m, -1)
        for cid in inc.calls:
            self._index_call(inc, cid, -1)
        self._resolving.pop(inc.incident_id, None)
        self._tally.pop(inc.incident_id, None)
        self._retain(inc)

    def _retain(self, inc: Incident) -> None:
        self.closed[inc.incident_id] = inc
        if inc.status == "resolved":  # a redelivered old alert must not reopen it
            self._closed_fp.update({fp: inc.incident_id for fp in inc.members})
        while len(self.closed) > self.config.keep_closed:
            old_id, old = self.closed.popitem(last=False)
            for fp in old.members:
                if self._closed_fp.get(fp) == old_id:
                    del self._closed_fp[fp]

    def _track(self, inc: Incident) -> None:
        """Keep ``last_ms`` and the resolution deadline (all alerts resolved + quiet)."""
        iid = inc.incident_id
        tally = self._tally.get(iid) or Tally()
        inc.last_ms = tally.last_ms(inc.opened_ms)
        if tally.all_resolved:
            due = inc.last_ms + int(self.config.quiet_s * 1000)
            if self._resolving.get(iid) != due:
                self._resolving[iid] = due
                heapq.heappush(self._due, (due, iid))
        else:
            self._resolving.pop(iid, None)
