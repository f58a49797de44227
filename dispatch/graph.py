"""A directed road graph and drive times on it (scipy.sparse.csgraph shortest paths).

Nodes are WGS-84 points; a two-way road is two directed edges. Edge travel time is
``length / speed`` for the edge speeds given (free-flow by default; :mod:`dispatch.eta`
supplies live ones); a closed edge has speed 0 and is left out. A point off the graph
reaches its nearest node by an access leg (straight line x detour at ``ACCESS_KMH``), so
an ETA is never below the free-flow time of the road it uses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra
from scipy.spatial import cKDTree

EARTH_M = 6_371_008.8
ACCESS_KMH = 20.0      # off-graph leg from a point to its nearest node
ACCESS_DETOUR = 1.3    # straight line -> street distance on that leg
ROAD_CLASSES = ("expressway", "ring", "arterial", "collector", "bridge", "tunnel", "local")


class RoadGraphError(ValueError):
    """A road graph that cannot be used (says which edge or node and why)."""


@dataclass(frozen=True)
class Route:
    nodes: tuple[int, ...]
    edges: tuple[int, ...]
    length_m: float
    time_s: float


def _xy(lat: np.ndarray, lon: np.ndarray, lat0: float) -> np.ndarray:
    """Local equirectangular metres (good to <0.1% over a city)."""
    k = np.pi / 180 * EARTH_M
    return np.column_stack([np.asarray(lon, float) * k * np.cos(np.radians(lat0)),
                            np.asarray(lat, float) * k])


@dataclass(eq=False)
class RoadGraph:
    """Arrays of nodes and directed edges. Build with :meth:`from_edges` (checks them)."""

    lat: np.ndarray            # float64 (n,)
    lon: np.ndarray            # float64 (n,)
    src: np.ndarray            # int32 (m,)
    dst: np.ndarray            # int32 (m,)
    length_m: np.ndarray       # float64 (m,)
    free_kmh: np.ndarray       # float64 (m,)
    road_class: tuple[str, ...]
    lanes: np.ndarray          # int16 (m,)
    edge_id: tuple[str, ...]   # stable ids (feature id + direction): traffic segments name them
    name_zh: tuple[str, ...]
    name_en: tuple[str, ...]
    crossing: np.ndarray       # bool (m,): a bridge or tunnel over water
    _tree: cKDTree = field(init=False, repr=False)
    _index: dict[str, int] = field(init=False, repr=False)
    _pairs: dict[tuple[int, int], list[int]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._tree = cKDTree(_xy(self.lat, self.lon, float(np.mean(self.lat))))
        self._index = {e: i for i, e in enumerate(self.edge_id)}
        self._pairs = {}     # (src, dst) -> parallel edges; a route step picks the fastest
        for i, (u, v) in enumerate(zip(self.src.tolist(), self.dst.tolist())):
            self._pairs.setdefault((u, v), []).append(i)

    @classmethod
    def from_edges(cls, lat: Sequence[float], lon: Sequence[float], src: Sequence[int],
                   dst: Sequence[int], free_kmh: Sequence[float], *,
                   length_m: Sequence[float] | None = None,
                   road_class: Sequence[str] | None = None,
                   lanes: Sequence[int] | None = None, edge_id: Sequence[str] | None = None,
                   name_zh: Sequence[str] | None = None, name_en: Sequence[str] | None = None,
                   crossing: Sequence[bool] | None = None) -> "RoadGraph":
        la, lo = np.asarray(lat, np.float64), np.asarray(lon, np.float64)
        s, d = np.asarray(src, np.int32), np.asarray(dst, np.int32)
        n, m = len(la), len(s)
        if len(lo) != n or len(d) != m or n == 0 or m == 0:
            raise RoadGraphError(f"a road graph needs nodes and edges of matching sizes "
                                 f"(lat {n}, lon {len(lo)}, src {m}, dst {len(d)})")
        if not (np.all(np.abs(la) <= 90) and np.all(np.abs(lo) <= 180)):
            raise RoadGraphError("node coordinates must be WGS-84 degrees")
        bad = np.flatnonzero((s < 0) | (s >= n) | (d < 0) | (d >= n) | (s == d))
        if len(bad):
            raise RoadGraphError(f"edge {int(bad[0])}: endpoints {int(s[bad[0]])} -> "
                                 f"{int(d[bad[0]])} are not two nodes of the graph")
        kmh = np.asarray(free_kmh, np.float64)
        if len(kmh) != m or not np.all((kmh > 0) & (kmh <= 150)):
            raise RoadGraphError("every edge needs a free-flow speed in (0, 150] km/h")
        if length_m is None:
            xy = _xy(la, lo, float(np.mean(la)))
            length = np.hypot(*(xy[d] - xy[s]).T)
        else:
            length = np.asarray(length_m, np.float64)
        if len(length) != m or not np.all(length > 0):
            raise RoadGraphError("every edge needs a positive length")
        ids = tuple(edge_id) if edge_id is not None else tuple(f"e{i}" for i in range(m))
        if len(set(ids)) != m:
            raise RoadGraphError("edge ids must be unique")
        return cls(la, lo, s, d, length, kmh,
                   tuple(road_class) if road_class is not None else ("arterial",) * m,
                   np.asarray(lanes if lanes is not None else [2] * m, np.int16), ids,
                   tuple(name_zh) if name_zh is not None else ("",) * m,
                   tuple(name_en) if name_en is not None else ("",) * m,
                   np.asarray(crossing if crossing is not None else [False] * m, bool))

    @property
    def nodes(self) -> int:
        return len(self.lat)

    @property
    def edges(self) -> int:
        return len(self.src)

    def edge_index(self, edge_id: str) -> int | None:
        return self._index.get(edge_id)

    def nearest(self, lat: np.ndarray, lon: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(nearest node, straight-line metres to it) for each point."""
        dist, idx = self._tree.query(_xy(np.atleast_1d(lat), np.atleast_1d(lon),
                                         float(np.mean(self.lat))))
        return np.asarray(idx, np.int64), np.asarray(dist, np.float64)

    @staticmethod
    def access_s(dist_m: np.ndarray) -> np.ndarray:
        """Seconds of the off-graph leg for straight-line ``dist_m`` metres."""
        return np.asarray(dist_m) * ACCESS_DETOUR / (ACCESS_KMH / 3.6)

    def edge_seconds(self, edge_kmh: np.ndarray | None = None) -> np.ndarray:
        """Seconds to drive each edge at ``edge_kmh`` (free-flow if None; <= 0: closed,
        infinite). Never faster than free flow."""
        kmh = self.free_kmh if edge_kmh is None else np.minimum(edge_kmh, self.free_kmh)
        with np.errstate(divide="ignore"):
            return np.where(kmh > 0, self.length_m / (np.maximum(kmh, 1e-9) / 3.6), np.inf)

    def _matrix(self, seconds: np.ndarray, reverse: bool) -> csr_matrix:
        ok = np.isfinite(seconds)
        a, b = (self.dst, self.src) if reverse else (self.src, self.dst)
        # duplicate (a, b) pairs are summed by csr_matrix: keep the fastest instead
        order = np.lexsort((seconds[ok], b[ok], a[ok]))
        aa, bb, ss = a[ok][order], b[ok][order], seconds[ok][order]
        first = np.ones(len(aa), bool)
        first[1:] = (aa[1:] != aa[:-1]) | (bb[1:] != bb[:-1])
        return csr_matrix((ss[first], (aa[first], bb[first])), shape=(self.nodes, self.nodes))

    def times_from(self, nodes: np.ndarray, edge_kmh: np.ndarray | None = None,
                   limit_s: float = np.inf) -> np.ndarray:
        """Drive seconds from each of ``nodes`` to every node, shape (len(nodes), n)."""
        m = self._matrix(self.edge_seconds(edge_kmh), reverse=False)
        return np.atleast_2d(dijkstra(m, directed=True, indices=np.asarray(nodes),
                                      limit=limit_s))

    def times_to(self, node: int, edge_kmh: np.ndarray | None = None,
                 limit_s: float = np.inf) -> np.ndarray:
        """Drive seconds from every node to ``node`` (one search on the reversed graph)."""
        m = self._matrix(self.edge_seconds(edge_kmh), reverse=True)
        return np.asarray(dijkstra(m, directed=True, indices=int(node), limit=limit_s))

    def route(self, a: int, b: int, edge_kmh: np.ndarray | None = None) -> Route | None:
        """The fastest route from node ``a`` to node ``b`` (None if unreachable)."""
        sec = self.edge_seconds(edge_kmh)
        m = self._matrix(sec, reverse=False)
        dist, pred = dijkstra(m, directed=True, indices=int(a), return_predecessors=True)
        if not np.isfinite(dist[b]):
            return None
        nodes = [int(b)]
        while nodes[-1] != a:
            nodes.append(int(pred[nodes[-1]]))
        nodes.reverse()
        edges = [self._fastest_edge(u, v, sec) for u, v in zip(nodes, nodes[1:])]
        return Route(tuple(nodes), tuple(edges), float(self.length_m[edges].sum()),
                     float(dist[b]))

    def _fastest_edge(self, u: int, v: int, sec: np.ndarray) -> int:
        cand = self._pairs[(u, v)]
        return cand[0] if len(cand) == 1 else min(cand, key=lambda e: (sec[e], e))
