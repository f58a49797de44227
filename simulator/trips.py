"""Units driving on the road graph: each trip is planned once, as a polyline of points with
the times the unit passes them; positions at a report are interpolated, vectorised over the
units reporting, by a binary search in each unit's slice of one flat buffer.

A point k of a trip carries its position, node (-1 for a point inside an edge), the edge
driven from it to point k+1 (-1: standing, e.g. the last leg on foot to the scene) and the
metres to point k+1. Times come from the TRUE speed of each edge at the moment the unit
enters it (a fixed point of entry time -> speed -> entry time, three passes).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_COLS = ("t", "lat", "lon", "node", "edge", "m")
_TYPES = (np.float64, np.float64, np.float64, np.int64, np.int64, np.float64)


@dataclass
class Leg:
    """Where a unit starts a trip: a point (``edge`` >= 0: inside that edge, ``m`` metres
    before its end ``node``) or a node (``edge`` -1)."""

    lat: np.ndarray
    lon: np.ndarray
    node: np.ndarray
    edge: np.ndarray
    m: np.ndarray


class TripBook:
    """The current trip of every unit of a fleet (one slice [lo, hi) of a flat buffer)."""

    def __init__(self, n_units: int, capacity: int = 4096) -> None:
        self.buf = {c: np.zeros(capacity, ty) for c, ty in zip(_COLS, _TYPES)}
        self.size = 0
        self.lo = np.zeros(n_units, np.int64)
        self.hi = np.zeros(n_units, np.int64)   # hi == lo: no trip
        self.end_t = np.full(n_units, np.inf)

    def active(self, idx: np.ndarray) -> np.ndarray:
        return self.hi[idx] > self.lo[idx]

    # -- writing -----------------------------------------------------------------------------
    def put(self, units: np.ndarray, parts: dict[str, np.ndarray], counts: np.ndarray) -> None:
        """Store new trips (their points back to back in ``parts``) for ``units``."""
        need = len(parts["t"])
        if self.size + need > len(self.buf["t"]):
            self._compact(need)
        at = self.size
        for c in _COLS:
            self.buf[c][at:at + need] = parts[c]
        ends = at + np.cumsum(counts)
        self.lo[units], self.hi[units] = ends - counts, ends
        self.end_t[units] = parts["t"][ends - at - 1]
        self.size += need

    def stop(self, units: np.ndarray) -> None:
        self.hi[units] = self.lo[units]
        self.end_t[units] = np.inf

    def _compact(self, need: int) -> None:
        live = np.flatnonzero(self.hi > self.lo)
        counts = self.hi[live] - self.lo[live]
        keep = np.repeat(self.lo[live] - np.concatenate([[0], np.cumsum(counts)[:-1]]), counts) \
            + np.arange(counts.sum())
        total = int(counts.sum())
        cap = max(len(self.buf["t"]), 2 * (total + need))
        for c, ty in zip(_COLS, _TYPES):
            new = np.zeros(cap, ty)
            new[:total] = self.buf[c][keep]
            self.buf[c] = new
        ends = np.cumsum(counts)
        self.lo[live], self.hi[live] = ends - counts, ends
        self.size = total

    # -- reading -----------------------------------------------------------------------------
    def locate(self, idx: np.ndarray, t: np.ndarray) -> np.ndarray:
        """For units ``idx`` with a trip: the last point passed at ``t`` (binary search in
        each unit's slice, all units at once)."""
        lo, hi = self.lo[idx].copy(), self.hi[idx] - 1
        tt = self.buf["t"]
        while True:
            open_ = lo < hi
            if not open_.any():
                return lo
            mid = (lo + hi + 1) // 2
            right = open_ & (tt[np.minimum(mid, self.size - 1)] <= t)
            lo = np.where(right, mid, lo)
            hi = np.where(open_ & ~right, mid - 1, hi)

    def where(self, idx: np.ndarray, t: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, Leg]:
        """Positions of units ``idx`` (with a trip) at ``t``: (lat, lon, speed km/h,
        heading, leg to continue from)."""
        b = self.buf
        k = self.locate(idx, t)
        last = k >= self.hi[idx] - 1
        k1 = np.where(last, k, k + 1)
        dt = b["t"][k1] - b["t"][k]
        f = np.where(last | (dt <= 0), 1.0, (t - b["t"][k]) / np.where(dt > 0, dt, 1.0))
        f = np.clip(f, 0.0, 1.0)
        lat = b["lat"][k] + f * (b["lat"][k1] - b["lat"][k])
        lon = b["lon"][k] + f * (b["lon"][k1] - b["lon"][k])
        moving = ~last & (b["edge"][k] >= 0) & (dt > 0)
        speed = np.where(moving, b["m"][k] / np.where(dt > 0, dt, 1.0) * 3600.0, 0.0)
        dy = b["lat"][k1] - b["lat"][k]
        dx = (b["lon"][k1] - b["lon"][k]) * np.cos(np.radians(b["lat"][k]))
        heading = np.where(moving, np.degrees(np.arctan2(dx, dy)) % 360, np.nan)
        inside = moving & (f < 1.0)
        node = np.where(inside, b["node"][k1], np.where(last, b["node"][k], b["node"][k1]))
        leg = Leg(lat, lon, node, np.where(inside, b["edge"][k], -1),
                  np.where(inside, (1 - f) * b["m"][k], 0.0))
        return lat, lon, speed, heading, leg

    def route_nodes(self, u: int) -> np.ndarray:
        """Nodes of unit ``u``'s current trip (for tests and the truth record)."""
        n = self.buf["node"][self.lo[u]:self.hi[u]]
        return n[n >= 0]
