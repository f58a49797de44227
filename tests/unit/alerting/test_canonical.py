"""alerting.canonical: orjson's fast path writes exactly the json module's bytes."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alerting import canonical


def reference(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, sort_keys=True, separators=(",", ":"),
                      allow_nan=False)


scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.text(),
                    st.floats(allow_nan=True, allow_infinity=True),
                    st.floats(min_value=-1e-3, max_value=1e-3), st.sampled_from(
                        [0.0, -0.0, 1e-4, 9.999e-5, 1e-5, 1e16, 1.5e16, 123.456, 2 ** 64]))
json_like = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=5), st.tuples(inner, inner),
    st.dictionaries(st.text(max_size=5), inner, max_size=5)), max_leaves=25)


@settings(max_examples=600, deadline=None)
@given(json_like)
def test_dumps_is_the_json_modules_canonical_form(obj: Any) -> None:
    try:
        want = reference(obj)
    except (TypeError, ValueError) as exc:
        with pytest.raises(type(exc)):
            canonical.dumps(obj)
        return
    got, is_plain = canonical.encode(obj)
    assert got == want
    if is_plain:   # then parsing it back gives the object (tuples as lists)
        assert json.loads(got) == json.loads(want)


@pytest.mark.parametrize("obj, plain", [
    ({"a": 1, "b": [1, 2.5, None, True, "x"]}, True),
    ({"a": 1e-5}, False),           # repr: 1e-05, orjson: 0.00001
    ({"a": float("nan")}, False),   # json: ValueError, orjson: null
    ({1: "a"}, False),              # json turns the key into "1"
    ({"a": uuid.uuid4()}, False),   # json: TypeError, orjson: a string
    ({"a": (1, ("b", 0.0))}, True),
])
def test_plain_says_when_orjson_may_write_it(obj: Any, plain: bool) -> None:
    assert canonical.plain(obj) is plain


def test_a_circular_payload_is_left_to_the_json_module() -> None:
    loop: list[Any] = []
    loop.append(loop)
    assert canonical.plain(loop) is False
    with pytest.raises(ValueError, match="Circular"):
        canonical.dumps(loop)


def test_big_integers_and_lone_surrogates_fall_back() -> None:
    for obj in ({"n": 2 ** 70}, {"s": "a\ud800b"}):
        assert canonical.dumps(obj) == reference(obj)


# --- incident members: plain by construction -----------------------------------------------
alert_values = st.one_of(scalars, st.lists(scalars, max_size=4),
                         st.dictionaries(st.text(max_size=4), scalars, max_size=3))


@settings(max_examples=400, deadline=None)
@given(lat=scalars, lon=scalars, evidence=alert_values, title=alert_values,
       explanation=st.dictionaries(st.sampled_from(
           ["un_number", "hazard_class", "segments", "tank", "key", "members"]),
           alert_values, max_size=4))
def test_a_member_that_says_it_is_plain_is(lat: Any, lon: Any, evidence: Any, title: Any,
                                           explanation: Any) -> None:
    # the correlator skips the walk for a member whose .plain holds: it must never be
    # wrong, for members made from any alert and for members read back from an event
    from alerting.incident_model import IncidentError, Member, member_from_alert
    alert = {"alert_id": "a1", "fingerprint": "fp", "kind": "fire_alarm", "status": "firing",
             "severity": "major", "event_time": "2026-12-01T08:00:00.000Z", "lat": lat,
             "lon": lon, "evidence": evidence, "title_zh": title, "entity_id": title,
             "explanation": explanation}
    try:
        m = member_from_alert(alert)
    except IncidentError:
        return
    for member in (m, Member.from_dict(json.loads(reference(m.to_dict())))):
        if member.plain:
            assert canonical.plain(member.to_dict())
            assert canonical.encode(member.to_dict(), known_plain=True)[0] == \
                reference(member.to_dict())
