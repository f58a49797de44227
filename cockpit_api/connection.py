"""One websocket connection's tasks after sign-in (:class:`~cockpit_api.client.ClientSession`):
the relay that drains its outbox into the socket (the websockets broadcast recipe), the
receiver of its frames, the watch of its session, and what ends it (1013 when it was too slow,
1008 when flooding, signed out or expired)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.frames import CloseCode

from .auth.login import Authenticator, Session
from .client import ClientSession, Cockpit
from .errors import CommandRejected
from .hub import Subscription
from .protocol import ALL, Interest, Resume, parse_resume
from .visibility import Audience

log = logging.getLogger("cockpit_api.client")

RECHECK_S = 30.0
Handler = Callable[[ServerConnection], Awaitable[None]]


async def _relay(connection: ServerConnection, sub: Subscription) -> None:
    """Drain one client's outbox into its socket (the websockets broadcast recipe)."""
    while True:
        await connection.send(await sub.queue.take(), text=True)


async def _watch(auth: Authenticator, session: Session) -> str:
    """Why the session ends: its token expires, or its user is removed or changed (checked
    every ``RECHECK_S``: a removed user's screen does not keep the city on it)."""
    while True:
        left = session.expires_s - time.time()
        if left <= 0:
            return "session expired"
        await asyncio.sleep(min(left, RECHECK_S))
        if not auth.current(session.principal):
            return "unauthenticated"


async def _receive(client: ClientSession, sub: Subscription) -> str:
    with contextlib.suppress(ConnectionClosed):
        return await client.commands(sub)
    return ""


def make_handler(cockpit: Cockpit) -> Handler:
    async def handler(connection: ServerConnection) -> None:
        cockpit.cap.open()
        try:
            client = ClientSession(cockpit, connection)
            session = await client.sign_in()
            if session is None:
                return
            client.session = session
            try:
                await _serve(client, session)
            finally:
                cockpit.cap.remove_user(session.principal.user)
        finally:
            cockpit.cap.close()

    return handler


async def _serve(client: ClientSession, session: Session) -> None:
    """After sign-in: the session message, then the hub's messages and the commands."""
    p, hub, connection = session.principal, client.c.hub, client.connection
    client.audit(action="login", target=session.method, result="signed_in")
    try:
        await connection.send(orjson.dumps(session.to_message()).decode())
    except ConnectionClosed:
        return
    interest: Interest = ALL
    refusal: dict[str, Any] | None = None
    try:
        interest = client.interest(client.first)
    except CommandRejected as rejected:   # told after the snapshot; subscribed to all
        refusal = rejected.to_message()
    resume: Resume | str | None = parse_resume(client.first)
    sub = hub.subscribe(Audience.of(p), interest, resume)
    if refusal is not None:
        hub.reply(sub, refusal)
    relay = asyncio.create_task(_relay(connection, sub))
    receive = asyncio.create_task(_receive(client, sub))
    dropped = asyncio.create_task(sub.dropped.wait())
    watch = asyncio.create_task(_watch(client.c.auth, session))
    log.info("client %d (%s, %s) connected from %s", sub.id, p.user, p.role, client.remote)
    why = ""
    try:
        done, _ = await asyncio.wait([relay, receive, dropped, watch],
                                     return_when=asyncio.FIRST_COMPLETED)
        exc = relay.exception() if relay in done else None
        if exc is not None and not isinstance(exc, ConnectionClosed):
            log.warning("client %d relay failed: %r", sub.id, exc)
        for reason in (receive, watch):   # why it ends (flooding, signed out, expired)
            if reason in done and reason.exception() is None:
                why = why or reason.result()
    finally:
        hub.unsubscribe(sub)
        tasks = (relay, receive, dropped, watch)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    if sub.dropped.is_set():
        await client.close(CloseCode.TRY_AGAIN_LATER, sub.close_reason)
    elif why:   # flooding, signed out, expired
        await client.close(CloseCode.POLICY_VIOLATION, why)
    log.info("client %d gone (%s)", sub.id, sub.close_reason or why or "closed")
