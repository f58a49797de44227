"""Snapshot + deltas with sequence numbers, resume from the ring, subscriptions by layer and
district, coalescing and bounded memory (cockpit_api.delivery through the hub)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given, settings as hsettings, strategies as st

from cockpit_api.auth.roles import Principal, View
from cockpit_api.errors import CommandRejected
from cockpit_api.hub import AlertHub, Subscription
from cockpit_api.protocol import ALL, Interest, Resume, parse_interest, parse_resume
from cockpit_api.visibility import Audience

PLACES = {"districts": {"furong": {"zh": "芙蓉区", "en": "Furong"},
                        "yuelu": {"zh": "岳麓区", "en": "Yuelu"}}}
FURONG = Audience.of(Principal("f", "supervisor", "", ("furong",)))


def alert(fp: str, district: str = "furong", stream: str = "ems") -> dict[str, Any]:
    return {"fingerprint": fp, "status": "firing", "stream": stream, "district": district,
            "kind": "k", "entity_id": fp, "detector": "limit"}


def frames(sub: Subscription) -> list[dict[str, Any]]:
    """What the relay sends, in order (with each delta's ``prev``)."""
    out = []
    while not sub.queue.empty():
        out.append(orjson.loads(sub.queue.take_nowait()))
    return out


def units(**items: Any) -> dict[str, Any]:
    return {"type": "positions", "layer": "units", "items": items}


def deltas(msgs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [m for m in msgs if "seq" in m and m["type"] != "snapshot"]


# --- seq, snapshot, prev --------------------------------------------------------------------
def test_every_delta_has_a_seq_the_snapshot_the_one_it_is_consistent_with() -> None:
    hub = AlertHub()
    hub.publish(alert("a"))
    hub.publish(alert("b"))
    sub = hub.subscribe()
    hub.publish(alert("c"))
    hub.publish_stats()
    hub.publish(alert("d"))
    snap, stats, c, d = frames(sub)
    assert snap["type"] == "snapshot" and snap["seq"] == 2 and snap["epoch"]
    assert {a["fingerprint"] for a in snap["alerts"]} == {"a", "b"}
    assert "seq" not in stats and "prev" not in stats
    assert (c["seq"], c["prev"], d["seq"], d["prev"]) == (3, 2, 4, 3)


def test_a_restricted_client_sees_gaps_in_seq_but_an_unbroken_prev_chain() -> None:
    hub = AlertHub()
    sub = hub.subscribe(FURONG)
    for i, district in enumerate(["furong", "yuelu", "yuelu", "furong", "yuelu", "furong"]):
        hub.publish(alert(f"a{i}", district))
    got = deltas(frames(sub))
    assert [m["seq"] for m in got] == [1, 4, 6]
    assert [m["prev"] for m in got] == [0, 1, 4]


def test_asking_for_a_snapshot_supersedes_what_was_queued() -> None:
    hub = AlertHub()
    sub = hub.subscribe()
    hub.publish(alert("a"))
    hub.resnapshot(sub)
    hub.publish(alert("b"))
    snap, b = frames(sub)
    assert snap["seq"] == 1 and [a["fingerprint"] for a in snap["alerts"]] == ["a"]
    assert (b["seq"], b["prev"]) == (2, 1)


# --- resume ---------------------------------------------------------------------------------
def test_resume_replays_exactly_the_deltas_after_it_that_the_client_may_see() -> None:
    hub = AlertHub()
    first = hub.subscribe(FURONG)
    hub.publish(alert("a0"))
    held = frames(first)[-1]["seq"]
    hub.unsubscribe(first)
    for i, district in enumerate(["yuelu", "furong", "yuelu", "furong"]):
        hub.publish(alert(f"b{i}", district))
    sub = hub.subscribe(FURONG, resume=Resume(held, hub.delivery.epoch))
    got = frames(sub)
    assert got[0] == {"type": "resumed", "from": 1, "to": 5, "epoch": hub.delivery.epoch}
    assert [(m["seq"], m["prev"], m["alert"]["fingerprint"]) for m in deltas(got)] == \
        [(3, 1, "b1"), (5, 3, "b3")]
    assert got[-1]["type"] == "stats"


@pytest.mark.parametrize("resume,why", [
    (lambda hub: Resume(1, hub.delivery.epoch), "gone"),         # the ring moved on
    (lambda hub: Resume(99, hub.delivery.epoch), "ahead"),
    (lambda hub: Resume(8, "another-hub"), "epoch"),
    (lambda hub: "bad_resume", "bad_resume"),
])
def test_resume_the_ring_cannot_honour_gets_a_snapshot_saying_why(resume: Any,
                                                                   why: str) -> None:
    hub = AlertHub(ring_size=4)
    for i in range(10):
        hub.publish(alert(f"a{i}"))
    got = frames(hub.subscribe(resume=resume(hub)))
    assert got[0]["type"] == "snapshot" and got[0]["why"] == why and got[0]["seq"] == 10
    assert hub.delivery.ring.floor == 6 and len(hub.delivery.ring) == 4


def test_the_ring_is_bounded_by_bytes_too() -> None:
    hub = AlertHub(ring_bytes=2000)
    for i in range(50):
        hub.publish({**alert(f"a{i}"), "pad": "x" * 300})
    ring = hub.delivery.ring
    assert ring.bytes <= 2000 and len(ring) < 10 and ring.floor == 50 - len(ring)
    assert frames(hub.subscribe(resume=Resume(40, hub.delivery.epoch)))[0]["why"] == "gone"
    assert frames(hub.subscribe(resume=Resume(48, hub.delivery.epoch)))[0]["type"] == \
        "resumed"


def test_a_replay_longer_than_the_outbox_becomes_a_snapshot() -> None:
    hub = AlertHub(queue_size=4)
    for i in range(10):
        hub.publish(alert(f"a{i}"))
    got = frames(hub.subscribe(resume=Resume(0, hub.delivery.epoch)))
    assert [m["type"] for m in got] == ["snapshot", "stats"] and got[0]["why"] == "gone"


@hsettings(max_examples=120, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["furong", "yuelu", "units", "stats"]),
                          st.booleans()), max_size=80),
       st.integers(4, 40))
def test_a_client_that_reconnects_with_its_last_seq_loses_nothing(
        ops: list[tuple[str, bool]], ring: int) -> None:
    """Publish a random stream; the client reads some, disconnects and resumes at random
    points. Everything it may see arrives exactly once, in seq order (or it is told so by a
    snapshot: then it starts over from that snapshot's seq)."""
    hub = AlertHub(ring_size=ring, queue_size=64)
    sub = hub.subscribe(FURONG)
    start = have = frames(sub)[0]["seq"]
    received: list[int] = []
    covered: set[int] = set()   # positions seqs a folded message carried
    visible: list[tuple[int, str]] = []

    def got(m: dict[str, Any]) -> None:
        nonlocal have, start, received, covered
        if m["type"] == "snapshot":
            start = have = m["seq"]
            received, covered = [], set()
        elif m["type"] == "resumed":
            assert m["from"] == have
        elif "seq" in m:
            assert m["prev"] == have
            have = m["seq"]
            received.append(have)
            covered.update(range(have, m.get("through", have) + 1))

    for i, (what, reconnect) in enumerate(ops):
        if what == "stats":
            hub.publish_stats()
        elif what == "units":
            hub.broadcast(units(**{f"u{i}": {"district": "furong", "at_ms": i}}))
            visible.append((hub.delivery.seq, "positions"))
        else:
            hub.publish(alert(f"a{i}", what))
            if what == "furong":
                visible.append((hub.delivery.seq, "alert"))
        if reconnect:
            hub.unsubscribe(sub)     # what it had not read yet is lost with the socket
            sub = hub.subscribe(FURONG, resume=Resume(have, hub.delivery.epoch))
        for _ in range(i % 3):   # reads a little, falls behind, catches up at reconnects
            if not sub.queue.empty():
                got(orjson.loads(sub.queue.take_nowait()))
    for m in frames(sub):
        got(m)
    assert received == sorted(set(received))
    for seq, kind in visible:
        if seq > start:
            assert seq in received or (kind == "positions" and seq in covered), (seq, kind)


# --- subscriptions --------------------------------------------------------------------------
def test_a_subscription_narrows_deltas_and_the_next_snapshot() -> None:
    hub = AlertHub(places=PLACES)
    hub.publish(alert("y0", "yuelu"))
    hub.publish(alert("f0", "furong"))
    sub = hub.subscribe()
    frames(sub)
    hub.resnapshot(sub, Interest(frozenset({"hazmat"}), frozenset({"yuelu"})))
    snap, subscribed = frames(sub)[:2]
    assert [a["fingerprint"] for a in snap["alerts"]] == ["y0"]
    assert subscribed == {"type": "subscribed", "layers": ["hazmat"], "districts": ["yuelu"]}
    hub.publish(alert("f1", "furong"))
    hub.publish(alert("y1", "yuelu"))
    hub.broadcast(units(u1={"district": "yuelu", "at_ms": 1}))
    hub.broadcast({"type": "positions", "layer": "hazmat",
                   "items": {"h1": {"district": "yuelu", "at_ms": 1},
                             "h2": {"district": "furong", "at_ms": 1}}})
    got = deltas(frames(sub))
    assert [m["type"] for m in got] == ["alert", "positions"]
    assert got[0]["alert"]["fingerprint"] == "y1"
    assert list(got[1]["items"]) == ["h1"]


def test_a_subscription_cannot_widen_the_role() -> None:
    hub = AlertHub(places=PLACES)
    sub = hub.subscribe(FURONG, Interest(None, frozenset({"yuelu"})))
    hub.publish(alert("y", "yuelu"))
    hub.publish(alert("f", "furong"))
    assert deltas(frames(sub)) == []


def test_the_snapshot_cuts_the_map_layers() -> None:
    hub = AlertHub()
    snap = hub.visibility.snapshot_for(
        {**hub.snapshot(), "layers": {"units": {"u1": {"district": "furong"},
                                                "u2": {"district": "yuelu"}},
                                      "hazmat": {"h": {"district": "furong"}}}},
        Audience(View(None, frozenset({"furong"})), layers=frozenset({"units"})))
    assert snap["layers"] == {"units": {"u1": {"district": "furong"}}}


@pytest.mark.parametrize("msg,code,field", [
    ({"layers": ["units", "tanks"]}, "unknown_value", "layers"),
    ({"districts": ["atlantis"]}, "unknown_value", "districts"),
    ({"layers": "units"}, "wrong_type", "layers"),
    ({"districts": [3]}, "wrong_type", "districts"),
])
def test_a_subscription_naming_what_nobody_knows_is_refused(msg: dict[str, Any], code: str,
                                                            field: str) -> None:
    with pytest.raises(CommandRejected) as err:
        parse_interest(msg, PLACES["districts"])
    assert (err.value.code, err.value.field) == (code, field)


def test_empty_subscription_lists_mean_everything() -> None:
    assert parse_interest({"layers": [], "districts": []}, ["furong"]) == ALL
    assert parse_interest({}, ["furong"]) == ALL


@pytest.mark.parametrize("msg,out", [
    ({}, None), ({"resume": None}, None),
    ({"resume": 5, "epoch": "e"}, Resume(5, "e")),
    ({"resume": -1, "epoch": "e"}, "bad_resume"), ({"resume": True, "epoch": "e"}, "bad_resume"),
    ({"resume": 1.5, "epoch": "e"}, "bad_resume"), ({"resume": 5}, "bad_resume"),
    ({"resume": 5, "epoch": "e" * 65}, "bad_resume"),
])
def test_parse_resume(msg: dict[str, Any], out: Any) -> None:
    assert parse_resume(msg) == out


# --- coalescing and memory ----------------------------------------------------------------
def test_positions_of_a_client_that_does_not_read_coalesce_and_memory_stays_bounded() -> None:
    hub = AlertHub(queue_size=8)
    slow = hub.subscribe()
    for i in range(5000):
        hub.broadcast(units(**{f"u{i % 50}": {"lat": i, "at_ms": i}}))
        hub.broadcast({"type": "kpis", "kpis": {"n": i}})
    assert not slow.dropped.is_set() and slow.queue.qsize() == 4   # snapshot, stats, 2
    snap, stats, pos, kpis = frames(slow)
    assert len(pos["items"]) == 50 and pos["items"]["u49"]["lat"] == 4999
    assert (pos["seq"], pos["through"]) == (1, 9999)


def test_a_client_that_stops_reading_is_dropped_with_its_memory_freed() -> None:
    hub = AlertHub(queue_size=1000, queue_bytes=64 * 1024)
    slow = hub.subscribe()
    for i in range(200):
        hub.publish({**alert(f"a{i}"), "pad": "x" * 1000})
    assert slow.dropped.is_set() and slow.queue.bytes == 0 and slow.queue.empty()
    assert hub.counters.dropped_clients == 1


# --- over a real websocket ------------------------------------------------------------------
def test_websocket_subscribe_snapshot_and_resume(tmp_path: Any) -> None:
    import asyncio
    import socket

    from websockets.asyncio.client import connect

    from citycc.settings import Settings
    from cockpit_api.auth.testing import PASSWORD, origin, signed_in, write_test_users
    from cockpit_api.server import serve

    class Sink:
        async def send(self, key: str, value: bytes) -> None:
            pass

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = Settings(cockpit_port=port, run_dir=tmp_path)
    write_test_users(settings.users_path)
    hub = AlertHub(places=PLACES)

    async def next_of(ws: Any, *types: str) -> dict[str, Any]:
        async with asyncio.timeout(10):
            while True:
                msg = orjson.loads(await ws.recv())
                if msg["type"] in types:
                    return msg

    async def scenario() -> None:
        ready = asyncio.Event()
        server = asyncio.create_task(serve(settings, hub, ready=ready, commands=Sink(),
                                           audit=Sink()))
        await ready.wait()
        try:
            async with signed_in(port) as ws:
                snap = await next_of(ws, "snapshot")
                await ws.send('{"type": "subscribe", "layers": ["tanks"]}')
                err = await next_of(ws, "command_error", "snapshot")
                assert (err["type"], err["code"], err["field"]) == \
                    ("command_error", "unknown_value", "layers")
                await ws.send('{"type": "subscribe", "districts": ["yuelu"]}')
                assert (await next_of(ws, "snapshot", "subscribed"))["type"] == "snapshot"
                assert (await next_of(ws, "subscribed"))["districts"] == ["yuelu"]
                hub.publish(alert("f", "furong"))
                hub.publish(alert("y", "yuelu"))
                got = await next_of(ws, "alert")
                assert (got["alert"]["fingerprint"], got["seq"], got["prev"]) == ("y", 2, 0)
                await ws.send('{"type": "snapshot"}')
                again = await next_of(ws, "snapshot")
                assert again["seq"] == 2 and [a["fingerprint"] for a in again["alerts"]] == ["y"]
                token = None
            hub.publish(alert("f2", "furong"))
            async with connect(f"ws://127.0.0.1:{port}/ws", origin=origin(port)) as ws:
                await ws.send(orjson.dumps({"type": "login", "user": "张伟",
                                            "password": PASSWORD, "resume": 2,
                                            "epoch": snap["epoch"],
                                            "districts": ["furong"]}).decode())
                token = (await next_of(ws, "session"))["token"]
                resumed = await next_of(ws, "resumed", "snapshot")
                assert resumed == {"type": "resumed", "from": 2, "to": 3,
                                   "epoch": snap["epoch"]}
                f2 = await next_of(ws, "alert")
                assert (f2["alert"]["fingerprint"], f2["prev"], f2["seq"]) == ("f2", 2, 3)
            async with connect(f"ws://127.0.0.1:{port}/ws", origin=origin(port)) as ws:
                await ws.send(orjson.dumps({"type": "auth", "token": token, "resume": 1,
                                            "epoch": "old", "layers": ["x"]}).decode())
                fresh = await next_of(ws, "snapshot")
                assert fresh["why"] == "epoch" and fresh["seq"] == 3
                assert (await next_of(ws, "command_error"))["field"] == "layers"
                for _ in range(40):   # asking for snapshots counts against the command rate
                    await ws.send('{"type": "snapshot"}')
                assert (await next_of(ws, "command_error"))["code"] == "rate_limited"
        finally:
            server.cancel()

    asyncio.run(scenario())
