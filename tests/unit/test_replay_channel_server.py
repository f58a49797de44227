"""The replay cockpit over real websockets: a replay refuses operator commands
(``replay_read_only``) and takes any role's controls; the live cockpit refuses replay
controls (``not_replay``); an exercise applies the operators' commands through its drill."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson
from replay_cockpit_timeline import END, MIN, T0, timeline

from citycc.settings import Settings
from cockpit_api.auth.testing import signed_in, write_test_users
from cockpit_api.hub import AlertHub
from cockpit_api.replay.channel import ReplayChannel
from cockpit_api.replay.server import ReplayHub, serve_replay
from cockpit_api.server import serve
from replay.timeline import OutRecord

ACK = {"type": "command", "command": {"command_id": "k1", "action": "ack",
                                      "fingerprint": "fp-1"}}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def settings_in(tmp_path: Path) -> Settings:
    settings = Settings(cockpit_host="127.0.0.1", cockpit_port=free_port(), run_dir=tmp_path)
    write_test_users(settings.users_path)
    return settings


async def next_of(ws: Any, kind: str, deadline_s: float = 10) -> dict[str, Any]:
    async with asyncio.timeout(deadline_s):
        while True:
            msg = orjson.loads(await ws.recv())
            if msg["type"] == kind:
                return msg  # type: ignore[no-any-return]


async def running(settings: Settings, hub: ReplayHub, ch: ReplayChannel) -> asyncio.Task[None]:
    ready = asyncio.Event()
    task = asyncio.create_task(serve_replay(settings, hub, ch, ready=ready, basemap=b""))
    await asyncio.wait_for(ready.wait(), 10)
    return task


def test_a_replay_refuses_commands_and_takes_a_viewers_seek(tmp_path: Path) -> None:
    settings = settings_in(tmp_path)
    hub = ReplayHub()
    ch = ReplayChannel.replay(hub, timeline(), T0, END, paused=True)

    async def scenario() -> None:
        task = await running(settings, hub, ch)
        try:
            async with signed_in(settings.cockpit_port, "张伟") as ws:
                snap = await next_of(ws, "snapshot")
                assert snap["replay"]["mode"] == "replay" and snap["incidents"] == []
                await ws.send(orjson.dumps(ACK).decode())
                refused = await next_of(ws, "command_error")
                assert (refused["code"], refused["command_id"]) == ("replay_read_only", "k1")
            async with signed_in(settings.cockpit_port, "大屏") as viewer:   # a viewer
                first = await next_of(viewer, "snapshot")
                await viewer.send(orjson.dumps({"type": "replay", "op": "seek",
                                                "at_ms": T0 + 3 * MIN}).decode())
                snap = await next_of(viewer, "snapshot")
                assert snap["epoch"] != first["epoch"]
                assert len(snap["incidents"]) == 1 and snap["replay"]["at_ms"] == T0 + 3 * MIN
                await viewer.send(orjson.dumps({"type": "replay", "op": "stop",
                                                "command_id": "s1"}).decode())
                told = await next_of(viewer, "replay")
                while told.get("answers") != "s1":
                    told = await next_of(viewer, "replay")
                assert told["stopped"]
            await asyncio.wait_for(task, 10)    # a stop ends the session
        finally:
            task.cancel()

    asyncio.run(scenario())


class Recorder:
    async def send(self, key: str, value: bytes) -> None:
        pass


def test_the_live_cockpit_refuses_replay_controls_with_a_code(tmp_path: Path) -> None:
    settings = settings_in(tmp_path)

    async def scenario() -> None:
        ready = asyncio.Event()
        task = asyncio.create_task(serve(settings, AlertHub(), ready=ready, commands=Recorder(),
                                         audit=Recorder(), basemap=b""))
        await asyncio.wait_for(ready.wait(), 10)
        try:
            async with signed_in(settings.cockpit_port) as ws:
                await ws.send(orjson.dumps({"type": "replay", "op": "pause",
                                            "command_id": "p1"}).decode())
                refused = await next_of(ws, "command_error")
                assert (refused["code"], refused["command_id"]) == ("not_replay", "p1")
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    asyncio.run(scenario())


class Drill:
    """An exercise's pipeline standing in for a Replayer: the timeline's records as event
    time passes; a command answered with its command result."""

    def __init__(self, records: list[OutRecord]) -> None:
        self.records, self.given = records, 0
        self.commands: list[dict[str, Any]] = []

    def until(self, at_ms: int) -> Sequence[OutRecord]:
        out = []
        while self.given < len(self.records) and self.records[self.given].at_ms <= at_ms:
            out.append(self.records[self.given])
            self.given += 1
        return out

    def command(self, values: Sequence[bytes]) -> Sequence[OutRecord]:
        cmds = [orjson.loads(v) for v in values]
        self.commands += cmds
        return [OutRecord(0, "command_results", c["command_id"].encode(), orjson.dumps(
            {"command_id": c["command_id"], "ok": True, "code": "", "field": "", "reason": "",
             "events": [], "at": c["at"]})) for c in cmds]


def test_an_exercise_applies_commands_and_only_runs_forward(tmp_path: Path) -> None:
    settings = settings_in(tmp_path)
    hub = ReplayHub()
    drill = Drill(timeline())
    ch = ReplayChannel.exercise(hub, drill, T0, END, paused=True)

    async def scenario() -> None:
        task = await running(settings, hub, ch)
        try:
            async with signed_in(settings.cockpit_port, "张伟") as ws:
                snap = await next_of(ws, "snapshot")
                assert snap["replay"]["mode"] == "exercise"
                assert not snap["replay"]["can_rewind"]
                await ws.send(orjson.dumps({"type": "replay", "op": "seek",
                                            "at_ms": T0 + 3 * MIN}).decode())
                snap = await next_of(ws, "snapshot")
                assert len(snap["incidents"]) == 1
                await ws.send(orjson.dumps(ACK).decode())
                assert (await next_of(ws, "command_queued"))["command_id"] == "k1"
                result = await next_of(ws, "command_result")
                assert result["result"]["ok"] and drill.commands[0]["action"] == "ack"
                await ws.send(orjson.dumps({"type": "replay", "op": "seek", "at_ms": T0,
                                            "command_id": "back"}).decode())
                refused = await next_of(ws, "command_error")
                assert (refused["code"], refused["command_id"]) == ("exercise_no_rewind",
                                                                    "back")
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    asyncio.run(scenario())


def test_the_replay_cockpit_app_serves_the_city_until_a_page_ends_it(tmp_path: Path,
                                                                    capsys: Any) -> None:
    """``citycc replay serve``'s cockpit (after the timeline is computed): the city's places
    and unit board, paused at the start; a stop from a page ends the process's session."""
    from cockpit_api.replay.app import run
    settings = settings_in(tmp_path)

    async def scenario() -> None:
        task = asyncio.create_task(run(settings, timeline(), T0, END, label="s1"))
        async with asyncio.timeout(60):
            while "citycc replay cockpit:" not in capsys.readouterr().out:
                if task.done():
                    task.result()
                await asyncio.sleep(0.05)
        async with signed_in(settings.cockpit_port) as ws:
            snap = await next_of(ws, "snapshot")
            assert snap["places"]["city"]["en"] == "Changsha"
            assert snap["replay"] | {"type": "replay"} == snap["replay"]
            assert (snap["replay"]["label"], snap["replay"]["paused"]) == ("s1", True)
            await ws.send(orjson.dumps({"type": "replay", "op": "stop"}).decode())
            await asyncio.wait_for(task, 10)

    asyncio.run(scenario())
