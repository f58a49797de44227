"""The simulated city's static side, built from (profile, scale, seed): who reports what,
where and how often. Sensors, road segments and alarm panels are fixed points; ambulances,
fire engines and hazmat vehicles are fleets with a home base. Counts scale with ``scale``."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import numpy as np

from city.profile import CityProfile, haversine_km
from schemas.catalog import MEASUREMENTS

if TYPE_CHECKING:
    from dispatch.graph import RoadGraph

    from .roadnet import RoadNet

# Entities at scale 1.0 and their reporting periods (ms).
COUNTS_1X = {"sensors": 20_000, "segments": 2_000, "ambulances": 300, "engines": 250,
             "hazmat": 1_500, "panels": 6_000}
PERIOD_MS = {"sensors": 10_000, "segments": 30_000, "ambulances": 5_000, "engines": 5_000,
             "hazmat": 10_000, "panels": 60_000}
TANK_EVERY = 9  # a hazmat vehicle sends its three tank readings every 9th GPS report (90 s)
# kind, id prefix, share, curve, base range, curve amplitude range, amplitude x base?, noise
SENSOR_KINDS = (
    ("gas_pressure", "GASP", 0.26, "gas", (260, 340), (-0.10, -0.06), True, 2.5),
    ("gas_concentration", "GASC", 0.22, "flat", (0.1, 0.8), (0, 0), False, 0.25),
    ("water_pressure", "WP", 0.24, "water", (0.30, 0.42), (-0.30, -0.20), True, 0.006),
    ("manhole_gas", "MHG", 0.16, "flat", (0.3, 2.0), (0, 0), False, 0.35),
    ("drainage_level", "DRN", 0.08, "water", (0.3, 1.0), (0.15, 0.35), True, 0.02),
    ("bridge_strain", "BRG", 0.01, "traffic", (-60, 60), (100, 260), False, 12.0),
    ("water_level", "WL", 0.0006, "season", (28.6, 29.4), (-2.8, -2.2), False, 0.01),
    ("pm25", "PM25", 0.0147, "pm", (28, 42), (0.5, 0.8), True, 2.5),
    ("pm10", "PM10", 0.0147, "pm", (45, 70), (0.4, 0.7), True, 4.0),
)
CURVES = ("flat", "gas", "water", "traffic", "season", "pm")  # shapes in readings.curves
ABS_NOISE = frozenset({"gas_concentration", "manhole_gas"})
# Bridges over the Xiang river and river gauges: not (yet) in the city profile, so they are
# declared here for Changsha only; other cities get them at district centres.
XIANG_BRIDGES = ((28.2640, 112.9590), (28.2440, 112.9630), (28.2290, 112.9620),
                 (28.1980, 112.9640), (28.1500, 112.9640), (28.0970, 112.9620),
                 (28.0740, 112.9600))
RIVER_GAUGES = ((28.2000, 112.9650), (28.3300, 112.9500), (28.1600, 113.6400),
                (28.2580, 112.5520))
# UN number, hazard class, share of the fleet, tank pressure range (kPa), pressurised?
CARGOES = (("1203", "3", .35, (5, 25)), ("1202", "3", .20, (2, 15)),
           ("1075", "2.1", .15, (550, 850)), ("1005", "2.3", .04, (600, 900)),
           ("1017", "2.3", .02, (500, 700)), ("1830", "8", .07, (0, 10)),
           ("1824", "8", .04, (0, 10)), ("1230", "3", .06, (5, 20)),
           ("1789", "8", .03, (0, 10)), ("1090", "3", .04, (5, 25)))
_VOWELS = frozenset("aeiou")


@dataclass
class Schedule:
    """Fixed-period reporting with a random phase per entity: who reports in (a, b]."""

    period_ms: int
    phase: np.ndarray  # sorted phases
    order: np.ndarray  # entity index of each sorted phase

    @classmethod
    def random(cls, n: int, period_ms: int, rng: np.random.Generator) -> "Schedule":
        ph = rng.integers(0, period_ms, n)
        order = np.argsort(ph, kind="stable")
        return cls(period_ms, ph[order], order)

    def cycles(self, a: int, b: int) -> list[tuple[np.ndarray, np.ndarray]]:
        """(entity indices, times) per period cycle in (a, b], in time order."""
        out, c, p = [], (a // self.period_ms) * self.period_ms, self.period_ms
        while c <= b:
            lo, hi = np.searchsorted(self.phase, [a - c, b - c], side="right")
            if hi > lo:
                out.append((self.order[lo:hi], c + self.phase[lo:hi]))
            c += p
        return out

    def due(self, a: int, b: int) -> tuple[np.ndarray, np.ndarray]:
        parts = self.cycles(a, b)
        if not parts:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


@dataclass
class Points:
    """Entities at places: ids, districts, sources and coordinates (plus per-entity params)."""

    ids: np.ndarray
    district: np.ndarray
    source: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    schedule: Schedule
    p: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass
class World:
    profile: CityProfile
    scale: float
    seed: int
    tz_hours: float
    abbrev: dict[str, str]
    sensors: Points
    segments: Points
    panels: Points
    ambulances: Points
    engines: Points
    hazmat: Points
    # the road graph and its true speeds (None: a city without a graph; units then move on
    # a Manhattan grid and ``roadsegs`` is ``segments``, scattered points)
    roads: "RoadNet | None" = None
    roadsegs: Points | None = None

    def expected_rates(self) -> dict[str, float]:
        """Periodic events per second by stream (calls and status changes come on top)."""
        n = {k: len(getattr(self, k).ids) / (PERIOD_MS[k] / 1000) for k in PERIOD_MS}
        return {"lifeline": n["sensors"], "traffic": n["segments"], "ems": n["ambulances"],
                "fire": n["engines"] + n["panels"],
                "hazmat": n["hazmat"] * (1 + 3 / TANK_EVERY)}


def district_abbrevs(profile: CityProfile) -> dict[str, str]:
    """Two-letter district codes from the pinyin: furong -> FR, wangcheng -> WC."""
    out: dict[str, str] = {}
    for d in profile.districts:
        c, i = d.code.lower(), 0
        while i < len(c) and c[i] not in _VOWELS:
            i += 1
        while i < len(c) and c[i] in _VOWELS:
            i += 1
        for tail in ("ng", "n"):
            j = i + len(tail)
            if c[i:j] == tail and j < len(c) and c[j] not in _VOWELS:
                i = j
                break
        ab = (c[0] + c[min(i, len(c) - 1)]).upper()
        out[d.code] = ab if ab not in out.values() else c[:3].upper()
    return out


def apportion(total: int, weights: list[float]) -> list[int]:
    """Largest-remainder split of ``total`` by ``weights``."""
    w = np.asarray(weights, float) / sum(weights)
    raw = w * total
    n = np.floor(raw).astype(int)
    for i in np.argsort(-(raw - n), kind="stable")[: total - n.sum()]:
        n[i] += 1
    return n.tolist()


def scatter(profile: CityProfile, rng: np.random.Generator, n: int,
            around: np.ndarray | None = None, spread_km: float | None = None,
            weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Points inside districts (by weight, denser near centres) or around given points."""
    if around is None:
        ds = profile.districts
        w = np.array([d.weight for d in ds]) if weights is None else weights
        di = rng.choice(len(ds), n, p=w / w.sum())
        c_lat, c_lon = np.array([d.lat for d in ds])[di], np.array([d.lon for d in ds])[di]
        r = np.array([d.radius_km for d in ds])[di] * rng.random(n) ** 0.75
    else:
        pick = rng.integers(0, len(around), n)
        c_lat, c_lon = around[pick, 0], around[pick, 1]
        r = (spread_km or 0.5) * np.sqrt(rng.random(n))
    th = rng.random(n) * 2 * math.pi
    lat = c_lat + r * np.cos(th) / 111.32
    lon = c_lon + r * np.sin(th) / (111.32 * np.cos(np.radians(c_lat)))
    b = profile.bounds
    return (np.clip(lat, b.lat_min + 1e-4, b.lat_max - 1e-4).round(6),
            np.clip(lon, b.lon_min + 1e-4, b.lon_max - 1e-4).round(6))


def _points(world_ab: dict[str, str], profile: CityProfile, prefix: list[str] | str,
            lat: np.ndarray, lon: np.ndarray, source: str, period: int,
            rng: np.random.Generator, width: int = 5, src_split: int = 0) -> Points:
    """Name points ``PREFIX-AB-00017`` per (prefix, district) in order and give a schedule."""
    dist = profile.nearest_districts(lat, lon)
    prefixes = [prefix] * len(lat) if isinstance(prefix, str) else prefix
    seq: dict[tuple[str, str], int] = {}
    ids, srcs = [], []
    for i, (p, d) in enumerate(zip(prefixes, dist)):
        k = seq[(p, d)] = seq.get((p, d), 0) + 1
        ids.append(f"{p}-{world_ab[d]}-{k:0{width}d}")
        srcs.append(f"{source}-{world_ab[d]}" + (f"-{i % src_split}" if src_split else ""))
    return Points(np.array(ids, object), np.array(dist, object), np.array(srcs, object),
                  lat, lon, Schedule.random(len(lat), period, rng))


def build_world(profile: CityProfile, scale: float = 1.0, seed: int = 7,
                graph: "RoadGraph | None | str" = "profile") -> World:
    """Build every entity of the simulated city; same (profile, scale, seed), same world.

    ``graph``: the road graph units drive on and detectors sit on ("profile": the city's
    own, from its ``roads`` key; None: none, the Manhattan grid of old)."""
    if scale <= 0:
        raise ValueError(f"scale must be positive, got {scale}")
    rng = np.random.default_rng([seed, 0x57])
    ab = district_abbrevs(profile)
    n = {k: max(1, round(v * scale)) for k, v in COUNTS_1X.items()}
    tz = ZoneInfo(profile.timezone).utcoffset(datetime(2026, 1, 1, tzinfo=timezone.utc))
    tz_hours = tz.total_seconds() / 3600 if tz is not None else 0.0
    sensors = _build_sensors(profile, ab, rng, n["sensors"])
    n_seg = n["segments"]
    lat, lon = scatter(profile, rng, n_seg)
    segments = _points(ab, profile, "SEG", lat, lon, "its", PERIOD_MS["segments"], rng, 4, 4)
    road = rng.choice(3, n_seg, p=[0.1, 0.5, 0.4])  # expressway, arterial, collector
    lanes = np.array([3, 3, 2])[road]
    dens = np.array([d.weight / d.radius_km ** 2 for d in profile.districts])
    dfac = dict(zip([d.code for d in profile.districts], 0.55 + 0.45 * (dens / dens.max()) ** .3))
    segments.p = {"vf": np.array([80.0, 55.0, 40.0])[road] * rng.uniform(0.9, 1.1, n_seg),
                  "lanes": lanes, "cap": np.array([2000.0, 1700.0, 1400.0])[road] * lanes,
                  "demand": np.array([dfac[d] for d in segments.district]) *
                  rng.uniform(0.75, 1.05, n_seg), "seg": np.arange(n_seg)}
    if isinstance(graph, str):
        from .roadnet import graph_for
        graph = graph_for(profile)
    net, roadsegs = None, segments
    if graph is not None:  # (the draws above are made anyway: the rest of the world stays)
        from .roadnet import road_points
        net, roadsegs, segments = road_points(profile, ab, graph, seed, n_seg, tz_hours)
    lat, lon = scatter(profile, rng, n["panels"])
    panels = _points(ab, profile, "FAP", lat, lon, "fas-gw", PERIOD_MS["panels"], rng, 5, 4)
    hosp = profile.hospitals
    per_d = {d: sum(h.district == d for h in hosp) for d in profile.district_codes}
    from .stations import fleet_at_stations, registry_fleet, registry_units
    specs = registry_units(profile, scale)
    if specs is None:  # a city without a fleet configuration: one kind per fleet, as before
        amb = fleet_at_stations(
            profile, rng, "AMB", "ems-avl", hosp, n["ambulances"],
            [profile.district(h.district).weight / per_d[h.district] for h in hosp],
            PERIOD_MS["ambulances"])
        eng = fleet_at_stations(
            profile, rng, "ENG", "fire-avl", profile.fire_stations, n["engines"],
            [max(f.engines, 1) for f in profile.fire_stations], PERIOD_MS["engines"])
    else:
        amb = registry_fleet(profile, rng, [s for s in specs if s.stream == "ems"],
                             "ems-avl", PERIOD_MS["ambulances"])
        eng = registry_fleet(profile, rng, [s for s in specs if s.stream == "fire"],
                             "fire-avl", PERIOD_MS["engines"])
    return World(profile, scale, seed, tz_hours, ab, sensors, segments, panels, amb, eng,
                 _build_hazmat(profile, ab, rng, n["hazmat"]), net, roadsegs)


def _build_sensors(profile: CityProfile, ab: dict[str, str], rng: np.random.Generator,
                   n: int) -> Points:
    counts = [max(1, c) for c in apportion(n, [k[2] for k in SENSOR_KINDS])]
    counts[-1] = counts[-2]  # one PM10 beside every PM2.5 station
    lats, lons, kinds = [], [], []
    bridges = np.array(XIANG_BRIDGES if profile.name == "changsha" else
                       [(d.lat, d.lon) for d in profile.districts[:3]])
    gauges = np.array(RIVER_GAUGES if profile.name == "changsha" else
                      [(d.lat, d.lon) for d in profile.districts])
    for ki, (kind, _, _, _, _, _, _, _) in enumerate(SENSOR_KINDS):
        c = counts[ki]
        if kind == "bridge_strain":
            lat, lon = scatter(profile, rng, c, bridges, 0.6)
        elif kind == "water_level":
            lat, lon = scatter(profile, rng, c, gauges, 0.3)
        elif kind == "pm10":
            lat, lon = lats[-1], lons[-1]
        else:
            lat, lon = scatter(profile, rng, c)
        lats.append(lat), lons.append(lon), kinds.append(np.full(c, ki))
    lat, lon, ki = np.concatenate(lats), np.concatenate(lons), np.concatenate(kinds)
    pts = _points(ab, profile, [SENSOR_KINDS[k][1] for k in ki], lat, lon, "iot-gw",
                  PERIOD_MS["sensors"], rng, src_split=8)
    spec = [SENSOR_KINDS[k] for k in ki]
    base = np.array([rng.uniform(*s[4]) for s in spec])
    amp = np.array([rng.uniform(*s[5]) for s in spec])
    amp = np.where([s[6] for s in spec], amp * base, amp)
    amp = np.where(ki == 5, amp * rng.choice([-1.0, 1.0], len(ki)), amp)  # strain sign
    m = [MEASUREMENTS[s[0]] for s in spec]
    pts.p = {"kind": ki, "base": base, "amp": amp, "sigma": np.array([s[7] for s in spec]),
             "curve": np.array([CURVES.index(s[3]) for s in spec]),
             "drift_p": rng.uniform(3, 9, len(ki)) * 3_600_000,
             "drift_ph": rng.uniform(0, 2 * math.pi, len(ki)),
             "lo": np.array([x.lo for x in m]), "hi": np.array([x.hi for x in m]),
             "abs": np.array([s[0] in ABS_NOISE for s in spec]),
             "kind_s": np.array([s[0] for s in spec], object),
             "unit": np.array([x.unit for x in m], object)}
    return pts


def _build_hazmat(profile: CityProfile, ab: dict[str, str], rng: np.random.Generator,
                  n: int) -> Points:
    w = np.array([d.weight * math.sqrt(d.radius_km) for d in profile.districts])
    lat, lon = scatter(profile, rng, n, weights=w)
    pts = _points(ab, profile, "HZV", lat, lon, "hazmat-gps", PERIOD_MS["hazmat"], rng, 4)
    cargo = rng.choice(len(CARGOES), n, p=[c[2] for c in CARGOES])
    lo_hi = np.array([c[3] for c in CARGOES], float)[cargo]
    pts.p = {"base_lat": lat.copy(), "base_lon": lon.copy(), "cargo": cargo,
             "un": np.array([c[0] for c in CARGOES], object)[cargo],
             "hclass": np.array([c[1] for c in CARGOES], object)[cargo],
             "pressure": rng.uniform(lo_hi[:, 0], lo_hi[:, 1]),
             "pressurised": np.array([c[1].startswith("2") for c in CARGOES])[cargo],
             "tank_off": rng.integers(0, TANK_EVERY, n),
             "tank_ids": np.array([i + "-T1" for i in pts.ids], object)}
    return pts


def nearest(lat: np.ndarray, lon: np.ndarray, at_lat: float, at_lon: float,
            mask: np.ndarray | None = None, k: int = 1) -> np.ndarray:
    """Indices of the ``k`` points nearest to (at_lat, at_lon), optionally among ``mask``."""
    d = haversine_km(lat, lon, at_lat, at_lon)
    if mask is not None:
        d = np.where(mask, d, np.inf)
    return np.argsort(d, kind="stable")[:k]
