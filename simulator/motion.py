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
from .roadnet import MIN_KMH, RoadNet, Routes
from .trips import Leg, TripBook

_KM_DEG = 111.32
PASSES = 3  # entry time -> speed -> entry time: converged to well under a second
ROUTE_SNAP_MS = 60_000   # routes are chosen under the speeds of the minute a trip starts


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
        self.dest = (self.park.lat.copy(), self.park.lon.copy())   # where each trip goes
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
        routes = self._routes(start.node, dest, t, effects, version)
        access = self.g.access_s(dest_m)
        self.dest[0][idx], self.dest[1][idx] = lat, lon
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

    def _routes(self, src: np.ndarray, dst: np.ndarray, t: np.ndarray,
                effects: Sequence[Effect], version: int) -> Routes:
        """Fastest routes under the true speeds at each trip's start, taken on a grid of
        ROUTE_SNAP_MS (so a route never depends on which units report together)."""
        snap = t // ROUTE_SNAP_MS * ROUTE_SNAP_MS
        nodes: list[np.ndarray] = [np.zeros(0, np.int64)] * len(t)
        edges: list[np.ndarray] = [np.zeros(0, np.int64)] * len(t)
        ok = np.zeros(len(t), bool)
        for s in np.unique(snap).tolist():
            at = np.flatnonzero(snap == s)
            r = self.net.routes(src[at], dst[at], float(s), effects, version)
            for j, i in enumerate(at.tolist()):
                nodes[i], edges[i] = r.nodes[j], r.edges[j]
            ok[at] = r.reachable
        return Routes(nodes, edges, ok)

    def reroute(self, idx: np.ndarray, t: np.ndarray,
                closures: Sequence[tuple[int, int, np.ndarray]]) -> np.ndarray:
        """Units whose route ahead enters an edge closed at their time (``closures``: from,
        to, edges) take the fastest open route to the same place from where they are; their
        truth record stays one trip (its start, metres and free-flow seconds include what
        was driven). Returns the units."""
        act = self.book.active(idx)
        ids, tt = idx[act], np.asarray(t)[act]
        if len(ids):
            closures = [c for c in closures if c[0] <= tt.max() and c[1] >= tt.min()]
        if len(ids) == 0 or not closures:
            return ids[:0]
        b = self.book
        k = b.locate(ids, tt)
        hit = []
        for j in range(len(ids)):
            shut = [e for lo, hi, e in closures if lo <= tt[j] <= hi]
            if shut and np.isin(b.buf["edge"][k[j] + 1:b.hi[ids[j]]],
                                np.concatenate(shut)).any():
                hit.append(j)
        if not hit:
            return ids[:0]
        ids, tt, k = ids[hit], tt[hit], k[hit]
        leg = b.where(ids, tt)[4]
        carry = {}
        for j, u in enumerate(ids.tolist()):
            old = self.meta.pop(u, None)
            if old is None:
                continue
            e = b.buf["edge"][b.lo[u]:k[j] + 1]
            m = b.buf["m"][b.lo[u]:k[j] + 1].copy()
            m[-1] -= leg.m[j]                        # the part of this edge not yet driven
            drive = e >= 0
            free = float((m[drive] / (self.g.free_kmh[e[drive]] / 3.6)).sum())
            carry[u] = (old, float(m[drive].sum()), free,
                        int(self.g.crossing[e[drive]].sum()) - int(
                            self.g.crossing[e[-1]] and leg.m[j] > 0 and e[-1] >= 0))
        record = [(carry[u][0]["leg"], carry[u][0]["ref"]) for u in ids.tolist()] \
            if len(carry) == len(ids) else None
        self.go(ids, tt, self.dest[0][ids].copy(), self.dest[1][ids].copy(), record)
        for u, (old, metres, free, crossed) in carry.items():
            new = self.meta.get(u)
            if new is None:
                continue
            new.update(start_ms=old["start_ms"], start_time=old["start_time"],
                       start_node=old["start_node"],
                       travel_s=round((new["arrival_ms"] - old["start_ms"]) / 1000, 3),
                       route_m=round(new["route_m"] + metres, 1),
                       free_flow_s=round(new["free_flow_s"] + free, 3),
                       crossings=new["crossings"] + crossed,
                       rerouted=old.get("rerouted", 0) + 1)
        return ids

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
            "crossings": crossings, "reachable": reachable, "rerouted": 0}


