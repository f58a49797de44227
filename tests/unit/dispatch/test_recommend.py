"""Packages: the fastest available capable unit per slot, explained; properties that hold
whatever the fleet's state."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from city.dispatch_config import registry_for
from dispatch.eta import Speeds, etas_to
from dispatch.recommend import FleetState, build_package
from dispatch.runcards import Need, RunCard
from dispatch.status import BASE_STATUSES
from board_helpers import GRID, RUNCARDS
from unit_helpers import PROFILE

REG = registry_for(PROFILE, 0.2)
SPEEDS = Speeds(GRID, GRID.free_kmh, "free")
LAT, LON = float(GRID.lat[300]), float(GRID.lon[300])


def etas(lat: float = LAT, lon: float = LON):
    return etas_to(GRID, SPEEDS, lat, lon, REG.home_lat, REG.home_lon)


def idle() -> FleetState:
    return FleetState(["available"] * len(REG), [""] * len(REG))


def test_structure_fire_gets_two_engines_a_ladder_and_als_fastest_first() -> None:
    card = RUNCARDS.get("fire.structure")
    e = etas()
    pkg = build_package(card, 0, REG, idle(), e)
    caps = [it["capability"] for it in pkg["items"]]
    assert caps == ["engine", "engine", "ladder", "als"] and not pkg["unfilled"]
    for it in pkg["items"]:
        cap_units = [i for i, u in enumerate(REG.units) if it["capability"] in u.capabilities]
        assert it["eta_s"] == round(float(min(e.eta_s[cap_units])), 1) or it["why"]["en"]
        assert it["route_m"] > 0 and it["status"] == "available" and it["why"]["zh"]
    first_engine = pkg["items"][0]
    engines = [i for i, u in enumerate(REG.units) if "engine" in u.capabilities]
    assert first_engine["eta_s"] == round(float(e.eta_s[engines].min()), 1)


def test_unavailable_and_busy_units_are_skipped_with_reasons() -> None:
    card = RunCard("t", "t", "t", "fire", needs=(Need("engine", 1),))
    e = etas()
    engines = [i for i, u in enumerate(REG.units) if "engine" in u.capabilities]
    order = sorted(engines, key=lambda i: (e.eta_s[i], i))
    status, incident = ["available"] * len(REG), [""] * len(REG)
    status[order[0]] = "out_of_service"
    incident[order[1]] = "INC-other"
    pkg = build_package(card, 0, REG, FleetState(status, incident), e, "INC-1")
    assert pkg["items"][0]["unit_id"] == REG.units[order[2]].id
    assert [(s["unit_id"], s["reason"]) for s in pkg["skipped"]] == [
        (REG.units[order[0]].id, "unavailable"), (REG.units[order[1]].id, "assigned")]


def test_scarce_capabilities_are_filled_first() -> None:
    # a BLS slot listed first must not take the only ALS ambulance the ALS slot needs
    card = RunCard("t", "t", "t", "ems", needs=(Need("bls", 1), Need("als", 1)))
    status = ["out_of_service"] * len(REG)
    amb = [i for i, u in enumerate(REG.units) if u.kind == "ambulance"]
    als = [i for i in amb if "als" in REG.units[i].capabilities][0]
    bls = [i for i in amb if "als" not in REG.units[i].capabilities][0]
    status[als] = status[bls] = "available"
    pkg = build_package(card, 0, REG, FleetState(status, [""] * len(REG)), etas())
    got = {it["capability"]: it["unit_id"] for it in pkg["items"]}
    assert got == {"bls": REG.units[bls].id, "als": REG.units[als].id}


def test_a_station_cap_spreads_a_mass_casualty_over_hospitals() -> None:
    card = RUNCARDS.get("ems.mass_casualty")
    pkg = build_package(card, 20, REG, idle(), etas())
    stations = [it["station_id"] for it in pkg["items"]]
    missing = sum(u["missing"] for u in pkg["unfilled"])
    assert len(stations) + missing == 6 + 10          # 20 patients: 6 ALS, 10 BLS
    assert max(stations.count(s) for s in set(stations)) <= 2
    assert len(set(stations)) >= 4


def test_unfilled_slots_say_why() -> None:
    card = RunCard("t", "t", "t", "hazmat", needs=(Need("hazmat", 5),))
    pkg = build_package(card, 0, REG, idle(), etas())
    n = sum("hazmat" in u.capabilities for u in REG)
    assert len(pkg["items"]) == n
    assert pkg["unfilled"] == [{"capability": "hazmat", "missing": 5 - n, "reason": "no_unit",
                                "zh": "无具备该能力的可用单位",
                                "en": "no available unit with this capability"}]


def test_kept_and_excluded_units() -> None:
    card = RunCard("t", "t", "t", "fire", needs=(Need("engine", 2),))
    e = etas()
    first = build_package(card, 0, REG, idle(), e)
    a, b = (it["unit_id"] for it in first["items"])
    pkg = build_package(card, 0, REG, idle(), e, exclude=frozenset({a}), keep=[b])
    ids = [it["unit_id"] for it in pkg["items"]]
    assert b in ids and a not in ids and len(ids) == 2
    extra = [u.id for u in REG if u.kind == "ambulance"][0]     # beyond the card: kept
    pkg = build_package(card, 0, REG, idle(), e, keep=[a, b, extra])
    assert [it["unit_id"] for it in pkg["items"]][-1] == extra


CARD_IDS = [c.id for c in RUNCARDS.cards]


@settings(max_examples=80, deadline=None)
@given(card_id=st.sampled_from(CARD_IDS), patients=st.integers(0, 40),
       statuses=st.lists(st.sampled_from(BASE_STATUSES), min_size=len(REG),
                         max_size=len(REG)),
       busy=st.sets(st.integers(0, len(REG) - 1), max_size=40),
       node=st.integers(0, GRID.nodes - 1), straight=st.booleans())
def test_never_unavailable_incapable_or_twice(card_id, patients, statuses, busy, node,
                                              straight) -> None:
    card = RUNCARDS.get(card_id)
    incident = ["INC-x" if i in busy else "" for i in range(len(REG))]
    lat, lon = float(GRID.lat[node]), float(GRID.lon[node])
    e = etas_to(None, None, lat, lon, REG.home_lat, REG.home_lon) if straight else \
        etas_to(GRID, SPEEDS, lat, lon, REG.home_lat, REG.home_lon)
    pkg = build_package(card, patients, REG, FleetState(statuses, incident), e, "INC-1")
    ids = [it["unit_id"] for it in pkg["items"]]
    assert len(ids) == len(set(ids))
    slots = {n.capability: n.slots(patients) for n in card.needs}
    for it in pkg["items"]:
        i = REG.index(it["unit_id"])
        assert statuses[i] == "available" and not incident[i]
        assert it["capability"] in REG.units[i].capabilities
    for cap, n in slots.items():
        got = sum(it["capability"] == cap for it in pkg["items"])
        missing = sum(u["missing"] for u in pkg["unfilled"] if u["capability"] == cap)
        assert got + missing == n
    if card.max_per_station:
        st_ = [it["station_id"] for it in pkg["items"]]
        assert all(st_.count(s) <= card.max_per_station for s in st_)
    # the first unit of each capability is the fastest eligible one
    for cap in slots:
        items = [it for it in pkg["items"] if it["capability"] == cap]
        if items and not card.max_per_station:
            pool = [i for i, u in enumerate(REG.units) if cap in u.capabilities
                    and statuses[i] == "available" and not incident[i]
                    and u.id not in ids]
            if pool:
                assert items[-1]["eta_s"] <= round(float(np.min(e.eta_s[pool])), 1) + 0.05
