"""The cockpit's security against the real broker and ClickHouse: the issue-13 attack (a page
of another origin reading the picture and silencing everything as 'system') gets nothing
through; a 120 dispatcher neither sees nor commands 119's incident; every sign-in and
command, and the worker's answer to it, lands in ClickHouse's command_audit."""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from citycc.settings import PROJECT_ROOT as ROOT, Settings
from cockpit_api.auth.testing import origin, sign_in, signed_in
from cockpit_api.hub import AlertHub
from cockpit_live import DEADLINE_S, command_frame, next_of, read_topic, running_cockpit
from test_alerting_restart import rows, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


@pytest.fixture
def cockpit_settings(infra_settings: Settings, own_topics: Any) -> Settings:
    return own_topics(infra_settings, "sec")


SILENCE_EVERYTHING = dict(matchers=['severity=~".*"', 'kind=~".+"'], reason="x",
                          ends_at="2099-01-01T00:00:00Z", actor="system")


async def everything(ws: Any, within: float) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    try:
        async with asyncio.timeout(within):
            async for raw in ws:
                out.append(orjson.loads(raw))
    except (TimeoutError, ConnectionClosed):
        pass
    return out


def test_a_page_of_another_origin_gets_nothing_and_commands_nothing(
        cockpit_settings: Settings) -> None:
    """Issue 13's first sentences, against the cockpit as it runs (its own Kafka sinks)."""
    settings, port = cockpit_settings, cockpit_settings.cockpit_port

    async def scenario() -> tuple[list[Any], list[dict[str, Any]]]:
        hub = AlertHub()
        hub.publish({"fingerprint": "fp-gas", "status": "firing", "stream": "lifeline"})
        refused, got = [], []
        async with running_cockpit(settings, hub):
            for page in ("http://evil.example", "null"):
                try:
                    async with connect(f"ws://127.0.0.1:{port}/ws", origin=page  # type: ignore[arg-type]
                                       ) as ws:
                        for cmd in (command_frame("silence", **SILENCE_EVERYTHING),
                                    command_frame("ack", fingerprint="fp-gas", actor="system"),
                                    command_frame("resolve", fingerprint="fp-gas",
                                          actor="detector:limit")):
                            await ws.send(cmd)
                        got += await everything(ws, 3.0)
                except InvalidStatus as exc:
                    refused.append(exc.response.status_code)
            # the cockpit's own origin, but no sign-in: nothing, then closed
            async with connect(f"ws://127.0.0.1:{port}/ws", origin=origin(port)) as ws:
                got += await everything(ws, settings.login_timeout_s + 3)
                refused.append(ws.close_code)
        return refused, got

    refused, got = asyncio.run(scenario())
    assert refused == [403, 403, 1008] and got == []
    assert asyncio.run(read_topic(settings, "commands", 0)) == []


def test_a_flood_is_limited_on_the_way_to_the_topic(cockpit_settings: Settings) -> None:
    """One socket pushed 21,227 commands/s, all forwarded: now the burst and the rate pass,
    the rest is refused, and the socket is closed."""
    settings = cockpit_settings

    async def scenario() -> tuple[int, int, int, Any, float]:
        queued = limited = in_row = 0
        async with running_cockpit(settings):
            async with signed_in(settings.cockpit_port, "张伟") as ws:
                started = time.monotonic()
                async def flood() -> None:
                    for i in range(2000):
                        try:
                            await ws.send(command_frame("comment", fingerprint=f"fp-{i}",
                                                comment="刷屏"))
                        except ConnectionClosed:
                            return
                sender = asyncio.create_task(flood())
                for m in await everything(ws, DEADLINE_S):
                    refused = m["type"] == "command_error" and m["code"] == "rate_limited"
                    queued += m["type"] == "command_queued"
                    limited += refused
                    # the refusals in a row at the end: a token refilled during the flood
                    # (a slow machine) lets one more command through and starts the row anew
                    in_row = in_row + 1 if refused else 0 if m["type"] == "command_queued" \
                        else in_row
                took = time.monotonic() - started
                await sender
                return queued, limited, in_row, ws.close_code, took

    queued, limited, in_row, code, took = asyncio.run(scenario())
    assert settings.command_burst <= queued <= \
        settings.command_burst + settings.command_rate_per_s * took + 1
    # closed after exactly command_flood_refusals refusals in a row, not before
    assert in_row == settings.command_flood_refusals and code == 1008
    assert limited >= settings.command_flood_refusals
    assert len(asyncio.run(read_topic(settings, "commands", queued))) == queued


def incident(iid: str, stream: str, fp: str) -> dict[str, Any]:
    return {"event_id": f"ie-{iid}", "incident_id": iid, "seq": 1, "lsn": 1, "kind": "opened",
            "at_ms": 1, "actor": "correlator", "at": "1970-01-01T00:00:00.001Z",
            "payload_json": json.dumps({
                "category": stream, "severity": "major", "district": "furong",
                "members": [{"fingerprint": fp, "kind": f"{stream}_calls", "stream": stream,
                             "severity": "major", "status": "firing"}]})}


def alert(fp: str, stream: str) -> dict[str, Any]:
    return {"alert_id": fp, "fingerprint": fp, "status": "firing", "severity": "major",
            "detector": "cluster", "kind": f"{stream}_calls", "stream": stream,
            "entity_id": f"E-{fp}", "district": "furong"}


def test_a_120_dispatcher_neither_sees_nor_commands_119s_incident(
        cockpit_settings: Settings) -> None:
    settings, port = cockpit_settings, cockpit_settings.cockpit_port

    async def scenario() -> dict[str, Any]:
        producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap)
        await producer.start()
        out: dict[str, Any] = {}
        try:
            async with running_cockpit(settings, feed=True) as hub:
                for topic, key, value in (
                        ("alerts", "fp-119", alert("fp-119", "fire")),
                        ("alerts", "fp-120", alert("fp-120", "ems")),
                        ("incident_events", "INC-119", incident("INC-119", "fire", "fp-119")),
                        ("incident_events", "INC-120", incident("INC-120", "ems", "fp-120"))):
                    await producer.send_and_wait(settings.topic(topic), orjson.dumps(value),
                                                 key=key.encode())
                deadline = time.monotonic() + DEADLINE_S
                while len(hub.incidents) < 2 and time.monotonic() < deadline:
                    await asyncio.sleep(0.05)
                async with signed_in(port, "急救调度") as ems, \
                        signed_in(port, "消防调度") as fire:
                    out["ems_snapshot"] = await next_of(ems, "snapshot")
                    out["fire_snapshot"] = await next_of(fire, "snapshot")
                    for cmd in (command_frame("add_note", incident_id="INC-119", text="我来"),
                                command_frame("ack", fingerprint="fp-119"),
                                command_frame("ack", fingerprint="fp-120", comment="收到")):
                        await ems.send(cmd)
                    out["ems_replies"] = [await next_of(ems, "command_queued", "command_error")
                                          for _ in range(3)]
                    # live: 119's incident changes; the 120 dispatcher is not told
                    await producer.send_and_wait(settings.topic("incident_events"), orjson.dumps(
                        {**incident("INC-119", "fire", "fp-119"), "event_id": "ie-2", "seq": 2,
                         "kind": "note_added", "payload_json": '{"text": "到场"}'}),
                        key=b"INC-119")
                    out["fire_live"] = await next_of(fire, "incident")
                    out["ems_live"] = [m for m in await everything(ems, 2.0)
                                       if m["type"] in ("incident", "alert")]
        finally:
            await producer.stop()
        out["topic"] = await read_topic(settings, "commands", 1)
        return out

    out = asyncio.run(scenario())
    assert [i["incident_id"] for i in out["ems_snapshot"]["incidents"]] == ["INC-120"]
    assert [a["fingerprint"] for a in out["ems_snapshot"]["alerts"]] == ["fp-120"]
    assert [i["incident_id"] for i in out["fire_snapshot"]["incidents"]] == ["INC-119"]
    assert [(r["type"], r.get("code"), r.get("field")) for r in out["ems_replies"]] == [
        ("command_error", "forbidden", "incident_id"),
        ("command_error", "forbidden", "fingerprint"), ("command_queued", None, None)]
    assert out["fire_live"]["incident"]["incident_id"] == "INC-119"
    assert out["ems_live"] == []
    [landed] = [orjson.loads(m.value) for m in out["topic"]]
    assert (landed["action"], landed["fingerprint"], landed["actor"]) == \
        ("ack", "fp-120", "急救调度")


def test_audit_rows_land_in_clickhouse(prepared: Settings, own_topics: Any,
                                       fresh_database: Any, citycc_proc: Any) -> None:
    """Sign-ins and commands, refused and forwarded, through the audit topic and the worker's
    sink; the worker's answer to the forwarded command joins it by command_id."""
    with fresh_database("audit") as db:
        settings = own_topics(db, "aud").with_overrides(worker_id=f"aud-{uuid.uuid4().hex[:6]}")
        from citycc.cli import _prepare
        _prepare(settings)
        worker = citycc_proc(["worker"], "worker-audit", settings)
        port = settings.cockpit_port
        ids: dict[str, str] = {}

        async def scenario() -> None:
            async with running_cockpit(settings):
                async with connect(f"ws://127.0.0.1:{port}/ws", origin=origin(port)) as ws:
                    assert (await sign_in(ws, "张伟", "not my password"))["type"] == "auth_error"
                async with signed_in(port, "大屏") as ws:
                    ids["viewer"] = str(uuid.uuid4())
                    await ws.send(orjson.dumps({"type": "command", "command": {
                        "command_id": ids["viewer"], "action": "ack",
                        "fingerprint": "fp-x"}}).decode())
                    assert (await next_of(ws, "command_error"))["code"] == "forbidden"
                async with signed_in(port, "张伟") as ws:
                    ids["boss"] = str(uuid.uuid4())
                    await ws.send(orjson.dumps({"type": "command", "command": {
                        "command_id": ids["boss"], "action": "ack",
                        "fingerprint": "fp-nobody-knows"}}).decode())
                    assert (await next_of(ws, "command_queued", "command_error"))["type"] == \
                        "command_queued"

        asyncio.run(scenario())
        table = f"{settings.clickhouse.database}.command_audit"

        def audit() -> list[tuple[Any, ...]]:
            return rows(settings, f"SELECT source, user, role, action, target, command_id, "
                                  f"result, code, remote FROM {table} FINAL ORDER BY at_ms, "
                                  f"source")
        wait_for("the audit rows and the worker's answer in ClickHouse",
                 lambda: len(audit()) >= 6, worker, 120)
        got = audit()
        assert [(r[0], r[1], r[3], r[6], r[7]) for r in got if r[0] == "cockpit"] == [
            ("cockpit", "张伟", "login", "refused", "unauthenticated"),
            ("cockpit", "大屏", "login", "signed_in", ""),
            ("cockpit", "大屏", "ack", "refused", "forbidden"),
            ("cockpit", "张伟", "login", "signed_in", ""),
            ("cockpit", "张伟", "ack", "forwarded", "")]
        assert all(r[8] == "127.0.0.1" for r in got if r[0] == "cockpit")
        # the worker's answer to the forwarded ack, joined to who gave it: the README's query
        readme = (ROOT / "README.md").read_text(encoding="utf-8")
        [sql] = re.findall(r"```sql\n(SELECT .*?command_audit.*?)```", readme, re.S)
        joined = rows(settings, sql.replace("citycc.command_audit", table))
        answered = [r for r in joined if r[6]]
        assert len(joined) == 5 and len(answered) == 1   # (sign-ins, the viewer's ack: none)
        _, user, role, action, target, asked, result, code = answered[0]
        assert (user, role, action, target, asked, result) == \
            ("张伟", "supervisor", "ack", "fp-nobody-knows", "forwarded", "refused")
        assert code   # the engine's own code (no such alert)
