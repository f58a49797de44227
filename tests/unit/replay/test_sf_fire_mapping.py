"""SF Fire calls-for-service rows -> our events: each column, time zones, bad-row codes."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from replay.cad_import import reader, sf_fire
from replay.cad_import.sf_fire import RowError, map_row
from schemas.validate import EventValidator, Policy, parse_event_time

FIXTURE = Path(__file__).parents[2] / "fixtures" / "sf_fire" / "calls_sample.csv"
HEADER, *ROWS = list(csv.reader(FIXTURE.open(newline="")))
MEDICAL = ROWS[1]          # 20110022, M17, Medical Incident, B10, priority 3
FIRE = ROWS[0]             # 20110016, T13, Structure Fire, B04
IX = {c: i for i, c in enumerate(sf_fire.COLUMNS)}


def row(base: list[str], **cols: str) -> list[str]:
    out = list(base)
    for k, v in cols.items():
        out[IX[k]] = v
    return out


def test_header_is_the_28_documented_columns() -> None:
    assert tuple(HEADER) == sf_fire.COLUMNS and len(HEADER) == 28


def test_medical_row_maps_to_an_ems_call_and_the_units_available_status() -> None:
    m = map_row(MEDICAL)
    stream, call = m.call
    assert stream == "ems" and m.call_number == "20110022"
    assert call == {
        "event_id": "sf-fire-cad:call:20110022", "type": "call",
        # CallDate 2002-01-11 00:00 PST (UTC-8): day precision only
        "event_time": "2002-01-11T08:00:00.000Z", "source": "sf-fire-cad",
        "entity_id": "20110022", "district": "B10",
        "lat": 37.7337623673897, "lon": -122.396113802632,
        "complaint": "other", "priority": 1}
    assert m.unit == ("ems", {
        "event_id": "sf-fire-cad:available:20110022:M17", "type": "unit_status",
        # AvailableDtTm 01/11/2002 03:01:18 AM PST
        "event_time": "2002-01-11T11:01:18.000Z", "source": "sf-fire-cad",
        "entity_id": "M17", "district": "B10", "status": "available",
        "call_id": "20110022"})
    assert m.extra == sf_fire.Extra("020110022-M17", "MEDIC", 4.7, 1, "Bayview Hunters Point")


def test_fire_row_maps_to_a_call_an_incident_and_an_engine_status_naming_it() -> None:
    m = map_row(FIRE)
    assert m.call[0] == "fire" and m.call[1]["category"] == "structure_fire"
    assert "priority" not in m.call[1] and "complaint" not in m.call[1]
    # as live, the 119 case is the incident (IncidentNumber), the engines name it
    assert m.incident_number == "2003235"
    assert m.incident == ("fire", {**m.call[1], "event_id": "sf-fire-cad:incident:2003235",
                                   "type": "incident", "entity_id": "2003235",
                                   "alarm_level": 1, "status": "open"})
    stream, st = m.unit
    assert (stream, st["type"], st["incident_id"], st["entity_id"]) == (
        "fire", "engine_status", "2003235", "T13")
    assert st["event_time"] == "2002-01-11T09:51:44.000Z"     # 01:51:44 AM PST


@pytest.mark.parametrize("alarms,level", [("1", 1), ("3", 3), ("0", 1), ("9", 5), ("", 1)])
def test_alarm_level_is_num_alarms_within_our_range(alarms: str, level: int) -> None:
    assert map_row(row(FIRE, NumAlarms=alarms)).incident[1]["alarm_level"] == level


def test_an_ems_row_has_no_incident_and_needs_no_incident_number() -> None:
    m = map_row(row(MEDICAL, IncidentNumber=""))
    assert m.incident is None and m.unit[1]["call_id"] == "20110022"


@pytest.mark.parametrize("call_type,stream,what", [
    ("Medical Incident", "ems", "other"), ("Traffic Collision", "ems", "trauma"),
    ("Structure Fire", "fire", "structure_fire"), ("Vehicle Fire", "fire", "vehicle_fire"),
    ("Alarms", "fire", "alarm"), ("Water Rescue", "fire", "rescue"),
    ("HazMat", "fire", "hazmat"), ("Gas Leak (Natural and LP Gases)", "fire", "hazmat"),
    ("Outside Fire", "fire", "other"), ("Citizen Assist / Service Call", "fire", "other")])
def test_call_type_table(call_type: str, stream: str, what: str) -> None:
    stream_got, call = map_row(row(MEDICAL, CallType=call_type)).call
    assert stream_got == stream
    assert call["complaint" if stream == "ems" else "category"] == what


def test_every_call_type_of_the_published_figures_is_mapped() -> None:
    # REFERENCE_FIGURES.md: the 30 CallTypes of the 175,296-row file
    published = ["Medical Incident", "Structure Fire", "Alarms", "Traffic Collision",
                 "Citizen Assist / Service Call", "Other", "Outside Fire", "Vehicle Fire",
                 "Gas Leak (Natural and LP Gases)", "Water Rescue", "Odor (Strange / Unknown)",
                 "Electrical Hazard", "Elevator / Escalator Rescue",
                 "Smoke Investigation (Outside)", "Fuel Spill", "HazMat",
                 "Industrial Accidents", "Explosion", "Train / Rail Incident",
                 "Aircraft Emergency", "Assist Police", "High Angle Rescue",
                 "Watercraft in Distress", "Extrication / Entrapped (Machinery, Vehicle)",
                 "Oil Spill", "Suspicious Package", "Marine Fire",
                 "Confined Space / Structure Collapse", "Mutual Aid / Assist Outside Agency",
                 "Administrative"]
    assert len(published) == 30 and set(published) <= set(sf_fire.CALL_TYPES)


@pytest.mark.parametrize("sf,ours", [("3", 1), ("E", 1), ("2", 2), ("1", 3)])
def test_priority(sf: str, ours: int) -> None:
    assert map_row(row(MEDICAL, Priority=sf)).call[1]["priority"] == ours


def test_priority_falls_back_to_the_original_one() -> None:
    assert map_row(row(MEDICAL, Priority="", OriginalPriority="2")).call[1]["priority"] == 2


def test_calldate_in_sfs_own_format_too() -> None:
    assert map_row(row(MEDICAL, CallDate="01/11/2002")).call[1]["event_time"] == \
        "2002-01-11T08:00:00.000Z"


def test_summer_times_are_pdt() -> None:
    m = map_row(row(MEDICAL, CallDate="2018-07-04", AvailableDtTm="07/04/2018 12:00:00 PM"))
    assert m.call[1]["event_time"] == "2018-07-04T07:00:00.000Z"
    assert m.unit[1]["event_time"] == "2018-07-04T19:00:00.000Z"


def test_dst_fall_back_ambiguous_hour_is_its_first_occurrence_pdt() -> None:
    m = map_row(row(MEDICAL, AvailableDtTm="11/03/2019 01:30:00 AM"))
    assert m.unit[1]["event_time"] == "2019-11-03T08:30:00.000Z"      # PDT, UTC-7
    after = map_row(row(MEDICAL, AvailableDtTm="11/03/2019 02:30:00 AM"))
    assert after.unit[1]["event_time"] == "2019-11-03T10:30:00.000Z"  # PST, UTC-8


def test_dst_spring_forward_gap_is_a_bad_row_and_its_edges_are_not() -> None:
    with pytest.raises(RowError) as err:
        map_row(row(MEDICAL, AvailableDtTm="03/10/2019 02:00:00 AM"))
    assert (err.value.code, err.value.column) == ("nonexistent_local_time", "AvailableDtTm")
    assert map_row(row(MEDICAL, AvailableDtTm="03/10/2019 01:59:59 AM")).unit[1][
        "event_time"] == "2019-03-10T09:59:59.000Z"
    assert map_row(row(MEDICAL, AvailableDtTm="03/10/2019 03:00:00 AM")).unit[1][
        "event_time"] == "2019-03-10T10:00:00.000Z"


def test_no_available_time_gives_the_call_only() -> None:
    m = map_row(row(MEDICAL, AvailableDtTm="null"))
    assert m.unit is None and m.call[1]["type"] == "call"


@pytest.mark.parametrize("cols,code,column", [
    ({"CallNumber": ""}, "missing_call_number", "CallNumber"),
    ({"CallNumber": "null"}, "missing_call_number", "CallNumber"),
    ({"UnitID": " "}, "missing_unit_id", "UnitID"),
    ({"CallType": "Alarms", "IncidentNumber": ""}, "missing_incident_number",
     "IncidentNumber"),
    ({"CallType": "Dragon Sighting"}, "unknown_call_type", "CallType"),
    ({"CallDate": "2002-02-30"}, "bad_date", "CallDate"),
    ({"CallDate": ""}, "bad_date", "CallDate"),
    ({"AvailableDtTm": "2002-01-11 03:01"}, "bad_time", "AvailableDtTm"),
    ({"Location": "(37.7, )"}, "bad_location", "Location"),
    ({"Location": "(nan, nan)"}, "bad_location", "Location"),
    ({"Location": "(-122.39, 37.73)"}, "bad_location", "Location"),     # swapped
    ({"Location": "(0.0, 0.0)"}, "bad_location", "Location"),
    ({"Priority": "X", "OriginalPriority": ""}, "bad_priority", "Priority"),
    ({"Delay": "-1"}, "bad_delay", "Delay"),
    ({"Delay": "nan"}, "bad_delay", "Delay"),
])
def test_bad_values_have_their_code(cols: dict[str, str], code: str, column: str) -> None:
    with pytest.raises(RowError) as err:
        map_row(row(MEDICAL, **cols))
    assert (err.value.code, err.value.column) == (code, column)
    assert code in sf_fire.REASONS


def test_wrong_column_count() -> None:
    for bad in (MEDICAL[:27], MEDICAL + ["x"], []):
        with pytest.raises(RowError) as err:
            map_row(bad)
        assert err.value.code == "wrong_column_count"


def test_the_fixture_reports_each_bad_row_with_its_line_and_code() -> None:
    with FIXTURE.open(newline="") as f:
        items = list(reader.read(f))
    bad = [(b.line, b.code) for b in items if isinstance(b, reader.BadRow)]
    # line 84-85 is one row (a quoted newline), so the crafted bad rows start at 86
    assert bad == [(86, "wrong_column_count"), (87, "missing_call_number"),
                   (88, "missing_unit_id"), (89, "unknown_call_type"), (90, "bad_date"),
                   (91, "bad_time"), (92, "nonexistent_local_time"), (93, "bad_location"),
                   (94, "bad_location"), (95, "bad_priority"), (96, "bad_delay"),
                   (97, "wrong_column_count")]
    good = [r for r in items if isinstance(r, reader.Row)]
    assert [r.line for r in good][-4:] == [82, 83, 84, 98]    # continues after bad rows
    assert good[-2].mapped.call[1]["entity_id"] == "190000003"


def test_a_wrong_header_is_reported_on_line_1_and_rows_still_mapped() -> None:
    import io
    text = ",".join(["X"] * 28) + "\n" + FIXTURE.read_text().split("\n", 2)[1] + "\n"
    items = list(reader.read(io.StringIO(text, newline="")))
    assert isinstance(items[0], reader.BadRow) and (items[0].line, items[0].code) == (
        1, "bad_header")
    assert isinstance(items[1], reader.Row) and items[1].line == 2


def test_every_event_of_the_fixture_passes_our_schema_validator() -> None:
    lat0, lat1, lon0, lon1 = sf_fire.BOUNDS
    battalions = frozenset(f"B{i:02d}" for i in range(1, 11))
    policy = Policy(lat0, lat1, lon0, lon1, battalions, max_lateness_ms=2 ** 62)
    validators = {s: EventValidator(s, policy) for s in ("ems", "fire")}
    now = parse_event_time("2030-01-01T00:00:00Z")
    n = 0
    with FIXTURE.open(newline="") as f:
        for item in reader.read(f):
            for stream, ev in getattr(item, "events", ()):
                validators[stream].validate(dict(ev), now)
                n += 1
    assert n == 193


def test_every_column_says_where_it_goes() -> None:
    assert list(sf_fire.COLUMN_USE) == list(sf_fire.COLUMNS)
