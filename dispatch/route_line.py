"""A unit's route as the line a map draws: ``[[lon, lat], ...]`` (GeoJSON order), bounded.

The route is the node path on the road graph (:meth:`dispatch.eta.UnitEtas.route`: from the
unit's nearest node to the incident's). A package carries one line per recommended unit, in
a record that is sent, stored and shown, so the line is kept small: Douglas-Peucker in local
metres at ``tol_m`` (a vertex is kept when the line would move more than that without it),
and when more than ``max_points`` remain, the ones whose removal would move the line most.
Both ends are always kept; coordinates are rounded to ``DECIMALS`` places (about a metre).

One pass ranks the vertices by the offset at which Douglas-Peucker would drop them (capped
by their parent split's, so the kept sets are nested: a smaller bound keeps a subset of a
larger one's vertices). Pure numpy; no I/O. (``city/`` simplifies district outlines with
its own Douglas-Peucker over shared borders; this one is bounded by a point count.)
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from dispatch.graph import RoadGraph, _xy

MAX_POINTS = 100      # per unit's line (a 20-unit mass-casualty package: ~45 KB of routes)
TOLERANCE_M = 10.0    # well under a road's width at the console's zoom
DECIMALS = 5          # 1e-5 degrees: ~1.1 m of latitude, ~1 m of longitude in Changsha


def rank(xy: np.ndarray, floor_m: float = 0.0) -> np.ndarray:
    """Each vertex's Douglas-Peucker offset in metres (inf for both ends), each capped by the
    offset of the split that contains it, so keeping offsets above a threshold is nested.
    A stretch whose largest offset is at most ``floor_m`` is not split further (its inner
    vertices rank 0: no threshold at or above the floor keeps them), which bounds the work
    by the vertices kept rather than those given.

    Plain Python over lists: a route is tens to a few hundred vertices, split a few dozen
    times, where numpy's per-call overhead costs twice the arithmetic (measured)."""
    xs, ys = xy[:, 0].tolist(), xy[:, 1].tolist()
    n = len(xs)
    out = [0.0] * n
    if n:
        out[0] = out[-1] = math.inf
    stack = [(0, n - 1, math.inf)]
    while stack:
        i, j, cap = stack.pop()
        if j - i < 2:
            continue
        ax, ay = xs[i], ys[i]
        dx, dy = xs[j] - ax, ys[j] - ay
        seg = math.hypot(dx, dy)
        best, k = -1.0, i + 1
        for m in range(i + 1, j):     # offset from the chord (from its start if it is a point)
            g = abs((xs[m] - ax) * dy - (ys[m] - ay) * dx) if seg > 0 else \
                math.hypot(xs[m] - ax, ys[m] - ay)
            if g > best:
                best, k = g, m
        v = min(best / seg if seg > 0 else best, cap)
        if v <= floor_m:
            continue
        out[k] = v
        stack += [(i, k, v), (k, j, v)]
    return np.array(out)


def simplify(xy: np.ndarray, max_points: int = MAX_POINTS,
             tol_m: float = TOLERANCE_M) -> np.ndarray:
    """Indices (ascending) of the vertices of ``xy`` (local metres) to keep."""
    if max_points < 2:
        raise ValueError(f"a line needs at least 2 points, max_points={max_points}")
    n = len(xy)
    if n <= 2:
        return np.arange(n)
    r = rank(xy, tol_m)
    keep = np.flatnonzero(r > tol_m)
    if len(keep) > max_points:   # the most significant ones (ties: the earlier vertex)
        keep = np.sort(keep[np.lexsort((keep, -r[keep]))[:max_points]])
    return keep


def route_line(graph: RoadGraph, nodes: Sequence[int], max_points: int = MAX_POINTS,
               tol_m: float = TOLERANCE_M) -> list[list[float]]:
    """The node path ``nodes`` as a bounded ``[[lon, lat], ...]`` line ([] for no path;
    a path of one node is a line of one point: the unit is at the incident's node)."""
    if len(nodes) == 0:
        return []
    idx = np.asarray(nodes, np.int64)
    lat, lon = graph.lat[idx], graph.lon[idx]
    keep = simplify(_xy(lat, lon, float(np.mean(lat))), max_points, tol_m)
    return np.column_stack([np.round(lon[keep], DECIMALS),
                            np.round(lat[keep], DECIMALS)]).tolist()
