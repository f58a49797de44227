"""Polygon geometry for the district outlines (GeoJSON order: [lon, lat] positions).

Simplification that keeps neighbours joined (each shared border is simplified once, so two
districts never leave a gap or an overlap between them), the point-in-polygon test and the
validity checks that the builder and the tests share. City scale: a local plane in metres.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from city.roads_geom import LAT0, M_PER_DEG, crossings

Pos = tuple[float, float]           # (lon, lat)
Ring = list[Pos]                    # closed: first == last


def _xy(pts: Sequence[Pos]) -> np.ndarray:
    a = np.asarray(pts, np.float64).reshape(-1, 2)
    return np.column_stack([a[:, 0] * math.cos(math.radians(LAT0)), a[:, 1]]) * M_PER_DEG


def douglas_peucker(line: Sequence[Pos], tol_m: float) -> list[Pos]:
    """``line`` with the vertices Douglas-Peucker keeps at ``tol_m`` metres (ends always)."""
    if len(line) < 3:
        return list(line)
    xy = _xy(line)
    keep = np.zeros(len(line), bool)
    keep[[0, -1]] = True
    stack = [(0, len(line) - 1)]
    while stack:
        i, j = stack.pop()
        if j - i < 2:
            continue
        a, b = xy[i], xy[j]
        d = b - a
        seg = float(np.hypot(*d))
        pts = xy[i + 1:j] - a
        gap = (np.abs(pts[:, 0] * d[1] - pts[:, 1] * d[0]) / seg if seg > 0
               else np.hypot(pts[:, 0], pts[:, 1]))
        k = int(np.argmax(gap))
        if gap[k] > tol_m:
            keep[i + 1 + k] = True
            stack += [(i, i + 1 + k), (i + 1 + k, j)]
    return [p for p, k in zip(line, keep) if k]


def _arcs(ring: Ring, owners: dict[frozenset[Pos], frozenset[str]]) -> list[list[Pos]]:
    """``ring`` cut where the set of districts owning its edge changes (shared borders become
    arcs of their own); a ring with no such place is cut at its farthest vertex from the start."""
    pts = ring[:-1]
    n = len(pts)
    own = [owners[frozenset((pts[i], pts[(i + 1) % n]))] for i in range(n)]
    cuts = [i for i in range(n) if own[i] != own[i - 1]]
    if not cuts:
        far = int(np.argmax(np.hypot(*(_xy(pts) - _xy(pts[:1])).T)))
        cuts = [0, far] if far else [0]
    arcs = []
    for a, b in zip(cuts, cuts[1:] + [cuts[0] + n]):
        arcs.append([pts[k % n] for k in range(a, b + 1)])
    return arcs


def simplify_shared(shapes: dict[str, list[list[Ring]]], tol_m: float) -> dict[str, list[list[Ring]]]:
    """Every district's multipolygon (code -> polygons -> rings) simplified at ``tol_m``, each
    border shared by several districts simplified once so the neighbours stay joined."""
    owners: dict[frozenset[Pos], set[str]] = {}
    for code, polys in shapes.items():
        for poly in polys:
            for ring in poly:
                for a, b in zip(ring, ring[1:]):
                    owners.setdefault(frozenset((a, b)), set()).add(code)
    frozen = {k: frozenset(v) for k, v in owners.items()}
    done: dict[tuple[Pos, ...], list[Pos]] = {}

    def simple(arc: list[Pos]) -> list[Pos]:
        fwd, back = tuple(arc), tuple(reversed(arc))
        key = min(fwd, back)
        if key not in done:
            done[key] = douglas_peucker(list(key), tol_m)
        out = done[key]
        return out if key == fwd else out[::-1]

    result: dict[str, list[list[Ring]]] = {}
    for code, polys in shapes.items():
        result[code] = []
        for poly in polys:
            rings = []
            for ring in poly:
                pts: list[Pos] = []
                for arc in _arcs(ring, frozen):
                    pts.extend(simple(arc)[:-1])
                rings.append(pts + pts[:1])
            result[code].append(rings)
    return result


def ring_problems(ring: Sequence[Pos]) -> list[str]:
    """Why ``ring`` is not a valid simple closed ring (empty when it is)."""
    if len(ring) < 4 or ring[0] != ring[-1]:
        return [f"not closed or fewer than 4 positions ({len(ring)})"]
    if len(set(ring[:-1])) != len(ring) - 1:
        return ["repeats a vertex"]
    n = len(ring) - 1
    latlon = [(p[1], p[0]) for p in ring]
    bad = [(i, j) for i, t, j, u in crossings(latlon, latlon)
           if i != j and abs(i - j) != 1 and {i, j} != {0, n - 1}]
    return [f"segments {bad[0]} cross ({len(bad)} crossings)"] if bad else []


def rings_cross(a: Sequence[Pos], b: Sequence[Pos]) -> bool:
    """Whether two rings cross properly (touching or sharing a border is allowed)."""
    la = [(p[1], p[0]) for p in a]
    lb = [(p[1], p[0]) for p in b]
    eps = 1e-9
    return any(eps < t < 1 - eps and eps < u < 1 - eps for _, t, _, u in crossings(la, lb))


def in_polygon(lon: float, lat: float, polygon: Sequence[Sequence[Pos]]) -> bool:
    """Even-odd test against a polygon's rings (outer ring and holes)."""
    inside = False
    for ring in polygon:
        r = np.asarray(ring, np.float64)
        x0, y0, x1, y1 = r[:-1, 0], r[:-1, 1], r[1:, 0], r[1:, 1]
        span = (y0 > lat) != (y1 > lat)
        with np.errstate(divide="ignore", invalid="ignore"):
            xc = x0 + (lat - y0) * (x1 - x0) / (y1 - y0)
        inside ^= bool(np.count_nonzero(span & (lon < xc)) % 2)
    return inside


def in_multipolygon(lon: float, lat: float, geometry: dict) -> bool:
    """Whether (lon, lat) lies in a GeoJSON Polygon or MultiPolygon geometry."""
    polys = ([geometry["coordinates"]] if geometry["type"] == "Polygon"
             else geometry["coordinates"])
    return any(in_polygon(lon, lat, p) for p in polys)
