"""A minimal worker on the project's Faust App for test_faust_recovery: one table (written
by the input record ``seed``), an input topic and a second topic whose records it appends
to a file, and, when asked (``WAKE``), a record produced to the second topic from the
table's recover callback, where Faust has paused the changelogs and not yet resumed the
other partitions."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

import faust
from aiokafka import AIOKafkaProducer

from streams.faust_app import App

BOOT, PREFIX, OUT = os.environ["BOOT"], os.environ["PREFIX"], Path(os.environ["OUT"])
app = App(f"{PREFIX}-app", broker=f"kafka://{BOOT}", store="memory://", web_enabled=False,
          key_serializer="raw", value_serializer="raw", topic_disable_leader=True,
          consumer_auto_offset_reset="earliest", broker_commit_interval=0.2)
table = app.Table("state", default=None, partitions=1, key_type=str, value_type=str)
inputs = app.topic(f"{PREFIX}.in", value_type=bytes, partitions=1)
wakes = app.topic(f"{PREFIX}.wake", value_type=bytes, partitions=1)


def note(line: str) -> None:
    with OUT.open("a", encoding="utf-8") as f:
        f.write(line + "\n")


@table.on_recover
async def recovered() -> None:
    if os.environ.get("WAKE"):
        producer = AIOKafkaProducer(bootstrap_servers=BOOT)
        await producer.start()
        try:
            await producer.send_and_wait(f"{PREFIX}.wake", b"wake")
        finally:
            await producer.stop()
        await asyncio.sleep(0.5)   # a restore that takes a while (a loaded machine)
    note("recovered")


@app.agent(inputs)
async def take(stream: Any) -> None:
    async for value in stream:
        if value == b"seed":
            table["k"] = "v"   # the changelog a restart recovers
        note(f"in:{value.decode()}")


@app.agent(wakes)
async def woken(stream: Any) -> None:
    async for value in stream:
        note(f"wake:{value.decode()}")


if __name__ == "__main__":
    sys.argv = [sys.argv[0]]
    faust.Worker(app, loglevel="info", quiet=True).execute_from_commandline()
