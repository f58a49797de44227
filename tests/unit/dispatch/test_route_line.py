"""Route lines: a recommended unit's road path as a bounded [lon, lat] line for the map."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from board_helpers import GRID, RUNCARDS, T0, make_board, opened
from city.dispatch_config import registry_for
from city.profile import load_roads
from dispatch.eta import Speeds, etas_to
from dispatch.recommend import FleetState, build_package
from dispatch.roads import parse_roads
from dispatch.route_line import MAX_POINTS, TOLERANCE_M, rank, route_line, simplify
from unit_helpers import PROFILE

REG = registry_for(PROFILE, 0.2)
FREE = Speeds(GRID, GRID.free_kmh, "free")


def _offset(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    d = b - a
    seg = float(np.hypot(*d))
    q = p - a
    return abs(q[0] * d[1] - q[1] * d[0]) / seg if seg else float(np.hypot(*q))


def test_a_straight_run_keeps_its_ends_only() -> None:
    xy = np.column_stack([np.arange(50.0) * 100, np.zeros(50)])
    assert simplify(xy).tolist() == [0, 49]
    assert simplify(xy[:2]).tolist() == [0, 1] and simplify(xy[:1]).tolist() == [0]


def test_a_corner_is_kept() -> None:
    xy = np.array([[0, 0], [500, 0], [1000, 0], [1000, 500], [1000, 1000]], float)
    assert simplify(xy).tolist() == [0, 2, 4]


walks = st.lists(st.tuples(st.floats(-400, 400), st.floats(-400, 400)), min_size=1,
                 max_size=400)


@settings(max_examples=200, deadline=None)
@given(walks, st.integers(2, 120), st.floats(0, 200))
def test_simplified_lines_are_bounded_keep_their_ends_and_stay_close(
        steps: list[tuple[float, float]], max_points: int, tol: float) -> None:
    xy = np.cumsum(np.array(steps, float), axis=0)
    keep = simplify(xy, max_points, tol)
    n = len(xy)
    assert len(keep) <= max_points and list(keep) == sorted(set(keep.tolist()))
    assert keep[0] == 0 and keep[-1] == n - 1
    # a smaller bound keeps a subset of a larger one's vertices (nested)
    assert set(simplify(xy, max(2, max_points // 2), tol).tolist()) <= set(keep.tolist())
    if len(np.flatnonzero(rank(xy, tol) > tol)) <= max_points:
        # not cut by the bound: every vertex dropped lies within tol of the kept line
        for a, b in zip(keep, keep[1:]):
            for m in range(a + 1, b):
                assert _offset(xy[m], xy[a], xy[b]) <= tol + 1e-6


def test_a_bound_below_two_points_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        simplify(np.zeros((5, 2)), 1)


def test_the_line_runs_from_the_units_node_to_the_incidents_in_lon_lat_order() -> None:
    lat, lon = float(GRID.lat[300]), float(GRID.lon[300])
    e = etas_to(GRID, FREE, lat, lon, REG.home_lat, REG.home_lon)
    pkg = build_package(RUNCARDS.get("fire.structure"), 0, REG,
                        FleetState(["available"] * len(REG), [""] * len(REG)), e)
    assert pkg["items"]
    for it in pkg["items"]:
        i = REG.index(it["unit_id"])
        assert i is not None
        line = it["route"]
        assert 2 <= len(line) <= MAX_POINTS
        first, last = int(e.unit_node[i]), e.incident_node
        assert line[0] == [round(float(GRID.lon[first]), 5), round(float(GRID.lat[first]), 5)]
        assert line[-1] == [round(float(GRID.lon[last]), 5), round(float(GRID.lat[last]), 5)]
        # lon first: Changsha is at 111.9-114.3 E, 27.8-28.7 N
        assert all(111 < p[0] < 115 and 27 < p[1] < 29 for p in line)
        # a grid route turns at most a few times: its straight runs collapse to their ends
        assert len(line) < len(e.route(i)[0])


def test_a_unit_at_the_incidents_node_has_a_one_point_line() -> None:
    assert route_line(GRID, [7]) == [[round(float(GRID.lon[7]), 5),
                                      round(float(GRID.lat[7]), 5)]]
    assert route_line(GRID, []) == []


def test_without_a_road_graph_a_package_has_no_route_lines() -> None:
    e = etas_to(None, None, float(GRID.lat[300]), float(GRID.lon[300]), REG.home_lat,
                REG.home_lon)
    pkg = build_package(RUNCARDS.get("fire.structure"), 0, REG,
                        FleetState(["available"] * len(REG), [""] * len(REG)), e)
    assert pkg["items"] and all(it["route"] == [] for it in pkg["items"])


def test_a_package_record_carries_the_lines_within_the_record_limits() -> None:
    """A mass-casualty package (the card with the most units) on the board: every unit's
    line in the record, the record a few KB (the dispatch topic takes MiB-sized records;
    the warehouse row stores the payload whole)."""
    b = make_board(1.0)
    recs = b.observe_incident(opened("INC-MC", "ems", T0, float(GRID.lat[300]),
                                     float(GRID.lon[300]), calls={f"C{k}": {} for k in range(3)}))
    pkg = next(r for r in recs if r["kind"] == "package_recommended")["payload"]
    assert pkg["card"]["id"] == "ems.mass_casualty" and len(pkg["items"]) >= 5
    assert pkg["items"] and all(len(it["route"]) >= 1 for it in pkg["items"])
    size = len(json.dumps(pkg, separators=(",", ":")))
    route_bytes = sum(len(json.dumps(it["route"], separators=(",", ":")))
                      for it in pkg["items"])
    assert route_bytes <= len(pkg["items"]) * MAX_POINTS * 24 and size < 256 * 1024


ROADS = load_roads(PROFILE)


@pytest.mark.skipif(ROADS is None, reason="the profile has no road graph")
def test_routes_across_changsha_stay_bounded() -> None:
    g = parse_roads(ROADS)
    far = int(np.argmax(np.hypot(g.lat - 28.2, g.lon - 112.97)))   # the farthest node
    e = etas_to(g, Speeds(g, g.free_kmh, "free"), float(g.lat[far]), float(g.lon[far]),
                g.lat[::50], g.lon[::50])
    lines = [route_line(g, e.route(i)[0], tol_m=TOLERANCE_M) for i in range(len(e.eta_s))
             if np.isfinite(e.eta_s[i])]
    assert lines and max(len(ln) for ln in lines) <= MAX_POINTS
    longest = max(range(len(e.eta_s)), key=lambda i: len(e.route(i)[0])
                  if np.isfinite(e.eta_s[i]) else 0)
    nodes = e.route(longest)[0]
    tight = route_line(g, nodes, max_points=8, tol_m=0.0)
    assert len(tight) == 8 and tight[0][0] == round(float(g.lon[nodes[0]]), 5)
