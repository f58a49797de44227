"""Events of the five input streams: valid ones drawn from the catalogue (every field within
its declared range), and one mutation of a valid one with the code it must be refused with.

Used by the ingest target (messages of events) and the engine target (dispatch records).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable

from hypothesis import strategies as st

from schemas import errors as E
from schemas.catalog import MEASUREMENTS, STREAMS, EventType, Field
from streams.pipeline import Limits

from ..strategies import (BAD_TIMES, NON_FINITE, ORJSON_MAX_DEPTH, POLICY, PROFILE, Deep, Pairs,
                          Raw, blanks, deep, future_times, ids, json_values, old_times,
                          recent_times, tainted)
from ..verdict import Expect, refuse

# Small limits, so that sizes past them are cheap to make (the checks are the same).
LIMITS = Limits(max_message_bytes=32_768, max_event_bytes=4_096, max_batch_events=16)
ID_FIELDS = ("event_id", "entity_id", "call_id", "building_id", "incident_id", "segment_id")
TOO_DEEP, DUPLICATE_KEY, BAD_CHARACTERS, EMPTY = "too_deep", "duplicate_key", \
    "bad_characters", "empty"
DISTRICTS = sorted(PROFILE.district_codes)


@dataclass(frozen=True)
class Item:
    """One event (or batch item) as written, and what must become of it. ``scope``:
    ``item`` (the validator judges it), ``decode`` (refused when the message is decoded:
    the whole message or just this item may go), ``message`` (the message cannot be decoded
    at all)."""

    value: Any
    expect: Expect
    scope: str = "item"


def etype(stream: str, type_: str) -> EventType:
    return STREAMS[stream].types[type_]


@lru_cache(maxsize=None)
def _value(f: Field, type_: str) -> st.SearchStrategy[Any]:
    """A valid value of field ``f`` (lat/lon, kind/unit/value are drawn together)."""
    if f.name == "type":
        return st.just(type_)
    if f.name == "event_time":
        return recent_times()
    if f.name == "district":
        return st.sampled_from(DISTRICTS)
    if f.name == "v":
        return st.just(1)
    if f.kind == "enum":
        return st.sampled_from(f.choices)
    if f.kind == "int":
        least = int(f.lo) if f.lo is not None else 0
        return st.integers(least, int(f.hi) if f.hi is not None else least + 10_000)
    if f.kind == "float":
        return numbers(f.lo or 0.0, f.hi if f.hi is not None else 1e6)
    if f.pattern == r"^[0-9]{4}$":
        return st.from_regex(r"[0-9]{4}", fullmatch=True)
    return ids(min(40, f.max_len))


@lru_cache(maxsize=None)
@st.composite
def valid_events(draw: st.DrawFn, stream: str, type_: str, full: bool | None = None
                 ) -> dict[str, Any]:
    """A valid event of ``stream.type_``: required fields, and optional ones at random."""
    et = etype(stream, type_)
    ev: dict[str, Any] = {}
    placed = draw(st.booleans()) if full is None else full
    for f in et.all_fields:
        if f.name in ("lat", "lon", "kind", "unit", "value"):
            continue
        if f.required or (full if full is not None else draw(st.booleans())):
            ev[f.name] = draw(_value(f, type_))
    names = {f.name: f for f in et.all_fields}
    if "lat" in names and (names["lat"].required or placed):
        ev["lat"] = draw(numbers(POLICY.lat_min, POLICY.lat_max))
        ev["lon"] = draw(numbers(POLICY.lon_min, POLICY.lon_max))
    if et.measured:
        kind = draw(_value(names["kind"], type_))
        m = MEASUREMENTS[kind]
        ev.update(kind=kind, unit=m.unit, value=draw(numbers(m.lo, m.hi)))
    return ev


@lru_cache(maxsize=None)
def numbers(lo: float, hi: float) -> st.SearchStrategy[float | int]:
    """Numbers in [lo, hi]: floats, and sometimes whole numbers (JSON has no types)."""
    return st.floats(lo, hi) | st.integers(math.ceil(lo), math.floor(hi))


@lru_cache(maxsize=None)
def _wrong_type(f: Field) -> tuple[st.SearchStrategy[Any], frozenset[str]]:
    shapes = st.booleans() | st.lists(st.integers(), max_size=2) | \
        st.dictionaries(st.text(max_size=3), st.integers(), max_size=2)
    if f.name == "type":
        return st.text(max_size=8) | st.integers() | shapes, frozenset({E.UNKNOWN_TYPE})
    if f.kind in ("float", "int"):
        values: st.SearchStrategy[Any] = st.text(max_size=6) | shapes
        if f.kind == "int":
            values |= st.integers(-1000, 1000).map(lambda i: i + 0.5)
        return values, frozenset({E.WRONG_TYPE})
    if f.kind == "enum":
        return st.integers() | shapes, frozenset({E.UNKNOWN_VALUE, E.WRONG_TYPE})
    return st.integers() | st.floats(allow_nan=False) | shapes, frozenset({E.WRONG_TYPE})


def _out_of_range(f: Field, draw: st.DrawFn) -> tuple[Any, frozenset[str]]:
    if f.name == "v":
        v = draw(st.integers(-5, 0) | st.integers(2, 10 ** 6))
        return v, frozenset({E.OUT_OF_RANGE if v < 1 else E.UNSUPPORTED_VERSION})
    step = draw(st.integers(1, 10 ** 9))
    if f.lo is not None and (f.hi is None or draw(st.booleans())):
        return f.lo - step, frozenset({E.OUT_OF_RANGE})
    assert f.hi is not None
    return f.hi + step, frozenset({E.OUT_OF_RANGE})


Mutation = Callable[[st.DrawFn, dict[str, Any], EventType], Item]


def _field(draw: st.DrawFn, ev: dict[str, Any], et: EventType,
           keep: Callable[[Field], bool]) -> Field | None:
    present = [f for f in et.all_fields if f.name in ev and keep(f)]
    return draw(st.sampled_from(present)) if present else None


def _replace(ev: dict[str, Any], name: str, value: Any) -> dict[str, Any]:
    return {**ev, name: value}


def m_missing(draw: st.DrawFn, ev: dict[str, Any], et: EventType) -> Item:
    f = draw(st.sampled_from([f for f in et.all_fields if f.required]))
    gone = {k: v for k, v in ev.items() if k != f.name}
    if draw(st.booleans()):
        gone[f.name] = None
    code = E.UNKNOWN_TYPE if f.name == "type" else E.MISSING_FIELD
    return Item(gone, refuse(code, why=f"missing {f.name}"))


def m_wrong_type(draw: st.DrawFn, ev: dict[str, Any], et: EventType) -> Item:
    f = _field(draw, ev, et, lambda f: True)
    assert f is not None
    values, codes = _wrong_type(f)
    names = tuple(STREAMS[et.stream].types)
    value = draw(values.filter(lambda v: v is not None and v not in names))
    return Item(_replace(ev, f.name, value), Expect(False, codes, f"wrong type of {f.name}"))


def m_unknown_field(draw: st.DrawFn, ev: dict[str, Any], et: EventType) -> Item:
    known = {f.name for f in et.all_fields} | {"events"}
    key = draw(st.text(min_size=1, max_size=12).filter(lambda k: k not in known))
    return Item({**ev, key: draw(json_values(3))}, refuse(E.UNKNOWN_FIELD, why="unknown field"))


def m_out_of_range(draw: st.DrawFn, ev: dict[str, Any], et: EventType) -> Item:
    f = _field(draw, ev, et, lambda f: f.kind in ("int", "float") and
               (f.lo is not None or f.hi is not None))
    if f is None or (et.measured and draw(st.booleans())):
        if not et.measured:
            return m_unknown_field(draw, ev, et)
        m = MEASUREMENTS[ev["kind"]]
        value = draw(st.sampled_from([m.lo - draw(st.integers(1, 10 ** 6)),
                                      m.hi + draw(st.integers(1, 10 ** 6))]))
        return Item(_replace(ev, "value", value), refuse(E.OUT_OF_RANGE, why="value impossible"))
    value, codes = _out_of_range(f, draw)
    return Item(_replace(ev, f.name, value), Expect(False, codes, f"{f.name} out of range"))


def m_outside_city(draw: st.DrawFn, ev: dict[str, Any], et: EventType) -> Item:
    if "lat" not in ev:
        return m_missing(draw, ev, et)
    lat = draw(st.floats(-90, POLICY.lat_min - 0.01) | st.floats(POLICY.lat_max + 0.01, 90))
    return Item(_replace(ev, "lat", lat), refuse(E.OUTSIDE_CITY, why="outside the city"))


def m_too_long(draw: st.DrawFn, ev: dict[str, Any], et: EventType) -> Item:
    f = _field(draw, ev, et, lambda f: f.kind in ("str", "time") and f.name != "type")
    assert f is not None
    text = draw(ids(20)) * (f.max_len + 1)
    return Item(_replace(ev, f.name, text[:f.max_len + draw(st.integers(1, 100))]),
                refuse(E.OUT_OF_RANGE, why=f"{f.name} too long"))


def m_huge(draw: st.DrawFn, ev: dict[str, Any], et: EventType) -> Item:
    """A huge string: refused by size (the message's, or the event's)."""
    f = _field(draw, ev, et, lambda f: f.kind in ("str", "time") and f.name != "type")
    assert f is not None
    size = draw(st.sampled_from([LIMITS.max_event_bytes, LIMITS.max_message_bytes]))
    text = "长" * (size // 3 + draw(st.integers(1, 1000)))
    return Item(_replace(ev, f.name, text), refuse(E.TOO_LARGE, why=f"huge {f.name}"))


def m_bad_id(draw: st.DrawFn, ev: dict[str, Any], et: EventType) -> Item:
    f = _field(draw, ev, et, lambda f: f.name in ID_FIELDS)
    assert f is not None
    if draw(st.booleans()):
        return Item(_replace(ev, f.name, draw(blanks())), refuse(EMPTY, why=f"blank {f.name}"))
    return Item(_replace(ev, f.name, draw(tainted())),
                refuse(BAD_CHARACTERS, why=f"control/bidi character in {f.name}"))


def m_time(draw: st.DrawFn, ev: dict[str, Any], et: EventType) -> Item:
    how = draw(st.sampled_from(("old", "future", "bad")))
    if how == "old":
        t, code = draw(old_times(POLICY.max_lateness_ms + 1000)), E.TOO_LATE
    elif how == "future":
        t, code = draw(future_times(POLICY.max_future_ms + 1000)), E.IN_FUTURE
    else:
        t, code = draw(st.sampled_from(BAD_TIMES)), E.BAD_TIME
    return Item(_replace(ev, "event_time", t), refuse(code, why=f"{how} event_time"))


def m_place(draw: st.DrawFn, ev: dict[str, Any], et: EventType) -> Item:
    if et.measured and draw(st.booleans()):
        unit = draw(st.sampled_from(sorted({m.unit for m in MEASUREMENTS.values()}
                                           - {MEASUREMENTS[ev["kind"]].unit})))
        return Item(_replace(ev, "unit", unit), refuse(E.BAD_UNIT, why="wrong unit"))
    district = draw(ids(32).filter(lambda d: d not in PROFILE.district_codes))
    return Item(_replace(ev, "district", district),
                refuse(E.UNKNOWN_VALUE, why="unknown district"))


def m_deep(draw: st.DrawFn, ev: dict[str, Any], et: EventType) -> Item:
    f = _field(draw, ev, et, lambda f: True)
    assert f is not None
    d = draw(deep())
    return Item(_replace(ev, f.name, d), refuse(*deep_codes(d, 3), why=f"{d} in {f.name}"),
                "decode")


def deep_codes(d: Deep, around: int) -> tuple[str, ...]:
    """too_deep; also malformed_json past orjson's own limit (``around``: containers
    around the deep value)."""
    return (TOO_DEEP, E.MALFORMED_JSON) if d.depth + around > ORJSON_MAX_DEPTH else (TOO_DEEP,)


def m_duplicate_key(draw: st.DrawFn, ev: dict[str, Any], et: EventType) -> Item:
    pairs = list(ev.items())
    k, v = draw(st.sampled_from(pairs))
    again = v if draw(st.booleans()) else draw(_value(
        next(f for f in et.all_fields if f.name == k), et.name))
    pairs.insert(draw(st.integers(0, len(pairs))), (k, again))
    return Item(Pairs(tuple(pairs)), refuse(DUPLICATE_KEY, why=f"duplicate key {k}"), "decode")


def m_non_finite(draw: st.DrawFn, ev: dict[str, Any], et: EventType) -> Item:
    f = _field(draw, ev, et, lambda f: f.kind in ("int", "float"))
    if f is None:
        return m_duplicate_key(draw, ev, et)
    token = draw(st.sampled_from(NON_FINITE))
    return Item(_replace(ev, f.name, Raw(token)),
                refuse(E.MALFORMED_JSON, E.OUT_OF_RANGE, why=f"{token.decode()} in {f.name}"),
                "message")


# The mutations by the class of mistake they make (a test per class, so that each class's
# minimal example is reported on its own); "all" is every class, "valid" none.
MUTATIONS: dict[str, tuple[Mutation, ...]] = {
    "schema": (m_missing, m_wrong_type, m_unknown_field, m_out_of_range, m_outside_city,
               m_too_long, m_huge, m_time, m_place),
    "characters": (m_bad_id,),
    "decode": (m_deep, m_duplicate_key, m_non_finite),
}


def mutations(group: str) -> tuple[Mutation, ...]:
    if group == "all":
        return tuple(m for ms in MUTATIONS.values() for m in ms)
    return MUTATIONS.get(group, ())


@lru_cache(maxsize=None)
@st.composite
def mutated_events(draw: st.DrawFn, stream: str, type_: str, group: str = "all") -> Item:
    ev = draw(valid_events(stream, type_))
    return draw(st.sampled_from(mutations(group)))(draw, ev, etype(stream, type_))
