"""The correlator's spatial search over the incidents' grid, exact and pruned.

An incident's cells are read nearest first, and reading stops at a cell that cannot hold
a nearer alert than one already found (``geo.CellFloors`` bounds the distance to anything
in a cell): a big incident costs the alerts of the cell or two nearest the point, not all
of its alerts within the radius, and :meth:`IncidentSearch._nearest_by` computes only the
distances that can decide. The answers are those of scanning every alert in the radius
(``tests/unit/alerting/test_incident_search.py`` checks it).

A mixin of :class:`alerting.incident_state.IncidentState`: it reads the state's grid
(``_grid``: category -> cell -> incident -> fingerprints), ``incidents`` and ``config``.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Iterable

from alerting.geo import Cell, CellFloors, cells_near, km_between
from alerting.incident_model import CorrelatorConfig, Incident


class IncidentSearch:
    """Nearest-incident queries over the grid of open incidents' located alerts."""

    config: CorrelatorConfig
    incidents: dict[str, Incident]
    distance_checks: int
    _grid: dict[str, dict[Cell, dict[str, set[str]]]]

    def _near_cells(self, lat: float, lon: float, km: float,
                    categories: Iterable[str] | None = None) -> dict[str, list[Cell]]:
        """{incident id: its grid cells that may hold an alert within ``km``}, for the
        incidents of ``categories`` (None: all)."""
        per: dict[str, list[Cell]] = {}
        grids = [self._grid[c] for c in categories if c in self._grid] \
            if categories is not None else list(self._grid.values())
        if not grids:
            return per
        for cell in cells_near(lat, lon, km, self.config.cell_deg):
            for grid in grids:
                holders = grid.get(cell)
                if holders:
                    for iid in holders:
                        cells = per.get(iid)
                        if cells is None:
                            per[iid] = [cell]
                        else:
                            cells.append(cell)
        return per

    def _nearest(self, inc: Incident, cells: list[Cell], lat: float, lon: float,
                 radius: float, floors: CellFloors, first: bool = False) -> float:
        """The distance to ``inc``'s nearest located alert if within ``radius`` (else inf);
        ``first``: to any alert within ``radius``."""
        best, members, iid = math.inf, inc.members, inc.incident_id
        grid = self._grid[inc.category]
        for cell in sorted(cells, key=floors) if len(cells) > 1 else cells:
            if len(cells) > 1:
                floor = floors(cell)
                if floor > radius or floor >= best:
                    break
            for fp in grid[cell][iid]:
                o = members[fp]
                d = km_between(lat, lon, o.lat, o.lon)  # type: ignore[arg-type]
                self.distance_checks += 1
                if d <= radius and d < best:
                    best = d
                    if first:
                        return best
        return best

    def _near_incidents(self, lat: float, lon: float, km: float,
                        limit: Callable[[Incident], float | None] | None = None,
                        first: bool = False, categories: Iterable[str] | None = None
                        ) -> dict[str, float]:
        """{incident id: distance to its nearest located alert} within ``km``, or within
        ``limit(incident)`` km (at most ``km``; None leaves the incident out), of the
        incidents of ``categories`` (None: all). ``first``: any alert within the radius
        will do (the distance is then that alert's)."""
        floors, out = CellFloors(lat, lon, self.config.cell_deg), {}
        for iid, cells in self._near_cells(lat, lon, km, categories).items():
            inc = self.incidents[iid]
            radius = km if limit is None else limit(inc)
            if radius is not None:
                d = self._nearest(inc, cells, lat, lon, min(radius, km), floors, first)
                if d <= radius:
                    out[iid] = d
        return out

    def _nearest_by(self, lat: float, lon: float, km: float,
                    rank: Callable[[Incident], tuple[tuple[Any, ...], float] | None],
                    categories: Iterable[str] | None = None) -> tuple[str, float] | None:
        """(id, distance) of the incident with the least ``(rank(inc)[0], distance,
        opened_ms, id)`` among those (of ``categories``; None: all) with an alert within
        ``rank(inc)[1]`` km (at most ``km``; a None rank leaves it out). Ranks are tried
        best first and, within one, incidents nearest first, so only the distances that
        can decide are computed."""
        floors = CellFloors(lat, lon, self.config.cell_deg)
        classes: dict[tuple[Any, ...], list[tuple[Incident, list[Cell], float]]] = {}
        for iid, cells in self._near_cells(lat, lon, km, categories).items():
            inc = self.incidents[iid]
            r = rank(inc)
            if r is not None:
                classes.setdefault(r[0], []).append((inc, cells, min(r[1], km)))
        for cls in sorted(classes):
            entries = classes[cls]
            if len(entries) == 1:
                order = [(0.0, *entries[0])]
            else:   # nearest first: a farther one can then be skipped
                order = sorted(((min(map(floors, cells)), inc, cells, radius)
                                for inc, cells, radius in entries),
                               key=lambda e: (e[0], e[1].opened_ms, e[1].incident_id))
            best: tuple[float, int, str] | None = None
            for floor, inc, cells, radius in order:
                if best is not None and floor > best[0]:
                    break
                if floor > radius:
                    continue
                d = self._nearest(inc, cells, lat, lon, radius, floors)
                key = (d, inc.opened_ms, inc.incident_id)
                if d <= radius and (best is None or key < best):
                    best = key
            if best is not None:
                return best[2], best[0]
        return None
