"""streams.sink_decode: a record a sink cannot store costs only itself (issue 13: the
batch-poisoning pattern, found again in the sinks), and what it stores passed the door."""

from __future__ import annotations

from typing import Any

import orjson

from schemas.records import make_alert
from schemas.validate import format_event_time
from streams.pipeline import RawMessage
from streams.sink_decode import decode_alerts, json_decoder
from unit_helpers import NOW_MS
from warehouse.rows import incident_event_row, silence_event_row

T = format_event_time(NOW_MS)


def alert(entity: str, **change: Any) -> bytes:
    return orjson.dumps({**make_alert(
        detector="limit", kind="gas_concentration_high", status="firing", severity="major",
        stream="lifeline", entity_id=entity, district="furong", district_zh="芙蓉区",
        district_en="Furong", lat=28.19, lon=112.99, event_time=T, value=1.0, threshold=1.0,
        unit="", title_zh="测试", title_en="test", evidence=["e"], detected_at=T), **change})


def msgs(*values: bytes) -> list[RawMessage]:
    return [RawMessage("citycc.x", 0, i, v) for i, v in enumerate(values)]


def test_an_alert_that_is_no_row_is_dead_lettered_and_the_batch_stored() -> None:
    tables, dead = decode_alerts(msgs(alert("G-1"), alert("G-2", value=[1]),
                                      alert("G-3", value=[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]),
                                      b'{"alert_id":"a","alert_id":"b"}', b"[]",
                                      alert("G-4")), NOW_MS)
    (table, columns), = tables
    assert table == "alerts" and columns["entity_id"] == ["G-1", "G-4"]
    assert [(d["source_offset"], d["code"]) for d in dead] == [
        (1, "bad_alert"), (2, "too_deep"), (3, "duplicate_key"), (4, "bad_alert")]
    assert dead[0]["raw"] == alert("G-2", value=[1])


def test_an_incident_event_with_a_payload_too_deep_is_not_stored() -> None:
    ev = {"event_id": "e", "incident_id": "i", "seq": 1, "lsn": 1, "kind": "opened",
          "at_ms": NOW_MS, "actor": "", "payload_json": "[" * 5000 + "]" * 5000}
    ok = {**ev, "event_id": "f", "payload_json": '{"category":"gas_leak"}'}
    tables, dead = json_decoder("incident_events", incident_event_row)(
        msgs(orjson.dumps(ev), orjson.dumps(ok)), NOW_MS)
    assert tables[0][1]["event_id"] == ["f"]
    assert [(d["code"], d["field"]) for d in dead] == [("too_deep", "payload_json")]


def test_any_failure_to_make_a_row_is_a_dead_letter() -> None:
    good = {"event_id": "e", "silence_id": "s", "action": "created", "at_ms": NOW_MS,
            "starts_at": T, "matchers": ['kind="x"']}
    tables, dead = json_decoder("silence_events", silence_event_row)(
        msgs(orjson.dumps(good), b'{"event_id":"g","at_ms":1e308,"silence_id":"s",'
             b'"action":"created","starts_at":"x"}'), NOW_MS)
    assert tables[0][1]["event_id"] == ["e"]
    assert [d["code"] for d in dead] == ["bad_silence_events"]


def test_a_stored_record_the_door_refuses_is_left_out_of_a_history(caplog: Any) -> None:
    from warehouse.queries import decoded_records
    good = '{"event_id":"e","silence_id":"s"}'
    got = decoded_records([good, "[" * 3000 + "]" * 3000, '{"a":1,"a":2}', "[1]", good],
                          "silence_events")
    assert got == [orjson.loads(good)] * 2
    assert caplog.text.count("left out") == 3


def test_unit_position_batches_are_deliberately_not_stored_in_dispatch_log() -> None:
    """A unit_positions record (dispatch.positions) is a live view of GPS fixes the
    warehouse already keeps (events_ems/events_fire): skipped, neither a row nor a dead
    letter; the other records of the batch are stored."""
    from warehouse.dispatch_rows import dispatch_row
    status = {"record_id": "D-1", "kind": "unit_status", "at_ms": NOW_MS, "unit_id": "U",
              "payload": {"status": "en_route"}}
    batch = {"record_id": "D-2", "kind": "unit_positions", "at_ms": NOW_MS,
             "payload": {"full": False, "units": {"U": {"lat": 28.2, "lon": 113.0}}}}
    tables, dead = json_decoder("dispatch_log", dispatch_row)(
        msgs(orjson.dumps(batch), orjson.dumps(status)), NOW_MS)
    assert tables[0][1]["record_id"] == ["D-1"] and dead == []
