"""schemas.wire: one event or a batch {"events": [...]}, and every way a message is bad."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import errors as E
from schemas.errors import ValidationError
from schemas.wire import BATCH_KEY, decode_message, encode_batch, encode_event
from unit_helpers import ALL_TYPES, valid_event

MAX_BYTES, MAX_EVENTS = 4096, 5


def decode(raw: bytes | None, *, max_message_bytes: int = MAX_BYTES,
           max_batch_events: int = MAX_EVENTS) -> tuple[list[Any], bool]:
    return decode_message(raw, max_message_bytes=max_message_bytes,
                          max_batch_events=max_batch_events)


def bad(raw: bytes | None, **limits: int) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        decode(raw, **limits)
    return info.value


def test_single_event() -> None:
    ev = valid_event("lifeline", "reading")
    assert decode(encode_event(ev)) == ([ev], False)


def test_single_event_is_not_checked_here() -> None:
    # decoding only finds the events; validation (per event) is the validator's job
    assert decode(b'{"anything": 1}') == ([{"anything": 1}], False)
    assert decode(b"{}") == ([{}], False)


def test_batch() -> None:
    evs = [valid_event(s, t, n=i) for i, (s, t) in enumerate(ALL_TYPES[:MAX_EVENTS])]
    assert decode(encode_batch(evs)) == (evs, True)


def test_batch_items_are_returned_as_they_are() -> None:
    assert decode(b'{"events": [1, "x", null, [], {"a": 1}]}') == \
        ([1, "x", None, [], {"a": 1}], True)


def test_empty_batch() -> None:
    assert decode(b'{"events": []}') == ([], True)


@pytest.mark.parametrize("doc,field", [
    ({"events": [], "source": "gw-1"}, "source"),
    ({"events": [], "z": 1, "b": 2}, "b"),
    ({"type": "reading", "events": []}, "type"),
])
def test_batch_with_extra_top_level_key(doc: dict[str, Any], field: str) -> None:
    err = bad(orjson.dumps(doc))
    assert (err.code, err.field) == (E.UNKNOWN_FIELD, field)


@pytest.mark.parametrize("events", [{}, {"a": 1}, None, "[]", 3, True])
def test_events_not_a_list(events: Any) -> None:
    err = bad(orjson.dumps({"events": events}))
    assert (err.code, err.field) == (E.WRONG_TYPE, BATCH_KEY)


def test_too_many_events() -> None:
    ok = [{"n": i} for i in range(MAX_EVENTS)]
    assert decode(encode_batch(ok)) == (ok, True)
    err = bad(encode_batch(ok + [{"n": MAX_EVENTS}]))
    assert (err.code, err.field) == (E.BATCH_TOO_LARGE, BATCH_KEY)


def test_too_large_message() -> None:
    raw = encode_event({"pad": "x" * 100})
    assert decode(raw, max_message_bytes=len(raw)) == ([{"pad": "x" * 100}], False)
    err = bad(raw, max_message_bytes=len(raw) - 1)
    assert (err.code, err.field) == (E.TOO_LARGE, "")


def test_size_is_checked_before_parsing() -> None:
    err = bad(b"{" * 100, max_message_bytes=10)
    assert err.code == E.TOO_LARGE


def test_size_counts_bytes_not_characters() -> None:
    raw = encode_event({"zh": "长沙"})  # 2 characters, 6 bytes
    assert bad(raw, max_message_bytes=len(raw) - 1).code == E.TOO_LARGE
    assert decode(raw, max_message_bytes=len(raw))[0] == [{"zh": "长沙"}]


@pytest.mark.parametrize("raw", [b"", b"{", b"{'a': 1}", b'{"a": 1,}', b"nul", b"NaN",
                                 b'{"a": NaN}', b'{"a": Infinity}', b'{"a": 1e400}',
                                 b'{"a": 1} {"b": 2}', b"\x00", b'{"a": "\\ud800"}'])
def test_malformed_json(raw: bytes) -> None:
    err = bad(raw)
    assert (err.code, err.field) == (E.MALFORMED_JSON, "")


@pytest.mark.parametrize("raw", [b'{"a": "\xff"}', b'{"a": "\xc3\x28"}', b"\xfe\xff{}",
                                 '{"a": "长沙"}'.encode("gbk")])
def test_non_utf8_bytes(raw: bytes) -> None:
    err = bad(raw)
    assert (err.code, err.field) == (E.MALFORMED_JSON, "")


@pytest.mark.parametrize("raw", [b"[]", b'[{"type": "reading"}]', b"3", b'"x"', b"null",
                                 b"true"])
def test_top_level_not_an_object(raw: bytes) -> None:
    err = bad(raw)
    assert (err.code, err.field) == (E.NOT_OBJECT, "")


def test_tombstone() -> None:
    err = bad(None)
    assert (err.code, err.field) == (E.NOT_OBJECT, "")
    assert "tombstone" in err.reason


def test_encode_batch_round_trip_keeps_unicode_and_numbers() -> None:
    evs = [valid_event(s, t, full=True, n=i) for i, (s, t) in enumerate(ALL_TYPES)]
    evs[0]["source"] = "长沙-网关-1"
    raw = encode_batch(evs)
    assert orjson.loads(raw) == {"events": evs}
    assert decode(raw, max_batch_events=len(evs)) == (evs, True)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-2 ** 63, 2 ** 63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c, max_size=3),
    max_leaves=8)


@settings(max_examples=100, deadline=None)
@given(events=st.lists(st.dictionaries(st.text(max_size=8), JSON_VALUES, max_size=4),
                       max_size=MAX_EVENTS))
def test_encode_batch_round_trip_property(events: list[dict[str, Any]]) -> None:
    assert decode(encode_batch(events), max_message_bytes=1 << 20) == (events, True)


@settings(max_examples=200, deadline=None)
@given(raw=st.binary(max_size=64) | JSON_VALUES.map(orjson.dumps))
def test_decode_raises_only_validation_error(raw: bytes) -> None:
    try:
        items, batched = decode(raw)
    except ValidationError:
        return
    assert isinstance(items, list) and len(items) <= MAX_EVENTS
    assert batched or len(items) == 1
