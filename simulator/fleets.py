"""Moving units: ambulances, fire engines and hazmat vehicles, stepped at their GPS reports.

Each unit moves on a grid-like path (east-west, then north-south, as on city roads) towards
its target at a speed that drops in rush hours; its status follows a small state machine
(dispatched -> en_route -> on_scene -> ...). Random draws are counter-based on (unit, time).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from city.profile import haversine_km
from schemas.catalog import ENGINE_STATUSES, EMS_UNIT_STATUSES

from .incidents import Effect
from .readings import TANK_KINDS, curves, hash_normal, hash_uniform, tank_values
from .world import TANK_EVERY, Points, World

AV, DISP, ENR, ONS = 0, 1, 2, 3          # shared by EMS and fire
TRN, ATH, RET = 4, 5, 4                  # EMS transporting / at_hospital; fire returning
PARKED, MOVING, STOPPED = 0, 1, 2        # hazmat vehicles
_MIN, _KM_DEG = 60_000, 111.32


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

    @classmethod
    def at_base(cls, pts: Points) -> "Unit":
        n = len(pts.ids)
        phase = np.empty(n, np.int64)
        phase[pts.schedule.order] = pts.schedule.phase
        return cls(pts, pts.lat.copy(), pts.lon.copy(), pts.lat.copy(), pts.lon.copy(),
                   np.zeros(n, np.int8), np.zeros(n, np.int64), np.full(n, "", object),
                   np.zeros(n), phase)

    def home(self, m: np.ndarray) -> None:
        self.tlat[m], self.tlon[m] = self.pts.p["base_lat"][m], self.pts.p["base_lon"][m]


class Fleets:
    """All fleets of a world; ``advance`` steps them through (a, b] and emits their events."""

    def __init__(self, world: World, start_ms: int) -> None:
        self.w, self.seed = world, world.seed
        self.amb, self.eng = Unit.at_base(world.ambulances), Unit.at_base(world.engines)
        self.hz = Unit.at_base(world.hazmat)
        rng = np.random.default_rng([world.seed, 0x4A])
        n = len(self.hz.lat)  # by day about 40% are on the road from the start
        self.hz.until[:] = start_ms + np.where(rng.random(n) < 0.4, 0,
                                               rng.integers(0, 3 * 60 * _MIN, n))
        self.effects: list[Effect] = []
        self.fires: dict[str, dict[str, Any]] = {}
        h = world.profile.hospitals
        self._hosp = (np.array([x.lat for x in h]), np.array([x.lon for x in h]))

    def _u(self, salt: int, idx: np.ndarray, t: np.ndarray) -> np.ndarray:
        return hash_uniform(self.seed * 131 + salt, idx, t)

    def advance(self, a: int, b: int, out: Any) -> None:
        for unit, step in ((self.amb, self._ems), (self.eng, self._fire), (self.hz, self._hazmat)):
            for idx, t in unit.pts.schedule.cycles(a, b):
                step(unit, idx, t, out)

    def _move(self, u: Unit, idx: np.ndarray, t: np.ndarray, kmh: np.ndarray,
              moving: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Move ``moving`` units one report period; return (arrived, speed km/h)."""
        lat, lon = u.lat[idx], u.lon[idx]
        kx = _KM_DEG * np.cos(np.radians(lat))
        dx, dy = (u.tlon[idx] - lon) * kx, (u.tlat[idx] - lat) * _KM_DEG
        d = np.where(moving, kmh, 0.0) * u.pts.schedule.period_ms / 3.6e6
        sx = np.sign(dx) * np.minimum(np.abs(dx), d)
        sy = np.sign(dy) * np.minimum(np.abs(dy), d - np.abs(sx))
        arrived = moving & (np.abs(dx) + np.abs(dy) <= d)
        u.lat[idx] = np.where(arrived, u.tlat[idx], lat + sy / _KM_DEG)
        u.lon[idx] = np.where(arrived, u.tlon[idx], lon + sx / kx)
        moved = np.abs(sx) + np.abs(sy)
        u.heading[idx] = np.where(moved > 0, np.degrees(np.arctan2(sx, sy)) % 360, u.heading[idx])
        return arrived, moved * 3.6e6 / u.pts.schedule.period_ms

    def _traffic(self, t: np.ndarray) -> np.ndarray:
        return 1 - 0.35 * curves(t, self.w.tz_hours)["traffic"]

    def _status(self, stream: str, etype: str, u: Unit, idx: np.ndarray, t: np.ndarray,
                names: tuple[str, ...], ref: str, out: Any) -> None:
        la, lo = u.lat[idx].round(6), u.lon[idx].round(6)
        out.rows(stream, etype, "u", t, u.pts.ids[idx].tolist(), u.pts.source[idx].tolist(),
                 self.w.profile.nearest_districts(la, lo), optional=(ref,), lat=la.tolist(),
                 lon=lo.tolist(), status=[names[s] for s in u.status[idx]],
                 **{ref: u.ref[idx].tolist()})

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
            u.tlat[ci], u.tlon[ci] = self._hosp[0][h], self._hosp[1][h]
        changed |= _set(u, idx, carry, TRN)
        back = (done & ~carry) | ((st == ATH) & (u.until[idx] <= t))
        changed |= _set(u, idx, back, AV)
        u.home(idx[back])
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
        u.home(idx[done])
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

    def _hazmat(self, u: Unit, idx: np.ndarray, t: np.ndarray, out: Any) -> None:
        st, p = u.status[idx], u.pts.p
        wake = (st != MOVING) & (u.until[idx] <= t)
        hour = (t / 3.6e6 + self.w.tz_hours) % 24
        night = wake & (st == PARKED) & ((hour >= 22) | (hour < 6))
        u.until[idx[night]] = t[night] + (((30 - hour[night]) % 24) * 60
                                          + 120 * self._u(5, idx[night], t[night])) * _MIN
        go = wake & ~night
        if go.any():
            gi, gt = idx[go], t[go]
            u.tlat[gi], u.tlon[gi] = self._places(gi, gt)
            back = st[go] == STOPPED
            u.tlat[gi[back]], u.tlon[gi[back]] = p["base_lat"][gi[back]], p["base_lon"][gi[back]]
        _set(u, idx, go, MOVING)
        moving = u.status[idx] == MOVING
        kmh = (45 + 15 * self._u(6, idx, idx)) * (1 - 0.3 * curves(t, self.w.tz_hours)["traffic"])
        arrived, speed = self._move(u, idx, t, kmh, moving)
        ia, ta = idx[arrived], t[arrived]
        u.until[ia] = ta + (20 + 70 * self._u(7, ia, ta)) * _MIN
        _set(u, idx, arrived, PARKED)
        self._gps("hazmat", "vehicle_gps", u, idx, t, speed, out,
                  un_number=p["un"][idx].tolist(), hazard_class=p["hclass"][idx].tolist())
        # Tank readings go out every TANK_EVERY-th report and, like a JT/T 808 terminal in
        # alarm state, with every report while a reading is at or beyond its alarm level.
        values = tank_values(self.w, u.pts, idx, t, self.effects)
        m = ((t - u.phase[idx]) // u.pts.schedule.period_ms + p["tank_off"][idx]) % TANK_EVERY == 0
        for v, level in zip(values, self._tank_alarm()):
            m |= v >= level
        if m.any():
            self._tanks(u, idx[m], t[m], [v[m] for v in values], out)

    def _tank_alarm(self) -> list[float]:
        """The alarm level of each tank kind (the profile's; none set: never in alarm)."""
        lim = self.w.profile.limits
        return [getattr(lim.get(kind), "high_alarm", None) or math.inf
                for kind, *_ in TANK_KINDS]

    def _tanks(self, u: Unit, idx: np.ndarray, t: np.ndarray, values: list[np.ndarray],
               out: Any) -> None:
        p, n = u.pts.p, len(idx)
        la, lo = u.lat[idx].round(6), u.lon[idx].round(6)
        dist = self.w.profile.nearest_districts(la, lo)
        for (kind, unit, code, _, _), v in zip(TANK_KINDS, values):
            out.rows("hazmat", "tank_reading", code, t, p["tank_ids"][idx].tolist(),
                     u.pts.source[idx].tolist(), dist, lat=la.tolist(), lon=lo.tolist(),
                     kind=[kind] * n, value=v.tolist(), unit=[unit] * n)

    def _places(self, idx: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Random destinations inside districts (by weight), from (vehicle, time)."""
        ds = self.w.profile.districts
        cw = np.cumsum([d.weight for d in ds])
        di = np.minimum(np.searchsorted(cw / cw[-1], self._u(8, idx, t)), len(ds) - 1)
        r = np.array([d.radius_km for d in ds])[di] * self._u(9, idx, t) ** 0.75
        th = 2 * math.pi * self._u(10, idx, t)
        c_lat, c_lon = np.array([d.lat for d in ds])[di], np.array([d.lon for d in ds])[di]
        b = self.w.profile.bounds
        lat = np.clip(c_lat + r * np.cos(th) / _KM_DEG, b.lat_min + 1e-4, b.lat_max - 1e-4)
        lon = c_lon + r * np.sin(th) / (_KM_DEG * np.cos(np.radians(c_lat)))
        lat, lon = self._away_from_no_stop(lat, lon)
        return lat, np.clip(lon, b.lon_min + 1e-4, b.lon_max - 1e-4)

    def _away_from_no_stop(self, lat: np.ndarray, lon: np.ndarray,
                           keep_km: float = 0.3) -> tuple[np.ndarray, np.ndarray]:
        """Licensed loading and delivery sites are not at schools or hospitals (parking
        there is forbidden): a destination closer than ``keep_km`` to one is moved out
        radially. Violations are left to injected incidents, so they are labelled."""
        prof = self.w.profile
        places = [(z.lat, z.lon) for z in prof.schools] + \
            [(h.lat, h.lon) for h in prof.hospitals]
        for plat, plon in places:
            d = haversine_km(lat, lon, plat, plon)
            near = d < keep_km
            if near.any():
                k = keep_km / np.maximum(d[near], 1e-3)
                lat[near] = plat + (lat[near] - plat) * k
                lon[near] = plon + (lon[near] - plon) * k
        return lat, lon

    # -- actions -------------------------------------------------------------------------
    def dispatch_ambulance(self, t: int, call_id: str, lat: float, lon: float, out: Any) -> None:
        self._dispatch(self.amb, t, call_id, lat, lon, 1, "ems", "unit_status",
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
        fire["left"] = self._dispatch(self.eng, t, fid, lat, lon, p["engines"], "fire",
                                      "engine_status", ENGINE_STATUSES, "incident_id", out)
        return fire["left"]

    def update_fire(self, t: int, fid: str, status: str, out: Any) -> None:
        fire = self.fires.get(fid) if status != "closed" else self.fires.pop(fid, None)
        if fire is None:
            return
        out.one("fire", "incident", "i" + status[0], t, fid, "cs119-cad", fire["district"],
                lat=fire["lat"], lon=fire["lon"], category=fire["category"],
                alarm_level=fire["level"], status=status)

    def _dispatch(self, u: Unit, t: int, ref: str, lat: float, lon: float, n: int,
                  stream: str, etype: str, names: tuple[str, ...], field: str, out: Any) -> int:
        free = np.flatnonzero(u.status == AV)
        if not len(free):
            return 0
        d = np.abs(u.lat[free] - lat) * _KM_DEG + np.abs(u.lon[free] - lon) * _KM_DEG * 0.88
        pick = free[np.argsort(d, kind="stable")[:n]]
        u.status[pick], u.ref[pick], u.tlat[pick], u.tlon[pick] = DISP, ref, lat, lon
        self._status(stream, etype, u, pick, np.full(len(pick), t, np.int64), names, field, out)
        return len(pick)

    def stop_vehicle(self, v: int, t: int, until: int) -> tuple[int, float, float]:
        """Stop a hazmat vehicle (or, if it is parked, the nearest pressurised one on the
        road) until ``until``; return (vehicle, lat, lon)."""
        u = self.hz
        road = (u.status == MOVING) & u.pts.p["pressurised"]
        if u.status[v] != MOVING and road.any():
            cand = np.flatnonzero(road)
            v = int(cand[np.argmin((u.lat[cand] - u.lat[v]) ** 2 + (u.lon[cand] - u.lon[v]) ** 2)])
        u.status[v], u.until[v] = STOPPED, until
        u.tlat[v], u.tlon[v] = u.lat[v], u.lon[v]
        return v, float(u.lat[v]), float(u.lon[v])


def _set(u: Unit, idx: np.ndarray, mask: np.ndarray, status: int) -> np.ndarray:
    u.status[idx[mask]] = status
    return mask
