"""A cockpit running in the test's own event loop against the real broker: the server (and
its Kafka feed), a signed-in client's next message of a type, a topic read back, a command
frame as the page sends it. Shared by the cockpit's integration tests."""

from __future__ import annotations

import asyncio
import time
import uuid
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator

import orjson
from aiokafka import AIOKafkaConsumer

from citycc.settings import Settings
from cockpit_api.feed import run_feed
from cockpit_api.hub import AlertHub
from cockpit_api.server import serve

DEADLINE_S = 30.0


@asynccontextmanager
async def running_cockpit(settings: Settings, hub: AlertHub | None = None, *,
                          feed: bool = False) -> AsyncIterator[AlertHub]:
    """The cockpit's websocket server (and its Kafka feed when ``feed``) until the block
    ends; yields the hub."""
    hub = AlertHub() if hub is None else hub
    ready = asyncio.Event()
    tasks = [asyncio.create_task(serve(settings, hub, ready=ready))]
    if feed:
        tasks.append(asyncio.create_task(run_feed(settings, hub)))
    try:
        await ready.wait()
        yield hub
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def next_of(ws: Any, *types: str) -> dict[str, Any]:
    """The client's next message of one of ``types`` (others are passed over)."""
    async with asyncio.timeout(DEADLINE_S):
        while True:
            msg = orjson.loads(await ws.recv())
            if msg["type"] in types:
                return msg


async def read_topic(settings: Settings, name: str, want: int) -> list[Any]:
    """Poll ``name`` from the beginning until ``want`` messages are there (or the deadline)."""
    consumer = AIOKafkaConsumer(settings.topic(name), bootstrap_servers=settings.bootstrap,
                                group_id=None, auto_offset_reset="earliest")
    await consumer.start()
    got: list[Any] = []
    try:
        end = time.monotonic() + DEADLINE_S
        while len(got) < want and time.monotonic() < end:
            for messages in (await consumer.getmany(timeout_ms=500)).values():
                got += messages
        # and nothing more arrives shortly after
        for messages in (await consumer.getmany(timeout_ms=1000)).values():
            got += messages
    finally:
        await consumer.stop()
    return got


def command_frame(action: str, **args: Any) -> str:
    """A command as the page sends it (a new command id; no actor unless a test adds one)."""
    return orjson.dumps({"type": "command", "command": {
        "command_id": str(uuid.uuid4()), "action": action, **args}}).decode()
