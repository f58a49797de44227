"""The KPI figures the cockpit shows, per scope, and who is sent which (pure).

The figures are :func:`warehouse.kpi_queries.kpi_summary` of the current local day (the
definitions of :mod:`dispatch.kpis`, never the cockpit's own), computed by
:mod:`cockpit_api.kpi_load` for each *scope* a client needs: ``(agency, district)``, each
``None`` for all. A client sees the scopes of its view only: a supervisor or viewer the city
``(None, None)``; a dispatcher its agency's streams (120 -> ``ems``, 119 -> ``fire``; an
agency with no response cases, e.g. traffic police, has none); a user limited to districts
one scope per district. A failed refresh keeps the last figures, marked ``stale``.

Message (server -> client): ``{"type": "kpis", "kpis": {"stale": bool, "updated": iso|null,
"scopes": [{"agency": a|null, "district": d|null, "figures": {...}|null}]}}``; the snapshot
carries the same object under ``"kpis"``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import product
from typing import Any

from .auth.roles import AGENCIES, View

KPI_STREAMS = ("ems", "fire")   # the streams whose cases have KPIs (warehouse.kpi_queries)
Scope = tuple["str | None", "str | None"]
CITY: Scope = (None, None)


def scopes_of(view: View) -> list[Scope]:
    """The scopes ``view`` may see, in a stable order (empty: none of its agency's)."""
    if view.agencies is None:
        streams: list[str | None] = [None]
    else:
        streams = [s for s in KPI_STREAMS
                   if any(s in AGENCIES.get(a, ()) for a in view.agencies)]
    districts: list[str | None] = [None]
    if view.districts is not None:
        districts = list(sorted(view.districts))
    return list(product(streams, districts))


@dataclass
class KpiBoard:
    """The latest figures per scope, and whether the last refresh failed (``stale``)."""

    figures: dict[Scope, dict[str, Any]] = field(default_factory=dict)
    wanted: set[Scope] = field(default_factory=lambda: {CITY})
    stale: bool = False
    updated: str | None = None
    error: str = ""

    def want(self, view: View) -> bool:
        """Note the scopes a new client needs; True if one was not computed yet."""
        new = set(scopes_of(view)) - self.wanted
        self.wanted |= new
        return bool(new)

    def update(self, figures: dict[Scope, dict[str, Any]], updated: str) -> dict[str, Any]:
        """Fresh figures of a refresh; returns the message to fan out."""
        self.figures.update(figures)
        self.stale, self.updated, self.error = False, updated, ""
        return self.message()

    def failed(self, error: str) -> dict[str, Any]:
        """A refresh failed: the last figures stay, marked stale."""
        self.stale, self.error = True, error
        return self.message()

    def message(self) -> dict[str, Any]:
        return {"type": "kpis", "kpis": self.part()}

    def part(self) -> dict[str, Any]:
        return {"stale": self.stale, "updated": self.updated,
                "scopes": [{"agency": a, "district": d, "figures": f}
                           for (a, d), f in sorted(self.figures.items(), key=_order)]}


def _order(item: tuple[Scope, Any]) -> tuple[str, str]:
    (a, d), _ = item
    return (a or "", d or "")


def cut(part: dict[str, Any], view: View) -> dict[str, Any]:
    """The KPI part as ``view`` may see it: the scopes of :func:`scopes_of` only (a scope
    not computed yet is listed with ``figures`` null)."""
    have = {(s["agency"], s["district"]): s["figures"] for s in part.get("scopes", ())}
    return {**part, "scopes": [{"agency": a, "district": d, "figures": have.get((a, d))}
                               for a, d in scopes_of(view)]}
