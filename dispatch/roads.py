"""A road network as GeoJSON -> :class:`RoadGraph` (pure: the caller reads the file).

The format (any city can bring its own, e.g. exported from OpenStreetMap and reshaped):
a FeatureCollection in WGS-84 ([lon, lat] positions). Road features are LineStrings with
properties ``id`` (unique, no ``:``), ``kind: "road"``, ``name_zh``, ``name_en``, ``class``
(one of :data:`dispatch.graph.ROAD_CLASSES`), ``lanes`` (per direction), ``speed_kmh`` (free
flow), ``oneway`` (default false) and ``crossing`` (``"bridge"``, ``"tunnel"`` or null: a way
over water). River features (``kind: "river"``, LineString or Polygon) are kept for checks
and maps. Nodes are the distinct vertices rounded to 6 decimals (~0.1 m), so roads that meet
share a vertex; segment ``k`` of feature ``F`` is the directed edge ``"F:k"`` (along the
line) and ``"F:k:r"`` (against it, unless one-way).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from dispatch.graph import EARTH_M, ROAD_CLASSES, RoadGraph, RoadGraphError

CROSSINGS = ("bridge", "tunnel")
KINDS = ("road", "river")
MAX_LANES = 8
MAX_KMH = 150.0
_WGS84 = ("urn:ogc:def:crs:OGC:1.3:CRS84", "urn:ogc:def:crs:OGC::CRS84", "EPSG:4326",
          "urn:ogc:def:crs:EPSG::4326")


@dataclass(frozen=True)
class River:
    id: str
    name_zh: str
    name_en: str
    points: tuple[tuple[float, float], ...]   # (lat, lon); a Polygon's outer ring, closed


def _where(i: int, feature: Any) -> str:
    props = feature.get("properties") if isinstance(feature, Mapping) else None
    fid = props.get("id") if isinstance(props, Mapping) else None
    fid = fid if isinstance(fid, str) and fid else None
    return f"feature {i}" + (f" ({fid!r})" if fid else "")


def _features(obj: Any) -> list[Any]:
    if not isinstance(obj, Mapping) or obj.get("type") != "FeatureCollection":
        raise RoadGraphError("a road network must be a GeoJSON FeatureCollection")
    crs = obj.get("crs")
    if crs is not None:
        props = crs.get("properties") if isinstance(crs, Mapping) else None
        name = props.get("name") if isinstance(props, Mapping) else crs
        if not isinstance(name, str) or name not in _WGS84:
            raise RoadGraphError(f"coordinates must be WGS-84 longitude/latitude, "
                                 f"not crs {name!r}")
    feats = obj.get("features")
    if not isinstance(feats, list) or not feats:
        raise RoadGraphError("a road network needs a non-empty 'features' list")
    return feats


def _positions(coords: Any, where: str, min_len: int) -> list[tuple[float, float]]:
    """[[lon, lat], ...] -> [(lat, lon), ...], checked to be WGS-84 degrees."""
    if not isinstance(coords, list) or len(coords) < min_len:
        raise RoadGraphError(f"{where}: needs at least {min_len} positions")
    out = []
    for k, p in enumerate(coords):
        if (not isinstance(p, list) or len(p) not in (2, 3)
                or not all(isinstance(c, (int, float)) and not isinstance(c, bool) for c in p)):
            raise RoadGraphError(f"{where}: position {k} is not [lon, lat]")
        lon, lat = float(p[0]), float(p[1])
        if not (math.isfinite(lon) and math.isfinite(lat)):
            raise RoadGraphError(f"{where}: position {k} is not a finite number")
        if abs(lat) > 90 or abs(lon) > 180:
            raise RoadGraphError(f"{where}: position {k} [{lon}, {lat}] is not WGS-84 "
                                 f"degrees (projected metres, or lat/lon swapped?)")
        out.append((lat, lon))
    return out


def _text(props: Mapping[str, Any], key: str, where: str) -> str:
    v = props.get(key)
    if not isinstance(v, str) or not v.strip():
        raise RoadGraphError(f"{where}: property {key!r} must be a non-empty string")
    return v


def _road(props: Mapping[str, Any], where: str) -> tuple[str, int, float, bool, bool]:
    cls = props.get("class")
    if cls not in ROAD_CLASSES:
        raise RoadGraphError(f"{where}: unknown road class {cls!r} (one of {ROAD_CLASSES})")
    lanes = props.get("lanes")
    if not isinstance(lanes, int) or isinstance(lanes, bool) or not 1 <= lanes <= MAX_LANES:
        raise RoadGraphError(f"{where}: 'lanes' must be an integer 1..{MAX_LANES} per "
                             f"direction, got {lanes!r}")
    kmh = props.get("speed_kmh")
    if kmh is None:
        raise RoadGraphError(f"{where}: missing free-flow 'speed_kmh'")
    if (not isinstance(kmh, (int, float)) or isinstance(kmh, bool) or not math.isfinite(kmh)
            or not 0 < kmh <= MAX_KMH):
        raise RoadGraphError(f"{where}: 'speed_kmh' must be in (0, {MAX_KMH:g}], got {kmh!r}")
    oneway = props.get("oneway", False)
    if not isinstance(oneway, bool):
        raise RoadGraphError(f"{where}: 'oneway' must be true or false, got {oneway!r}")
    crossing = props.get("crossing")
    if crossing is not None and crossing not in CROSSINGS:
        raise RoadGraphError(f"{where}: 'crossing' must be one of {CROSSINGS} or null, "
                             f"got {crossing!r}")
    return cls, lanes, float(kmh), oneway, crossing is not None


def _haversine_m(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    p1, p2 = np.radians(a[:, 0]), np.radians(b[:, 0])
    dl = np.radians(b[:, 1] - a[:, 1])
    h = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * EARTH_M * np.arcsin(np.sqrt(h))


def _feature(i: int, f: Any, seen: set[str]) -> tuple[str, dict[str, Any], dict[str, Any]]:
    where = _where(i, f)
    if not isinstance(f, Mapping) or f.get("type") != "Feature":
        raise RoadGraphError(f"{where}: not a GeoJSON Feature")
    props, geom = f.get("properties"), f.get("geometry")
    if not isinstance(props, Mapping) or not isinstance(geom, Mapping):
        raise RoadGraphError(f"{where}: needs 'properties' and 'geometry' objects")
    fid = props.get("id")
    if not isinstance(fid, str) or not fid or ":" in fid:
        raise RoadGraphError(f"{where}: 'id' must be a non-empty string without ':'")
    if fid in seen:
        raise RoadGraphError(f"{where}: duplicate id {fid!r}")
    seen.add(fid)
    kind = props.get("kind")
    if kind not in KINDS:
        raise RoadGraphError(f"{where}: unknown kind {kind!r} (one of {KINDS})")
    return where, dict(props), dict(geom)


def parse_roads(obj: Any) -> RoadGraph:
    """Check a road network and build its graph (RoadGraphError names the feature and why)."""
    nodes: dict[tuple[float, float], int] = {}
    lat: list[float] = []
    lon: list[float] = []
    src: list[int] = []
    dst: list[int] = []
    seg_m: list[float] = []
    cols: dict[str, list[Any]] = {k: [] for k in ("kmh", "cls", "lanes", "id", "zh", "en", "x")}
    seen: set[str] = set()

    def node(p: tuple[float, float]) -> int:
        key = (round(p[0], 6), round(p[1], 6))
        if key not in nodes:
            nodes[key] = len(lat)
            lat.append(key[0])
            lon.append(key[1])
        return nodes[key]

    for i, f in enumerate(_features(obj)):
        where, props, geom = _feature(i, f, seen)
        if props["kind"] != "road":
            continue
        if geom.get("type") != "LineString":
            raise RoadGraphError(f"{where}: a road must be a LineString, got {geom.get('type')!r}")
        pts = _positions(geom.get("coordinates"), where, 2)
        zh, en = _text(props, "name_zh", where), _text(props, "name_en", where)
        cls, lanes, kmh, oneway, crossing = _road(props, where)
        ids = [node(p) for p in pts]
        xy = np.array([(lat[a], lon[a]) for a in ids])
        length = _haversine_m(xy[:-1], xy[1:])
        for k, (a, b) in enumerate(zip(ids, ids[1:])):
            if a == b:
                raise RoadGraphError(f"{where}: segment {k} has zero length (position {k + 1} "
                                     f"repeats position {k} to 6 decimals)")
            ways = [(a, b, f"{props['id']}:{k}")]
            if not oneway:
                ways.append((b, a, f"{props['id']}:{k}:r"))
            for s, d, eid in ways:
                src.append(s)
                dst.append(d)
                seg_m.append(float(length[k]))
                for col, v in zip(("kmh", "cls", "lanes", "id", "zh", "en", "x"),
                                  (kmh, cls, lanes, eid, zh, en, crossing)):
                    cols[col].append(v)
    if not src:
        raise RoadGraphError("a road network needs at least one road feature")
    return RoadGraph.from_edges(lat, lon, src, dst, cols["kmh"], length_m=seg_m,
                                road_class=cols["cls"], lanes=cols["lanes"], edge_id=cols["id"],
                                name_zh=cols["zh"], name_en=cols["en"], crossing=cols["x"])


def rivers(obj: Any) -> list[River]:
    """The river features (LineString, or a Polygon's outer ring), checked like roads."""
    out: list[River] = []
    seen: set[str] = set()
    for i, f in enumerate(_features(obj)):
        where, props, geom = _feature(i, f, seen)
        if props["kind"] != "river":
            continue
        gtype, coords = geom.get("type"), geom.get("coordinates")
        if gtype == "LineString":
            pts = _positions(coords, where, 2)
        elif gtype == "Polygon" and isinstance(coords, list) and coords:
            pts = _positions(coords[0], where, 4)
        else:
            raise RoadGraphError(f"{where}: a river must be a LineString or Polygon, "
                                 f"got {gtype!r}")
        out.append(River(props["id"], _text(props, "name_zh", where),
                         _text(props, "name_en", where), tuple(pts)))
    return out
