"""The unit registry: city-1x fleet sizes, deterministic ids, precise config errors."""

from __future__ import annotations

import collections
import copy

import pytest

from city.dispatch_config import load_dispatch_yaml, load_fleet, registry_for
from dispatch.errors import DispatchConfigError
from dispatch.units import CAPABILITIES, apportion, build_registry, parse_fleet
from unit_helpers import PROFILE


def test_city_1x_fleet_has_the_issue_sizes() -> None:
    reg = registry_for(PROFILE, 1.0)
    kinds = collections.Counter(u.kind for u in reg)
    assert kinds["ambulance"] == 300
    assert sum(kinds[k] for k in ("engine", "ladder", "rescue", "hazmat")) == 250
    for k in ("ladder", "rescue", "hazmat", "traffic_police", "gas_crew", "water_crew",
              "env_monitor"):
        assert kinds[k] > 0, k
    als = sum("als" in u.capabilities for u in reg if u.kind == "ambulance")
    npr = sum("negative_pressure" in u.capabilities for u in reg)
    assert 0.35 <= als / 300 <= 0.45 and 0.03 <= npr / 300 <= 0.07


def test_units_sit_at_their_stations_and_report_on_their_stream() -> None:
    reg = registry_for(PROFILE, 1.0)
    hospitals = {h.id: h for h in PROFILE.hospitals}
    stations = {f.id: f for f in PROFILE.fire_stations}
    for u in reg:
        assert u.capabilities <= set(CAPABILITIES)
        if u.kind == "ambulance":
            assert u.id.startswith(f"AMB-{u.station_id}-") and u.stream == "ems"
            assert (u.home_lat, u.home_lon) == (hospitals[u.station_id].lat,
                                                hospitals[u.station_id].lon)
        elif u.agency == "fire":
            assert u.stream == "fire" and u.station_id in stations
        else:
            assert u.stream is None and u.district in PROFILE.district_codes


def test_the_registry_is_deterministic() -> None:
    a, b = registry_for(PROFILE, 0.5), registry_for(PROFILE, 0.5)
    assert a.units == b.units


@pytest.mark.parametrize("scale", [0.1, 0.5, 2.0])
def test_small_and_large_fleets_scale_and_keep_special_units(scale: float) -> None:
    reg = registry_for(PROFILE, scale)
    kinds = collections.Counter(u.kind for u in reg)
    assert kinds["ambulance"] == round(300 * scale)
    assert kinds["hazmat"] >= 1 and kinds["ladder"] >= 1


def test_an_unknown_unit_gets_its_stream_default_kind() -> None:
    reg = registry_for(PROFILE, 0.1)
    u = reg.default_unit("AMB-X-1", "ems", 28.2, 112.9)
    assert u.kind == "ambulance" and u.capabilities == {"bls"} and u.stream == "ems"
    assert reg.default_unit("E9", "fire", 28.2, 112.9).capabilities == {"engine"}
    assert "AMB-X-1" in reg.plus(u) and "AMB-X-1" not in reg


def test_apportion_is_exact_and_deterministic() -> None:
    assert apportion(10, [1, 1, 1]) == [4, 3, 3]
    assert sum(apportion(300, [0.14, 0.13, 0.15])) == 300
    assert apportion(0, [1, 2]) == [0, 0]


def _raw() -> dict:
    return copy.deepcopy(load_dispatch_yaml("changsha_fleet"))


@pytest.mark.parametrize("edit, path, words", [
    (lambda r: r["kinds"]["engine"].__setitem__("capabilities", ["water_cannon"]),
     "kinds.engine.capabilities", "unknown capability"),
    (lambda r: r["kinds"].pop("ladder"), "kinds.ladder", "missing unit kind"),
    (lambda r: r["kinds"]["engine"].__setitem__("stream", "police"), "kinds.engine.stream",
     "ems, fire or none"),
    (lambda r: r["ambulances"].__setitem__("als_share", 1.5), "ambulances.als_share", "[0, 1]"),
    (lambda r: r["fire"]["mix"].__setitem__("engine", 0.2), "fire.mix.engine", "the rest"),
    (lambda r: r["district_units"].__setitem__("ambulance", 3), "district_units.ambulance",
     "must be one of"),
    (lambda r: r.pop("fire"), "", "missing key 'fire'"),
])
def test_a_bad_fleet_is_refused_with_its_path(edit, path: str, words: str) -> None:
    raw = _raw()
    edit(raw)
    with pytest.raises(DispatchConfigError) as err:
        parse_fleet(raw, "fleet.yaml")
    assert err.value.path == path and words in err.value.reason


def test_build_registry_needs_a_fleet() -> None:
    with pytest.raises(DispatchConfigError):
        build_registry(PROFILE, 1.0)
    assert len(build_registry(PROFILE, 1.0, load_fleet("changsha"))) == len(
        build_registry(PROFILE, 1.0, _raw()))
