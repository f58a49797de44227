"""What-if overrides: every section changes what it names, every mistake is refused with a
stable code and the key's path, and the configuration in force is never changed."""

from __future__ import annotations

import pytest

from alerting.config import default_config
from city.dispatch_config import load_dispatch_yaml
from city.profile import load_profile
from dispatch.config import DispatchConfig
from replay.overrides import BAD_VALUE, NOT_YAML, UNKNOWN_KEY, OverridesError, load_overrides
from replay.variant import (apply_alerting, apply_dispatch, apply_profile, apply_runcards,
                            dispatch_scale)

PROFILE = load_profile("changsha")


def test_limits_change_a_new_profile_and_leave_the_shared_one() -> None:
    before = PROFILE.limits["gas_concentration"]
    ov = load_overrides("limits:\n  gas_concentration: {high_alarm: 10.0, high_recover: 5.0}\n",
                        PROFILE)
    changed = apply_profile(PROFILE, ov)
    assert changed.limits["gas_concentration"].high_alarm == 10.0
    assert changed.limits["gas_concentration"].high_recover == 5.0
    assert changed.limits["gas_concentration"].severity == before.severity
    assert PROFILE.limits["gas_concentration"] == before       # the cached profile is intact
    assert changed.limits["gas_pressure"] == PROFILE.limits["gas_pressure"]


def test_no_overrides_change_nothing() -> None:
    ov = load_overrides("", PROFILE)
    assert apply_profile(PROFILE, ov) is PROFILE
    cfg = default_config("changsha")
    assert apply_alerting(cfg, ov) is cfg
    assert apply_dispatch(DispatchConfig(), ov) == DispatchConfig()
    assert dispatch_scale(1.0, ov) == 1.0


@pytest.mark.parametrize("text, code, path", [
    ("limits: [1, 2", NOT_YAML, "overrides"),
    ("thresholds: {}", UNKNOWN_KEY, "thresholds"),
    ("limits:\n  gas_conc: {high_alarm: 1}", UNKNOWN_KEY, "limits.gas_conc"),
    ("limits:\n  gas_concentration: {high: 1}", UNKNOWN_KEY, "limits.gas_concentration.high"),
    ("limits:\n  gas_concentration: {high_alarm: ten}", BAD_VALUE,
     "limits.gas_concentration.high_alarm"),
    ("limits:\n  gas_concentration: {high_alarm: .nan}", BAD_VALUE,
     "limits.gas_concentration.high_alarm"),
    # a recover level above the alarm level: the alarm would never clear
    ("limits:\n  gas_concentration: {high_recover: 30}", BAD_VALUE,
     "limits.gas_concentration.high_recover"),
    ("limits:\n  gas_concentration: {severity: loud}", BAD_VALUE,
     "limits.gas_concentration.severity"),
    ("detectors:\n  magic: {x: 1}", UNKNOWN_KEY, "detectors.magic"),
    ("detectors:\n  clusters: {ems_minimum: 2}", UNKNOWN_KEY, "detectors.clusters.ems_minimum"),
    ("detectors:\n  clusters: {ems_min: 2.5}", BAD_VALUE, "detectors.clusters.ems_min"),
    ("detectors:\n  clusters: {ems_min: true}", BAD_VALUE, "detectors.clusters.ems_min"),
    ("detectors:\n  sensor_out_of_range_burst: {min_count: 1}", BAD_VALUE,
     "detectors.sensor_out_of_range_burst"),       # the detector's own check (min_count >= 2)
    ("alerting:\n  routes: []", UNKNOWN_KEY, "alerting.routes"),
    ("alerting:\n  route: {receiver: x, group_wait: soon}", BAD_VALUE,
     "alerting.route.group_wait"),
    ("runcards:\n  cards: [{en: no id}]", BAD_VALUE, "runcards.cards[0].id"),
    ("runcards:\n  extra: 1", UNKNOWN_KEY, "runcards.extra"),
    ("dispatch:\n  scale: 0", BAD_VALUE, "dispatch.scale"),
    ("dispatch:\n  fleet: 2", UNKNOWN_KEY, "dispatch.fleet"),
    ("dispatch:\n  eta: {detour_factor: -1}", BAD_VALUE, "dispatch.eta.detour_factor"),
    ("dispatch:\n  eta: {speed: 1}", UNKNOWN_KEY, "dispatch.eta.speed"),
    ("dispatch:\n  priority_severities: [urgent]", BAD_VALUE, "dispatch.priority_severities"),
    ("version: 2", BAD_VALUE, "version"),
])
def test_mistakes_are_refused_with_code_and_path(text: str, code: str, path: str) -> None:
    with pytest.raises(OverridesError) as err:
        load_overrides(text, PROFILE)
    assert (err.value.code, err.value.path) == (code, path)


def test_detector_parameters_are_typed_by_their_defaults() -> None:
    ov = load_overrides("detectors:\n  clusters: {ems_min: 2, ems_radius_km: 2}\n"
                        "  service_level: {fire_dispatch_s: 45}\n", PROFILE)
    assert ov.detectors == {"clusters": {"ems_min": 2, "ems_radius_km": 2.0},
                            "service_level": {"fire_dispatch_s": 45.0}}
    assert isinstance(ov.detectors["clusters"]["ems_radius_km"], float)


def test_alerting_sections_replace_only_what_is_given() -> None:
    cfg = default_config("changsha")
    assert cfg.inhibit_rules, "the shipped configuration has inhibit rules"
    ov = load_overrides("alerting:\n  inhibit_rules: []\n", PROFILE)
    changed = apply_alerting(cfg, ov)
    assert changed.inhibit_rules == ()
    assert changed.route == cfg.route
    assert changed.maintenance_windows == cfg.maintenance_windows


def test_alerting_route_is_parsed_like_the_shipped_file() -> None:
    cfg = default_config("changsha")
    ov = load_overrides("alerting:\n  route: {receiver: city_duty, group_wait: 5s}\n", PROFILE)
    changed = apply_alerting(cfg, ov)
    assert changed.route.receiver == "city_duty" and changed.route.group_wait_ms == 5000
    assert changed.route.routes == ()
    assert changed.inhibit_rules == cfg.inhibit_rules


def test_runcards_replace_by_id_add_and_remove() -> None:
    base = load_dispatch_yaml("changsha_runcards")
    gas = next(c for c in base["cards"] if c["match"].get("type") == "gas")
    bigger = {**gas, "needs": [{"capability": "engine", "count": 4}]}
    new = {"id": "drill.extra", "zh": "演练", "en": "Drill", "match": {"type": "water",
                                                                      "districts": ["yuelu"]},
           "needs": [{"capability": "engine", "count": 1}]}
    other = next(c["id"] for c in base["cards"] if c["match"].get("type") == "traffic")
    ov = load_overrides("", PROFILE)
    ov = type(ov)(runcards={"cards": [bigger, new], "remove": [other]})
    cards = apply_runcards(base, ov, PROFILE.district_codes)
    by_id = {c.id: c for c in cards.cards}
    assert [(n.capability, n.count) for n in by_id[gas["id"]].needs] == [("engine", 4)]
    assert "drill.extra" in by_id and other not in by_id
    assert len(cards.cards) == len(base["cards"])      # one added, one removed


def test_a_bad_card_is_named_by_its_place_in_the_overrides() -> None:
    base = load_dispatch_yaml("changsha_runcards")
    text = ("runcards:\n  cards:\n    - {id: a.ok, zh: a, en: a, match: {type: water, "
            "districts: [yuelu]}, needs: [{capability: engine, count: 1}]}\n"
            "    - {id: b.bad, zh: b, en: b, match: {type: water, districts: [atlantis]}, "
            "needs: [{capability: engine, count: 1}]}\n")
    ov = load_overrides(text, PROFILE)
    with pytest.raises(OverridesError) as err:
        apply_runcards(base, ov, PROFILE.district_codes)
    assert err.value.code == BAD_VALUE
    assert err.value.path.startswith("runcards.cards[1].match")


def test_dispatch_settings_and_fleet_scale() -> None:
    ov = load_overrides("dispatch:\n  scale: 0.5\n  coverage: false\n"
                        "  max_packages_per_incident: 3\n  priority_severities: [critical]\n"
                        "  eta: {detour_factor: 1.6}\n", PROFILE)
    cfg = apply_dispatch(DispatchConfig(), ov)
    assert (cfg.coverage, cfg.max_packages_per_incident, cfg.priority_severities) == \
        (False, 3, ("critical",))
    assert cfg.eta.detour_factor == 1.6
    assert cfg.eta.straight_kmh == DispatchConfig().eta.straight_kmh
    assert dispatch_scale(1.0, ov) == 0.5
