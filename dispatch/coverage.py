"""District coverage: the share of each district's demand points some available unit reaches
within the target time, and move-ups that restore it after units are committed.

Targets: EMS 8 min (urban), first engine 240 s of travel (NFPA 1710). Demand points are
the road graph's nodes (by district), or, without a graph, a grid around each district
centre with straight-line times. Reach is one multi-source scipy dijkstra per fleet state
(``min_only``, ``limit`` = the target), so a package's coverage costs a few searches.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
from scipy.sparse.csgraph import dijkstra

from schemas.records import stable_id

from dispatch.eta import EtaConfig, Speeds, straight_m
from dispatch.graph import RoadGraph
from dispatch.units import CAP_INDEX, Registry


@dataclass(frozen=True)
class Target:
    name: str            # "ems" | "fire"
    capability: str      # which units count
    target_s: float


TARGETS = (Target("ems", "bls", 480.0), Target("fire", "engine", 240.0))
DROP_TO_ACT = 0.02       # a district losing more than this share gets a move-up
MAX_MOVEUPS = 3


@dataclass(frozen=True, eq=False)
class Demand:
    """Demand points: graph nodes (``nodes``) or coordinates, each with its district."""

    district: tuple[str, ...]
    codes: tuple[str, ...]
    nodes: np.ndarray | None = None
    lat: np.ndarray | None = None
    lon: np.ndarray | None = None
    index: np.ndarray = field(init=False)      # each point's district, as a code index

    def __post_init__(self) -> None:
        pos = {c: i for i, c in enumerate(self.codes)}
        object.__setattr__(self, "index", np.array([pos.get(d, 0) for d in self.district],
                                                   np.int64))


_DEMAND: "weakref.WeakKeyDictionary[RoadGraph, Demand]" = weakref.WeakKeyDictionary()


def demand_for(profile: Any, graph: RoadGraph | None, per_district: int = 64) -> Demand:
    codes = tuple(d.code for d in profile.districts)
    if graph is not None:
        dem = _DEMAND.get(graph)
        if dem is None:
            dist = tuple(profile.nearest_districts(graph.lat, graph.lon))
            dem = _DEMAND[graph] = Demand(dist, codes, np.arange(graph.nodes))
        return dem
    side = int(np.sqrt(per_district))
    lat: list[float] = []
    lon: list[float] = []
    where: list[str] = []
    for d in profile.districts:   # a square grid inside the district's radius
        k = d.radius_km / 111.195 * 0.7
        for a in np.linspace(-k, k, side):
            for b in np.linspace(-k, k, side):
                lat.append(float(d.lat + a))
                lon.append(float(d.lon + b / np.cos(np.radians(d.lat))))
                where.append(d.code)
    return Demand(tuple(where), codes, None, np.array(lat), np.array(lon))


def reached(speeds: Speeds | None, demand: Demand, lat: np.ndarray, lon: np.ndarray,
            target_s: float, config: EtaConfig = EtaConfig(),
            nodes: np.ndarray | None = None) -> np.ndarray:
    """Whether each demand point is within ``target_s`` of some unit at (lat, lon)
    (``nodes``: the units' nearest graph nodes, if known already)."""
    n_pts = len(demand.district)
    if len(lat) == 0:
        return np.zeros(n_pts, bool)
    if speeds is None or demand.nodes is None:
        assert demand.lat is not None and demand.lon is not None
        metres = straight_m(np.asarray(lat)[:, None], np.asarray(lon)[:, None],
                            demand.lat[None, :], demand.lon[None, :])
        return metres.min(axis=0) * config.detour_factor / (config.straight_kmh / 3.6) \
            <= target_s
    if nodes is None:
        nodes, _ = speeds.graph.nearest(lat, lon)
    t = dijkstra(speeds.matrix(reverse=False), directed=True, indices=np.unique(nodes),
                 min_only=True, limit=target_s)
    return np.asarray(t)[demand.nodes] <= target_s


def shares(hit: np.ndarray, demand: Demand) -> dict[str, float]:
    idx = demand.index
    n = len(demand.codes)
    got = np.bincount(idx, weights=hit.astype(np.float64), minlength=n)
    total = np.bincount(idx, minlength=n)
    return {c: round(float(got[i] / total[i]), 4) if total[i] else 1.0
            for i, c in enumerate(demand.codes)}


def assess(speeds: Speeds | None, demand: Demand, registry: Registry, available: np.ndarray,
           lat: np.ndarray, lon: np.ndarray, proposed: Sequence[int],
           config: EtaConfig = EtaConfig(), targets: Sequence[Target] = TARGETS,
           key: str = "") -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(coverage before/after committing ``proposed`` per target and district, move-ups);
    ``key`` (the package id) makes the move-up ids unique and deterministic."""
    out: dict[str, Any] = {}
    moves: list[dict[str, Any]] = []
    gone = np.zeros(len(registry), bool)
    gone[list(proposed)] = True
    nodes = speeds.graph.nearest(lat, lon)[0] if speeds is not None else None
    for tg in targets:
        cap = registry.caps[:, CAP_INDEX[tg.capability]]
        if not np.any(cap & gone):
            continue
        before_m = available & cap
        after_m = before_m & ~gone
        hit_b = reached(speeds, demand, lat[before_m], lon[before_m], tg.target_s, config,
                        None if nodes is None else nodes[before_m])
        hit_a = reached(speeds, demand, lat[after_m], lon[after_m], tg.target_s, config,
                        None if nodes is None else nodes[after_m])
        sb, sa = shares(hit_b, demand), shares(hit_a, demand)
        out[tg.name] = {"target_s": tg.target_s, "capability": tg.capability,
                        "districts": {c: {"before": sb[c], "after": sa[c]}
                                      for c in demand.codes},
                        "city": {"before": round(float(hit_b.mean()), 4),
                                 "after": round(float(hit_a.mean()), 4)}}
        if any(sb[c] - sa[c] > DROP_TO_ACT for c in demand.codes):
            moves += _moveups(speeds, demand, registry, after_m, lat, lon, nodes, proposed,
                              tg, hit_a, config, key)
    return out, moves[:MAX_MOVEUPS]


def _moveups(speeds: Speeds | None, demand: Demand, registry: Registry, pool: np.ndarray,
             lat: np.ndarray, lon: np.ndarray, nodes: np.ndarray | None,
             proposed: Sequence[int], tg: Target, hit_after: np.ndarray, config: EtaConfig,
             key: str) -> list[dict[str, Any]]:
    """For each station the package empties: the available unit (from the station with the
    most such units left, nearest first) whose move there restores the most coverage."""
    units = registry.units
    left: dict[str, list[int]] = {}
    for i in np.flatnonzero(pool).tolist():
        if units[i].station_id:
            left.setdefault(units[i].station_id, []).append(i)
    stations = registry.stations()
    out: list[dict[str, Any]] = []
    emptied = sorted({units[i].station_id for i in proposed
                      if registry.caps[i, CAP_INDEX[tg.capability]] and units[i].station_id
                      and not left.get(units[i].station_id)})
    moved: set[int] = set()
    for st in emptied:
        to_lat, to_lon = stations[st]
        donors = [(len(v), st2) for st2, v in left.items() if len(v) >= 2]
        if not donors:
            continue
        top = max(n for n, _ in donors)
        cands = sorted(((float(straight_m(np.array([stations[s][0]]), np.array([stations[s][1]]),
                                          to_lat, to_lon)[0]), s) for n, s in donors
                        if n == top))
        donor_station = cands[0][1]
        free = [j for j in sorted(left[donor_station], key=lambda j: units[j].id)
                if j not in moved]
        if not free:
            continue
        i = free[0]
        mlat, mlon = lat.copy(), lon.copy()
        mlat[i], mlon[i] = to_lat, to_lon
        mnodes = None
        if nodes is not None and speeds is not None:
            mnodes = nodes.copy()
            mnodes[i] = speeds.graph.nearest(np.array([to_lat]), np.array([to_lon]))[0][0]
        hit_m = reached(speeds, demand, mlat[pool], mlon[pool], tg.target_s, config,
                        None if mnodes is None else mnodes[pool])
        gain = float(hit_m.mean() - hit_after.mean())
        if gain <= 0:
            continue
        moved.add(i)
        left[donor_station].remove(i)
        sa, sm = shares(hit_after, demand), shares(hit_m, demand)
        out.append({"moveup_id": "MU-" + stable_id(key, tg.name, units[i].id, st),
                    "unit_id": units[i].id, "from_station": donor_station,
                    "to_station": st, "to_lat": to_lat, "to_lon": to_lon, "target": tg.name,
                    "gain": round(gain, 4),
                    "districts": {c: {"without": sa[c], "with": sm[c]}
                                  for c in demand.codes if sm[c] != sa[c]}})
    return out
