"""The correlator's pending pool: located alerts waiting for company.

An alert no open incident takes, and that cannot open one alone (a category's
``min_alerts``), waits here, indexed by grid cell and entity, until enough compatible
alerts are near it or its category's window passes. The pool is not in the event log (an
alert in it has changed no incident); it is part of the correlator's snapshot.

A mixin of :class:`alerting.incidents.Correlator` (over ``IncidentOps``): it reads
``config``, ``_roles``, ``_cat`` and the counters of the state.
"""

from __future__ import annotations

import heapq
import math
from typing import Any, Mapping

from alerting.incident_model import IncidentError, Member, cell_of, cells_near, km_between
from alerting.incident_ops import IncidentOps
from alerting.incident_state import entity_keys


class PendingPool(IncidentOps):
    """Alerts waiting for company (not in the event log), and the pool's checkpoint."""

    def _reset(self) -> None:
        super()._reset()
        self.pending: dict[str, Member] = {}
        self._pgrid: dict[tuple[int, int], set[str]] = {}
        self._pentity: dict[str, set[str]] = {}
        self._expiry: list[tuple[int, str]] = []

    @property
    def counters(self) -> dict[str, int]:
        return {**super().counters, "pending": len(self.pending)}

    def snapshot(self) -> dict[str, Any]:
        """JSON-serialisable state: the incidents and the pending pool."""
        return {**super().snapshot(), "pending": [m.to_dict() for m in self.pending.values()]}

    def restore(self, state: Mapping[str, Any]) -> None:
        super().restore(state)
        try:
            for d in state["pending"]:
                self._add_pending(Member.from_dict(d))
        except (KeyError, TypeError, ValueError) as exc:
            self._reset()
            raise IncidentError(f"corrupt correlator snapshot: {exc!r}") from exc

    def _expires(self, m: Member) -> int:
        roles = self._roles(m)
        return m.event_ms + int(max((self._cat(c).window_s for c in roles), default=0) * 1000)

    def _add_pending(self, m: Member) -> None:
        if len(self.pending) >= self.config.max_pending:
            self._count("pending_dropped")
            return
        self.pending[m.fingerprint] = m
        if m.lat is not None and m.lon is not None:
            self._pgrid.setdefault(cell_of(m.lat, m.lon, self.config.cell_deg), set()).add(
                m.fingerprint)
        for key in entity_keys(m):
            self._pentity.setdefault(key, set()).add(m.fingerprint)
        heapq.heappush(self._expiry, (self._expires(m), m.fingerprint))

    def _drop_pending(self, fp: str) -> Member:
        m = self.pending.pop(fp)
        if m.lat is not None and m.lon is not None:
            cell = cell_of(m.lat, m.lon, self.config.cell_deg)
            self._pgrid[cell].discard(fp)
            if not self._pgrid[cell]:
                del self._pgrid[cell]
        for key in entity_keys(m):
            self._pentity[key].discard(fp)
            if not self._pentity[key]:
                del self._pentity[key]
        return m

    def _near_pending(self, m: Member, km: float) -> list[tuple[Member, float]]:
        """Pending alerts within ``km`` of ``m`` or on a shared entity, by fingerprint."""
        found = {fp: 0.0 for key in entity_keys(m) for fp in self._pentity.get(key, ())
                 if fp != m.fingerprint}
        if m.lat is not None and m.lon is not None:
            for cell in cells_near(m.lat, m.lon, km, self.config.cell_deg):
                for fp in self._pgrid.get(cell, ()):
                    o = self.pending[fp]
                    d = km_between(m.lat, m.lon, o.lat, o.lon)  # type: ignore[arg-type]
                    self.distance_checks += 1
                    if d <= km and fp != m.fingerprint and d < found.get(fp, math.inf):
                        found[fp] = d
        return [(self.pending[fp], d) for fp, d in sorted(found.items())]
