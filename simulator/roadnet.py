"""The simulated city's roads: a :class:`dispatch.graph.RoadGraph` and the TRUE speed of
every edge at every moment, from which units drive and traffic detectors read.

A road segment is the undirected ``"F:k"`` of the graph (both directed edges ``"F:k"`` and
``"F:k:r"``); congestion is a time-of-day curve x the segment's district demand x a slowly
drifting per-segment factor (15-minute knots, interpolated), turned into speed by a BPR-like
curve; incidents (accidents, hazmat leaks) scale the speed of the segments at them down, to
0 (closed) for a full closure. Routes are fastest paths under a snapshot of these speeds
(scipy.sparse.csgraph, as in dispatch.graph); travel times integrate the speed of each edge
at the moment the unit enters it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from city.profile import CityProfile
from dispatch.graph import RoadGraph

from .incidents import Effect, apply_effects
from .readings import curves, hash_normal
from .world import PERIOD_MS, Points, Schedule

KNOT_MS = 15 * 60_000     # the drifting per-segment congestion factor: knots every 15 min
DRIFT = 0.06              # ... its standard deviation (x the demand)
MIN_KMH = 5.0             # a unit already on a closed segment squeezes past at walking pace
CAP_PER_LANE = {"expressway": 2000.0, "ring": 1900.0, "arterial": 1700.0, "collector": 1400.0,
                "bridge": 1900.0, "tunnel": 1800.0, "local": 1000.0}


def segment_key(edge_id: str) -> str:
    """``"F:k:r"`` -> ``"F:k"``: both directions of a road segment share one id."""
    return edge_id[:-2] if edge_id.endswith(":r") else edge_id


@dataclass(frozen=True)
class Routes:
    """Fastest routes from ``src`` to ``dst`` (one per pair): node and edge index lists."""

    nodes: list[np.ndarray]
    edges: list[np.ndarray]
    reachable: np.ndarray


class RoadNet:
    """The graph, its segments and their true speeds (pure functions of seed and time)."""

    def __init__(self, graph: RoadGraph, profile: CityProfile, seed: int,
                 rng: np.random.Generator, tz_hours: float) -> None:
        self.g, self.seed, self.tz_hours = graph, seed, tz_hours
        keys = [segment_key(e) for e in graph.edge_id]
        self.seg_ids, first, self.seg_of = np.unique(np.array(keys, object), return_index=True,
                                                     return_inverse=True)
        self.seg_of = self.seg_of.astype(np.int64)
        ns = len(self.seg_ids)
        self.seg_edge = first.astype(np.int64)            # a representative (forward) edge
        e = self.seg_edge
        self.lat = ((graph.lat[graph.src[e]] + graph.lat[graph.dst[e]]) / 2).round(6)
        self.lon = ((graph.lon[graph.src[e]] + graph.lon[graph.dst[e]]) / 2).round(6)
        self.vf = np.zeros(ns)
        np.maximum.at(self.vf, self.seg_of, graph.free_kmh)
        self.lanes = graph.lanes[e].astype(np.int64).clip(1)
        self.cap = np.array([CAP_PER_LANE.get(c, 1500.0) for c in
                             (graph.road_class[i] for i in e)]) * self.lanes
        self.district = np.array(profile.nearest_districts(self.lat, self.lon), object)
        ds = profile.districts
        dens = np.array([d.weight / d.radius_km ** 2 for d in ds])
        dfac = dict(zip([d.code for d in ds], 0.55 + 0.45 * (dens / dens.max()) ** .3))
        self.demand = np.array([dfac[d] for d in self.district]) * rng.uniform(0.75, 1.05, ns)
        self.crossing = np.zeros(ns, bool)
        np.logical_or.at(self.crossing, self.seg_of, graph.crossing)
        # pair (src, dst) -> directed edges, for turning a node path into edges
        n = graph.nodes
        self._pair = graph.src.astype(np.int64) * n + graph.dst
        self._csr_t: tuple[float, int] | None = None
        self._csr: tuple[csr_matrix, np.ndarray, np.ndarray] | None = None

    # -- true speeds ---------------------------------------------------------------------
    def demand_vc(self, seg: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Volume/capacity of segments ``seg`` at times ``t`` (no measurement noise)."""
        k = t / KNOT_MS
        k0 = np.floor(k)
        w = k - k0
        key = self.seed * 31 + 7
        drift = (1 - w) * hash_normal(key, seg, k0.astype(np.int64)) + \
            w * hash_normal(key, seg, (k0 + 1).astype(np.int64))
        d = curves(t, self.tz_hours)["traffic"]
        return np.clip(d * self.demand[seg] * (1 + DRIFT * drift), 0.01, 1.3)

    def seg_kmh(self, seg: np.ndarray, t: np.ndarray, effects: Sequence[Effect]
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(true speed, congestion-only speed, v/c) of segments at times ``t`` (sorted);
        the speed is 0 where an incident closes the segment."""
        vc = self.demand_vc(seg, t)
        v0 = self.vf[seg] * (1 - 0.7 * vc ** 4 / (0.4 + vc ** 4))
        return apply_effects(list(effects), "segments", seg, t, v0.copy()), v0, vc

    def edge_kmh(self, edges: np.ndarray, t: np.ndarray, effects: Sequence[Effect]
                 ) -> np.ndarray:
        """True speed of directed ``edges`` at times ``t`` (never above free flow)."""
        seg = self.seg_of[edges]
        order = np.argsort(t, kind="stable")  # apply_effects wants times in order
        v = np.empty(len(edges))
        v[order] = self.seg_kmh(seg[order], np.asarray(t, float)[order], effects)[0]
        return np.minimum(v * self.g.free_kmh[edges] / self.vf[seg], self.g.free_kmh[edges])

    def snapshot(self, t: float, effects: Sequence[Effect]) -> np.ndarray:
        """True speed of every directed edge at ``t`` (0: closed)."""
        m = self.g.edges
        return self.edge_kmh(np.arange(m), np.full(m, float(t)), effects)

    # -- routing ---------------------------------------------------------------------------
    def _matrix(self, t: float, effects: Sequence[Effect], version: int
                ) -> tuple[csr_matrix, np.ndarray, np.ndarray]:
        """The routing matrix at ``t`` (fastest of parallel edges), cached per (t, version)."""
        if self._csr is not None and self._csr_t == (t, version):
            return self._csr
        sec = self.g.edge_seconds(self.snapshot(t, effects))
        ok = np.flatnonzero(np.isfinite(sec))
        order = ok[np.lexsort((sec[ok], self._pair[ok]))]
        key = self._pair[order]
        first = np.ones(len(order), bool)
        first[1:] = key[1:] != key[:-1]
        best = order[first]                     # one directed edge per (src, dst), fastest
        g = self.g
        mat = csr_matrix((sec[best], (g.src[best], g.dst[best])), shape=(g.nodes, g.nodes))
        self._csr_t, self._csr = (t, version), (mat, key[first], best)
        return self._csr

    def routes(self, src: np.ndarray, dst: np.ndarray, t: float, effects: Sequence[Effect],
               version: int = 0) -> Routes:
        """Fastest routes src[i] -> dst[i] under the true speeds at ``t``."""
        mat, keys, best = self._matrix(float(t), effects, version)
        uniq, row = np.unique(src, return_inverse=True)
        dist, pred = dijkstra(mat, directed=True, indices=uniq, return_predecessors=True)
        dist, pred = np.atleast_2d(dist), np.atleast_2d(pred)
        nodes, edges = [], []
        ok = np.isfinite(dist[row, dst])
        n = self.g.nodes
        for i, (r, b) in enumerate(zip(row.tolist(), np.asarray(dst).tolist())):
            if not ok[i]:
                nodes.append(np.array([src[i]]))
                edges.append(np.zeros(0, np.int64))
                continue
            p, path = pred[r], [b]
            while p[path[-1]] >= 0:
                path.append(int(p[path[-1]]))
            nd = np.array(path[::-1], np.int64)
            nodes.append(nd)
            edges.append(best[np.searchsorted(keys, nd[:-1] * n + nd[1:])])
        return Routes(nodes, edges, ok)

    def times_to(self, node: int, t: float, effects: Sequence[Effect], version: int = 0
                 ) -> np.ndarray:
        """Drive seconds from every node to ``node`` under the true speeds at ``t``."""
        mat = self._matrix(float(t), effects, version)[0]
        return np.asarray(dijkstra(mat.T.tocsr(), directed=True, indices=int(node)))

    def segment_near(self, lat: float, lon: float) -> int:
        """The segment whose midpoint is nearest to a point."""
        kx = math.cos(math.radians(lat))
        return int(np.argmin((self.lat - lat) ** 2 + ((self.lon - lon) * kx) ** 2))


def graph_for(profile: CityProfile) -> RoadGraph | None:
    """The city's road graph (profile key ``roads``), or None for a city without one."""
    try:
        from city.profile import load_roads  # type: ignore[attr-defined]
        from dispatch.roads import parse_roads  # type: ignore[import-not-found]
    except ImportError:
        return None
    raw: Any = load_roads(profile)
    return None if raw is None else parse_roads(raw)


def road_points(profile: CityProfile, ab: dict[str, str], graph: "RoadGraph", seed: int,
                   n: int, tz_hours: float) -> tuple["RoadNet", Points, Points]:
    """The graph's segments (all of them) and the ``n`` that carry a traffic detector
    (major roads first, by capacity; all when the graph has fewer), named ``"F:k"``."""
    rng = np.random.default_rng([seed, 0x20AD])
    net = RoadNet(graph, profile, seed, rng, tz_hours)
    ns = len(net.seg_ids)
    none = Schedule(PERIOD_MS["segments"], np.zeros(0, np.int64), np.zeros(0, np.int64))
    p = {"vf": net.vf, "lanes": net.lanes, "cap": net.cap, "demand": net.demand,
         "seg": np.arange(ns)}
    roads = Points(net.seg_ids, net.district, np.full(ns, "", object), net.lat, net.lon, none, p)
    w = net.cap / net.cap.sum()
    pick = np.sort(rng.choice(ns, n, replace=False, p=w)) if n < ns else np.arange(ns)
    src = np.array([f"its-{ab[d]}-{i % 4}" for i, d in enumerate(net.district[pick])], object)
    det = Points(net.seg_ids[pick], net.district[pick], src, net.lat[pick], net.lon[pick],
                 Schedule.random(len(pick), PERIOD_MS["segments"], rng),
                 {k: v[pick] for k, v in p.items()})
    return net, roads, det
