"""The dispatch logic on Changsha's own road graph (city/changsha_roads.geojson)."""

from __future__ import annotations

import numpy as np
import pytest

from board_helpers import T0, cmd, event, make_board, opened
from city.profile import load_roads
from dispatch.eta import Speeds, etas_to, free_flow_etas, straight_m
from dispatch.roads import parse_roads
from unit_helpers import PROFILE

ROADS = load_roads(PROFILE)
pytestmark = pytest.mark.skipif(ROADS is None, reason="the profile has no road graph")
G = parse_roads(ROADS) if ROADS is not None else None
FREE = Speeds(G, G.free_kmh, "free") if G is not None else None
STATIONS = PROFILE.fire_stations
S_LAT = np.array([s.lat for s in STATIONS])
S_LON = np.array([s.lon for s in STATIONS])


def test_an_east_bank_fire_is_answered_from_the_east_bank() -> None:
    b = make_board(1.0, G)
    recs = b.observe_incident(opened("INC-1", "fire", T0, 28.20, 112.975, district="furong",
                                     kinds=("fire_alarm",)))
    pkg = recs[0]["payload"]
    assert pkg["method"] == "road_graph" and pkg["card"]["id"] == "fire.structure"
    engines = [it for it in pkg["items"] if it["capability"] == "engine"]
    assert engines[0]["station_id"] == "F-FR" and not pkg["unfilled"]
    res = b.command(cmd("dispatch_confirm", incident_id="INC-1",
                        package_id=pkg["package_id"]), T0 + 20_000)
    assert res.code == ""
    out = b.observe("fire", event("fire", "engine_status", engines[0]["unit_id"],
                                  T0 + 60_000, status="en_route"))
    assert sum(r["kind"] == "preemption_request" for r in out) >= 1


def test_the_river_makes_the_nearest_station_not_the_fastest_somewhere() -> None:
    assert G is not None and FREE is not None
    rng = np.random.default_rng(7)
    differ = 0
    for i in rng.choice(G.nodes, 150, replace=False):
        lat, lon = float(G.lat[i]), float(G.lon[i])
        road = etas_to(G, FREE, lat, lon, S_LAT, S_LON).eta_s
        crow = straight_m(S_LAT, S_LON, lat, lon)
        differ += int(np.argmin(road) != np.argmin(crow))
    assert differ > 0


def test_a_live_reading_on_a_feature_segment_slows_both_directions() -> None:
    assert G is not None
    b = make_board(0.2, G)
    seg = G.edge_id[0].removesuffix(":r")
    i, j = G.edge_index(seg), G.edge_index(seg + ":r")
    b.observe("traffic", event("traffic", "segment", seg, T0, lat=float(G.lat[G.src[i]]),
                               lon=float(G.lon[G.src[i]]), speed_kmh=5.0, flow_vph=100.0,
                               occupancy=0.9))
    assert b.traffic is not None
    kmh = b.traffic.apply(G.free_kmh, T0 + 1000)
    assert kmh[i] == 5.0 and (j is None or kmh[j] == 5.0)


def test_real_graph_etas_are_never_below_free_flow() -> None:
    assert G is not None
    b = make_board(1.0, G)
    speeds = b.planner.speeds(b.traffic, T0 - 2 * 3_600_000)     # 08:00 local: rush hour
    assert speeds is not None and speeds.when == "rush"
    reg = b.fleet.registry
    for lat, lon in ((28.19, 112.955), (28.25, 112.97), (28.11, 113.03)):
        e = etas_to(G, speeds, lat, lon, reg.home_lat, reg.home_lon).eta_s
        assert np.all(e >= free_flow_etas(G, lat, lon, reg.home_lat, reg.home_lon) - 1e-6)
