"""Batched unit positions: the board folds every GPS fix (``Fleet.observe_gps``) without a
record; on its tick it emits at most one ``unit_positions`` record per ``every_s`` of event
time naming only the units that moved more than ``min_move_m`` since they were last
reported (a unit's status and district come along), so the cockpit sees units move without a
record per fix. Every ``full_every_s`` the record (``full: true``) also names every unit
reported before, moved or not, so a cockpit that started since catches up within that time
(a unit never reported is still where the registry bases it, as the cockpit already knows).

Pure: state is the last position reported per unit and when the next batch is due.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np

from dispatch.records import record

M_PER_DEG = 111_195.0
MAX_UNITS_PER_RECORD = 1_000       # ~150 KB: a record stays far under the message size


@dataclass(frozen=True)
class PositionRule:
    every_s: float = 5.0             # at most one record per this much event time
    min_move_m: float = 25.0         # smaller moves are GPS jitter on a parked unit
    full_every_s: float = 60.0       # every unit with a fix, for a cockpit that just started


def moved_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    dx = (b[1] - a[1]) * math.cos(math.radians((a[0] + b[0]) / 2))
    return math.hypot(dx, b[0] - a[0]) * M_PER_DEG


def home_of(fleet: Any) -> Callable[[str], tuple[float, float] | None]:
    """Where the cockpit's unit board has a unit of ``fleet`` before it moves: registry
    units only (one first heard on a stream is unknown there, so reported at once)."""
    def home(unit_id: str) -> tuple[float, float] | None:
        spec = fleet.registry.get(unit_id)
        return (spec.home_lat, spec.home_lon) if spec is not None and \
            spec not in fleet.extra else None
    return home


def districts_of(profile: Any) -> Callable[[list[tuple[float, float]]], list[str]]:
    """The district of each (lat, lon) by the profile's nearest-district lookup ("" without
    a profile)."""
    def districts(points: list[tuple[float, float]]) -> list[str]:
        if not points or not hasattr(profile, "nearest_districts"):
            return [""] * len(points)
        lat, lon = np.array(points, np.float64).T
        return list(profile.nearest_districts(lat, lon))
    return districts


class PositionReporter:
    """When to report which unit positions (see the module docstring)."""

    def __init__(self, rule: PositionRule = PositionRule()) -> None:
        self.rule = rule
        self.sent: dict[str, tuple[float, float]] = {}
        self.next_ms = 0
        self.full_ms = 0

    def due(self, now_ms: int) -> bool:
        return now_ms >= self.next_ms

    def batch(self, units: Mapping[str, Any],
              home: Callable[[str], tuple[float, float] | None],
              district: Callable[[list[tuple[float, float]]], list[str]],
              now_ms: int) -> list[dict[str, Any]]:
        """The ``unit_positions`` records due at ``now_ms`` ([] when none is due or nothing
        moved). ``units``: unit id -> state (``lat``, ``lon``, ``gps_ms``, ``status``,
        ``incident_id``, ``stale``); ``home(uid)``: where a unit is taken to be before its
        first report (None: unknown to the cockpit, reported at once); ``district(points)``: the district of each (lat, lon)."""
        if not self.due(now_ms):
            return []
        self.next_ms = now_ms + int(self.rule.every_s * 1000)
        full = now_ms >= self.full_ms
        if full:
            self.full_ms = now_ms + int(self.rule.full_every_s * 1000)
        moved: list[str] = []
        for uid in sorted(units):
            s = units[uid]
            if s.gps_ms is None:
                continue
            here = (s.lat, s.lon)
            last = self.sent.get(uid) or home(uid)
            if last is None or moved_m(last, here) > self.rule.min_move_m or \
                    (full and uid in self.sent):
                moved.append(uid)
        if not moved:
            return []
        where = district([(units[u].lat, units[u].lon) for u in moved])
        items: dict[str, dict[str, Any]] = {}
        for uid, dist in zip(moved, where):
            s = units[uid]
            self.sent[uid] = (s.lat, s.lon)
            items[uid] = {"lat": round(s.lat, 6), "lon": round(s.lon, 6), "at_ms": s.gps_ms,
                          "status": s.status, "district": dist,
                          "incident_id": s.incident_id, "stale": s.stale}
        ids = list(items)
        return [record("unit_positions", now_ms, key=(k,), payload={
                    "full": full, "units": {u: items[u] for u in ids[k:k + MAX_UNITS_PER_RECORD]}})
                for k in range(0, len(ids), MAX_UNITS_PER_RECORD)]

    def snapshot(self) -> dict[str, Any]:
        return {"sent": {k: list(v) for k, v in sorted(self.sent.items())},
                "next_ms": self.next_ms, "full_ms": self.full_ms}

    def restore(self, snap: Mapping[str, Any]) -> None:
        self.sent = {k: (float(v[0]), float(v[1])) for k, v in snap.get("sent", {}).items()}
        self.next_ms = int(snap.get("next_ms", 0))
        self.full_ms = int(snap.get("full_ms", 0))
