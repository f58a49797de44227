"""AlertHub (alerts, fan-out, slow clients), alert decoding and the feed's start offsets /
retry behaviour. The hub's lifecycle/incident picture: test_cockpit_state.py."""

from __future__ import annotations

import asyncio
import logging
import socket
from pathlib import Path
from typing import Any

import orjson
import pytest
from websockets.frames import Frame, Opcode

from citycc.settings import Settings
from aiokafka import TopicPartition

from cockpit_api.auth.testing import PASSWORD, origin, signed_in, write_test_users
from cockpit_api.feed import (KafkaFeed, decode_alert, next_backoff, run_feed, sources_for,
                              start_offsets)
from cockpit_api.hub import OVERFLOW_REASON, AlertHub, MalformedAlert, normalize_alert
from cockpit_api.server import serve
from schemas.topics import TOPICS


def alert(fp: str, status: str = "firing", severity: str = "major", **extra: Any) -> dict:
    return {"alert_id": f"id-{fp}-{status}", "fingerprint": fp, "status": status,
            "severity": severity, "title_zh": "燃气浓度超限", "district_zh": "芙蓉区", **extra}


def drain(queue: asyncio.Queue) -> list[Any]:
    out = []
    while not queue.empty():
        out.append(orjson.loads(queue.get_nowait()))
    return out


# --- snapshot after firing/resolved sequences -------------------------------------------
SNAPSHOT_CASES = [
    ("empty", [], []),
    ("one firing", [alert("a")], [("a", "firing")]),
    ("resolved replaces firing", [alert("a"), alert("a", "resolved")], [("a", "resolved")]),
    ("refire after resolve", [alert("a"), alert("a", "resolved"), alert("a")], [("a", "firing")]),
    ("newest update first", [alert("a"), alert("b"), alert("a", "resolved")],
     [("a", "resolved"), ("b", "firing")]),
    ("status defaults to firing", [{"fingerprint": "x"}], [("x", "firing")]),
    ("status normalized", [alert("a", " Resolved ")], [("a", "resolved")]),
    ("alert_id used without fingerprint", [{"alert_id": "id7", "status": "firing"}],
     [("id7", "firing")]),
]


@pytest.mark.parametrize("name,sequence,expected", SNAPSHOT_CASES,
                         ids=[c[0] for c in SNAPSHOT_CASES])
def test_snapshot_after_sequence(name: str, sequence: list[dict], expected: list[tuple]) -> None:
    hub = AlertHub()
    for item in sequence:
        assert hub.publish(item)
    snap = hub.snapshot()
    assert snap["type"] == "snapshot"
    assert [(a["fingerprint"], a["status"]) for a in snap["alerts"]] == expected
    assert hub.counters.published == len(sequence)


EVICTION_CASES = [
    # (max_alerts, sequence of (fp, status), expected fingerprints newest first)
    (2, [("a", "firing"), ("b", "firing"), ("c", "firing")], ["c", "b"]),
    (2, [("a", "firing"), ("b", "resolved"), ("c", "firing")], ["c", "a"]),  # resolved go first
    (2, [("a", "firing"), ("b", "firing"), ("a", "firing"), ("c", "firing")], ["c", "a"]),
    (1, [("a", "resolved"), ("b", "resolved")], ["b"]),
]


@pytest.mark.parametrize("max_alerts,sequence,expected", EVICTION_CASES)
def test_keeps_latest_n(max_alerts: int, sequence: list[tuple], expected: list[str]) -> None:
    hub = AlertHub(max_alerts=max_alerts)
    for fp, status in sequence:
        hub.publish(alert(fp, status))
    assert [a["fingerprint"] for a in hub.alerts()] == expected


def test_unknown_fields_pass_through_and_counts() -> None:
    hub = AlertHub()
    hub.publish(alert("a", severity="critical", extra_field={"nested": [1, 2]}))
    hub.publish(alert("b", severity="weird"))
    hub.publish(alert("c", "resolved", severity="critical"))
    assert hub.alerts()[-1]["extra_field"] == {"nested": [1, 2]}
    assert hub.firing_counts() == {"critical": 1, "major": 0, "minor": 0, "info": 1}


# --- malformed alerts ----------------------------------------------------------------------
MALFORMED = [
    ("not an object", [1, 2]),
    ("string", "hello"),
    ("no key", {"status": "firing"}),
    ("empty fingerprint", {"fingerprint": "  ", "status": "firing"}),
    ("numeric fingerprint", {"fingerprint": 17}),
    ("bad status", {"fingerprint": "a", "status": "exploded"}),
    ("status not a string", {"fingerprint": "a", "status": 3}),
    ("not JSON-serializable", {"fingerprint": "a", "value": object()}),
]


@pytest.mark.parametrize("name,obj", MALFORMED, ids=[c[0] for c in MALFORMED])
def test_malformed_alert_counted_not_stored(name: str, obj: object, caplog) -> None:
    hub = AlertHub()
    sub = hub.subscribe()
    drain(sub.queue)
    with caplog.at_level(logging.WARNING, logger="cockpit_api.hub"):
        assert hub.publish(obj) is False
    assert hub.counters.malformed == 1 and hub.counters.published == 0
    assert hub.alerts() == [] and drain(sub.queue) == []
    assert "malformed alert" in caplog.text


# --- clients -------------------------------------------------------------------------------
def test_subscribe_gets_snapshot_then_stats_then_live_alerts() -> None:
    hub = AlertHub()
    hub.publish(alert("a"))
    sub = hub.subscribe()
    hub.publish(alert("a", "resolved"))
    hub.publish_stats()
    msgs = drain(sub.queue)
    # (issue 15: the newer stats replaces the one still pending, in its place)
    assert [m["type"] for m in msgs] == ["snapshot", "stats", "alert"]
    assert msgs[0]["alerts"][0]["status"] == "firing"
    assert msgs[2]["alert"]["status"] == "resolved"
    assert msgs[1]["clients"] == 1 and msgs[1]["published"] == 2
    hub.unsubscribe(sub)
    hub.publish(alert("b"))
    assert drain(sub.queue) == [] and hub.client_count == 0


def test_queue_overflow_disconnects_only_the_slow_client() -> None:
    hub = AlertHub(queue_size=4)
    slow, fast = hub.subscribe(), hub.subscribe()
    drain(fast.queue)
    for i in range(10):
        hub.publish(alert(f"fp{i}"))
        got = drain(fast.queue)  # the fast client keeps up
        assert [m["alert"]["fingerprint"] for m in got] == [f"fp{i}"]
    assert drain(slow.queue) == []  # emptied: nothing more is sent to it
    assert slow.closed and slow.dropped.is_set() and slow.close_reason == OVERFLOW_REASON
    assert not fast.dropped.is_set()
    assert not fast.closed and hub.client_count == 1
    assert hub.counters.dropped_clients == 1 and hub.counters.published == 10
    hub.publish(alert("after"))
    assert drain(slow.queue) == []  # no longer fed
    assert drain(fast.queue)[0]["alert"]["fingerprint"] == "after"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Recorder:
    """Stands in for the commands and audit topics."""

    async def send(self, key: str, value: bytes) -> None:
        pass


def test_server_drops_a_socket_that_never_reads(tmp_path: Path) -> None:
    """Real sockets: a client that stops reading is closed; a reading client gets everything."""
    hub = AlertHub(queue_size=8)
    settings = Settings(cockpit_port=free_port(), run_dir=tmp_path)
    write_test_users(settings.users_path)
    port = settings.cockpit_port
    n_alerts, pad = 2000, "x" * 20_000  # ~40 MB: more than the kernel buffers absorb

    async def scenario() -> tuple[int, bytes]:
        ready = asyncio.Event()
        server = asyncio.create_task(serve(settings, hub, ready=ready, commands=Recorder(),
                                           audit=Recorder()))
        await ready.wait()
        # The slow client: a raw websocket handshake and sign-in, then it never reads again.
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\n"
                     b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     b"Sec-WebSocket-Version: 13\r\n"
                     + f"Origin: {origin(port)}\r\n\r\n".encode())
        assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 101")
        login = orjson.dumps({"type": "login", "user": "大屏", "password": PASSWORD})
        writer.write(Frame(Opcode.TEXT, login).serialize(mask=True, extensions=[]))
        received = 0
        async with signed_in(port) as fast:
            async def read_fast() -> None:
                nonlocal received
                async for raw in fast:
                    if orjson.loads(raw)["type"] == "alert":
                        received += 1
                        if received == n_alerts:
                            return
            fast_task = asyncio.create_task(read_fast())
            for i in range(n_alerts):
                hub.publish({"fingerprint": f"fp{i}", "pad": pad})
                await asyncio.sleep(0)  # like the feed: yield between alerts
            await asyncio.wait_for(fast_task, 30)
        # The slow socket gets closed (close frame if it fits, else aborted) soon.
        tail = b""
        async with asyncio.timeout(15):
            try:
                while chunk := await reader.read(1 << 20):
                    tail = (tail + chunk)[-200:]
            except ConnectionResetError:
                pass
        server.cancel()
        return received, tail

    received, _ = asyncio.run(scenario())
    assert received == 2000
    assert hub.counters.dropped_clients == 1 and hub.counters.published == 2000


def test_hub_rejects_useless_sizes() -> None:
    with pytest.raises(ValueError):
        AlertHub(max_alerts=0)
    with pytest.raises(ValueError):
        AlertHub(queue_size=1)


# --- decoding -------------------------------------------------------------------------------
SAMPLE = {"alert_id": "a1b2", "fingerprint": "f00", "status": "firing", "severity": "critical",
          "kind": "gas_concentration_high", "district_zh": "芙蓉区", "value": 27.5,
          "threshold": 20.0, "unit": "%LEL", "event_time": "2026-11-25T06:33:48.123Z"}

# (decoding adds the reading the page shows: cockpit_api/reading_view.py)
DECODE_OK = [
    ("full alert", orjson.dumps(SAMPLE), {**SAMPLE, "reading": {
        "value": 27.5, "decimals": 1, "unit": "%LEL", "threshold": 20.0,
        "threshold_decimals": 0, "op": "ge"}}),
    ("utf-8 chinese", '{"fingerprint":"f","title_zh":"燃气浓度超限"}'.encode(),
     {"fingerprint": "f", "title_zh": "燃气浓度超限", "status": "firing", "reading": None}),
    ("resolved", b'{"fingerprint":"f","status":"resolved"}',
     {"fingerprint": "f", "status": "resolved", "reading": None}),
]


@pytest.mark.parametrize("name,raw,expected", DECODE_OK, ids=[c[0] for c in DECODE_OK])
def test_decode_alert_ok(name: str, raw: bytes, expected: dict) -> None:
    assert decode_alert(raw) == expected


DECODE_BAD = [
    ("tombstone", None, "no value"),
    ("empty", b"", "JSON"),
    ("garbage", b"\x00\xffnot json", "JSON"),
    ("truncated", b'{"fingerprint": "f"', "JSON"),
    ("invalid utf-8", b'{"fingerprint": "\xff"}', "JSON"),
    ("array", b"[1,2]", "not a JSON object"),
    ("null", b"null", "not a JSON object"),
    ("no fingerprint", b'{"status":"firing"}', "fingerprint"),
    ("bad status", b'{"fingerprint":"f","status":"boom"}', "status"),
]


@pytest.mark.parametrize("name,raw,why", DECODE_BAD, ids=[c[0] for c in DECODE_BAD])
def test_decode_alert_malformed(name: str, raw: bytes | None, why: str) -> None:
    with pytest.raises(MalformedAlert, match=why):
        decode_alert(raw)


def test_normalize_does_not_mutate_input() -> None:
    raw = {"alert_id": "x", "status": "FIRING"}
    assert normalize_alert(raw) == {"alert_id": "x", "fingerprint": "x", "status": "firing",
                                   "reading": None}
    assert raw == {"alert_id": "x", "status": "FIRING"}


# --- feed -------------------------------------------------------------------------------------
START_CASES = [
    ("backfill within range", {0: 0}, {0: 1000}, {}, 200, {0: 800}),
    ("backfill past beginning", {0: 50}, {0: 120}, {}, 200, {0: 50}),
    ("empty partition", {0: 0}, {0: 0}, {}, 200, {0: 0}),
    ("resume wins", {0: 0, 1: 0}, {0: 1000, 1: 10}, {0: 990}, 200, {0: 990, 1: 0}),
    ("resume clamped to retention", {0: 500}, {0: 1000}, {0: 10}, 200, {0: 500}),
    ("from the end", {0: 0}, {0: 1000}, {}, 0, {0: 1000}),
]


@pytest.mark.parametrize("name,begin,end,resume,backfill,expected", START_CASES,
                         ids=[c[0] for c in START_CASES])
def test_start_offsets(name, begin, end, resume, backfill, expected) -> None:  # noqa: ANN001
    assert start_offsets(begin, end, resume, backfill) == expected


def test_backoff_is_capped() -> None:
    delays = [0.5]
    for _ in range(10):
        delays.append(next_backoff(delays[-1]))
    assert delays[:4] == [0.5, 1.0, 2.0, 4.0] and max(delays) == 10.0


def test_feed_retries_while_broker_unreachable() -> None:
    with socket.socket() as s:  # a port where nothing listens
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = Settings(kafka_bootstrap=f"127.0.0.1:{port}")
    hub = AlertHub()

    async def scenario() -> None:
        task = asyncio.create_task(run_feed(settings, hub))
        for _ in range(100):
            await asyncio.sleep(0.05)
            if hub.feed_state == "retrying":
                break
        assert not task.done(), "feed must keep retrying, not exit"
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())
    assert hub.feed_state == "retrying"


def test_feed_follows_registry_topics() -> None:
    names = [s.topic for s in sources_for(AlertHub())]
    assert names == ["alerts", "alert_events", "incident_events", "command_results",
                     "notifications", "silence_events", "dispatch"]
    assert set(names) <= set(TOPICS)
    # silences live long: a fresh cockpit reads back further for them than for the rest
    backfill = {s.topic: s.backfill for s in sources_for(AlertHub())}
    assert backfill["silence_events"] >= max(b for t, b in backfill.items()
                                             if t != "silence_events")


def test_feed_routes_each_topic_to_its_own_fold(caplog) -> None:
    hub = AlertHub()
    feed = KafkaFeed(Settings(topic_prefix="cc"), hub)
    event = {"event_id": "e1", "fingerprint": "fp", "occurrence": 1, "seq": 1,
             "action": "fire", "to_state": "firing", "at_ms": 5}
    silence = {"event_id": "se1", "silence_id": "s1", "action": "created", "at_ms": 5,
               "author": "张伟", "reason": "抢修", "matchers": ["entity_id=GASC-1"],
               "starts_at": "2026-01-01T00:00:00.000Z", "ends_at": None}
    messages = [("cc.alerts", orjson.dumps(alert("fp"))),
                ("cc.alert_events", orjson.dumps(event)),
                ("cc.command_results", orjson.dumps({"command_id": "c", "ok": True})),
                ("cc.notifications", orjson.dumps({"key": "n", "receiver": "r"})),
                ("cc.silence_events", orjson.dumps(silence)),
                ("cc.incident_events", b"{not json"),
                ("cc.alert_events", orjson.dumps({"event_id": "e2"}))]
    with caplog.at_level(logging.WARNING, logger="cockpit_api.hub"):
        for offset, (topic, value) in enumerate(messages):
            feed._handle(feed.sources[topic], TopicPartition(topic, 0), offset, value)
    assert hub.alerts()[0]["fingerprint"] == "fp"
    assert hub.alert_states.get("fp")["state"] == "firing"
    assert [n["key"] for n in hub.notifications()] == ["n"]
    assert [x["silence_id"] for x in hub.silences.silences()] == ["s1"]
    assert hub.counters.malformed == 2
    assert "cc.incident_events[0]@5" in caplog.text and "cc.alert_events[0]@6" in caplog.text
