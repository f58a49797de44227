"""The replay cockpit's channel (cockpit_api/replay): a seek gives the picture a straight
replay to that moment gives; clients start over from a new epoch; pause holds; a replay is
read-only and the live cockpit refuses replay controls."""

from __future__ import annotations

import asyncio
import time
from dataclasses import fields
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from replay_cockpit_timeline import END, MIN, T0, timeline

from cockpit_api.feed import apply_message, sources_for
from cockpit_api.hub import AlertHub
from cockpit_api.replay.channel import ReplayChannel
from cockpit_api.replay.controls import Control, parse_control
from cockpit_api.replay.hub_state import LAYER_PARTS, NOT_PICTURE, PICTURE
from cockpit_api.replay.server import ReplayHub, attach
from cockpit_api.errors import CommandRejected
from replay.timeline import OutRecord

TIMELINE = timeline()


def straight(records: list[OutRecord], at_ms: int) -> AlertHub:
    """A fresh hub fed every record up to ``at_ms``, as the live feed folds them."""
    hub = AlertHub()
    sources = {s.topic: s for s in sources_for(hub)}
    for i, rec in enumerate(r for r in records if r.at_ms <= at_ms):
        if rec.topic in sources:
            apply_message(hub, sources[rec.topic], rec.value, f"replay {rec.topic}@{i}")
    return hub


def picture(hub: AlertHub) -> dict[str, Any]:
    snap = AlertHub.snapshot(hub)
    return {**snap, "counters": (hub.counters.published, hub.counters.malformed,
                                 hub.counters.received)}


def channel(**options: Any) -> ReplayChannel:
    return ReplayChannel.replay(AlertHub(), TIMELINE, T0, END,
                                snapshot_every_ms=5 * MIN, **options)


def test_the_timeline_opens_and_resolves_incidents() -> None:
    kinds = [orjson.loads(r.value)["kind"] for r in TIMELINE if r.topic == "incident_events"]
    assert kinds.count("opened") == 3 and kinds.count("resolved") == 3


def test_every_field_of_the_hub_is_picture_or_not() -> None:
    """A new part of the hub must be declared one or the other, or a seek forgets it."""
    names = {f.name for f in fields(AlertHub)}
    assert set(PICTURE) | set(NOT_PICTURE) == names
    assert not set(PICTURE) & set(NOT_PICTURE)
    assert set(LAYER_PARTS) <= set(vars(AlertHub().layers))


SEEKS = [T0, T0 + 2 * MIN, T0 + 2 * MIN - 1, T0 + 5 * MIN, T0 + 5 * MIN + 1, T0 + 17 * MIN,
         T0 + 30 * MIN, END, T0 + 10 * MIN, T0 + 25 * MIN, T0 + 24 * MIN, T0]


def test_seek_equals_a_straight_replay_to_that_moment_in_any_order() -> None:
    ch = channel()
    assert len(ch.picture.snapshots) > 5   # captures every 5 min of event time
    for at in SEEKS:
        ch.seek(at)
        assert picture(ch.hub) == picture(straight(TIMELINE, at)), (at - T0) / MIN
        assert ch.at_ms == at


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(T0, END), min_size=1, max_size=6))
def test_seeks_anywhere_equal_a_straight_replay(seeks: list[int]) -> None:
    ch = channel()
    for at in seeks:
        ch.seek(at)
    assert picture(ch.hub) == picture(straight(TIMELINE, seeks[-1]))


def test_playing_after_a_seek_goes_on_like_a_straight_replay() -> None:
    ch = channel()
    ch.seek(T0 + 30 * MIN)
    ch.seek(T0 + 3 * MIN)
    while ch.picture.step() is not None:
        pass
    assert picture(ch.hub) == picture(straight(TIMELINE, END))


def test_a_seek_sends_every_client_a_fresh_snapshot_of_a_new_epoch() -> None:
    hub = ReplayHub()
    ch = ReplayChannel.replay(hub, TIMELINE, T0, END, snapshot_every_ms=5 * MIN)
    attach(hub, ch)
    sub = hub.subscribe()
    first = orjson.loads(sub.queue.take_nowait())
    assert first["type"] == "snapshot" and first["replay"]["mode"] == "replay"
    assert first["incidents"] == []
    ch.control(Control("seek", at_ms=T0 + 3 * MIN, command_id="c1"))
    got = drain(sub)
    snap = next(m for m in got if m["type"] == "snapshot")
    assert snap["epoch"] != first["epoch"]
    assert [i["status"] for i in snap["incidents"]] == ["open"]
    assert snap["replay"]["at_ms"] == T0 + 3 * MIN
    told = next(m for m in got if m["type"] == "replay")
    assert told["answers"] == "c1" and told["at_ms"] == T0 + 3 * MIN


def drain(sub: Any) -> list[dict[str, Any]]:
    out = []
    while not sub.queue.empty():
        out.append(orjson.loads(sub.queue.take_nowait()))
    return out


def test_a_seek_outside_the_window_is_refused_with_its_code() -> None:
    ch = channel()
    with pytest.raises(CommandRejected) as exc:
        ch.control(Control("seek", at_ms=END + 1, command_id="c9"))
    assert exc.value.code == "outside_window" and exc.value.command_id == "c9"


@pytest.mark.parametrize("frame,code,field", [
    ({"op": "rewind"}, "unknown_value", "op"),
    ({}, "missing_field", "op"),
    ({"op": "seek"}, "missing_field", "at_ms"),
    ({"op": "seek", "at_ms": "noon"}, "wrong_type", "at_ms"),
    ({"op": "seek", "at_ms": True}, "wrong_type", "at_ms"),
    ({"op": "speed", "speed": 0}, "bad_speed", "speed"),
    ({"op": "speed", "speed": float("inf")}, "bad_speed", "speed"),
    ({"op": "speed", "speed": "fast"}, "bad_speed", "speed"),
    ({"op": "play", "command_id": 7}, "wrong_type", "command_id"),
])
def test_bad_controls_are_refused_with_a_stable_code(frame: dict[str, Any], code: str,
                                                     field: str) -> None:
    with pytest.raises(CommandRejected) as exc:
        parse_control({"type": "replay", **frame})
    assert (exc.value.code, exc.value.field) == (code, field)


def test_good_controls_parse() -> None:
    assert parse_control({"op": "speed", "speed": "max"}) == Control("speed", speed=None)
    assert parse_control({"op": "speed", "speed": 4, "command_id": "a"}) == \
        Control("speed", speed=4.0, command_id="a")
    assert parse_control({"op": "seek", "at_ms": T0}) == Control("seek", at_ms=T0)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_play_follows_the_pace_and_pause_holds() -> None:
    clock = FakeClock()
    ch = channel(speed=60.0, paused=True, clock=clock)

    async def scenario() -> None:
        runner = asyncio.create_task(ch.run())
        try:
            await until(lambda: ch.rounds >= 1)   # (the pace counts from the player's start)
            ch.control(Control("play"))
            clock.now += 3.0                  # 3 s at 60x: three minutes of event time
            await until(lambda: ch.at_ms >= T0 + 3 * MIN)
            assert ch.picture.next_at() is None or ch.picture.next_at() > T0 + 3 * MIN
            assert [i["status"] for i in ch.hub.incidents.incidents()] == ["open"]
            ch.control(Control("pause"))
            held, applied, rounds = ch.at_ms, ch.picture.applied, ch.rounds
            clock.now += 3600.0               # an hour of wall time later
            ch._wake.set()                   # (the loop looks again now)
            await until(lambda: ch.rounds >= rounds + 1)
            assert (ch.at_ms, ch.picture.applied) == (held, applied)
            ch.control(Control("speed", speed=None))
            ch.control(Control("play"))
            await until(lambda: ch.ended)
            assert picture(ch.hub) == picture(straight(TIMELINE, END))
            assert ch.state()["paused"] and ch.state()["ended"]
        finally:
            ch.stop()
            await asyncio.wait_for(runner, 5)

    asyncio.run(scenario())


async def until(cond: Any, deadline_s: float = 10.0) -> None:
    end = time.monotonic() + deadline_s
    while not cond():
        if time.monotonic() > end:
            raise AssertionError("condition not met within the deadline")
        await asyncio.sleep(0.01)
