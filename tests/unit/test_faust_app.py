"""streams.faust_app: a record fetched while a table recovers reaches its agent.

Faust's own code (``Recovery.on_recovery_completed``, ``Consumer.getmany``) runs on the
project's App and consumer; only the consumer's I/O is replaced: the broker's assignment
and highwaters, the seek, and aiokafka's fetch in the consumer thread, which, like aiokafka's
``Fetcher.fetched_records``, hands over the prefetched records of the partitions it is
given, of every partition when given an empty set.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka.structs import ConsumerRecord
from faust.types import TP

from streams.faust_app import FETCH_WAIT_S, App

COMMANDS = TP("ff.commands", 0)
CHANGELOG = TP("ff-worker-state-changelog", 0)


def record(tp: TP, offset: int, value: bytes) -> Any:
    return ConsumerRecord(tp.topic, tp.partition, offset, 0, 0, None, value, None, 0,
                          len(value), [])


class Broker:
    """The consumer thread's side: records prefetched by partition, and the fetch calls
    (the partitions each was given and its wait)."""

    def __init__(self, consumer: Any, records: dict[TP, list[Any]]) -> None:
        self.consumer, self.records = consumer, records
        self.calls: list[tuple[set[TP], float]] = []
        self.during_fetch: Any = None
        consumer._thread.getmany = self.fetch

    async def fetch(self, partitions: Any, timeout: float) -> dict[TP, list[Any]]:
        self.calls.append((set(partitions), timeout))
        if self.during_fetch is not None:
            self.during_fetch()
        return {tp: self.records.pop(tp) for tp in list(self.records)
                if not partitions or tp in partitions}


async def deliver(consumer: Any, queue: Any) -> None:
    """One round of Faust's fetcher: what ``Consumer.getmany`` yields goes to the agent."""
    async for _, message in consumer.getmany(timeout=1.0):
        queue.put_nowait(message.value)


def recovered_app(assigned: set[TP]) -> tuple[App, Any, Any]:
    """An app in the state Faust leaves it in while reading changelogs: everything paused
    at the assignment, the changelogs resumed, flow resumed."""
    app = App("ff", broker="kafka://127.0.0.1:9", store="memory://", web_enabled=False)
    consumer: Any = app.consumer
    queue = app.FlowControlQueue(maxsize=16, clear_on_resume=True)   # an agent's channel
    consumer.assignment = lambda: set(assigned)
    consumer.highwater = lambda tp: 0

    async def started() -> bool:
        return True
    fetcher: Any = app._fetcher
    fetcher.maybe_start = started
    consumer._set_active_tps(assigned)
    consumer.pause_partitions(assigned)
    consumer.resume_partitions({CHANGELOG})
    app.flow_control.resume()
    consumer.resume_flow()
    return app, consumer, queue


def test_a_record_prefetched_during_recovery_is_delivered_after_it() -> None:
    """Faust's fetcher runs during the seek that ends the recovery (faust#596)."""
    async def run() -> list[bytes]:
        app, consumer, queue = recovered_app({COMMANDS, CHANGELOG})
        consumer.pause_partitions({CHANGELOG})   # "Done reading from changelog topics"
        Broker(consumer, {COMMANDS: [record(COMMANDS, 3, b"it-ack-2")]})

        async def seek_while_the_fetcher_runs() -> None:
            await deliver(consumer, queue)
        consumer.perform_seek = seek_while_the_fetcher_runs
        tables: Any = app.tables
        await tables.recovery.on_recovery_completed(0)
        await deliver(consumer, queue)   # the fetcher's next round
        return [queue.get_nowait() for _ in range(queue.qsize())]

    assert asyncio.run(run()) == [b"it-ack-2"]


def test_a_fetch_takes_only_the_partitions_active_when_it_started() -> None:
    """A fetch waits in the consumer thread; the table recovery ends meanwhile (Faust
    pauses the changelogs, the stream partitions are not resumed yet)."""
    async def run() -> tuple[list[bytes], dict[TP, list[Any]]]:
        _, consumer, queue = recovered_app({COMMANDS, CHANGELOG})
        broker = Broker(consumer, {COMMANDS: [record(COMMANDS, 3, b"it-ack-2")]})
        broker.during_fetch = lambda: consumer.pause_partitions({CHANGELOG})
        await deliver(consumer, queue)
        return [queue.get_nowait() for _ in range(queue.qsize())], broker.records

    delivered, left = asyncio.run(run())
    assert delivered == [] and list(left) == [COMMANDS]   # fetched once resumed


def test_fetches_wait_briefly_and_never_for_an_empty_set() -> None:
    """A partition resumed while a fetch waits is fetched by the next one, so no fetch
    waits Faust's second; and none is started with nothing to fetch."""
    async def run() -> list[tuple[set[TP], float]]:
        _, consumer, queue = recovered_app({COMMANDS, CHANGELOG})
        broker = Broker(consumer, {})
        await deliver(consumer, queue)
        consumer.pause_partitions({CHANGELOG})
        consumer.resume_partitions({COMMANDS})   # held: not fetched before resume_flow
        await consumer._getmany(consumer._get_active_partitions(), 1.0)
        consumer.resume_flow()
        await deliver(consumer, queue)
        return broker.calls

    assert asyncio.run(run()) == [({CHANGELOG}, FETCH_WAIT_S), ({COMMANDS}, FETCH_WAIT_S)]


def test_a_partition_paused_again_before_the_flow_resumes_stays_paused() -> None:
    async def run() -> set[TP]:
        app, consumer, _ = recovered_app({COMMANDS, CHANGELOG})
        consumer.resume_partitions({COMMANDS})
        consumer.pause_partitions({COMMANDS})   # a new rebalance pauses everything
        app.flow_control.resume()
        consumer.resume_flow()
        return set(consumer._get_active_partitions())

    assert asyncio.run(run()) == {CHANGELOG}
