"""The geometry of correlation: haversine distance and the grid that indexes alerts by place.

The grid has square cells of ``cell_deg`` degrees (~1 km at 0.01°). :func:`cells_near`
lists the cells a radius can reach; :func:`cell_floor_km` bounds from below the distance
to anything inside a cell, so that a nearest-alert search can skip cells that cannot hold
a nearer alert than one already found, without changing which distance it finds.
"""

from __future__ import annotations

import math

from city.profile import EARTH_RADIUS_KM

KM_PER_DEG = math.pi * EARTH_RADIUS_KM / 180.0
Cell = tuple[int, int]
# cell_floor_km's margins: float rounding in km_between and in the cell of a point is far
# below these (1e-9 relative, ~0.1 mm), so the floor never exceeds a computed distance
_SLACK_DEG, _SLACK_REL, _SLACK_KM = 1e-9, 1e-9, 1e-9


def km_between(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Haversine distance (``city.profile.haversine_km`` for scalars, without numpy)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = math.sin((p2 - p1) / 2) ** 2 + \
        math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(min(1.0, a)))


def cell_of(lat: float, lon: float, cell_deg: float) -> Cell:
    return math.floor(lat / cell_deg), math.floor(lon / cell_deg)


def cells_near(lat: float, lon: float, km: float, cell_deg: float) -> list[Cell]:
    """Grid cells that can hold a point within ``km`` of (lat, lon) (1 % margin)."""
    dlat = km / KM_PER_DEG * 1.01
    cos = max(math.cos(math.radians(min(89.9, abs(lat) + dlat))), 1e-3)
    dlon = km / (KM_PER_DEG * cos) * 1.01
    i0, i1 = cell_of(lat - dlat, lon - dlon, cell_deg)
    j0, j1 = cell_of(lat + dlat, lon + dlon, cell_deg)
    return [(i, j) for i in range(i0, j0 + 1) for j in range(i1, j1 + 1)]


class CellFloors:
    """Lower bounds of ``km_between(lat, lon, p)`` over the points ``p`` of a grid cell,
    for one query point (row and column terms are computed once per query).

    The haversine term ``hav(dlat) + cos(lat) cos(lat_p) hav(dlon)`` grows with |dlat| and
    |dlon| (up to 180°) and cos is concave on [-90°, 90°], so the cell's nearest latitude
    and longitude, and the smaller cosine of its two edges, give a floor."""

    __slots__ = ("lat", "lon", "cell_deg", "_cos", "_rows", "_cols", "_cells")

    def __init__(self, lat: float, lon: float, cell_deg: float) -> None:
        self.lat, self.lon, self.cell_deg = lat, lon, cell_deg
        self._cos = math.cos(math.radians(lat))
        self._rows: dict[int, tuple[float, float]] = {}   # row -> (hav(dlat), cos factor)
        self._cols: dict[int, float | None] = {}          # col -> hav(dlon) (None: no bound)
        self._cells: dict[Cell, float] = {}

    def __call__(self, cell: Cell) -> float:
        floor = self._cells.get(cell)
        if floor is None:
            floor = self._cells[cell] = self._floor(cell)
        return floor

    def _floor(self, cell: Cell) -> float:
        i, j = cell
        row = self._rows.get(i)
        if row is None:
            a0 = i * self.cell_deg - _SLACK_DEG
            a1 = (i + 1) * self.cell_deg + _SLACK_DEG
            dlat = max(0.0, a0 - self.lat, self.lat - a1)
            cos = self._cos * min(math.cos(math.radians(a0)), math.cos(math.radians(a1)))
            if a0 < -90.0 or a1 > 90.0 or abs(self.lat) > 90.0:
                cos = -1.0   # at the poles: no bound
            row = self._rows[i] = (math.sin(math.radians(dlat) / 2) ** 2, cos)
        if j in self._cols:
            col = self._cols[j]
        else:
            b0 = j * self.cell_deg - _SLACK_DEG
            b1 = (j + 1) * self.cell_deg + _SLACK_DEG
            dlon = max(0.0, b0 - self.lon, self.lon - b1)
            # far longitudes wrap around the antimeridian: no bound there
            col = self._cols[j] = None if dlon >= 90.0 else \
                math.sin(math.radians(dlon) / 2) ** 2
        if col is None or row[1] < 0.0:
            return 0.0
        h = row[0] + row[1] * col
        floor = 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(min(1.0, h)))
        return max(0.0, floor * (1 - _SLACK_REL) - _SLACK_KM)
