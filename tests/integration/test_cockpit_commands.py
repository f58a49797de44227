"""The cockpit against the real broker: websocket commands of a signed-in user land on the
``commands`` topic (with the server's ``at`` and the user as actor), bad ones are answered
``command_error``; events produced to the lifecycle and incident topics reach clients live
and in the snapshot of a new client."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timezone
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from citycc.settings import Settings
from cockpit_api.auth.testing import signed_in
from cockpit_api.feed import KafkaFeed, Source
from cockpit_api.hub import AlertHub
from cockpit_live import DEADLINE_S, command_frame, next_of, read_topic, running_cockpit

pytestmark = pytest.mark.integration


@pytest.fixture
def cockpit_settings(infra_settings: Settings, own_topics: Any) -> Settings:
    """The session broker with topics of this test's own (a fresh prefix)."""
    return own_topics(infra_settings, "ck")


def test_commands_land_on_the_topic(cockpit_settings: Settings) -> None:
    settings = cockpit_settings

    async def scenario() -> tuple[list[dict], list[Any], int, int]:
        async with running_cockpit(settings):
            async with signed_in(settings.cockpit_port, "张伟") as ws:
                await next_of(ws, "snapshot")
                await ws.send(command_frame("ack"))  # no fingerprint
                bad = await next_of(ws, "command_error", "command_queued")
                before = int(time.time() * 1000)
                await ws.send(command_frame("ack", fingerprint="fp-gas-1", comment="收到"))
                good = await next_of(ws, "command_error", "command_queued")
                after = int(time.time() * 1000)
                await ws.send(command_frame("add_note", incident_id="INC-1", text="已到场"))
                note = await next_of(ws, "command_error", "command_queued")
        return [bad, good, note], await read_topic(settings, "commands", 2), before, after

    (bad, good, note), messages, before, after = asyncio.run(scenario())
    assert bad["type"] == "command_error"
    assert (bad["code"], bad["field"]) == ("missing_field", "fingerprint")
    assert good["type"] == "command_queued" and note["type"] == "command_queued", (good, note)
    assert len(messages) == 2, "the bad command must not reach the topic"
    ack, added = (orjson.loads(m.value) for m in messages)
    assert messages[0].key == b"fp-gas-1" and messages[1].key == b"INC-1"
    assert ack["command_id"] == good["command_id"]
    assert {k: ack[k] for k in ("action", "actor", "fingerprint", "comment")} == \
        {"action": "ack", "actor": "张伟", "fingerprint": "fp-gas-1", "comment": "收到"}
    at_ms = datetime.fromisoformat(ack["at"]).astimezone(timezone.utc).timestamp() * 1000
    assert ack["at"].endswith("Z") and before - 1000 <= at_ms <= after + 1000
    assert added["action"] == "add_note" and added["text"] == "已到场"


ALERT_EVENT = {"event_id": "ev-1", "fingerprint": "fp-gas-1", "occurrence": 1,
               "occurrence_id": "occ-1", "seq": 1, "from_state": "", "to_state": "firing",
               "action": "fire", "actor": "detector:limit", "comment": "", "at_ms": 1,
               "severity": "critical", "kind": "gas_concentration_high",
               "entity_id": "GAS-FR-00017", "district": "furong", "labels": {},
               "alert_id": "a1", "cause_id": "c1", "notify": True}
OPENED = {"event_id": "ie-1", "incident_id": "INC-1", "seq": 1, "lsn": 1, "kind": "opened",
          "at_ms": 1, "actor": "correlator", "at": "1970-01-01T00:00:00.001Z",
          "payload_json": orjson.dumps({
              "category": "gas", "category_zh": "燃气泄漏", "category_en": "Gas leak",
              "severity": "critical", "opened_ms": 1, "lat": 28.19, "lon": 112.99,
              "district": "furong", "split_from": "", "calls": {}, "enrichment": {},
              "members": [{"fingerprint": "fp-gas-1", "kind": "gas_concentration_high",
                           "stream": "lifeline", "severity": "critical", "status": "firing",
                           "entity_id": "GAS-FR-00017"}]}).decode()}


def test_feed_follows_lifecycle_and_incident_topics(cockpit_settings: Settings) -> None:
    settings = cockpit_settings

    async def scenario() -> tuple[dict, dict, dict, dict]:
        producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap)
        await producer.start()
        try:
            async with running_cockpit(settings, feed=True):
                async with signed_in(settings.cockpit_port, "张伟") as ws:
                    await next_of(ws, "snapshot")
                    await producer.send_and_wait(settings.topic("incident_events"),
                                                 orjson.dumps(OPENED), key=b"INC-1")
                    incident = await next_of(ws, "incident")
                    await producer.send_and_wait(settings.topic("alert_events"),
                                                 orjson.dumps(ALERT_EVENT), key=b"fp-gas-1")
                    await producer.send_and_wait(settings.topic("command_results"), orjson.dumps(
                        {"command_id": "c1", "ok": False, "code": "unknown_alert",
                         "field": "fingerprint", "reason": "no such alert", "events": [],
                         "at": "2025-12-01T08:00:00.000Z"}), key=b"c1")
                    # two topics: either may come first
                    got = {m["type"]: m for m in [
                        await next_of(ws, "alert_state", "command_result") for _ in range(2)]}
                    state, result = got["alert_state"], got["command_result"]
                async with signed_in(settings.cockpit_port, "张伟") as fresh:
                    snapshot = await next_of(fresh, "snapshot")
        finally:
            await producer.stop()
        return incident, state, result, snapshot

    incident, state, result, snapshot = asyncio.run(scenario())
    assert incident["incident"]["category_zh"] == "燃气泄漏"
    assert incident["incident"]["alerts"] == 1 and incident["event"]["kind"] == "opened"
    assert state["state"]["state"] == "firing" and state["fingerprint"] == "fp-gas-1"
    assert result["result"]["code"] == "unknown_alert"
    assert [i["incident_id"] for i in snapshot["incidents"]] == ["INC-1"]
    assert [s["fingerprint"] for s in snapshot["alert_states"]] == ["fp-gas-1"]


async def until(condition: Any, what: str) -> None:
    """Poll ``condition()`` until it holds (the feed runs on this loop meanwhile)."""
    end = time.monotonic() + DEADLINE_S
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"not within {DEADLINE_S}s: {what}")
        await asyncio.sleep(0.05)


def test_feed_follows_the_topics_there_are_and_picks_up_a_new_one(
        cockpit_settings: Settings) -> None:
    settings = cockpit_settings
    late = settings.topic("late_results")

    async def scenario() -> None:
        hub = AlertHub()
        feed = KafkaFeed(settings, hub, [Source("alert_events", 10, hub.publish_alert_event),
                                         Source("late_results", 10, hub.publish_command_result)])
        task = asyncio.create_task(feed.run())
        producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap)
        await producer.start()
        try:
            await producer.send_and_wait(settings.topic("alert_events"),
                                         orjson.dumps(ALERT_EVENT), key=b"fp-gas-1")
            await until(lambda: hub.alert_states.get("fp-gas-1") is not None,
                        "the alert event arrives while a topic is missing")
            assert hub.feed_state == "connected" and hub.feed_missing == [late]
            admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap)
            await admin.start()
            try:
                await admin.create_topics([NewTopic(late, 1, 1)])
            finally:
                await admin.close()
            await producer.send_and_wait(late, orjson.dumps({"command_id": "c9", "ok": True}))
            await until(lambda: hub.counters.received["command result"] == 1,
                        "the new topic is followed")
            assert hub.feed_missing == [] and hub.alert_states.get("fp-gas-1")["seq"] == 1
        finally:
            await producer.stop()
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    asyncio.run(scenario())
