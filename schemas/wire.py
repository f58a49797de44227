"""The wire format of input topics: one JSON event, or a batch ``{"events": [...]}``.

A producer that already batches (a sensor gateway, a vehicle-tracking platform) sends many
events in one message: Kafka then carries a city at a fraction of the per-message cost.
Validation stays per event: one bad reading never rejects its neighbours.
"""

from __future__ import annotations

from typing import Any

import orjson

from . import errors as E
from .errors import ValidationError
from .jsonin import decode

BATCH_KEY = "events"


def decode_message(raw: bytes | None, *, max_message_bytes: int,
                   max_batch_events: int) -> tuple[list[Any], bool]:
    """Bytes of one message -> (the event objects it carries, whether it was a batch)."""
    if raw is None:
        raise ValidationError(E.NOT_OBJECT, "", "message has no value (tombstone)")
    if len(raw) > max_message_bytes:
        raise ValidationError(E.TOO_LARGE, "", f"message of {len(raw)} bytes exceeds the "
                              f"limit of {max_message_bytes}")
    doc = decode(raw)   # malformed_json, too_deep, duplicate_key
    if not isinstance(doc, dict):
        raise ValidationError(E.NOT_OBJECT, "", f"message must be a JSON object, got "
                              f"{type(doc).__name__}")
    if BATCH_KEY not in doc:
        return [doc], False
    events = doc[BATCH_KEY]
    if len(doc) != 1:
        raise ValidationError(E.UNKNOWN_FIELD, sorted(k for k in doc if k != BATCH_KEY)[0],
                              "a batch message has only the 'events' field")
    if not isinstance(events, list):
        raise ValidationError(E.WRONG_TYPE, BATCH_KEY, "must be a list of events")
    if len(events) > max_batch_events:
        raise ValidationError(E.BATCH_TOO_LARGE, BATCH_KEY, f"{len(events)} events exceed the "
                              f"limit of {max_batch_events} per message")
    return events, True


def encode_batch(events: list[dict[str, Any]]) -> bytes:
    """The inverse of :func:`decode_message` for producers (simulator, replay)."""
    return orjson.dumps({BATCH_KEY: events})


def join_batch(bodies: list[bytes]) -> bytes:
    """:func:`encode_batch` of events already encoded one by one with :func:`encode_event`
    (a replay's bodies from the warehouse): the same bytes, without decoding them first."""
    return b'{"' + BATCH_KEY.encode() + b'":[' + b",".join(bodies) + b"]}"


def encode_event(event: dict[str, Any]) -> bytes:
    return orjson.dumps(event)
