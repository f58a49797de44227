"""Hazmat vehicles: parked at their base or a delivery site, driving between them (by day),
with their tank readings; a leak stops one where it is."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from city.profile import haversine_km

from .readings import TANK_KINDS, curves, tank_values
from .world import TANK_EVERY

if TYPE_CHECKING:
    from .fleets import Fleets, Unit

PARKED, MOVING, STOPPED = 0, 1, 2
_MIN, _KM_DEG = 60_000, 111.32


def step(f: "Fleets", u: "Unit", idx: np.ndarray, t: np.ndarray, out: Any) -> None:
    """One report of vehicles ``idx`` at times ``t``: wake, drive, park; GPS and tanks."""
    st, p = u.status[idx], u.pts.p
    wake = (st != MOVING) & (u.until[idx] <= t)
    hour = (t / 3.6e6 + f.w.tz_hours) % 24
    night = wake & (st == PARKED) & ((hour >= 22) | (hour < 6))
    u.until[idx[night]] = t[night] + (((30 - hour[night]) % 24) * 60
                                      + 120 * f._u(5, idx[night], t[night])) * _MIN
    go = wake & ~night
    if go.any():
        gi, gt = idx[go], t[go]
        lat, lon = places(f, gi, gt)
        back = st[go] == STOPPED
        lat[back], lon[back] = p["base_lat"][gi[back]], p["base_lon"][gi[back]]
        f._go(u, gi, gt, lat, lon)
    u.status[idx[go]] = MOVING
    moving = u.status[idx] == MOVING
    kmh = (45 + 15 * f._u(6, idx, idx)) * (1 - 0.3 * curves(t, f.w.tz_hours)["traffic"])
    arrived, speed = f._move(u, idx, t, kmh, moving)
    ia, ta = idx[arrived], t[arrived]
    u.until[ia] = ta + (20 + 70 * f._u(7, ia, ta)) * _MIN
    u.status[ia] = PARKED
    f._gps("hazmat", "vehicle_gps", u, idx, t, speed, out,
           un_number=p["un"][idx].tolist(), hazard_class=p["hclass"][idx].tolist())
    # Tank readings go out every TANK_EVERY-th report and, like a JT/T 808 terminal in
    # alarm state, with every report while a reading is at or beyond its alarm level.
    values = tank_values(f.w, u.pts, idx, t, f.effects)
    m = ((t - u.phase[idx]) // u.pts.schedule.period_ms + p["tank_off"][idx]) % TANK_EVERY == 0
    for v, level in zip(values, tank_alarm(f)):
        m |= v >= level
    if m.any():
        tanks(f, u, idx[m], t[m], [v[m] for v in values], out)


def tank_alarm(f: "Fleets") -> list[float]:
    """The alarm level of each tank kind (the profile's; none set: never in alarm)."""
    lim = f.w.profile.limits
    return [getattr(lim.get(kind), "high_alarm", None) or math.inf for kind, *_ in TANK_KINDS]


def tanks(f: "Fleets", u: "Unit", idx: np.ndarray, t: np.ndarray, values: list[np.ndarray],
          out: Any) -> None:
    p, n = u.pts.p, len(idx)
    la, lo = u.lat[idx].round(6), u.lon[idx].round(6)
    dist = f.w.profile.nearest_districts(la, lo)
    for (kind, unit, code, _, _), v in zip(TANK_KINDS, values):
        out.rows("hazmat", "tank_reading", code, t, p["tank_ids"][idx].tolist(),
                 u.pts.source[idx].tolist(), dist, lat=la.tolist(), lon=lo.tolist(),
                 kind=[kind] * n, value=v.tolist(), unit=[unit] * n)


def places(f: "Fleets", idx: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Random destinations inside districts (by weight), from (vehicle, time)."""
    ds = f.w.profile.districts
    cw = np.cumsum([d.weight for d in ds])
    di = np.minimum(np.searchsorted(cw / cw[-1], f._u(8, idx, t)), len(ds) - 1)
    r = np.array([d.radius_km for d in ds])[di] * f._u(9, idx, t) ** 0.75
    th = 2 * math.pi * f._u(10, idx, t)
    c_lat, c_lon = np.array([d.lat for d in ds])[di], np.array([d.lon for d in ds])[di]
    b = f.w.profile.bounds
    lat = np.clip(c_lat + r * np.cos(th) / _KM_DEG, b.lat_min + 1e-4, b.lat_max - 1e-4)
    lon = c_lon + r * np.sin(th) / (_KM_DEG * np.cos(np.radians(c_lat)))
    lat, lon = away_from_no_stop(f, lat, lon)
    return lat, np.clip(lon, b.lon_min + 1e-4, b.lon_max - 1e-4)


def away_from_no_stop(f: "Fleets", lat: np.ndarray, lon: np.ndarray, keep_km: float = 0.3
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Licensed loading and delivery sites are not at schools or hospitals (parking
    there is forbidden): a destination closer than ``keep_km`` to one is moved out
    radially. Violations are left to injected incidents, so they are labelled."""
    prof = f.w.profile
    spots = [(z.lat, z.lon) for z in prof.schools] + [(h.lat, h.lon) for h in prof.hospitals]
    for plat, plon in spots:
        d = haversine_km(lat, lon, plat, plon)
        near = d < keep_km
        if near.any():
            k = keep_km / np.maximum(d[near], 1e-3)
            lat[near] = plat + (lat[near] - plat) * k
            lon[near] = plon + (lon[near] - plon) * k
    return lat, lon


def stop_vehicle(f: "Fleets", v: int, t: int, until: int) -> tuple[int, float, float]:
    """Stop a hazmat vehicle (or, if it is parked, the nearest pressurised one on the
    road) until ``until``; return (vehicle, lat, lon)."""
    u = f.hz
    road = (u.status == MOVING) & u.pts.p["pressurised"]
    if u.status[v] != MOVING and road.any():
        cand = np.flatnonzero(road)
        v = int(cand[np.argmin((u.lat[cand] - u.lat[v]) ** 2 + (u.lon[cand] - u.lon[v]) ** 2)])
    u.status[v], u.until[v] = STOPPED, until
    if u.mot is not None:  # where it is now, on its road (not where it last reported)
        u.mot.halt(np.array([v]), t)
        u.lat[v], u.lon[v] = u.mot.park.lat[v], u.mot.park.lon[v]
    u.tlat[v], u.tlon[v] = u.lat[v], u.lon[v]
    return v, float(u.lat[v]), float(u.lon[v])
