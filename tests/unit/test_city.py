"""city.profile: the Changsha profile, district lookup, limits vs measurements, bad profiles."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

from city.profile import PROFILE_DIR, ProfileError, haversine_km, load_profile, parse_profile
from schemas.catalog import MEASUREMENTS
from unit_helpers import PROFILE

DISTRICTS_ZH = ["芙蓉区", "天心区", "岳麓区", "开福区", "雨花区",
                "望城区", "长沙县", "浏阳市", "宁乡市"]
RAW: dict[str, Any] = json.loads((PROFILE_DIR / "changsha.json").read_text(encoding="utf-8"))


def test_changsha_loads_with_its_nine_districts() -> None:
    p = load_profile("changsha")
    assert (p.name, p.name_zh, p.name_en, p.timezone) == ("changsha", "长沙市", "Changsha",
                                                          "Asia/Shanghai")
    assert [d.zh for d in p.districts] == DISTRICTS_ZH
    assert p.district_codes == {"furong", "tianxin", "yuelu", "kaifu", "yuhua", "wangcheng",
                                "changsha", "liuyang", "ningxiang"}
    assert len({d.en for d in p.districts}) == 9
    assert math.isclose(sum(d.weight for d in p.districts), 1.0, abs_tol=0.01)
    assert p.district("yuelu").zh == "岳麓区"
    with pytest.raises(KeyError):
        p.district("haidian")
    assert load_profile("changsha") is p  # cached


def test_profile_loads_from_a_path() -> None:
    p = load_profile(str(PROFILE_DIR / "changsha.json"))
    assert [d.code for d in p.districts] == [d.code for d in PROFILE.districts]


def test_centre_and_district_centres_are_inside_the_bounds() -> None:
    assert PROFILE.bounds.contains(*PROFILE.center)
    for d in PROFILE.districts:
        assert PROFILE.bounds.contains(d.lat, d.lon), d.code
        assert d.radius_km > 0 and 0 < d.weight < 1


@pytest.mark.parametrize("code", sorted(PROFILE.district_codes))
def test_each_district_centre_maps_to_itself(code: str) -> None:
    d = PROFILE.district(code)
    assert PROFILE.nearest_district(d.lat, d.lon) == code
    # and a point a few hundred metres away still does
    assert PROFILE.nearest_district(d.lat + 0.002, d.lon - 0.002) == code


def test_nearest_districts_is_the_vectorised_nearest_district() -> None:
    rng = np.random.default_rng(7)
    b = PROFILE.bounds
    lats = rng.uniform(b.lat_min, b.lat_max, 300)
    lons = rng.uniform(b.lon_min, b.lon_max, 300)
    assert PROFILE.nearest_districts(lats, lons) == \
        [PROFILE.nearest_district(a, o) for a, o in zip(lats, lons)]
    assert PROFILE.nearest_districts(np.array([]), np.array([])) == []


@pytest.mark.parametrize("kind", ["hospitals", "fire_stations"])
def test_facilities_are_inside_the_bounds_in_a_known_district(kind: str) -> None:
    facilities = getattr(PROFILE, kind)
    assert facilities
    assert len({f.id for f in facilities}) == len(facilities)
    for f in facilities:
        assert PROFILE.bounds.contains(f.lat, f.lon), f.id
        assert f.district in PROFILE.district_codes, f.id
        assert f.zh and f.en
        assert (f.engines > 0) == (kind == "fire_stations"), f.id
    assert {f.district for f in PROFILE.fire_stations} == PROFILE.district_codes


@pytest.mark.parametrize("kind", sorted(PROFILE.limits))
def test_limit_levels_lie_inside_the_physical_range(kind: str) -> None:
    lim = PROFILE.limits[kind]
    assert lim.kind == kind and kind in MEASUREMENTS
    assert lim.severity in ("critical", "major", "minor", "info")
    m = MEASUREMENTS[kind]
    levels = [v for v in (lim.high_alarm, lim.high_recover, lim.low_alarm, lim.low_recover)
              if v is not None]
    assert levels
    for v in levels:
        assert m.lo <= v <= m.hi, (kind, v)
    # recover levels sit on the normal side of their alarm levels (hysteresis, not inversion)
    if lim.high_alarm is not None and lim.high_recover is not None:
        assert lim.high_recover <= lim.high_alarm
    if lim.low_alarm is not None and lim.low_recover is not None:
        assert lim.low_recover >= lim.low_alarm
    if lim.high_alarm is not None and lim.low_alarm is not None:
        assert lim.low_recover < lim.high_recover  # type: ignore[operator]


def test_haversine() -> None:
    assert haversine_km(28.0, 113.0, 28.0, 113.0) == 0.0
    # one degree of latitude is ~111.2 km
    assert math.isclose(haversine_km(28.0, 113.0, 29.0, 113.0), 111.19, rel_tol=1e-3)
    assert math.isclose(haversine_km(28.2, 112.9, 28.1, 113.6),
                        haversine_km(28.1, 113.6, 28.2, 112.9))


# --- malformed profiles -----------------------------------------------------------------
def _drop(*path: Any) -> Callable[[dict[str, Any]], None]:
    def change(raw: dict[str, Any]) -> None:
        obj = raw
        for p in path[:-1]:
            obj = obj[p]
        del obj[path[-1]]
    return change


def _set(value: Any, *path: Any) -> Callable[[dict[str, Any]], None]:
    def change(raw: dict[str, Any]) -> None:
        obj = raw
        for p in path[:-1]:
            obj = obj[p]
        obj[path[-1]] = value
    return change


MALFORMED = {
    "no districts": _drop("districts"),
    "no bounds": _drop("bounds"),
    "no name": _drop("name"),
    "district without code": _drop("districts", 0, "code"),
    "district centre with one number": _set([28.1], "districts", 0, "center"),
    "district centre not numbers": _set(["a", "b"], "districts", 0, "center"),
    "district radius not a number": _set("big", "districts", 0, "radius_km"),
    "unknown bound key": _set(1.0, "bounds", "alt_max"),
    "missing bound": _drop("bounds", "lat_min"),
    "bound not a number": _set([28.0], "bounds", "lat_min"),
    "hospital without lat": _drop("hospitals", 0, "lat"),
    "fire station engines not a number": _set("many", "fire_stations", 0, "engines"),
    "limit without severity": _drop("limits", "pm25", "severity"),
    "limit with unknown key": _set(1.0, "limits", "pm25", "high_panic"),
    "limits not an object": _set([1, 2], "limits"),
    "centre missing": _drop("center"),
}


@pytest.mark.parametrize("change", list(MALFORMED.values()), ids=list(MALFORMED))
def test_malformed_profile_raises_profile_error(change: Callable[[dict[str, Any]], None],
                                                tmp_path: Path) -> None:
    raw = copy.deepcopy(RAW)
    change(raw)
    with pytest.raises(ProfileError):
        parse_profile(raw)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(raw), encoding="utf-8")
    with pytest.raises(ProfileError):
        load_profile(str(path))


@pytest.mark.parametrize("text", ["{not json", "[]", "null", "3", ""],
                         ids=["invalid", "list", "null", "number", "empty"])
def test_profile_file_that_is_not_a_json_object_raises_profile_error(text: str,
                                                                     tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ProfileError):
        load_profile(str(path))


def test_weights_must_sum_to_one(tmp_path: Path) -> None:
    raw = copy.deepcopy(RAW)
    raw["districts"][0]["weight"] = 0.5
    path = tmp_path / "heavy.json"
    path.write_text(json.dumps(raw), encoding="utf-8")
    with pytest.raises(ProfileError, match="weights"):
        load_profile(str(path))


def test_unknown_profile_names_the_known_ones() -> None:
    with pytest.raises(ProfileError, match="changsha"):
        load_profile("atlantis")
    with pytest.raises(ProfileError):
        load_profile("/nonexistent/dir/city.json")


# A zone's size and its points' spread are what the detectors' grid index of it costs: a
# school 10,000 km wide was a MemoryError when the worker built its detectors.
OUT_OF_RANGE = {
    "school 10,000 km wide": _set(1e7, "schools", 0, "radius_m"),
    "tunnel corridor 100 km wide": _set(1e5, "tunnels", 0, "width_m"),
    "tunnel path point at 10^300": _set([[1e300, 112.9], [28.2, 112.9]], "tunnels", 0, "path"),
    "tunnel path of 1,001 points": _set([[28.2, 112.9]] * 1001, "tunnels", 0, "path"),
    "school outside the city": _set(-45.0, "schools", 0, "lat"),
    "school radius NaN": _set(float("nan"), "schools", 0, "radius_m"),
    "bounds of a continent": _set(150.0, "bounds", "lon_max"),
    "bounds upside down": _set(20.0, "bounds", "lat_max"),
}


@pytest.mark.parametrize("change", list(OUT_OF_RANGE.values()), ids=list(OUT_OF_RANGE))
def test_a_place_past_its_bound_is_refused_out_of_range(
        change: Callable[[dict[str, Any]], None]) -> None:
    raw = copy.deepcopy(RAW)
    change(raw)
    with pytest.raises(ProfileError) as exc:
        parse_profile(raw)
    assert exc.value.code == "out_of_range"


def test_the_detectors_of_a_profile_that_loads_are_built_in_bounded_memory() -> None:
    """The largest zones a profile may have cost the hazmat detector's grid little."""
    import tracemalloc

    from city.profile import MAX_ZONE_RADIUS_M, MAX_ZONE_WIDTH_M
    from detectors.hazmat import HazmatDetector
    raw = copy.deepcopy(RAW)
    b = raw["bounds"]
    raw["schools"][0]["radius_m"] = MAX_ZONE_RADIUS_M
    raw["tunnels"][0].update(width_m=MAX_ZONE_WIDTH_M, path=[
        [b["lat_min"], b["lon_min"]], [b["lat_max"], b["lon_max"]]])
    profile = parse_profile(raw)
    tracemalloc.start()
    try:
        HazmatDetector(profile)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 200_000_000, f"{peak:,} bytes"
