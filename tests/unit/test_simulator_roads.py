"""The simulator on a road graph: units stay on it, cross the river where a bridge is, avoid
closed roads, never beat free flow, and do the same again for the same seed.

The graph here is a fixture (a 1 km street grid over central Changsha split by a "Xiang"
that three bridges cross), so these tests hold whatever graph the city profile carries.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from city.profile import load_profile
from dispatch.graph import RoadGraph
from simulator.generate import Simulation
from simulator.incidents import Effect
from simulator.motion import GraphMotion
from simulator.roadnet import segment_key
from simulator.world import build_world

PROFILE = load_profile("changsha")
START = 1768442400000           # 2026-01-15 10:00 in Changsha
RUSH = START - 2 * 3_600_000    # 08:00
MIN = 60_000
RIVER = 112.965
BRIDGES = (28.10, 28.20, 28.28)


def grid_graph(step: float = 0.01) -> RoadGraph:
    """Streets every ``step`` degrees over 28.0-28.4 N, 112.8-113.2 E; east-west streets
    cross the river only at the BRIDGES rows (edges ``"h<r>_<c>:0"``, crossing=True)."""
    lats = np.round(np.arange(28.0, 28.4 + 1e-9, step), 6)
    lons = np.round(np.arange(112.8, 113.2 + 1e-9, step), 6)
    cols = len(lons)
    src: list[int] = []
    dst: list[int] = []
    kmh: list[float] = []
    ids: list[str] = []
    cls: list[str] = []
    cross: list[bool] = []

    def add(a: int, b: int, fid: str, speed: float, c: str, x: bool) -> None:
        src.extend([a, b]), dst.extend([b, a]), kmh.extend([speed, speed])
        ids.extend([f"{fid}:0", f"{fid}:0:r"]), cls.extend([c, c]), cross.extend([x, x])

    for r in range(len(lats)):
        for c in range(cols):
            i = r * cols + c
            if c + 1 < cols:
                over = bool(lons[c] < RIVER < lons[c + 1])
                if not over or any(abs(lats[r] - b) < 1e-6 for b in BRIDGES):
                    major = r % 5 == 0 or over
                    add(i, i + 1, f"h{r}_{c}", 60.0 if major else 40.0,
                        "bridge" if over else ("arterial" if major else "collector"), over)
            if r + 1 < len(lats):
                major = c % 5 == 0
                add(i, i + cols, f"v{r}_{c}", 60.0 if major else 40.0,
                    "arterial" if major else "collector", False)
    return RoadGraph.from_edges(np.repeat(lats, cols), np.tile(lons, len(lats)), src, dst,
                                kmh, road_class=cls, edge_id=ids, crossing=cross,
                                lanes=[2] * len(src))


GRAPH = grid_graph()


def metres_to_graph(g: RoadGraph, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Distance of each point to the nearest edge (straight segments), in metres."""
    k = 111_320.0
    c = np.cos(np.radians(28.2))
    px, py = lon * k * c, lat * k
    ax, ay = g.lon[g.src] * k * c, g.lat[g.src] * k
    bx, by = g.lon[g.dst] * k * c, g.lat[g.dst] * k
    out = np.empty(len(lat))
    for s in range(0, len(lat), 500):
        x, y = px[s:s + 500, None], py[s:s + 500, None]
        dx, dy = bx - ax, by - ay
        f = np.clip(((x - ax) * dx + (y - ay) * dy) / (dx * dx + dy * dy), 0, 1)
        out[s:s + 500] = np.hypot(ax + f * dx - x, ay + f * dy - y).min(axis=1)
    return out


def run(sim: Simulation, minutes: int, step_ms: int = 60_000) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    t = sim.now_ms
    end = t + minutes * MIN
    while t < end:
        t = min(t + step_ms, end)
        for evs in sim.tick(t).values():
            events.extend(evs)
    return events


@pytest.fixture(scope="module")
def busy() -> dict[str, Any]:
    """Scale 0.2, 50 minutes from the morning rush, a structure fire, an accident and a
    hazmat leak on top of the everyday calls."""
    sim = Simulation(PROFILE, scale=0.2, seed=5, start_ms=RUSH, incidents=3.0, roads=GRAPH)
    sim.inject("structure_fire", RUSH + 2 * MIN, lat=28.2, lon=112.93)
    sim.inject("traffic_accident", RUSH + 3 * MIN, lat=28.2, lon=113.0)
    sim.inject("hazmat_leak", RUSH + 4 * MIN)
    return {"sim": sim, "events": run(sim, 50)}


def test_every_gps_fix_is_on_an_edge(busy: dict[str, Any]) -> None:
    fixes = {(e["lat"], e["lon"]) for e in busy["events"] if e["type"] in (
        "unit_gps", "engine_gps", "vehicle_gps", "unit_status", "engine_status")}
    lat, lon = np.array(sorted(fixes)).T
    assert len(lat) > 1000
    assert metres_to_graph(GRAPH, lat, lon).max() < 2.0


def test_units_move_and_trips_have_their_truth(busy: dict[str, Any]) -> None:
    sim, events = busy["sim"], busy["events"]
    moving = [e for e in events if e["type"] in ("unit_gps", "engine_gps") and e["speed_kmh"] > 0]
    assert len(moving) > 100 and max(e["speed_kmh"] for e in moving) <= 60.0
    trips = sim.trips
    assert {r["leg"] for r in trips} >= {"respond", "return"}
    fire = [e for e in events if e["type"] == "engine_status" and e["status"] == "on_scene"]
    assert fire
    for r in trips:
        assert r["arrival_ms"] > r["start_ms"] or r["route_m"] == 0
        assert r["travel_s"] == pytest.approx((r["arrival_ms"] - r["start_ms"]) / 1000, abs=1e-3)
        # true speeds never exceed free flow: the truth is never faster than free flow
        assert r["travel_s"] >= r["free_flow_s"] > 0 or r["route_m"] == 0
    # at 08:00 the rush slows some trips below free flow
    assert any(r["travel_s"] > 1.05 * r["free_flow_s"] for r in trips)
    # a unit reports on scene no earlier than its true arrival
    arrive = {(r["unit_id"], r["ref"]): r["arrival_ms"] for r in trips if r["leg"] == "respond"}
    seen = 0
    for e in events:
        key = (e["entity_id"], e.get("call_id") or e.get("incident_id"))
        if e.get("status") == "on_scene" and key in arrive:
            seen += 1
            t = np.datetime64(e["event_time"].rstrip("Z")).astype("datetime64[ms]").astype(int)
            assert arrive[key] <= t < arrive[key] + 5_000   # at the next GPS report
    assert seen >= 3


def test_detector_segments_are_graph_segments(busy: dict[str, Any]) -> None:
    segs = {segment_key(e) for e in GRAPH.edge_id}
    seen = {e["entity_id"] for e in busy["events"] if e["type"] == "segment"}
    assert seen and seen <= segs
    acc = [r for r in busy["sim"].truth if r["type"] == "traffic_accident"][0]
    roads = [e for e in acc["entities"] if ":" in e]   # (then the report and any 120 call)
    assert acc["entities"][0] in segs and set(roads) <= segs


def _motion(lat: float, lon: float, effects: list[Effect]) -> tuple[GraphMotion, Any]:
    world = build_world(PROFILE, 0.05, 3, GRAPH)
    assert world.roads is not None
    mot = GraphMotion(world.roads, np.array([lat]), np.array([lon]), np.array(["U-1"], object),
                      lambda: (effects, len(effects)))
    return mot, world.roads


def _crossings(mot: GraphMotion) -> list[float]:
    """Latitudes of the river crossings on unit 0's current route."""
    b = mot.book
    e = b.buf["edge"][b.lo[0]:b.hi[0]]
    e = e[e >= 0]
    return [round(float(GRAPH.lat[GRAPH.src[i]]), 2) for i in e if GRAPH.crossing[i]]


def test_a_trip_across_the_river_uses_a_bridge_and_stays_on_the_route() -> None:
    mot, _ = _motion(28.23, 112.94, [])             # west bank, between two bridges
    arrive = mot.go(np.array([0]), np.array([START]), np.array([28.23]), np.array([112.99]),
                    [("respond", "C-1")])
    assert _crossings(mot) == [28.2]                # the nearest bridge, exactly once
    route = set(mot.book.route_nodes(0).tolist())
    last = None
    for t in np.linspace(START, arrive[0], 40):
        lat, lon, speed, _, _ = mot.move(np.array([0]), np.array([t]))
        assert metres_to_graph(GRAPH, lat, lon)[0] < 1.0
        node, d = GRAPH.nearest(lat, lon)
        assert d[0] > 1.0 or int(node[0]) in route
        last = (lat[0], lon[0])
    assert last is not None and GRAPH.nearest(np.array([last[0]]), np.array([last[1]]))[1][0] < 1
    (rec,) = mot.take_done(float(arrive[0]))
    assert rec["crossings"] == 1 and rec["ref"] == "C-1" and rec["travel_s"] >= rec["free_flow_s"]


def test_a_closed_segment_is_avoided() -> None:
    _, net = _motion(28.23, 112.94, [])
    bridge = [i for i, e in enumerate(GRAPH.edge_id) if GRAPH.crossing[i]
              and abs(GRAPH.lat[GRAPH.src[i]] - 28.2) < 1e-6][0]
    seg = int(net.seg_of[bridge])
    closed = [Effect("segments", np.array([seg]), np.array([0.0]), START - MIN, START + 60 * MIN,
                     1)]
    mot, _ = _motion(28.23, 112.94, closed)
    mot.go(np.array([0]), np.array([START]), np.array([28.23]), np.array([112.99]))
    assert _crossings(mot) == [28.28]               # the next bridge north instead
    assert net.snapshot(START, closed)[bridge] == 0.0
    # after the closure, the same trip takes the bridge again
    mot, _ = _motion(28.23, 112.94, closed)
    mot.go(np.array([0]), np.array([START + 61 * MIN]), np.array([28.23]), np.array([112.99]))
    assert _crossings(mot) == [28.2]


def test_a_unit_on_its_way_is_rerouted_around_a_road_closed_after_it_left() -> None:
    effects: list[Effect] = []
    mot, net = _motion(28.23, 112.94, effects)
    arrive = mot.go(np.array([0]), np.array([START]), np.array([28.23]), np.array([112.99]),
                    [("respond", "C-2")])
    assert _crossings(mot) == [28.2]
    bridge = np.flatnonzero(GRAPH.crossing & np.isclose(GRAPH.lat[GRAPH.src], 28.2))
    effects.append(Effect("segments", np.unique(net.seg_of[bridge]), np.array([0.0]),
                          START + 30_000, START + 60 * MIN, 1))    # closed after it left
    t = np.array([START + 60_000])
    lat, lon, _, _, _ = mot.move(np.array([0]), t)
    shut = [(START, START + 60 * MIN, bridge)]
    assert len(mot.reroute(np.array([0]), t, shut)) == 1
    assert _crossings(mot) == [28.28]
    assert len(mot.reroute(np.array([0]), t, shut)) == 0     # the new route avoids it
    (rec,) = [mot.move(np.array([0]), np.array([x]))[4][0] and mot.take_done(np.inf)
              for x in [mot.book.end_t[0]]][0]
    assert rec["start_ms"] == START and rec["rerouted"] == 1 and rec["crossings"] == 1
    assert rec["arrival_ms"] > arrive[0] and rec["travel_s"] >= rec["free_flow_s"]
    assert rec["route_m"] > 4000


def test_incidents_slow_and_close_segments() -> None:
    sim = Simulation(PROFILE, scale=0.05, seed=9, start_ms=START, incidents=0, roads=GRAPH)
    inc = sim.inject("hazmat_leak", START + MIN, duration_s=1200)
    run(sim, 3)
    net = sim.world.roads
    assert net is not None
    seg = sim.fleets.hazmat_segment(inc.vehicle)         # the road the tanker stands on
    on = np.flatnonzero(net.seg_of == seg)
    effects, _ = sim._road_effects()
    assert (net.snapshot(START + 5 * MIN, effects)[on] == 0).all()       # closed
    assert (net.snapshot(START + 30 * MIN, effects)[on] > 0).all()       # open again


def test_same_seed_same_events_and_trips_whatever_the_ticks() -> None:
    def go(seed: int, step: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        sim = Simulation(PROFILE, scale=0.1, seed=seed, start_ms=START, incidents=4.0,
                         roads=GRAPH)
        sim.inject("structure_fire", START + 20_000)
        sim.inject("traffic_accident", START + 30_000)
        events = run(sim, 25, step)
        return sorted(events, key=lambda e: e["event_id"]), sim.trips
    a = go(4, 60_000)
    assert a[1] and a == go(4, 60_000)
    assert a == go(4, 7_777)
    assert [e["event_id"] for e in a[0]] != [e["event_id"] for e in go(5, 60_000)[0]]


def test_without_a_graph_units_keep_the_grid() -> None:
    sim = Simulation(PROFILE, scale=0.2, seed=5, start_ms=START, incidents=0, roads=None)
    assert sim.world.roads is None and sim.world.roadsegs is sim.world.segments
    sim.inject("structure_fire", START + MIN, lat=28.2, lon=112.93)
    events = run(sim, 15)
    gps = [e for e in events if e["type"] == "engine_gps" and e["speed_kmh"] > 0]
    assert gps and sim.trips == []
    assert metres_to_graph(GRAPH, np.array([e["lat"] for e in gps]),
                           np.array([e["lon"] for e in gps])).max() > 10
