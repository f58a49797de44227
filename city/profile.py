"""City profiles: geography, facilities and alarm limits, declared once in ``<city>.json``.

Everything that is a fact about the city (district names and locations, hospitals, fire
stations, bounds, alarm levels, protected zones for hazmat vehicles: schools, drinking-water
sources, tunnels) is read from here; nothing else hard-codes it.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

PROFILE_DIR = Path(__file__).resolve().parent
EARTH_RADIUS_KM = 6371.0088


# What a profile's places may be: the detectors index each zone on a grid of ~1 km cells
# (detectors.geo), so a zone's size and its points' spread are what that index costs. A
# school zone 10,000 km wide once meant a grid of 10^8 cells (MemoryError) at start-up.
MAX_SPAN_DEG = 10.0            # the city's bounds, each way
MAX_ZONE_RADIUS_M = 50_000.0
MAX_ZONE_WIDTH_M = 10_000.0
MAX_PATH_POINTS = 1_000
OUT_OF_RANGE = "out_of_range"


class ProfileError(ValueError):
    """A city profile is missing or malformed; ``code``: ``bad_profile``, or
    ``out_of_range`` for a place or a size past its bound."""

    def __init__(self, message: str, code: str = "bad_profile") -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class District:
    code: str
    zh: str
    en: str
    lat: float
    lon: float
    radius_km: float
    weight: float
    adcode: str = ""           # the national administrative division code (GB/T 2260)


@dataclass(frozen=True)
class Facility:
    id: str
    zh: str
    en: str
    district: str
    lat: float
    lon: float
    engines: int = 0


@dataclass(frozen=True)
class Zone:
    """A protected place: a circle of ``radius_m`` around (lat, lon), or, when ``path`` is
    given (WGS-84 points: a tunnel's axis, a stretch of river bank by a water intake), a
    corridor ``width_m`` wide along it."""

    id: str
    zh: str
    en: str
    district: str
    lat: float
    lon: float
    radius_m: float
    path: tuple[tuple[float, float], ...] = ()
    width_m: float = 0.0


@dataclass(frozen=True)
class Bounds:
    lat_min: float
    lat_max: float
    lon_min: float
    lon_max: float

    def contains(self, lat: float, lon: float) -> bool:
        return self.lat_min <= lat <= self.lat_max and self.lon_min <= lon <= self.lon_max


@dataclass(frozen=True)
class Limit:
    """Alarm levels for one measured kind; ``*_recover`` gives hysteresis."""

    kind: str
    severity: str
    high_alarm: float | None = None
    high_recover: float | None = None
    low_alarm: float | None = None
    low_recover: float | None = None


@dataclass(frozen=True, eq=False)
class CityProfile:
    name: str
    name_zh: str
    name_en: str
    timezone: str
    center: tuple[float, float]
    bounds: Bounds
    districts: tuple[District, ...]
    hospitals: tuple[Facility, ...]
    fire_stations: tuple[Facility, ...]
    limits: dict[str, Limit]
    # Optional keys (older profiles lack them): protected zones for hazmat vehicles, known
    # hazmat depots, and the fixed UTC offset of ``timezone`` (for local hours of the day).
    schools: tuple[Zone, ...] = ()
    water_sources: tuple[Zone, ...] = ()
    tunnels: tuple[Zone, ...] = ()
    hazmat_depots: tuple[Zone, ...] = ()
    utc_offset_hours: float = 0.0
    # Optional: the road network, a GeoJSON file next to the profile (see load_roads)
    roads: str | None = None
    # Optional: the districts' outlines, a GeoJSON file next to the profile (load_outlines)
    district_outlines: str | None = None

    def district(self, code: str) -> District:
        for d in self.districts:
            if d.code == code:
                return d
        raise KeyError(code)

    @property
    def district_codes(self) -> frozenset[str]:
        return frozenset(d.code for d in self.districts)

    def nearest_district(self, lat: float, lon: float) -> str:
        """District whose centre is nearest, scaled by its size (an approximate lookup)."""
        return self.nearest_districts(np.array([lat]), np.array([lon]))[0]

    def nearest_districts(self, lats: np.ndarray, lons: np.ndarray) -> list[str]:
        """Vectorised :meth:`nearest_district` for arrays of coordinates."""
        c_lat, c_lon, radius = _district_arrays(self)
        dist = haversine_km(lats[:, None], lons[:, None], c_lat[None, :], c_lon[None, :])
        idx = np.argmin(dist / radius[None, :], axis=1)
        codes = [d.code for d in self.districts]
        return [codes[i] for i in idx]


def haversine_km(lat1: Any, lon1: Any, lat2: Any, lon2: Any) -> Any:
    """Great-circle distance in km; works on floats and numpy arrays alike."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp = p2 - p1
    dl = np.radians(lon2) - np.radians(lon1)
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(a))


@lru_cache(maxsize=8)
def _district_arrays(profile: CityProfile) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    lat = np.array([d.lat for d in profile.districts])
    lon = np.array([d.lon for d in profile.districts])
    # sqrt of the radius: big districts attract points a little further out, not twice as far
    radius = np.sqrt(np.array([d.radius_km for d in profile.districts]))
    return lat, lon, radius


def _facility(raw: dict[str, Any]) -> Facility:
    return Facility(raw["id"], raw["zh"], raw["en"], raw["district"], float(raw["lat"]),
                    float(raw["lon"]), int(raw.get("engines", 0)))


def _zone(raw: dict[str, Any]) -> Zone:
    path = tuple((float(p[0]), float(p[1])) for p in raw.get("path", ()))
    return Zone(raw["id"], raw["zh"], raw["en"], raw["district"], float(raw["lat"]),
                float(raw["lon"]), float(raw["radius_m"]), path, float(raw.get("width_m", 0.0)))


def utc_offset_hours(tz_name: str) -> float:
    """The UTC offset of a time zone in hours (at 2026-01-01; 0 for an unknown zone)."""
    try:
        off = ZoneInfo(tz_name).utcoffset(datetime(2026, 1, 1, tzinfo=timezone.utc))
    except (ValueError, KeyError, OSError):
        return 0.0
    return off.total_seconds() / 3600 if off is not None else 0.0


def _geojson_name(name: Any, key: str = "roads") -> str | None:
    if name is None:
        return None
    if not isinstance(name, str) or Path(name).name != name or not name.endswith(".geojson"):
        raise ValueError(f"{key!r} must be a .geojson file name next to the profile, "
                         f"got {name!r}")
    return name


def parse_profile(raw: dict[str, Any]) -> CityProfile:
    if not isinstance(raw, dict):
        raise ProfileError(f"a city profile must be a JSON object, got {type(raw).__name__}")
    try:
        districts = tuple(
            District(d["code"], d["zh"], d["en"], float(d["center"][0]), float(d["center"][1]),
                     float(d["radius_km"]), float(d["weight"]), str(d.get("adcode", "")))
            for d in raw["districts"])
        limits = {kind: Limit(kind=kind, **spec) for kind, spec in raw["limits"].items()}
        profile = CityProfile(
            name=raw["name"], name_zh=raw["name_zh"], name_en=raw["name_en"],
            timezone=raw["timezone"], center=(float(raw["center"][0]), float(raw["center"][1])),
            bounds=Bounds(**raw["bounds"]), districts=districts,
            hospitals=tuple(_facility(h) for h in raw["hospitals"]),
            fire_stations=tuple(_facility(f) for f in raw["fire_stations"]),
            limits=limits,
            schools=tuple(_zone(z) for z in raw.get("schools", ())),
            water_sources=tuple(_zone(z) for z in raw.get("water_sources", ())),
            tunnels=tuple(_zone(z) for z in raw.get("tunnels", ())),
            hazmat_depots=tuple(_zone(z) for z in raw.get("hazmat_depots", ())),
            utc_offset_hours=float(raw.get("utc_offset_hours",
                                           utc_offset_hours(str(raw["timezone"])))),
            roads=_geojson_name(raw.get("roads")),
            district_outlines=_geojson_name(raw.get("district_outlines"), "district_outlines"))
    except (KeyError, TypeError, ValueError, IndexError, AttributeError, OverflowError) as exc:
        # OverflowError: an integer too large for a float (10**400)
        raise ProfileError(f"city profile {raw.get('name', '?')!r} is malformed: {exc!r}") from exc
    _check_places(profile)
    return profile


def _check_places(p: CityProfile) -> None:
    """Bounds of a sane size, and every zone inside them at a bounded size (see
    :data:`MAX_SPAN_DEG`): else a ProfileError ``out_of_range`` naming the place."""
    b = p.bounds
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool)
               for v in (b.lat_min, b.lat_max, b.lon_min, b.lon_max)):
        raise ProfileError(f"city profile {p.name!r}: bounds {b} must be numbers")
    if not (-90 <= b.lat_min < b.lat_max <= 90 and -180 <= b.lon_min < b.lon_max <= 180
            and b.lat_max - b.lat_min <= MAX_SPAN_DEG and b.lon_max - b.lon_min <= MAX_SPAN_DEG):
        raise ProfileError(f"city profile {p.name!r}: bounds {b} are not a city's (at most "
                           f"{MAX_SPAN_DEG:g} degrees each way)", OUT_OF_RANGE)
    for kind in ("schools", "water_sources", "tunnels", "hazmat_depots"):
        for z in getattr(p, kind):
            where = f"city profile {p.name!r}: {kind} {z.id!r}"
            if not all(b.contains(lat, lon) for lat, lon in ((z.lat, z.lon), *z.path)):
                raise ProfileError(f"{where} lies outside the city's bounds", OUT_OF_RANGE)
            if not (0 <= z.radius_m <= MAX_ZONE_RADIUS_M and 0 <= z.width_m <= MAX_ZONE_WIDTH_M
                    and len(z.path) <= MAX_PATH_POINTS):
                raise ProfileError(f"{where}: radius {z.radius_m:g} m, width {z.width_m:g} m, "
                                   f"{len(z.path)} path points: at most {MAX_ZONE_RADIUS_M:g} "
                                   f"m, {MAX_ZONE_WIDTH_M:g} m and {MAX_PATH_POINTS}",
                                   OUT_OF_RANGE)


@lru_cache(maxsize=8)
def load_profile(name: str = "changsha") -> CityProfile:
    """Load ``city/<name>.json`` (or a path to a JSON file)."""
    path = Path(name) if name.endswith(".json") else PROFILE_DIR / f"{name}.json"
    if not path.is_file():
        known = sorted(p.stem for p in PROFILE_DIR.glob("*.json"))
        raise ProfileError(f"no city profile {name!r}; known: {known}")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:  # invalid JSON or not UTF-8
        raise ProfileError(f"{path}: not a JSON document: {exc}") from exc
    except RecursionError as deep:   # json's decoder recurses on nesting
        raise ProfileError(f"{path}: nested too deeply to be a city profile") from deep
    profile = parse_profile(raw)
    if not math.isclose(sum(d.weight for d in profile.districts), 1.0, abs_tol=0.01):
        raise ProfileError(f"{path}: district weights must sum to 1")
    return profile


def road_names(roads: Mapping[str, Any] | None) -> dict[str, tuple[str, str]]:
    """{road id: (name zh, name en)} of a road network's named roads (GeoJSON features with
    ``id``, ``name_zh``, ``name_en`` properties; rivers and unnamed pieces left out)."""
    names: dict[str, tuple[str, str]] = {}
    for f in (roads or {}).get("features", []):
        p = f.get("properties") or {}
        if p.get("kind", "road") == "road" and p.get("id") and p.get("name_zh"):
            names[str(p["id"])] = (str(p["name_zh"]), str(p.get("name_en") or p["name_zh"]))
    return names


def load_roads(profile: CityProfile) -> dict[str, Any] | None:
    """The profile's road network as parsed GeoJSON (None when the city has none); build the
    graph with :func:`dispatch.roads.parse_roads`. Every call reads the file afresh."""
    return _load_geojson(profile, profile.roads, "road network")


def load_outlines(profile: CityProfile) -> dict[str, Any] | None:
    """The districts' outlines as parsed GeoJSON (a FeatureCollection with one feature per
    district, ``properties.code``; built by ``python -m city.districts_build``), None when the
    city has none. Every call reads the file afresh."""
    return _load_geojson(profile, profile.district_outlines, "district outline file")


def _load_geojson(profile: CityProfile, name: str | None, what: str) -> dict[str, Any] | None:
    if name is None:
        return None
    path = PROFILE_DIR / name
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ProfileError(f"city {profile.name!r}: {what} {path} unreadable: {exc}") from exc
    except ValueError as exc:
        raise ProfileError(f"{path}: not a JSON document: {exc}") from exc
    except RecursionError as deep:
        raise ProfileError(f"{path}: nested too deeply to be a {what}") from deep
    if not isinstance(raw, dict):
        raise ProfileError(f"{path}: a {what} must be a JSON object")
    return raw
