"""city.roads_build: the committed GeoJSON is what the builder makes of the readable source;
the builder's rules (junctions, grade separation, interchanges, bridges, snapping, density)
on small sources; the GCJ-02 -> WGS-84 conversion."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest
import yaml

from city.gcj02 import gcj02_to_wgs84, wgs84_to_gcj02
from city.roads_build import OUT_DIR, SRC_DIR, BuildError, build, dumps, main
from city.roads_check import check_water
from city.roads_geom import dist_m
from dispatch.roads import parse_roads


def test_the_committed_geojson_is_current_with_its_source() -> None:
    src = yaml.safe_load((SRC_DIR / "changsha.yaml").read_text(encoding="utf-8"))
    committed = (OUT_DIR / "changsha_roads.geojson").read_text(encoding="utf-8")
    assert dumps(build(src)) == committed, "run: python -m city.roads_build"


BASE: dict[str, Any] = {
    "name": "t", "crs": "wgs84", "densify_m": 400, "snap_m": 250,
    "defaults": {"expressway": {"lanes": 3, "speed_kmh": 100},
                 "arterial": {"lanes": 2, "speed_kmh": 50},
                 "bridge": {"lanes": 2, "speed_kmh": 50}},
    "rivers": [{"id": "r", "name_zh": "河", "name_en": "River",
                "line": [[28.10, 112.95], [28.30, 112.95]]}],
    "roads": [
        {"id": "ns", "name_zh": "南北路", "name_en": "NS Rd", "class": "arterial",
         "line": [[28.15, 112.90], [28.25, 112.90]]},
        {"id": "ew", "name_zh": "东西路", "name_en": "EW Rd", "class": "arterial",
         "line": [[28.20, 112.88], [28.20, 112.92]]},
    ],
}


def _src(*roads: dict[str, Any], **extra: Any) -> dict[str, Any]:
    s = copy.deepcopy(BASE)
    s["roads"] += [copy.deepcopy(r) for r in roads]
    s.update(extra)
    return s


def _lines(fc: dict[str, Any]) -> dict[str, list[tuple[float, float]]]:
    return {f["properties"]["id"]: [(lat, lon) for lon, lat in f["geometry"]["coordinates"]]
            for f in fc["features"]}


def test_at_grade_roads_that_cross_share_a_vertex() -> None:
    lines = _lines(build(_src()))
    assert (28.2, 112.9) in set(lines["ns"]) & set(lines["ew"])


EXPRESSWAY = {"id": "xw", "name_zh": "高速", "name_en": "Expressway", "class": "expressway",
              "line": [[28.17, 112.87], [28.23, 112.92]]}


def test_an_expressway_meets_roads_only_at_declared_interchanges() -> None:
    lines = _lines(build(_src(EXPRESSWAY)))
    assert not set(lines["xw"]) & (set(lines["ns"]) | set(lines["ew"]))
    lines = _lines(build(_src(EXPRESSWAY, interchanges=[["xw", "ew"]])))
    assert set(lines["xw"]) & set(lines["ew"]) and not set(lines["xw"]) & set(lines["ns"])
    with pytest.raises(BuildError, match="unknown road"):
        build(_src(EXPRESSWAY, interchanges=[["xw", "nowhere"]]))
    far = dict(EXPRESSWAY, line=[[28.30, 113.0], [28.31, 113.1]])
    with pytest.raises(BuildError, match=r"\['ew', 'xw'\] is declared but the roads never"):
        build(_src(far, interchanges=[["xw", "ew"]]))


def test_a_declared_river_crossing_becomes_a_bridge_piece() -> None:
    road = {"id": "x", "name_zh": "过河路", "name_en": "Cross Rd", "class": "arterial",
            "crosses": ["r"], "line": [[28.20, 112.92], [28.20, 112.98]]}
    fc = build(_src(road, bridge_half_m={"r": 100}))
    lines = _lines(fc)
    assert {"x", "x.b1", "x.2"} <= set(lines)
    props = {f["properties"]["id"]: f["properties"] for f in fc["features"]}
    assert props["x.b1"]["crossing"] == "bridge"
    assert props["x.b1"]["name_zh"] == "过河路河桥"
    assert dist_m(lines["x.b1"][0], lines["x.b1"][-1]) == pytest.approx(200, abs=2)
    assert lines["x"][-1] == lines["x.b1"][0] and lines["x.b1"][-1] == lines["x.2"][0]
    assert lines["ew"][-1] in lines["x"]               # the dangling end was snapped on
    assert check_water(fc) == []
    named = dict(road, crosses={"r": ["某大桥", "Some Bridge"]})
    assert {f["properties"]["name_en"] for f in build(_src(named))["features"]} >= {
        "Some Bridge"}


def test_a_crossing_that_is_not_declared_is_caught_and_a_declared_one_must_exist() -> None:
    wet = {"id": "w", "name_zh": "湿路", "name_en": "Wet Rd", "class": "arterial",
           "line": [[28.22, 112.92], [28.22, 112.98]]}
    assert check_water(build(_src(wet))) == ["w: crosses r without a bridge or tunnel"]
    dry = dict(wet, line=[[28.22, 112.80], [28.22, 112.85]], crosses=["r"])
    with pytest.raises(BuildError, match="declares it crosses 'r' but does not"):
        build(_src(dry))
    with pytest.raises(BuildError, match="unknown river 'nile'"):
        build(_src(dict(wet, crosses=["nile"])))


def test_segments_are_densified_to_the_step() -> None:
    fc = build(_src())
    for fid, line in _lines(fc).items():
        if fid == "r":
            continue                                     # rivers are kept as drawn
        gaps = [dist_m(a, b) for a, b in zip(line, line[1:])]
        assert max(gaps) <= 400 * 1.13
    g = parse_roads(fc)
    assert g.nodes > 11_000 / 400 + 4_000 / 400          # both roads, a vertex every ~400 m


def test_gcj02_sources_are_converted_to_wgs84() -> None:
    lat, lon = 28.2, 112.95
    glat, glon = wgs84_to_gcj02(lat, lon)
    assert 100 < dist_m((lat, lon), (glat, glon)) < 800   # the usual few hundred metres
    back = gcj02_to_wgs84(glat, glon)
    assert dist_m(back, (lat, lon)) < 0.01
    src = _src()
    src["crs"] = "gcj02"
    src["roads"][0]["line"] = [list(wgs84_to_gcj02(28.15, 112.90)),
                               list(wgs84_to_gcj02(28.25, 112.90))]
    line = _lines(build(src))["ns"]
    assert dist_m(line[0], (28.15, 112.90)) < 0.2 and dist_m(line[-1], (28.25, 112.90)) < 0.2
    with pytest.raises(BuildError, match="crs must be"):
        build(_src(crs="epsg3857"))


def test_the_command_line_checks_the_committed_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["changsha", "--check"]) == 0
    assert "current" in capsys.readouterr().out
    assert main(["atlantis", "--check"]) == 2
    assert "cannot build the atlantis road network" in capsys.readouterr().err


def test_the_changsha_build_is_deterministic_and_every_road_is_used() -> None:
    src = yaml.safe_load((SRC_DIR / "changsha.yaml").read_text(encoding="utf-8"))
    a, b = build(src), build(copy.deepcopy(src))
    assert a == b
    ids = {f["properties"]["id"].split(".")[0] for f in a["features"]}
    assert {r["id"] for r in src["roads"]} <= ids
    g = parse_roads(a)
    deg = np.bincount(np.concatenate([g.src, g.dst]), minlength=g.nodes)
    assert (deg > 0).all()


def test_changsha_expressways_and_tunnels_meet_roads_only_where_the_source_says() -> None:
    """Grade separation on the real network: every node an expressway or tunnel shares with
    another road is a waypoint both lines list, or a crossing of a declared interchange."""
    src = yaml.safe_load((SRC_DIR / "changsha.yaml").read_text(encoding="utf-8"))
    raw = {r["id"]: r for r in src["roads"]}
    declared = {frozenset(p) for p in src["interchanges"]}
    waypoints = {rid: {(round(p[1], 6), round(p[0], 6)) for p in r["line"]}
                 for rid, r in raw.items()}
    nodes: dict[str, set[tuple[float, float]]] = {}
    for f in build(src)["features"]:
        if f["properties"]["kind"] == "road":
            base = f["properties"]["id"].split(".")[0]
            nodes.setdefault(base, set()).update(tuple(c) for c in f["geometry"]["coordinates"])
    separated = [rid for rid, r in raw.items()
                 if r["class"] == "expressway" or r.get("crossing") == "tunnel"]
    checked = 0
    for a in separated:
        for b, theirs in nodes.items():
            if b == a:
                continue
            for node in nodes[a] & theirs:
                checked += 1
                assert (node in waypoints[a] and node in waypoints[b]) or \
                    frozenset((a, b)) in declared, (a, b, node)
    assert checked > 20
    # G4 passes over Xiangfu Road without an interchange, and the tunnels pass under the
    # riverside avenues without a junction
    assert not nodes["g4"] & nodes["xiangfu"]
    for tunnel in ("yingpan_tunnel", "nanhu_tunnel"):
        assert len(nodes[tunnel] & nodes["xiangjiang_e"]) == 0
        assert len(nodes[tunnel] & nodes["xiaoxiang"]) == 1      # the west portal
