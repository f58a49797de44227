"""The one place citycc reaches into Faust internals: a consumer that long-polls briefly
and loses no record when it starts.

* Faust's aiokafka driver hard-codes ``fetch_max_wait_ms=1500``. A broker that answers a
  multi-partition fetch only when that wait expires (measured on Tansu: ~715 ms per fetch
  at 1500 ms, ~14 ms at 100 ms) then adds half a second to every alert.
* Faust hands aiokafka its live set of active partitions for a fetch that waits up to a
  second in the consumer thread, and filters what comes back with that same set. aiokafka
  reads an empty set as "every partition". When a table recovery ends Faust pauses the
  changelogs before it resumes the stream partitions: the set is empty, a fetch already
  waiting wakes up (any record arriving anywhere), takes every record prefetched meanwhile
  (a command produced while the worker started) and moves the positions past them, and
  Faust then drops them because their partitions are not in the (empty) set. Nothing is
  logged; a restarted worker whose only pending input was an operator's command never
  answered it (test_alerting_restart, intermittently). robinhood/faust#69 once fixed this
  race with a lock; faust-streaming passes the live set again, changed in place since
  faust-streaming/faust#239. Here each fetch gets a copy taken when it starts, is never
  started with an empty one, and waits at most FETCH_WAIT_S, so that a partition resumed
  meanwhile is fetched within that (Faust's second would delay a restarted worker's first
  record by up to a second).
* After a table recovery Faust resumes the stream partitions, seeks them to their
  committed offsets and only then resumes flow control, which empties every agent's
  queue; a record delivered during that seek is dropped too (faust-streaming/faust#596,
  open). A partition Faust resumes is not fetched until flow control has resumed and the
  consumer's flow with it (every resume in Faust's recovery does both, in that order).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Iterable, Optional

import faust
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP
from faust.transport.consumer import RecordMap
from mode.utils.queues import FlowControlEvent

FETCH_MAX_WAIT_MS = 100
FETCH_WAIT_S = FETCH_MAX_WAIT_MS / 1000   # a fetch call's wait in the consumer thread
SHUTDOWN_FLUSH_S = 10.0
log = logging.getLogger(__name__)


class _ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS  # read by aiokafka at start()
        return consumer


class _Consumer(faust_aiokafka.Consumer):
    """Fetches with a copy of the active partitions less the held ones, never with an
    empty set, waiting at most FETCH_WAIT_S in the consumer thread; partitions Faust
    resumes are held until :meth:`resume_flow` (see the module docstring)."""

    def _new_consumer_thread(self) -> _ConsumerThread:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def _getmany(self, active_partitions: Optional[set[TP]],
                       timeout: float) -> RecordMap:
        if active_partitions is None:   # a client-only app: every partition
            return await super()._getmany(None, timeout)
        fetchable = set(active_partitions) - self._held()
        if not fetchable:   # aiokafka would read an empty set as every partition
            await asyncio.sleep(min(timeout, FETCH_WAIT_S))
            return {}
        return await super()._getmany(fetchable, min(timeout, FETCH_WAIT_S))

    def _held(self) -> set[TP]:
        held: set[TP] = self.__dict__.setdefault("_citycc_held", set())
        return held

    def resume_partitions(self, tps: Iterable[TP]) -> None:
        tps = set(tps)
        self._held().update(tps)
        super().resume_partitions(tps)

    def pause_partitions(self, tps: Iterable[TP]) -> None:
        tps = set(tps)
        self._held().difference_update(tps)
        super().pause_partitions(tps)

    def resume_flow(self) -> None:
        super().resume_flow()
        self._held().clear()


class _Transport(faust_aiokafka.Transport):
    Consumer = _Consumer


class _FlowControl(FlowControlEvent):
    """Faust's flow control, saying what it drops: events still queued for an agent when
    flow resumes (after a rebalance they are read again from the committed offsets)."""

    def clear(self) -> None:
        for queue in list(self._queues):
            events = list(getattr(queue, "_queue", ()))
            if events:
                log.info("flow control drops %d queued events: %s", len(events), sorted(
                    {(e.message.topic, e.message.partition, e.message.offset)
                     for e in events if getattr(e, "message", None) is not None}))
        super().clear()


class App(faust.App):
    """``faust.App`` with the consumer above, and a final flush of the agents' buffers on
    shutdown so their messages are acked and committed instead of Faust waiting on them
    (``wait_empty``) and replaying them after a restart."""

    citycc_buffers: list[Any]

    def _new_transport(self) -> Any:
        return _Transport(self.conf.broker_consumer, self)

    @property
    def flow_control(self) -> FlowControlEvent:
        fc = self.__dict__.get("_citycc_flow_control")
        if fc is None:
            fc = self.__dict__["_citycc_flow_control"] = _FlowControl(loop=self.loop)
        return fc

    async def on_stop(self) -> None:
        for buf in getattr(self, "citycc_buffers", ()):
            try:
                await asyncio.wait_for(buf.flush(), SHUTDOWN_FLUSH_S)
            except Exception:  # noqa: BLE001 - unflushed messages are replayed, not lost
                log.exception("final flush of %s failed; it will be replayed", buf.name)
        await super().on_stop()
