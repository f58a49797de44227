"""What an entity reads at a given time: pure functions of (seed, entity, time).

Noise is counter-based (a hash of seed, entity and time, not a stream of draws), so a reading
never depends on how the timeline was cut into ticks. Diurnal shapes are in local time.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from schemas.catalog import EMS_COMPLAINTS

from .incidents import Effect, apply_effects, signal_id
from .world import CURVES, scatter

if TYPE_CHECKING:
    from .world import Points, World

TANK_KINDS = (("tank_pressure", "kPa", "tp", 0.0, 5000.0),
              ("tank_temperature", "°C", "tt", -50.0, 200.0),
              ("tank_gas", "%LEL", "tg", 0.0, 100.0))
PANEL_FAULT_P = 5e-5  # chance that a panel heartbeat reports a fault instead
# Background events per day at scale 1.0 and their hourly shapes (local time).
PER_DAY = {"ems_call": 750.0, "fire_call": 110.0, "accident": 40.0, "signal_fault": 300.0}
_H = np.arange(24.0)
_SHAPES = {"ems_call": 0.6 + 0.5 * np.exp(-((_H - 10) / 3) ** 2)
           + 0.5 * np.exp(-((_H - 20) / 2.5) ** 2) - 0.35 * np.exp(-((_H - 4) / 2) ** 2),
           "fire_call": 0.5 + 0.6 * np.exp(-((_H - 14) / 4) ** 2)
           + 0.4 * np.exp(-((_H - 19) / 2) ** 2),
           "accident": 0.3 + np.exp(-((_H - 8) / 1.2) ** 2) + np.exp(-((_H - 18) / 1.5) ** 2),
           "signal_fault": np.ones(24)}
SHARE = {k: v / v.sum() for k, v in _SHAPES.items()}
COMPLAINT_P = (.12, .08, .20, .10, .08, .02, .04, .06, .15, .15)  # order of EMS_COMPLAINTS
FIRE_CATS = (("structure_fire", .20, 3), ("vehicle_fire", .08, 1), ("wildland_fire", .04, 2),
             ("rescue", .35, 1), ("hazmat", .03, 2), ("alarm", .20, 1), ("other", .10, 1))
FAULTS = (("comm_loss", .5), ("dark", .2), ("flashing", .2), ("stuck", .1))
FIRE_P = [c[1] for c in FIRE_CATS]
_C1, _C2, _C3 = (np.uint64(0x9E3779B97F4A7C15), np.uint64(0xBF58476D1CE4E5B9),
                 np.uint64(0x94D049BB133111EB))


def _mix(x: np.ndarray) -> np.ndarray:
    x = x + _C1
    x = (x ^ (x >> np.uint64(30))) * _C2
    x = (x ^ (x >> np.uint64(27))) * _C3
    return x ^ (x >> np.uint64(31))


def hash_uniform(key: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Uniform [0, 1) that depends only on (key, a, b) (splitmix64)."""
    x = _mix((np.asarray(a).astype(np.uint64) * _C3) ^ np.uint64(key & 0xFFFFFFFFFFFFFFFF))
    x = _mix(x ^ np.asarray(b).astype(np.uint64))
    return (x >> np.uint64(11)).astype(np.float64) * (1.0 / 9007199254740992.0)


def hash_normal(key: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Standard normal from (key, a, b) by Box-Muller."""
    u1, u2 = hash_uniform(key, a, b), hash_uniform(key ^ 0x5DEECE66D, a, b)
    return np.sqrt(-2.0 * np.log1p(-u1)) * np.cos(2 * math.pi * u2)


def _gauss(h: np.ndarray, mu: float, sd: float) -> np.ndarray:
    d = (h - mu + 12.0) % 24.0 - 12.0
    return np.exp(-0.5 * (d / sd) ** 2)


def local_hour(t_ms: np.ndarray, tz_hours: float) -> np.ndarray:
    return (t_ms / 3_600_000.0 + tz_hours) % 24.0


def curves(t_ms: np.ndarray, tz_hours: float) -> dict[str, np.ndarray]:
    """Shapes over the day/year: traffic (rush hours 7-9, 17-19), water and gas demand,
    PM (higher at night in winter) and the river's season (+1 mid-January, -1 mid-July)."""
    h = local_hour(t_ms, tz_hours)
    winter = np.cos(2 * math.pi * ((t_ms / 86_400_000.0) % 365.25 - 15) / 365.25)
    traffic = np.clip(0.05 + 0.45 * _gauss(h, 13, 4) + 0.55 * _gauss(h, 8, 0.9)
                      + 0.5 * _gauss(h, 18, 1.1) - 0.05 * _gauss(h, 3, 2), 0.03, 1.1)
    night = 0.5 * (1 + np.cos(2 * math.pi * (h - 2) / 24))
    return {"flat": np.zeros_like(h), "traffic": traffic, "season": winter,
            "water": np.clip(0.15 + 0.7 * _gauss(h, 7.5, 1.2) + 0.75 * _gauss(h, 19.5, 1.5)
                             + 0.3 * _gauss(h, 12.5, 2.5), 0, 1),
            "gas": np.clip(0.1 + 0.7 * _gauss(h, 7, 1) + 0.5 * _gauss(h, 11.5, 1)
                           + 0.8 * _gauss(h, 18, 1.2), 0, 1),
            "pm": 0.5 * (1 + winter) + 0.35 * night * np.maximum(winter, 0) + 0.1 * night}


def sensor_values(w: "World", idx: np.ndarray, t: np.ndarray,
                  effects: list[Effect]) -> np.ndarray:
    """Lifeline readings: base + amplitude x curve + slow drift, incidents, noise; clipped
    to the physical range of the kind."""
    p = w.sensors.p
    c = curves(t, w.tz_hours)
    shape = np.stack([c[k] for k in CURVES])[p["curve"][idx], np.arange(len(idx))]
    drift = np.sin(2 * math.pi * t / p["drift_p"][idx] + p["drift_ph"][idx])
    level = p["base"][idx] + p["amp"][idx] * shape + 2 * p["sigma"][idx] * drift
    level = apply_effects(effects, "sensors", idx, t, level)
    z = hash_normal(w.seed * 31 + 1, idx, t)
    noise = p["sigma"][idx] * np.where(p["abs"][idx], np.abs(z), z)
    return np.clip(level + noise, p["lo"][idx], p["hi"][idx]).round(3)


def segment_values(w: "World", idx: np.ndarray, t: np.ndarray, effects: list[Effect]
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(speed km/h, flow veh/h, occupancy) of road segments from the demand curve; an
    incident scales the speed down, and flow falls and occupancy rises with it."""
    g = w.segments.p
    if w.roads is not None:  # detectors on graph segments read the true speed, with noise
        seg = g["seg"][idx]
        v, v0, vc = w.roads.seg_kmh(seg, t, effects)
        # what a detector counts in 30 s scatters around the true demand, as before
        vc = np.clip(vc * (1 + 0.08 * hash_normal(w.seed * 31 + 2, idx, t)), 0.01, 1.3)
        speed = g["vf"][idx] * (1 - 0.7 * vc ** 4 / (0.4 + vc ** 4)) * v / v0
        flow = g["cap"][idx] * vc * (0.5 + 0.5 * v / v0)
        occ = np.clip(flow / g["lanes"][idx] / np.maximum(speed, 3.0) * 0.0065, 0, 0.95)
        return np.maximum(speed, 1.0).round(1), flow.round(0), occ.round(3)
    d = curves(t, w.tz_hours)["traffic"]
    vc = np.clip(d * g["demand"][idx] * (1 + 0.08 * hash_normal(w.seed * 31 + 2, idx, t)),
                 0.01, 1.3)
    v0 = g["vf"][idx] * (1 - 0.7 * vc ** 4 / (0.4 + vc ** 4))
    speed = apply_effects(effects, "segments", idx, t, v0.copy())
    flow = g["cap"][idx] * vc * (0.5 + 0.5 * speed / v0)
    occ = np.clip(flow / g["lanes"][idx] / np.maximum(speed, 3.0) * 0.0065, 0, 0.95)
    return np.maximum(speed, 1.0).round(1), flow.round(0), occ.round(3)


def panel_signals(w: "World", idx: np.ndarray, t: np.ndarray) -> list[str]:
    """Alarm-panel heartbeats, now and then a fault."""
    fault = hash_uniform(w.seed * 31 + 3, idx, t) < PANEL_FAULT_P
    return np.where(fault, "fault", "heartbeat").tolist()


def tank_values(w: "World", h: "Points", idx: np.ndarray, t: np.ndarray,
                effects: list[Effect]) -> list[np.ndarray]:
    """Tank pressure (vapour pressure rises with temperature), temperature (ambient), and
    gas at the tank (near zero), one array per kind of ``TANK_KINDS``."""
    p = h.p
    hour = local_hour(t, w.tz_hours)
    temp = 17 - 11 * curves(t, w.tz_hours)["season"] + \
        5 * np.cos(2 * math.pi * (hour - 15) / 24) + idx % 3
    press = p["pressure"][idx] * np.where(p["pressurised"][idx], 1 + 0.03 * (temp - 15), 1)
    levels = (press, temp, np.full(len(idx), 0.2))
    noise = (0.5 + 0.01 * press, 0.3, 0.3)
    out = []
    for k, (_, _, _, lo, hi) in enumerate(TANK_KINDS):
        z = hash_normal(w.seed * 131 + 10 + k, idx, t)
        lv = apply_effects(effects, f"tank{k}", idx, t, levels[k].astype(float))
        out.append(np.clip(lv + noise[k] * (np.abs(z) if k == 2 else z), lo, hi).round(2))
    return out


def background_hour(w: "World", hour: int) -> list[tuple[int, str, str, dict[str, Any]]]:
    """Everyday 120/119 calls, accidents and signal faults of epoch hour ``hour`` (Poisson
    by local hour and district weight): (time, key, action, params), in time order."""
    rng = np.random.default_rng([w.seed, 0xCA11, hour])
    local, g, out = int((hour + w.tz_hours) % 24), w.segments, []
    for name, per_day in PER_DAY.items():
        n = int(rng.poisson(per_day * SHARE[name][local] * w.scale))
        ts = np.sort(hour * 3_600_000 + rng.integers(0, 3_600_000, n))
        lat, lon = scatter(w.profile, rng, n)
        seg = rng.integers(0, len(g.ids), n)
        for k in range(n):
            p: dict[str, Any] = {"lat": float(lat[k]), "lon": float(lon[k])}
            if name == "ems_call":
                p.update(complaint=EMS_COMPLAINTS[rng.choice(len(EMS_COMPLAINTS), p=COMPLAINT_P)],
                         priority=int(rng.choice([1, 2, 3, 4], p=[.15, .35, .35, .15])),
                         patients=1 if rng.random() < 0.9 else int(rng.integers(2, 4)))
            elif name == "fire_call":
                cat, _, engines = FIRE_CATS[rng.choice(len(FIRE_CATS), p=FIRE_P)]
                p.update(category=cat, engines=engines, alarm_level=1,
                         release_ms=int(ts[k] + rng.uniform(15, 45) * 60_000))
            elif name == "accident":
                p.update(severity=int(rng.choice([1, 2], p=[.8, .2])),
                         lanes_blocked=int(rng.integers(0, 2)))
            else:
                s = int(seg[k])
                p.update(lat=float(g.lat[s]), lon=float(g.lon[s]),
                         signal=signal_id(str(g.ids[s])),
                         fault=FAULTS[rng.choice(len(FAULTS), p=[f[1] for f in FAULTS])][0])
            out.append((int(ts[k]), f"{hour}/{name}/{k}", name, p))
    return sorted(out, key=lambda x: (x[0], x[1]))
