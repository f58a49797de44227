"""Cockpit HTTP + websocket server (one port, ``websockets`` only).

* ``GET /`` (or ``/index.html``) -- the cockpit page (``static/index.html``).
* ``GET /healthz`` -- ``{"ok": true, ...hub stats}`` as JSON.
* ``/ws`` -- websocket; server -> client messages: :mod:`cockpit_api.hub`; client -> server
  commands: :mod:`cockpit_api.commands` (answered ``command_queued`` / ``command_error``).

Run with ``python -m cockpit_api.server`` (settings from ``CITYCC_*`` variables).
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import logging
import signal
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
from websockets.asyncio.server import ServerConnection
from websockets.asyncio.server import serve as ws_serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.frames import CloseCode
from websockets.http11 import Request, Response

from city.profile import CityProfile, load_profile
from citycc.settings import Settings, load_settings
from deploy.supervision import parse_status, status_path

from .command_sink import CommandSender, CommandSink, submit
from .feed import run_feed
from .history_load import load_history
from .hub import AlertHub, Subscription

log = logging.getLogger("cockpit_api.server")

STATIC_DIR = Path(__file__).resolve().parent / "static"
WS_PATH = "/ws"
STATS_INTERVAL_S = 2.0
CLOSE_GRACE_S = 2.0


def _response(status: http.HTTPStatus, content_type: str, body: bytes) -> Response:
    headers = Headers([("Content-Type", content_type), ("Content-Length", str(len(body))),
                       ("Cache-Control", "no-store"), ("Connection", "close")])
    return Response(status.value, status.phrase, headers, body)


def _page_bytes() -> bytes:
    return (STATIC_DIR / "index.html").read_bytes()


ProcessRequest = Callable[[ServerConnection, Request], Response | None]
Handler = Callable[[ServerConnection], Awaitable[None]]


def make_process_request(hub: AlertHub) -> ProcessRequest:
    """Route plain HTTP requests; ``None`` lets the websocket handshake on ``/ws`` proceed."""

    def process_request(connection: ServerConnection, request: Request) -> Response | None:
        path = request.path.split("?", 1)[0]
        if path == WS_PATH:
            return None
        if path in ("/", "/index.html"):
            return _response(http.HTTPStatus.OK, "text/html; charset=utf-8", _page_bytes())
        if path == "/healthz":
            body = orjson.dumps({"ok": True, **hub.stats()})
            return _response(http.HTTPStatus.OK, "application/json", body)
        return _response(http.HTTPStatus.NOT_FOUND, "text/plain; charset=utf-8",
                         b"not found\n")

    return process_request


async def _relay(connection: ServerConnection, sub: Subscription) -> None:
    """Drain one client's queue into its socket (the websockets broadcast recipe)."""
    while True:
        await connection.send(await sub.queue.get(), text=True)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


async def _receive(connection: ServerConnection, hub: AlertHub, sub: Subscription,
                   sender: CommandSender) -> None:
    """Answer each client frame (a command) through the client's own queue, one at a time:
    a client that floods commands waits for its own replies, nobody else does."""
    with contextlib.suppress(ConnectionClosed):
        async for raw in connection:
            hub.reply(sub, await submit(raw, sender, now_ms()))


async def _close_slow(connection: ServerConnection, reason: str) -> None:
    """Close with 1013 + reason; abort if the client does not even take the close frame."""
    try:
        async with asyncio.timeout(CLOSE_GRACE_S):
            await connection.close(CloseCode.TRY_AGAIN_LATER, reason)
    except TimeoutError:
        connection.transport.abort()


def make_handler(hub: AlertHub, sender: CommandSender) -> Handler:
    async def handler(connection: ServerConnection) -> None:
        sub = hub.subscribe()
        tasks = [asyncio.create_task(_relay(connection, sub)),
                 asyncio.create_task(_receive(connection, hub, sub, sender)),
                 asyncio.create_task(sub.dropped.wait())]
        log.info("client %d connected from %s", sub.id, connection.remote_address)
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            exc = tasks[0].exception() if tasks[0] in done else None
            if exc is not None and not isinstance(exc, ConnectionClosed):
                log.warning("client %d relay failed: %r", sub.id, exc)
        finally:
            hub.unsubscribe(sub)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        if sub.dropped.is_set():
            await _close_slow(connection, sub.close_reason)
        log.info("client %d gone (%s)", sub.id, sub.close_reason or "closed")

    return handler


def read_processes(path: Path) -> dict[str, Any]:
    """The supervised processes and their restarts from the supervisor's status file
    (``{}`` without a supervisor; a file that is not a status is logged and shown as none)."""
    try:
        processes: dict[str, Any] = parse_status(orjson.loads(path.read_bytes()))["processes"]
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:  # a directory, unreadable, not a status  # StatusError and orjson's error are ValueErrors
        log.warning("ignoring %s: %s", path, exc)
        return {}
    return processes


async def _stats_ticker(hub: AlertHub, interval_s: float, status_file: Path) -> None:
    while True:
        await asyncio.sleep(interval_s)
        hub.processes = read_processes(status_file)
        hub.publish_stats()


async def serve(settings: Settings, hub: AlertHub, *, ready: asyncio.Event | None = None,
                stats_interval_s: float = STATS_INTERVAL_S,
                commands: CommandSender | None = None) -> None:
    """Serve the cockpit on ``settings.cockpit_host:cockpit_port`` until cancelled; commands
    go to ``commands`` (default: a :class:`CommandSink` on ``settings``, closed at exit)."""
    own: CommandSink | None = None
    sender: CommandSender
    if commands is None:
        sender = own = CommandSink(settings)
    else:
        sender = commands
    # max_size: a frame over it closes the connection (1009); between the command limit
    # (8 KiB) and this one the client gets a command_error instead
    async with ws_serve(make_handler(hub, sender), settings.cockpit_host, settings.cockpit_port,
                        process_request=make_process_request(hub),
                        ping_interval=20, ping_timeout=20, max_size=64 * 1024) as server:
        status_file = status_path(settings.run_dir)
        hub.processes = read_processes(status_file)
        ticker = asyncio.create_task(_stats_ticker(hub, stats_interval_s, status_file))
        port = server.sockets[0].getsockname()[1] if server.sockets else settings.cockpit_port
        log.info("cockpit listening on http://%s:%d/", settings.cockpit_host, port)
        if ready is not None:
            ready.set()
        try:
            await asyncio.Future()
        finally:
            ticker.cancel()
            if own is not None:
                await own.close()


def places_of(profile: CityProfile) -> dict[str, Any]:
    """The names the page shows for the city and its district codes."""
    return {"city": {"zh": profile.name_zh, "en": profile.name_en},
            "districts": {d.code: {"zh": d.zh, "en": d.en} for d in profile.districts}}


async def run(settings: Settings) -> None:
    """Run the server and the Kafka feed until SIGINT/SIGTERM (``asyncio.run(run(s))``)."""
    logging.getLogger("websockets.server").setLevel(logging.WARNING)  # one line per request
    hub = AlertHub(places=places_of(load_profile(settings.city)))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await load_history(settings, hub)   # before the feed: older than its backfill
    ready = asyncio.Event()
    tasks = [asyncio.create_task(serve(settings, hub, ready=ready), name="cockpit-server"),
             asyncio.create_task(run_feed(settings, hub), name="feed")]
    waiters = [asyncio.create_task(stop.wait()), asyncio.create_task(ready.wait())]
    try:
        await asyncio.wait([waiters[1], *tasks], return_when=asyncio.FIRST_COMPLETED)
        if ready.is_set():
            print(f"citycc cockpit: {settings.cockpit_url}  (feed and commands: "
                  f"{settings.topic_prefix}.* @ {settings.bootstrap})", flush=True)
        await asyncio.wait([waiters[0], *tasks], return_when=asyncio.FIRST_COMPLETED)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        for task in (*tasks, *waiters):
            task.cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
    for task, result in zip(tasks, results, strict=True):
        if isinstance(result, Exception):
            log.error("%s failed: %r", task.get_name(), result)
            raise result
    log.info("cockpit stopped")


if __name__ == "__main__":
    _settings = load_settings()
    logging.basicConfig(level=_settings.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(run(_settings))
