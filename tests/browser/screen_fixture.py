"""A stand-in basemap for the big-screen tests until ``/basemap.json`` is served (interface 1
of issue 15: one FeatureCollection, ``properties.layer`` district | road | river | station,
top-level ``bounds`` and ``center``): the city profile's districts as 32-sided polygons of
their radius, its roads and rivers, its fire stations."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

CITY = Path(__file__).resolve().parents[2] / "city"


def _circle(lat: float, lon: float, radius_km: float, n: int = 32) -> list[list[float]]:
    k = radius_km / 111.32
    ring = [[round(lon + k * math.cos(2 * math.pi * i / n) / math.cos(math.radians(lat)), 5),
             round(lat + k * math.sin(2 * math.pi * i / n), 5)] for i in range(n)]
    return ring + ring[:1]


def basemap() -> dict[str, Any]:
    profile = json.loads((CITY / "changsha.json").read_text(encoding="utf-8"))
    roads = json.loads((CITY / "changsha_roads.geojson").read_text(encoding="utf-8"))
    feats: list[dict[str, Any]] = []
    for d in profile["districts"]:
        lat, lon = d["center"]
        feats.append({"type": "Feature", "properties": {
            "layer": "district", "code": d["code"], "name_zh": d["zh"], "name_en": d["en"]},
            "geometry": {"type": "Polygon", "coordinates": [_circle(lat, lon, d["radius_km"])]}})
    for f in roads["features"]:
        p = f["properties"]
        feats.append({"type": "Feature", "geometry": f["geometry"], "properties": {
            "layer": "river" if p.get("kind") == "river" else "road", "class": p.get("class"),
            "name_zh": p.get("name_zh"), "name_en": p.get("name_en")}})
    for s in profile["fire_stations"]:
        feats.append({"type": "Feature", "properties": {
            "layer": "station", "name_zh": s["zh"], "name_en": s["en"]},
            "geometry": {"type": "Point", "coordinates": [s["lon"], s["lat"]]}})
    xs = [c[0] for f in feats if f["properties"]["layer"] == "district"
          for c in f["geometry"]["coordinates"][0]]
    ys = [c[1] for f in feats if f["properties"]["layer"] == "district"
          for c in f["geometry"]["coordinates"][0]]
    return {"type": "FeatureCollection", "features": feats,
            "bounds": [min(xs), min(ys), max(xs), max(ys)],
            "center": [(min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2]}
