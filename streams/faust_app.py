"""A Faust App whose consumer long-polls briefly.

Faust's aiokafka driver hard-codes ``fetch_max_wait_ms=1500``. A broker that answers a
multi-partition fetch only when that wait expires (measured on Tansu: ~715 ms per fetch at
1500 ms, ~14 ms at 100 ms) then adds half a second to every alert. This module changes that
one number and nothing else; it is the only place citycc reaches into Faust internals.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import faust
from faust.transport.drivers import aiokafka as faust_aiokafka

FETCH_MAX_WAIT_MS = 100
SHUTDOWN_FLUSH_S = 10.0
log = logging.getLogger(__name__)


class _ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS  # read by aiokafka at start()
        return consumer


class _Consumer(faust_aiokafka.Consumer):
    def _new_consumer_thread(self) -> _ConsumerThread:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)


class _Transport(faust_aiokafka.Transport):
    Consumer = _Consumer


class App(faust.App):
    """``faust.App`` with the short consumer long-poll (see module docstring), and a final
    flush of the agents' buffers on shutdown so their messages are acked and committed
    instead of Faust waiting on them (``wait_empty``) and replaying them after a restart."""

    citycc_buffers: list[Any]

    def _new_transport(self) -> Any:
        return _Transport(self.conf.broker_consumer, self)

    async def on_stop(self) -> None:
        for buf in getattr(self, "citycc_buffers", ()):
            try:
                await asyncio.wait_for(buf.flush(), SHUTDOWN_FLUSH_S)
            except Exception:  # noqa: BLE001 - unflushed messages are replayed, not lost
                log.exception("final flush of %s failed; it will be replayed", buf.name)
        await super().on_stop()
