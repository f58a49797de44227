"""Edge speeds (live readings, time-of-day baseline, accidents) and drive-time ETAs."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from dispatch.eta import (EtaConfig, Speeds, baseline_kmh, edge_speeds, etas_to,
                          free_flow_etas, local_hour, period, straight_m)
from dispatch.traffic import TrafficState
from grid_helpers import grid_graph

G = grid_graph(12, 500)
T = 1_780_000_000_000
N = 12


def node(r: int, c: int) -> tuple[float, float]:
    i = r * N + c
    return float(G.lat[i]), float(G.lon[i])


def test_local_hours_and_periods() -> None:
    midnight_utc = T - T % 86_400_000
    assert local_hour(midnight_utc, 8.0) == 8
    assert local_hour(midnight_utc + 17 * 3_600_000, 8.0) == 1
    assert [period(h) for h in (8, 12, 18, 23, 3)] == ["rush", "day", "rush", "night", "night"]


def test_rush_hour_is_slower_than_night_and_never_above_free_flow() -> None:
    rush, night = baseline_kmh(G, "rush"), baseline_kmh(G, "night")
    assert np.all(rush < night) and np.all(night <= G.free_kmh)


def test_a_live_reading_sets_both_directions_of_its_segment() -> None:
    ts = TrafficState(G)
    assert ts.observe_segment("row0:2", 7.0, 0.0, 0.0, T) == 2
    kmh = ts.apply(G.free_kmh, T + 1000)
    for eid in ("row0:2", "row0:2:r"):
        assert kmh[G.edge_index(eid)] == 7.0
    assert np.sum(kmh != G.free_kmh) == 2


def test_a_directed_edge_id_sets_that_direction_only() -> None:
    ts = TrafficState(G)
    assert ts.observe_segment("row0:2:r", 7.0, 0.0, 0.0, T) == 1
    kmh = ts.apply(G.free_kmh, T)
    assert kmh[G.edge_index("row0:2:r")] == 7.0 and kmh[G.edge_index("row0:2")] > 7.0


def test_an_unknown_segment_is_snapped_to_the_nearest_edge() -> None:
    ts = TrafficState(G)
    (la, lo), (lb, lb_lon) = node(3, 4), node(3, 5)
    assert ts.observe_segment("detector-77", 9.0, (la + lb) / 2, (lo + lb_lon) / 2, T) == 2
    kmh = ts.apply(G.free_kmh, T)
    assert kmh[G.edge_index("row3:4")] == 9.0 and kmh[G.edge_index("row3:4:r")] == 9.0
    assert ts.observe_segment("far-away", 9.0, 10.0, 10.0, T) == 0


def test_an_old_reading_is_ignored_and_a_late_one_does_not_overwrite() -> None:
    ts = TrafficState(G)
    ts.observe_segment("row0:2", 7.0, 0, 0, T)
    ts.observe_segment("row0:2", 30.0, 0, 0, T - 60_000)        # older: ignored
    i = G.edge_index("row0:2")
    assert ts.apply(G.free_kmh, T + 1)[i] == 7.0
    assert ts.apply(G.free_kmh, T + 601_000)[i] == G.free_kmh[i]   # > 10 min old
    assert ts.observe_segment("row0:2", 0.0, 0, 0, T + 2) and \
        ts.apply(G.free_kmh, T + 3)[i] > 0                         # a jam, not a closure


def test_accidents_slow_or_close_edges_until_cleared_or_expired() -> None:
    ts = TrafficState(G)
    lat, lon = node(5, 0)                  # on an arterial (3 lanes)
    ts.observe_accident("A1", 1, lat, lon, T)
    kmh = ts.apply(G.free_kmh, T)
    near = np.flatnonzero(kmh < G.free_kmh)
    assert len(near) and np.all(kmh[near] > 0)
    ts.observe_accident("A1", 3, lat, lon, T + 1000)           # every lane blocked
    assert ts.closed_edges(T + 1000)
    ts.observe_accident("A1", 0, lat, lon, T + 2000)           # cleared
    assert not ts.closed_edges(T + 2000)
    ts.observe_accident("A2", 3, lat, lon, T)
    assert ts.expire(T + 3_600_001) == ["A2"] and not ts.closed_edges(T)


def test_a_closed_bridge_makes_the_far_bank_slower() -> None:
    lat, lon = node(6, 3)
    far = node(6, 8)
    base = etas_to(G, Speeds(G, G.free_kmh, "free"), lat, lon, [far[0]], [far[1]])
    ts = TrafficState(G)
    ts.observe_accident("B3", 9, *node(3, N // 2 - 1), T)     # the only bridge (12 is off)
    closed = etas_to(G, edge_speeds(G, ts, T, 8.0), lat, lon, [far[0]], [far[1]])
    assert closed.eta_s[0] > base.eta_s[0]


def test_across_the_river_the_road_is_longer_than_the_crow_flies() -> None:
    a, b = node(6, N // 2 - 1), node(6, N // 2)    # 500 m apart, water between
    e = etas_to(G, Speeds(G, G.free_kmh, "free"), a[0], a[1], [b[0]], [b[1]])
    nodes, edges, metres = e.route(0)
    assert metres > 2000 and e.method == "road_graph"
    assert nodes[0] == 6 * N + N // 2 and nodes[-1] == 6 * N + N // 2 - 1
    assert abs(sum(G.length_m[list(edges)]) - metres) < 1.0


def test_without_a_graph_the_eta_is_straight_line_and_says_so() -> None:
    e = etas_to(None, None, 28.2, 112.9, [28.21], [112.9], EtaConfig(), "day")
    d = float(straight_m(np.array([28.21]), np.array([112.9]), 28.2, 112.9)[0])
    assert e.method == "straight_line"
    assert abs(e.route(0)[2] - d * 1.4) < 1e-6
    assert e.eta_s[0] >= free_flow_etas(None, 28.2, 112.9, [28.21], [112.9])[0]


points = st.tuples(st.integers(0, N - 1), st.integers(0, N - 1),
                   st.floats(-0.002, 0.002), st.floats(-0.002, 0.002))


@settings(max_examples=60, deadline=None)
@given(inc=points, units=st.lists(points, min_size=1, max_size=8),
       readings=st.lists(st.tuples(st.integers(0, G.edges - 1), st.floats(0, 200)),
                         max_size=30),
       accidents=st.lists(st.tuples(points, st.integers(0, 4)), max_size=3),
       hour=st.integers(0, 23), straight=st.booleans())
def test_no_eta_is_below_the_free_flow_time(inc, units, readings, accidents, hour,
                                            straight) -> None:
    def at(p):   # a point near a node
        la, lo = node(p[0], p[1])
        return la + p[2], lo + p[3]

    ts = TrafficState(G)
    for e, kmh in readings:
        ts.observe_segment(G.edge_id[e], kmh, 0, 0, T)
    for k, (p, lanes) in enumerate(accidents):
        ts.observe_accident(f"A{k}", lanes, *at(p), T)
    now = T - T % 86_400_000 + ((hour - 8) % 24) * 3_600_000
    ilat, ilon = at(inc)
    ulat = np.array([at(u)[0] for u in units])
    ulon = np.array([at(u)[1] for u in units])
    graph = None if straight else G
    speeds = None if straight else edge_speeds(G, ts, now, 8.0)
    eta = etas_to(graph, speeds, ilat, ilon, ulat, ulon, EtaConfig(),
                  period(hour)).eta_s
    free = free_flow_etas(graph, ilat, ilon, ulat, ulon)
    assert np.all(eta >= free - 1e-6)


def test_roads_without_a_reading_follow_the_readings_of_their_class() -> None:
    ts = TrafficState(G)
    arterial = [e for e in range(G.edges) if G.road_class[e] == "arterial"
                and not G.edge_id[e].endswith(":r")]
    for e in arterial[:6]:                               # 12 directed edges at 90% free
        ts.observe_segment(G.edge_id[e], 0.9 * G.free_kmh[e], 0, 0, T)
    rush = baseline_kmh(G, "rush")
    kmh = ts.apply(rush, T + 1000)
    other = arterial[10]
    local = next(e for e in range(G.edges) if G.road_class[e] == "local")
    assert abs(kmh[other] - 0.9 * G.free_kmh[other]) < 1e-6    # not the rush prior (0.45)
    assert abs(kmh[local] - 0.9 * G.free_kmh[local]) < 1e-6    # too few: all classes' level
    few = TrafficState(G)
    few.observe_segment(G.edge_id[arterial[0]], 10.0, 0, 0, T)
    assert few.apply(rush, T)[other] == rush[other]           # too little data: the prior


def test_a_live_reading_near_an_accident_is_not_slowed_twice() -> None:
    ts = TrafficState(G)
    lat, lon = node(5, 0)
    ts.observe_accident("A1", 1, lat, lon, T)
    e = int(ts.index.edges_near(lat, lon, ts.config.accident_radius_m)[0])
    ts.observe_segment(G.edge_id[e].removesuffix(":r"), 20.0, 0, 0, T + 1000)
    assert ts.apply(G.free_kmh, T + 2000)[e] == 20.0
    ts.observe_accident("A1", 3, lat, lon, T + 3000)            # a closure still closes
    assert ts.apply(G.free_kmh, T + 4000)[e] == 0.0
