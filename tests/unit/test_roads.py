"""dispatch.roads: GeoJSON -> RoadGraph (every bad input named), and the committed Changsha
network: only bridges and tunnels cross water, one strongly connected component, every
hospital and fire station on the network, the river really costs a detour."""

from __future__ import annotations

import copy
import re
import dataclasses
import time
from typing import Any, Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from city.profile import ProfileError, load_roads
from city.roads_check import (check_all, check_connected, check_crossing_ends,
                               check_facilities, check_water)
from city.roads_geom import dist_m
from dispatch.graph import RoadGraphError
from dispatch.roads import parse_roads, rivers
from unit_helpers import PROFILE


def _road(fid: str, coords: list[list[float]], **props: Any) -> dict[str, Any]:
    p = {"id": fid, "kind": "road", "name_zh": "路", "name_en": "Road", "class": "arterial",
         "lanes": 2, "speed_kmh": 50, "oneway": False, "crossing": None, **props}
    return {"type": "Feature", "properties": p,
            "geometry": {"type": "LineString", "coordinates": coords}}


def _river(fid: str, coords: list[list[float]]) -> dict[str, Any]:
    return {"type": "Feature",
            "properties": {"id": fid, "kind": "river", "name_zh": "河", "name_en": "River"},
            "geometry": {"type": "LineString", "coordinates": coords}}


def _fc(*features: dict[str, Any]) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": list(features)}


# A river running north at lon 112.95; roads A (west bank, north-south), B (east bank),
# and bridge X joining them at lat 28.20.
RIVER = _river("r", [[112.95, 28.15], [112.95, 28.25]])
WEST = _road("A", [[112.94, 28.18], [112.94, 28.20], [112.94, 28.22]])
EAST = _road("B", [[112.96, 28.18], [112.96, 28.20], [112.96, 28.22]])
BRIDGE = _road("X", [[112.94, 28.20], [112.96, 28.20]], **{"class": "bridge"},
               crossing="bridge")
GOOD = _fc(RIVER, WEST, EAST, BRIDGE)


def test_a_small_network_parses_into_shared_nodes_and_named_directed_edges() -> None:
    g = parse_roads(GOOD)
    assert g.nodes == 6          # the bridge's ends are vertices of A and B
    assert g.edges == 2 * 5
    assert {"A:0", "A:0:r", "A:1", "A:1:r", "X:0", "X:0:r"} <= set(g.edge_id)
    x = g.edge_index("X:0")
    assert x is not None and bool(g.crossing[x]) and g.road_class[x] == "bridge"
    assert g.length_m[x] == pytest.approx(dist_m((28.2, 112.94), (28.2, 112.96)), rel=0.005)
    a = g.edge_index("A:0")
    assert a is not None and not g.crossing[a] and g.lanes[a] == 2 and g.free_kmh[a] == 50
    assert [r.id for r in rivers(GOOD)] == ["r"]
    assert rivers(GOOD)[0].points[0] == (28.15, 112.95)     # (lat, lon)


def test_one_way_roads_have_only_the_forward_edge() -> None:
    g = parse_roads(_fc(_road("O", [[112.9, 28.1], [112.91, 28.1], [112.92, 28.1]],
                              oneway=True)))
    assert g.edge_id == ("O:0", "O:1")


def test_a_route_over_parallel_roads_takes_the_fastest_open_one() -> None:
    ends = [[112.90, 28.10], [112.91, 28.10]]
    g = parse_roads(_fc(_road("slow", ends, speed_kmh=30), _road("fast", ends, speed_kmh=80)))
    assert g.nodes == 2
    route = g.route(0, 1)
    assert route is not None and [g.edge_id[e] for e in route.edges] == ["fast:0"]
    kmh = np.where(np.array(g.edge_id) == "fast:0", 0.0, g.free_kmh)
    route = g.route(0, 1, kmh)
    assert route is not None and [g.edge_id[e] for e in route.edges] == ["slow:0"]


def test_a_river_may_be_a_polygon() -> None:
    poly = {"type": "Feature", "properties": {"id": "lake", "kind": "river", "name_zh": "湖",
                                              "name_en": "Lake"},
            "geometry": {"type": "Polygon", "coordinates": [[[112.9, 28.1], [112.91, 28.1],
                                                             [112.91, 28.11], [112.9, 28.1]]]}}
    assert len(rivers(_fc(poly, WEST))[0].points) == 4


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """Mutation setting feature 2 (road 'B') property or geometry part ``path``."""
    def go(fc: dict[str, Any]) -> None:
        f = fc["features"][2]
        where, _, key = path.partition(".")
        target = f["properties"] if where == "p" else f["geometry"]
        if value is _DROP:
            target.pop(key)
        else:
            target[key] = value
    return go


_DROP = object()

BAD: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    ("not a collection", lambda fc: fc.update(type="Feature"), "FeatureCollection"),
    ("no features", lambda fc: fc.update(features=[]), "non-empty 'features'"),
    ("projected crs", lambda fc: fc.update(crs={"type": "name", "properties":
                                                {"name": "EPSG:3857"}}), "WGS-84"),
    ("crs without a name", lambda fc: fc.update(crs={"properties": 5}), "WGS-84"),
    ("properties as a list", lambda fc: fc["features"][2].update(properties=[1]),
     "feature 2: needs 'properties'"),
    ("not a feature", lambda fc: fc["features"][2].update(type="Point"), "feature 2 ('B')"),
    ("missing id", _set("p.id", _DROP), "'id' must be"),
    ("id with a colon", _set("p.id", "B:1"), "without ':'"),
    ("duplicate id", _set("p.id", "A"), "duplicate id 'A'"),
    ("unknown kind", _set("p.kind", "canal"), "unknown kind 'canal'"),
    ("point geometry", _set("g.type", "Point"), "must be a LineString"),
    ("one position", _set("g.coordinates", [[112.96, 28.18]]), "at least 2 positions"),
    ("position as text", _set("g.coordinates", [[112.96, 28.18], ["112.96", "28.2"]]),
     "position 1 is not [lon, lat]"),
    ("not finite", _set("g.coordinates", [[112.96, 28.18], [float("nan"), 28.2]]),
     "position 1 is not a finite number"),
    ("projected metres", _set("g.coordinates", [[12_570_000.0, 3_270_000.0],
                                                [12_571_000.0, 3_270_000.0]]),
     "position 0 [12570000.0, 3270000.0] is not WGS-84 degrees"),
    ("lat/lon swapped", _set("g.coordinates", [[28.18, 112.96], [28.2, 112.96]]),
     "is not WGS-84 degrees"),
    ("repeated vertex", _set("g.coordinates", [[112.96, 28.18], [112.9600001, 28.18]]),
     "segment 0 has zero length"),
    ("unknown class", _set("p.class", "motorway"), "unknown road class 'motorway'"),
    ("no lanes", _set("p.lanes", 0), "'lanes' must be an integer 1..8"),
    ("too many lanes", _set("p.lanes", 9), "got 9"),
    ("lanes as text", _set("p.lanes", "3"), "got '3'"),
    ("lanes as bool", _set("p.lanes", True), "got True"),
    ("missing speed", _set("p.speed_kmh", _DROP), "missing free-flow 'speed_kmh'"),
    ("zero speed", _set("p.speed_kmh", 0), "'speed_kmh' must be in (0, 150]"),
    ("too fast", _set("p.speed_kmh", 200), "got 200"),
    ("speed as text", _set("p.speed_kmh", "fast"), "got 'fast'"),
    ("oneway as text", _set("p.oneway", "yes"), "'oneway' must be true or false"),
    ("unknown crossing", _set("p.crossing", "ferry"), "'crossing' must be one of"),
    ("blank name", _set("p.name_zh", " "), "'name_zh' must be a non-empty string"),
    ("properties missing", lambda fc: fc["features"][2].pop("properties"),
     "feature 2: needs 'properties'"),
]


@pytest.mark.parametrize("mutate, reason", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_a_bad_network_is_refused_naming_the_feature_and_why(
        mutate: Callable[[dict[str, Any]], None], reason: str) -> None:
    fc = copy.deepcopy(GOOD)
    mutate(fc)
    with pytest.raises(RoadGraphError) as err:
        parse_roads(fc)
    assert reason in str(err.value)
    if re.match(r"feature \d", str(err.value)):      # the per-feature errors name it
        assert str(err.value).startswith("feature 2")


def test_a_bad_river_is_refused_by_the_river_accessor() -> None:
    fc = copy.deepcopy(GOOD)
    fc["features"][0]["geometry"] = {"type": "Point", "coordinates": [112.95, 28.2]}
    with pytest.raises(RoadGraphError, match=r"feature 0 \('r'\): a river must be a LineString"):
        rivers(fc)


def test_only_crossings_may_cut_a_river_and_each_must_cut_one() -> None:
    assert check_water(GOOD) == []
    wet = _road("W", [[112.94, 28.23], [112.96, 28.23]])
    dry = _road("D", [[112.94, 28.18], [112.94, 28.16]], crossing="tunnel")
    assert check_water(_fc(RIVER, WEST, EAST, BRIDGE, wet, dry)) == [
        "W: crosses r without a bridge or tunnel", "D: a tunnel that crosses no river"]


def test_a_bridge_must_lead_somewhere() -> None:
    assert check_crossing_ends(GOOD) == []
    short = copy.deepcopy(GOOD)
    short["features"][3]["geometry"]["coordinates"][-1] = [112.965, 28.20]
    assert check_crossing_ends(short) == ["X: the bridge ends at [112.965, 28.2] on no other road"]


def test_islands_are_reported_with_a_node_and_an_edge() -> None:
    assert check_connected(parse_roads(GOOD)) == []
    lone = _road("L", [[113.5, 28.1], [113.51, 28.1]])
    problems = check_connected(parse_roads(_fc(RIVER, WEST, EAST, BRIDGE, lone)))
    assert len(problems) == 1
    assert "island of 2 node(s)" in problems[0] and "(28.100000, 113.5" in problems[0]
    assert "edge L:0" in problems[0]
    # a one-way bridge: you can cross but not come back, so the east bank is a trap
    one_way = copy.deepcopy(GOOD)
    one_way["features"][3]["properties"]["oneway"] = True
    assert len(check_connected(parse_roads(one_way))) == 1


# ------------------------------------------------------------------ the Changsha network

@pytest.fixture(scope="module")
def changsha() -> dict[str, Any]:
    raw = load_roads(PROFILE)
    assert raw is not None
    return raw


def test_changsha_passes_every_check(changsha: dict[str, Any]) -> None:
    assert check_all(changsha, PROFILE) == []
    g = parse_roads(changsha)
    assert 800 <= g.nodes <= 3000
    assert set(g.road_class) <= {"expressway", "ring", "arterial", "bridge", "tunnel"}
    assert {r.name_zh for r in rivers(changsha)} >= {"湘江", "浏阳河", "捞刀河"}
    assert {"source", "method", "license", "generated_by"} <= set(changsha["citycc"])


def test_the_named_xiang_crossings_are_the_only_ways_over_the_xiang(
        changsha: dict[str, Any]) -> None:
    names = {f["properties"]["name_zh"] for f in changsha["features"]
             if f["properties"].get("crossing")}
    assert {"三汊矶大桥", "银盆岭大桥", "橘子洲大桥", "猴子石大桥", "黑石铺大桥", "湘府路大桥",
            "福元路大桥", "营盘路湘江隧道", "南湖路湘江隧道", "洪山大桥"} <= names


def test_the_tunnels_follow_the_profile_paths(changsha: dict[str, Any]) -> None:
    """city/changsha.json already places the two Xiang tunnels (hazmat zones): one fact."""
    lines = {f["properties"]["name_en"]: f["geometry"]["coordinates"]
             for f in changsha["features"] if f["properties"].get("crossing") == "tunnel"}
    for zone in PROFILE.tunnels:
        line = [(lat, lon) for lon, lat in lines[zone.en]]
        for p in zone.path:
            assert min(dist_m(p, q) for q in line) < 1.0, (zone.id, p)


def test_crossing_the_xiang_costs_a_detour_over_a_bridge(changsha: dict[str, Any]) -> None:
    g = parse_roads(changsha)
    west, east = (28.160, 112.956), (28.160, 112.969)     # opposite banks, between bridges
    assert 1000 < dist_m(west, east) < 1500
    (a,), _ = g.nearest(np.array([west[0]]), np.array([west[1]]))
    (b,), _ = g.nearest(np.array([east[0]]), np.array([east[1]]))
    route = g.route(int(a), int(b))
    assert route is not None
    assert route.length_m > 5000                           # several km by road
    assert g.crossing[list(route.edges)].any()
    assert g.times_to(int(b))[a] == pytest.approx(route.time_s)
    # close the crossing it used: the way round is longer still, never across the water
    used = {g.name_en[e] for e in route.edges if g.crossing[e]}
    kmh = np.where([n in used for n in g.name_en], 0.0, g.free_kmh)
    detour = g.route(int(a), int(b), kmh)
    assert detour is not None and detour.time_s > route.time_s
    assert {g.name_en[e] for e in detour.edges if g.crossing[e]}.isdisjoint(used)


def test_every_facility_is_near_the_network(changsha: dict[str, Any]) -> None:
    g = parse_roads(changsha)
    assert check_facilities(g, PROFILE) == []
    far = dataclasses.replace(PROFILE.hospitals[0], id="H-FAR", lat=28.6, lon=114.2)
    assert check_facilities(g, dataclasses.replace(PROFILE, hospitals=(far,))) == [
        f"H-FAR ({far.en}) is "
        f"{g.nearest(np.array([28.6]), np.array([114.2]))[1][0]:.0f} m from the nearest "
        "road node (> 1500 m)"]


def test_profiles_without_roads_and_bad_road_names() -> None:
    assert load_roads(dataclasses.replace(PROFILE, roads=None)) is None
    with pytest.raises(ProfileError, match="unreadable"):
        load_roads(dataclasses.replace(PROFILE, roads="nowhere.geojson"))
    from city.profile import parse_profile
    import json
    from city.profile import PROFILE_DIR
    raw = json.loads((PROFILE_DIR / "changsha.json").read_text(encoding="utf-8"))
    for bad in ("../etc/passwd.geojson", "roads.json", 7):
        with pytest.raises(ProfileError, match="'roads' must be a .geojson file name"):
            parse_profile({**raw, "roads": bad})


def test_bench_times_to_on_the_changsha_graph(changsha: dict[str, Any]) -> None:
    """Not a timed assertion: prints the cost of one all-units ETA search (run with -s)."""
    g = parse_roads(changsha)
    targets = np.linspace(0, g.nodes - 1, 50).astype(int)
    t0 = time.perf_counter()
    for t in targets:
        assert np.isfinite(g.times_to(int(t))).all()     # strongly connected: all reach it
    per = (time.perf_counter() - t0) / len(targets) * 1e3
    print(f"\nbench: times_to on {g.nodes} nodes / {g.edges} edges: {per:.2f} ms per call")


_KEYS = ("type", "crs", "features", "properties", "geometry", "id", "kind", "class", "lanes",
         "speed_kmh", "oneway", "crossing", "coordinates", "name_zh")
_JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
                     lambda kids: st.lists(kids, max_size=4)
                     | st.dictionaries(st.sampled_from(_KEYS) | st.text(max_size=8), kids,
                                       max_size=4), max_leaves=12)


_PLACES = ([], ["features"]) + tuple(
    ["features", i, *rest] for i in range(4)
    for rest in ([], ["properties"], ["geometry"], ["geometry", "coordinates"],
                 ["geometry", "coordinates", 0]))


@settings(max_examples=400, deadline=None)
@given(place=st.sampled_from(_PLACES), key=st.sampled_from(_KEYS) | st.integers(0, 2),
       value=_JSON, crs=st.none() | _JSON)
def test_any_damage_to_a_network_is_a_road_graph_error_never_a_crash(
        place: list[Any], key: Any, value: Any, crs: Any) -> None:
    fc: Any = copy.deepcopy(GOOD)
    if crs is not None:
        fc["crs"] = crs
    target = fc
    for step in place:
        target = target[step]
    try:
        target[key] = value
    except (IndexError, TypeError):
        return
    for parse in (parse_roads, rivers):
        try:
            parse(fc)
        except RoadGraphError:
            pass
