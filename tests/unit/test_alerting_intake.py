"""Issue 13, item 5: the alerting agents take their records one at a time; a record that
cannot be decoded, that the engine refuses or whose application raises costs only itself
(dead-lettered with a code, counted), and the records after it are applied."""

from __future__ import annotations

from typing import Any

import orjson

from alerting.config import default_config
from alerting.engine import Engine, Output
from schemas.records import make_alert
from schemas.validate import format_event_time
from streams.alerting_intake import apply_commands, apply_records
from unit_helpers import NOW_MS, PROFILE

DEEP = b'{"alert_id":' + b"[" * 300 + b"]" * 300 + b"}"


def alert(entity: str) -> dict[str, Any]:
    t = format_event_time(NOW_MS)
    return make_alert(detector="limit", kind="water_pressure_low", status="firing",
                      severity="major", stream="lifeline", entity_id=entity, district="furong",
                      district_zh="芙蓉区", district_en="Furong", lat=28.19, lon=112.99,
                      event_time=t, value=1.0, threshold=1.0, unit="", title_zh="测试",
                      title_en="test", evidence=[entity], detected_at=t)


def engine() -> Engine:
    return Engine(default_config(), PROFILE)


def test_an_alert_whose_application_raises_costs_only_itself() -> None:
    e = engine()
    alerts = e.alerts

    def buggy(msgs: list[dict[str, Any]], now: int) -> Output:   # a bug the engine misses
        if msgs[0]["entity_id"] == "WP-2":
            raise RecursionError("maximum recursion depth exceeded")
        return alerts(msgs, now)

    values = [orjson.dumps(alert(f"WP-{i}")) for i in range(4)]
    out, dead = apply_records(buggy, values, NOW_MS, e.counters)
    assert sorted(ev.entity_id for ev in out.alert_events) == ["WP-0", "WP-1", "WP-3"]
    assert [(d.index, d.code) for d in dead] == [(2, "alerting_internal")]
    assert "RecursionError" in dead[0].reason and dead[0].ident == alert("WP-2")["alert_id"]
    assert e.counters["internal_errors"] == 1 and out.rejected == []


def test_deep_and_duplicate_records_are_refused_with_their_codes() -> None:
    e = engine()
    rec = {"stream": "fire", "event": {"event_id": "g", "type": "engine_gps",
                                       "entity_id": "ENG-1"}}
    values = [DEEP, b'{"stream":"fire","stream":"ems","event":{}}', orjson.dumps(rec),
              b"[1, 2]", None]
    out, dead = apply_records(e.dispatch, values, NOW_MS, e.counters)
    assert [(d.index, d.code) for d in dead] == [(0, "too_deep"), (1, "duplicate_key"),
                                                 (3, "malformed_json"), (4, "malformed_json")]
    # on the alerts topic its sink dead-letters what cannot be decoded: counted here
    out, dead = apply_records(e.alerts, [DEEP, orjson.dumps(alert("WP-1"))], NOW_MS,
                              e.counters, keep_undecodable=False)
    assert dead == [] and e.counters["undecodable_alerts"] == 1
    assert [ev.entity_id for ev in out.alert_events] == ["WP-1"]


def test_a_refused_alert_is_dead_lettered_with_the_engine_code() -> None:
    e = engine()
    spoofed = {**alert("WP-1"), "entity_id": "WP\u202e-1"}
    out, dead = apply_records(e.alerts, [orjson.dumps(spoofed), orjson.dumps(alert("WP-2"))],
                              NOW_MS, e.counters)
    assert [(d.index, d.code, d.field) for d in dead] == [
        (0, "alerting_bad_characters", "entity_id")]
    assert [ev.entity_id for ev in out.alert_events] == ["WP-2"]


def test_commands_one_at_a_time() -> None:
    e = engine()
    fp = e.alerts([alert("WP-1")], NOW_MS).alert_events[0].fingerprint
    command = e.command

    def buggy(cmd: Any, now: int) -> Output:
        if cmd.get("command_id") == "boom":
            raise TypeError("a bug")
        return command(cmd, now)

    ack = {"action": "ack", "fingerprint": fp, "actor": "值班员"}
    values = [orjson.dumps({**ack, "command_id": "boom"}),
              b'{"command_id":"d","command_id":"e","action":"ack"}', DEEP,
              orjson.dumps({**ack, "actor": "值班\u202e员", "command_id": "spoof"}),
              orjson.dumps({**ack, "command_id": "ok"})]
    out, dead = apply_commands(buggy, values, NOW_MS, e.counters)
    assert out.applied == ["ok"]
    # answered: the bug and the refusal (both have a command id); dead-lettered: the bug
    # (for replay) and the two that name nobody to answer
    assert [(r.command_id, r.code) for r in out.rejected] == [
        ("boom", "internal"), ("spoof", "bad_characters")]
    assert [(d.index, d.code) for d in dead] == [(0, "internal"), (1, "duplicate_key"),
                                                 (2, "too_deep")]
    assert e.counters["internal_errors"] == 1
