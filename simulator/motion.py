"""How a fleet's units move between reports: on the road graph (fastest routes, true edge
speeds, trips planned once) or, for a city without a graph, on a Manhattan grid.

:class:`GraphMotion` also keeps the ground truth of dispatched trips: unit, call/incident,
start and destination node, start and arrival time, true and free-flow seconds, metres.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from schemas.validate import format_event_time

from .incidents import Effect
from .roadnet import MIN_KMH, RoadNet
from .trips import Leg, TripBook

_KM_DEG = 111.32
PASSES = 3  # entry time -> speed -> entry time: converged to well under a second


def grid_move(lat: np.ndarray, lon: np.ndarray, tlat: np.ndarray, tlon: np.ndarray,
              km: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One step of ``km`` east-west, then north-south (city blocks) towards the target:
    (lat, lon, km moved, arrived)."""
    kx = _KM_DEG * np.cos(np.radians(lat))
    dx, dy = (tlon - lon) * kx, (tlat - lat) * _KM_DEG
    sx = np.sign(dx) * np.minimum(np.abs(dx), km)
    sy = np.sign(dy) * np.minimum(np.abs(dy), km - np.abs(sx))
    arrived = np.abs(dx) + np.abs(dy) <= km
    return (np.where(arrived, tlat, lat + sy / _KM_DEG), np.where(arrived, tlon, lon + sx / kx),
            np.abs(sx) + np.abs(sy), arrived)


class GraphMotion:
    """One fleet on the graph: parked at a node (or inside an edge, stopped) or on a trip."""

    def __init__(self, net: RoadNet, lat: np.ndarray, lon: np.ndarray, ids: np.ndarray,
                 effects: Callable[[], tuple[Sequence[Effect], int]]) -> None:
        self.net, self.g, self.ids, self.effects = net, net.g, ids, effects
        node, _ = net.g.nearest(lat, lon)
        n = len(lat)
        self.book = TripBook(n)
        self.park = Leg(net.g.lat[node].copy(), net.g.lon[node].copy(), node.copy(),
                        np.full(n, -1, np.int64), np.zeros(n))
        self.meta: dict[int, dict[str, Any]] = {}   # unit -> truth of its recorded trip
        self.done: list[dict[str, Any]] = []

    def parked_at(self) -> tuple[np.ndarray, np.ndarray]:
        return self.park.lat, self.park.lon

    # -- where units are -------------------------------------------------------------------
    def leg(self, idx: np.ndarray, t: np.ndarray) -> Leg:
        """Where units ``idx`` are at ``t`` (from their trip, or where they are parked)."""
        p = self.park
        out = Leg(p.lat[idx].copy(), p.lon[idx].copy(), p.node[idx].copy(), p.edge[idx].copy(),
                  p.m[idx].copy())
        act = self.book.active(idx)
        if act.any():
            lat, lon, _, _, leg = self.book.where(idx[act], np.asarray(t)[act])
            out.lat[act], out.lon[act], out.node[act] = lat, lon, leg.node
            out.edge[act], out.m[act] = leg.edge, leg.m
        return out

    def move(self, idx: np.ndarray, t: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Positions at the reports ``t`` of units ``idx``: (lat, lon, speed, heading,
        arrived); an arrived unit parks at the end of its trip."""
        n = len(idx)
        lat, lon = self.park.lat[idx].copy(), self.park.lon[idx].copy()
        speed, heading = np.zeros(n), np.full(n, np.nan)
        act = self.book.active(idx)
        arrived = act & (t >= self.book.end_t[idx])
        if act.any():
            lat[act], lon[act], speed[act], heading[act], leg = \
                self.book.where(idx[act], t[act])
            for a, b in ((self.park.lat, lat), (self.park.lon, lon)):
                a[idx[arrived]] = b[arrived]
            self.park.node[idx[arrived]] = leg.node[arrived[act]]
            self.park.edge[idx[arrived]], self.park.m[idx[arrived]] = -1, 0.0
        for u in idx[arrived].tolist():
            rec = self.meta.pop(u, None)
            if rec is not None:
                self.done.append(rec)
        self.book.stop(idx[arrived])
        return lat, lon, speed, heading, arrived

    def halt(self, idx: np.ndarray, t: int) -> None:
        """Stop units where they are now (inside an edge if need be)."""
        self._finish(idx, np.full(len(idx), t))
        leg = self.leg(idx, np.full(len(idx), t))
        for c in ("lat", "lon", "node", "edge", "m"):
            getattr(self.park, c)[idx] = getattr(leg, c)
        self.book.stop(idx)
        for u in idx.tolist():
            self.meta.pop(u, None)

    # -- where units go --------------------------------------------------------------------
    def go(self, idx: np.ndarray, t: np.ndarray, lat: np.ndarray, lon: np.ndarray,
           record: Sequence[tuple[str, str]] | None = None) -> np.ndarray:
        """Plan trips of units ``idx`` from where they are at ``t`` to the points (lat, lon)
        (the last leg from the nearest node on foot/at access speed, standing still); with
        ``record`` [(leg, ref)] keep their ground truth. Returns the arrival times."""
        if len(idx) == 0:
            return np.zeros(0)
        t = np.asarray(t, np.int64)
        self._finish(idx, t)
        effects, version = self.effects()
        start = self.leg(idx, t)
        dest, dest_m = self.g.nearest(lat, lon)
        routes = self.net.routes(start.node, dest, float(t.min()), effects, version)
        access = self.g.access_s(dest_m)
        pts: dict[str, list[np.ndarray]] = {c: [] for c in ("lat", "lon", "node", "edge", "m")}
        counts = []
        g = self.g
        for i in range(len(idx)):
            nodes, edges = routes.nodes[i], routes.edges[i]
            if not routes.reachable[i]:
                nodes = np.array([start.node[i]])
            k = len(nodes)
            head = int(start.edge[i] >= 0)
            lat_i = np.concatenate([[start.lat[i]] * head, g.lat[nodes], [g.lat[nodes[-1]]]])
            lon_i = np.concatenate([[start.lon[i]] * head, g.lon[nodes], [g.lon[nodes[-1]]]])
            pts["lat"].append(lat_i)
            pts["lon"].append(lon_i)
            pts["node"].append(np.concatenate([[-1] * head, nodes, [nodes[-1]]]))
            pts["edge"].append(np.concatenate([[start.edge[i]] * head, edges, [-1, -1]]))
            pts["m"].append(np.concatenate([[start.m[i]] * head, g.length_m[edges], [0, 0]]))
            counts.append(k + 1 + head)
        parts = {c: np.concatenate(v) for c, v in pts.items()}
        cnt = np.array(counts, np.int64)
        parts["edge"] = parts["edge"].astype(np.int64)
        parts["node"] = parts["node"].astype(np.int64)
        dwell = np.zeros(len(parts["m"]))
        dwell[np.cumsum(cnt) - 2] = access * 1000.0   # the last leg, standing at the node
        parts["t"], free = self._timing(parts, cnt, t.astype(float), dwell, effects)
        self.book.put(idx, parts, cnt)
        arrive = self.book.end_t[idx]
        if record is not None:
            ends = np.cumsum(cnt)
            for i, (u, (leg, ref)) in enumerate(zip(idx.tolist(), record)):
                sl = slice(ends[i] - cnt[i], ends[i])
                e = parts["edge"][sl]
                self.meta[u] = _truth(str(self.ids[u]), leg, ref, int(start.node[i]),
                                      int(dest[i]), int(t[i]), float(arrive[i]),
                                      float(parts["m"][sl].sum()), float(free[i]),
                                      bool(routes.reachable[i]),
                                      int(self.g.crossing[e[e >= 0]].sum()))
        return arrive

    def _timing(self, parts: dict[str, np.ndarray], cnt: np.ndarray, depart: np.ndarray,
                dwell: np.ndarray, effects: Sequence[Effect]) -> tuple[np.ndarray, np.ndarray]:
        """Times at every point (true speeds at entry) and each trip's free-flow seconds."""
        edge, m = parts["edge"], parts["m"]
        grp = np.repeat(np.arange(len(cnt)), cnt)
        drive = edge >= 0
        e = np.where(drive, edge, 0)
        free_ms = np.where(drive, m / (self.g.free_kmh[e] / 3.6) * 1000.0, dwell)
        start = np.cumsum(cnt) - cnt
        dur = free_ms.copy()
        for _ in range(PASSES):
            t = _seg_starts(dur, grp, start, depart)
            kmh = np.clip(self.net.edge_kmh(e, t, effects), MIN_KMH, self.g.free_kmh[e])
            dur = np.where(drive, m / (kmh / 3.6) * 1000.0, dwell)
        t = _seg_starts(dur, grp, start, depart)
        free = np.bincount(grp, free_ms, len(cnt)) / 1000.0
        return t, free

    def _finish(self, idx: np.ndarray, t: np.ndarray) -> None:
        """Keep the truth of trips that ended before ``t`` though no report saw it yet (a
        unit sent on before its next report); a trip cut short has none."""
        ended = self.book.active(idx) & (self.book.end_t[idx] <= t)
        for u in idx[ended].tolist():
            rec = self.meta.pop(u, None)
            if rec is not None:
                self.done.append(rec)

    def take_done(self, before_ms: float) -> list[dict[str, Any]]:
        """Truth records of trips that ended by ``before_ms`` (all of them are known once
        every unit has reported after it), in (arrival, unit) order."""
        ready = sorted((r for r in self.done if r["arrival_ms"] <= before_ms),
                       key=lambda r: (r["arrival_ms"], r["unit_id"]))
        self.done = [r for r in self.done if r["arrival_ms"] > before_ms]
        return ready


def _seg_starts(dur: np.ndarray, grp: np.ndarray, start: np.ndarray, depart: np.ndarray
                ) -> np.ndarray:
    """Time at each point: departure + durations of the points before it, per trip."""
    c = np.cumsum(dur)
    before = c - dur
    return depart[grp] + before - before[start][grp]


def _truth(unit: str, leg: str, ref: str, a: int, b: int, t0: int, t1: float, metres: float,
           free_s: float, reachable: bool, crossings: int) -> dict[str, Any]:
    arrive = int(round(t1))
    return {"unit_id": unit, "leg": leg, "ref": ref, "start_node": a, "dest_node": b,
            "start_ms": t0, "start_time": format_event_time(t0), "arrival_ms": arrive,
            "arrival_time": format_event_time(arrive), "travel_s": round((t1 - t0) / 1000, 3),
            "route_m": round(metres, 1), "free_flow_s": round(free_s, 3),
            "crossings": crossings, "reachable": reachable}


