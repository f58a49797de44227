"""Checks on a district-outline file against its city profile; the builder refuses to write a
file that fails them and the unit tests run them on the committed one."""

from __future__ import annotations

from itertools import combinations
from typing import Any

from city.polygons import in_multipolygon, ring_problems, rings_cross
from city.profile import CityProfile
from city.roads_geom import nearest_on

# A profile centre is an approximate point of reference (it scales nearest-district lookups);
# it may sit just across a border (Furong's is 0.31 km outside, in a neighbour): fine up to this.
CENTRE_SLACK_M = 1_000.0


def rings(geometry: dict[str, Any]) -> list[list[tuple[float, float]]]:
    """Every ring of a GeoJSON Polygon / MultiPolygon, as (lon, lat) tuples."""
    polys = ([geometry["coordinates"]] if geometry["type"] == "Polygon"
             else geometry["coordinates"])
    return [[(float(p[0]), float(p[1])) for p in r] for poly in polys for r in poly]


def check(fc: dict[str, Any], profile: CityProfile) -> list[str]:
    """Problems with the outlines (empty when none): one feature per district of the profile,
    valid closed rings inside the city's bounds, no two districts crossing, each district's
    centre inside its own outline."""
    problems: list[str] = []
    feats = fc.get("features", [])
    codes = [f["properties"].get("code") for f in feats]
    if sorted(codes) != sorted(profile.district_codes):
        problems.append(f"district codes {sorted(map(str, codes))} are not the profile's "
                        f"{sorted(profile.district_codes)}")
    b = profile.bounds
    by_code = {f["properties"]["code"]: rings(f["geometry"]) for f in feats}
    for code, rs in by_code.items():
        for k, ring in enumerate(rs):
            problems += [f"{code} ring {k}: {p}" for p in ring_problems(ring)]
            if not all(b.contains(lat, lon) for lon, lat in ring):
                problems.append(f"{code} ring {k} leaves the city's bounds {b}")
    for (ca, ra), (cb, rb) in combinations(by_code.items(), 2):
        if any(rings_cross(x, y) for x in ra for y in rb):
            problems.append(f"{ca} and {cb} cross each other")
    for f in feats:
        code = f["properties"]["code"]
        if code in profile.district_codes:
            d = profile.district(code)
            off = centre_offset_m(d.lat, d.lon, f["geometry"])
            if off > CENTRE_SLACK_M:
                problems.append(f"{code}: its centre {d.lat}, {d.lon} lies {off:.0f} m outside "
                                "its outline")
    return problems


def centre_offset_m(lat: float, lon: float, geometry: dict[str, Any]) -> float:
    """0 when (lat, lon) lies in ``geometry``, else its distance in metres to the outline."""
    if in_multipolygon(lon, lat, geometry):
        return 0.0
    return min(nearest_on([(p[1], p[0]) for p in r], (lat, lon))[0] for r in rings(geometry))
