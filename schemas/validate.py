"""Per-event validation with precise reasons. Pure: ``now`` and the policy are passed in."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from . import errors as E
from .catalog import MEASUREMENTS, STREAMS, SUPPORTED_VERSIONS, EventType, Field
from .chars import check_id
from .errors import ValidationError
from .memo import remember


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MS = timedelta(milliseconds=1)
_CANONICAL_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z")


@dataclass(frozen=True)
class Policy:
    """What the validator accepts besides the schema: time window, city bounds, districts."""

    lat_min: float
    lat_max: float
    lon_min: float
    lon_max: float
    districts: frozenset[str]
    max_lateness_ms: int = 3_600_000
    max_future_ms: int = 300_000
    max_event_bytes: int = 16 * 1024

    @classmethod
    def for_city(cls, profile: Any, *, max_lateness_s: float = 3600.0,
                 max_future_s: float = 300.0, max_event_bytes: int = 16 * 1024) -> "Policy":
        b = profile.bounds
        return cls(b.lat_min, b.lat_max, b.lon_min, b.lon_max, profile.district_codes,
                   int(max_lateness_s * 1000), int(max_future_s * 1000), max_event_bytes)


# Memo of recent parses: one alert's time is read by the lifecycle, the correlator and the
# engine, and a batch's events share a handful of timestamps. Cleared when full.
_PARSED: dict[str, int] = {}
_PARSED_MAX = 8192


def parse_event_time(value: Any) -> int:
    """ISO 8601 with an explicit offset -> epoch milliseconds (UTC)."""
    if type(value) is str:
        ms = _PARSED.get(value)
        if ms is not None:
            return ms
    return remember(_PARSED, value, _parse_event_time(value), _PARSED_MAX)


def _parse_event_time(value: Any) -> int:
    if not isinstance(value, str):
        raise ValidationError(E.WRONG_TYPE, "event_time", "must be an ISO 8601 string")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ValidationError(E.BAD_TIME, "event_time", f"not ISO 8601: {value[:40]!r}") from exc
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise ValidationError(E.BAD_TIME, "event_time",
                              "has no UTC offset (naive times are ambiguous); append 'Z'")
    return (parsed - _EPOCH) // _MS


def format_event_time(ts_ms: int) -> str:
    """Epoch milliseconds -> canonical wire form ``YYYY-MM-DDTHH:MM:SS.mmmZ``."""
    dt = datetime.fromtimestamp(ts_ms // 1000, tz=timezone.utc)
    return f"{dt:%Y-%m-%dT%H:%M:%S}.{ts_ms % 1000:03d}Z"


def _checker(f: Field) -> Callable[[Any], Any]:
    """Build a function that checks one field's value and returns it normalised."""
    name = f.name
    if f.kind in ("float", "int"):
        want_int = f.kind == "int"

        def check_number(v: Any) -> Any:
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise ValidationError(E.WRONG_TYPE, name, f"must be a number, got {type(v).__name__}")
            if want_int and not (isinstance(v, int) or float(v).is_integer()):
                raise ValidationError(E.WRONG_TYPE, name, f"must be an integer, got {v!r}")
            try:
                finite = math.isfinite(v)
            except OverflowError:  # an int no float can hold
                finite = False
            if not finite:
                raise ValidationError(E.OUT_OF_RANGE, name, "must be finite")
            if (f.lo is not None and v < f.lo) or (f.hi is not None and v > f.hi):
                raise ValidationError(E.OUT_OF_RANGE, name, f"{v!r} outside [{f.lo}, {f.hi}]")
            return int(v) if want_int else float(v)
        return check_number
    if f.kind == "enum":
        allowed = frozenset(f.choices)

        def check_enum(v: Any) -> Any:
            if not isinstance(v, str) or v not in allowed:  # lists/dicts are unhashable
                raise ValidationError(E.UNKNOWN_VALUE, name,
                                      f"{str(v)[:40]!r} is not one of {sorted(allowed)}")
            return v
        return check_enum
    if f.kind in ("str", "time"):
        regex = re.compile(f.pattern) if f.pattern else None
        # an id (a free-form string): no control/invisible/bidi characters, not blank
        is_id = f.kind == "str" and regex is None

        def check_str(v: Any) -> Any:
            if not isinstance(v, str):
                raise ValidationError(E.WRONG_TYPE, name, f"must be a string, got {type(v).__name__}")
            if len(v) > f.max_len or not (v or is_id):
                raise ValidationError(E.OUT_OF_RANGE, name,
                                      f"length {len(v)} outside [1, {f.max_len}]")
            if regex is not None and not regex.match(v):
                raise ValidationError(E.OUT_OF_RANGE, name, f"{v!r} does not match {f.pattern}")
            if is_id and not (v.isprintable() and v.strip()):   # (rare: let it say why)
                check_id(v, name)
            return v
        return check_str
    raise AssertionError(f"unknown field kind {f.kind!r}")


class EventValidator:
    """Validates events of one stream: ``validate(obj, now_ms) -> (event, ts_ms)``."""

    def __init__(self, stream: str, policy: Policy) -> None:
        self.stream = STREAMS[stream]
        self.policy = policy
        self._plans: dict[str, tuple[tuple[tuple[str, bool, Callable[[Any], Any]], ...],
                                     frozenset[str], EventType]] = {}
        for name, etype in self.stream.types.items():
            plan = tuple((f.name, f.required, _checker(f)) for f in etype.all_fields)
            self._plans[name] = (plan, frozenset(f.name for f in etype.all_fields), etype)

    def validate(self, obj: Any, now_ms: int) -> tuple[dict[str, Any], int]:
        if not isinstance(obj, dict):
            raise ValidationError(E.NOT_OBJECT, "", f"event must be a JSON object, got "
                                  f"{type(obj).__name__}")
        etype_name = obj.get("type")
        entry = self._plans.get(etype_name) if isinstance(etype_name, str) else None
        if entry is None:
            raise ValidationError(E.UNKNOWN_TYPE, "type", f"{str(etype_name)[:40]!r} is not an "
                                  f"event type of stream {self.stream.name!r}: "
                                  f"{sorted(self.stream.types)}")
        plan, known, etype = entry
        if len(obj) > len(known) or not known.issuperset(obj):
            extra = sorted(set(obj) - known)
            if extra:
                raise ValidationError(E.UNKNOWN_FIELD, extra[0][:40],
                                      f"not a field of {self.stream.name}.{etype.name}")
        out: dict[str, Any] = {}
        for name, required, check in plan:
            value = obj.get(name)
            if value is None:
                if required:
                    raise ValidationError(E.MISSING_FIELD, name, "is required")
                continue
            out[name] = check(value)
        version = out.get("v", 1)
        if version not in SUPPORTED_VERSIONS:
            raise ValidationError(E.UNSUPPORTED_VERSION, "v", f"schema version {version} is "
                                  f"not supported; supported: {sorted(SUPPORTED_VERSIONS)}")
        ts_ms = self._check_time(out, now_ms)
        self._check_place(out)
        if etype.measured:
            self._check_measurement(out)
        return out, ts_ms

    def _check_time(self, out: dict[str, Any], now_ms: int) -> int:
        raw = out["event_time"]
        ts_ms = parse_event_time(raw)
        p = self.policy
        if ts_ms > now_ms + p.max_future_ms:
            raise ValidationError(E.IN_FUTURE, "event_time", f"{raw} is more than "
                                  f"{p.max_future_ms // 1000} s in the future")
        if ts_ms < now_ms - p.max_lateness_ms:
            raise ValidationError(E.TOO_LATE, "event_time", f"{raw} is older than the allowed "
                                  f"lateness of {p.max_lateness_ms // 1000} s")
        if not _CANONICAL_TIME.fullmatch(raw):
            out["event_time"] = format_event_time(ts_ms)
        return ts_ms

    def _check_place(self, out: dict[str, Any]) -> None:
        p = self.policy
        lat, lon = out.get("lat"), out.get("lon")
        if (lat is None) != (lon is None):
            raise ValidationError(E.MISSING_FIELD, "lon" if lon is None else "lat",
                                  "lat and lon come together")
        if lat is not None and lon is not None and not (p.lat_min <= lat <= p.lat_max
                                                        and p.lon_min <= lon <= p.lon_max):
            raise ValidationError(E.OUTSIDE_CITY, "lat", f"({lat}, {lon}) is outside the city "
                                  f"bounds lat [{p.lat_min}, {p.lat_max}] lon "
                                  f"[{p.lon_min}, {p.lon_max}]")
        district = out.get("district")
        if district is not None and district not in p.districts:
            raise ValidationError(E.UNKNOWN_VALUE, "district",
                                  f"{district!r} is not a district of the city: "
                                  f"{sorted(p.districts)}")

    @staticmethod
    def _check_measurement(out: dict[str, Any]) -> None:
        m = MEASUREMENTS[out["kind"]]
        if out["unit"] != m.unit:
            raise ValidationError(E.BAD_UNIT, "unit", f"{out['kind']} is measured in "
                                  f"{m.unit!r}, got {out['unit']!r}")
        value = out["value"]
        if not m.lo <= value <= m.hi:
            raise ValidationError(E.OUT_OF_RANGE, "value", f"{value} {m.unit} is physically "
                                  f"impossible for {m.kind} (range [{m.lo}, {m.hi}])")
