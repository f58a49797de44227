"""The live state of every unit: base status and since when, position and its age, the
incident it works, and which timers have fired in its current status.

Updated from the streams (the field's truth), from the board's own decisions (assignment:
``dispatched``) and from dispatchers' manual changes. Every change returns its
``unit_status`` record; the fleet holds plain data (snapshot/restore).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from dispatch.records import record
from dispatch.status import ASSIGNABLE, StatusError, allowed, from_stream
from dispatch.units import Registry, UnitSpec


@dataclass
class UnitState:
    status: str = "available"
    since_ms: int = 0
    lat: float = 0.0
    lon: float = 0.0
    gps_ms: int | None = None
    incident_id: str = ""
    stale: bool = False
    fired: list[str] = field(default_factory=list)   # timers escalated in this status
    posted: str = ""                                 # station it was moved up to
    ref: str = ""    # the call or the stream's own incident (119 FI-...) its status names


class Fleet:
    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.extra: list[UnitSpec] = []       # units first heard on a stream
        self.state: dict[str, UnitState] = {
            u.id: UnitState(lat=u.home_lat, lon=u.home_lon) for u in registry}

    # -- lookups --------------------------------------------------------------------------
    def spec(self, unit_id: str) -> UnitSpec | None:
        return self.registry.get(unit_id)

    def arrays(self) -> tuple[list[str], list[str], np.ndarray, np.ndarray]:
        """(status, incident, lat, lon) aligned with the registry."""
        st = [self.state[u.id] for u in self.registry.units]
        return ([s.status for s in st], [s.incident_id for s in st],
                np.array([s.lat for s in st], np.float64),
                np.array([s.lon for s in st], np.float64))

    def assignable(self, unit_id: str) -> bool:
        s = self.state.get(unit_id)
        return s is not None and s.status in ASSIGNABLE and not s.incident_id

    def on_incident(self, incident_id: str) -> list[str]:
        return sorted(u for u, s in self.state.items() if s.incident_id == incident_id)

    # -- changes --------------------------------------------------------------------------
    def ensure(self, unit_id: str, stream: str, lat: float | None, lon: float | None,
               district: str = "") -> UnitSpec:
        """The unit, added from its stream with the default kind if not yet known."""
        spec = self.registry.get(unit_id)
        if spec is None:
            spec = self.registry.default_unit(unit_id, stream, lat or 0.0, lon or 0.0,
                                              district)
            self.extra.append(spec)
            self.registry = self.registry.plus(spec)
            self.state[unit_id] = UnitState(lat=spec.home_lat, lon=spec.home_lon)
        return spec

    def set_status(self, unit_id: str, new: str, at_ms: int, *, actor: str, source: str,
                   incident_id: str | None = None, reason: str = "",
                   stream_status: str = "") -> list[dict[str, Any]]:
        """Move a unit to ``new`` (no record if nothing changes)."""
        s = self.state[unit_id]
        inc = s.incident_id if incident_id is None else incident_id
        if new in ("available", "out_of_service"):
            inc = ""      # free again: no longer working its incident, whatever call the
            # status still names (a feed may send "available" with the call just cleared)
        if new == s.status and inc == s.incident_id:
            return []
        old = s.status
        unexpected = not allowed(old, new)
        if new != s.status:
            s.fired = []
            s.since_ms = at_ms
        s.status, s.incident_id = new, inc
        spec = self.registry.get(unit_id)
        payload: dict[str, Any] = {"status": new, "from": old, "source": source,
                                   "unit_kind": spec.kind if spec else "",
                                   "agency": spec.agency if spec else ""}
        if reason:
            payload["reason"] = reason
        if stream_status:
            payload["stream_status"] = stream_status
        if unexpected:
            payload["unexpected"] = True
        return [record("unit_status", at_ms, incident_id=inc, unit_id=unit_id, actor=actor,
                       payload=payload, key=(new, old, source))]

    def observe_status(self, stream: str, unit_id: str, status: str, at_ms: int,
                       lat: float | None, lon: float | None, incident_id: str | None,
                       ) -> list[dict[str, Any]]:
        try:
            base = from_stream(stream, status)
        except StatusError:
            return []      # (the stream validated it: a status outside its catalogue)
        self.ensure(unit_id, stream, lat, lon)
        out = self.observe_gps(unit_id, lat, lon, at_ms) \
            if lat is not None and lon is not None else []
        return out + self.set_status(unit_id, base, at_ms, actor=stream, source="stream",
                                     incident_id=incident_id or None, stream_status=status)

    def observe_gps(self, unit_id: str, lat: float, lon: float, at_ms: int
                    ) -> list[dict[str, Any]]:
        """Take a position; a ``unit_stale`` record (stale: false) if it was stale."""
        s = self.state[unit_id]
        if s.gps_ms is not None and at_ms < s.gps_ms:
            return []
        was = s.stale
        s.lat, s.lon, s.gps_ms, s.stale = float(lat), float(lon), at_ms, False
        if not was:
            return []
        return [record("unit_stale", at_ms, incident_id=s.incident_id, unit_id=unit_id,
                       payload={"stale": False, "gps_ms": at_ms, "age_s": 0.0},
                       key=("fresh", at_ms))]

    def attach(self, calls: set[str], incident_id: str, at_ms: int) -> list[dict[str, Any]]:
        """Units still working a call of ``calls`` (named before it was linked) now work
        ``incident_id``: a ``unit_status`` record each."""
        out: list[dict[str, Any]] = []
        for uid, s in sorted(self.state.items()):
            if s.ref in calls and not s.incident_id and \
                    s.status not in ("available", "out_of_service"):
                out += self.set_status(uid, s.status, at_ms, actor="dispatch",
                                       source="call_link", incident_id=incident_id)
        return out

    # -- persistence ----------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        return {"extra": [{**asdict(u), "capabilities": sorted(u.capabilities)}
                          for u in self.extra],
                "state": {k: asdict(v) for k, v in sorted(self.state.items())}}

    def restore(self, snap: dict[str, Any]) -> None:
        for raw in snap.get("extra", ()):
            if raw["id"] not in self.registry:
                spec = UnitSpec(**{**raw, "capabilities": frozenset(raw["capabilities"])})
                self.extra.append(spec)
                self.registry = self.registry.plus(spec)
        for k, v in snap.get("state", {}).items():
            if k in self.registry:
                self.state[k] = UnitState(**v)
