"""Coverage after a proposed assignment, move-ups that restore it, and green waves."""

from __future__ import annotations

import numpy as np

from city.dispatch_config import load_fleet
from dispatch.coverage import TARGETS, assess, demand_for, reached
from dispatch.eta import Speeds
from dispatch.greenwave import junctions, requests
from dispatch.units import Registry, UnitSpec
from grid_helpers import grid_graph
from unit_helpers import PROFILE

G = grid_graph(24, 600)
N = 24
SPEEDS = Speeds(G, G.free_kmh, "free")


def at(r: int, c: int) -> tuple[float, float]:
    return float(G.lat[r * N + c]), float(G.lon[r * N + c])


def amb(uid: str, station: str, where: tuple[float, float]) -> UnitSpec:
    return UnitSpec(uid, "ambulance", "ems", "ems", frozenset({"bls"}), station, "yuelu",
                    where[0], where[1], 2)


def fleet() -> Registry:
    west, east = at(12, 4), at(12, 19)
    return Registry([amb("A1", "W", west), amb("A2", "W", west), amb("A3", "W", west),
                     amb("B1", "E", east)], load_fleet("changsha").kinds)


def test_reach_is_the_share_of_demand_within_the_target() -> None:
    dem = demand_for(PROFILE, G)
    none = reached(SPEEDS, dem, np.zeros(0), np.zeros(0), 480)
    west = reached(SPEEDS, dem, np.array([at(12, 4)[0]]), np.array([at(12, 4)[1]]), 480)
    assert not none.any() and 0 < west.mean() < 1


def test_sending_the_only_east_bank_unit_suggests_a_move_up_that_restores_it() -> None:
    reg = fleet()
    dem = demand_for(PROFILE, G)
    avail = np.ones(len(reg), bool)
    cov, moves = assess(SPEEDS, dem, reg, avail, reg.home_lat, reg.home_lon,
                        [reg.index("B1")], key="PKG-1")
    ems = cov["ems"]
    assert ems["city"]["after"] < ems["city"]["before"] and "fire" not in cov
    assert set(ems["districts"]) == PROFILE.district_codes
    assert any(v["after"] < v["before"] for v in ems["districts"].values())
    assert len(moves) == 1
    mv = moves[0]
    assert (mv["from_station"], mv["to_station"], mv["target"]) == ("W", "E", "ems")
    assert mv["unit_id"] in {"A1", "A2", "A3"} and mv["gain"] > 0
    assert mv["moveup_id"].startswith("MU-")
    again = assess(SPEEDS, dem, reg, avail, reg.home_lat, reg.home_lon, [reg.index("B1")],
                   key="PKG-1")
    assert again == (cov, moves)                     # deterministic, ids included


def test_no_move_up_when_the_station_keeps_a_unit() -> None:
    reg = fleet()
    cov, moves = assess(SPEEDS, demand_for(PROFILE, G), reg, np.ones(len(reg), bool),
                        reg.home_lat, reg.home_lon, [reg.index("A1")])
    assert moves == []


def test_without_a_graph_coverage_uses_a_district_grid() -> None:
    reg = fleet()
    dem = demand_for(PROFILE, None)
    assert set(dem.district) == PROFILE.district_codes
    cov, _ = assess(None, dem, reg, np.ones(len(reg), bool), reg.home_lat, reg.home_lon,
                    [reg.index("B1")])
    assert cov["ems"]["target_s"] == TARGETS[0].target_s


def test_green_wave_asks_every_junction_on_the_route_in_order() -> None:
    jn = junctions(G)
    assert not jn[0] and jn[N + 1]                  # a corner has two roads, inside four
    nodes = [N * 5 + c for c in range(1, 8)]
    edges = [G.edge_index(f"row5:{c}") for c in range(1, 7)]
    reqs = requests(SPEEDS, nodes, edges, 1_000_000, lead_s=10.0)
    assert [r["node"] for r in reqs] == nodes[1:]
    times = [r["expected_ms"] for r in reqs]
    assert times == sorted(times) and times[0] > 1_010_000
    assert reqs[-1]["eta_s"] == round(10.0 + float(SPEEDS.seconds[edges].sum()), 1)


def test_a_board_suggests_the_move_up_on_confirmation_and_applies_it() -> None:
    from board_helpers import RUNCARDS, T0, cmd, opened
    from dispatch.board import Board
    units = [UnitSpec(u.id, u.kind, u.agency, u.stream, frozenset({"als", "bls"}),
                      u.station_id, u.district, u.home_lat, u.home_lon, u.crew)
             for u in fleet()]
    b = Board(PROFILE, G, Registry(units, load_fleet("changsha").kinds), RUNCARDS)
    lat, lon = at(10, 20)
    pkg = b.observe_incident(opened("INC-E", "ems", T0, lat, lon, kinds=("ems_calls",)))
    p = pkg[0]["payload"]
    assert [it["unit_id"] for it in p["items"]] == ["B1"] and len(p["moveups"]) == 1
    res = b.command(cmd("dispatch_confirm", incident_id="INC-E", package_id=p["package_id"]),
                    T0 + 1000)
    assert [r["kind"] for r in res.records][-1] == "moveup_suggested"
    mid = p["moveups"][0]["moveup_id"]
    assert [m["moveup_id"] for m in b.view()["moveups"]] == [mid]
    ok = b.command(cmd("moveup_confirm", "c2", moveup_id=mid), T0 + 2000)
    assert ok.code == "" and [r["kind"] for r in ok.records] == ["moveup_confirmed"]
    moved = {u["unit_id"]: u for u in b.view()["units"]}[p["moveups"][0]["unit_id"]]
    assert (moved["lat"], moved["lon"], moved["posted"]) == (*at(12, 19), "E")
    assert b.command(cmd("moveup_confirm", "c3", moveup_id=mid), T0 + 3000).code == \
        "stale_moveup"
