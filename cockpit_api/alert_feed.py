"""Kafka alerts topic -> :class:`AlertHub`.

A group-less aiokafka consumer assigned to every partition of ``settings.topic("alerts")``.
It starts ``backfill`` messages before the end of each partition (so a fresh cockpit shows
recent alerts), resumes from its own positions after a reconnect, and retries with capped
exponential backoff while the broker or the topic is not there. A malformed message is
counted on the hub and logged; it never stops the feed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import TypeVar

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from citycc.settings import Settings

from .hub import Alert, AlertHub, MalformedAlert, normalize_alert

log = logging.getLogger(__name__)

DEFAULT_BACKFILL = 200
BACKOFF_INITIAL_S = 0.5
BACKOFF_MAX_S = 10.0
K = TypeVar("K")


class TopicNotReady(RuntimeError):
    """The alerts topic does not exist (yet) on the broker."""


def decode_alert(value: bytes | None) -> Alert:
    """Decode one Kafka message value into a normalized alert, or raise ``MalformedAlert``."""
    if value is None:
        raise MalformedAlert("message has no value (tombstone)")
    try:
        obj = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise MalformedAlert(f"value is not valid UTF-8 JSON: {exc}") from None
    return normalize_alert(obj)


def start_offsets(beginning: Mapping[K, int], end: Mapping[K, int],
                  resume: Mapping[K, int], backfill: int) -> dict[K, int]:
    """Where to start each partition: the resume position if known, else ``backfill`` back."""
    starts: dict[K, int] = {}
    for tp, last in end.items():
        first = beginning.get(tp, 0)
        wanted = resume[tp] if tp in resume else last - max(backfill, 0)
        starts[tp] = min(max(wanted, first), last)
    return starts


def next_backoff(delay: float) -> float:
    return min(delay * 2, BACKOFF_MAX_S)


async def _assign(consumer: AIOKafkaConsumer, topic: str, resume: dict[TopicPartition, int],
                  backfill: int) -> list[TopicPartition]:
    await consumer.topics()  # refresh metadata
    partitions = consumer.partitions_for_topic(topic)
    if not partitions:
        raise TopicNotReady(f"topic {topic!r} not found")
    tps = [TopicPartition(topic, p) for p in sorted(partitions)]
    consumer.assign(tps)
    beginning = await consumer.beginning_offsets(tps)
    end = await consumer.end_offsets(tps)
    for tp, offset in start_offsets(beginning, end, resume, backfill).items():
        consumer.seek(tp, offset)
    return tps


def _handle(hub: AlertHub, tp: TopicPartition, offset: int, value: bytes | None) -> None:
    try:
        alert = decode_alert(value)
    except MalformedAlert as exc:
        hub.record_malformed(f"{tp.topic}[{tp.partition}]@{offset}: {exc}")
        return
    hub.publish(alert)


async def _consume(consumer: AIOKafkaConsumer, hub: AlertHub,
                   positions: dict[TopicPartition, int]) -> None:
    while True:
        batches = await consumer.getmany(timeout_ms=1000, max_records=500)
        for tp, messages in batches.items():
            for msg in messages:
                positions[tp] = msg.offset + 1
                _handle(hub, tp, msg.offset, msg.value)
                # Let client relays run between alerts, so a burst (e.g. the backfill)
                # larger than a client queue does not drop clients that keep up.
                await asyncio.sleep(0)


async def run_alert_feed(settings: Settings, hub: AlertHub, *,
                         backfill: int = DEFAULT_BACKFILL) -> None:
    """Feed alerts into ``hub`` until cancelled; never returns on broker errors."""
    topic = settings.topic("alerts")
    positions: dict[TopicPartition, int] = {}
    delay = BACKOFF_INITIAL_S
    while True:
        consumer = AIOKafkaConsumer(bootstrap_servers=settings.bootstrap, group_id=None,
                                    enable_auto_commit=False, auto_offset_reset="latest",
                                    client_id="citycc-cockpit",
                                    # an alert must not wait for a long poll to expire
                                    fetch_max_wait_ms=50)
        try:
            hub.feed_state = "connecting"
            await consumer.start()
            tps = await _assign(consumer, topic, positions, backfill)
            hub.feed_state = "connected"
            delay = BACKOFF_INITIAL_S
            log.info("alert feed: consuming %s (%d partitions) from %s",
                     topic, len(tps), settings.bootstrap)
            await _consume(consumer, hub, positions)
        except asyncio.CancelledError:
            raise
        except TopicNotReady as exc:
            hub.feed_state = "waiting_topic"
            log.info("alert feed: %s; retrying in %.1fs", exc, delay)
        except Exception as exc:  # noqa: BLE001 - any broker/network error means: retry
            hub.feed_state = "retrying"
            why = str(exc) if type(exc).__name__ in str(exc) else f"{type(exc).__name__}: {exc}"
            log.warning("alert feed: %s; retrying in %.1fs", why, delay)
        finally:
            try:
                await consumer.stop()
            except Exception:  # noqa: BLE001
                log.debug("alert feed: consumer.stop failed", exc_info=True)
        await asyncio.sleep(delay)
        delay = next_backoff(delay)
