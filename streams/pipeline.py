"""The processing step of one input stream as a plain function over messages.

decode -> validate (per event) -> enrich (district) -> detect -> alerts. The Faust agents,
the tests, the benchmarks and replay all run this same code; it does no I/O and reads no
clock (``now_ms`` is passed in).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import orjson

from city.profile import CityProfile
from detectors.findings import EventDetector
from detectors.reassert import Reasserter
from detectors.plan import PartitionDetector
from schemas import errors as E
from schemas.catalog import STREAMS
from schemas.errors import ValidationError
from schemas.records import Origin, dead_letter
from schemas.validate import EventValidator, Policy
from schemas.wire import decode_message
from streams.alerting_bridge import finding_alert
from streams.detection import DetectionStage, unit


log = logging.getLogger(__name__)
INTERNAL_ERROR = "internal_error"


@dataclass(frozen=True)
class RawMessage:
    topic: str
    partition: int
    offset: int
    value: bytes | None


@dataclass(frozen=True)
class Limits:
    """Size limits of the wire format (from Settings)."""

    max_message_bytes: int = 4 * 1024 * 1024
    max_event_bytes: int = 16 * 1024
    max_batch_events: int = 10_000


@dataclass
class StepResult:
    events: list[tuple[dict[str, Any], int, Origin]] = field(default_factory=list)
    dead: list[dict[str, Any]] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    # Rejected batch items that name their entity (for out-of-range-burst detection).
    rejects: list[dict[str, Any]] = field(default_factory=list)

    def extend(self, other: "StepResult") -> None:
        self.events += other.events
        self.dead += other.dead
        self.alerts += other.alerts
        self.rejects += other.rejects


class StreamStep:
    """Stateful (detector state) but pure processor for one input stream."""

    def __init__(self, stream: str, profile: CityProfile, policy: Policy,
                 limits: Limits = Limits(), event_detectors: Sequence[EventDetector] = (),
                 out_of_order_ms: int = 60_000,
                 partition_detectors: Sequence[PartitionDetector] = (),
                 active: Reasserter | None = None, alert_ttl_ms: int | None = None) -> None:
        """``active``: where firing findings are kept for re-assertion; ``alert_ttl_ms``:
        a firing alert's ``ends_at`` is this after it is sent (None: no end)."""
        if stream not in STREAMS:
            raise ValueError(f"unknown stream {stream!r}")
        self.stream = stream
        self.profile = profile
        self.validator = EventValidator(stream, policy)
        self.limits = limits
        self.alert_ttl_ms = alert_ttl_ms
        self.detection = DetectionStage(stream, profile, event_detectors, out_of_order_ms,
                                        partition_detectors, active)

    @property
    def measured(self) -> bool:
        return self.detection.measured

    def process(self, messages: Sequence[RawMessage], now_ms: int) -> StepResult:
        result = StepResult()
        for msg in messages:
            self._read(msg, now_ms, result)
        self._enrich(result.events)
        findings = self.detection.run(result.events, now_ms)
        if result.rejects:
            findings += self.detection.run_rejects(result.rejects, now_ms)
        result.alerts = [finding_alert(f, self.profile, now_ms, self.alert_ttl_ms)
                         for f in findings]
        return result

    def process_safely(self, messages: Sequence[RawMessage], now_ms: int) -> StepResult:
        """:meth:`process`, but a bug never stops the stream, nor costs a message's
        neighbours: a batch that fails is processed again message by message, and only a
        message that fails alone is dead-lettered (code ``internal_error``, its original
        bytes kept, so it can be replayed). (Detector state may hold what the failed run
        saw before it failed; the detectors tolerate seeing those events again.)"""
        try:
            return self.process(messages, now_ms)
        except Exception as exc:  # noqa: BLE001 - any bug; logged here
            if len(messages) == 1:
                log.exception("%s: processing %s[%d]@%d failed", self.stream,
                              messages[0].topic, messages[0].partition, messages[0].offset)
                return StepResult(dead=[self._internal(messages[0], exc, now_ms)])
            log.exception("%s: processing %d messages failed; again one by one", self.stream,
                          len(messages))
        result = StepResult()
        for m in messages:
            result.extend(self.process_safely([m], now_ms))
        return result

    def _internal(self, msg: RawMessage, exc: Exception, now_ms: int) -> dict[str, Any]:
        return dead_letter(Origin(msg.topic, msg.partition, msg.offset), INTERNAL_ERROR, "",
                           f"{type(exc).__name__}: {exc}"[:500], msg.value or b"", now_ms)

    def _read(self, msg: RawMessage, now_ms: int, result: StepResult) -> None:
        """:meth:`_decode_validate` of one message; a bug it sets off takes back what the
        message added and dead-letters the message alone."""
        marks = len(result.events), len(result.dead), len(result.rejects)
        try:
            self._decode_validate(msg, now_ms, result)
        except Exception as exc:  # noqa: BLE001 - a bug: this message only
            log.exception("%s: reading %s[%d]@%d failed", self.stream, msg.topic,
                          msg.partition, msg.offset)
            del result.events[marks[0]:], result.dead[marks[1]:], result.rejects[marks[2]:]
            result.dead.append(self._internal(msg, exc, now_ms))

    def _decode_validate(self, msg: RawMessage, now_ms: int, result: StepResult) -> None:
        whole = Origin(msg.topic, msg.partition, msg.offset)
        try:
            items, batched = decode_message(msg.value, max_message_bytes=self.limits.max_message_bytes,
                                   max_batch_events=self.limits.max_batch_events)
        except ValidationError as exc:
            result.dead.append(dead_letter(whole, exc.code, exc.field, exc.reason,
                                           msg.value or b"", now_ms))
            return
        single = not batched
        whole_size = len(msg.value or b"")
        validate = self.validator.validate
        max_event = self.limits.max_event_bytes
        for i, item in enumerate(items):
            origin = whole if single else Origin(msg.topic, msg.partition, msg.offset, i)
            try:
                # A batch item is no bigger than its message: re-serialise it to measure
                # only when the whole message exceeds the per-event limit (rare).
                size = whole_size if single or whole_size <= max_event else \
                    len(orjson.dumps(item))
                if size > max_event:
                    raise ValidationError(E.TOO_LARGE, "", f"event of {size} bytes exceeds "
                                          f"the limit of {max_event}")
                event, ts_ms = validate(item, now_ms)
            except ValidationError as exc:
                raw = msg.value if single else orjson.dumps(item)
                eid = item.get("event_id", "") if isinstance(item, dict) else ""
                record = dead_letter(origin, exc.code, exc.field, exc.reason, raw or b"",
                                     now_ms, str(eid)[:128])
                result.dead.append(record)
                entity = item.get("entity_id") if isinstance(item, dict) else None
                if isinstance(entity, str) and entity:
                    result.rejects.append({"entity_id": entity[:128], "code": exc.code,
                                           "event_id": record["dl_id"]})
                continue
            result.events.append((event, ts_ms, origin))

    def _enrich(self, events: list[tuple[dict[str, Any], int, Origin]]) -> None:
        """Derive the district from coordinates where the producer did not give one."""
        todo = [e for e, _, _ in events if "district" not in e and "lat" in e]
        if todo:
            codes = self.profile.nearest_districts(np.array([e["lat"] for e in todo]),
                                                   np.array([e["lon"] for e in todo]))
            for e, code in zip(todo, codes):
                e["district"] = code
        for e, _, _ in events:
            e.setdefault("district", "")


def tick_alerts(detectors: Sequence[EventDetector], steps: Sequence[StreamStep],
                active: Reasserter, profile: CityProfile, now_ms: int,
                ttl_ms: int | None) -> list[dict[str, Any]]:
    """What time alone makes the detectors say at ``now_ms`` (NoData, pending calls, a
    window closing) and the re-assertions of firing findings that are due, as alert
    messages in the order they are sent: the shared event detectors (once, whichever
    stream they watch), each stream's per-partition ones, then the re-assertions. The
    worker's 1 s timer calls it with the wall clock, replay with its event-time watermark."""
    findings = []
    for det in detectors:
        found = det.tick(now_ms)
        if found:
            active.observe(unit("", f"det:{det.name}"), found, now_ms)
            findings += found
    findings += [f for step in steps for f in step.detection.tick(now_ms)]
    alerts = [finding_alert(f, profile, now_ms, ttl_ms) for f in findings]
    alerts += [finding_alert(f, profile, now_ms, ttl_ms, reasserted=True)
               for f in active.due(now_ms)]
    return alerts
