"""A package for one incident: its run card, the units' ETAs under current road conditions,
the recommendation, and the coverage it leaves (with move-ups). Pure: everything it needs is
passed in, ``at_ms`` is the event time of the change that asked for it.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from dispatch.config import DispatchConfig
from dispatch.coverage import assess, demand_for
from dispatch.eta import Speeds, UnitEtas, edge_speeds, etas_to, local_hour, period
from dispatch.fleet import Fleet
from dispatch.graph import RoadGraph
from dispatch.incidents import TrackedIncident
from dispatch.recommend import FleetState, build_package
from dispatch.runcards import RunCard, RunCards
from dispatch.status import ASSIGNABLE
from dispatch.traffic import TrafficState
from schemas.records import stable_id


def package_id(incident_id: str, version: int) -> str:
    return "PKG-" + stable_id("package", incident_id, version)


class Planner:
    def __init__(self, profile: Any, graph: RoadGraph | None, runcards: RunCards,
                 config: DispatchConfig) -> None:
        self.profile, self.graph, self.runcards, self.config = profile, graph, runcards, config
        self._near_key = b""
        self._near: tuple[np.ndarray, np.ndarray] | None = None

    def speeds(self, traffic: TrafficState | None, at_ms: int) -> Speeds | None:
        if self.graph is None:
            return None
        return edge_speeds(self.graph, traffic, at_ms, self.profile.utc_offset_hours,
                           self.config.eta)

    def where(self, inc: TrackedIncident) -> tuple[float, float, str] | None:
        """The incident's position and how it is known (its own, or its district's centre)."""
        if inc.lat is not None and inc.lon is not None:
            return float(inc.lat), float(inc.lon), "incident"
        try:
            d = self.profile.district(inc.district)
        except KeyError:
            return None
        return d.lat, d.lon, "district_centre"

    def card(self, inc: TrackedIncident, patients: int, at_ms: int) -> tuple[RunCard, str, str]:
        """(card, why, plan key): the key changes when the plan should (type, subtype, slots)."""
        type_, subtype = inc.kind_of(patients)
        hour = local_hour(at_ms, self.profile.utc_offset_hours)
        card, why = self.runcards.match(type_, subtype, inc.district, hour)
        slots = ",".join(f"{n.capability}x{n.slots(patients)}" for n in card.needs)
        return card, why, f"{card.id}|{type_}|{subtype}|{slots}"

    def etas(self, fleet: Fleet, speeds: Speeds | None, lat: float, lon: float,
             at_ms: int) -> UnitEtas:
        _, _, ulat, ulon = fleet.arrays()
        when = speeds.when if speeds is not None else \
            period(local_hour(at_ms, self.profile.utc_offset_hours), self.config.eta)
        return etas_to(self.graph, speeds, lat, lon, ulat, ulon, self.config.eta, when,
                       self.nearest(ulat, ulon))

    def nearest(self, lat: np.ndarray, lon: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray] | None:
        """The units' nearest nodes, reused while no unit has moved (a pure cache: the
        same positions give the same answer)."""
        if self.graph is None:
            return None
        key = lat.tobytes() + lon.tobytes()
        if key != self._near_key:
            self._near_key, self._near = key, self.graph.nearest(lat, lon)
        return self._near

    def plan(self, inc: TrackedIncident, patients: int, fleet: Fleet,
             traffic: TrafficState | None, at_ms: int, version: int, *,
             exclude: frozenset[str] = frozenset(), keep: Sequence[str] = ()
             ) -> dict[str, Any] | None:
        """The package payload (None if the incident has no type or no place)."""
        where = self.where(inc)
        type_, subtype = inc.kind_of(patients)
        if where is None or not type_:
            return None
        lat, lon, located = where
        card, why, key = self.card(inc, patients, at_ms)
        speeds = self.speeds(traffic, at_ms)
        etas = self.etas(fleet, speeds, lat, lon, at_ms)
        status, incident, ulat, ulon = fleet.arrays()
        pkg = build_package(card, patients, fleet.registry, FleetState(status, incident), etas,
                            inc.incident_id, exclude, keep)
        pid = package_id(inc.incident_id, version)
        coverage: dict[str, Any] = {}
        moveups: list[dict[str, Any]] = []
        if self.config.coverage and pkg["items"]:
            reg = fleet.registry
            avail = np.array([s in ASSIGNABLE and not i for s, i in zip(status, incident)],
                             bool)
            proposed = [reg.index(it["unit_id"]) for it in pkg["items"]]
            coverage, moveups = assess(speeds, demand_for(self.profile, self.graph), reg,
                                       avail, ulat, ulon, [p for p in proposed if p is not None],
                                       self.config.eta, key=pid)
        priority = card.priority or inc.severity in self.config.priority_severities
        return {"package_id": pid, "incident_id": inc.incident_id, "version": version,
                "status": "recommended", "at_ms": at_ms, "plan_key": key,
                "card": {**card.describe(why), "type": type_, "subtype": subtype,
                         "patients": patients},
                "priority": priority, "method": etas.method,
                "location": {"lat": lat, "lon": lon, "from": located},
                **pkg, "coverage": coverage, "moveups": moveups}

