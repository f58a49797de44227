"""Helpers for the unit tests: the Changsha profile, a fixed clock, and valid events built
from the catalogue (so every event type of every stream is covered without listing them).

Test modules import these helpers as ``unit_helpers`` (an alias registered below): the name
``conftest`` is shared with ``tests/conftest.py`` and pytest swaps it between the two.
"""

from __future__ import annotations

import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # the project is not installed in the venv: import from the tree
    sys.path.insert(0, str(ROOT))

from city.profile import CityProfile, load_profile  # noqa: E402
from schemas.catalog import MEASUREMENTS, STREAMS, EventType, Field  # noqa: E402
from schemas.validate import EventValidator, Policy, format_event_time  # noqa: E402

# A fixed "now": 2025-06-01T08:00:00.000Z (16:00 in Changsha).
NOW_MS = int(datetime(2025, 6, 1, 8, 0, tzinfo=timezone.utc).timestamp() * 1000)
NOW_ISO = format_event_time(NOW_MS)

PROFILE: CityProfile = load_profile("changsha")
POLICY = Policy.for_city(PROFILE)

# Every (stream, type) of the catalogue, and every required field of each.
ALL_TYPES: list[tuple[str, str]] = [(s, t) for s in STREAMS for t in STREAMS[s].types]
REQUIRED_FIELDS: list[tuple[str, str, str]] = [
    (s, t, f.name) for s, t in ALL_TYPES for f in STREAMS[s].types[t].all_fields if f.required]
OPTIONAL_FIELDS: list[tuple[str, str, str]] = [
    (s, t, f.name) for s, t in ALL_TYPES for f in STREAMS[s].types[t].all_fields
    if not f.required]
MEASURED_TYPES: list[tuple[str, str]] = [(s, t) for s, t in ALL_TYPES
                                         if STREAMS[s].types[t].measured]
# Every measured kind with the (stream, type) that carries it.
MEASURED_KINDS: list[tuple[str, str, str]] = [
    (s, t, kind) for s, t in MEASURED_TYPES
    for f in STREAMS[s].types[t].fields if f.name == "kind" for kind in f.choices]

DROP = object()  # override value meaning "remove this field"

# A point inside the city (near 岳麓区's centre is not needed: the city centre will do).
CITY_LAT, CITY_LON = PROFILE.center


def etype(stream: str, type_: str) -> EventType:
    return STREAMS[stream].types[type_]


def normal_value(kind: str) -> float:
    """A value of ``kind`` inside its physical range and inside every alarm level."""
    m = MEASUREMENTS[kind]
    lim = PROFILE.limits.get(kind)
    lo, hi = m.lo, m.hi
    if lim is not None:
        if lim.low_recover is not None:
            lo = lim.low_recover
        if lim.high_recover is not None:
            hi = lim.high_recover
    return (lo + hi) / 2


def _sample(f: Field, n: int) -> Any:
    if f.name == "lat":
        return CITY_LAT
    if f.name == "lon":
        return CITY_LON
    if f.name == "event_time":
        return format_event_time(NOW_MS - 1000)
    if f.name == "district":
        return "furong"
    if f.kind == "enum":
        return f.choices[0]
    if f.kind == "int":
        return int(f.lo) if f.lo is not None else 1
    if f.kind == "float":
        if f.lo is not None and f.hi is not None:
            return (f.lo + f.hi) / 2
        return 1.5
    if f.pattern == r"^[0-9]{4}$":
        return "1203"  # UN 1203: gasoline
    return f"{f.name}-{n}"[: f.max_len]


def valid_event(stream: str, type_: str, *, full: bool = False, n: int = 1,
                **overrides: Any) -> dict[str, Any]:
    """A valid event of ``stream.type_`` (required fields only unless ``full``).

    ``overrides`` replace fields (``DROP`` removes one). For measured types, ``unit`` and
    ``value`` follow an overridden ``kind`` unless they are overridden too.
    """
    et = etype(stream, type_)
    ev: dict[str, Any] = {}
    for f in et.all_fields:
        if f.required or full:
            ev[f.name] = _sample(f, n)
    ev["type"] = type_
    ev["event_id"] = f"{stream}-{type_}-{n}"
    ev["entity_id"] = f"E-{n}"
    if et.measured:
        kind = overrides.get("kind", ev["kind"])
        if isinstance(kind, str) and kind in MEASUREMENTS:
            ev["kind"] = kind
            ev["unit"] = MEASUREMENTS[kind].unit
            ev["value"] = normal_value(kind)
    for k, v in overrides.items():
        if v is DROP:
            ev.pop(k, None)
        else:
            ev[k] = v
    return ev


_VALIDATORS: dict[str, EventValidator] = {}


def validator(stream: str) -> EventValidator:
    if stream not in _VALIDATORS:
        _VALIDATORS[stream] = EventValidator(stream, POLICY)
    return _VALIDATORS[stream]


sys.modules["unit_helpers"] = sys.modules[__name__]


@pytest.fixture
def profile() -> CityProfile:
    return PROFILE


@pytest.fixture
def policy() -> Policy:
    return POLICY
