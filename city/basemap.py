"""The cockpit's base map: one GeoJSON FeatureCollection of the city's fixed geography.

Each feature's ``properties.layer`` says what it is: ``district`` (the real outlines,
:func:`city.profile.load_outlines`), ``road`` (with ``class``) and ``river`` (the road network,
:func:`city.profile.load_roads`), ``station`` (hospitals, fire stations and the other agencies'
district depots: where the dispatch fleet's units are based, with their counts by kind) and
``geofence`` (the hazmat detector's protected zones: circles and corridors as polygons, with
their rule). Top level: ``bounds`` [w, s, e, n] and ``center`` [lon, lat]. Public geography:
served without sign-in as ``GET /basemap.json``, built once at start.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

from city.profile import CityProfile, load_outlines, load_roads

CIRCLE_SIDES = 32
M_PER_DEG = 111_195.0
# The other agencies' units are based at their district's depot (dispatch.units); its name
DEPOT_NAMES = {"traffic_police": ("交警大队", "traffic police brigade"),
               "gas_crew": ("燃气抢修站", "gas repair depot"),
               "water_crew": ("供水抢修站", "water repair depot"),
               "env_monitor": ("环境监测站", "environmental monitoring station")}


def _feature(layer: str, props: dict[str, Any], geometry: dict[str, Any]) -> dict[str, Any]:
    return {"type": "Feature", "properties": {"layer": layer, **props}, "geometry": geometry}


def _point(lat: float, lon: float) -> dict[str, Any]:
    return {"type": "Point", "coordinates": [round(lon, 6), round(lat, 6)]}


def _offset(lat: float, lon: float, east_m: float, north_m: float) -> list[float]:
    return [round(lon + east_m / (M_PER_DEG * math.cos(math.radians(lat))), 6),
            round(lat + north_m / M_PER_DEG, 6)]


def circle(lat: float, lon: float, radius_m: float) -> dict[str, Any]:
    """A Polygon approximating a circle of ``radius_m`` (``CIRCLE_SIDES`` sides)."""
    ring = [_offset(lat, lon, radius_m * math.sin(a), radius_m * math.cos(a))
            for a in (2 * math.pi * k / CIRCLE_SIDES for k in range(CIRCLE_SIDES))]
    return {"type": "Polygon", "coordinates": [ring + ring[:1]]}


def corridor(path: list[tuple[float, float]], width_m: float) -> dict[str, Any]:
    """A Polygon ``width_m`` wide along ``path`` ((lat, lon) points), flat ends."""
    half = width_m / 2
    left: list[list[float]] = []
    right: list[list[float]] = []
    for i, (lat, lon) in enumerate(path):
        a, b = path[max(i - 1, 0)], path[min(i + 1, len(path) - 1)]
        dx = (b[1] - a[1]) * math.cos(math.radians(lat))
        dy = b[0] - a[0]
        n = math.hypot(dx, dy) or 1.0
        nx, ny = -dy / n, dx / n                     # left normal (east, north)
        left.append(_offset(lat, lon, nx * half, ny * half))
        right.append(_offset(lat, lon, -nx * half, -ny * half))
    ring = left + right[::-1]
    return {"type": "Polygon", "coordinates": [ring + ring[:1]]}


def district_features(profile: CityProfile) -> list[dict[str, Any]]:
    fc = load_outlines(profile) or {"features": []}
    return [_feature("district", {k: f["properties"][k] for k in ("code", "name_zh", "name_en")},
                     f["geometry"]) for f in fc["features"]]


def road_features(profile: CityProfile) -> list[dict[str, Any]]:
    out = []
    for f in (load_roads(profile) or {"features": []})["features"]:
        p = f["properties"]
        if p.get("kind") == "river":
            out.append(_feature("river", {"id": p["id"], "name_zh": p["name_zh"],
                                          "name_en": p["name_en"]}, f["geometry"]))
        else:
            out.append(_feature("road", {"id": p["id"], "class": p["class"],
                                         "name_zh": p["name_zh"], "name_en": p["name_en"],
                                         "crossing": p.get("crossing")}, f["geometry"]))
    return out


def station_features(profile: CityProfile, registry: Any = None) -> list[dict[str, Any]]:
    """Hospitals, fire stations and district depots, each with the units based there."""
    units: dict[str, Counter[str]] = {}
    for u in registry or ():
        if u.station_id:
            units.setdefault(u.station_id, Counter())[u.kind] += 1
    out = []
    for kind, places in (("hospital", profile.hospitals), ("fire_station", profile.fire_stations)):
        for f in places:
            out.append(_feature("station", {"id": f.id, "kind": kind, "name_zh": f.zh,
                                            "name_en": f.en, "district": f.district,
                                            "units": dict(units.pop(f.id, {}))},
                                _point(f.lat, f.lon)))
    home = {u.station_id: u for u in registry or () if u.station_id in units}
    for sid in sorted(units):
        u = home[sid]
        zh, en = DEPOT_NAMES.get(u.kind, ("驻地", "depot"))
        d = next((x for x in profile.districts if x.code == u.district), None)
        out.append(_feature("station", {
            "id": sid, "kind": "depot", "district": u.district,
            "name_zh": f"{d.zh if d else ''}{zh}", "name_en": f"{d.en + ' ' if d else ''}{en}",
            "units": dict(units[sid])}, _point(u.home_lat, u.home_lon)))
    return out


def geofence_features(zones: list[dict[str, Any]], rules: dict[str, str]) -> list[dict[str, Any]]:
    """The hazmat detector's zones (``HazmatDetector.zones``) as polygons with their rule."""
    out = []
    for z in zones:
        geom = (corridor([(p[0], p[1]) for p in z["path"]], z["half_km"] * 2000)
                if z["path"] and z["half_km"] > 0 else
                circle(z["lat"], z["lon"], z["radius_km"] * 1000))
        out.append(_feature("geofence", {"id": z["key"], "class": z["cls"],
                                         "rule": rules.get(z["cls"]), "name_zh": z["zh"],
                                         "name_en": z["en"], "district": z["district"]}, geom))
    return out


def _bounds(features: list[dict[str, Any]], profile: CityProfile) -> list[float]:
    xs: list[float] = []
    ys: list[float] = []

    def walk(c: Any) -> None:
        if c and isinstance(c[0], (int, float)):
            xs.append(float(c[0]))
            ys.append(float(c[1]))
        else:
            for x in c:
                walk(x)
    for f in features:
        if f["properties"]["layer"] == "district":
            walk(f["geometry"]["coordinates"])
    if not xs:
        b = profile.bounds
        return [b.lon_min, b.lat_min, b.lon_max, b.lat_max]
    return [min(xs), min(ys), max(xs), max(ys)]


def basemap(profile: CityProfile, registry: Any = None,
            hazmat: Any = None) -> dict[str, Any]:
    """The base map of ``profile``'s city. ``registry`` (the dispatch fleet, default: the
    city's at scale 1) gives stations their units; ``hazmat`` (a ``HazmatDetector``, default:
    the one the pipeline builds, ``HazmatDetector(profile)``) gives the geofences."""
    if registry is None:
        from city.dispatch_config import registry_for
        registry = registry_for(profile)
    if hazmat is None:
        from detectors.hazmat import HazmatDetector
        hazmat = HazmatDetector(profile)
    features = (district_features(profile) + road_features(profile)
                + station_features(profile, registry)
                + geofence_features(hazmat.zones, hazmat.rules))
    return {"type": "FeatureCollection", "name": profile.name,
            "name_zh": profile.name_zh, "name_en": profile.name_en,
            "bounds": _bounds(features, profile),
            "center": [profile.center[1], profile.center[0]], "features": features}
