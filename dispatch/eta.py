"""Drive-time ETAs of units to an incident, on the road graph under current edge speeds.

Edge speeds are the live detector speeds where fresh (:mod:`dispatch.traffic`), else the
congestion fresh readings show on the same class of road, else a time-of-day baseline by
road class (local hour from the profile's UTC offset: rush hours slower), with accidents
slowing or closing edges on top. An ETA is the access leg from the
unit's position to its nearest node, the graph time to the incident's node (one
scipy.sparse.csgraph search on the reversed graph for all units) and the access leg at the
incident. With no graph, the straight-line distance x a detour factor at a class speed,
and the result says ``method == "straight_line"``. No ETA is below the free-flow time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from dispatch.graph import ACCESS_DETOUR, RoadGraph
from dispatch.traffic import TrafficState, graph_index

EARTH_M = 6_371_008.8

# speed as a share of free flow, by period of the local day and road class
_RUSH = {"expressway": 0.55, "ring": 0.5, "arterial": 0.45, "collector": 0.55,
         "bridge": 0.4, "tunnel": 0.45, "local": 0.65}
_DAY = {"expressway": 0.85, "ring": 0.75, "arterial": 0.7, "collector": 0.75,
        "bridge": 0.65, "tunnel": 0.7, "local": 0.8}
_NIGHT = {k: 1.0 for k in _RUSH}


@dataclass(frozen=True)
class EtaConfig:
    rush_hours: tuple[tuple[int, int], ...] = ((7, 9), (17, 19))   # local [start, end)
    night_hours: tuple[int, int] = (22, 6)                          # local, wraps midnight
    factors: Mapping[str, Mapping[str, float]] = field(default_factory=lambda: MappingProxyType(
        {"rush": _RUSH, "day": _DAY, "night": _NIGHT}))
    detour_factor: float = 1.4        # straight line -> street distance, no graph
    straight_kmh: float = 40.0        # free-flow speed of the straight-line method
    straight_class: str = "arterial"  # whose time-of-day factor it takes


def local_hour(now_ms: int, utc_offset_hours: float) -> int:
    return int((now_ms / 3_600_000 + utc_offset_hours) // 1 % 24)


def period(hour: int, config: EtaConfig = EtaConfig()) -> str:
    if any(a <= hour < b for a, b in config.rush_hours):
        return "rush"
    a, b = config.night_hours
    return "night" if (hour >= a or hour < b) else "day"


def baseline_kmh(graph: RoadGraph, when: str, config: EtaConfig = EtaConfig()) -> np.ndarray:
    f = config.factors[when]
    idx = graph_index(graph)
    share = np.array([f.get(c, 0.7) for c in idx.classes], np.float64)
    return graph.free_kmh * share[idx.class_of]


class Speeds:
    """Edge speeds at one moment, with the sparse matrices built from them (shared by the
    ETAs, coverage and routes of one evaluation)."""

    def __init__(self, graph: RoadGraph, kmh: np.ndarray, when: str) -> None:
        self.graph, self.kmh, self.when = graph, kmh, when
        self.seconds = graph.edge_seconds(kmh)
        self._m: dict[bool, csr_matrix] = {}

    def matrix(self, reverse: bool) -> csr_matrix:
        m = self._m.get(reverse)
        if m is None:
            m = self._m[reverse] = self.graph._matrix(self.seconds, reverse=reverse)
        return m


def edge_speeds(graph: RoadGraph, traffic: TrafficState | None, now_ms: int,
                utc_offset_hours: float, config: EtaConfig = EtaConfig()) -> Speeds:
    when = period(local_hour(now_ms, utc_offset_hours), config)
    base = baseline_kmh(graph, when, config)
    return Speeds(graph, base if traffic is None else traffic.apply(base, now_ms), when)


def straight_m(lat1: np.ndarray, lon1: np.ndarray, lat2: float | np.ndarray,
               lon2: float | np.ndarray) -> np.ndarray:
    """Great-circle metres (numpy broadcasting over the arguments)."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    a = (np.sin((p2 - p1) / 2) ** 2
         + np.cos(p1) * np.cos(p2) * np.sin(np.radians(lon2 - np.asarray(lon1)) / 2) ** 2)
    return 2 * EARTH_M * np.arcsin(np.sqrt(np.minimum(a, 1.0)))


@dataclass
class UnitEtas:
    """ETAs of a set of units (in the order given) to one incident."""

    method: str                    # "road_graph" | "straight_line"
    eta_s: np.ndarray              # (k,), inf: unreachable
    route_m_est: np.ndarray        # (k,) straight-line route estimate (both methods)
    unit_node: np.ndarray | None = None
    incident_node: int = -1
    access_m: np.ndarray | None = None
    incident_access_m: float = 0.0
    pred: np.ndarray | None = None
    speeds: Speeds | None = None

    def route(self, i: int) -> tuple[tuple[int, ...], tuple[int, ...], float]:
        """(nodes, edges, metres) of unit ``i``'s fastest route (empty on straight line)."""
        if self.pred is None or self.speeds is None or self.unit_node is None:
            return (), (), float(self.route_m_est[i])
        g = self.speeds.graph
        v = int(self.unit_node[i])
        if not np.isfinite(self.eta_s[i]):
            return (), (), float("inf")
        nodes, edges = [v], []
        while v != self.incident_node:
            nxt = int(self.pred[v])
            edges.append(g._fastest_edge(v, nxt, self.speeds.seconds))
            nodes.append(nxt)
            v = nxt
        assert self.access_m is not None
        metres = float(g.length_m[edges].sum()) + float(self.access_m[i]) + \
            self.incident_access_m
        return tuple(nodes), tuple(edges), metres


def etas_to(graph: RoadGraph | None, speeds: Speeds | None, lat: float, lon: float,
            unit_lat: np.ndarray, unit_lon: np.ndarray,
            config: EtaConfig = EtaConfig(), when: str = "day",
            near: tuple[np.ndarray, np.ndarray] | None = None) -> UnitEtas:
    """ETAs of the units at (unit_lat, unit_lon) to the incident at (lat, lon); ``near``:
    the units' (nearest nodes, metres to them) if known already."""
    ulat, ulon = np.asarray(unit_lat, np.float64), np.asarray(unit_lon, np.float64)
    crow = straight_m(ulat, ulon, lat, lon)
    if graph is None or speeds is None:
        share = config.factors.get(when, {}).get(config.straight_class, 1.0)
        kmh = config.straight_kmh * min(share, 1.0)
        route = crow * config.detour_factor
        return UnitEtas("straight_line", route / (kmh / 3.6), route)
    inc_node_a, inc_d = graph.nearest(np.array([lat]), np.array([lon]))
    inc_node = int(inc_node_a[0])
    dist, pred = dijkstra(speeds.matrix(reverse=True), directed=True, indices=inc_node,
                          return_predecessors=True)
    if near is not None:
        unode, ud = near
    elif len(ulat):
        unode, ud = graph.nearest(ulat, ulon)
    else:
        unode, ud = np.zeros(0, np.int64), np.zeros(0)
    eta = graph.access_s(ud) + dist[unode] + float(graph.access_s(inc_d)[0])
    return UnitEtas("road_graph", eta, crow * config.detour_factor, unode, inc_node,
                    ud * ACCESS_DETOUR, float(inc_d[0]) * ACCESS_DETOUR, pred, speeds)


def free_flow_etas(graph: RoadGraph | None, lat: float, lon: float, unit_lat: np.ndarray,
                   unit_lon: np.ndarray, config: EtaConfig = EtaConfig()) -> np.ndarray:
    """The same ETAs with every road at free flow (the floor any ETA respects)."""
    if graph is None:
        return etas_to(None, None, lat, lon, unit_lat, unit_lon, config, "free").eta_s
    return etas_to(graph, Speeds(graph, graph.free_kmh, "free"), lat, lon, unit_lat, unit_lon,
                   config).eta_s
