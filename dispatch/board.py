"""The dispatch board: units, incidents, packages and move-ups, driven by events and commands.

API (the shell in ``streams/`` wires it; every method is pure: time comes from the inputs)::

    board = Board(profile, graph_or_None, registry, runcards, config=DispatchConfig())
    board.observe(stream, event) -> list[Record]      # validated input events: ems
        # unit_status/unit_gps/call, fire engine_status/engine_gps/call, traffic
        # segment/accident; anything else is ignored ([])
    board.observe_incident(row) -> list[Record]       # an alerting IncidentEvent.to_row()
    board.command(cmd, now_ms) -> CommandResult       # cmd: {command_id, actor, at, action,
        # ...args} (dispatch.actions.ACTIONS); code "" = applied, else a refusal code
    board.tick(now_ms) -> list[Record]                # timers, stale GPS, expiry, and a
        # batch of the units that moved (unit_positions, dispatch.positions)
    board.snapshot() -> dict / board.restore(dict)    # JSON-able state
    board.view(now_ms=None) -> {"units", "packages", "moveups", "calls"}

A Record is a dict (dispatch.records.record): record_id, kind, at, at_ms, incident_id,
unit_id, actor, payload. ``preemption_request`` records also go to ``signal_requests``.
Same inputs in the same order give the same records, ids included.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from dispatch.actions import ACTIONS
from dispatch.config import DispatchConfig
from dispatch.decisions import apply_command
from dispatch.eta import etas_to
from dispatch.fleet import Fleet
from dispatch.graph import ACCESS_KMH, RoadGraph
from dispatch.greenwave import requests as preemptions
from dispatch.incidents import Incidents, TrackedIncident
from dispatch.planner import Planner
from dispatch.positions import PositionReporter, districts_of, home_of
from dispatch.records import CommandResult, record
from dispatch.runcards import RunCards
from dispatch.traffic import TrafficState
from dispatch.units import Registry
from dispatch.view import board_view
from schemas.validate import parse_event_time

__all__ = ["ACTIONS", "Board", "CommandResult", "Record"]
Record = dict[str, Any]
SNAPSHOT_VERSION = 1
KEEP_CLOSED_MS = 3_600_000       # packages and calls of closed incidents are kept an hour


class Board:
    def __init__(self, profile: Any, graph: RoadGraph | None, registry: Registry,
                 runcards: RunCards, config: DispatchConfig = DispatchConfig()) -> None:
        self.profile, self.graph, self.config = profile, graph, config
        self.planner = Planner(profile, graph, runcards, config)
        self.fleet = Fleet(registry)
        self.incidents = Incidents()
        self.traffic = TrafficState(graph, config.traffic) if graph is not None else None
        self.packages: dict[str, dict[str, Any]] = {}
        self.moveups: dict[str, dict[str, Any]] = {}
        self.positions = PositionReporter(config.positions)
        self.now_ms = 0

    def command(self, cmd: Mapping[str, Any], now_ms: int) -> CommandResult:
        """Apply a dispatcher's command (:mod:`dispatch.decisions`) or refuse it."""
        return apply_command(self, cmd, now_ms)

    # -- inputs ---------------------------------------------------------------------------
    def observe(self, stream: str, event: Mapping[str, Any]) -> list[Record]:
        try:
            at = parse_event_time(event.get("event_time"))
        except ValueError:
            return []
        etype, eid = event.get("type"), str(event.get("entity_id") or "")
        lat, lon = _num(event.get("lat")), _num(event.get("lon"))
        if not eid:
            return []       # (validated events always name their entity)
        self.now_ms = max(self.now_ms, at)
        if stream in ("ems", "fire") and etype in ("unit_status", "engine_status"):
            # the incident it works: one the board knows by id (a fire unit may name it), or
            # the incident its call is linked to; else it keeps the one it has
            # (a 119 engine names the fire stream's own incident, which the correlator links
            # to an incident as a call, like a 120 call an ambulance names)
            named = str(event.get("incident_id") or "")
            ref = str(event.get("call_id") or named)
            inc = named if self.incidents.get(named) is not None else \
                self.incidents.linked.get(ref)
            before = self.fleet.state.get(eid)
            was = before.status if before is not None else ""
            was_on = before.incident_id if before is not None else ""
            out = self.fleet.observe_status(stream, eid, str(event.get("status")), at, lat,
                                            lon, inc or None)
            state = self.fleet.state.get(eid)
            if state is None:
                return out        # (a status outside its stream's catalogue: nothing known)
            if state.status in ("available", "out_of_service"):
                state.ref = ""
            elif ref:
                state.ref = ref
            if out and state.status == "en_route" and was != "en_route":
                out += self.green_wave(eid, at)
            if state.incident_id and state.incident_id != was_on:
                out += self._answered(state.incident_id, at)
            return out
        if stream in ("ems", "fire") and etype in ("unit_gps", "engine_gps"):
            if lat is not None and lon is not None:
                self.fleet.ensure(eid, stream, lat, lon, str(event.get("district", "")))
                return self.fleet.observe_gps(eid, lat, lon, at)
            return []
        if stream in ("ems", "fire") and etype == "call":
            self.incidents.observe_call(stream, event, at)
            return []
        if stream == "traffic" and self.traffic is not None and lat is not None \
                and lon is not None:
            speed, lanes = _num(event.get("speed_kmh")), _num(event.get("lanes_blocked"))
            if etype == "segment" and speed is not None:
                self.traffic.observe_segment(eid, speed, lat, lon, at)
            elif etype == "accident" and lanes is not None:
                self.traffic.observe_accident(eid, int(lanes), lat, lon, at,
                                              str(event.get("segment_id") or ""))
        return []

    def observe_incident(self, row: Mapping[str, Any]) -> list[Record]:
        inc, kind = self.incidents.apply(row)
        if inc is None:
            return []
        at = int(row.get("at_ms", 0))
        self.now_ms = max(self.now_ms, at)
        if kind == "merged_into":
            return self._withdraw(inc, at, "merged") + self._move_units(inc, at)
        if kind == "resolved":
            return self._withdraw(inc, at, "incident_resolved") + self._release(inc, at)
        if inc.status != "open":
            return []
        attached = self._attach(inc, at)
        out = self.replan(inc, at)
        if attached and not out:
            out = self._answered(inc.incident_id, at)
        return attached + out

    def _attach(self, inc: TrackedIncident, at: int) -> list[Record]:
        """Units whose status named one of the incident's calls before it was linked."""
        return self.fleet.attach(set(inc.calls), inc.incident_id, at)

    def _answered(self, incident_id: str, at: int) -> list[Record]:
        """A unit now works ``incident_id``: a package still to decide is planned again
        around the units already there (or withdrawn if they answer all of it)."""
        inc = self.incidents.get(incident_id)
        pkg = self.packages.get(inc.package_id) if inc is not None else None
        if inc is None or inc.status != "open" or pkg is None or \
                pkg["status"] != "recommended":
            return []
        there = set(self.fleet.on_incident(incident_id))
        if there <= {it["unit_id"] for it in pkg["items"]}:
            return []
        return self.replan(inc, at, force=True) or self._withdraw(inc, at, "answered")

    def replan(self, inc: TrackedIncident, at: int, actor: str = "dispatch",
               force: bool = False) -> list[Record]:
        """A new package when the incident is new or what it needs changed (grown)."""
        patients = self.incidents.patients(inc)
        _card, _why, key = self.planner.card(inc, patients, at)
        if (key == inc.plan_key and not force) or \
                inc.packages >= self.config.max_packages_per_incident:
            return []
        keep = self.fleet.on_incident(inc.incident_id)
        pkg = self.planner.plan(inc, patients, self.fleet, self.traffic, at, inc.packages,
                                keep=keep)
        inc.plan_key = key
        if pkg is None:
            return []
        if keep and not any(not it["kept"] for it in pkg["items"]):
            return []         # the units already there answer the grown plan
        out = self._withdraw(inc, at, "superseded")
        inc.packages += 1
        inc.package_id = pkg["package_id"]
        self.packages[pkg["package_id"]] = pkg
        return out + [record("package_recommended", at, incident_id=inc.incident_id,
                             actor=actor, payload=pkg, key=(pkg["package_id"],))]

    def _withdraw(self, inc: TrackedIncident, at: int, why: str) -> list[Record]:
        pkg = self.packages.get(inc.package_id)
        if pkg is None or pkg["status"] != "recommended":
            return []
        pkg["status"] = "superseded" if why == "superseded" else "withdrawn"
        return [record("package_rejected", at, incident_id=inc.incident_id,
                       payload={"package_id": pkg["package_id"], "reason": why},
                       key=(pkg["package_id"], why))]

    def _move_units(self, inc: TrackedIncident, at: int) -> list[Record]:
        out: list[Record] = []
        for uid in self.fleet.on_incident(inc.incident_id):
            self.fleet.state[uid].incident_id = inc.merged_into
            out.append(record("unit_assigned", at, incident_id=inc.merged_into, unit_id=uid,
                              payload={"from_incident": inc.incident_id, "reason": "merged"},
                              key=("merged", inc.incident_id)))
        return out

    def _release(self, inc: TrackedIncident, at: int) -> list[Record]:
        """Units no stream reports on go back to available when their incident resolves
        (stream units report it themselves)."""
        out: list[Record] = []
        for uid in self.fleet.on_incident(inc.incident_id):
            spec = self.fleet.spec(uid)
            if spec is not None and spec.stream is None:
                out += self.fleet.set_status(uid, "available", at, actor="dispatch",
                                             source="board", reason="incident_resolved")
        return out

    def green_wave(self, unit_id: str, at: int) -> list[Record]:
        """Pre-emption requests along the route of a unit en route to a priority incident."""
        s = self.fleet.state[unit_id]
        inc = self.incidents.get(s.incident_id)
        pkg = self.packages.get(inc.package_id) if inc is not None else None
        if inc is None or pkg is None or not pkg.get("priority") or self.graph is None:
            return []
        where = self.planner.where(inc)
        speeds = self.planner.speeds(self.traffic, at)
        if where is None or speeds is None:
            return []
        e = etas_to(self.graph, speeds, where[0], where[1], np.array([s.lat]),
                    np.array([s.lon]), self.config.eta)
        nodes, edges, _ = e.route(0)
        # the drive to the first node: the access leg (its metres already include the detour)
        lead = float(e.access_m[0]) / (ACCESS_KMH / 3.6) if e.access_m is not None else 0.0
        return [record("preemption_request", at, incident_id=inc.incident_id,
                       unit_id=unit_id, payload=req, key=(req["node"], req["seq"]))
                for req in preemptions(speeds, nodes, edges, at, lead)]

    # -- time -----------------------------------------------------------------------------
    def tick(self, now_ms: int) -> list[Record]:
        self.now_ms = max(self.now_ms, now_ms)
        out: list[Record] = []
        for uid in sorted(self.fleet.state):
            s, spec = self.fleet.state[uid], self.fleet.spec(uid)
            if spec is None:
                continue
            if s.gps_ms is not None and not s.stale and \
                    self.config.stale.is_stale(s.gps_ms, now_ms):
                s.stale = True
                out.append(record("unit_stale", now_ms, incident_id=s.incident_id,
                                  unit_id=uid, key=(s.gps_ms,), payload={
                                      "stale": True, "gps_ms": s.gps_ms,
                                      "age_s": (now_ms - s.gps_ms) / 1000,
                                      "after_s": self.config.stale.after_s}))
            rule = self.config.timer_for(s.status, spec.agency)
            if rule is not None and rule.timer not in s.fired and \
                    now_ms - s.since_ms > rule.after_s * 1000:
                s.fired.append(rule.timer)
                out.append(record("timer_escalated", now_ms, incident_id=s.incident_id,
                                  unit_id=uid, key=(rule.timer, s.since_ms), payload={
                                      "timer": rule.timer, "status": s.status,
                                      "since_ms": s.since_ms, "after_s": rule.after_s,
                                      "waited_s": (now_ms - s.since_ms) / 1000,
                                      "zh": rule.zh, "en": rule.en}))
        if self.traffic is not None:
            self.traffic.expire(now_ms)
        self._prune(now_ms)
        return out + self.positions.batch(self.fleet.state, home_of(self.fleet),
                                          districts_of(self.profile), self.now_ms)

    def _prune(self, now_ms: int) -> None:
        cut = now_ms - KEEP_CLOSED_MS
        for pid in [p for p, v in self.packages.items() if v["at_ms"] < cut and
                    (self.incidents.get(v["incident_id"]) is None or
                     self.incidents.by_id[v["incident_id"]].status != "open")]:
            del self.packages[pid]
        self.incidents.prune(cut)
        for mid in [m for m, v in self.moveups.items() if v["at_ms"] < cut]:
            del self.moveups[mid]

    # -- persistence and view -------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        return {"version": SNAPSHOT_VERSION, "now_ms": self.now_ms,
                "fleet": self.fleet.snapshot(), "incidents": self.incidents.snapshot(),
                "packages": dict(sorted(self.packages.items())),
                "moveups": dict(sorted(self.moveups.items())),
                "traffic": self.traffic.snapshot() if self.traffic is not None else {},
                "positions": self.positions.snapshot()}

    def restore(self, snap: Mapping[str, Any]) -> None:
        if snap.get("version") != SNAPSHOT_VERSION:
            raise ValueError(f"dispatch snapshot version {snap.get('version')!r} is not "
                             f"{SNAPSHOT_VERSION}")
        self.now_ms = int(snap["now_ms"])
        self.fleet.restore(snap["fleet"])
        self.incidents.restore(snap["incidents"])
        self.packages = {k: dict(v) for k, v in snap["packages"].items()}
        self.moveups = {k: dict(v) for k, v in snap["moveups"].items()}
        if self.traffic is not None:
            self.traffic.restore(snap.get("traffic") or {})
        self.positions.restore(snap.get("positions") or {})   # (older snapshots lack it)

    def view(self, now_ms: int | None = None) -> dict[str, Any]:
        """Units, open packages, suggested move-ups and recent calls (see dispatch.view)."""
        return board_view(self, self.now_ms if now_ms is None else now_ms)


def _num(v: Any) -> float | None:
    """A finite number as a float, else None (validated events have them; replay may not)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not np.isfinite(v):
        return None
    return float(v)
