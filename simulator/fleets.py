"""Moving units: ambulances, fire units and hazmat vehicles, stepped at their GPS reports.

On the road graph (:mod:`simulator.motion`) a unit drives the fastest route to its target
at the true speed of each edge; without one, it moves on a grid-like path (east-west, then
north-south) at a speed that drops in rush hours. Its status follows a small state machine
(dispatched -> en_route -> on_scene -> ...). Random draws are counter-based on (unit, time).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from schemas.catalog import ENGINE_STATUSES, EMS_UNIT_STATUSES

from . import assign, hazmat_fleet
from .incidents import Effect
from .motion import GraphMotion, grid_move
from .readings import curves, hash_normal, hash_uniform
from .world import Points, World

AV, DISP, ENR, ONS = 0, 1, 2, 3          # shared by EMS and fire
TRN, ATH, RET = 4, 5, 4                  # EMS transporting / at_hospital; fire returning
_MIN = 60_000
RoadEffects = Callable[[], tuple[Sequence[Effect], int]]


@dataclass
class Unit:
    """Mutable state of one fleet, one array slot per unit."""

    pts: Points
    lat: np.ndarray
    lon: np.ndarray
    tlat: np.ndarray
    tlon: np.ndarray
    status: np.ndarray
    until: np.ndarray
    ref: np.ndarray
    heading: np.ndarray
    phase: np.ndarray
    mot: GraphMotion | None = None

    @classmethod
    def at_base(cls, pts: Points, world: World, effects: RoadEffects) -> "Unit":
        n = len(pts.ids)
        phase = np.empty(n, np.int64)
        phase[pts.schedule.order] = pts.schedule.phase
        mot = None if world.roads is None else GraphMotion(world.roads, pts.lat, pts.lon,
                                                           pts.ids, effects)
        lat, lon = (pts.lat, pts.lon) if mot is None else mot.parked_at()
        return cls(pts, lat.copy(), lon.copy(), lat.copy(), lon.copy(),
                   np.zeros(n, np.int8), np.zeros(n, np.int64), np.full(n, "", object),
                   np.zeros(n), phase, mot)


class Fleets:
    """All fleets of a world; ``advance`` steps them through (a, b] and emits their events.

    ``road_effects``: the incidents' effects on road segments now and a version number
    (that changes when they do); ``on_dispatch(t, fleet, ref, lat, lon)`` is called before
    the city's own dispatch picks units (benchmarks read the true ETAs there)."""

    def __init__(self, world: World, start_ms: int,
                 road_effects: RoadEffects = lambda: ((), 0)) -> None:
        self.w, self.seed, self.road_effects = world, world.seed, road_effects
        self.amb = Unit.at_base(world.ambulances, world, road_effects)
        self.eng = Unit.at_base(world.engines, world, road_effects)
        self.hz = Unit.at_base(world.hazmat, world, road_effects)
        rng = np.random.default_rng([world.seed, 0x4A])
        n = len(self.hz.lat)  # by day about 40% are on the road from the start
        self.hz.until[:] = start_ms + np.where(rng.random(n) < 0.4, 0,
                                               rng.integers(0, 3 * 60 * _MIN, n))
        self.effects: list[Effect] = []
        self.fires: dict[str, dict[str, Any]] = {}
        self.on_dispatch: Callable[[int, str, str, float, float], None] | None = None
        h = world.profile.hospitals
        self._hosp = (np.array([x.lat for x in h]), np.array([x.lon for x in h]))

    def _u(self, salt: int, idx: np.ndarray, t: np.ndarray) -> np.ndarray:
        return hash_uniform(self.seed * 131 + salt, idx, t)

    def advance(self, a: int, b: int, out: Any) -> None:
        for unit, step in ((self.amb, self._ems), (self.eng, self._fire),
                           (self.hz, self._hazmat)):
            for idx, t in unit.pts.schedule.cycles(a, b):
                step(unit, idx, t, out)

    def _hazmat(self, u: Unit, idx: np.ndarray, t: np.ndarray, out: Any) -> None:
        hazmat_fleet.step(self, u, idx, t, out)

    def take_trips(self, now_ms: int) -> list[dict[str, Any]]:
        """Ground truth of the dispatched trips completed since the last call: those that
        ended a full report period before ``now_ms`` (so the set and its order do not
        depend on how the timeline is cut into ticks)."""
        wait = max(self.amb.pts.schedule.period_ms, self.eng.pts.schedule.period_ms)
        done = [r for u in (self.amb, self.eng) if u.mot is not None
                for r in u.mot.take_done(now_ms - wait)]
        return sorted(done, key=lambda r: (r["arrival_ms"], r["unit_id"]))

    def fleet(self, name: str) -> Unit:
        return {"ems": self.amb, "fire": self.eng, "hazmat": self.hz}[name]

    def true_etas(self, name: str, t: int, lat: float, lon: float) -> np.ndarray:
        """TRUE drive seconds of every unit of fleet ``name`` ("ems", "fire") to a point."""
        u = self.fleet(name)
        effects, version = self.road_effects()
        return assign.true_etas(u, np.arange(len(u.lat)), t, lat, lon, effects, version)

    # -- moving ----------------------------------------------------------------------------
    def _closures(self) -> list[tuple[int, int, np.ndarray]]:
        """(from, to, directed edges) of every complete closure by an incident."""
        net = self.w.roads
        if net is None:
            return []
        out = []
        for e in self.road_effects()[0]:
            shut = e.idx[e.target <= 0] if e.group == "segments" else ()
            if len(shut):
                ramp = max(e.ramp_ms, 1)
                out.append((e.t0 + ramp, e.t1 - ramp,
                            np.flatnonzero(np.isin(net.seg_of, shut))))
        return out

    def _go(self, u: Unit, idx: np.ndarray, t: np.ndarray | int, lat: np.ndarray,
            lon: np.ndarray, leg: str | None = None) -> None:
        """Send units ``idx`` towards (lat, lon) from ``t``; ``leg`` names the trip for the
        ground truth (respond, transport, return) with the unit's current ``ref``."""
        lat, lon = np.broadcast_to(lat, idx.shape).copy(), np.broadcast_to(lon, idx.shape).copy()
        u.tlat[idx], u.tlon[idx] = lat, lon
        if u.mot is not None and len(idx):
            tt = np.broadcast_to(np.asarray(t, np.int64), idx.shape)
            rec = None if leg is None else [(leg, str(r)) for r in u.ref[idx]]
            u.mot.go(idx, tt, lat, lon, rec)

    def _home(self, u: Unit, idx: np.ndarray, t: np.ndarray, leg: str | None = None) -> None:
        self._go(u, idx, t, u.pts.p["base_lat"][idx], u.pts.p["base_lon"][idx], leg)

    def _move(self, u: Unit, idx: np.ndarray, t: np.ndarray, kmh: np.ndarray,
              moving: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Move units to where they are at their reports ``t``: (arrived, speed km/h)."""
        if u.mot is not None:
            closures = self._closures()
            if closures:
                u.mot.reroute(idx, t, closures)
            lat, lon, speed, heading, _ = u.mot.move(idx, t)
            arrived = moving & ~u.mot.book.active(idx)   # at the target: like the grid
        else:
            km = np.where(moving, kmh, 0.0) * u.pts.schedule.period_ms / 3.6e6
            lat, lon, moved, arrived = grid_move(u.lat[idx], u.lon[idx], u.tlat[idx],
                                                 u.tlon[idx], km)
            arrived = arrived & moving
            kx = np.cos(np.radians(u.lat[idx]))
            heading = np.where(moved > 0, np.degrees(np.arctan2(
                (lon - u.lon[idx]) * kx, lat - u.lat[idx])) % 360, np.nan)
            speed = moved * 3.6e6 / u.pts.schedule.period_ms
        u.lat[idx], u.lon[idx] = lat, lon
        u.heading[idx] = np.where(np.isnan(heading), u.heading[idx], heading)
        return arrived, speed

    def _traffic(self, t: np.ndarray) -> np.ndarray:
        return 1 - 0.35 * curves(t, self.w.tz_hours)["traffic"]

    def _status(self, stream: str, etype: str, u: Unit, idx: np.ndarray, t: np.ndarray,
                names: tuple[str, ...], ref: str, out: Any) -> None:
        la, lo = u.lat[idx].round(6), u.lon[idx].round(6)
        out.rows(stream, etype, "u", t, u.pts.ids[idx].tolist(), u.pts.source[idx].tolist(),
                 self.w.profile.nearest_districts(la, lo), optional=(ref,), lat=la.tolist(),
                 lon=lo.tolist(), status=[names[s] for s in u.status[idx]],
                 # an available unit is free: it names no call (not the one it just cleared)
                 **{ref: np.where(u.status[idx] == AV, "", u.ref[idx]).tolist()})

    def _gps(self, stream: str, etype: str, u: Unit, idx: np.ndarray, t: np.ndarray,
             speed: np.ndarray, out: Any, **extra: list[Any]) -> list[str]:
        la, lo = u.lat[idx].round(6), u.lon[idx].round(6)
        dist = self.w.profile.nearest_districts(la, lo)
        out.rows(stream, etype, "g", t, u.pts.ids[idx].tolist(), u.pts.source[idx].tolist(),
                 dist, lat=la.tolist(), lon=lo.tolist(), speed_kmh=speed.round(1).tolist(),
                 heading=u.heading[idx].round(0).tolist(), **extra)
        return dist

    def _ems(self, u: Unit, idx: np.ndarray, t: np.ndarray, out: Any) -> None:
        changed = np.zeros(len(idx), bool)
        st = u.status[idx]
        changed |= _set(u, idx, st == DISP, ENR)
        done = (st == ONS) & (u.until[idx] <= t)
        carry = done & (self._u(1, idx, t) < 0.7)
        if carry.any():
            ci = idx[carry]
            h = np.argmin((u.lat[ci, None] - self._hosp[0]) ** 2
                          + (u.lon[ci, None] - self._hosp[1]) ** 2, 1)
            self._go(u, ci, t[carry], self._hosp[0][h], self._hosp[1][h], "transport")
        changed |= _set(u, idx, carry, TRN)
        back = (done & ~carry) | ((st == ATH) & (u.until[idx] <= t))
        changed |= _set(u, idx, back, AV)
        self._home(u, idx[back], t[back], "return")
        st = u.status[idx]
        moving = (st == AV) | (st == ENR) | (st == TRN)
        kmh = np.where(st == AV, 35.0, 55.0) * self._traffic(t) * (1 + 0.1 * hash_normal(
            self.seed * 131 + 2, idx, t))
        arrived, speed = self._move(u, idx, t, kmh, moving)
        for was, new, lo, hi in ((ENR, ONS, 8, 20), (TRN, ATH, 10, 25)):
            m = arrived & (st == was)
            u.until[idx[m]] = t[m] + (lo + (hi - lo) * self._u(3, idx[m], t[m])) * _MIN
            changed |= _set(u, idx, m, new)
        self._status("ems", "unit_status", u, idx[changed], t[changed], EMS_UNIT_STATUSES,
                     "call_id", out)
        u.ref[idx[back]] = ""
        self._gps("ems", "unit_gps", u, idx, t, speed, out)

    def _fire(self, u: Unit, idx: np.ndarray, t: np.ndarray, out: Any) -> None:
        changed = np.zeros(len(idx), bool)
        st = u.status[idx]
        changed |= _set(u, idx, st == DISP, ENR)
        done = (st == ONS) & (u.until[idx] <= t)
        changed |= _set(u, idx, done, RET)
        self._home(u, idx[done], t[done], "return")
        moving = (st == ENR) | (st == RET) | done
        kmh = np.where(moving & (st == ENR), 45.0, 35.0) * self._traffic(t)
        arrived, speed = self._move(u, idx, t, kmh, moving)
        on = arrived & (st == ENR)
        for i, ti in zip(idx[on], t[on]):
            fire = self.fires.get(u.ref[i], {"release": 0})
            u.until[i] = max(ti + int(self._u(4, np.array([i]), np.array([ti]))[0] * 10 * _MIN)
                             + 5 * _MIN, fire["release"])
        changed |= _set(u, idx, on, ONS)
        changed |= _set(u, idx, arrived & ~on & (u.status[idx] == RET), AV)
        self._status("fire", "engine_status", u, idx[changed], t[changed], ENGINE_STATUSES,
                     "incident_id", out)
        for i, ti in zip(idx[done], t[done]):
            fire = self.fires.get(u.ref[i])
            if fire is not None:
                fire["left"] -= 1
                if fire["left"] <= 0:
                    self.update_fire(int(ti), u.ref[i], "closed", out)
            u.ref[i] = ""
        self._gps("fire", "engine_gps", u, idx, t, speed, out)

    # -- actions -------------------------------------------------------------------------
    def dispatch_ambulance(self, t: int, call_id: str, lat: float, lon: float, out: Any) -> None:
        self._dispatch(self.amb, t, call_id, lat, lon, ["bls"], "ems", "unit_status",
                       EMS_UNIT_STATUSES, "call_id", out)

    def open_fire(self, t: int, fid: str, lat: float, lon: float, dist: str,
                  p: dict[str, Any], out: Any) -> int:
        """Open fire incident ``fid`` and send engines; -1 if it was already open."""
        if fid in self.fires:
            return -1
        fire = self.fires[fid] = {"lat": lat, "lon": lon, "district": dist, "left": 0,
                                  "category": p["category"], "level": p["alarm_level"],
                                  "release": p["release_ms"]}
        self.update_fire(t, fid, "open", out)
        want = assign.needs(p["category"], p["engines"])
        fire["left"] = self._dispatch(self.eng, t, fid, lat, lon, want, "fire",
                                      "engine_status", ENGINE_STATUSES, "incident_id", out)
        return fire["left"]

    def update_fire(self, t: int, fid: str, status: str, out: Any) -> None:
        fire = self.fires.get(fid) if status != "closed" else self.fires.pop(fid, None)
        if fire is None:
            return
        out.one("fire", "incident", "i" + status[0], t, fid, "cs119-cad", fire["district"],
                lat=fire["lat"], lon=fire["lon"], category=fire["category"],
                alarm_level=fire["level"], status=status)

    def _dispatch(self, u: Unit, t: int, ref: str, lat: float, lon: float, want: list[str],
                  stream: str, etype: str, names: tuple[str, ...], field: str, out: Any) -> int:
        if self.on_dispatch is not None:
            self.on_dispatch(t, stream, ref, lat, lon)
        free = np.flatnonzero(u.status == AV)
        if not len(free):
            return 0
        if u.mot is not None:
            effects, version = self.road_effects()
            cost = assign.true_etas(u, free, t, lat, lon, effects, version)
        else:
            cost = assign.block_distance(u, free, lat, lon)
        pick = assign.pick(u, free, want, cost)
        u.status[pick], u.ref[pick] = DISP, ref
        self._go(u, pick, t, np.full(len(pick), lat), np.full(len(pick), lon), "respond")
        self._status(stream, etype, u, pick, np.full(len(pick), t, np.int64), names, field, out)
        return len(pick)

    def stop_vehicle(self, v: int, t: int, until: int) -> tuple[int, float, float]:
        return hazmat_fleet.stop_vehicle(self, v, t, until)

    def hazmat_segment(self, v: int) -> int:
        """The road segment hazmat vehicle ``v`` stands on (graph mode)."""
        mot, net = self.hz.mot, self.w.roads
        assert mot is not None and net is not None
        e = int(mot.park.edge[v])
        return int(net.seg_of[e]) if e >= 0 else net.segment_near(self.hz.lat[v], self.hz.lon[v])


def _set(u: Unit, idx: np.ndarray, mask: np.ndarray, status: int) -> np.ndarray:
    u.status[idx[mask]] = status
    return mask
