"""Ingest (``streams.pipeline.StreamStep.process_safely``): messages of valid, spoilt and
arbitrary events, each ending as an event or a dead letter with its code and original
bytes, never at the cost of its neighbours. One test per class of mistake."""

from __future__ import annotations

import pytest
from hypothesis import example, given

from .budget import fuzzed
from .strategies import Deep
from .targets.events import TOO_DEEP, Item
from .targets.ingest import IngestCase, Message, _message, check_ingest, ingest_cases
from .verdict import ok, refuse

pytestmark = pytest.mark.fuzz

READING = {"event_id": "r-1", "type": "reading", "event_time": "2025-06-01T07:59:00.000Z",
           "source": "gw-1", "entity_id": "GAS-1", "lat": 28.19, "lon": 112.99,
           "kind": "gas_concentration", "value": 3.0, "unit": "%LEL"}
GOOD = _message([Item(READING, ok())], batched=True)
# issue 13: {"events":[ + [×255 + ]×255 + ]} poisoned the whole batch (RecursionError)
NESTED_255 = Message(b'{"events":[' + Deep(255).text() + b"]}",
                     (Item(Deep(255), refuse(TOO_DEEP, why="255-deep item"), "decode"),))
BIDI_ID = _message([Item({**READING, "entity_id": "GAS\u202e-1"},
                         refuse("bad_characters", why="bidi override in entity_id"))], True)


@fuzzed(0.5)
@given(case=ingest_cases("valid"))
def test_valid_events_are_accepted_in_any_mix(case: IngestCase) -> None:
    check_ingest(case).assert_clean()


@fuzzed(1.0)
@given(case=ingest_cases("schema"))
def test_schema_mistakes_are_dead_lettered_with_their_code(case: IngestCase) -> None:
    check_ingest(case).assert_clean()


@fuzzed(0.5)
@given(case=ingest_cases("characters"))
@example(case=IngestCase("lifeline", (GOOD, BIDI_ID)))
def test_control_and_bidi_characters_and_blank_ids_are_refused(case: IngestCase) -> None:
    check_ingest(case).assert_clean()


@fuzzed(1.0)
@given(case=ingest_cases("decode"))
@example(case=IngestCase("lifeline", (GOOD, NESTED_255)))
def test_deep_nesting_duplicate_keys_and_non_finite_numbers_are_refused(
        case: IngestCase) -> None:
    check_ingest(case).assert_clean()


@fuzzed(0.5)
@given(case=ingest_cases("arbitrary"))
def test_arbitrary_bytes_are_accepted_or_refused_and_counted(case: IngestCase) -> None:
    check_ingest(case).assert_clean()


@fuzzed(1.0)
@given(case=ingest_cases("all"))
def test_every_kind_of_message_together(case: IngestCase) -> None:
    check_ingest(case).assert_clean()
