"""Run cards: the shipped plans, table-driven matching, and precise load errors."""

from __future__ import annotations

import copy
from typing import Any, Callable

import pytest

from city.dispatch_config import load_dispatch_yaml, load_runcards
from dispatch.errors import DispatchConfigError
from dispatch.incident_type import incident_type
from dispatch.runcards import Need, parse_runcards
from unit_helpers import PROFILE

CARDS = load_runcards("changsha")


def needs(card_id: str) -> dict[str, int]:
    card = CARDS.get(card_id)
    assert card is not None
    return {n.capability: n.count for n in card.needs}


def test_the_issue_examples() -> None:
    assert needs("fire.structure") == {"engine": 2, "ladder": 1, "als": 1}
    assert needs("hazmat.tanker_leak") == {"hazmat": 1, "engine": 2, "als": 1,
                                           "traffic_control": 1, "env_monitoring": 1}
    mc = CARDS.get("ems.mass_casualty")
    assert mc is not None and mc.max_per_station == 2   # several hospitals, each its share


@pytest.mark.parametrize("type_, subtype, district, hour, card", [
    ("fire", "structure_fire", "yuelu", 10, "fire.structure"),
    ("fire", "structure_fire", "furong", 23, "fire.structure.core_night"),
    ("fire", "structure_fire", "furong", 3, "fire.structure.core_night"),
    ("fire", "structure_fire", "furong", 6, "fire.structure"),     # [22, 6) ends at 6
    ("fire", "structure_fire", "yuelu", 23, "fire.structure"),     # not a core district
    ("fire", "vehicle_fire", "kaifu", 12, "fire.vehicle"),
    ("fire", "", "kaifu", 12, "fire"),
    ("fire", "wildland_fire", "liuyang", 12, "fire"),              # no card: the type's
    ("hazmat", "tanker_leak", "yuhua", 12, "hazmat.tanker_leak"),
    ("hazmat", "site_leak", "yuhua", 12, "hazmat"),
    ("gas", "", "tianxin", 12, "gas"),
    ("water", "", "tianxin", 12, "water"),
    ("traffic", "", "tianxin", 8, "traffic.rush"),
    ("traffic", "", "tianxin", 18, "traffic.rush"),
    ("traffic", "", "tianxin", 12, "traffic"),
    ("ems", "mass_casualty", "tianxin", 12, "ems.mass_casualty"),
    ("ems", "", "tianxin", 12, "ems"),
    ("flood", "", "tianxin", 12, "default"),
])
def test_the_most_specific_card_wins(type_: str, subtype: str, district: str, hour: int,
                                     card: str) -> None:
    got, why = CARDS.match(type_, subtype, district, hour)
    assert got.id == card
    assert why


def test_patients_raise_the_count_up_to_the_max() -> None:
    n = Need("bls", 3, per_patient=0.5, max=20)
    assert [n.slots(p) for p in (0, 1, 6, 7, 30, 100)] == [3, 3, 3, 4, 15, 20]


@pytest.mark.parametrize("category, kinds, tags, calls, patients, want", [
    ("fire", ["fire_alarm"], [], 0, 0, ("fire", "structure_fire")),
    ("fire", ["fire_calls"], ["vehicle_fire"], 2, 0, ("fire", "vehicle_fire")),
    ("fire", ["fire_calls"], ["structure_fire", "rescue"], 2, 0, ("fire", "rescue")),
    ("fire", ["fire_calls"], [], 1, 0, ("fire", "")),
    ("hazmat", ["hazmat_tank_pressure_high"], [], 0, 0, ("hazmat", "tanker_leak")),
    ("hazmat", ["tank_gas_high"], [], 0, 0, ("hazmat", "site_leak")),
    ("ems", ["ems_calls"], [], 3, 3, ("ems", "mass_casualty")),
    ("ems", ["ems_calls"], [], 1, 6, ("ems", "mass_casualty")),
    ("ems", ["ems_calls"], [], 2, 2, ("ems", "")),
    ("hazmat_notice", ["hazmat_geofence"], [], 0, 0, ("", "")),
])
def test_incident_types(category: str, kinds: list[str], tags: list[str], calls: int,
                        patients: int, want: tuple[str, str]) -> None:
    assert incident_type(category, kinds, tags, calls, patients) == want


def _raw() -> dict[str, Any]:
    return copy.deepcopy(load_dispatch_yaml("changsha_runcards"))


def _card(raw: dict[str, Any], cid: str) -> dict[str, Any]:
    return next(c for c in raw["cards"] if c["id"] == cid)


BAD: list[tuple[Callable[[dict[str, Any]], Any], str, str]] = [
    (lambda r: r.__setitem__("version", 2), "version", "must be 1"),
    (lambda r: r.__setitem__("cards", []), "cards", "non-empty"),
    (lambda r: r["cards"][0]["needs"][1].__setitem__("capability", "helicopter"),
     "cards[0].needs[1].capability", "unknown capability"),
    (lambda r: r["cards"][0]["needs"][0].__setitem__("count", 0),
     "cards[0].needs[0].count", "[1, 50]"),
    (lambda r: r["cards"][0]["match"].__setitem__("type", "earthquake"),
     "cards[0].match.type", "must be one of"),
    (lambda r: r["cards"][1]["match"].__setitem__("districts", ["furong", "atlantis"]),
     "cards[1].match.districts[1]", "unknown district"),
    (lambda r: r["cards"][1]["match"].__setitem__("hours", [[22, 25]]),
     "cards[1].match.hours[0]", "[0, 24]"),
    (lambda r: r["cards"][1]["match"].__setitem__("hours", [[5, 5]]),
     "cards[1].match.hours[0]", "empty range"),
    (lambda r: r["cards"][0].__setitem__("colour", "red"), "cards[0].colour", "unknown key"),
    (lambda r: r["cards"][0].pop("needs"), "cards[0].needs", "is required"),
    (lambda r: r["cards"][0]["needs"].append({"capability": "engine", "count": 1}),
     "cards[0].needs", "listed twice"),
    (lambda r: r["cards"][1].__setitem__("id", "fire.structure"), "cards[1].id", "duplicate"),
    (lambda r: r["cards"].append(copy.deepcopy({**r["cards"][0], "id": "again"})),
     f"cards[{len(_raw()['cards'])}].match", "same match"),
    (lambda r: r["cards"].remove(_card(r, "default")), "cards", "default card"),
    (lambda r: r["cards"][0].__setitem__("priority", "yes"), "cards[0].priority",
     "true or false"),
]


@pytest.mark.parametrize("edit, path, words", BAD)
def test_a_bad_card_is_refused_with_its_path(edit: Callable[[dict[str, Any]], Any], path: str,
                                            words: str) -> None:
    raw = _raw()
    edit(raw)
    with pytest.raises(DispatchConfigError) as err:
        parse_runcards(raw, "cards.yaml", PROFILE.district_codes)
    assert (err.value.path, words in err.value.reason) == (path, True), err.value
    assert str(err.value).startswith("cards.yaml: ")


@pytest.mark.parametrize("card_id, decide_s", [
    ("fire.structure", 60), ("fire.structure.core_night", 60), ("fire.vehicle", 60),
    ("fire.rescue", 60), ("fire", 60), ("hazmat.tanker_leak", 60), ("hazmat", 60),
    ("gas", 60),                       # 119: NFPA 1221/1225 alarm processing, 60 s
    ("ems.mass_casualty", 120), ("ems", 120),   # 120: 3-minute departure less turnout
    ("water", 180), ("traffic", 180), ("traffic.rush", 180), ("default", 180)])
def test_each_card_has_a_decision_target(card_id: str, decide_s: int) -> None:
    card = CARDS.get(card_id)
    assert card is not None and card.decide_s == decide_s
    assert card.describe("why")["decide_s"] == decide_s


def test_the_decision_target_is_checked_at_load() -> None:
    raw = load_dispatch_yaml("changsha_runcards")
    bad = copy.deepcopy(raw)
    bad["cards"][0]["decide_s"] = 0
    with pytest.raises(DispatchConfigError, match=r"cards\[0\]\.decide_s"):
        parse_runcards(bad)
    bad["cards"][0]["decide_s"] = "60"
    with pytest.raises(DispatchConfigError, match=r"cards\[0\]\.decide_s"):
        parse_runcards(bad)
