"""Small pure geometry helpers for the event-level detectors.

Distances are great-circle (:func:`city.profile.haversine_km`, vectorised); short-range
work (a point against a line, a grid of ~500 m cells) uses a local equirectangular
projection, accurate to well under a metre at city scale. No I/O, no clock.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Sequence

import numpy as np

from city.polygons import in_polygon
from city.profile import haversine_km

__all__ = ["haversine_km", "KM_PER_DEG_LAT", "km_per_deg_lon", "within_km", "in_circle",
           "point_in_polygon", "distance_to_path_km", "bearing_deg", "angle_diff",
           "local_hour", "Grid", "cell_key", "parse_cell_key"]

KM_PER_DEG_LAT = 111.32


def km_per_deg_lon(lat: float) -> float:
    return KM_PER_DEG_LAT * math.cos(math.radians(lat))


def within_km(lat: float, lon: float, lats: Any, lons: Any, radius_km: float) -> np.ndarray:
    """Mask of the points (``lats``, ``lons``) within ``radius_km`` of (lat, lon)."""
    return np.asarray(haversine_km(lat, lon, np.asarray(lats, float),
                                   np.asarray(lons, float)) <= radius_km)


def in_circle(lat: float, lon: float, c_lat: float, c_lon: float, radius_km: float) -> bool:
    return bool(haversine_km(lat, lon, c_lat, c_lon) <= radius_km)


def point_in_polygon(lat: float, lon: float, poly: Sequence[Sequence[float]]) -> bool:
    """Whether (lat, lon) lies in a polygon of (lat, lon) vertices (closed implicitly): the
    city's one even-odd test, :func:`city.polygons.in_polygon`, on (lon, lat) rings."""
    ring = [(float(p[1]), float(p[0])) for p in poly]
    if ring and ring[0] != ring[-1]:
        ring.append(ring[0])
    return in_polygon(lon, lat, [ring])


def distance_to_path_km(lat: float, lon: float, path: Sequence[Sequence[float]]) -> float:
    """Shortest distance from a point to a polyline of (lat, lon) vertices."""
    if not path:
        return math.inf
    kx = km_per_deg_lon(lat)
    px, py = lon * kx, lat * KM_PER_DEG_LAT
    best = math.inf
    pts = [(p[1] * kx, p[0] * KM_PER_DEG_LAT) for p in path]
    if len(pts) == 1:
        return math.hypot(px - pts[0][0], py - pts[0][1])
    for (ax, ay), (bx, by) in zip(pts, pts[1:]):
        dx, dy = bx - ax, by - ay
        seg2 = dx * dx + dy * dy
        u = 0.0 if seg2 == 0 else max(0.0, min(1.0, ((px - ax) * dx + (py - ay) * dy) / seg2))
        best = min(best, math.hypot(px - (ax + u * dx), py - (ay + u * dy)))
    return best


def bearing_deg(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Initial bearing from point 1 to point 2, degrees clockwise from north."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dl = math.radians(lon2 - lon1)
    y = math.sin(dl) * math.cos(p2)
    x = math.cos(p1) * math.sin(p2) - math.sin(p1) * math.cos(p2) * math.cos(dl)
    return math.degrees(math.atan2(y, x)) % 360.0


def angle_diff(a: float, b: float) -> float:
    """Smallest difference of two angles in degrees, 0..180."""
    d = abs(a - b) % 360.0
    return 360.0 - d if d > 180.0 else d


def local_hour(t_ms: int, tz_hours: float) -> float:
    """Hour of the local day (0 <= h < 24) of an epoch-ms time at a fixed UTC offset."""
    return (t_ms / 3_600_000.0 + tz_hours) % 24.0


def cell_key(cell: tuple[int, int]) -> str:
    """A cell as a JSON-friendly string key."""
    return f"{cell[0]}:{cell[1]}"


def parse_cell_key(key: str) -> tuple[int, int]:
    a, _, b = key.partition(":")
    return int(a), int(b)


class Grid:
    """Square-ish cells of ``cell_km`` around a reference latitude (equirectangular)."""

    def __init__(self, cell_km: float = 0.5, ref_lat: float = 28.2) -> None:
        if cell_km <= 0:
            raise ValueError(f"cell_km must be positive, got {cell_km}")
        self.cell_km = float(cell_km)
        self.ref_lat = float(ref_lat)
        self.dlat = cell_km / KM_PER_DEG_LAT
        self.dlon = cell_km / km_per_deg_lon(ref_lat)

    def cell(self, lat: float, lon: float) -> tuple[int, int]:
        return math.floor(lat / self.dlat), math.floor(lon / self.dlon)

    def cells(self, lats: Any, lons: Any) -> np.ndarray:
        """Vectorised :meth:`cell`: an (n, 2) int array."""
        return np.stack([np.floor(np.asarray(lats, float) / self.dlat),
                         np.floor(np.asarray(lons, float) / self.dlon)], axis=-1).astype(np.int64)

    def rings(self, radius_km: float) -> int:
        """How many rings of neighbours cover ``radius_km`` around any point of a cell."""
        return max(0, math.ceil(radius_km / self.cell_km - 1e-9))

    def near(self, lat: float, lon: float, radius_km: float) -> list[tuple[int, int]]:
        """The cells that can hold a point within ``radius_km`` of (lat, lon)."""
        ci, cj = self.cell(lat, lon)
        k = self.rings(radius_km)
        return [(ci + a, cj + b) for a in range(-k, k + 1) for b in range(-k, k + 1)]

    def cover(self, lat: float, lon: float, radius_km: float) -> list[tuple[int, int]]:
        """Cells a circle of ``radius_km`` touches (for indexing areas, not points)."""
        lo = self.cell(lat - radius_km / KM_PER_DEG_LAT, lon - radius_km / km_per_deg_lon(lat))
        hi = self.cell(lat + radius_km / KM_PER_DEG_LAT, lon + radius_km / km_per_deg_lon(lat))
        return [(i, j) for i in range(lo[0], hi[0] + 1) for j in range(lo[1], hi[1] + 1)]

    def cover_path(self, path: Iterable[Sequence[float]], margin_km: float
                   ) -> set[tuple[int, int]]:
        """Cells within ``margin_km`` of a polyline (sampled every half cell)."""
        pts = [(float(p[0]), float(p[1])) for p in path]
        out: set[tuple[int, int]] = set()
        for (a_lat, a_lon), (b_lat, b_lon) in zip(pts, pts[1:] or pts):
            d = float(haversine_km(a_lat, a_lon, b_lat, b_lon))
            steps = max(1, math.ceil(d / (self.cell_km / 2)))
            for s in range(steps + 1):
                f = s / steps
                out.update(self.cover(a_lat + f * (b_lat - a_lat), a_lon + f * (b_lon - a_lon),
                                      margin_km))
        return out
