"""streams.faust_app: a record fetched while a table recovers reaches its agent.

Faust's own code (``Recovery.on_recovery_completed``, ``Consumer.getmany``) runs on the
project's App and consumer; only the consumer's I/O is replaced: the broker's assignment,
the seek, and aiokafka's fetch in the consumer thread (which, like aiokafka's
``Fetcher.fetched_records``, takes every partition's records when given an empty set).
"""

from __future__ import annotations

import asyncio
from typing import Any

from faust.types import TP

from streams.faust_app import App

COMMANDS = TP("ff.commands", 0)
CHANGELOG = TP("ff-worker-state-changelog", 0)


class Fetcher:
    """Records fetched but not yet delivered, by partition; ``drain`` delivers those of
    the partitions the consumer reports active to the agent's queue (Faust's fetcher)."""

    def __init__(self, consumer: Any, queue: Any, records: dict[TP, list[str]]) -> None:
        self.consumer, self.queue, self.records = consumer, queue, records

    def drain(self) -> None:
        active = self.consumer._get_active_partitions()
        for tp in [tp for tp in self.records if tp in active]:
            for record in self.records.pop(tp):
                self.queue.put_nowait(record)


def recovered_app(assigned: set[TP]) -> tuple[App, Any, Any]:
    """An app in the state Faust leaves it in while reading changelogs: everything paused
    at the assignment, flow resumed for the changelog reading."""
    app = App("ff", broker="kafka://127.0.0.1:9", store="memory://", web_enabled=False)
    consumer: Any = app.consumer
    queue = app.FlowControlQueue(maxsize=16, clear_on_resume=True)   # an agent's channel
    consumer.assignment = lambda: set(assigned)

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
    async def run() -> list[str]:
        app, consumer, queue = recovered_app({COMMANDS, CHANGELOG})
        consumer.pause_partitions({CHANGELOG})   # "Done reading from changelog topics"
        fetcher = Fetcher(consumer, queue, {COMMANDS: ["it-ack-2"]})

        async def seek_while_the_fetcher_runs() -> None:
            fetcher.drain()
        consumer.perform_seek = seek_while_the_fetcher_runs
        tables: Any = app.tables
        await tables.recovery.on_recovery_completed(0)
        fetcher.drain()   # the fetcher's next round
        return [queue.get_nowait() for _ in range(queue.qsize())]

    assert asyncio.run(run()) == ["it-ack-2"]


def test_partitions_resumed_for_the_changelogs_are_fetched_at_once() -> None:
    async def run() -> set[TP]:
        _, consumer, _ = recovered_app({COMMANDS, CHANGELOG})
        return set(consumer._get_active_partitions())

    assert asyncio.run(run()) == {CHANGELOG}


def test_a_partition_paused_again_before_the_flow_resumes_stays_paused() -> None:
    async def run() -> set[TP]:
        app, consumer, _ = recovered_app({COMMANDS, CHANGELOG})
        consumer.resume_partitions({COMMANDS})
        consumer.pause_partitions({COMMANDS})   # a new rebalance pauses everything
        app.flow_control.resume()
        consumer.resume_flow()
        return set(consumer._get_active_partitions())

    assert asyncio.run(run()) == {CHANGELOG}


def test_a_fetch_takes_only_the_partitions_active_when_it_started() -> None:
    """A fetch waits in the consumer thread; the table recovery ends meanwhile (Faust
    pauses the changelogs, the stream partitions are not resumed yet)."""
    async def run() -> tuple[list[Any], dict[TP, list[str]]]:
        _, consumer, _ = recovered_app({COMMANDS, CHANGELOG})
        prefetched = {COMMANDS: ["it-ack-2"], CHANGELOG: []}

        async def fetch(partitions: Any, timeout: float) -> dict[TP, list[str]]:
            consumer.pause_partitions({CHANGELOG})   # "Done reading from changelog topics"
            return {tp: prefetched.pop(tp) for tp in list(prefetched)
                    if not partitions or tp in partitions}   # aiokafka: empty = every one
        consumer._thread.getmany = fetch
        delivered = [m async for m in consumer.getmany(timeout=1.0)]
        return delivered, prefetched

    delivered, left = asyncio.run(run())
    assert delivered == [] and left == {COMMANDS: ["it-ack-2"]}   # fetched once resumed
