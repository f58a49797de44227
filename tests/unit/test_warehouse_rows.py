"""warehouse.rows: row builders for every stream, defaults, and agreement with the SQL schema."""

from __future__ import annotations

import re
import time
from typing import Any

import orjson
import pytest
from hypothesis import given, settings as hsettings, strategies as st

from schemas.catalog import STREAMS, EventType, Field
from alerting.labels import Matcher
from alerting.silence_log import silence_event
from alerting.silences import Silence
from schemas.records import ALERT_FIELDS, Origin, dead_letter, dead_letter_from_headers, \
    dead_letter_headers
from schemas.validate import format_event_time
from cockpit_api.audit import audit_record
from warehouse.audit_rows import audit_row, command_result_row
from warehouse.dispatch_rows import dispatch_row
from warehouse.migrate import load_migrations
from warehouse.rows import (EVENT_COLUMNS, alert_event_row, incident_event_row,
                            notification_row, silence_event_row, STREAM_COLUMNS, TABLES,
                            alert_row, columns_len,
                            dead_letter_row, event_columns, event_row, table_for_stream,
                            to_columns)

TS = 1_714_550_400_123  # 2024-05-01T08:00:00.123Z
ORIGIN = Origin("citycc.test", 3, 4242, 7)
INGESTED = TS + 2_500
DEFAULTS = {"str": "", "float": 0.0, "int": 0}


def _value(f: Field) -> Any:
    if f.kind == "enum":
        return f.choices[-1]
    if f.kind == "int":
        return int(f.hi if f.hi is not None else 3)
    if f.kind == "float":
        return float(f.hi if f.hi is not None else 2.5) / 2
    if f.kind == "time":
        return format_event_time(TS)
    if f.name == "un_number":
        return "1203"
    return f"{f.name}-1"


def make_event(etype: EventType, optional: bool) -> dict[str, Any]:
    """An event of ``etype`` with every required field, plus the optional ones if asked."""
    event = {f.name: _value(f) for f in etype.all_fields if f.required or optional}
    event["type"] = etype.name
    return event


CASES = [pytest.param(s, et, opt, id=f"{s}.{name}-{'full' if opt else 'minimal'}")
         for s, stream in STREAMS.items() for name, et in stream.types.items()
         for opt in (True, False)]


@pytest.mark.parametrize(("stream", "etype", "optional"), CASES)
def test_event_row_all_streams(stream: str, etype: EventType, optional: bool) -> None:
    event = make_event(etype, optional)
    row = event_row(stream, event, TS, ORIGIN, INGESTED)
    assert tuple(row) == TABLES[table_for_stream(stream)]
    assert row["event_id"] == event["event_id"] and row["type"] == etype.name
    assert (row["event_time"], row["event_ms"]) == (TS // 1000, TS)
    assert (row["src_topic"], row["src_partition"], row["src_offset"], row["src_index"]) == \
        ("citycc.test", 3, 4242, 7)
    assert row["ingested_at"] == INGESTED // 1000
    assert orjson.loads(row["body"]) == event
    assert row["district"] == event.get("district", "")
    assert row["lat"] == float(event.get("lat", 0.0))
    for column, kind in STREAM_COLUMNS[stream]:
        want = event.get(column, DEFAULTS[kind])
        assert row[column] == want and type(row[column]) is type(DEFAULTS[kind]), column


@pytest.mark.parametrize(("stream", "event", "expected"), [
    ("lifeline", {"event_id": "a", "type": "reading", "kind": "pm25", "value": 12},
     {"kind": "pm25", "unit": "", "value": 12.0, "lat": 0.0, "district": "", "source": ""}),
    ("ems", {"event_id": "b", "type": "unit_status", "status": "en_route"},
     {"status": "en_route", "complaint": "", "priority": 0, "call_id": ""}),
    ("ems", {"event_id": "c", "type": "call", "complaint": "burn", "priority": 1.0},
     {"complaint": "burn", "priority": 1, "status": ""}),
    ("fire", {"event_id": "d", "type": "engine_gps", "lat": 28.1, "lon": 112.9},
     {"signal": "", "category": "", "alarm_level": 0, "incident_id": "", "lat": 28.1}),
    ("traffic", {"event_id": "e", "type": "accident", "severity": 3, "lanes_blocked": 0},
     {"severity": 3, "lanes_blocked": 0, "speed_kmh": 0.0, "segment_id": "", "fault": ""}),
    ("hazmat", {"event_id": "f", "type": "vehicle_gps", "un_number": "1203",
                "hazard_class": "3"},
     {"un_number": "1203", "hazard_class": "3", "speed_kmh": 0.0, "kind": "", "value": 0.0}),
])
def test_missing_optional_fields_get_type_defaults(stream: str, event: dict[str, Any],
                                                   expected: dict[str, Any]) -> None:
    row = event_row(stream, event, TS, ORIGIN, INGESTED)
    for column, want in expected.items():
        assert row[column] == want and type(row[column]) is type(want), column


@given(st.sampled_from(sorted(STREAMS)), st.data())
@hsettings(max_examples=60, deadline=None)
def test_any_subset_of_typed_fields(stream: str, data: st.DataObject) -> None:
    kinds = dict(STREAM_COLUMNS[stream])
    present = data.draw(st.sets(st.sampled_from(sorted(kinds))))
    values = {"str": st.text(max_size=5), "float": st.floats(-1e6, 1e6),
              "int": st.integers(0, 255)}
    event = {"event_id": "x", "type": "t", **{c: data.draw(values[kinds[c]]) for c in present}}
    row = event_row(stream, event, TS, ORIGIN, INGESTED)
    for column, kind in kinds.items():
        assert row[column] == event.get(column, DEFAULTS[kind])


def test_event_columns_matches_rows_and_table_order() -> None:
    etype = STREAMS["traffic"].types["segment"]
    items = [({**make_event(etype, True), "event_id": f"t-{i}"}, TS + i, ORIGIN, INGESTED)
             for i in range(5)]
    cols = event_columns("traffic", items)
    assert tuple(cols) == TABLES["events_traffic"] and columns_len(cols) == 5
    rows = [event_row("traffic", *item) for item in items]
    assert to_columns("events_traffic", rows) == cols
    assert event_columns("traffic", []) == {c: [] for c in TABLES["events_traffic"]}


def test_table_for_stream() -> None:
    assert [table_for_stream(s) for s in STREAMS] == [f"events_{s}" for s in STREAMS]
    with pytest.raises(KeyError):
        table_for_stream("weather")


def test_alert_row_full_and_defaults() -> None:
    alert = {f: f"{f}-v" for f in ALERT_FIELDS}
    alert.update(lat=28.2, lon=112.9, value=26.5, threshold=25, evidence=["t-802", 9],
                 event_time="2024-05-01T16:00:00.123+08:00", detected_at=TS + 1000)
    row = alert_row(alert)
    assert tuple(row) == TABLES["alerts"]
    assert set(ALERT_FIELDS) <= set(row)
    assert (row["event_time"], row["event_ms"]) == (TS // 1000, TS)
    assert (row["detected_at"], row["detected_ms"]) == ((TS + 1000) // 1000, TS + 1000)
    assert row["threshold"] == 25.0 and type(row["threshold"]) is float
    assert row["evidence"] == ["t-802", "9"] and row["title_zh"] == "title_zh-v"

    bare = alert_row({"alert_id": "a1", "evidence": "only-one"})
    assert bare["evidence"] == ["only-one"]
    assert (bare["value"], bare["lat"], bare["event_ms"], bare["detected_at"]) == (0.0, 0.0, 0, 0)
    assert bare["severity"] == "" and bare["fingerprint"] == ""
    assert alert_row({"alert_id": "a2"})["evidence"] == []


def test_dead_letter_row_keeps_raw_bytes() -> None:
    raw = bytes(range(256)) + "燃气".encode("gbk")
    record = dead_letter(ORIGIN, "malformed_json", "", "bad", raw, TS, event_id="e-1")
    row = dead_letter_row(record)
    assert tuple(row) == TABLES["dead_letters"]
    assert row["raw"] == raw and type(row["raw"]) is bytes
    assert (row["received_at"], row["received_ms"]) == (TS // 1000, TS)
    assert (row["source_partition"], row["source_offset"], row["batch_index"]) == (3, 4242, 7)
    assert row["dl_id"] == record["dl_id"] and row["event_id"] == "e-1"


def test_dead_letter_row_from_headerless_record() -> None:
    record = dead_letter_from_headers(b"\xff\x00", [])
    row = dead_letter_row(record)
    assert (row["source_partition"], row["source_offset"], row["batch_index"]) == (-1, -1, -1)
    assert (row["received_ms"], row["received_at"]) == (0, 0)  # unknown time: no negative
    assert row["raw"] == b"\xff\x00" and row["dl_id"]
    # ...and the round trip through Kafka headers loses nothing.
    full = dead_letter(ORIGIN, "c", "f", "r", b"x", TS)
    assert dead_letter_row(dead_letter_from_headers(b"x", dead_letter_headers(full))) == \
        dead_letter_row(full)


def test_to_columns_requires_every_column() -> None:
    with pytest.raises(KeyError):
        to_columns("dead_letters", [{"dl_id": "x"}])


def _sql_columns() -> dict[str, list[tuple[str, str]]]:
    """(column, type) of every CREATE TABLE in the migrations, by table."""
    tables: dict[str, list[tuple[str, str]]] = {}
    for migration in load_migrations():
        for stmt in migration.statements("db"):
            m = re.match(r"CREATE TABLE IF NOT EXISTS db\.(\w+) \((.*)\) ENGINE", stmt, re.S)
            if m:
                cols = [c.split(None, 1) for c in re.split(r",\s*(?![^()]*\))", m.group(2))]
                tables[m.group(1)] = [(name, typ.strip()) for name, typ in cols]
            m = re.match(r"ALTER TABLE db\.(\w+) ADD COLUMN (\w+) ([\w()']+)", stmt)
            if m:
                tables[m.group(1)].append((m.group(2), m.group(3)))
    return tables


PY_TYPES = {"String": (str, bytes), "Float64": (float,), "UInt8": (int,), "UInt32": (int,),
            "UInt64": (int,), "Int32": (int,), "Int64": (int,), "DateTime('UTC')": (int,),
            "Array(String)": (list,), "Nullable(DateTime('UTC'))": (int, type(None))}


def _sample_rows() -> dict[str, dict[str, Any]]:
    samples = {table_for_stream(s): event_row(s, make_event(et, True), TS, ORIGIN, INGESTED)
               for s in STREAMS for et in list(STREAMS[s].types.values())[:1]}
    samples["alerts"] = alert_row({"alert_id": "a", "evidence": ["e"]})
    samples["dead_letters"] = dead_letter_row(dead_letter(ORIGIN, "c", "", "r", b"\x00", TS))
    samples["alert_events"] = alert_event_row({
        "event_id": "e", "fingerprint": "f", "occurrence": 1, "occurrence_id": "o", "seq": 1,
        "from_state": "", "to_state": "firing", "action": "fire", "actor": "detector:limit",
        "comment": "", "at_ms": TS, "severity": "major", "kind": "k", "entity_id": "x",
        "district": "furong", "labels": {"kind": "k"}, "alert_id": "a", "cause_id": "c",
        "notify": True})
    samples["incident_events"] = incident_event_row({
        "event_id": "e", "incident_id": "i", "seq": 1, "lsn": 1, "kind": "opened",
        "at_ms": TS, "actor": "correlator", "payload_json": "{}"})
    samples["notifications"] = notification_row({
        "notification": {"key": "k", "receiver": "fire119", "fingerprint": "f",
                         "status": "firing", "severity": "major", "summary": "s"},
        "outcome": "delivered", "attempts": 1, "reason": "", "at_ms": TS})
    samples["silence_events"] = silence_event_row(silence_event(
        Silence("s-1", (Matcher("entity_id", "=", "GASC-1"),), TS, TS + 3_600_000, "值班长",
                "管网抢修"), "created", TS, "值班长"))
    samples["command_audit"] = audit_row(audit_record(
        at_ms=TS, user="张伟", role="supervisor", districts=["furong"], action="ack",
        target="f", command_id="c-1", result="forwarded", command={"action": "ack"}))
    assert command_result_row({"command_id": "c-1", "ok": True, "at": "2026-01-01T00:00:00Z"}
                              ).keys() == samples["command_audit"].keys()
    samples["dispatch_log"] = dispatch_row({
        "record_id": "d-1", "kind": "package_confirmed", "at_ms": TS, "incident_id": "inc-1",
        "unit_id": "", "actor": "张伟", "payload": {"package_id": "p-1", "items": []}})
    return samples


def test_sql_schema_matches_row_builders() -> None:
    sql = _sql_columns()
    assert set(sql) == set(TABLES)
    samples = _sample_rows()
    for table, columns in TABLES.items():
        assert [c for c, _ in sql[table]] == list(columns), table
        for column, typ in sql[table]:
            assert isinstance(samples[table][column], PY_TYPES[typ]), (table, column, typ)
    for table in TABLES:
        if table.startswith("events_"):
            assert TABLES[table][:len(EVENT_COLUMNS)] == EVENT_COLUMNS


def test_sql_avoids_features_missing_in_18_16() -> None:
    text = " ".join(s for m in load_migrations() for s in m.statements("db")).upper()
    for word in ("DATETIME64", "TTL", "CODEC", "LOWCARDINALITY", "JSONEXTRACT", "WITH FILL"):
        assert word not in text


def test_building_50k_lifeline_rows_is_fast() -> None:
    etype = STREAMS["lifeline"].types["reading"]
    base = make_event(etype, True)
    items = [({**base, "event_id": f"lf-{i}", "value": float(i % 90)}, TS + i, ORIGIN,
              INGESTED) for i in range(50_000)]
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        cols = event_columns("lifeline", items)
        best = min(best, time.perf_counter() - started)
    assert columns_len(cols) == 50_000
    print(f"50k lifeline rows built in {best * 1000:.0f} ms ({50_000 / best:,.0f} rows/s)")
    assert best < 0.5


def test_dispatch_row_keeps_the_payload_as_canonical_json_and_refuses_a_record_without_id() -> None:
    row = dispatch_row({"record_id": "d-2", "kind": "unit_status", "at_ms": TS,
                        "unit_id": "AMB-H-XY1-01", "payload": {"b": 1, "a": "救护"}})
    assert row["payload"] == '{"a":"救护","b":1}' and row["incident_id"] == ""
    assert row["at"] == TS // 1000
    for bad in ({"kind": "x", "at_ms": TS}, {"record_id": "", "kind": "x", "at_ms": TS},
                {"record_id": "d", "kind": "x", "at_ms": -1}):
        with pytest.raises(KeyError):
            dispatch_row(bad)
