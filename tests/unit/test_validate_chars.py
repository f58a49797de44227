"""Issue 13, item 9: ids of events refuse control, invisible and bidi characters
(``bad_characters``) and blanks (``empty``), in every string field of every type."""

from __future__ import annotations

import pytest

from schemas import errors as E
from schemas.catalog import STREAMS
from schemas.errors import ValidationError
from schemas.validate import EventValidator
from unit_helpers import ALL_TYPES, POLICY, NOW_MS, valid_event

# every free-form string field (not checked against a list or a pattern)
ID_FIELDS = [(s, t, f.name) for s, t in ALL_TYPES for f in STREAMS[s].types[t].all_fields
             if f.kind == "str" and f.pattern is None
             and f.name not in ("type", "district", "unit")]


def refusal(stream: str, type_: str, **fields: object) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        EventValidator(stream, POLICY).validate(valid_event(stream, type_, full=True, **fields),
                                                NOW_MS)
    return info.value


def test_the_id_fields_are_the_expected_ones() -> None:
    assert {"event_id", "entity_id", "source", "call_id", "building_id", "incident_id",
            "segment_id"} == {n for _, _, n in ID_FIELDS}


@pytest.mark.parametrize("stream,type_,name", ID_FIELDS)
@pytest.mark.parametrize("value", ["A\x00B", "A\u202eB", "\u2066x", "x\x1b[2J", "x\x85",
                                   "A\u200bB"])
def test_bad_characters_in_an_id(stream: str, type_: str, name: str, value: str) -> None:
    err = refusal(stream, type_, **{name: value})
    assert (err.code, err.field) == (E.BAD_CHARACTERS, name)


@pytest.mark.parametrize("stream,type_,name", ID_FIELDS)
@pytest.mark.parametrize("value", ["", "   ", "\u3000"])
def test_a_blank_id_is_empty(stream: str, type_: str, name: str, value: str) -> None:
    err = refusal(stream, type_, **{name: value})
    assert (err.code, err.field) == (E.EMPTY, name)


def test_ids_in_any_script_pass() -> None:
    ev = valid_event("ems", "call", full=True, event_id="呼叫-٣-α", source="网关 1")
    out, _ = EventValidator("ems", POLICY).validate(ev, NOW_MS)
    assert out["event_id"] == "呼叫-٣-α" and out["source"] == "网关 1"
