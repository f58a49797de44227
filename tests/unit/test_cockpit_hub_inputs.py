"""Issue 13, item 8: the hub never stores what it cannot send again. A message nested
too deep (or otherwise unusable) is refused when it comes in, counted as malformed, from
every source (feed, history); a new client always gets its snapshot."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from cockpit_api.errors import MalformedMessage
from cockpit_api.feed import decode_alert, decode_json
from cockpit_api.history_load import fold_history
from cockpit_api.hub import AlertHub
from schemas.limits import MAX_DEPTH


def nested(depth: int) -> Any:
    v: Any = 1
    for _ in range(depth):
        v = [v]
    return v


def drain(queue: asyncio.Queue) -> list[Any]:
    out = []
    while not queue.empty():
        out.append(orjson.loads(queue.get_nowait()))
    return out


ALERT = {"alert_id": "a1", "fingerprint": "fp1", "status": "firing", "severity": "major"}
ALERT_EVENT = {"event_id": "e1", "fingerprint": "fp1", "occurrence": 1, "occurrence_id": "o1",
               "seq": 1, "from_state": "", "to_state": "firing", "action": "fire",
               "actor": "detector:limit", "comment": "", "at_ms": 1_700_000_000_000,
               "severity": "major", "kind": "gas", "entity_id": "G-1", "district": "furong",
               "labels": {"building": "b1"}, "alert_id": "a1", "cause_id": "", "notify": True}
INCIDENT_EVENT = {"event_id": "i-e1", "incident_id": "I1", "seq": 1, "lsn": 1, "kind": "opened",
                  "at_ms": 1_700_000_000_000, "actor": "correlator",
                  "payload_json": '{"category": "gas_leak", "severity": "major"}'}
SILENCE_EVENT = {"event_id": "s-e1", "silence_id": "S1", "action": "created",
                 "at_ms": 1_700_000_000_000, "actor": "op", "author": "op", "reason": "r",
                 "matchers": ['kind="gas"'], "starts_at": "2023-11-14T22:13:20.000Z",
                 "ends_at": None, "until_resolved": False}
NOTE = {"key": "n1", "receiver": "gas_utility", "status": "firing"}
RESULT = {"command_id": "c1", "ok": True}

# (publish method, a good message, the same message made too deep at one of its values)
SOURCES = [
    ("publish", ALERT, {**ALERT, "value": nested(252)}),
    ("publish", ALERT, {**ALERT, "explanation": {"why": nested(MAX_DEPTH)}}),
    ("publish_alert_event", ALERT_EVENT, {**ALERT_EVENT, "labels": {"b": nested(252)}}),
    ("publish_incident_event", INCIDENT_EVENT,
     {**INCIDENT_EVENT, "payload_json": "[" * 5000 + "]" * 5000}),
    ("publish_incident_event", INCIDENT_EVENT,
     {**INCIDENT_EVENT, "payload_json": orjson.dumps({"category": nested(252)}).decode()}),
    ("publish_incident_event", INCIDENT_EVENT,
     {**{k: v for k, v in INCIDENT_EVENT.items() if k != "payload_json"},
      "payload": {"category": nested(252)}}),
    ("publish_silence_event", SILENCE_EVENT, {**SILENCE_EVENT, "note": nested(252)}),
    ("publish_notification", NOTE, {**NOTE, "details": nested(252)}),
    ("publish_command_result", RESULT, {**RESULT, "events": nested(252)}),
]


@pytest.mark.parametrize("method,good,deep", SOURCES,
                         ids=[f"{m}-{i}" for i, (m, _, _) in enumerate(SOURCES)])
def test_a_message_too_deep_is_refused_and_new_clients_still_subscribe(
        method: str, good: dict[str, Any], deep: dict[str, Any]) -> None:
    hub = AlertHub()
    watcher = hub.subscribe()
    drain(watcher.queue)
    assert getattr(hub, method)(deep, "test") is False
    assert hub.counters.malformed == 1 and drain(watcher.queue) == []
    sub = hub.subscribe()   # the issue: this raised for every new browser
    snapshot, stats = drain(sub.queue)
    assert snapshot["type"] == "snapshot" and stats["malformed"] == 1
    assert getattr(hub, method)(good, "test") is True   # the good one still goes in
    orjson.dumps(hub.snapshot())


def test_a_bug_in_a_normaliser_costs_only_its_message(monkeypatch: pytest.MonkeyPatch) -> None:
    hub = AlertHub()
    boom = {**ALERT, "fingerprint": "boom"}
    fold = hub._on_alert

    def buggy(alert: dict[str, Any]) -> Any:
        if alert["fingerprint"] == "boom":
            raise KeyError("a bug")
        return fold(alert)

    monkeypatch.setattr(hub, "_on_alert", buggy)
    assert hub.publish(boom) is False and hub.publish(ALERT) is True
    assert hub.counters.malformed == 1
    assert [a["fingerprint"] for a in hub.alerts()] == ["fp1"]


DISPATCH_RECORD = {"record_id": "d-1", "kind": "unit_status", "at": "2025-12-01T08:00:00Z",
                   "at_ms": 1_764_576_000_000, "incident_id": "", "unit_id": "AMB-1",
                   "actor": "", "payload": {"status": "dispatched"}}


def test_history_from_clickhouse_passes_the_same_door() -> None:
    hub = AlertHub()
    counts = fold_history(hub, {
        "alert_events": [{**ALERT_EVENT, "labels": {"b": nested(300)}}, ALERT_EVENT],
        "incident_events": [{**INCIDENT_EVENT, "payload_json": "[" * 3000 + "]" * 3000}],
        "silence_events": [SILENCE_EVENT],
        "dispatch": [{**DISPATCH_RECORD, "record_id": "deep", "payload": {"x": nested(300)}},
                     DISPATCH_RECORD]})
    assert counts == {"alert_events": 1, "incident_events": 0, "silence_events": 1,
                      "dispatch": 1}
    assert hub.counters.malformed == 3
    drain(hub.subscribe().queue)


@pytest.mark.parametrize("raw,why", [
    (b'{"fingerprint":"a","fingerprint":"b"}', "duplicate_key"),
    (b'{"fingerprint":"a","x":' + b"[" * 300 + b"]" * 300 + b"}", "too_deep"),
    (b"[" * 5000 + b"]" * 5000, "too_deep"), (b"{nope", "malformed_json")])
def test_the_feed_decodes_through_the_door(raw: bytes, why: str) -> None:
    with pytest.raises(MalformedMessage) as info:
        decode_json(raw)
    assert why in str(info.value)
    with pytest.raises(MalformedMessage):
        decode_alert(raw)
