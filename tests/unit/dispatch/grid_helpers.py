"""A synthetic road graph for the dispatch tests and the speed check: a grid of two-way
roads around Changsha's centre, split by a north-south "river" crossed only by a few bridges
(so a unit near the incident across the water is far by road)."""

from __future__ import annotations

import numpy as np

from dispatch.graph import RoadGraph

LAT0, LON0 = 28.2282, 112.9388


def grid_graph(n: int = 20, spacing_m: float = 400.0, bridges: tuple[int, ...] = (3, 12),
               lat0: float = LAT0, lon0: float = LON0) -> RoadGraph:
    """``n`` x ``n`` nodes; the river runs between columns n//2-1 and n//2."""
    dlat = spacing_m / 111_195.0
    dlon = dlat / np.cos(np.radians(lat0))
    lat, lon = [], []
    for r in range(n):
        for c in range(n):
            lat.append(lat0 + (r - n / 2) * dlat)
            lon.append(lon0 + (c - n / 2) * dlon)
    src, dst, kmh, cls, ids, lanes = [], [], [], [], [], []
    river = n // 2 - 1

    def road(a: int, b: int, fid: str, k: int, c: str, speed: float, ln: int) -> None:
        for s, d, eid in ((a, b, f"{fid}:{k}"), (b, a, f"{fid}:{k}:r")):
            src.append(s); dst.append(d); kmh.append(speed); cls.append(c)
            ids.append(eid); lanes.append(ln)

    for r in range(n):
        for c in range(n - 1):
            if c == river and r not in bridges:
                continue
            arterial = r % 5 == 0
            c_ = "bridge" if c == river else ("arterial" if arterial else "local")
            road(r * n + c, r * n + c + 1, f"row{r}", c, c_, 60.0 if arterial else 35.0,
                 3 if arterial else 1)
    for c in range(n):
        for r in range(n - 1):
            arterial = c % 5 == 0
            road(r * n + c, (r + 1) * n + c, f"col{c}", r, "arterial" if arterial else "local",
                 60.0 if arterial else 35.0, 3 if arterial else 1)
    return RoadGraph.from_edges(lat, lon, src, dst, kmh, road_class=cls, edge_id=ids,
                                lanes=lanes)
