"""The event catalogue: every input stream, its event types and their fields, declared once.

Validation (:mod:`schemas.validate`), JSON Schema export (:mod:`schemas.export`), the
simulator and the warehouse all read these declarations.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping

SCHEMA_VERSION = 1
SUPPORTED_VERSIONS = frozenset({1})


@dataclass(frozen=True)
class Measurement:
    """A measured quantity: its one accepted unit and its physically possible range."""

    kind: str
    unit: str
    lo: float
    hi: float
    zh: str
    en: str


MEASUREMENTS: Mapping[str, Measurement] = MappingProxyType({m.kind: m for m in (
    Measurement("gas_pressure", "kPa", 0.0, 1600.0, "燃气管网压力", "Gas network pressure"),
    Measurement("gas_concentration", "%LEL", 0.0, 100.0, "燃气浓度", "Gas concentration"),
    Measurement("water_pressure", "MPa", 0.0, 2.5, "供水管网压力", "Water network pressure"),
    Measurement("water_level", "m", 0.0, 60.0, "江河水位", "River water level"),
    Measurement("drainage_level", "m", 0.0, 10.0, "排水管网液位", "Drainage level"),
    Measurement("bridge_strain", "µε", -5000.0, 5000.0, "桥梁应变", "Bridge strain"),
    Measurement("manhole_gas", "%LEL", 0.0, 100.0, "窨井可燃气体", "Manhole gas"),
    Measurement("pm25", "µg/m³", 0.0, 1000.0, "PM2.5浓度", "PM2.5"),
    Measurement("pm10", "µg/m³", 0.0, 2000.0, "PM10浓度", "PM10"),
    Measurement("tank_pressure", "kPa", 0.0, 5000.0, "罐体压力", "Tank pressure"),
    Measurement("tank_temperature", "°C", -50.0, 200.0, "罐体温度", "Tank temperature"),
    Measurement("tank_gas", "%LEL", 0.0, 100.0, "罐区可燃气体", "Tank-area gas"),
)})

LIFELINE_KINDS = ("gas_pressure", "gas_concentration", "water_pressure", "water_level",
                  "drainage_level", "bridge_strain", "manhole_gas", "pm25", "pm10")
TANK_KINDS = ("tank_pressure", "tank_temperature", "tank_gas")

EMS_COMPLAINTS = ("chest_pain", "stroke", "trauma", "breathing", "unconscious", "burn",
                  "poisoning", "obstetric", "fall", "other")
EMS_UNIT_STATUSES = ("available", "dispatched", "en_route", "on_scene", "transporting",
                     "at_hospital", "out_of_service")
FIRE_SIGNALS = ("fire", "smoke", "heat", "fault", "heartbeat")
FIRE_CATEGORIES = ("structure_fire", "vehicle_fire", "wildland_fire", "rescue", "hazmat",
                   "alarm", "other")
FIRE_INCIDENT_STATUSES = ("open", "under_control", "closed")
ENGINE_STATUSES = ("available", "dispatched", "en_route", "on_scene", "returning",
                   "out_of_service")
SIGNAL_FAULTS = ("dark", "flashing", "stuck", "comm_loss")
# UN/ADR hazard classes and divisions (GB 6944).
HAZARD_CLASSES = ("1", "1.1", "1.2", "1.3", "1.4", "1.5", "1.6", "2.1", "2.2", "2.3", "3",
                  "4.1", "4.2", "4.3", "5.1", "5.2", "6.1", "6.2", "7", "8", "9")


@dataclass(frozen=True)
class Field:
    """One field of an event. ``kind`` is str | float | int | enum | time | strlist."""

    name: str
    kind: str
    required: bool = True
    lo: float | None = None
    hi: float | None = None
    choices: tuple[str, ...] = ()
    max_len: int = 128
    pattern: str | None = None
    doc: str = ""


# Fields every event has. lat/lon are added per type (required where the type is located).
COMMON_FIELDS: tuple[Field, ...] = (
    Field("event_id", "str", doc="Globally unique id chosen by the producer; the dedup key."),
    Field("type", "str", doc="Event type within the stream."),
    Field("event_time", "time", doc="When it happened: ISO 8601 with an explicit offset, UTC."),
    Field("source", "str", doc="Producing system or gateway."),
    Field("entity_id", "str", doc="The sensor, unit, call, segment or vehicle it is about."),
    Field("district", "str", required=False, max_len=32,
          doc="District code; derived from lat/lon when absent."),
    Field("v", "int", required=False, lo=1, doc="Schema version (default 1)."),
)
LAT = Field("lat", "float", lo=-90.0, hi=90.0, doc="WGS-84 latitude.")
LON = Field("lon", "float", lo=-180.0, hi=180.0, doc="WGS-84 longitude.")
OPT_LAT = Field("lat", "float", required=False, lo=-90.0, hi=90.0, doc="WGS-84 latitude.")
OPT_LON = Field("lon", "float", required=False, lo=-180.0, hi=180.0, doc="WGS-84 longitude.")
SPEED = Field("speed_kmh", "float", required=False, lo=0.0, hi=250.0)
HEADING = Field("heading", "float", required=False, lo=0.0, hi=360.0)


def _measured(kinds: tuple[str, ...]) -> tuple[Field, ...]:
    return (Field("kind", "enum", choices=kinds),
            Field("value", "float"),
            Field("unit", "str", max_len=16, doc="Must be the kind's unit (see MEASUREMENTS)."))


@dataclass(frozen=True)
class EventType:
    stream: str
    name: str
    fields: tuple[Field, ...]
    doc: str = ""
    measured: bool = False

    @property
    def all_fields(self) -> tuple[Field, ...]:
        return COMMON_FIELDS + self.fields


@dataclass(frozen=True)
class Stream:
    name: str
    zh: str
    en: str
    types: Mapping[str, EventType] = field(default_factory=dict)


def _stream(name: str, zh: str, en: str, *types: EventType) -> Stream:
    return Stream(name, zh, en, MappingProxyType({t.name: t for t in types}))


STREAMS: Mapping[str, Stream] = MappingProxyType({s.name: s for s in (
    _stream("lifeline", "城市生命线", "City lifeline", EventType(
        "lifeline", "reading", (LAT, LON) + _measured(LIFELINE_KINDS), measured=True,
        doc="A reading of a gas, water, drainage, bridge or air sensor.")),
    _stream("ems", "120急救", "120 EMS",
            EventType("ems", "call", (LAT, LON,
                      Field("complaint", "enum", choices=EMS_COMPLAINTS),
                      Field("priority", "int", lo=1, hi=4, doc="1 most urgent."),
                      Field("patients", "int", required=False, lo=1, hi=500)),
                      doc="A 120 call received; entity_id is the call id."),
            EventType("ems", "unit_status", (OPT_LAT, OPT_LON,
                      Field("status", "enum", choices=EMS_UNIT_STATUSES),
                      Field("call_id", "str", required=False)),
                      doc="An ambulance changed status; entity_id is the unit id."),
            EventType("ems", "unit_gps", (LAT, LON, SPEED, HEADING),
                      doc="An ambulance position report.")),
    _stream("fire", "119消防", "119 Fire",
            EventType("fire", "alarm_signal", (LAT, LON,
                      Field("signal", "enum", choices=FIRE_SIGNALS),
                      Field("building_id", "str")),
                      doc="A signal from a building's fire-alarm panel; entity_id is the panel."),
            EventType("fire", "call", (LAT, LON,
                      Field("category", "enum", choices=FIRE_CATEGORIES)),
                      doc="A 119 call received; entity_id is the call id."),
            EventType("fire", "incident", (LAT, LON,
                      Field("category", "enum", choices=FIRE_CATEGORIES),
                      Field("alarm_level", "int", lo=1, hi=5),
                      Field("status", "enum", choices=FIRE_INCIDENT_STATUSES)),
                      doc="A fire incident opened or updated; entity_id is the incident id."),
            EventType("fire", "engine_status", (OPT_LAT, OPT_LON,
                      Field("status", "enum", choices=ENGINE_STATUSES),
                      Field("incident_id", "str", required=False)),
                      doc="A fire engine changed status."),
            EventType("fire", "engine_gps", (LAT, LON, SPEED, HEADING),
                      doc="A fire engine position report.")),
    _stream("traffic", "交通", "Traffic",
            EventType("traffic", "segment", (LAT, LON,
                      Field("speed_kmh", "float", lo=0.0, hi=200.0),
                      Field("flow_vph", "float", lo=0.0, hi=12000.0),
                      Field("occupancy", "float", lo=0.0, hi=1.0)),
                      doc="Detector aggregate for a road segment; entity_id is the segment."),
            EventType("traffic", "accident", (LAT, LON,
                      Field("severity", "int", lo=1, hi=4),
                      Field("lanes_blocked", "int", lo=0, hi=12),
                      Field("segment_id", "str", required=False)),
                      doc="A traffic accident report; entity_id is the report id."),
            EventType("traffic", "signal_fault", (LAT, LON,
                      Field("fault", "enum", choices=SIGNAL_FAULTS)),
                      doc="A traffic signal fault; entity_id is the signal.")),
    _stream("hazmat", "危化品", "Hazmat",
            EventType("hazmat", "vehicle_gps", (LAT, LON, SPEED, HEADING,
                      Field("un_number", "str", max_len=4, pattern=r"^[0-9]{4}$"),
                      Field("hazard_class", "enum", choices=HAZARD_CLASSES)),
                      doc="A hazmat vehicle position with its cargo; entity_id is the vehicle."),
            EventType("hazmat", "tank_reading", (LAT, LON) + _measured(TANK_KINDS),
                      measured=True,
                      doc="A tank (vehicle or site) sensor reading; entity_id is the tank.")),
)})

INPUT_STREAMS: tuple[str, ...] = tuple(STREAMS)
