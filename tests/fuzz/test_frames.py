"""Websocket frames (``cockpit_api.command_sink.submit``): valid commands are queued once,
every other frame gets ``command_error`` with its code and nothing is sent."""

from __future__ import annotations

import pytest
from hypothesis import example, given

from .budget import fuzzed
from .targets.events import BAD_CHARACTERS
from .targets.frames import Frame, check_frames, frame, frame_cases
from .verdict import refuse

pytestmark = pytest.mark.fuzz

ACK = {"command_id": "c-1", "actor": "张伟", "action": "ack", "fingerprint": "fp-1"}


@fuzzed(0.5)
@given(case=frame_cases("valid"))
def test_valid_commands_are_queued_once(case: tuple[Frame, ...]) -> None:
    check_frames(case).assert_clean()


@fuzzed(1.0)
@given(case=frame_cases("schema"))
def test_malformed_frames_are_refused_with_their_code(case: tuple[Frame, ...]) -> None:
    check_frames(case).assert_clean()


@fuzzed(0.5)
@given(case=frame_cases("characters"))
@example(case=(Frame(frame({**ACK, "actor": "张\u202e伟"}),
                     refuse(BAD_CHARACTERS, why="bidi override in actor")),))
def test_control_and_bidi_characters_and_blank_ids_are_refused(
        case: tuple[Frame, ...]) -> None:
    check_frames(case).assert_clean()


@fuzzed(0.5)
@given(case=frame_cases("decode"))
def test_deep_frames_and_duplicate_keys_are_refused(case: tuple[Frame, ...]) -> None:
    check_frames(case).assert_clean()


@fuzzed(0.5)
@given(case=frame_cases("arbitrary"))
def test_arbitrary_frames_are_answered(case: tuple[Frame, ...]) -> None:
    check_frames(case).assert_clean()
