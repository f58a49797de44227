"""The alerting stage in the worker: thin agents around :class:`alerting.engine.Engine`.

* ``alerts`` topic (detector alerts), ``dispatch_events`` (120/119 calls and unit status
  changes, forwarded by the ems/fire input agents) and ``commands`` topic (operator
  commands) -> the engine -> ``alert_events`` / ``incident_events`` / ``command_results``
  topics (sunk into ClickHouse by the worker's sink agents);
* a timer ticks the engine (group flushes, ack timeouts, escalation, incidents resolving)
  and runs notification delivery (:mod:`streams.notifiers`);
* the dispatch board beside the engine (:mod:`streams.dispatch_agent`): the same agents
  hand it its records, the engine's incident events and the dispatch commands
  (:mod:`streams.dispatch_intake`), the timer ticks it, and its state is in the engine's
  checkpoint.

Exactly-once effects without transactions: inputs are acked only after the events they
caused are on the broker *and* the engine state that includes them is checkpointed (a
:class:`~streams.flush.FlushBuffer` with the engine checkpoint as its checkpoint step).
The engine is deterministic for a given input (alerts apply at their ``detected_at``), so a
replay after a crash re-emits the same event ids, which the sinks collapse. Notifications
are delivered only from checkpointed state, and the delivery marks are checkpointed right
after each round: a crash inside that window can re-send a notification, with the same
``X-Citycc-Key`` so the receiver drops it.

State lives in a local file (``<run_dir>/alerting/<prefix>-<worker_id>.json``, atomically):
it is megabytes with thousands of active alerts, too big for a Kafka message. Without that
file (a new machine) the state is rebuilt from ClickHouse's logs before any input is read
(:mod:`alerting.rebuild`). The alerting
stage needs every alert in one engine, so it runs in one worker (see README).

At start, the last event of every alert the engine holds (firing or acknowledged) is
published again on ``alert_events`` (same ids: the sinks and the cockpit drop what they
have), and nothing is delivered before the broker has them: a broker that restarted empty
cannot leave the cockpit without an alert that escalation pages about.
"""

from __future__ import annotations

import asyncio
import logging
import os
from functools import partial
from pathlib import Path
from typing import Any, Awaitable, Callable

import faust
import orjson

from alerting.config import AlertingConfig, default_config, read_config
from alerting.engine import Engine, Output
from alerting.rebuild import rebuild
from citycc.runtime import freeze_long_lived
from citycc.settings import Settings
from city.profile import CityProfile
from schemas.records import Origin, dead_letter
from schemas.topics import TOPICS
from schemas.validate import format_event_time
from streams.alerting_intake import Refusal, apply_commands, apply_records
from streams.dispatch_agent import DispatchStage, install_dispatch
from streams.dispatch_intake import BoardOut
from streams.flush import FlushBuffer, SendFn, send_now
from streams.notifiers import Delivery, WebhookChannel
from streams.outputs import engine_records, notification_record
from warehouse import queries
from warehouse.client import connect

log = logging.getLogger(__name__)


def load_alerting_config(settings: Settings) -> AlertingConfig:
    config = read_config(settings.alerting_config) if settings.alerting_config else \
        default_config(settings.city)
    for warning in config.warnings:   # Alertmanager's sections citycc reads past
        log.warning("alerting config %s: %s", settings.alerting_config or settings.city,
                    warning)
    return config


class EngineStore:
    """The engine, its delivery marks and the dispatch board (if any), checkpointed to one
    local file (tmp + rename): the board and the engine restore to the same point."""

    def __init__(self, path: Path, engine: Engine, delivery: Delivery,
                 board: DispatchStage | None = None) -> None:
        self.path, self.engine, self.delivery, self.board = path, engine, delivery, board
        self.checkpoints = 0

    def load(self) -> bool:
        if not self.path.exists():
            return False
        try:
            state = orjson.loads(self.path.read_bytes())
            self.engine.restore(state["engine"])
            self.delivery.restore(state.get("delivery", {}))
            if self.board is not None and state.get("board") is not None:
                self.board.restore(state["board"])   # (absent: a checkpoint before it)
            del state
            freeze_long_lived()   # the restored state: out of every later collection
            return True
        except Exception:  # an unreadable or older checkpoint: start afresh, loudly
            log.exception("cannot restore the alerting state from %s; starting empty",
                          self.path)
            return False

    async def save(self) -> None:
        state = {"engine": self.engine.snapshot(), "delivery": self.delivery.snapshot()}
        if self.board is not None:
            state["board"] = self.board.snapshot()
        data = orjson.dumps(state)
        tmp = self.path.with_suffix(".tmp")
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        self.checkpoints += 1


def rebuild_from_warehouse(settings: Settings, engine: Engine, now_ms: int) -> dict[str, int]:
    """:func:`alerting.rebuild.rebuild` from the warehouse's logs (blocking: a thread)."""
    client = connect(settings)
    try:
        return rebuild(engine, queries.alert_events(client), queries.incident_events(client),
                       queries.silence_events(client), now_ms)
    finally:
        client.disconnect()


def dead_letters(events: list[Any], refused: list[Refusal], now: int) -> list[dict[str, Any]]:
    """The dead letters of the refused records of a batch (by position), original bytes."""
    out = []
    for r in refused:
        m = events[r.index].message
        out.append(dead_letter(Origin(m.topic, m.partition, m.offset), r.code, r.field,
                               r.reason, events[r.index].value or b"", now, r.ident))
    return out


def install_alerting(app: faust.App, settings: Settings, profile: CityProfile,
                     alerts_topic: Any, dispatch_topic: Any, buffer: Callable[..., FlushBuffer],
                     publish_dead: Callable[..., Any], clock: Callable[[], int]) -> EngineStore:
    """Add the alerting agents and timer to ``app``; returns the engine's store.
    ``publish_dead(buffer, records)`` dead-letters commands that cannot be answered."""
    topics = {name: app.topic(settings.topic(name), value_type=bytes,
                              partitions=TOPICS[name].partitions)
              for name in ("commands", "command_results", "alert_events", "incident_events",
                           "notifications", "silence_events")}
    engine = Engine(load_alerting_config(settings), profile)
    board = install_dispatch(app, settings, profile, engine)

    async def publish_notification(record: dict[str, Any]) -> None:
        _, key, value, _ = notification_record(record)
        fut = await topics["notifications"].send(key=key, value=value)
        await fut   # the cockpit channel is delivered when the broker has the record

    webhook = WebhookChannel(settings.webhook_url, settings.webhook_secret) \
        if settings.webhook_url else None
    delivery = Delivery(engine.outbox, publish_notification, webhook)
    path = settings.run_dir / "alerting" / f"{settings.topic_prefix}-{settings.worker_id}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    store = EngineStore(path, engine, delivery, board)
    if store.load():
        log.info("alerting state restored from %s", path)
    else:   # a new machine, a lost disk: rebuilt before the worker reads any input
        try:
            counts = rebuild_from_warehouse(settings, engine, clock())
            log.warning("no alerting checkpoint at %s: rebuilt from ClickHouse: %s", path,
                        counts)
        except Exception:   # the warehouse is unreachable: start empty, loudly
            log.exception("cannot rebuild the alerting state from ClickHouse; starting empty")
    buf = buffer("alerting", store.save)
    republished = asyncio.Event()

    @app.task
    async def republish() -> None:
        """The engine's alerts on the broker again before anything is delivered."""
        current = engine.book.current()
        sent = [await topics["alert_events"].send(key=ev.fingerprint.encode(),
                                                  value=orjson.dumps(ev.to_dict()))
                for ev in current]
        for fut in sent:
            await fut
        log.info("alerting: %d current alerts published again", len(current))
        republished.set()

    async def publish(out: Output, now: int, send: Callable[[SendFn], Awaitable[None]],
                      made: BoardOut | None = None) -> None:
        """Send what ``out`` holds through ``send`` (a buffer's, which retries and waits
        for the deliveries at its flush, or :func:`send_now`), then the board's ``made``."""
        for topic, key, value, _ in engine_records(out, now):
            await send(partial(topics[topic].send, key=key, value=value))
        if board is not None and made is not None:
            await board.publish(made, send)

    def input_agent(topic: Any, name: str,
                    apply: Callable[[list[dict[str, Any]], int], Output]) -> None:
        """Records of ``topic`` in batches through ``apply``, one record at a time
        (:mod:`streams.alerting_intake`); a record the engine refuses, or whose
        application failed, is dead-lettered (nobody is answered)."""
        @app.agent(topic, name=name)
        async def consume(stream: Any) -> None:
            async for events in stream.noack_take(settings.take_max_messages,
                                                  settings.take_within_s):
                now = clock()
                values = [e.value for e in events]
                made: BoardOut | None
                if board is not None and topic is dispatch_topic:   # (its records: both)
                    out, made, refused = board.events(apply, values, now)
                else:
                    out, refused = apply_records(apply, values, now, engine.counters,
                                                 keep_undecodable=topic is not alerts_topic)
                    made = board.after(out) if board is not None else None
                await publish(out, now, buf.send, made)
                await publish_dead(buf, dead_letters(events, refused, now))
                buf.add_events(list(events))
                await buf.flush_if_due()

    input_agent(alerts_topic, "citycc.alerting.alerts", engine.alerts)
    input_agent(dispatch_topic, "citycc.alerting.dispatch", engine.dispatch)

    @app.agent(topics["commands"], name="citycc.alerting.commands")
    async def on_commands(stream: Any) -> None:
        async for events in stream.noack_take(settings.take_max_messages,
                                              settings.take_within_s):
            now = clock()
            values = [e.value for e in events]
            made = None
            if board is not None:   # the dispatch actions to the board, the others here
                out, made, refused = board.commands(values, now, format_event_time(now))
            else:
                out, refused = apply_commands(engine.command, values, now, engine.counters)
            await publish(out, now, buf.send, made)
            await publish_dead(buf, dead_letters(events, refused, now))
            buf.add_events(list(events))
            await buf.flush()   # an operator waits for the answer: no batching delay

    @app.timer(interval=settings.alerting_tick_s)
    async def alerting_tick() -> None:
        """Tick, then make everything durable before delivering: the events on the
        broker, then the state (the buffer's flush does both, and acks the inputs the
        state now covers), and only then notify from that state."""
        if not republished.is_set():
            return
        now = clock()
        out = engine.tick(now)
        made = board.tick(out, now) if board is not None else None
        await publish(out, now, send_now, made)
        if buf.pending:
            await buf.flush()
        elif out.alert_events or out.incident_events or out.offered or out.silence_events \
                or (made is not None and made.records):
            await store.save()
        if await delivery.run(now):
            await store.save()

    @app.on_before_shutdown.connect
    async def close_webhook(sender: Any, **_: Any) -> None:
        await store.save()
        if webhook is not None:
            await webhook.close()

    return store
