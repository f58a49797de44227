"""The flush discipline on the real broker: while what a batch caused cannot be made durable,
none of its messages is committed, good neighbours of a bad message included; once it can,
everything lands exactly once. ClickHouse is the part made to fail (a gate in front of the
session's real server), the one failure every broker lets a test cause the same way."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any, Callable, ContextManager

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from citycc.cli import _prepare
from citycc.settings import Settings
from deploy import procs
from schemas.topics import TOPICS
from test_pipeline_e2e import produce, reading, scalar, wait_rows

pytestmark = pytest.mark.integration


class Gate:
    """A TCP forwarder to a real server; :meth:`shut` drops its connections and refuses new
    ones until :meth:`open`."""

    def __init__(self, target_port: int) -> None:
        self.target, self.port, self.is_open = target_port, procs.free_port(), True
        self.writers: set[asyncio.StreamWriter] = set()
        self.loop = asyncio.new_event_loop()
        started = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(self.loop)
            self.server = self.loop.run_until_complete(
                asyncio.start_server(self._handle, "127.0.0.1", self.port))
            started.set()
            self.loop.run_forever()
            tasks = asyncio.all_tasks(self.loop)     # stopped: end the open pipes cleanly
            for task in tasks:
                task.cancel()
            self.loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            self.loop.close()

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        started.wait(10)

    def open(self) -> None:
        self.is_open = True

    def shut(self) -> None:
        def drop() -> None:
            self.is_open = False
            for w in list(self.writers):
                w.transport.abort()
        self.loop.call_soon_threadsafe(drop)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.is_open:
            writer.close()
            return
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target)
        self.writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except ConnectionError:
                pass
            finally:
                dst.transport.abort()

        try:
            await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        finally:
            for w in (writer, up_writer):
                w.transport.abort()
                self.writers.discard(w)

    def close(self) -> None:
        self.shut()
        self.loop.call_soon_threadsafe(self.server.close)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


async def committed(s: Settings, stream: str) -> dict[int, int | None]:
    """The worker group's committed offset of each partition of ``stream``."""
    consumer = AIOKafkaConsumer(bootstrap_servers=s.bootstrap, group_id=f"{s.topic_prefix}-worker",
                                enable_auto_commit=False)
    await consumer.start()
    try:
        return {p: await consumer.committed(TopicPartition(s.topic(stream), p))
                for p in range(TOPICS[stream].partitions)}
    finally:
        await consumer.stop()


def committed_total(s: Settings) -> int:
    """Messages of ``lifeline`` the worker committed (its topics are new: offsets from 0)."""
    return sum(o or 0 for o in asyncio.run(committed(s, "lifeline")).values())


async def dead_letter_offsets(s: Settings) -> set[int]:
    """Source offsets of the dead letters on the dead-letter topic (not in ClickHouse)."""
    consumer = AIOKafkaConsumer(s.topic("deadletter"), bootstrap_servers=s.bootstrap,
                                auto_offset_reset="earliest", enable_auto_commit=False,
                                max_partition_fetch_bytes=s.broker_message_max_bytes)
    await consumer.start()
    try:
        batches = await consumer.getmany(timeout_ms=500)
        return {int(dict(m.headers)["citycc-source-offset"]) for ms in batches.values()
                for m in ms}
    finally:
        await consumer.stop()


def test_nothing_is_committed_until_rows_and_dead_letters_are_durable(
        prepared: Settings, own_topics: Callable[[Settings, str], Settings],
        fresh_database: Callable[[str], ContextManager[Settings]], citycc_proc: Any) -> None:
    with fresh_database("flush") as db_settings:
        s = own_topics(db_settings.with_overrides(worker_id="flush-worker"), "flush")
        _prepare(s)
        db = s.clickhouse.database
        gate = Gate(s.clickhouse_port)
        try:
            gated = s.with_overrides(
                clickhouse_url=f"clickhouse://default@127.0.0.1:{gate.port}/{db}")
            worker = citycc_proc(["worker"], "worker-flush", gated)
            now = int(time.time() * 1000)
            good = [reading(i, now - 1_000 + i) for i in range(9)]
            # a first message through an open gate: the worker is up and commits
            asyncio.run(produce(s, "lifeline", [orjson.dumps(good[8])]))
            procs.wait_until(lambda: committed_total(s) == 1, 90, "the first commit",
                             logs=[worker.log])
            gate.shut()      # ClickHouse unreachable from the worker from now on
            messages = [orjson.dumps({"events": good[:4]}), b"{" + b"x" * 2_000_000,
                        orjson.dumps({"events": good[4:8]})]
            asyncio.run(produce(s, "lifeline", messages))
            # the bad message was processed: its dead letter is on the broker ...
            procs.wait_until(lambda: asyncio.run(dead_letter_offsets(s)), 60,
                             "the dead letter on the broker", logs=[worker.log])
            # ... but nothing of its batch is committed while its rows cannot be stored
            end = time.monotonic() + 4 * s.sink_max_age_s + 2
            while time.monotonic() < end:
                assert worker.alive(), worker.tail()
                assert committed_total(s) == 1
                time.sleep(0.2)
            assert scalar(s, f"SELECT count() FROM {db}.events_lifeline") == 1
            gate.open()
            wait_rows(s, f"SELECT count() FROM {db}.events_lifeline FINAL", 9, 60, worker)
            wait_rows(s, f"SELECT count() FROM {db}.dead_letters FINAL", 1, 60, worker)
            procs.wait_until(lambda: committed_total(s) == 1 + len(messages), 30,
                             "offsets committed", logs=[worker.log])
        finally:
            gate.close()
        assert scalar(s, f"SELECT count() FROM {db}.events_lifeline FINAL") == 9
        assert scalar(s, f"SELECT code FROM {db}.dead_letters FINAL") == "malformed_json"
