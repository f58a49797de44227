"""schemas.jsonin: the one door for JSON from outside (depth bound, duplicate keys)."""

from __future__ import annotations

import json
from collections import OrderedDict
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import errors as E
from schemas.errors import ValidationError
from schemas.jsonin import decode, duplicate_key, too_deep
from schemas.limits import MAX_DEPTH


def nested(depth: int, leaf: Any = 1, kind: str = "list") -> Any:
    v = leaf
    for _ in range(depth):
        v = [v] if kind == "list" else {"k": v}
    return v


def refused(raw: bytes | str) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        decode(raw)
    return info.value


@pytest.mark.parametrize("value,depth", [
    (1, 0), ("x", 0), ([], 1), ({}, 1), ([1, "a"], 1), ({"a": [1]}, 2),
    ({"events": [{"a": 1}, {"b": 2}]}, 3), ([[], [[[]]], 1], 4),
    (nested(16), 16), (nested(16, kind="dict"), 16), ({"a": 1, "b": nested(15)}, 16)])
def test_depth_counts_levels_of_containers(value: Any, depth: int) -> None:
    assert not too_deep(value, depth)
    assert too_deep(value, depth - 1) == (depth > 0)


def test_depth_of_mixed_and_odd_containers() -> None:
    assert too_deep((1, (2, (3,))), 2) and not too_deep((1, (2, (3,))), 3)
    assert too_deep(OrderedDict(a=[{"b": 1}]), 2) and not too_deep(OrderedDict(a=[{}]), 3)
    assert too_deep([{"a": "xx"}, [[1]], "yy"], 2)
    loop: list[Any] = []
    loop.append(loop)   # answered without recursion, whatever the depth
    assert too_deep(loop, MAX_DEPTH)
    assert too_deep(nested(100_000), MAX_DEPTH)


@pytest.mark.parametrize("raw", [
    b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1),
    b'{"events":[' + b"[" * 255 + b"]" * 255 + b"]}",
    b"[" * 5000 + b"]" * 5000,   # past orjson's own limit
    ('{"a":' * (MAX_DEPTH + 1)) + "1" + "}" * (MAX_DEPTH + 1)])
def test_too_deep_is_refused(raw: bytes | str) -> None:
    err = refused(raw)
    assert (err.code, err.field) == (E.TOO_DEEP, "")


def test_the_bound_itself_is_accepted() -> None:
    assert decode(orjson.dumps(nested(MAX_DEPTH))) == nested(MAX_DEPTH)


@pytest.mark.parametrize("raw,key", [
    (b'{"a":1,"a":2}', "a"),
    (b'{"a":1, "b" : {"c": 1, "c": 1}}', "c"),
    (b'[{"x":1},{"y":[{"z":1,"z":"2"}]}]', "z"),
    (b'{"a":1,"\\u0061":2}', "a"),                       # the same key, spelled twice
    ('{"名":1,"名":2}', "名"),                             # text, not bytes
    # a ':' spelled as an escape would balance a naive count of colons
    (b'{"a":"\\u003a","a":1}', "a"),
    (b'{"t":"08:00:00","t":"09:00"}', "t")])
def test_duplicate_keys_are_refused(raw: bytes | str, key: str) -> None:
    err = refused(raw)
    assert err.code == E.DUPLICATE_KEY and repr(key) in err.reason


@pytest.mark.parametrize("raw", [
    b'{"a":"x:y","b":"\\u003a"}', b'{ "a" : 1 , "b" : "2025-06-01T08:00:00Z" }',
    b'[{"a":1},{"a":1}]', b'{"a":{"a":{"a":1}}}', b'"a:b"', b"{}", b'{"":1,"\\u003a":2}',
    '{"k": "\\":\\"", "\\\\u003a": 1}'])
def test_no_duplicate_is_no_refusal(raw: bytes | str) -> None:
    assert decode(raw) == json.loads(raw)


@pytest.mark.parametrize("raw", [b"", b"{", b"NaN", b"[1,]", b"\xff", b'{"a":1e400}'])
def test_malformed(raw: bytes) -> None:
    assert refused(raw).code == E.MALFORMED_JSON


JSON = st.recursive(st.none() | st.booleans() | st.integers(-2**63, 2**64 - 1) |
                    st.floats(allow_nan=False, allow_infinity=False) | st.text(),
                    lambda inner: st.lists(inner, max_size=4) |
                    st.dictionaries(st.text(max_size=5), inner, max_size=4), max_leaves=30)


@settings(max_examples=300, deadline=None)
@given(JSON, st.booleans())
def test_any_json_within_the_bound_comes_through(value: Any, pretty: bool) -> None:
    raw = json.dumps(value, ensure_ascii=pretty, indent=1 if pretty else None).encode()
    if too_deep(value, MAX_DEPTH):
        assert refused(raw).code == E.TOO_DEEP
    else:
        assert decode(raw) == orjson.loads(raw)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(alphabet=":\\\"au0", max_size=4), JSON, min_size=1, max_size=4),
       st.data())
def test_a_repeated_key_is_always_found(obj: dict[str, Any], data: st.DataObject) -> None:
    """Build the text by hand with one key written twice (anywhere, any escaping):
    decode refuses it, and the fast check agrees with the exact one."""
    items = list(obj.items())
    k, v = data.draw(st.sampled_from(items))
    items.insert(data.draw(st.integers(0, len(items))), (k, v))
    ascii_ = data.draw(st.booleans())
    raw = ("{" + ",".join(f"{json.dumps(a, ensure_ascii=ascii_)}:{json.dumps(b)}"
                          for a, b in items) + "}").encode()
    if too_deep(obj, MAX_DEPTH):
        return
    assert refused(raw).code == E.DUPLICATE_KEY
    assert duplicate_key(raw, orjson.loads(raw)) == k
