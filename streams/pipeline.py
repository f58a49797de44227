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
from detectors.limits import HIGH, LimitDetector, Transition, levels_from_profile
from schemas import errors as E
from schemas.catalog import MEASUREMENTS, STREAMS
from schemas.errors import ValidationError
from schemas.records import Origin, dead_letter, make_alert
from schemas.validate import EventValidator, Policy, format_event_time
from schemas.wire import decode_message


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


class StreamStep:
    """Stateful (detector state) but pure processor for one input stream."""

    def __init__(self, stream: str, profile: CityProfile, policy: Policy,
                 limits: Limits = Limits()) -> None:
        if stream not in STREAMS:
            raise ValueError(f"unknown stream {stream!r}")
        self.stream = stream
        self.profile = profile
        self.validator = EventValidator(stream, policy)
        self.limits = limits
        self.measured = any(t.measured for t in STREAMS[stream].types.values())
        self._levels = levels_from_profile(profile.limits)
        # Detector state is per source partition, so it moves with the partition on a
        # rebalance and is checkpointed per partition (see streams.app).
        self.detectors: dict[int, LimitDetector] = {}
        self.dirty: set[int] = set()
        self._districts = {d.code: d for d in profile.districts}

    def detector(self, partition: int) -> LimitDetector:
        det = self.detectors.get(partition)
        if det is None:
            det = self.detectors[partition] = LimitDetector(self._levels)
        return det

    def process(self, messages: Sequence[RawMessage], now_ms: int) -> StepResult:
        result = StepResult()
        for msg in messages:
            self._decode_validate(msg, now_ms, result)
        self._enrich(result.events)
        if self.measured and result.events:
            self._detect(result, now_ms)
        return result

    def process_safely(self, messages: Sequence[RawMessage], now_ms: int) -> StepResult:
        """:meth:`process`, but a bug in it dead-letters the batch instead of stopping the
        stream: the original bytes are kept (code ``internal_error``) and can be replayed."""
        try:
            return self.process(messages, now_ms)
        except Exception as exc:  # noqa: BLE001 - any bug; logged by the caller's handler
            log.exception("%s: processing %d messages failed", self.stream, len(messages))
            reason = f"{type(exc).__name__}: {exc}"[:500]
            return StepResult(dead=[dead_letter(Origin(m.topic, m.partition, m.offset),
                                                INTERNAL_ERROR, "", reason, m.value or b"",
                                                now_ms) for m in messages])

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
        validate = self.validator.validate
        max_event = self.limits.max_event_bytes
        for i, item in enumerate(items):
            origin = whole if single else Origin(msg.topic, msg.partition, msg.offset, i)
            try:
                size = len(msg.value) if single else len(orjson.dumps(item))  # type: ignore
                if size > max_event:
                    raise ValidationError(E.TOO_LARGE, "", f"event of {size} bytes exceeds "
                                          f"the limit of {max_event}")
                event, ts_ms = validate(item, now_ms)
            except ValidationError as exc:
                raw = msg.value if single else orjson.dumps(item)
                eid = item.get("event_id", "") if isinstance(item, dict) else ""
                result.dead.append(dead_letter(origin, exc.code, exc.field, exc.reason,
                                               raw or b"", now_ms, str(eid)[:128]))
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

    def _detect(self, result: StepResult, now_ms: int) -> None:
        by_partition: dict[int, list[tuple[dict[str, Any], int, Origin]]] = {}
        for r in result.events:
            if "kind" in r[0]:
                by_partition.setdefault(r[2].partition, []).append(r)
        detected_at = format_event_time(now_ms)
        for partition, rows in by_partition.items():
            rows.sort(key=lambda r: r[1])  # event-time order; the sort is stable per entity
            transitions = self.detector(partition).update(
                [r[0]["entity_id"] for r in rows], [r[0]["kind"] for r in rows],
                np.fromiter((r[0]["value"] for r in rows), dtype=np.float64,
                            count=len(rows)))
            if transitions:
                self.dirty.add(partition)
            for t in transitions:
                result.alerts.append(self._limit_alert(t, rows[t.index][0], detected_at))

    def _limit_alert(self, t: Transition, event: dict[str, Any], detected_at: str) \
            -> dict[str, Any]:
        m = MEASUREMENTS[t.kind]
        district = self._districts.get(event.get("district", ""))
        above = t.side == HIGH
        return make_alert(
            detector="limit", kind=f"{t.kind}_{t.side}", status=t.status, severity=t.severity,
            stream=self.stream, entity_id=t.entity_id, district=event.get("district", ""),
            district_zh=district.zh if district else "", district_en=district.en if district
            else "", lat=event.get("lat"), lon=event.get("lon"),
            event_time=event["event_time"], value=t.value, threshold=t.threshold,
            unit=m.unit, title_zh=m.zh + ("超限" if above else "过低"),
            title_en=f"{m.en} {'above' if above else 'below'} alarm level",
            evidence=[event["event_id"]], detected_at=detected_at)
