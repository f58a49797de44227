"""A drill runs to the incident its scenario should produce, in its own session, and every
export of it says Exercise."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from alerting.cap import validate_cap
from city.profile import haversine_km, load_profile
from citycc.settings import load_settings
from cockpit_api.replay.drill import ReplayerDrill
from replay.drill import (TAIL_MS, DrillLog, DrillResult, exercise_database, exercise_id,
                          last_event_ms, run_drill)
from replay.engine import Replayer
from replay.exercise import drill_events, parse_scenario
from replay.setup import ReplaySetup, setup_from_settings

ROOT = Path(__file__).resolve().parents[3]
SAMPLE = ROOT / "tests" / "fixtures" / "exercise" / "gas_leak_yuelu_school.yaml"
PROFILE = load_profile("changsha")
NOW = 1_800_000_000_000
SCHOOL = next(z for z in PROFILE.schools if z.id == "S-SDFZ")


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> ReplaySetup:
    return setup_from_settings(load_settings({}, run_dir=tmp_path_factory.mktemp("run")),
                               PROFILE)


def run_sample(setup: ReplaySetup, wait: Any = None) -> DrillResult:
    """As ``citycc exercise run`` does: the scenario's events through a ReplayerDrill over a
    fresh Replayer from NOW, its records taken by a DrillLog."""
    text = SAMPLE.read_text(encoding="utf-8")
    sc = parse_scenario(text, setup.policy)
    events = drill_events(sc, exercise_id(text, NOW), NOW, setup.policy)
    replayer, log = Replayer(setup, NOW), DrillLog()
    run_drill(ReplayerDrill(replayer, events, keep=log.take), NOW,
              last_event_ms(events, NOW) + TAIL_MS, wait=wait)
    return log.finish(replayer.counters)


@pytest.fixture(scope="module")
def drill(setup: ReplaySetup) -> DrillResult:
    return run_sample(setup)


def test_the_gas_leak_drill_opens_a_gas_incident_by_the_school(drill: DrillResult) -> None:
    assert drill.dead_letters == 0 and drill.events == 23
    gas = [i for i in drill.incidents if i["category"] == "gas"]
    assert len(gas) == 1, drill.incidents
    inc = gas[0]
    assert inc["district"] == "yuelu"
    assert haversine_km(inc["lat"], inc["lon"], SCHOOL.lat, SCHOOL.lon) < 1.0
    assert NOW <= inc["opened_ms"] <= NOW + 300_000


def test_every_cap_export_of_the_drill_says_exercise(drill: DrillResult) -> None:
    caps = drill.caps(NOW + 400_000)
    assert caps and set(caps) == {i["incident_id"] for i in drill.incidents}
    for xml in caps.values():
        assert validate_cap(xml) == []
        assert "<status>Exercise</status>" in xml.replace("cap:", "").replace(" ", "")
        assert "Actual" not in xml


def test_a_drill_is_deterministic_and_paced_by_its_wait(setup: ReplaySetup,
                                                        drill: DrillResult) -> None:
    due: list[int] = []
    again = run_sample(setup, wait=due.append)
    assert again.digest == drill.digest
    assert due == sorted(due) and due[0] >= NOW and due[-1] == NOW + 300_000 + 120_000
    assert all(b - a <= 1000 for a, b in zip(due, due[1:]))   # 1x: a tick at a time


def test_the_exercise_database_is_its_own() -> None:
    ex = exercise_id("scenario", NOW)
    assert exercise_database("citycc", ex) == f"citycc_exercise_{ex}"
    assert ex != exercise_id("scenario", NOW + 1) and len(ex) == 12


def test_the_drill_pipeline_runs_forward_and_applies_operator_commands(
        setup: ReplaySetup, drill: DrillResult) -> None:
    """What an exercise cockpit drives: event time passes (``until``), and a dispatcher
    acknowledges the drill's alert (``command``) inside the drill."""
    import orjson
    text = SAMPLE.read_text(encoding="utf-8")
    sc = parse_scenario(text, setup.policy)
    replayer, log = Replayer(setup, NOW), DrillLog()
    pipe = ReplayerDrill(replayer, drill_events(sc, exercise_id(text, NOW), NOW, setup.policy),
                         keep=log.take)
    pipe.until(NOW + 60_000)
    assert not log.result.incidents      # (the readings are still below their levels)
    firing = [orjson.loads(r.value) for r in pipe.until(NOW + 100_000)
              if r.topic == "alert_events"]
    assert log.result.incidents and firing
    ack = orjson.dumps({"command_id": "drill-ack-1", "action": "ack", "actor": "演练值班长",
                        "fingerprint": firing[0]["fingerprint"]})
    results = [orjson.loads(r.value) for r in pipe.command([ack])
               if r.topic == "command_results"]
    assert results and results[0]["command_id"] == "drill-ack-1" and results[0]["ok"]
    assert replayer.watermark_ms <= NOW + 100_000
