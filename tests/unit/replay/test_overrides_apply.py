"""The overrides reach what a replay builds: detectors with the changed parameters, the
board with the changed settings and run cards; the setup in force is left as it was."""

from __future__ import annotations

import pytest

from city.dispatch_config import load_dispatch_yaml
from city.profile import load_profile
from citycc.settings import load_settings
from detectors.clusters import ClusterDetector
from detectors.deviation import SensorDeviation
from replay.overrides import load_overrides
from replay.setup import ReplaySetup, setup_from_settings
from replay.variant import with_overrides

PROFILE = load_profile("changsha")


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> ReplaySetup:
    return setup_from_settings(load_settings({}, run_dir=tmp_path_factory.mktemp("run")),
                               PROFILE)


def test_detector_parameters_reach_the_detectors(setup: ReplaySetup) -> None:
    ov = load_overrides("detectors:\n  clusters: {ems_min: 2}\n"
                        "  sensor_deviation: {z_fire: 9.0}\n", PROFILE)
    variant = with_overrides(setup, ov)
    events, partitions = variant.detectors(variant.profile, variant.road_names)
    clusters = [d for d in events if isinstance(d, ClusterDetector)]
    assert len(clusters) == 1 and clusters[0].ems_min == 2
    dev = next(p for p in partitions if p.name == SensorDeviation.name).build()
    assert dev.z_fire == 9.0
    # the other detectors are the setup's, and the setup itself builds the defaults
    base_events, _ = setup.detectors(setup.profile, setup.road_names)
    assert [d.name for d in base_events] == [d.name for d in events]
    assert next(d for d in base_events if isinstance(d, ClusterDetector)).ems_min != 2


def test_board_settings_and_run_cards_reach_the_board(setup: ReplaySetup) -> None:
    assert setup.dispatch is not None
    doc = load_dispatch_yaml("changsha_runcards")
    gas = next(c for c in doc["cards"] if c["match"].get("type") == "gas")
    text = ("dispatch:\n  coverage: false\n  max_packages_per_incident: 2\n"
            f"runcards:\n  cards:\n    - {{id: {gas['id']}, zh: 燃气, en: Gas, "
            "match: {type: gas}, needs: [{capability: engine, count: 5}]}\n")
    variant = with_overrides(setup, load_overrides(text, PROFILE), runcards_doc=doc)
    board = variant.new_board()
    assert (board.config.coverage, board.config.max_packages_per_incident) == (False, 2)
    card = next(c for c in board.planner.runcards.cards if c.id == gas["id"])
    assert [(n.capability, n.count) for n in card.needs] == [("engine", 5)]
    base_board = setup.new_board()
    assert base_board.config.coverage is True


def test_run_cards_need_their_document(setup: ReplaySetup) -> None:
    ov = load_overrides("runcards:\n  remove: [x]\n", PROFILE)
    with pytest.raises(ValueError, match="run-card document"):
        with_overrides(setup, ov)


def test_limits_reach_the_variant_profile_only(setup: ReplaySetup) -> None:
    ov = load_overrides("limits:\n  manhole_gas: {high_alarm: 5, high_recover: 2}\n", PROFILE)
    variant = with_overrides(setup, ov)
    assert variant.profile.limits["manhole_gas"].high_alarm == 5
    assert setup.profile.limits["manhole_gas"].high_alarm == 25
    assert variant.alerting is setup.alerting and variant.policy == setup.policy


def test_the_readme_example_applies(setup: ReplaySetup) -> None:
    """The overrides shown in the README's What-if section are a working file."""
    from unit_helpers import ROOT
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("#### What-if"):readme.index("#### Exercises (drills)")]
    text = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    ov = load_overrides(text, PROFILE)
    variant = with_overrides(setup, ov, runcards_doc=load_dispatch_yaml("changsha_runcards"),
                             registry=setup.dispatch.registry if setup.dispatch else None)
    assert variant.profile.limits["manhole_gas"].high_alarm == 15.0
    board = variant.new_board()
    ids = {c.id for c in board.planner.runcards.cards}
    assert "gas" in ids and "traffic.rush" not in ids
    assert board.config.coverage is False and variant.alerting.inhibit_rules == ()
