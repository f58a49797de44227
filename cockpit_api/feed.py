"""Kafka topics -> :class:`AlertHub`: one feed for every topic the cockpit follows.

A group-less aiokafka consumer assigned to every partition of each :class:`Source`'s topic.
It starts each source's ``backfill`` messages before the end of each partition (so a fresh
cockpit shows the recent picture), resumes from its own positions after a reconnect, and
retries with capped exponential backoff while the broker or every topic is missing. A topic
that does not exist yet is looked for again every few seconds while the others are followed.
A malformed message is counted on the hub and logged; it never stops the feed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TypeVar

from aiokafka import AIOKafkaConsumer, TopicPartition

from citycc.settings import Settings
from schemas.errors import ValidationError
from schemas.jsonin import decode
from streams.admin import topic_partitions

from .errors import MalformedAlert, MalformedMessage
from .hub import Alert, AlertHub, normalize_alert

log = logging.getLogger(__name__)

DEFAULT_BACKFILL = 200
# Silences are few (a record per operator action or end) and live long (until expired or
# resolved): read far enough back that a silence made days ago is still shown.
SILENCE_BACKFILL = 5000
# Dispatch records: enough for the recent packages and unit changes (the units' latest
# statuses and the open incidents' records older than that come from ClickHouse).
DISPATCH_BACKFILL = 2000
# Input streams for the map's layers: vehicles report every ~10 s, detectors every ~30 s, so
# the last messages of each partition hold the current picture (older ones only replace it)
LAYER_BACKFILL = 500
BACKOFF_INITIAL_S = 0.5
BACKOFF_MAX_S = 10.0
MISSING_RECHECK_S = 5.0
K = TypeVar("K")


class TopicNotReady(RuntimeError):
    """None of the feed's topics exists (yet) on the broker."""


class TopicsChanged(RuntimeError):
    """A topic that was missing now exists: assign again (positions are kept)."""


def decode_json(value: bytes | None) -> object:
    """A Kafka message value as JSON (``schemas.jsonin``: not too deep, no key twice), or
    ``MalformedMessage``."""
    if value is None:
        raise MalformedMessage("message has no value (tombstone)")
    try:
        return decode(value)
    except ValidationError as exc:
        raise MalformedMessage(f"value: {exc.reason} [{exc.code}]") from None


@dataclass(frozen=True)
class Source:
    """One followed topic: its registry name, how far back to start, and the hub method that
    normalises and folds one decoded message (``publish(obj, where) -> accepted``)."""

    topic: str
    backfill: int
    publish: Callable[[object, str], bool]
    decode: Callable[[bytes | None], object] = decode_json


def sources_for(hub: AlertHub, settings: Settings | None = None) -> list[Source]:
    """What the cockpit follows (registry names, ``schemas.topics``) and how far back: enough
    history for the current picture; command results are only news. With ``settings``, also
    the input streams the map's layers fold (:mod:`cockpit_api.layers`): ``traffic`` and
    ``hazmat``, each event validated as the worker does."""
    return _picture(hub) + (_layer_sources(hub, settings) if settings is not None else [])


def _layer_sources(hub: AlertHub, settings: Settings) -> list[Source]:
    from city.profile import load_profile
    from schemas.validate import Policy

    from .layers import decode_input
    policy = Policy.for_city(load_profile(settings.city))
    return [Source(stream, LAYER_BACKFILL,
                   partial(_layer_publish, hub, stream),
                   decode_input(stream, policy, settings.max_message_bytes,
                                settings.max_batch_events))
            for stream in ("traffic", "hazmat")]


def _layer_publish(hub: AlertHub, stream: str, obj: object, where: str) -> bool:
    return hub.publish_layer_event(stream, obj, where)


def _picture(hub: AlertHub) -> list[Source]:
    return [Source("alerts", DEFAULT_BACKFILL, hub.publish),
            Source("alert_events", 2000, hub.publish_alert_event),
            Source("incident_events", 2000, hub.publish_incident_event),
            Source("command_results", 0, hub.publish_command_result),
            Source("notifications", 50, hub.publish_notification),
            Source("silence_events", SILENCE_BACKFILL, hub.publish_silence_event),
            Source("dispatch", DISPATCH_BACKFILL, hub.publish_dispatch_record)]


def decode_alert(value: bytes | None) -> Alert:
    """Decode one Kafka message value into a normalized alert, or raise ``MalformedAlert``."""
    try:
        obj = decode_json(value)
    except MalformedMessage as exc:
        raise MalformedAlert(str(exc)) from None
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


class KafkaFeed:
    """Follows ``sources`` (default: :func:`sources_for`) into ``hub`` until cancelled."""

    def __init__(self, settings: Settings, hub: AlertHub,
                 sources: Sequence[Source] | None = None) -> None:
        self.settings, self.hub = settings, hub
        chosen = sources_for(hub, settings) if sources is None else sources
        self.sources = {settings.topic(s.topic): s for s in chosen}
        self.positions: dict[TopicPartition, int] = {}
        self.starts: dict[TopicPartition, int] = {}   # where each assigned partition began
        self.missing: list[str] = []
        self._consumer: AIOKafkaConsumer | None = None

    async def run(self) -> None:
        """Never returns on broker errors; retries with capped backoff."""
        delay = BACKOFF_INITIAL_S
        while True:
            consumer = AIOKafkaConsumer(bootstrap_servers=self.settings.bootstrap,
                                        group_id=None, enable_auto_commit=False,
                                        auto_offset_reset="latest", client_id="citycc-cockpit",
                                        # a message must not wait for a long poll to expire
                                        fetch_max_wait_ms=50, max_partition_fetch_bytes=(
                                            self.settings.broker_message_max_bytes))
            again = False
            self._consumer = consumer
            try:
                self.hub.feed_state = "connecting"
                await consumer.start()
                tps = await self._assign(consumer)
                self.hub.feed_state = "connected"
                delay = BACKOFF_INITIAL_S
                log.info("feed: consuming %d partitions of %s from %s", len(tps),
                         sorted({tp.topic for tp in tps}), self.settings.bootstrap)
                await self._consume(consumer)
            except asyncio.CancelledError:
                raise
            except TopicsChanged as exc:
                again = True
                log.info("feed: %s; assigning again", exc)
            except TopicNotReady as exc:
                self.hub.feed_state = "waiting_topic"
                log.info("feed: %s; retrying in %.1fs", exc, delay)
            except Exception as exc:  # noqa: BLE001 - any broker/network error means: retry
                self.hub.feed_state = "retrying"
                why = str(exc) if type(exc).__name__ in str(exc) else \
                    f"{type(exc).__name__}: {exc}"
                log.warning("feed: %s; retrying in %.1fs", why, delay)
            finally:
                try:
                    await consumer.stop()
                except Exception:  # noqa: BLE001
                    log.debug("feed: consumer.stop failed", exc_info=True)
            if not again:
                await asyncio.sleep(delay)
                delay = next_backoff(delay)

    async def _assign(self, consumer: AIOKafkaConsumer) -> list[TopicPartition]:
        known = await topic_partitions(self.settings.bootstrap, list(self.sources))
        tps, self.missing = [], []
        for topic in self.sources:
            partitions = known.get(topic)
            if partitions:
                tps += [TopicPartition(topic, p) for p in sorted(partitions)]
            else:
                self.missing.append(topic)
        self.hub.feed_missing = list(self.missing)
        if not tps:
            raise TopicNotReady(f"topics {sorted(self.sources)} not found")
        if self.missing:
            log.info("feed: topics %s not found yet; following the others", self.missing)
        consumer.assign(tps)
        beginning = await consumer.beginning_offsets(tps)
        end = await consumer.end_offsets(tps)
        for topic, source in self.sources.items():
            mine = [tp for tp in tps if tp.topic == topic]
            for tp, offset in start_offsets({tp: beginning[tp] for tp in mine},
                                            {tp: end[tp] for tp in mine}, self.positions,
                                            source.backfill).items():
                consumer.seek(tp, offset)
                self.starts[tp] = offset
        return tps

    def lag(self) -> dict[tuple[str, int], int]:
        """Messages behind the end of each assigned partition: the end last seen by a fetch
        minus the next offset to read (the start until a message is read); {} unconnected."""
        consumer, out = self._consumer, {}
        if consumer is None or self.hub.feed_state != "connected":
            return {}
        for tp in consumer.assignment():
            end = consumer.highwater(tp)
            nxt = self.positions.get(tp, self.starts.get(tp))
            if end is not None and nxt is not None:
                out[(tp.topic, tp.partition)] = max(0, end - nxt)
        return out

    async def _consume(self, consumer: AIOKafkaConsumer) -> None:
        recheck = time.monotonic() + MISSING_RECHECK_S
        while True:
            batches = await consumer.getmany(timeout_ms=1000, max_records=500)
            for tp, messages in batches.items():
                source = self.sources[tp.topic]
                for msg in messages:
                    self.positions[tp] = msg.offset + 1
                    self._handle(source, tp, msg.offset, msg.value)
                    # Let client relays run between messages, so a burst (e.g. the backfill)
                    # larger than a client queue does not drop clients that keep up.
                    await asyncio.sleep(0)
            if self.missing and time.monotonic() >= recheck:
                recheck = time.monotonic() + MISSING_RECHECK_S
                # names only: this consumer's metadata is not refreshed for unassigned topics;
                # the next consumer's start fetches the new topic's partitions
                names = await consumer.topics()
                found = [t for t in self.missing if t in names]
                if found:
                    raise TopicsChanged(f"topics {found} appeared")

    def _handle(self, source: Source, tp: TopicPartition, offset: int,
                value: bytes | None) -> None:
        apply_message(self.hub, source, value, f"{tp.topic}[{tp.partition}]@{offset}")


def apply_message(hub: AlertHub, source: Source, value: bytes | None, where: str) -> bool:
    """One message of ``source``'s topic into ``hub``: decoded, normalised and folded (the
    live feed's and a replay's, :mod:`cockpit_api.replay`); a malformed one is counted on the
    hub (``where``: where it came from), ``False``."""
    try:
        obj = source.decode(value)
    except MalformedMessage as exc:
        hub.record_malformed(f"{where}: {exc}", source.topic)
        return False
    return source.publish(obj, where)


async def run_feed(settings: Settings, hub: AlertHub,
                   sources: Sequence[Source] | None = None, feed: KafkaFeed | None = None
                   ) -> None:
    """Feed ``hub`` from Kafka until cancelled (see :class:`KafkaFeed`; pass ``feed`` to
    read its :meth:`~KafkaFeed.lag` meanwhile)."""
    await (feed or KafkaFeed(settings, hub, sources)).run()
