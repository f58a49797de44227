"""The worker's stages in one process, driven by an event-time watermark (pure: no I/O, no
clock, no environment).

:class:`Replayer` runs the code the live worker runs, in the worker's order: per input
stream :class:`streams.pipeline.StreamStep` (decode, validate, enrich, detect) over
:func:`schemas.wire.encode_batch` messages; its alerts into the alerting engine
(:class:`alerting.engine.Engine` through :mod:`streams.alerting_intake`, as the alerting
agent takes them), then the events the input agents forward to ``dispatch_events`` into the
engine and the dispatch board (:class:`streams.dispatch_intake.BoardInputs`); and, at every
``tick_ms`` boundary the watermark crosses, what the worker's 1 s timers do:
:func:`streams.pipeline.tick_alerts` (detectors, re-assertions) into the engine, then
``Engine.tick``, the board's tick and notification delivery. Every output is the record
the worker publishes (:mod:`streams.outputs`), stamped with the watermark
(:class:`replay.timeline.OutRecord`).

Why a watermark and not the wall clock: live, ``now`` is the wall clock a moment after the
events arrived; in a replay it is the newest event time fed (and each tick boundary), so
the validator's lateness limits, the detectors' silence timers and the engine's timeouts
see history as the worker saw it live, and the same inputs give the same outputs, ids
included, at any speed.
"""

from __future__ import annotations

import io
import pickle
from collections import Counter
from typing import Any, Callable, Mapping, Sequence, cast

import orjson

from alerting.engine import Engine, Output
from alerting.notify import OK, Outbox
from detectors.reassert import Reasserter
from replay.setup import ReplaySetup
from replay.timeline import OutRecord, stamped
from schemas.catalog import INPUT_STREAMS
from schemas.records import Origin, dead_letter
from schemas.validate import format_event_time, parse_event_time
from schemas.wire import encode_batch, join_batch
from streams.alerting_intake import Refusal, apply_commands, apply_records
from streams.dispatch_intake import BoardInputs, BoardOut, forwarded
from streams.notifiers import COCKPIT, outcome_record
from streams.outputs import (Published, dead_letter_records, notification_record,
                             output_records)
from streams.pipeline import RawMessage, StreamStep, tick_alerts

MESSAGE_EVENTS = 500      # events per replayed input message (the simulator's batch)
DELIVERY_LIMIT = 500      # notifications per delivery round (streams.notifiers.Delivery)


class ReplayError(ValueError):
    """Input a replay cannot take (a stable ``code``: ``unknown_stream``,
    ``out_of_order``)."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(f"{code}: {reason}")
        self.code, self.reason = code, reason


def deliver(outbox: Outbox, now_ms: int, limit: int = DELIVERY_LIMIT) -> list[dict[str, Any]]:
    """One delivery round on the cockpit channel alone, as
    :class:`streams.notifiers.Delivery` without a webhook records it (a replay never
    notifies anyone outside): each due notification sent then delivered, then the dead."""
    out: list[dict[str, Any]] = []
    for attempt in outbox.due(now_ms, limit):
        n = attempt.notification
        out.append(outcome_record(n, "sent", now_ms, attempt.number, "", COCKPIT))
        outbox.result(attempt, OK, now_ms)
        out.append(outcome_record(n, "delivered", now_ms, attempt.number, "", COCKPIT))
    out += [outcome_record(d.notification, "dead", now_ms, d.attempts, d.reason)
            for d in outbox.take_dead(now_ms)]
    return out


class Replayer:
    """One isolated replay pipeline: its own detectors, engine and board, from ``setup``;
    the watermark starts at ``start_ms``."""

    def __init__(self, setup: ReplaySetup, start_ms: int, tick_ms: int = 1000) -> None:
        if tick_ms <= 0:
            raise ValueError(f"tick_ms must be positive, got {tick_ms}")
        self.setup, self.tick_ms = setup, tick_ms
        profile = setup.profile
        self.detectors, partition_detectors = setup.detectors(profile, setup.road_names)
        self.active = Reasserter(setup.reassert_ms)
        self.steps = {s: StreamStep(s, profile, setup.policy, setup.limits, self.detectors,
                                    partition_detectors=partition_detectors,
                                    active=self.active, alert_ttl_ms=setup.alert_ttl_ms)
                      for s in INPUT_STREAMS}
        self.engine = Engine(setup.alerting, profile)
        board = setup.new_board()
        if board is None:
            self.board: BoardInputs | None = None
        else:
            from dispatch.actions import ACTIONS
            self.board = BoardInputs(board, self.engine, tuple(ACTIONS))
        self._wm = start_ms
        self._next_tick = (start_ms // tick_ms + 1) * tick_ms   # the first boundary after
        self.offsets: Counter[str] = Counter()   # per replayed topic: message offsets
        self.counters: Counter[str] = Counter()
        # what the input agents sink into events_*: (stream, [(event, ts_ms, origin)], now)
        self.on_events: Callable[[str, list[Any], int], None] | None = None

    @property
    def watermark_ms(self) -> int:
        return self._wm

    # -- state (a seek: restore the nearest snapshot, feed the events after it) --------------
    def snapshot(self) -> bytes:
        """Everything this replay has learned and decided so far, as bytes: the detectors
        and each stream's detection stage (pickled whole: limits, per-partition detectors,
        the firing findings and when each is due again), the engine's
        and the board's own snapshots (as the worker's checkpoint file holds them), the
        watermark. The setup's shared, unchanging parts (profile, policy) are referred
        to, not copied: restore on the same setup."""
        buf = io.BytesIO()
        pickler = pickle.Pickler(buf, protocol=5)
        shared = {id(obj): key for key, obj in _shared_objects(self.setup)}
        pickler.persistent_id = lambda obj: shared.get(id(obj))  # type: ignore[method-assign]
        pickler.dump({
            "detection": (self.detectors, {k: st.detection for k, st in self.steps.items()},
                          self.active),
            "engine": self.engine.snapshot(),
            "board": self.board.board.snapshot()  # type: ignore[attr-defined]
            if self.board is not None else None,
            "clock": (self._wm, self._next_tick, self.tick_ms),
            "counts": (dict(self.offsets), dict(self.counters))})
        return buf.getvalue()

    @classmethod
    def restore(cls, setup: ReplaySetup, blob: bytes) -> "Replayer":
        """The replay :meth:`snapshot` saw, on ``setup`` (the one it was taken on)."""
        objects = dict(_shared_objects(setup))
        unpickler = pickle.Unpickler(io.BytesIO(blob))
        unpickler.persistent_load = objects.__getitem__  # type: ignore[assignment]
        state = unpickler.load()
        wm, next_tick, tick_ms = state["clock"]
        self = cls(setup, wm, tick_ms)
        self.detectors, stages, self.active = state["detection"]
        for name, stage in stages.items():   # (the validators hold no state: kept)
            self.steps[name].detection = stage
        self.engine.restore(state["engine"])
        if self.board is not None and state["board"] is not None:
            self.board.board.restore(state["board"])  # type: ignore[attr-defined]
        self._wm, self._next_tick = wm, next_tick
        offsets, counters = state["counts"]
        self.offsets, self.counters = Counter(offsets), Counter(counters)
        return self

    # -- inputs -----------------------------------------------------------------------------
    def feed(self, stream: str, events: Sequence[Mapping[str, Any]] | Sequence[bytes],
             times: Sequence[int] | None = None) -> list[OutRecord]:
        """Events of one stream in event-time order, none in a tick interval already
        closed (before the last boundary ticked); ``times``: their event times in ms when
        the caller has them (else read from ``event_time``; required when the events are
        their JSON bodies as bytes, which are fed as they are, byte for byte the messages
        the same events as dicts would make). The events of each tick
        interval ``[b - tick_ms, b)`` are processed after the ticks up to ``b - tick_ms``,
        with ``now = b`` (the worker takes about a second of a stream per batch and reads
        its clock after), and before the tick at ``b``. Other streams' events of the same
        interval may follow: an interval closes when a later one is fed or advanced to."""
        step = self.steps.get(stream)
        if step is None:
            raise ReplayError("unknown_stream", f"{stream!r} is not one of {INPUT_STREAMS}")
        if not events:
            return []
        if times is None and isinstance(events[0], bytes):
            raise ReplayError("missing_times", "events given as JSON bytes need their times")
        ts = list(times) if times is not None else \
            [_time(cast(Mapping[str, Any], e)) for e in events]
        tick = self.tick_ms
        opened = self._next_tick - tick
        if ts[0] < opened:
            raise ReplayError("out_of_order", f"{stream} event at {ts[0]} is in a tick "
                                              f"interval already closed (at {opened})")
        back = next((b for a, b in zip(ts, ts[1:]) if b < a), None)
        if back is not None:   # (checked before anything is processed: all or nothing)
            raise ReplayError("out_of_order", f"{stream} events not in event-time order "
                                              f"at {back}")
        out: list[OutRecord] = []
        i, n = 0, len(events)
        while i < n:
            k = ts[i] // tick
            j = i + 1
            while j < n and ts[j] // tick == k:
                j += 1
            out += self.advance(k * tick)
            now = (k + 1) * tick
            self._wm = max(self._wm, now)
            out += self._process(step, events[i:j], now)
            i = j
        return out

    def advance(self, until_ms: int) -> list[OutRecord]:
        """Tick at every boundary up to ``until_ms`` (no input); the watermark moves there."""
        out: list[OutRecord] = []
        while self._next_tick <= until_ms:
            at = self._next_tick
            self._wm = max(self._wm, at)
            out += self._tick(at)
            self._next_tick += self.tick_ms
        self._wm = max(self._wm, until_ms)
        return out

    def command(self, values: Sequence[bytes]) -> list[OutRecord]:
        """Operator commands at the watermark (the alerting agent's ``commands`` path)."""
        now = self._wm
        if self.board is not None:
            res, made, refused = self.board.commands(values, now, format_event_time(now))
        else:
            res, refused = apply_commands(self.engine.command, values, now,
                                          self.engine.counters)
            made = None
        return stamped(now, output_records(res, now, made) +
                       self._refused("commands", values, refused, now))

    # -- the worker's stages ----------------------------------------------------------------
    def _process(self, step: StreamStep, events: Sequence[Mapping[str, Any]] | Sequence[bytes],
                 now: int) -> list[OutRecord]:
        stream = step.stream
        msgs = []
        raw = bool(events) and isinstance(events[0], bytes)   # bodies as stored: no re-encoding
        for a in range(0, len(events), MESSAGE_EVENTS):
            chunk = list(events[a:a + MESSAGE_EVENTS])
            msgs.append(RawMessage(stream, 0, self.offsets[stream],
                                   join_batch(cast(list[bytes], chunk)) if raw else
                                   encode_batch(cast(list[dict[str, Any]], chunk))))
            self.offsets[stream] += 1
        result = step.process_safely(msgs, now)
        if self.on_events is not None and result.events:
            self.on_events(stream, result.events, now)
        self.counters["events"] += len(result.events)
        self.counters["dead"] += len(result.dead)
        alerts = [orjson.dumps(a) for a in result.alerts]
        pub: list[Published] = [("alerts", a["fingerprint"].encode(), v, ())
                                for a, v in zip(result.alerts, alerts)]
        pub += dead_letter_records(result.dead, self.setup.limits.max_message_bytes)
        pub += self._alerts(alerts, now)
        forwards = [orjson.dumps({"stream": stream, "event": e})
                    for e, _, _ in result.events if forwarded(stream, e.get("type"))]
        if forwards:
            pub += self._dispatch(forwards, now)
        return stamped(now, pub)

    def _alerts(self, values: list[bytes], now: int) -> list[Published]:
        """The alerting agent's ``alerts`` path (undecodable alerts are the sink's)."""
        if not values:
            return []
        res, refused = apply_records(self.engine.alerts, values, now, self.engine.counters,
                                     keep_undecodable=False)
        made = self.board.after(res) if self.board is not None else None
        return output_records(res, now, made) + self._refused("alerts", values, refused, now)

    def _dispatch(self, values: list[bytes], now: int) -> list[Published]:
        """The alerting agent's ``dispatch_events`` path."""
        made: BoardOut | None
        if self.board is not None:
            res, made, refused = self.board.events(self.engine.dispatch, values, now)
        else:
            res, refused = apply_records(self.engine.dispatch, values, now,
                                         self.engine.counters)
            made = None
        return output_records(res, now, made) + \
            self._refused("dispatch_events", values, refused, now)

    def _tick(self, at: int) -> list[OutRecord]:
        """The worker's timers at boundary ``at``: the detectors' tick (its alerts taken by
        the engine), then the alerting tick."""
        s = self.setup
        alerts = tick_alerts(self.detectors, list(self.steps.values()), self.active,
                             s.profile, at, s.alert_ttl_ms)
        values = [orjson.dumps(a) for a in alerts]
        pub: list[Published] = [("alerts", a["fingerprint"].encode(), v, ())
                                for a, v in zip(alerts, values)]
        pub += self._alerts(values, at)
        if at % s.alerting_tick_ms == 0:
            pub += self._alerting_tick(at)
        return stamped(at, pub)

    def _alerting_tick(self, at: int) -> list[Published]:
        """The alerting timer: the engine's tick, the board's, then delivery."""
        res: Output = self.engine.tick(at)
        made = self.board.tick(res, at) if self.board is not None else None
        return output_records(res, at, made) + \
            [notification_record(r) for r in deliver(self.engine.outbox, at)]

    def _refused(self, topic: str, values: Sequence[bytes | None], refused: list[Refusal],
                 now: int) -> list[Published]:
        """Dead letters of the records the alerting stage refused (original bytes)."""
        if not refused:
            return []
        base = self.offsets[topic]
        self.offsets[topic] += len(values)
        return dead_letter_records(
            [dead_letter(Origin(topic, 0, base + r.index), r.code, r.field, r.reason,
                         values[r.index] or b"", now, r.ident) for r in refused],
            self.setup.limits.max_message_bytes)


def _shared_objects(setup: ReplaySetup) -> list[tuple[str, Any]]:
    """The setup's parts a snapshot refers to by name (they never change)."""
    return [("profile", setup.profile), ("policy", setup.policy)]


def _time(event: Mapping[str, Any]) -> int:
    return parse_event_time(event["event_time"])
