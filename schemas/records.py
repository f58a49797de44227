"""Derived records: alerts and dead letters. Their ids are deterministic, so a record
produced twice (a worker restarted mid-batch) is the same record and sinks dedup it."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from .errors import TOO_LARGE

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


# Longest text a dead letter carries in each header (characters): a reason, a field name
# or an event id taken from a bad input can be as long as the input, and a dead letter must
# fit the topic however big its original was (schemas.topics.HEADROOM_BYTES).
FIELD_MAX_CHARS = 256
REASON_MAX_CHARS = 500
EVENT_ID_MAX_CHARS = 128


def dead_letter(origin: Origin, code: str, field: str, reason: str, raw: bytes,
                received_ms: int, event_id: str = "") -> dict[str, Any]:
    """A dead-letter record; ``raw`` is the original bytes (the batch item's JSON for items).

    ``raw_size`` and ``raw_sha256`` describe the original even when :func:`fit_dead_letter`
    later keeps only a prefix of it."""
    return {
        "dl_id": stable_id("dl", origin.topic, origin.partition, origin.offset, origin.index),
        "source_topic": origin.topic, "source_partition": origin.partition,
        "source_offset": origin.offset, "batch_index": origin.index,
        "code": code, "field": field[:FIELD_MAX_CHARS], "reason": reason[:REASON_MAX_CHARS],
        "event_id": event_id[:EVENT_ID_MAX_CHARS], "received_ms": received_ms, "raw": raw,
        "raw_size": len(raw), "raw_sha256": hashlib.sha256(raw).hexdigest(),
    }


def fit_dead_letter(record: dict[str, Any], max_raw_bytes: int,
                    prefix_bytes: int) -> dict[str, Any]:
    """``record`` as it may travel: an original of more than ``max_raw_bytes`` is cut to its
    first ``prefix_bytes`` (its size and sha256 stay in the record) with code ``too_large``;
    the code it had is kept in the reason. A record that fits is returned as it is."""
    raw = record.get("raw")
    if not isinstance(raw, bytes) or len(raw) <= max_raw_bytes:
        return record
    fitted = dict(record)
    size = len(raw)
    fitted["raw"] = raw[:prefix_bytes]
    fitted["raw_size"] = size
    if not fitted.get("raw_sha256"):   # dead_letter() has hashed it already
        fitted["raw_sha256"] = hashlib.sha256(raw).hexdigest()
    fitted["code"] = TOO_LARGE
    was = "" if record.get("code") == TOO_LARGE else f" (was {record.get('code')})"
    fitted["reason"] = (f"original of {size} bytes exceeds the dead-letter limit of "
                        f"{max_raw_bytes}: first {len(fitted['raw'])} bytes kept{was}; "
                        f"{record.get('reason', '')}")[:REASON_MAX_CHARS]
    return fitted


_HEADER_KEYS = ("dl_id", "source_topic", "source_partition", "source_offset", "batch_index",
                "code", "field", "reason", "event_id", "received_ms", "raw_size",
                "raw_sha256")


def dead_letter_headers(record: dict[str, Any]) -> list[tuple[str, bytes]]:
    """Kafka headers carrying a dead letter's reason and origin beside its original bytes."""
    return [(f"citycc-{k.replace('_', '-')}", str(record.get(k, "")).encode())
            for k in _HEADER_KEYS]


def dead_letter_from_headers(value: bytes, headers: list[tuple[str, bytes]]) -> dict[str, Any]:
    """Inverse of :func:`dead_letter_headers` (used by the dead-letter sink). A dead letter
    without size headers (written before they existed) carried its original whole."""
    h = {k.removeprefix("citycc-").replace("-", "_"): v.decode("utf-8", "replace")
         for k, v in headers if k.startswith("citycc-")}
    ints = ("source_partition", "source_offset", "batch_index", "received_ms", "raw_size")
    record: dict[str, Any] = {k: h.get(k, "") for k in (
        "dl_id", "source_topic", "code", "field", "reason", "event_id", "raw_sha256")}
    for k in ints:
        try:
            record[k] = int(h.get(k, "-1"))
        except ValueError:
            record[k] = -1
    if not record["dl_id"]:
        record["dl_id"] = stable_id("dl-nohdr", value)
    if record["raw_size"] < 0 or not record["raw_sha256"]:
        record["raw_size"] = len(value)
        record["raw_sha256"] = hashlib.sha256(value).hexdigest()
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
