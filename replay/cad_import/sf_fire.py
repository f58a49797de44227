"""San Francisco Fire Department calls-for-service rows -> our ``ems``/``fire`` events.

The format (28 columns, one row per responding unit, several rows per CallNumber) is the
one of data.sfgov.org "Fire Department Calls for Service" as published with "Learning Spark,
2nd ed." (see tests/fixtures/sf_fire/README.md). Pure: no I/O, no clock.

What a row gives us, and what it cannot:
- a call event (``ems.call`` or ``fire.call``, per :data:`CALL_TYPES`) once per CallNumber:
  entity_id = the CallNumber, lat/lon from Location, district = Battalion; its event_time is
  CallDate at 00:00 SF local time: the sample has no received time of day (SF's full dataset
  has "Received DtTm"; this export dropped it), so the call time is day-precision only.
- for a fire-stream row also a ``fire.incident`` (status ``open``, alarm_level = NumAlarms
  clamped to 1..5) once per IncidentNumber: as live, the 119 *incident* is the KPI case
  engines name (``engine_status.incident_id``); the 120 *call* is the EMS case.
- the unit's ``available`` status (``ems.unit_status`` naming the call or
  ``fire.engine_status`` naming the incident) at AvailableDtTm: KPI timestamp ``clear``.
- NOT fillable from this export: ring, dispatched, en_route, on_scene, transporting,
  at_hospital; so no KPI interval of :mod:`dispatch.kpi_defs` is computable from it (each
  needs two of those). ``Delay`` (minutes) is published without a definition of its end
  points; it is kept in :class:`Extra`, never passed off as one of our intervals.
Times: SF local wall time (America/Los_Angeles) -> UTC on the wire. A wall time that does
not exist (the spring-forward hour) is a bad row; an ambiguous one (the fall-back hour) is
taken as its first occurrence (PDT, ``fold=0``): the export carries no offset to decide.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Mapping, Sequence
from zoneinfo import ZoneInfo

from schemas.validate import format_event_time

SOURCE = "sf-fire-cad"
TZ = ZoneInfo("America/Los_Angeles")
# The City and County of San Francisco incl. Treasure Island and the Farallon Islands:
# a Location outside is a bad row (a geocoding slip, e.g. a swapped sign), not an event.
BOUNDS = (37.60, 37.84, -123.10, -122.35)   # lat_min, lat_max, lon_min, lon_max
COLUMNS: tuple[str, ...] = (
    "CallNumber", "UnitID", "IncidentNumber", "CallType", "CallDate", "WatchDate",
    "CallFinalDisposition", "AvailableDtTm", "Address", "City", "Zipcode", "Battalion",
    "StationArea", "Box", "OriginalPriority", "Priority", "FinalPriority", "ALSUnit",
    "CallTypeGroup", "NumAlarms", "UnitType", "UnitSequenceInCallDispatch",
    "FirePreventionDistrict", "SupervisorDistrict", "Neighborhood", "Location", "RowID",
    "Delay")
_IX = {name: i for i, name in enumerate(COLUMNS)}
# Where each column goes ("-": nowhere in our schemas; kept only in the source file).
COLUMN_USE: Mapping[str, str] = {
    "CallNumber": "call entity_id; unit status call_id (ems)",
    "UnitID": "unit status entity_id",
    "IncidentNumber": "fire.incident entity_id; engine_status incident_id",
    "CallType": "stream and complaint/category (CALL_TYPES)",
    "CallDate": "call/incident event_time (00:00 local: day precision)",
    "WatchDate": "- (the shift day, 08:00 to 08:00; adds nothing to CallDate)",
    "CallFinalDisposition": "-", "AvailableDtTm": "unit status 'available' event_time",
    "Address": "-", "City": "-", "Zipcode": "-", "Battalion": "district",
    "StationArea": "-", "Box": "-", "OriginalPriority": "ems priority when Priority is empty",
    "Priority": "ems priority (PRIORITIES)", "FinalPriority": "-", "ALSUnit": "-",
    "CallTypeGroup": "-", "NumAlarms": "fire.incident alarm_level (1..5); Extra",
    "UnitType": "Extra", "UnitSequenceInCallDispatch": "-",
    "FirePreventionDistrict": "-", "SupervisorDistrict": "-", "Neighborhood": "Extra",
    "Location": "lat/lon of call and incident", "RowID": "Extra", "Delay": "Extra",
}

# SF CallType -> (our stream, ems complaint | fire category). One table, nowhere else.
CALL_TYPES: Mapping[str, tuple[str, str]] = {
    "Medical Incident": ("ems", "other"),
    "Traffic Collision": ("ems", "trauma"),
    "Structure Fire": ("fire", "structure_fire"),
    "Vehicle Fire": ("fire", "vehicle_fire"),
    "Marine Fire": ("fire", "other"),
    "Outside Fire": ("fire", "other"),            # rubbish/grass/outdoor: not wildland
    "Smoke Investigation (Outside)": ("fire", "other"),
    "Alarms": ("fire", "alarm"),
    "Water Rescue": ("fire", "rescue"),
    "Elevator / Escalator Rescue": ("fire", "rescue"),
    "High Angle Rescue": ("fire", "rescue"),
    "Extrication / Entrapped (Machinery, Vehicle)": ("fire", "rescue"),
    "Confined Space / Structure Collapse": ("fire", "rescue"),
    "Watercraft in Distress": ("fire", "rescue"),
    "Train / Rail Incident": ("fire", "rescue"),
    "Industrial Accidents": ("fire", "rescue"),
    "Aircraft Emergency": ("fire", "rescue"),
    "Gas Leak (Natural and LP Gases)": ("fire", "hazmat"),
    "HazMat": ("fire", "hazmat"),
    "Fuel Spill": ("fire", "hazmat"),
    "Oil Spill": ("fire", "hazmat"),
    "Odor (Strange / Unknown)": ("fire", "hazmat"),
    "Suspicious Package": ("fire", "hazmat"),
    "Explosion": ("fire", "hazmat"),
    "Electrical Hazard": ("fire", "other"),
    "Citizen Assist / Service Call": ("fire", "other"),
    "Assist Police": ("fire", "other"),
    "Mutual Aid / Assist Outside Agency": ("fire", "other"),
    "Administrative": ("fire", "other"),
    "Other": ("fire", "other"),
    "Lightning Strike (Investigation)": ("fire", "other"),
}
# SF priority code -> our 1..4 (1 most urgent). 3/E emergency (lights and siren), 2
# non-emergency, 1 lowest; A/B/C/I are the medical-dispatch determinant letters.
PRIORITIES: Mapping[str, int] = {"E": 1, "3": 1, "A": 1, "2": 2, "B": 2, "1": 3, "C": 3,
                                 "I": 4}

# Reason codes of a bad row (stable: reports and tests name them).
BAD_COLUMNS = "wrong_column_count"
BAD_CALL_NUMBER = "missing_call_number"
BAD_INCIDENT_NUMBER = "missing_incident_number"
BAD_UNIT = "missing_unit_id"
BAD_CALL_TYPE = "unknown_call_type"
BAD_DATE = "bad_date"
BAD_TIME = "bad_time"
NONEXISTENT_TIME = "nonexistent_local_time"
BAD_LOCATION = "bad_location"
BAD_PRIORITY = "bad_priority"
BAD_DELAY = "bad_delay"
REASONS: tuple[str, ...] = (BAD_COLUMNS, BAD_CALL_NUMBER, BAD_INCIDENT_NUMBER, BAD_UNIT, BAD_CALL_TYPE, BAD_DATE,
                            BAD_TIME, NONEXISTENT_TIME, BAD_LOCATION, BAD_PRIORITY, BAD_DELAY)


class RowError(ValueError):
    """A row that cannot be mapped: ``code`` (one of :data:`REASONS`), ``column``, detail."""

    def __init__(self, code: str, column: str, detail: str) -> None:
        super().__init__(f"{code}: {column}: {detail}")
        self.code, self.column, self.detail = code, column, detail


@dataclass(frozen=True)
class Extra:
    """What the row says beyond our schemas (kept for reports, not put on the wire)."""

    row_id: str
    unit_type: str
    delay_min: float | None
    num_alarms: int | None
    neighborhood: str


@dataclass(frozen=True)
class Mapped:
    """One row's events: ``call``, ``incident`` (fire only) and ``unit``, each (stream, event)."""

    call_number: str
    call: tuple[str, dict[str, Any]]
    unit: tuple[str, dict[str, Any]] | None
    extra: Extra
    incident_number: str = ""
    incident: tuple[str, dict[str, Any]] | None = None


def local_to_utc_ms(wall: datetime, column: str) -> int:
    """A naive SF wall time -> UTC epoch ms; RowError if that wall time never happened."""
    aware = wall.replace(tzinfo=TZ, fold=0)
    back = aware.astimezone(timezone.utc).astimezone(TZ).replace(tzinfo=None)
    if back != wall:
        raise RowError(NONEXISTENT_TIME, column, f"{wall} does not exist in {TZ.key}")
    return int(aware.timestamp() * 1000)


def parse_date(text: str, column: str) -> datetime:
    """CallDate/WatchDate: ``MM/dd/yyyy`` (SF's export) or ``yyyy-MM-dd`` (re-written copies)."""
    for fmt in ("%m/%d/%Y", "%Y-%m-%d"):
        try:
            return datetime.strptime(text.strip(), fmt)
        except ValueError:
            continue
    raise RowError(BAD_DATE, column, f"{text[:40]!r} is not MM/dd/yyyy or yyyy-MM-dd")


def parse_datetime(text: str, column: str) -> datetime:
    """AvailableDtTm: ``MM/dd/yyyy hh:mm:ss AM``."""
    try:
        return datetime.strptime(text.strip(), "%m/%d/%Y %I:%M:%S %p")
    except ValueError:
        raise RowError(BAD_TIME, column, f"{text[:40]!r} is not MM/dd/yyyy hh:mm:ss AM/PM") \
            from None


def parse_location(text: str) -> tuple[float, float]:
    """``"(lat, lon)"`` (WGS-84) -> (lat, lon); RowError unless both parse and lie within
    :data:`BOUNDS` (which also refuses NaN and the (0, 0) placeholder)."""
    t = text.strip()
    parts = t[1:-1].split(",") if t.startswith("(") and t.endswith(")") else []
    try:
        lat, lon = (float(p) for p in parts) if len(parts) == 2 else (None, None)
    except ValueError:
        lat = lon = None
    if lat is None or lon is None:
        raise RowError(BAD_LOCATION, "Location", f"{text[:60]!r} is not \"(lat, lon)\"")
    lat_min, lat_max, lon_min, lon_max = BOUNDS
    if not (lat_min <= lat <= lat_max and lon_min <= lon <= lon_max):
        raise RowError(BAD_LOCATION, "Location", f"({lat}, {lon}) is outside San Francisco")
    return lat, lon


def _optional_float(text: str, column: str) -> float | None:
    if text.strip() in ("", "null"):
        return None
    try:
        v = float(text)
    except ValueError:
        raise RowError(BAD_DELAY, column, f"{text[:40]!r} is not a number") from None
    if v != v or v < 0:
        raise RowError(BAD_DELAY, column, f"{v} is not a duration")
    return v


def map_row(row: Sequence[str]) -> Mapped:
    """One CSV row (a list of 28 strings) -> its events, or RowError naming the reason."""
    if len(row) != len(COLUMNS):
        raise RowError(BAD_COLUMNS, "", f"{len(row)} columns, expected {len(COLUMNS)}")

    def col(name: str) -> str:
        return row[_IX[name]].strip()

    call_number, unit_id = col("CallNumber"), col("UnitID")
    if not call_number or call_number == "null":
        raise RowError(BAD_CALL_NUMBER, "CallNumber", "empty")
    if not unit_id or unit_id == "null":
        raise RowError(BAD_UNIT, "UnitID", "empty")
    kind = CALL_TYPES.get(col("CallType"))
    if kind is None:
        raise RowError(BAD_CALL_TYPE, "CallType", f"{col('CallType')[:60]!r} is not in the "
                       f"mapping table")
    stream, what = kind
    received_ms = local_to_utc_ms(parse_date(col("CallDate"), "CallDate"), "CallDate")
    lat, lon = parse_location(col("Location"))
    district = col("Battalion")[:32] or "unknown"
    call: dict[str, Any] = {
        "event_id": f"{SOURCE}:call:{call_number}", "type": "call",
        "event_time": format_event_time(received_ms), "source": SOURCE,
        "entity_id": call_number, "district": district, "lat": lat, "lon": lon}
    if stream == "ems":
        priority = PRIORITIES.get(col("Priority")) or PRIORITIES.get(col("OriginalPriority"))
        if priority is None:
            raise RowError(BAD_PRIORITY, "Priority", f"{col('Priority')[:8]!r} is not one of "
                           f"{sorted(PRIORITIES)}")
        call.update(complaint=what, priority=priority)
    incident_number, incident = "", None
    alarms = col("NumAlarms")
    if stream == "ems":
        case_field, case_id = "call_id", call_number
    else:
        call["category"] = what
        incident_number = col("IncidentNumber")
        if not incident_number or incident_number == "null":
            raise RowError(BAD_INCIDENT_NUMBER, "IncidentNumber", "empty (a fire case needs it)")
        level = min(max(int(alarms), 1), 5) if alarms.isdigit() else 1
        incident = (stream, {
            **call, "event_id": f"{SOURCE}:incident:{incident_number}", "type": "incident",
            "entity_id": incident_number, "alarm_level": level, "status": "open"})
        case_field, case_id = "incident_id", incident_number
    unit: tuple[str, dict[str, Any]] | None = None
    if col("AvailableDtTm") not in ("", "null"):
        at = local_to_utc_ms(parse_datetime(col("AvailableDtTm"), "AvailableDtTm"),
                             "AvailableDtTm")
        status: dict[str, Any] = {
            "event_id": f"{SOURCE}:available:{call_number}:{unit_id}",
            "type": "unit_status" if stream == "ems" else "engine_status",
            "event_time": format_event_time(at), "source": SOURCE, "entity_id": unit_id,
            "district": district, "status": "available", case_field: case_id}
        unit = (stream, status)
    extra = Extra(col("RowID"), col("UnitType"), _optional_float(col("Delay"), "Delay"),
                  int(alarms) if alarms.isdigit() else None, col("Neighborhood"))
    return Mapped(call_number, (stream, call), unit, extra, incident_number, incident)
