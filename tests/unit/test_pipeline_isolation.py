"""Issue 13, item 4: one message never costs its neighbours. A message nested too deep is
refused with its own code; a bug that a message sets off (in decoding, validation or
detection) dead-letters that message only (``internal_error``, original bytes kept)."""

from __future__ import annotations

from typing import Any

from schemas import errors as E
from schemas.validate import format_event_time
from schemas.wire import encode_batch
from streams.pipeline import INTERNAL_ERROR, RawMessage, StreamStep
from unit_helpers import NOW_MS, POLICY, PROFILE, valid_event

TOPIC = "citycc.lifeline"
DEEP = b'{"events":[' + b"[" * 255 + b"]" * 255 + b"]}"   # the 523 bytes


def readings(offset: int, n: int = 5) -> bytes:
    return encode_batch([valid_event("lifeline", "reading", n=offset * 100 + i,
                                     entity_id=f"GAS-{offset}-{i}", kind="gas_concentration",
                                     value=5.0, event_time=format_event_time(NOW_MS - 60_000))
                         for i in range(n)])


def batch_with(culprit: bytes, at: int = 4, size: int = 10) -> list[RawMessage]:
    return [RawMessage(TOPIC, 0, i, culprit if i == at else readings(i)) for i in range(size)]


def outcome(result: Any) -> tuple[list[int], list[tuple[int, str]]]:
    """(offsets of the stored events' messages, (offset, code) of each dead letter)."""
    return (sorted({o.offset for _, _, o in result.events}),
            sorted((d["source_offset"], d["code"]) for d in result.dead))


def test_a_deeply_nested_message_is_refused_and_its_neighbours_go_through() -> None:
    assert len(DEEP) == 523
    step = StreamStep("lifeline", PROFILE, POLICY)
    result = step.process_safely(batch_with(DEEP), NOW_MS)
    stored, dead = outcome(result)
    assert dead == [(4, E.TOO_DEEP)]
    assert stored == [i for i in range(10) if i != 4] and len(result.events) == 45
    assert result.dead[0]["raw"] == DEEP


def test_a_duplicate_key_refuses_only_its_message() -> None:
    twice = b'{"event_id":"a","event_id":"b"}'
    stored, dead = outcome(StreamStep("lifeline", PROFILE, POLICY).process_safely(
        batch_with(twice, at=0, size=3), NOW_MS))
    assert dead == [(0, E.DUPLICATE_KEY)] and stored == [1, 2]


def test_a_bug_in_validation_costs_only_the_message_that_set_it_off() -> None:
    step = StreamStep("lifeline", PROFILE, POLICY)
    validate = step.validator.validate

    def buggy(obj: Any, now_ms: int) -> Any:   # a bug that one event's content triggers
        if obj.get("entity_id") == "GAS-7-2":
            raise RuntimeError("boom")
        return validate(obj, now_ms)

    step.validator.validate = buggy  # type: ignore[method-assign]
    result = step.process_safely(batch_with(readings(1), at=1), NOW_MS)
    stored, dead = outcome(result)
    assert dead == [(7, INTERNAL_ERROR)] and stored == [i for i in range(10) if i != 7]
    (letter,) = result.dead
    assert letter["raw"] == readings(7) and "RuntimeError: boom" in letter["reason"]
    assert letter["batch_index"] == -1   # the whole message: none of its events went in


def test_a_bug_in_detection_costs_only_the_message_that_set_it_off() -> None:
    step = StreamStep("lifeline", PROFILE, POLICY)
    run = step.detection.run

    def buggy(rows: list[Any], now_ms: int = 0) -> Any:
        if any(e["entity_id"] == "GAS-3-0" for e, _, _ in rows):
            raise ZeroDivisionError("detector bug")
        return run(rows, now_ms)

    step.detection.run = buggy  # type: ignore[method-assign]
    result = step.process_safely(batch_with(readings(1), at=1), NOW_MS)
    stored, dead = outcome(result)
    assert dead == [(3, INTERNAL_ERROR)] and stored == [i for i in range(10) if i != 3]
    assert result.dead[0]["raw"] == readings(3)
