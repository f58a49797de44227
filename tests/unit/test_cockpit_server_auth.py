"""The cockpit server's security over real sockets (no broker: commands and audit records
recorded where they would go): the handshake's Origin check and caps, sign-in before
anything is sent, roles, the signed-in actor, the command rate, sessions that end, the page's
headers, and an audit record of every sign-in and command."""

from __future__ import annotations

import asyncio
import socket
import time
import urllib.request
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from citycc.settings import Settings
from cockpit_api.auth.testing import PASSWORD, origin, sign_in, signed_in, write_test_users
from cockpit_api.auth.tokens import issue_token, load_secret
from cockpit_api.auth.users import read_users, write_users
from cockpit_api.hub import AlertHub
from cockpit_api.server import serve

DEADLINE_S = 10.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Recorder:
    """Stands in for a topic: what the server put on it."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []

    async def send(self, key: str, value: bytes) -> None:
        self.sent.append((key, orjson.loads(value)))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    s = Settings(cockpit_port=free_port(), run_dir=tmp_path / "run", login_timeout_s=1.0,
                 command_rate_per_s=5.0, command_burst=10, command_flood_refusals=20,
                 max_connections=6, max_connections_per_user=2,
                 kafka_bootstrap=f"127.0.0.1:{free_port()}")   # no broker: nothing leaves
    write_test_users(s.users_path)
    return s


@asynccontextmanager
async def cockpit(settings: Settings, hub: AlertHub, commands: Recorder, audit: Recorder
                  ) -> AsyncIterator[None]:
    ready = asyncio.Event()
    task = asyncio.create_task(serve(settings, hub, ready=ready, commands=commands,
                                     audit=audit, stats_interval_s=60))
    await ready.wait()
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def next_of(ws: Any, *types: str) -> dict[str, Any]:
    async with asyncio.timeout(DEADLINE_S):
        while True:
            msg = orjson.loads(await ws.recv())
            if msg["type"] in types:
                return msg


async def received(ws: Any, within: float | None = None) -> list[dict[str, Any]]:
    """Everything the server sends until it closes the socket (or ``within`` s pass)."""
    out: list[dict[str, Any]] = []
    try:
        async with asyncio.timeout(within or DEADLINE_S):
            async for raw in ws:
                out.append(orjson.loads(raw))
    except ConnectionClosed:
        pass
    except TimeoutError:
        if within is None:
            raise
    return out


def command(action: str, **args: Any) -> str:
    return orjson.dumps({"type": "command", "command": {
        "command_id": f"c-{time.monotonic_ns()}", "action": action, **args}}).decode()


def tomorrow() -> str:
    """An end the cockpit accepts (at most a year ahead; 2099 is out_of_window)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 86_400))


SILENCE_EVERYTHING = {"matchers": ['severity=~".*"', 'kind=~".+"'], "reason": "x",
                      "ends_at": "2099-01-01T00:00:00Z", "actor": "system"}


def test_the_issue_13_attack_is_refused(settings: Settings) -> None:
    """Issue 13: a page of any origin got the full snapshot and could silence everything
    until 2099 as 'system'. Other origins, null and none are refused at the handshake; the
    cockpit's own origin gets nothing and commands nothing without signing in."""
    hub, commands = AlertHub(), Recorder()
    hub.publish({"fingerprint": "fp-gas", "status": "firing", "stream": "lifeline"})
    port = settings.cockpit_port

    async def scenario() -> tuple[list[int], list[dict[str, Any]]]:
        ready = asyncio.Event()
        # (no audit recorder: the attack is the same against every version of the server)
        task = asyncio.create_task(serve(settings, hub, ready=ready, commands=commands))
        await ready.wait()
        statuses, got = [], []
        try:
            for page_origin in ("http://evil.example", "null", None):
                try:
                    async with connect(f"ws://127.0.0.1:{port}/ws",
                                       origin=page_origin) as ws:  # type: ignore[arg-type]
                        await ws.send(command("silence", **SILENCE_EVERYTHING))
                        await ws.send(command("ack", fingerprint="fp-gas", actor="system"))
                        got += await received(ws, within=2.0)
                except InvalidStatus as exc:
                    statuses.append(exc.response.status_code)
            async with connect(f"ws://127.0.0.1:{port}/ws", origin=origin(port)) as ws:
                await ws.send(command("silence", **SILENCE_EVERYTHING))   # not a sign-in
                got += await received(ws, within=DEADLINE_S)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        return statuses, got

    statuses, got = asyncio.run(scenario())
    assert statuses == [403, 403, 403]
    assert [m["type"] for m in got] == ["auth_error"]   # no snapshot, no alert, no reply
    assert got[0]["code"] == "unauthenticated"
    assert commands.sent == []


def test_a_client_that_does_not_sign_in_gets_nothing_and_is_closed(settings: Settings) -> None:
    hub, audit = AlertHub(), Recorder()
    hub.publish({"fingerprint": "fp-gas", "status": "firing"})

    async def scenario() -> tuple[list[dict[str, Any]], Any, float]:
        async with cockpit(settings, hub, Recorder(), audit):
            async with connect(f"ws://127.0.0.1:{settings.cockpit_port}/ws",
                               origin=origin(settings.cockpit_port)) as ws:
                started = time.monotonic()
                got = await received(ws)
                return got, ws.close_code, time.monotonic() - started

    got, code, took = asyncio.run(scenario())
    assert got == [] and code == 1008 and took < settings.login_timeout_s + 2
    assert [(r["action"], r["result"], r["code"], r["field"]) for _, r in audit.sent] == \
        [("login", "refused", "unauthenticated", "no_sign_in")]


def test_a_wrong_password_is_refused_audited_and_locked_out(settings: Settings) -> None:
    audit = Recorder()
    port = settings.cockpit_port

    async def attempt(ws_password: str, user: str = "张伟") -> dict[str, Any]:
        async with connect(f"ws://127.0.0.1:{port}/ws", origin=origin(port)) as ws:
            answer = await sign_in(ws, user, ws_password)
            if answer["type"] != "session":   # then closed, after nothing else
                assert await received(ws) == [] and ws.close_code in (1008, 1013)
            return answer

    async def scenario() -> list[dict[str, Any]]:
        async with cockpit(settings, AlertHub(), Recorder(), audit):
            answers = [await attempt("guess-Xq7") for _ in range(5)]
            answers.append(await attempt(PASSWORD))         # locked now, even the right one
            answers.append(await attempt(PASSWORD, "大屏"))  # another user is not (same address)
            return answers

    answers = asyncio.run(scenario())
    assert [(a["type"], a.get("code"), a.get("detail")) for a in answers] == \
        [("auth_error", "unauthenticated", "bad_credentials")] * 5 + \
        [("auth_error", "rate_limited", "locked"), ("session", None, None)]
    records = [r for _, r in audit.sent]
    assert [(r["user"], r["result"], r["code"]) for r in records] == \
        [("张伟", "refused", "unauthenticated")] * 5 + \
        [("张伟", "refused", "rate_limited"), ("大屏", "signed_in", "")]
    assert all(PASSWORD not in orjson.dumps(r).decode() and "guess-Xq7" not in
               orjson.dumps(r).decode() for r in records)   # never a password
    assert records[-1]["role"] == "viewer" and records[-1]["remote"] == "127.0.0.1"


def test_nobody_signs_in_without_a_users_file(settings: Settings) -> None:
    settings.users_path.unlink()

    async def scenario() -> dict[str, Any]:
        async with cockpit(settings, AlertHub(), Recorder(), Recorder()):
            async with connect(f"ws://127.0.0.1:{settings.cockpit_port}/ws",
                               origin=origin(settings.cockpit_port)) as ws:
                return await sign_in(ws, "admin", "admin")

    answer = asyncio.run(scenario())
    assert (answer["code"], answer["detail"]) == ("unauthenticated", "no_users")
    assert "citycc user add" in answer["reason"]


def test_the_session_and_a_token_sign_in(settings: Settings) -> None:
    async def scenario() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        async with cockpit(settings, AlertHub(), Recorder(), Recorder()):
            port = settings.cockpit_port
            async with connect(f"ws://127.0.0.1:{port}/ws", origin=origin(port)) as ws:
                session = await sign_in(ws, "急救调度")
                first = orjson.loads(await ws.recv())
            async with connect(f"ws://127.0.0.1:{port}/ws", origin=origin(port)) as ws:
                await ws.send(orjson.dumps({"type": "auth", "token": session["token"]}).decode())
                again = orjson.loads(await ws.recv())
            expired = issue_token(read_users(settings.users_path)["大屏"].principal,
                                  load_secret("", settings.run_dir), time.time() - 7200, 3600)
            async with connect(f"ws://127.0.0.1:{port}/ws", origin=origin(port)) as ws:
                await ws.send(orjson.dumps({"type": "auth", "token": expired.token}).decode())
                old = orjson.loads(await ws.recv())
            return session, again, {**old, "first": first["type"]}

    session, again, old = asyncio.run(scenario())
    assert {k: session[k] for k in ("user", "role", "agency", "districts")} == \
        {"user": "急救调度", "role": "dispatcher", "agency": "120", "districts": []}
    assert "ack" in session["actions"] and "silence" not in session["actions"]
    assert session["expires_at"].endswith("Z") and old["first"] == "snapshot"
    assert again["type"] == "session" and again["user"] == "急救调度"
    assert (old["type"], old["detail"]) == ("auth_error", "expired")


def test_roles_and_the_signed_in_actor(settings: Settings) -> None:
    hub, commands, audit = AlertHub(), Recorder(), Recorder()
    hub.publish({"fingerprint": "fp-ems", "status": "firing", "stream": "ems"})
    hub.publish({"fingerprint": "fp-fire", "status": "firing", "stream": "fire"})
    port = settings.cockpit_port

    async def scenario() -> dict[str, list[dict[str, Any]]]:
        out: dict[str, list[dict[str, Any]]] = {}
        async with cockpit(settings, hub, commands, audit):
            for user, frames in (
                    ("大屏", [command("ack", fingerprint="fp-ems")]),
                    ("急救调度", [command("ack", fingerprint="fp-fire"),
                                  command("ack", fingerprint="fp-ems", actor="张伟"),
                                  command("ack", fingerprint="fp-ems")]),
                    ("张伟", [command("silence", **{**{k: v for k, v in
                                                       SILENCE_EVERYTHING.items()
                                                       if k != "actor"},
                                                    "ends_at": tomorrow()}),
                              command("ack", fingerprint="fp-fire")])):
                async with signed_in(port, user) as ws:
                    snap = await next_of(ws, "snapshot")
                    out[user] = [{"seen": sorted(a["fingerprint"] for a in snap["alerts"])}]
                    for f in frames:
                        await ws.send(f)
                        out[user].append(await next_of(ws, "command_queued", "command_error"))
        return out

    out = asyncio.run(scenario())
    assert out["大屏"][0]["seen"] == ["fp-ems", "fp-fire"]
    assert (out["大屏"][1]["code"], out["大屏"][1]["field"]) == ("forbidden", "action")
    assert out["急救调度"][0]["seen"] == ["fp-ems"]
    assert [(r["type"], r.get("code"), r.get("field")) for r in out["急救调度"][1:]] == [
        ("command_error", "forbidden", "fingerprint"), ("command_error", "forbidden", "actor"),
        ("command_queued", None, None)]
    assert [r["type"] for r in out["张伟"][1:]] == ["command_queued", "command_queued"]
    assert [(c["action"], c["actor"]) for _, c in commands.sent] == [
        ("ack", "急救调度"), ("silence", "张伟"), ("ack", "张伟")]
    audited = [(r["user"], r["role"], r["action"], r["target"], r["result"], r["code"])
               for _, r in audit.sent if r["action"] != "login"]
    assert audited == [
        ("大屏", "viewer", "ack", "fp-ems", "refused", "forbidden"),
        ("急救调度", "dispatcher", "ack", "fp-fire", "refused", "forbidden"),
        ("急救调度", "dispatcher", "ack", "fp-ems", "refused", "forbidden"),
        ("急救调度", "dispatcher", "ack", "fp-ems", "forwarded", ""),
        ("张伟", "supervisor", "silence", 'severity=~".*", kind=~".+"', "forwarded", ""),
        ("张伟", "supervisor", "ack", "fp-fire", "forwarded", "")]
    forwarded = [r for _, r in audit.sent if r["result"] == "forwarded"]
    assert [orjson.loads(r["command"])["command_id"] for r in forwarded] == \
        [r["command_id"] for r in forwarded] == [c["command_id"] for _, c in commands.sent]


def test_a_flood_is_limited_and_then_disconnected(settings: Settings) -> None:
    """One socket pushed 21,227 commands/s, all forwarded: now a burst passes, the rest is
    refused rate_limited, and a client that keeps on is closed."""
    hub, commands, audit = AlertHub(), Recorder(), Recorder()

    async def scenario() -> tuple[list[dict[str, Any]], Any, float]:
        async with cockpit(settings, hub, commands, audit):
            async with signed_in(settings.cockpit_port) as ws:
                started = time.monotonic()
                for i in range(500):
                    try:
                        await ws.send(command("comment", fingerprint=f"fp{i}", comment="x"))
                    except ConnectionClosed:
                        break
                got = [m for m in await received(ws)
                       if m["type"] in ("command_queued", "command_error")]
                return got, ws.close_code, time.monotonic() - started

    got, code, took = asyncio.run(scenario())
    queued = sum(m["type"] == "command_queued" for m in got)
    limited = [m for m in got if m["type"] == "command_error"]
    assert settings.command_burst <= queued <= \
        settings.command_burst + settings.command_rate_per_s * took + 1
    assert {m["code"] for m in limited} == {"rate_limited"}
    assert len(limited) == settings.command_flood_refusals and code == 1008
    assert len(commands.sent) == queued
    assert sum(r["code"] == "rate_limited" for _, r in audit.sent) == len(limited)


def test_connection_caps(settings: Settings) -> None:
    port = settings.cockpit_port

    async def scenario() -> tuple[dict[str, Any], int]:
        async with cockpit(settings, AlertHub(), Recorder(), Recorder()):
            async with signed_in(port, "张伟"), signed_in(port, "张伟"):
                async with connect(f"ws://127.0.0.1:{port}/ws", origin=origin(port)) as ws:
                    third = await sign_in(ws, "张伟")      # over the cap of 2 per user
                async with signed_in(port, "大屏"), signed_in(port, "大屏"), \
                        signed_in(port, "急救调度"):
                    # 6 open now with this one: the 7th handshake is refused
                    async with connect(f"ws://127.0.0.1:{port}/ws", origin=origin(port)):
                        try:
                            async with connect(f"ws://127.0.0.1:{port}/ws",
                                               origin=origin(port)):
                                return third, 101
                        except InvalidStatus as exc:
                            return third, exc.response.status_code
        raise AssertionError("unreachable")

    third, status = asyncio.run(scenario())
    assert (third["code"], third["detail"]) == ("rate_limited", "too_many_connections")
    assert status == 503


def test_a_removed_user_can_command_no_more(settings: Settings) -> None:
    commands = Recorder()

    async def scenario() -> tuple[dict[str, Any], Any]:
        async with cockpit(settings, AlertHub(), commands, Recorder()):
            async with signed_in(settings.cockpit_port, "张伟") as ws:
                await next_of(ws, "snapshot")
                users = read_users(settings.users_path)
                del users["张伟"]
                write_users(settings.users_path, users)
                await ws.send(command("comment", fingerprint="fp", comment="x"))
                reply = await next_of(ws, "command_error", "command_queued")
                await received(ws)
                return reply, ws.close_code

    reply, code = asyncio.run(scenario())
    assert reply["code"] == "unauthenticated" and code == 1008 and commands.sent == []


def test_a_session_ends_when_its_token_expires(settings: Settings) -> None:
    settings = settings.with_overrides(token_ttl_s=1.0)

    async def scenario() -> tuple[Any, str]:
        async with cockpit(settings, AlertHub(), Recorder(), Recorder()):
            async with signed_in(settings.cockpit_port) as ws:
                await received(ws)
                return ws.close_code, ws.close_reason

    assert asyncio.run(scenario()) == (1008, "session expired")


def test_the_page_and_its_files_carry_the_security_headers(settings: Settings) -> None:
    async def scenario() -> dict[str, tuple[int, Any, bytes]]:
        async with cockpit(settings, AlertHub(), Recorder(), Recorder()):
            def get(path: str) -> tuple[int, Any, bytes]:
                with urllib.request.urlopen(f"{settings.cockpit_url}{path}", timeout=5) as r:
                    return r.status, r.headers, r.read()
            return {p: await asyncio.to_thread(get, p)
                    for p in ("", "core.js", "session.js", "cockpit.css")}

    pages = asyncio.run(scenario())
    port = settings.cockpit_port
    for path, (status, headers, body) in pages.items():
        assert status == 200
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] == "no-referrer"
        csp = headers["Content-Security-Policy"]
        assert "script-src 'self';" in csp and f"ws://127.0.0.1:{port}" in csp
    html = pages[""][2].decode()
    assert "<script>" not in html and "<style>" not in html and " style=" not in html
    assert " on" not in html.replace(" one", "")   # no inline event handlers
    assert pages["core.js"][1]["Content-Type"].startswith("text/javascript")


def test_a_removed_users_screen_goes_dark_without_a_command(
        settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    from cockpit_api import connection   # (the session watch lives there)
    monkeypatch.setattr(connection, "RECHECK_S", 0.2)

    async def scenario() -> tuple[Any, str]:
        async with cockpit(settings, AlertHub(), Recorder(), Recorder()):
            async with signed_in(settings.cockpit_port, "大屏") as ws:
                await next_of(ws, "snapshot")
                users = read_users(settings.users_path)
                users["大屏"] = replace(users["大屏"], districts=("furong",))
                write_users(settings.users_path, users)     # changed: its view is another
                await received(ws)
                return ws.close_code, ws.close_reason

    assert asyncio.run(scenario()) == (1008, "unauthenticated")


def test_a_tried_user_name_is_recorded_escaped_when_it_could_mislead(settings: Settings) -> None:
    audit = Recorder()

    async def scenario() -> None:
        async with cockpit(settings, AlertHub(), Recorder(), audit):
            async with connect(f"ws://127.0.0.1:{settings.cockpit_port}/ws",
                               origin=origin(settings.cockpit_port)) as ws:
                await sign_in(ws, "admin\u202e\n張偉", "guess-Xq7")

    asyncio.run(scenario())
    [(_, record)] = audit.sent
    assert record["user"] == ascii("admin\u202e\n張偉") and record["code"] == "unauthenticated"


def test_a_command_the_broker_does_not_confirm_is_audited_unconfirmed(settings: Settings
                                                                      ) -> None:
    from cockpit_api.errors import CommandsUnavailable

    class Down(Recorder):
        async def send(self, key: str, value: bytes) -> None:
            raise CommandsUnavailable("no acknowledgement (test)")

    audit = Recorder()

    async def scenario() -> dict[str, Any]:
        async with cockpit(settings, AlertHub(), Down(), audit):
            async with signed_in(settings.cockpit_port) as ws:
                await ws.send(command("comment", fingerprint="fp", comment="x"))
                return await next_of(ws, "command_error")

    assert asyncio.run(scenario())["code"] == "unavailable"
    [record] = [r for _, r in audit.sent if r["action"] == "comment"]
    assert (record["result"], record["code"]) == ("unconfirmed", "unavailable")
