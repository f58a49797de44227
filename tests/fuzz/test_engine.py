"""The alerting engine (``alerting.engine.Engine``: alerts, commands, dispatch, tick):
every record applied or refused with a code, never an exception or a hang; a good record
after a bad one still goes in; a resent command changes nothing; the state still
checkpoints. One test per class of mistake."""

from __future__ import annotations

import pytest
from hypothesis import example, given

from .budget import fuzzed
from .strategies import Deep
from .targets.alerts import OUT_OF_WINDOW, fixed_alert
from .targets.engine import EngineCase, Step, check_engine, engine_cases
from .targets.events import BAD_CHARACTERS, TOO_DEEP
from .verdict import either, ok, refuse

pytestmark = pytest.mark.fuzz

SILENCE = {"command_id": "c-1", "actor": "张伟", "action": "silence",
           "matchers": ['entity_id="GASC-YL-1"'], "reason": "管网检修"}
ANCIENT = "0001-01-01T00:00:00Z"


def _case(*steps: Step) -> EngineCase:
    return EngineCase(steps)


@fuzzed(0.5)
@given(case=engine_cases("valid"))
def test_valid_alerts_commands_and_dispatch_are_applied(case: EngineCase) -> None:
    check_engine(case).assert_clean()


@fuzzed(0.5)
@given(case=engine_cases("schema"))
def test_malformed_records_are_refused_and_the_next_goes_in(case: EngineCase) -> None:
    check_engine(case).assert_clean()


@fuzzed(0.5)
@given(case=engine_cases("characters"))
@example(case=_case(Step("command", ({**SILENCE, "actor": "张\u202e伟"},),
                         (refuse(BAD_CHARACTERS, why="bidi override in actor"),))))
def test_control_and_bidi_characters_are_refused(case: EngineCase) -> None:
    check_engine(case).assert_clean()


@fuzzed(0.5)
@given(case=engine_cases("window"))
@example(case=_case(Step("alerts", (fixed_alert(event_time=ANCIENT, detected_at=ANCIENT),
                                    fixed_alert(2)),
                         (refuse(OUT_OF_WINDOW, why="an alert of year 1"), ok())),
                    Step("tick")))
def test_alerts_and_calls_outside_the_time_window_are_refused(case: EngineCase) -> None:
    check_engine(case).assert_clean()


@fuzzed(0.5)
@given(case=engine_cases("decode"))
@example(case=_case(Step("alerts", (fixed_alert(evidence=Deep(1000)),
                                    fixed_alert(2)),
                         (either("1000-deep evidence", TOO_DEEP, "bad_alert"), ok()))))
def test_deep_values_are_refused_never_raised(case: EngineCase) -> None:
    check_engine(case).assert_clean()


@fuzzed(0.5)
@given(case=engine_cases("duplicates"))
@example(case=_case(Step("command", (SILENCE,), (ok(),)),
                    Step("resend", (SILENCE,), (ok("resent command_id"),))))
def test_a_resent_command_id_is_answered_and_changes_nothing(case: EngineCase) -> None:
    check_engine(case).assert_clean()


@fuzzed(0.5)
@given(case=engine_cases("arbitrary"))
def test_arbitrary_json_records_are_applied_or_refused(case: EngineCase) -> None:
    check_engine(case).assert_clean()


@fuzzed(0.5)
@given(case=engine_cases("all"))
def test_every_kind_of_record_together(case: EngineCase) -> None:
    check_engine(case).assert_clean()
