"""How far one event's alerts spread: bridging incidents, and symptoms reaching their event.

Alerts arrive in any order, so one event can open two incidents of its category: the
pressure drop of a burst main reaches one group of sensors, then another; the congestion
behind an accident is seen before the accident is. Two rules put them back together, and
a category's ``primary`` kinds (``incident_model.Category``) keep distinct events apart:

- *bridge*: an alert that joined one incident and is within the radius (or on an entity)
  of another open incident of the same category, in window, merges the two, unless each
  holds a primary alert (two accidents with a jam between them stay two incidents) or
  they began more than twice the radius apart (no chain of bridges spans a district);
- *reach*: a symptom (a non-primary alert) that no incident takes within the radius joins
  an incident holding a primary within the category's ``reach_km``; and when an incident
  gets a primary, open symptom-only incidents of its category within reach merge into it.

The survivor of a merge is the incident holding a primary, else the oldest. Incidents an
operator split are left as the operator made them. A mixin of
:class:`alerting.incidents.Correlator`.
"""

from __future__ import annotations

from typing import Mapping

from alerting.incident_model import (CORRELATOR, Category, Incident, IncidentEvent, Member,
                                     km_between)
from alerting.incident_calls import CallLinks
from alerting.incident_state import entity_keys
from schemas.memo import remember


class IncidentReach(CallLinks):
    """Bridging and reach (see the module docstring)."""

    _primary_memo: dict[tuple[str, str, tuple[str, ...]], bool]

    def _reset(self) -> None:
        super()._reset()
        self._primary_memo = {}

    def _primaries(self, inc: Incident) -> int:
        """How many of ``inc``'s alerts are of its category's primary kinds (from the
        incident's running tally: a handful of distinct kinds, not every alert)."""
        cat = self._cat(inc.category)
        if not cat.primary:
            return 0
        tally = self._tally.get(inc.incident_id)
        kinds = tally.kinds.items() if tally is not None else \
            ((k, 1) for k in ((x.kind, x.tags) for x in inc.members.values()))
        return sum(n for (kind, tags), n in kinds if self._is_primary(cat, kind, tags))

    def _is_primary(self, cat: Category, kind: str, tags: tuple[str, ...]) -> bool:
        key = (cat.name, kind, tags)
        hit = self._primary_memo.get(key)
        if hit is None:
            hit = remember(self._primary_memo, key, cat.is_primary(kind, tags), 4096)
        return hit

    def _primary(self, inc: Incident) -> bool:
        return self._primaries(inc) > 0

    def _in_window(self, inc: Incident, m: Member) -> bool:
        w = self._cat(inc.category).window_s * 1000
        return inc.opened_ms - w <= m.event_ms <= inc.last_ms + w

    @staticmethod
    def _anchors_near(a: Incident, b: Incident, km: float) -> bool:
        """Whether the two incidents began within ``km`` of each other: one event's two
        ends do; a chain of alerts across a district does not (no bridge builds it)."""
        if a.lat is None or a.lon is None or b.lat is None or b.lon is None:
            return True
        return km_between(a.lat, a.lon, b.lat, b.lon) <= km

    def _survivor(self, group: list[Incident], out: list[IncidentEvent], at_ms: int
                  ) -> Incident:
        """Merge ``group`` into its incident holding a primary, else its oldest."""
        group = sorted(group, key=lambda i: (not self._primary(i), i.opened_ms,
                                             i.incident_id))
        for other in group[1:]:
            self._count("bridged")
            self._merge(group[0], other, CORRELATOR, at_ms, out)
        return group[0]

    def _bridge(self, inc: Incident, m: Member, out: list[IncidentEvent]) -> Incident:
        """``m`` joined ``inc``: merge the other incidents of its category it reaches."""
        if not self.config.bridge or inc.split_from:
            return inc
        cat = self._cat(inc.category)
        both = self._primary(inc)

        def reach(other: Incident) -> float | None:
            if other is inc or other.category != inc.category or other.split_from or \
                    not self._in_window(other, m) or (both and self._primary(other)) or \
                    not self._anchors_near(inc, other, 2 * cat.radius_km):
                return None
            return cat.radius_km

        found = {iid for k in entity_keys(m) for iid in self._by_entity.get(k, {})
                 if iid in self.incidents and reach(self.incidents[iid]) is not None}
        if m.lat is not None and m.lon is not None:
            found |= set(self._near_incidents(m.lat, m.lon, cat.radius_km, reach, True,
                                              [inc.category]))
        if not found:
            return inc
        group = [inc, *(self.incidents[i] for i in sorted(found))]
        if both:   # (several symptom-only ones may merge with it, never two primaries)
            group = [inc, *(g for g in group[1:] if not self._primary(g))]
        return self._survivor(group, out, m.event_ms)

    def _reach_target(self, m: Member, roles: Mapping[str, str], skip: set[str]
                      ) -> Incident | None:
        """The incident holding a primary whose symptoms ``m`` is, within reach."""
        cats = [c for c in roles if self._cat(c).reach > self._cat(c).radius_km and
                not self._is_primary(self._cat(c), m.kind, m.tags)]
        if not cats or m.lat is None or m.lon is None:
            return None

        def rank(inc: Incident) -> tuple[tuple[object, ...], float] | None:
            cat = self._cat(inc.category)
            if inc.incident_id in skip or inc.category not in cats or \
                    not self._in_window(inc, m) or not self._primary(inc):
                return None
            return (-cat.priority,), cat.reach

        hit = self._nearest_by(m.lat, m.lon, max(self._cat(c).reach for c in cats), rank,
                               cats)
        return self.incidents[hit[0]] if hit else None

    def _gather(self, inc: Incident, m: Member, out: list[IncidentEvent]) -> Incident:
        """``m`` gave ``inc`` its first primary: the symptom-only incidents of its category
        within reach merge into it."""
        cat = self._cat(inc.category)
        if not self.config.bridge or inc.split_from or cat.reach <= cat.radius_km or \
                not self._is_primary(cat, m.kind, m.tags) or self._primaries(inc) > 1:
            return inc

        def reach(other: Incident) -> float | None:
            if other is inc or other.category != inc.category or other.split_from or \
                    other.last_ms < inc.opened_ms - cat.window_s * 1000 or \
                    other.opened_ms > inc.last_ms + cat.window_s * 1000 or \
                    self._primary(other):
                return None
            return cat.reach

        found: set[str] = set()
        for x in list(inc.members.values()):
            if x.lat is not None and x.lon is not None:
                found |= set(self._near_incidents(x.lat, x.lon, cat.reach, reach, True,
                                                  [inc.category]))
        for iid in sorted(found):
            if iid in self.incidents:
                self._count("gathered")
                self._merge(inc, self.incidents[iid], CORRELATOR, m.event_ms, out)
        return inc
