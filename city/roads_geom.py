"""Plane geometry for the road-graph builder and its checks (city scale, [lat, lon] points).

Points are kept as the exact (lat, lon) floats of the source so that shared waypoints stay
identical; computations use the affine plane x = lon * cos(lat0), y = lat (degrees), in which
straight segments and intersection parameters are the same as on a local map.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

M_PER_DEG = 111_195.0          # metres per degree of latitude (mean Earth radius)
LAT0 = 28.2                    # Changsha; any city latitude works to <0.5% over 50 km

Point = tuple[float, float]


def plane(pts: Sequence[Point], lat0: float = LAT0) -> np.ndarray:
    a = np.asarray(pts, np.float64).reshape(-1, 2)
    return np.column_stack([a[:, 1] * math.cos(math.radians(lat0)), a[:, 0]])


def dist_m(a: Point, b: Point, lat0: float = LAT0) -> float:
    dx = (b[1] - a[1]) * math.cos(math.radians(lat0))
    return math.hypot(dx, b[0] - a[0]) * M_PER_DEG


def crossings(a: Sequence[Point], b: Sequence[Point]) -> list[tuple[int, float, int, float]]:
    """Every (i, t, j, u) where segment i of ``a`` at parameter t meets segment j of ``b`` at u
    (both in [0, 1]); parallel overlaps are ignored."""
    pa, pb = plane(a), plane(b)
    p, r = pa[:-1][:, None, :], (pa[1:] - pa[:-1])[:, None, :]
    q, s = pb[:-1][None, :, :], (pb[1:] - pb[:-1])[None, :, :]
    den = r[..., 0] * s[..., 1] - r[..., 1] * s[..., 0]
    qp = q - p
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (qp[..., 0] * s[..., 1] - qp[..., 1] * s[..., 0]) / den
        u = (qp[..., 0] * r[..., 1] - qp[..., 1] * r[..., 0]) / den
    eps = 1e-12
    ok = (np.abs(den) > 1e-18) & (t >= -eps) & (t <= 1 + eps) & (u >= -eps) & (u <= 1 + eps)
    return [(int(i), float(np.clip(t[i, j], 0, 1)), int(j), float(np.clip(u[i, j], 0, 1)))
            for i, j in zip(*np.nonzero(ok))]


def lerp(a: Point, b: Point, t: float) -> Point:
    return (a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t)


def nearest_on(line: Sequence[Point], p: Point) -> tuple[float, int, float]:
    """(metres, segment index, parameter) of the point of ``line`` nearest to ``p``."""
    pl, pp = plane(line), plane([p])[0]
    a, d = pl[:-1], pl[1:] - pl[:-1]
    ll = np.maximum((d ** 2).sum(axis=1), 1e-30)
    t = np.clip(((pp - a) * d).sum(axis=1) / ll, 0, 1)
    gap = np.hypot(*(a + d * t[:, None] - pp).T)
    k = int(np.argmin(gap))
    return float(gap[k]) * M_PER_DEG, k, float(t[k])


def arc_lengths(line: Sequence[Point]) -> np.ndarray:
    """Cumulative metres along ``line`` at each vertex (starts at 0)."""
    pl = plane(line)
    return np.concatenate([[0.0], np.cumsum(np.hypot(*(pl[1:] - pl[:-1]).T))]) * M_PER_DEG


def densify(line: Sequence[Point], step_m: float) -> list[Point]:
    """Insert evenly spaced vertices so no segment is longer than ~``step_m``."""
    out = [line[0]]
    for a, b in zip(line, line[1:]):
        n = max(1, math.ceil(dist_m(a, b) / step_m - 0.125))
        out.extend(lerp(a, b, k / n) for k in range(1, n))
        out.append(b)
    return out
