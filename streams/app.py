"""The Faust worker: thin agents around :mod:`streams.pipeline` and :mod:`streams.flush`.

One agent per input stream (decode, validate, enrich, detect, publish alerts and dead
letters, sink events), one for the alerts topic and one for the dead-letter topic (sink
them). Each agent takes batches of messages with manual acks; a message is acked only when
everything it caused is durable (see :mod:`streams.flush`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from functools import partial
from typing import Any, Callable

import faust
import orjson

from city.profile import load_profile, load_roads, road_names
from citycc.settings import Settings
from schemas.catalog import INPUT_STREAMS
from schemas.records import Origin, dead_letter, dead_letter_headers
from schemas.topics import TOPICS
from schemas.validate import Policy
from streams.faust_app import App
from detectors.reassert import Reasserter
from streams.flush import FlushBuffer
from streams.progress import WRITE_INTERVAL_S, Progress, progress_path
from streams.worker_metrics import WorkerMetrics, consumer_lag, metrics_path
from streams.worker_metrics import WRITE_INTERVAL_S as METRICS_INTERVAL_S
from streams.state import StateStore
from detectors.multivariate import RetrainPolicy
from detectors.plan import build_event_detectors, build_partition_detectors, trainable
from streams.retrain import retrain_loop
from streams.pipeline import Limits, RawMessage, StreamStep, tick_alerts
from streams.outputs import dead_letter_records, fit as fit_dead_letter
from streams.sink_decode import (ALERTS_TABLE, DEAD_LETTERS_TABLE, JSON_SINKS, decode_alerts,
                                 decode_dead, json_decoder)
from streams.dispatch_intake import forwarded
from streams.alerting_agent import install_alerting
from warehouse.rows import event_columns, table_for_stream
from warehouse.sink import Backoff, PermanentInsertError, Warehouse

log = logging.getLogger(__name__)


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


def build_app(settings: Settings, *, clock: Callable[[], int] = wall_ms) -> faust.App:
    """Assemble the worker: topics, tables, agents and the flush timer."""
    datadir = settings.run_dir / "faust" / settings.worker_id
    datadir.mkdir(parents=True, exist_ok=True)
    app = App(
        f"{settings.topic_prefix}-worker",
        broker=f"kafka://{settings.bootstrap}",
        store="memory://",
        datadir=str(datadir),
        web_enabled=False,
        key_serializer="raw",
        value_serializer="raw",
        consumer_auto_offset_reset="earliest",
        topic_disable_leader=True,
        broker_session_timeout=settings.session_timeout_s,
        broker_rebalance_timeout=settings.session_timeout_s,
        broker_heartbeat_interval=settings.heartbeat_interval_s,
        consumer_group_instance_id=settings.worker_id,
        broker_commit_interval=1.0,
        producer_acks=-1,
        # one limit for every record (schemas.topics.broker_message_max_bytes): Faust's
        # defaults (1 MB requests) refuse a dead letter wrapping a 2 MB input
        producer_max_request_size=settings.broker_message_max_bytes,
        consumer_max_fetch_size=settings.broker_message_max_bytes,
        logging_config=None,
    )
    app.citycc_buffers = buffers = []  # type: ignore[attr-defined]
    warehouse = Warehouse(settings)
    app.citycc_warehouse = warehouse  # type: ignore[attr-defined]
    profile = load_profile(settings.city)
    policy = Policy.for_city(profile, max_lateness_s=settings.max_lateness_s,
                             max_future_s=settings.max_future_s,
                             max_event_bytes=settings.max_event_bytes)
    limits = Limits(settings.max_message_bytes, settings.max_event_bytes,
                    settings.max_batch_events)
    alerts_topic = app.topic(settings.topic("alerts"), value_type=bytes,
                             partitions=TOPICS["alerts"].partitions)
    dlq_topic = app.topic(settings.topic("deadletter"), value_type=bytes,
                          partitions=TOPICS["deadletter"].partitions)
    dispatch_topic = app.topic(settings.topic("dispatch_events"), value_type=bytes,
                               partitions=TOPICS["dispatch_events"].partitions)

    def fit(record: dict[str, Any]) -> dict[str, Any]:
        """A dead letter whose original exceeds the input limit travels as a prefix with
        the original's size and digest (code too_large), so it always fits its topic."""
        return fit_dead_letter(record, settings.max_message_bytes)

    async def insert(table: str, columns: dict[str, list[Any]]) -> None:
        try:
            await warehouse.insert(table, columns)
        except PermanentInsertError as exc:
            # The server refused these rows for good: keep them as dead letters.
            names = list(columns)
            rows = [dict(zip(names, values)) for values in zip(*columns.values())]
            log.error("ClickHouse rejected %d rows of %s: %s", len(rows), table, exc)
            now = clock()
            deliveries = []
            for i, row in enumerate(rows):
                record = fit(dead_letter(Origin(f"clickhouse:{table}", 0, now, i),
                                         "sink_rejected", "", str(exc),
                                         orjson.dumps(row, default=str), now))
                deliveries.append(await dlq_topic.send(key=table.encode(), value=record["raw"],
                                                       headers=dead_letter_headers(record)))
            # all delivered before the flush that called us acks (it raises otherwise);
            # started together: one wait for the broker, not one per row
            await asyncio.gather(*deliveries)

    def buffer(name: str, checkpoint: Any = None) -> FlushBuffer:
        buf = FlushBuffer(name, insert, max_rows=settings.sink_max_rows,
                          max_age_s=settings.sink_max_age_s, checkpoint=checkpoint,
                          backoff=Backoff(max_s=settings.sink_retry_max_s))
        buffers.append(buf)
        return buf

    metrics = WorkerMetrics(metrics_path(settings.run_dir, settings.worker_id),
                            settings.worker_id, os.getpid())

    async def publish_dead(buf: FlushBuffer, records: list[dict[str, Any]]) -> None:
        metrics.count_dead(records)
        for _, key, value, headers in dead_letter_records(records, settings.max_message_bytes):
            await buf.send(partial(dlq_topic.send, key=key, value=value,
                                   headers=list(headers)))

    progress = Progress(progress_path(settings.run_dir, settings.worker_id), os.getpid(),
                        clock())
    detectors = build_event_detectors(profile, road_names(load_roads(profile)))
    per_partition = build_partition_detectors(profile)
    active = Reasserter(int(settings.reassert_interval_s * 1000))
    ttl_ms = int(settings.alert_ttl_s * 1000)
    # Findings reach the alerts topic in the order the detectors made them: the 1 s tick and
    # the input agents share detector state, and a tick's firing sent after a batch's later
    # resolve of the same alert (both awaiting sends in between) left it firing for good.
    in_order = asyncio.Lock()
    stores, steps = [], []
    for stream in INPUT_STREAMS:
        step = StreamStep(stream, profile, policy, limits, detectors,
                          partition_detectors=per_partition, active=active,
                          alert_ttl_ms=ttl_ms)
        steps.append(step)
        owned = [d for d in detectors if d.streams and d.streams[0] == stream]
        stores.append(_input_agent(app, settings, stream, step, owned, buffer,
                                   publish_dead, alerts_topic, dispatch_topic, clock,
                                   progress, in_order, metrics))
    _sink_agent(app, settings, alerts_topic, buffer(ALERTS_TABLE), decode_alerts,
                publish_dead, clock)
    _sink_agent(app, settings, dlq_topic, buffer(DEAD_LETTERS_TABLE), decode_dead,
                publish_dead, clock)
    engine_store = install_alerting(app, settings, profile, alerts_topic, dispatch_topic,
                                    buffer, publish_dead, clock)
    for name, table, to_row in JSON_SINKS:
        topic = app.topic(settings.topic(name), value_type=bytes,
                          partitions=TOPICS[name].partitions)
        _sink_agent(app, settings, topic, buffer(name if name == table else f"{table}:{name}"),
                    json_decoder(table, to_row), publish_dead, clock)

    @app.task
    async def start_warehouse() -> None:
        await warehouse.start()
        await retrain_loop(warehouse, settings.clickhouse.database, trainable(detectors),
                           RetrainPolicy(), clock)

    @app.timer(interval=max(0.05, settings.sink_max_age_s / 4))
    async def flush_due() -> None:
        for buf in buffers:
            await buf.flush_if_due()

    @app.timer(interval=WRITE_INTERVAL_S)
    async def write_progress() -> None:
        """The progress file (see :mod:`streams.progress`): ``citycc run`` waits for it."""
        progress.write_if_changed()

    @app.timer(interval=METRICS_INTERVAL_S)
    async def write_metrics() -> None:
        """The metrics file the cockpit's ``/metrics`` reads (:mod:`streams.worker_metrics`)."""
        metrics.write(engine_store.engine.book.state_counts(), consumer_lag(app), clock())

    @app.timer(interval=1.0)
    async def tick_detectors() -> None:
        """Time-driven findings (NoData, pending calls, window close) when streams go quiet,
        and the re-assertion of firing findings that are due (restored ones at once)."""
        async with in_order:
            await _tick(clock())

    async def _tick(now: int) -> None:
        for alert in tick_alerts(detectors, steps, active, profile, now, ttl_ms):
            await alerts_topic.send(key=alert["fingerprint"].encode(),
                                    value=orjson.dumps(alert))

    @app.timer(interval=settings.checkpoint_interval_s)
    async def checkpoint_detectors() -> None:
        for store in stores:
            await store.checkpoint_detectors()

    return app


def _input_agent(app: faust.App, settings: Settings, stream: str, step: StreamStep,
                 owned: list[Any], buffer: Any, publish_dead: Any, alerts_topic: Any,
                 dispatch_topic: Any, clock: Callable[[], int],
                 progress: Progress, in_order: asyncio.Lock,
                 metrics: WorkerMetrics) -> StateStore:
    spec = TOPICS[stream]
    topic = app.topic(settings.topic(stream), value_type=bytes, partitions=spec.partitions)
    table = app.Table(f"state-{stream}", default=None, partitions=spec.partitions,
                      key_type=str, value_type=str)
    state = StateStore(table, step.detection, owned)  # (with step.detection.active)
    table_name = table_for_stream(stream)
    buf = buffer(table_name, state.checkpoint_limits)

    @table.on_recover
    async def restore_assigned() -> None:
        """Each assigned partition's state (and so its firing findings, re-asserted at the
        next tick) as soon as the table is recovered, not at the partition's next message:
        a quiet partition's alerts must not expire while its detectors say they hold."""
        for tp in app.assignor.assigned_actives():
            if tp.topic == topic.get_topic_name():
                state.restore(tp.partition)

    @app.on_partitions_revoked.connect
    async def forget_revoked(sender: Any, revoked: Any, **_: Any) -> None:
        for tp in revoked:
            if tp.topic == topic.get_topic_name():
                state.forget(tp.partition)

    @app.agent(topic, name=f"citycc.process.{stream}")
    async def process(events_stream: Any) -> None:
        async for events in events_stream.noack_take(settings.take_max_messages,
                                                     settings.take_within_s):
            msgs = [RawMessage(e.message.topic, e.message.partition, e.message.offset,
                               e.value) for e in events]
            for m in msgs:
                state.restore(m.partition)
            now = clock()
            progress.note(len(msgs), now)
            async with in_order:   # see build_app: findings sent in the order made
                result = step.process_safely(msgs, now)
                for alert in result.alerts:
                    await buf.send(partial(alerts_topic.send,
                                           key=alert["fingerprint"].encode(),
                                           value=orjson.dumps(alert)))
            for e, _, _ in result.events:   # calls, units, traffic: incidents and board
                if forwarded(stream, e.get("type")):
                    await buf.send(partial(
                        dispatch_topic.send, key=str(e["entity_id"]).encode(),
                        value=orjson.dumps({"stream": stream, "event": e})))
            await publish_dead(buf, result.dead)
            metrics.count_events(stream, len(result.events))
            buf.add(table_name, event_columns(
                stream, [(e, ts, origin, now) for e, ts, origin in result.events]))
            buf.add_events(list(events))
            await buf.flush_if_due()

    return state


def _sink_agent(app: faust.App, settings: Settings, topic: Any, buf: FlushBuffer,
                decode: Any, publish_dead: Any, clock: Callable[[], int]) -> None:
    @app.agent(topic, name=f"citycc.sink.{topic.get_topic_name()}")
    async def sink(events_stream: Any) -> None:
        async for events in events_stream.noack_take(settings.take_max_messages,
                                                     settings.take_within_s):
            msgs = [_Msg(e) for e in events]
            tables, dead = decode(msgs, clock())
            for table, rows in tables:
                buf.add(table, rows)
            await publish_dead(buf, dead)
            buf.add_events(list(events))
            await buf.flush_if_due()


class _Msg(RawMessage):
    """A RawMessage that also carries the Kafka headers (the dead-letter sink needs them)."""

    def __init__(self, event: Any) -> None:
        m = event.message
        super().__init__(m.topic, m.partition, m.offset, event.value)
        object.__setattr__(self, "headers", list(m.headers or []))
