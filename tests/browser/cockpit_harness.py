"""What the browser tests share: the in-process cockpit server (its users: the test staff of
``cockpit_api.auth.testing``), a recorder standing in for the ``commands`` topic, signing a
page in, and the alerts, lifecycle and incident events they feed it."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

import orjson
from aiokafka import AIOKafkaProducer

from citycc.settings import Settings
from cockpit_api.auth.testing import PASSWORD, write_test_users
from cockpit_api.command_sink import CommandSender
from cockpit_api.feed import run_feed
from cockpit_api.hub import AlertHub
from cockpit_api.server import serve
from deploy.procs import free_port

T = TypeVar("T")

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-quic"]
PLACES = {"city": {"zh": "长沙市", "en": "Changsha"}, "districts": {
    "furong": {"zh": "芙蓉区", "en": "Furong"}, "yuelu": {"zh": "岳麓区", "en": "Yuelu"}}}


class CommandRecorder:
    """A :class:`CommandSender` keeping what the server would put on the ``commands`` topic
    (the seam ``serve(commands=...)``); thread-safe, the server runs on its own loop."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self._taken = 0
        self._cond = threading.Condition()

    async def send(self, key: str, value: bytes) -> None:
        with self._cond:
            self.sent.append((key, orjson.loads(value)))
            self._cond.notify_all()

    def next(self, deadline_s: float = 10) -> tuple[str, dict[str, Any]]:
        """The next command not yet taken (key, JSON), waiting up to ``deadline_s``."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.sent) > self._taken, deadline_s):
                raise AssertionError(f"no command within {deadline_s}s after "
                                     f"{[c['action'] for _, c in self.sent]}")
            self._taken += 1
            return self.sent[self._taken - 1]


class ServerThread:
    """Runs ``serve`` on its own event loop in a daemon thread; ``commands`` and ``audit``:
    where the server sends valid commands and audit records (default: the topics on
    ``settings``). The test staff may sign in (a users file in ``settings.run_dir``). Settings
    on the default ClickHouse port (a local ``make run``'s) get a closed port instead: a test
    never reads a warehouse it did not start (the API then answers 503)."""

    def __init__(self, settings: Settings, *, feed: bool = False,
                 commands: CommandSender | None = None,
                 audit: CommandSender | None = None) -> None:
        if not settings.clickhouse_url and settings.clickhouse_port == Settings().clickhouse_port:
            settings = dataclasses.replace(settings, clickhouse_port=free_port())
        self.settings, self.feed, self.commands, self.audit = settings, feed, commands, audit
        write_test_users(settings.users_path)
        self.hub = AlertHub(places=PLACES)
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._task: asyncio.Task[None] | None = None
        self._thread = threading.Thread(target=self._main, daemon=True)

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        ready = asyncio.Event()

        async def main() -> None:
            parts = [serve(self.settings, self.hub, ready=ready, stats_interval_s=0.5,
                           commands=self.commands, audit=self.audit)]
            if self.feed:
                parts.append(run_feed(self.settings, self.hub))
            # return_exceptions: a cancelled part must not end the gather while the server
            # still shuts down (it sends the audit records it holds), or the loop closes
            # under it
            for result in await asyncio.gather(*parts, return_exceptions=True):
                if isinstance(result, Exception):
                    raise result

        async def start() -> None:
            self._task = asyncio.create_task(main())
            await ready.wait()
            self._ready.set()

        self.loop.run_until_complete(start())
        try:
            self.loop.run_until_complete(self._task)  # type: ignore[arg-type]
        except asyncio.CancelledError:
            pass
        finally:
            self.loop.close()

    def start(self) -> None:
        self._thread.start()
        assert self._ready.wait(10), "server did not start"

    def publish(self, alert: dict[str, Any]) -> None:
        """Publish on the server's loop (the hub is not thread-safe)."""
        self.loop.call_soon_threadsafe(self.hub.publish, dict(alert))

    def call(self, method: str, obj: dict[str, Any]) -> None:
        """``hub.<method>(obj)`` on the server's loop, e.g. ``publish_incident_event``."""
        self.loop.call_soon_threadsafe(getattr(self.hub, method), dict(obj))

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        """Run a coroutine on the server's loop (Playwright's sync API holds this thread's)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        if self._task is not None:
            self.loop.call_soon_threadsafe(self._task.cancel)
        self._thread.join(10)


def sign_in(page: Any, user: str = "张伟", password: str = PASSWORD) -> None:
    """Sign in with the page's form, as an operator does; the page is live after it."""
    from playwright.sync_api import expect
    expect(page.locator("#login")).to_be_visible(timeout=10_000)
    expect(page.locator("#conn")).to_have_attribute("data-state", "signedOut")
    page.locator("#login-user").fill(user)
    page.locator("#login-password").fill(password)
    page.locator("#login-submit").click()
    expect(page.locator("#conn")).to_have_attribute("data-state", "open", timeout=10_000)
    expect(page.locator("#login")).to_be_hidden()


def open_cockpit(browser: Any, server: ServerThread, errors: list[str], user: str = "张伟",
                 **options: Any) -> Any:
    """A new page on the cockpit, signed in as ``user``; page errors go to ``errors``."""
    page = browser.new_page(viewport={"width": 1600, "height": 900}, **options)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(server.settings.cockpit_url)
    sign_in(page, user)
    return page


GAS_ALERT: dict[str, Any] = {
    "alert_id": "a1b2c3", "fingerprint": "f00-gas-fr-17", "status": "firing",
    "severity": "critical", "detector": "limit", "kind": "gas_concentration_high",
    "stream": "lifeline", "entity_id": "GAS-FR-00017", "district": "furong",
    "district_zh": "芙蓉区", "district_en": "Furong", "lat": 28.19, "lon": 112.99,
    "event_time": "2026-11-25T06:33:48.123Z", "value": 27.5, "threshold": 20.0,
    "unit": "%LEL", "title_zh": "燃气浓度超限", "title_en": "Gas concentration above alarm level",
    "evidence": ["evt-id-1"], "detected_at": "2026-11-25T06:33:48.400Z",
    "explanation": {"rule": "physical limit", "alarm_level": 20.0, "recover_level": 10.0,
                    "deviation": 7.5}}
OPENED_MS = 1795588428123  # GAS_ALERT's event time, 2026-11-25 14:33:48 in Changsha
MEMBERS = [
    {"fingerprint": "f00-gas-fr-17", "alert_id": "a1b2c3", "kind": "gas_concentration_high",
     "stream": "lifeline", "severity": "critical", "status": "firing",
     "entity_id": "GAS-FR-00017", "district": "furong", "title_zh": "燃气浓度超限",
     "title_en": "Gas concentration above alarm level", "first_ms": OPENED_MS,
     "event_ms": OPENED_MS},
    {"fingerprint": "f00-fire-calls", "alert_id": "d4e5", "kind": "fire_calls",
     "stream": "fire", "severity": "major", "status": "firing", "entity_id": "FR-CLUSTER-1",
     "district": "furong", "title_zh": "119 警情聚集", "title_en": "Cluster of 119 calls",
     "first_ms": OPENED_MS + 60_000, "event_ms": OPENED_MS + 60_000},
]


def incident_event(seq: int, kind: str, payload: dict[str, Any], at_ms: int,
                   actor: str = "correlator", incident_id: str = "INC-gas-furong"
                   ) -> dict[str, Any]:
    return {"event_id": f"ie-{incident_id}-{seq}", "incident_id": incident_id, "seq": seq,
            "lsn": seq, "kind": kind, "at_ms": at_ms, "actor": actor, "at": "",
            "payload_json": json.dumps(payload, ensure_ascii=False)}


INCIDENT_EVENTS = [
    incident_event(1, "opened", {
        "category": "gas", "category_zh": "燃气泄漏", "category_en": "Gas leak",
        "severity": "critical", "opened_ms": OPENED_MS, "lat": 28.19, "lon": 112.99,
        "district": "furong", "split_from": "", "members": MEMBERS[:1], "calls": {},
        "enrichment": {}}, OPENED_MS),
    incident_event(2, "alert_attached", {"member": MEMBERS[1]}, OPENED_MS + 60_000),
    incident_event(3, "call_linked", {"call_id": "FIRE-CALL-0042", "stream": "fire",
                                      "via": "alert", "fingerprint": "f00-fire-calls"},
                   OPENED_MS + 60_000),
]


def alert_event(seq: int, action: str, to: str, actor: str, comment: str = "",
                **fields: Any) -> dict[str, Any]:
    """A lifecycle event of GAS_ALERT (``fields`` override, e.g. another fingerprint)."""
    return {"event_id": f"ae-{seq}", "fingerprint": "f00-gas-fr-17", "occurrence": 1,
            "occurrence_id": "occ-1", "seq": seq, "from_state": "", "to_state": to,
            "action": action, "actor": actor, "comment": comment,
            "at_ms": OPENED_MS + seq * 1000, "severity": "critical",
            "kind": "gas_concentration_high", "entity_id": "GAS-FR-00017", "district": "furong",
            "labels": {}, "alert_id": "a1b2c3", "cause_id": "", "notify": False, **fields}


async def produce(settings: Settings, items: list[tuple[str, str, dict[str, Any]]]) -> None:
    """Publish ``(topic, key, value)`` records on the real broker, in order."""
    producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap)
    await producer.start()
    try:
        for topic, key, value in items:
            await producer.send_and_wait(settings.topic(topic), orjson.dumps(value),
                                         key=key.encode())
    finally:
        await producer.stop()
