"""streams.flush: nothing is acked before what it caused is durable, and a failure to make
it durable (an insert, a send, a delivery, the checkpoint) keeps the batch and retries it."""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka.errors import KafkaTimeoutError, MessageSizeTooLargeError

from streams.flush import FlushBuffer
from warehouse.sink import Backoff


class Event:
    def __init__(self, offset: int) -> None:
        self.offset, self.acked = offset, False

    def ack(self) -> None:
        self.acked = True


class Broker:
    """Sends that fail a given number of times first: raising when started (the client
    refuses the record), or with a failed delivery (the broker did not take it)."""

    def __init__(self, refuse: int = 0, fail_delivery: int = 0) -> None:
        self.refuse, self.fail_delivery = refuse, fail_delivery
        self.delivered: list[bytes] = []

    def sender(self, value: bytes) -> Any:
        async def start() -> asyncio.Future[None]:
            if self.refuse:
                self.refuse -= 1
                raise MessageSizeTooLargeError("record too large")
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            if self.fail_delivery:
                self.fail_delivery -= 1
                fut.set_exception(KafkaTimeoutError("no ack"))
            else:
                self.delivered.append(value)
                fut.set_result(None)
            return fut
        return start


def buffer(insert: Any = None, checkpoint: Any = None) -> tuple[FlushBuffer, list[float]]:
    slept: list[float] = []

    async def sleep(s: float) -> None:
        slept.append(s)

    async def inserted(table: str, rows: Any) -> None:
        pass

    buf = FlushBuffer("t", insert or inserted, max_rows=10, max_age_s=60, checkpoint=checkpoint,
                      backoff=Backoff(initial_s=0.1, max_s=0.4), sleep=sleep)
    return buf, slept


def test_a_send_refused_when_started_does_not_raise_and_is_retried_before_the_ack() -> None:
    broker = Broker(refuse=3)
    buf, slept = buffer()
    events = [Event(0), Event(1)]

    async def scenario() -> None:
        await buf.send(broker.sender(b"dead letter"))     # refused: the agent goes on
        buf.add_events(events)
        assert not any(e.acked for e in events)
        await buf.flush()

    asyncio.run(scenario())
    assert broker.delivered == [b"dead letter"]
    assert all(e.acked for e in events)
    assert slept == [0.1, 0.2]            # two failed flushes (the third start succeeded)
    assert buf.failed_sends == 1 and buf.failed_flushes == 2


def test_a_failed_delivery_is_sent_again_and_nothing_is_acked_until_it_lands() -> None:
    broker = Broker(fail_delivery=2)
    acked_when: list[list[bytes]] = []
    buf, slept = buffer()
    events = [Event(0)]
    events[0].ack = lambda: acked_when.append(list(broker.delivered))  # type: ignore

    async def scenario() -> None:
        await buf.send(broker.sender(b"a"))
        await buf.send(broker.sender(b"b"))
        buf.add_events(events)
        await buf.flush()

    asyncio.run(scenario())
    assert sorted(broker.delivered) == [b"a", b"b"]
    assert acked_when == [broker.delivered]        # acked once, after both were delivered
    assert slept == [0.1]


def test_a_failed_insert_keeps_the_batch_so_no_later_message_is_acked_before_it() -> None:
    """Faust commits past an unacked offset once a later one is acked: a batch dropped
    after a failed flush while later batches are acked is lost for good."""
    failures = {"n": 1}
    inserted: list[list[int]] = []

    async def insert(table: str, rows: Any) -> None:
        if failures["n"]:
            failures["n"] -= 1
            raise ConnectionResetError("ClickHouse went away")
        inserted.append(list(rows["x"]))

    buf, slept = buffer(insert)
    first, later = [Event(0), Event(1)], [Event(2)]

    async def scenario() -> None:
        buf.add("t", {"x": [0, 1]})
        buf.add_events(first)
        await buf.flush()          # retried within (before: raised, and the agent moved on)
        assert [e.acked for e in first] == [True, True]
        buf.add("t", {"x": [2]})
        buf.add_events(later)
        await buf.flush()

    asyncio.run(scenario())
    assert slept == [0.1] and buf.failed_flushes == 1 and not buf.pending
    assert [e.acked for e in first + later] == [True, True, True]
    assert sorted(x for rows in inserted for x in rows) == [0, 1, 2]


def test_a_failed_checkpoint_acks_nothing_and_does_not_resend_what_was_delivered() -> None:
    broker = Broker()
    calls = {"n": 0}

    async def checkpoint() -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise OSError("disk full")

    buf, slept = buffer(checkpoint=checkpoint)
    events = [Event(0)]

    async def scenario() -> None:
        await buf.send(broker.sender(b"alert"))
        buf.add_events(events)
        await buf.flush()

    asyncio.run(scenario())
    assert events[0].acked and calls["n"] == 2 and broker.delivered == [b"alert"]


def test_a_flush_cancelled_while_retrying_keeps_its_messages_unacked_and_pending() -> None:
    async def insert(table: str, rows: Any) -> None:
        raise ConnectionResetError("down")

    buf = FlushBuffer("t", insert, max_rows=10, max_age_s=60,
                      backoff=Backoff(initial_s=0.01, max_s=0.01))
    events = [Event(0)]

    async def scenario() -> None:
        buf.add("t", {"x": [0]})
        buf.add_events(events)
        try:
            await asyncio.wait_for(buf.flush(), 0.1)     # a shutdown's final flush
        except TimeoutError:
            pass

    asyncio.run(scenario())
    assert not events[0].acked and buf.pending
