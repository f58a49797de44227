"""schemas.validate: every kind of bad input gets its exact code and field; valid events of
every type of every stream pass; validate raises nothing but ValidationError."""

from __future__ import annotations

import copy
import pickle
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import errors as E
from schemas.catalog import MEASUREMENTS, STREAMS
from schemas.errors import ValidationError
from schemas.validate import EventValidator, Policy, format_event_time, parse_event_time
from unit_helpers import (ALL_TYPES, DROP, MEASURED_KINDS, NOW_MS, OPTIONAL_FIELDS, POLICY,
                          PROFILE, REQUIRED_FIELDS, valid_event, validator)

CANONICAL = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


def reject(stream: str, obj: Any, now_ms: int = NOW_MS) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        validator(stream).validate(obj, now_ms)
    return info.value


def accept(stream: str, obj: Any, now_ms: int = NOW_MS) -> tuple[dict[str, Any], int]:
    return validator(stream).validate(obj, now_ms)


# --- valid events of every type ---------------------------------------------------------
@pytest.mark.parametrize("full", [False, True], ids=["required", "full"])
@pytest.mark.parametrize("stream,type_", ALL_TYPES)
def test_valid_event_of_every_type_is_accepted(stream: str, type_: str, full: bool) -> None:
    ev = valid_event(stream, type_, full=full)
    before = copy.deepcopy(ev)
    out, ts = accept(stream, ev)
    assert out == ev
    assert ts == NOW_MS - 1000
    assert ev == before  # the input is not mutated


def test_catalogue_generation_covers_every_stream_and_type() -> None:
    assert {s for s, _ in ALL_TYPES} == set(STREAMS) == {"lifeline", "ems", "fire", "traffic",
                                                          "hazmat"}
    assert len(ALL_TYPES) == sum(len(s.types) for s in STREAMS.values())
    assert {k for _, _, k in MEASURED_KINDS} == set(MEASUREMENTS)


@pytest.mark.parametrize("stream,type_,kind", MEASURED_KINDS)
def test_every_measured_kind_with_its_unit_is_accepted(stream: str, type_: str,
                                                       kind: str) -> None:
    out, _ = accept(stream, valid_event(stream, type_, kind=kind))
    assert out["kind"] == kind and out["unit"] == MEASUREMENTS[kind].unit


@pytest.mark.parametrize("stream,type_,name", OPTIONAL_FIELDS)
def test_optional_field_may_be_absent_or_null(stream: str, type_: str, name: str) -> None:
    if name in ("lat", "lon"):  # optional coordinates come together
        for absent in ({"lat": DROP, "lon": DROP}, {"lat": None, "lon": None}):
            out, _ = accept(stream, valid_event(stream, type_, full=True, **absent))
            assert "lat" not in out and "lon" not in out
        return
    out, _ = accept(stream, valid_event(stream, type_, full=True, **{name: DROP}))
    assert name not in out
    out, _ = accept(stream, valid_event(stream, type_, full=True, **{name: None}))
    assert name not in out


def test_numbers_are_normalised() -> None:
    out, _ = accept("ems", valid_event("ems", "call", priority=2.0, lat=28, lon=113, v=1.0))
    assert out["priority"] == 2 and type(out["priority"]) is int
    assert out["v"] == 1 and type(out["v"]) is int
    assert type(out["lat"]) is float and type(out["lon"]) is float


# --- the message is not an event --------------------------------------------------------
@pytest.mark.parametrize("obj", [[], [valid_event("ems", "call")], "call", 1, 2.5, True, None],
                         ids=["empty-list", "list", "str", "int", "float", "bool", "null"])
@pytest.mark.parametrize("stream", list(STREAMS))
def test_not_an_object(stream: str, obj: Any) -> None:
    err = reject(stream, obj)
    assert (err.code, err.field) == (E.NOT_OBJECT, "")


@pytest.mark.parametrize("type_value", [DROP, None, "nope", "", 5, ["call"], {"a": 1}, "CALL"],
                         ids=["absent", "null", "unknown", "empty", "int", "list", "dict",
                              "case"])
def test_unknown_type(type_value: Any) -> None:
    err = reject("ems", valid_event("ems", "call", type=type_value))
    assert (err.code, err.field) == (E.UNKNOWN_TYPE, "type")


@pytest.mark.parametrize("stream,type_", ALL_TYPES)
def test_type_of_another_stream_is_unknown(stream: str, type_: str) -> None:
    others = [s for s in STREAMS if s != stream and type_ not in STREAMS[s].types]
    for other in others:
        err = reject(other, valid_event(stream, type_))
        assert (err.code, err.field) == (E.UNKNOWN_TYPE, "type")


# --- unknown fields ---------------------------------------------------------------------
@pytest.mark.parametrize("stream,type_", ALL_TYPES)
def test_unknown_field(stream: str, type_: str) -> None:
    err = reject(stream, valid_event(stream, type_, full=True, colour="red"))
    assert (err.code, err.field) == (E.UNKNOWN_FIELD, "colour")


def test_unknown_field_names_the_first_in_sorted_order() -> None:
    err = reject("ems", valid_event("ems", "call", zz=1, aa=2))
    assert (err.code, err.field) == (E.UNKNOWN_FIELD, "aa")


def test_field_of_a_sibling_type_is_unknown() -> None:
    err = reject("ems", valid_event("ems", "call", status="available"))
    assert (err.code, err.field) == (E.UNKNOWN_FIELD, "status")


def test_unknown_field_even_when_a_known_one_is_missing() -> None:
    err = reject("ems", valid_event("ems", "call", source=DROP, colour="red"))
    assert (err.code, err.field) == (E.UNKNOWN_FIELD, "colour")


def test_unknown_field_name_is_truncated() -> None:
    err = reject("ems", valid_event("ems", "call", **{"x" * 100: 1}))
    assert (err.code, err.field) == (E.UNKNOWN_FIELD, "x" * 40)


# --- missing required fields (every one of every type) -----------------------------------
@pytest.mark.parametrize("absent", [DROP, None], ids=["absent", "null"])
@pytest.mark.parametrize("stream,type_,name", REQUIRED_FIELDS)
def test_missing_required_field(stream: str, type_: str, name: str, absent: Any) -> None:
    err = reject(stream, valid_event(stream, type_, full=True, **{name: absent}))
    if name == "type":  # without a type the event's fields are not even known
        assert (err.code, err.field) == (E.UNKNOWN_TYPE, "type")
    else:
        assert (err.code, err.field) == (E.MISSING_FIELD, name)


# --- wrong types ------------------------------------------------------------------------
WRONG_TYPES = [
    # (stream, type, field, bad value, code)
    ("lifeline", "reading", "value", "12.5", E.WRONG_TYPE),
    ("lifeline", "reading", "value", True, E.WRONG_TYPE),
    ("lifeline", "reading", "value", False, E.WRONG_TYPE),
    ("lifeline", "reading", "value", [1.0], E.WRONG_TYPE),
    ("lifeline", "reading", "value", {"v": 1.0}, E.WRONG_TYPE),
    ("lifeline", "reading", "lat", "28.2", E.WRONG_TYPE),
    ("lifeline", "reading", "lon", True, E.WRONG_TYPE),
    ("ems", "call", "priority", "1", E.WRONG_TYPE),
    ("ems", "call", "priority", True, E.WRONG_TYPE),
    ("ems", "call", "patients", [2], E.WRONG_TYPE),
    ("ems", "call", "v", "1", E.WRONG_TYPE),
    ("ems", "call", "v", True, E.WRONG_TYPE),
    ("traffic", "segment", "occupancy", "0.5", E.WRONG_TYPE),
    ("traffic", "accident", "lanes_blocked", False, E.WRONG_TYPE),
    ("ems", "call", "event_id", 5, E.WRONG_TYPE),
    ("ems", "call", "source", 5.5, E.WRONG_TYPE),
    ("ems", "call", "entity_id", True, E.WRONG_TYPE),
    ("ems", "call", "entity_id", ["E-1"], E.WRONG_TYPE),
    ("ems", "call", "district", 3, E.WRONG_TYPE),
    ("fire", "alarm_signal", "building_id", {"id": 1}, E.WRONG_TYPE),
    ("hazmat", "vehicle_gps", "un_number", 1203, E.WRONG_TYPE),
    ("lifeline", "reading", "unit", 1, E.WRONG_TYPE),
    ("ems", "call", "event_time", NOW_MS, E.WRONG_TYPE),
    ("ems", "call", "event_time", ["2025-06-01T08:00:00Z"], E.WRONG_TYPE),
    # an enum is a string from a fixed list: anything else is an unknown value
    ("ems", "call", "complaint", 3, E.UNKNOWN_VALUE),
    ("ems", "call", "complaint", True, E.UNKNOWN_VALUE),
    ("ems", "call", "complaint", ["stroke"], E.UNKNOWN_VALUE),
    ("ems", "call", "complaint", {"stroke": 1}, E.UNKNOWN_VALUE),
    ("lifeline", "reading", "kind", ["gas_pressure"], E.UNKNOWN_VALUE),
    ("hazmat", "vehicle_gps", "hazard_class", 3, E.UNKNOWN_VALUE),
    ("hazmat", "vehicle_gps", "hazard_class", 2.1, E.UNKNOWN_VALUE),
]


@pytest.mark.parametrize("stream,type_,name,value,code", WRONG_TYPES,
                         ids=[f"{t}.{n}={v!r}" for _, t, n, v, _ in WRONG_TYPES])
def test_wrong_type(stream: str, type_: str, name: str, value: Any, code: str) -> None:
    err = reject(stream, valid_event(stream, type_, full=True, **{name: value}))
    assert (err.code, err.field) == (code, name)


# --- numbers out of range, integers that are not ------------------------------------------
OUT_OF_RANGE = [
    ("lifeline", "reading", "lat", 90.5),
    ("lifeline", "reading", "lat", -91.0),
    ("lifeline", "reading", "lon", 180.01),
    ("lifeline", "reading", "lon", -1e308),
    ("lifeline", "reading", "value", 1e308),
    ("lifeline", "reading", "value", -1e308),
    ("lifeline", "reading", "value", 10 ** 400),  # a Python int no float can hold
    ("lifeline", "reading", "value", float("inf")),
    ("lifeline", "reading", "value", float("-inf")),
    ("lifeline", "reading", "value", float("nan")),
    ("ems", "unit_gps", "speed_kmh", -0.1),
    ("ems", "unit_gps", "speed_kmh", 250.5),
    ("ems", "unit_gps", "heading", 360.01),
    ("ems", "unit_gps", "heading", -1),
    ("traffic", "segment", "occupancy", 1.0001),
    ("traffic", "segment", "flow_vph", 12000.5),
    ("traffic", "segment", "speed_kmh", 200.5),
    ("ems", "call", "priority", 0),
    ("ems", "call", "priority", 5),
    ("ems", "call", "priority", -2 ** 70),
    ("ems", "call", "patients", 501),
    ("fire", "incident", "alarm_level", 6),
    ("traffic", "accident", "severity", 5.0),
    ("traffic", "accident", "lanes_blocked", -1),
    ("traffic", "accident", "lanes_blocked", 10 ** 400),
    # strings: too long, not matching the pattern (a blank id is ``empty``, issue 13:
    # tests/unit/test_validate_chars.py)
    ("ems", "call", "source", "s" * 129),
    ("ems", "call", "district", "d" * 33),
    ("lifeline", "reading", "unit", "u" * 17),
    ("hazmat", "vehicle_gps", "un_number", "12a4"),
    ("hazmat", "vehicle_gps", "un_number", "123"),
    ("hazmat", "vehicle_gps", "un_number", "12034"),
    ("hazmat", "vehicle_gps", "un_number", "1203\n"),
    ("hazmat", "vehicle_gps", "un_number", "١٢٠٣"),  # Arabic-Indic digits are not [0-9]
]


@pytest.mark.parametrize("stream,type_,name,value", OUT_OF_RANGE,
                         ids=[f"{t}.{n}={str(v)[:12]!r}" for _, t, n, v in OUT_OF_RANGE])
def test_out_of_range(stream: str, type_: str, name: str, value: Any) -> None:
    err = reject(stream, valid_event(stream, type_, full=True, **{name: value}))
    assert (err.code, err.field) == (E.OUT_OF_RANGE, name)


@pytest.mark.parametrize("name,value", [("priority", 2.5), ("priority", 1.000001),
                                        ("patients", 3.5), ("v", 1.5),
                                        ("priority", float("inf")),
                                        ("priority", float("nan"))])
def test_int_field_given_a_fraction(name: str, value: float) -> None:
    err = reject("ems", valid_event("ems", "call", full=True, **{name: value}))
    assert (err.code, err.field) == (E.WRONG_TYPE, name)


@pytest.mark.parametrize("stream,type_,name,value", [
    ("lifeline", "reading", "lat", 28.67), ("lifeline", "reading", "lat", 27.85),
    ("traffic", "segment", "occupancy", 0.0), ("traffic", "segment", "occupancy", 1),
    ("ems", "unit_gps", "heading", 360.0), ("ems", "call", "priority", 4),
    ("ems", "call", "source", "s" * 128), ("hazmat", "vehicle_gps", "un_number", "0000"),
])
def test_range_edges_are_accepted(stream: str, type_: str, name: str, value: Any) -> None:
    out, _ = accept(stream, valid_event(stream, type_, full=True, **{name: value}))
    assert out[name] == value


# --- enums ------------------------------------------------------------------------------
@pytest.mark.parametrize("stream,type_,name,value", [
    ("ems", "call", "complaint", "headache"),
    ("ems", "unit_status", "status", "Available"),
    ("fire", "alarm_signal", "signal", ""),
    ("fire", "incident", "status", "resolved"),
    ("traffic", "signal_fault", "fault", "dark "),
    ("hazmat", "vehicle_gps", "hazard_class", "10"),
    ("lifeline", "reading", "kind", "radiation"),
    ("lifeline", "reading", "kind", "tank_gas"),  # a hazmat kind is not a lifeline kind
    ("hazmat", "tank_reading", "kind", "pm25"),
])
def test_enum_unknown_value(stream: str, type_: str, name: str, value: str) -> None:
    ev = valid_event(stream, type_, full=True)
    ev[name] = value
    err = reject(stream, ev)
    assert (err.code, err.field) == (E.UNKNOWN_VALUE, name)


# --- measurements: unit and physical range of every kind ----------------------------------
@pytest.mark.parametrize("stream,type_,kind", MEASURED_KINDS)
def test_bad_unit_for_each_kind(stream: str, type_: str, kind: str) -> None:
    m = MEASUREMENTS[kind]
    wrong_units = {"bogus", m.unit.upper() if m.unit.upper() != m.unit else m.unit.lower(),
                   m.unit + " "} | {o.unit for o in MEASUREMENTS.values() if o.unit != m.unit}
    for unit in sorted(wrong_units):
        err = reject(stream, valid_event(stream, type_, kind=kind, unit=unit))
        assert (err.code, err.field) == (E.BAD_UNIT, "unit"), unit


@pytest.mark.parametrize("stream,type_,kind", MEASURED_KINDS)
def test_value_outside_physical_range_for_each_kind(stream: str, type_: str,
                                                    kind: str) -> None:
    m = MEASUREMENTS[kind]
    span = m.hi - m.lo
    for value in (m.lo - span * 1e-6, m.hi + span * 1e-6, m.lo - 1, m.hi + 1):
        err = reject(stream, valid_event(stream, type_, kind=kind, value=value))
        assert (err.code, err.field) == (E.OUT_OF_RANGE, "value"), value
    for value in (m.lo, m.hi, int(m.hi)):
        out, _ = accept(stream, valid_event(stream, type_, kind=kind, value=value))
        assert out["value"] == value and type(out["value"]) is float


def test_unit_is_checked_before_value() -> None:
    err = reject("lifeline", valid_event("lifeline", "reading", kind="pm25", unit="mg/m³",
                                         value=-5.0))
    assert (err.code, err.field) == (E.BAD_UNIT, "unit")


# --- place: coordinates, bounds, district ------------------------------------------------
@pytest.mark.parametrize("stream,type_", [("ems", "unit_status"), ("fire", "engine_status")])
def test_optional_lat_without_lon(stream: str, type_: str) -> None:
    err = reject(stream, valid_event(stream, type_, lat=28.2))
    assert (err.code, err.field) == (E.MISSING_FIELD, "lon")
    err = reject(stream, valid_event(stream, type_, lon=112.9))
    assert (err.code, err.field) == (E.MISSING_FIELD, "lat")
    err = reject(stream, valid_event(stream, type_, lat=28.2, lon=None))
    assert (err.code, err.field) == (E.MISSING_FIELD, "lon")


def test_required_lat_without_lon() -> None:
    err = reject("ems", valid_event("ems", "call", lon=DROP))
    assert (err.code, err.field) == (E.MISSING_FIELD, "lon")


# just beyond the profile's bounds (lon_max 114.26: Liuyang's eastern tip is at 114.256)
BEYOND_CITY = [(39.9042, 116.4074), (28.2, 111.87), (28.2, 114.27), (27.84, 113.0),
               (28.68, 113.0), (0.0, 0.0), (-28.2, -112.9)]


@pytest.mark.parametrize("lat,lon", BEYOND_CITY)
@pytest.mark.parametrize("stream,type_", [("lifeline", "reading"), ("ems", "unit_status"),
                                          ("hazmat", "vehicle_gps")])
def test_coordinates_outside_the_city(stream: str, type_: str, lat: float, lon: float) -> None:
    err = reject(stream, valid_event(stream, type_, lat=lat, lon=lon))
    assert (err.code, err.field) == (E.OUTSIDE_CITY, "lat")


@pytest.mark.parametrize("lat,lon", [(27.85, 111.88), (28.67, 114.25), (27.85, 114.25)])
def test_city_bounds_are_inclusive(lat: float, lon: float) -> None:
    out, _ = accept("lifeline", valid_event("lifeline", "reading", lat=lat, lon=lon))
    assert (out["lat"], out["lon"]) == (lat, lon)


@pytest.mark.parametrize("district", ["haidian", "Furong", "芙蓉区", "furong "])
def test_unknown_district(district: str) -> None:
    err = reject("ems", valid_event("ems", "call", district=district))
    assert (err.code, err.field) == (E.UNKNOWN_VALUE, "district")


@pytest.mark.parametrize("code", sorted(PROFILE.district_codes))
def test_every_district_code_is_accepted(code: str) -> None:
    out, _ = accept("ems", valid_event("ems", "unit_status", district=code))
    assert out["district"] == code


def test_district_without_coordinates_is_kept() -> None:
    out, _ = accept("fire", valid_event("fire", "engine_status", district="yuelu"))
    assert out["district"] == "yuelu" and "lat" not in out


# --- event_time -------------------------------------------------------------------------
@pytest.mark.parametrize("value,code", [
    (1717228800000, E.WRONG_TYPE), (1.5, E.WRONG_TYPE), (True, E.WRONG_TYPE),
    ({"t": 1}, E.WRONG_TYPE), ("", E.OUT_OF_RANGE), ("t" * 129, E.OUT_OF_RANGE),
    ("yesterday", E.BAD_TIME), ("2025-13-01T08:00:00Z", E.BAD_TIME),
    ("2025-06-01T25:00:00Z", E.BAD_TIME), ("01/06/2025 08:00", E.BAD_TIME),
    ("2025-06-01T08:00:00+25:00", E.BAD_TIME),
    ("2025-06-01T08:00:00", E.BAD_TIME),  # naive: no offset
    ("2025-06-01T08:00:00.000", E.BAD_TIME),
    ("2025-06-01", E.BAD_TIME),  # a date is naive too
])
def test_bad_event_time(value: Any, code: str) -> None:
    err = reject("ems", valid_event("ems", "call", event_time=value))
    assert (err.code, err.field) == (code, "event_time")


def test_future_and_lateness_edges() -> None:
    ev = lambda ts: valid_event("ems", "call", event_time=format_event_time(ts))  # noqa: E731
    future, late = POLICY.max_future_ms, POLICY.max_lateness_ms
    assert (future, late) == (300_000, 3_600_000)
    assert accept("ems", ev(NOW_MS + future))[1] == NOW_MS + future
    err = reject("ems", ev(NOW_MS + future + 1))
    assert (err.code, err.field) == (E.IN_FUTURE, "event_time")
    assert accept("ems", ev(NOW_MS - late))[1] == NOW_MS - late
    err = reject("ems", ev(NOW_MS - late - 1))
    assert (err.code, err.field) == (E.TOO_LATE, "event_time")
    err = reject("ems", ev(0))
    assert err.code == E.TOO_LATE


def test_policy_windows_come_from_the_policy() -> None:
    tight = Policy.for_city(PROFILE, max_lateness_s=10, max_future_s=1)
    v = EventValidator("ems", tight)
    ok = valid_event("ems", "call", event_time=format_event_time(NOW_MS - 10_000))
    assert v.validate(ok, NOW_MS)[1] == NOW_MS - 10_000
    with pytest.raises(ValidationError) as info:
        v.validate(valid_event("ems", "call", event_time=format_event_time(NOW_MS - 10_001)),
                   NOW_MS)
    assert info.value.code == E.TOO_LATE
    with pytest.raises(ValidationError) as info:
        v.validate(valid_event("ems", "call", event_time=format_event_time(NOW_MS + 1001)),
                   NOW_MS)
    assert info.value.code == E.IN_FUTURE


@pytest.mark.parametrize("raw,canonical", [
    ("2025-06-01T16:00:00+08:00", "2025-06-01T08:00:00.000Z"),
    ("2025-06-01T15:59:59.5+08:00", "2025-06-01T07:59:59.500Z"),
    ("2025-06-01T02:30:00-05:30", "2025-06-01T08:00:00.000Z"),
    ("2025-06-01T08:00:00+00:00", "2025-06-01T08:00:00.000Z"),
    ("2025-06-01T08:00:00Z", "2025-06-01T08:00:00.000Z"),
    ("2025-06-01T07:59:59.123456Z", "2025-06-01T07:59:59.123Z"),
    ("2025-06-01T07:59:59.999999Z", "2025-06-01T07:59:59.999Z"),  # truncated, not rounded
    ("2025-06-01T07:59:59.9Z", "2025-06-01T07:59:59.900Z"),
    ("2025-06-01T08:00:00.000Z", "2025-06-01T08:00:00.000Z"),
    # 24 characters ending in Z, yet not the canonical form:
    ("2025-06-01 08:00:00.000Z", "2025-06-01T08:00:00.000Z"),
    ("2025-06-01T08:00:00,000Z", "2025-06-01T08:00:00.000Z"),
    ("2025-W22-7T08:00:00.000Z", "2025-06-01T08:00:00.000Z"),
])
def test_event_time_is_normalised_to_canonical_utc(raw: str, canonical: str) -> None:
    out, ts = accept("ems", valid_event("ems", "call", event_time=raw))
    assert out["event_time"] == canonical
    assert ts == parse_event_time(canonical)


@settings(max_examples=150, deadline=None)
@given(offset_ms=st.integers(-POLICY.max_lateness_ms, POLICY.max_future_ms),
       tz_minutes=st.integers(-23 * 60 - 59, 23 * 60 + 59))
def test_any_offset_within_the_window_normalises(offset_ms: int, tz_minutes: int) -> None:
    from datetime import datetime, timedelta, timezone
    ts = NOW_MS + offset_ms
    tz = timezone(timedelta(minutes=tz_minutes))
    local = datetime.fromtimestamp(ts // 1000, tz=tz).replace(microsecond=(ts % 1000) * 1000)
    out, got = accept("ems", valid_event("ems", "call", event_time=local.isoformat()))
    assert got == ts
    assert CANONICAL.match(out["event_time"])
    assert out["event_time"] == format_event_time(ts)


def test_format_and_parse_event_time_round_trip() -> None:
    for ts in (0, 1, 999, 1000, NOW_MS, NOW_MS + 7, -1, -1001):
        text = format_event_time(ts)
        assert CANONICAL.match(text)
        assert parse_event_time(text) == ts
    assert format_event_time(NOW_MS) == "2025-06-01T08:00:00.000Z"


# --- version ----------------------------------------------------------------------------
@pytest.mark.parametrize("v,code", [(2, E.UNSUPPORTED_VERSION), (100, E.UNSUPPORTED_VERSION),
                                    (0, E.OUT_OF_RANGE), (-1, E.OUT_OF_RANGE)])
def test_unsupported_version_is_rejected(v: int, code: str) -> None:
    err = reject("ems", valid_event("ems", "call", v=v))
    assert err.field == "v"
    assert err.code == code


def test_version_1_is_accepted_and_absent_means_1() -> None:
    assert accept("ems", valid_event("ems", "call", v=1))[0]["v"] == 1
    assert "v" not in accept("ems", valid_event("ems", "call"))[0]


# --- the error itself -------------------------------------------------------------------
def test_validation_error_carries_code_field_reason_and_pickles() -> None:
    err = reject("ems", valid_event("ems", "call", priority=9))
    assert isinstance(err, ValueError)
    assert err.reason and str(err) == f"priority: {err.reason} [out_of_range]"
    back = pickle.loads(pickle.dumps(err))
    assert (type(back), back.code, back.field, back.reason, str(back)) == \
        (ValidationError, err.code, err.field, err.reason, str(err))
    assert str(ValidationError(E.NOT_OBJECT, "", "x")) == "<message>: x [not_object]"


# --- property: nothing but ValidationError --------------------------------------------------
JSON_SCALARS = (st.none() | st.booleans() | st.integers() | st.floats()
                | st.text(max_size=30))
JSON = st.recursive(JSON_SCALARS,
                    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=10), c,
                                                                         max_size=4),
                    max_leaves=12)
FIELD_NAMES = sorted({f.name for s in STREAMS.values() for t in s.types.values()
                      for f in t.all_fields} | {"events", "colour"})
TYPE_NAMES = sorted({t for _, t in ALL_TYPES})


def _check_output(stream: str, out: dict[str, Any], ts: int) -> None:
    t = STREAMS[stream].types[out["type"]]
    assert set(out) <= {f.name for f in t.all_fields}
    assert {f.name for f in t.all_fields if f.required} <= set(out)
    assert CANONICAL.match(out["event_time"]), out["event_time"]
    assert parse_event_time(out["event_time"]) == ts
    assert NOW_MS - POLICY.max_lateness_ms <= ts <= NOW_MS + POLICY.max_future_ms


@settings(max_examples=300, deadline=None)
@given(stream=st.sampled_from(list(STREAMS)), obj=JSON)
def test_arbitrary_json_raises_only_validation_error(stream: str, obj: Any) -> None:
    try:
        out, ts = validator(stream).validate(obj, NOW_MS)
    except ValidationError as err:
        assert err.code and isinstance(err.field, str)
        return
    _check_output(stream, out, ts)


@st.composite
def mutated_events(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    stream, type_ = draw(st.sampled_from(ALL_TYPES))
    ev = valid_event(stream, type_, full=draw(st.booleans()))
    value = JSON | st.sampled_from(TYPE_NAMES) | st.sampled_from(
        sorted(MEASUREMENTS) + sorted(m.unit for m in MEASUREMENTS.values())
        + sorted(PROFILE.district_codes) + ["2025-06-01T08:00:00+08:00",
                                            "2025-06-01T07:59:00Z", "2025-06-01 07:59:00.000Z"])
    own = [f.name for f in STREAMS[stream].types[type_].all_fields]
    names = st.sampled_from(own) | st.sampled_from(own) | st.sampled_from(FIELD_NAMES)
    for name in draw(st.lists(names, max_size=3)):
        if draw(st.booleans()):
            ev.pop(name, None)
        else:
            ev[name] = draw(value)
    return stream, ev


@settings(max_examples=400, deadline=None)
@given(case=mutated_events())
def test_events_with_random_field_values_raise_only_validation_error(
        case: tuple[str, dict[str, Any]]) -> None:
    stream, ev = case
    try:
        out, ts = validator(stream).validate(ev, NOW_MS)
    except ValidationError as err:
        assert err.code in {v for k, v in vars(E).items() if k.isupper()}
        return
    _check_output(stream, out, ts)
