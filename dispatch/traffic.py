"""Live road conditions on the graph: traffic detector speeds and accidents, per edge.

A traffic ``segment`` event's entity id names an undirected segment ``"F:k"`` of the road
graph (both directed edges ``F:k`` and ``F:k:r``; ``F:k:r`` names the reverse direction
alone); an id the graph does not know is snapped
to the edge nearest the event's position (and the snap is remembered). A reading older than
``reading_max_age_s`` is ignored. Roads without a reading take the share of free flow the
fresh readings show on roads of their class (a city's detectors sit on its main roads; the
time-of-day prior is only for when there are too few). An ``accident`` slows the edges within
``accident_radius_m`` of it in proportion to the lanes it blocks, and closes them when it
blocks every lane; it lasts until a report of the same id with no lane blocked, or until
``accident_max_age_s`` after its last report.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.spatial import cKDTree

from dispatch.graph import RoadGraph, _xy


@dataclass(frozen=True)
class TrafficConfig:
    reading_max_age_s: float = 600.0
    snap_max_m: float = 300.0          # an unknown segment farther than this from any edge
    accident_radius_m: float = 150.0
    accident_max_age_s: float = 3600.0   # after its last report (urban clearance ~30-60 min)
    accident_floor: float = 0.15       # speed factor when all but the last lane are blocked
    live_floor_kmh: float = 3.0        # a detector reading 0 is a jam, not a closure
    learn_min_edges: int = 10          # fresh readings (edges) a class needs to set its level


class GraphIndex:
    """Per-graph lookups: undirected segment -> its edges, nearest edges to a point."""

    def __init__(self, graph: RoadGraph) -> None:
        seg: dict[str, list[int]] = {}
        for i, eid in enumerate(graph.edge_id):
            base = eid[:-2] if eid.endswith(":r") else eid
            seg.setdefault(base, []).append(i)
        self.segments = {k: np.asarray(v, np.int64) for k, v in seg.items()}
        self.lat0 = float(np.mean(graph.lat))
        xy = _xy(graph.lat, graph.lon, self.lat0)
        self.a, self.b = xy[graph.src], xy[graph.dst]
        self.mid_tree = cKDTree((self.a + self.b) / 2)
        self.half = float(np.max(np.hypot(*(self.b - self.a).T))) / 2
        self.edge_base = [eid[:-2] if eid.endswith(":r") else eid for eid in graph.edge_id]
        self.classes = sorted(set(graph.road_class))
        self.class_of = np.array([self.classes.index(c) for c in graph.road_class], np.int64)

    def xy(self, lat: float, lon: float) -> np.ndarray:
        return _xy(np.array([lat]), np.array([lon]), self.lat0)[0]

    def distances(self, lat: float, lon: float, radius_m: float) -> tuple[np.ndarray, np.ndarray]:
        """(edges, metres from the point to each edge's line) for edges within
        ``radius_m`` (the candidates are found by midpoint, then measured exactly)."""
        p = self.xy(lat, lon)
        cand = np.asarray(sorted(self.mid_tree.query_ball_point(p, radius_m + self.half)),
                          np.int64)
        if not len(cand):
            return cand, np.zeros(0)
        a, b = self.a[cand], self.b[cand]
        ab = b - a
        t = np.clip(np.einsum("ij,ij->i", p - a, ab) / np.maximum(
            np.einsum("ij,ij->i", ab, ab), 1e-9), 0.0, 1.0)
        d = np.hypot(*(a + ab * t[:, None] - p).T)
        keep = d <= radius_m
        return cand[keep], d[keep]

    def segment_edges(self, seg_id: str, lat: float, lon: float, snap_max_m: float,
                      snapped: dict[str, np.ndarray]) -> np.ndarray:
        """The edges of ``seg_id`` (or of the segment nearest (lat, lon), remembered in
        ``snapped``); empty if none."""
        hit = self.segments.get(seg_id)
        if hit is None:
            hit = snapped.get(seg_id)
        if hit is not None:
            return hit
        edges, d = self.distances(lat, lon, snap_max_m)
        if not len(edges):
            return np.zeros(0, np.int64)
        best = int(edges[np.lexsort((edges, d))[0]])
        hit = snapped[seg_id] = self.segments[self.edge_base[best]]
        return hit

    def edges_near(self, lat: float, lon: float, radius_m: float) -> np.ndarray:
        return self.distances(lat, lon, radius_m)[0]


_INDEX: "weakref.WeakKeyDictionary[RoadGraph, GraphIndex]" = weakref.WeakKeyDictionary()


def graph_index(graph: RoadGraph) -> GraphIndex:
    idx = _INDEX.get(graph)
    if idx is None:
        idx = _INDEX[graph] = GraphIndex(graph)
    return idx


class TrafficState:
    """Live speeds and accidents of one graph. State is plain data (:meth:`snapshot`)."""

    def __init__(self, graph: RoadGraph, config: TrafficConfig = TrafficConfig()) -> None:
        self.graph = graph
        self.config = config
        self.index = graph_index(graph)
        self.live_kmh = np.full(graph.edges, np.nan)
        self.live_ms = np.full(graph.edges, np.iinfo(np.int64).min // 2, np.int64)
        # accident id -> {lat, lon, lanes_blocked, at_ms, segment_id}
        self.accidents: dict[str, dict[str, Any]] = {}
        self._acc_edges: dict[str, np.ndarray] = {}
        self.snapped: dict[str, np.ndarray] = {}     # unknown segment id -> its edges

    def observe_segment(self, seg_id: str, speed_kmh: float, lat: float, lon: float,
                        at_ms: int) -> int:
        """Take a detector reading; returns how many edges it applies to (0: off the graph)."""
        one = self.graph.edge_index(seg_id) if seg_id.endswith(":r") else None
        edges = np.array([one], np.int64) if one is not None else self.index.segment_edges(
            seg_id, lat, lon, self.config.snap_max_m, self.snapped)
        if len(edges):
            newer = edges[self.live_ms[edges] <= at_ms]   # late readings do not overwrite
            self.live_kmh[newer] = max(float(speed_kmh), self.config.live_floor_kmh)
            self.live_ms[newer] = at_ms
        return len(edges)

    def observe_accident(self, acc_id: str, lanes_blocked: int, lat: float, lon: float,
                         at_ms: int, segment_id: str | None = None) -> None:
        old = self.accidents.get(acc_id)
        if old is not None and old["at_ms"] > at_ms:
            return
        if lanes_blocked <= 0:
            self.accidents.pop(acc_id, None)
            self._acc_edges.pop(acc_id, None)
            return
        self.accidents[acc_id] = {"lat": lat, "lon": lon, "lanes_blocked": int(lanes_blocked),
                                  "at_ms": int(at_ms), "segment_id": segment_id or ""}
        self._acc_edges.pop(acc_id, None)

    def expire(self, now_ms: int) -> list[str]:
        """Forget accidents not reported for ``accident_max_age_s``; their ids."""
        cut = now_ms - self.config.accident_max_age_s * 1000
        gone = sorted(a for a, v in self.accidents.items() if v["at_ms"] < cut)
        for a in gone:
            del self.accidents[a]
            self._acc_edges.pop(a, None)
        return gone

    def _accident_edges(self, acc_id: str) -> np.ndarray:
        edges = self._acc_edges.get(acc_id)
        if edges is None:
            a = self.accidents[acc_id]
            near = self.index.edges_near(a["lat"], a["lon"], self.config.accident_radius_m)
            named = self.index.segments.get(a["segment_id"], np.zeros(0, np.int64))
            edges = self._acc_edges[acc_id] = np.union1d(near, named).astype(np.int64)
        return edges

    def apply(self, base_kmh: np.ndarray, now_ms: int) -> np.ndarray:
        """Edge speeds: fresh live readings; elsewhere the congestion the fresh readings
        show on roads of the same class (all classes when one has too few), or, without
        enough live data, ``base_kmh``; then accidents (0: closed). A live reading already
        shows an accident's slowdown, so only a full closure is applied on top of it."""
        g = self.graph
        fresh = (now_ms - self.live_ms <= self.config.reading_max_age_s * 1000) & \
            (self.live_ms <= now_ms) & np.isfinite(self.live_kmh)
        kmh = self.observed_baseline(fresh, base_kmh)
        kmh[fresh] = self.live_kmh[fresh]
        cut = now_ms - self.config.accident_max_age_s * 1000
        for acc_id in sorted(self.accidents):
            a = self.accidents[acc_id]
            if a["at_ms"] > now_ms or a["at_ms"] < cut:
                continue
            edges = self._accident_edges(acc_id)
            lanes = g.lanes[edges].astype(np.float64)
            left = np.maximum(lanes - a["lanes_blocked"], 0.0)
            factor = np.where(left <= 0, 0.0,
                              np.maximum(left / np.maximum(lanes, 1.0) * 0.6,
                                         self.config.accident_floor))
            factor = np.where(fresh[edges] & (factor > 0), 1.0, factor)
            kmh[edges] = kmh[edges] * factor
        return np.minimum(kmh, g.free_kmh)

    def observed_baseline(self, fresh: np.ndarray, base_kmh: np.ndarray) -> np.ndarray:
        """Speeds for edges without a reading, from the readings there are (share of free
        flow, median per road class), else ``base_kmh`` (the time-of-day prior)."""
        cfg, g = self.config, self.graph
        if int(fresh.sum()) < cfg.learn_min_edges:
            return base_kmh.copy()
        ratio = np.clip(self.live_kmh[fresh] / g.free_kmh[fresh], 0.0, 1.0)
        overall = float(np.median(ratio))
        cls = self.index.class_of
        share = np.full(len(self.index.classes), overall)
        counts = np.bincount(cls[fresh], minlength=len(share))
        for c in np.flatnonzero(counts >= cfg.learn_min_edges):
            share[c] = float(np.median(ratio[cls[fresh] == c]))
        return g.free_kmh * share[cls]

    def closed_edges(self, now_ms: int) -> list[str]:
        kmh = self.apply(self.graph.free_kmh, now_ms)
        return [self.graph.edge_id[i] for i in np.flatnonzero(kmh <= 0)]

    def snapshot(self) -> dict[str, Any]:
        live = np.flatnonzero(np.isfinite(self.live_kmh))
        return {"live": [[self.graph.edge_id[i], float(self.live_kmh[i]), int(self.live_ms[i])]
                         for i in live],
                "accidents": {k: dict(v) for k, v in sorted(self.accidents.items())},
                "snapped": {k: self.index.edge_base[int(v[0])]
                            for k, v in sorted(self.snapped.items())}}

    def restore(self, snap: dict[str, Any]) -> None:
        self.live_kmh[:] = np.nan
        self.live_ms[:] = np.iinfo(np.int64).min // 2
        for eid, kmh, ms in snap.get("live", ()):
            i = self.graph.edge_index(eid)
            if i is not None:
                self.live_kmh[i], self.live_ms[i] = kmh, ms
        self.accidents = {k: dict(v) for k, v in snap.get("accidents", {}).items()}
        self._acc_edges = {}
        self.snapped = {k: self.index.segments[v] for k, v in snap.get("snapped", {}).items()
                        if v in self.index.segments}
