"""Derived records: alerts and dead letters. Their ids are deterministic, so a record
produced twice (a worker restarted mid-batch) is the same record and sinks dedup it."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

SEVERITIES = ("critical", "major", "minor", "info")
ALERT_STATUSES = ("firing", "resolved")

# The fields of an alert message, in order (documented for outside consumers).
ALERT_FIELDS = (
    "alert_id", "fingerprint", "status", "severity", "detector", "kind", "stream",
    "entity_id", "district", "district_zh", "district_en", "lat", "lon", "event_time",
    "value", "threshold", "unit", "title_zh", "title_en", "evidence", "detected_at",
    "explanation",
)
# Optional fields, present only when set: ``ends_at`` (ISO time: the alert resolves unless
# re-asserted by then, Alertmanager's endsAt) and ``reasserted`` (true: a firing alert
# repeated by its detector to keep it alive, not a state change).
ALERT_OPTIONAL_FIELDS = ("ends_at", "reasserted")


def stable_id(*parts: object) -> str:
    """A short deterministic id from the parts (same parts, same id, in every process)."""
    # each part's text and a 0x1f after it, hashed as one buffer (a call per part costs
    # more than the hash: ids are made several times per alert update)
    text = "\x1f".join(map(str, parts)) + "\x1f" if parts else ""
    return hashlib.blake2b(text.encode(), digest_size=10).hexdigest()


def fingerprint(detector: str, kind: str, entity_id: str) -> str:
    """Identity of an alert across repeats: the labels that say *what* is wrong *where*."""
    return stable_id("fp", detector, kind, entity_id)


@dataclass(frozen=True)
class Origin:
    """Where a record was read from; ``index`` is its position in a batch message (-1: whole)."""

    topic: str
    partition: int
    offset: int
    index: int = -1


def dead_letter(origin: Origin, code: str, field: str, reason: str, raw: bytes,
                received_ms: int, event_id: str = "") -> dict[str, Any]:
    """A dead-letter record; ``raw`` is the original bytes (the batch item's JSON for items)."""
    return {
        "dl_id": stable_id("dl", origin.topic, origin.partition, origin.offset, origin.index),
        "source_topic": origin.topic, "source_partition": origin.partition,
        "source_offset": origin.offset, "batch_index": origin.index,
        "code": code, "field": field, "reason": reason, "event_id": event_id,
        "received_ms": received_ms, "raw": raw,
    }


def dead_letter_headers(record: dict[str, Any]) -> list[tuple[str, bytes]]:
    """Kafka headers carrying a dead letter's reason and origin beside its original bytes."""
    keys = ("dl_id", "source_topic", "source_partition", "source_offset", "batch_index",
            "code", "field", "reason", "event_id", "received_ms")
    return [(f"citycc-{k.replace('_', '-')}", str(record[k]).encode()) for k in keys]


def dead_letter_from_headers(value: bytes, headers: list[tuple[str, bytes]]) -> dict[str, Any]:
    """Inverse of :func:`dead_letter_headers` (used by the dead-letter sink)."""
    h = {k.removeprefix("citycc-").replace("-", "_"): v.decode("utf-8", "replace")
         for k, v in headers if k.startswith("citycc-")}
    ints = ("source_partition", "source_offset", "batch_index", "received_ms")
    record: dict[str, Any] = {k: h.get(k, "") for k in (
        "dl_id", "source_topic", "code", "field", "reason", "event_id")}
    for k in ints:
        try:
            record[k] = int(h.get(k, "-1"))
        except ValueError:
            record[k] = -1
    if not record["dl_id"]:
        record["dl_id"] = stable_id("dl-nohdr", value)
    record["raw"] = value
    return record


def make_alert(*, detector: str, kind: str, status: str, severity: str, stream: str,
               entity_id: str, district: str, district_zh: str, district_en: str,
               lat: float | None, lon: float | None, event_time: str, value: float,
               threshold: float, unit: str, title_zh: str, title_en: str,
               evidence: list[str], detected_at: str,
               explanation: dict[str, Any] | None = None, ends_at: str | None = None,
               reasserted: bool = False) -> dict[str, Any]:
    """An alert state message. ``alert_id`` is stable for the same state change (a
    re-assertion keeps the id of the firing it repeats).

    ``explanation`` says what the value was measured against (baseline, deviation, window,
    counts); it is shown to dispatchers and stored with the alert. ``ends_at``: see
    :data:`ALERT_OPTIONAL_FIELDS`.
    """
    if status not in ALERT_STATUSES or severity not in SEVERITIES:
        raise ValueError(f"bad alert status/severity: {status!r}/{severity!r}")
    fp = fingerprint(detector, kind, entity_id)
    alert = {
        "alert_id": stable_id("alert", fp, status, *evidence), "fingerprint": fp,
        "status": status, "severity": severity, "detector": detector, "kind": kind,
        "stream": stream, "entity_id": entity_id, "district": district,
        "district_zh": district_zh, "district_en": district_en, "lat": lat, "lon": lon,
        "event_time": event_time, "value": value, "threshold": threshold, "unit": unit,
        "title_zh": title_zh, "title_en": title_en, "evidence": evidence,
        "detected_at": detected_at, "explanation": explanation or {},
    }
    if ends_at is not None:
        alert["ends_at"] = ends_at
    if reasserted:
        alert["reasserted"] = True
    return alert
