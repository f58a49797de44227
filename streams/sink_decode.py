"""The sinks' decoders: JSON records of the worker's own topics -> ClickHouse rows.

Each record is decoded through ``schemas.jsonin`` (``too_deep``, ``duplicate_key``,
``malformed_json``) and made a row on its own: a record that cannot be one (a field of the
wrong type, a missing id, a bug it sets off) is dead-lettered with its bytes (code
``bad_<table>``, or the decoder's), and the rest of the batch is stored. What ClickHouse
keeps has passed the same door as everything else, so the histories read back from it (the
cockpit's, the engine's rebuild) hold nothing the door refuses; an incident event's
``payload_json`` is checked the same way.
"""

from __future__ import annotations

from typing import Any, Callable, Protocol

from schemas.errors import ValidationError
from schemas.jsonin import decode
from schemas.records import Origin, dead_letter, dead_letter_from_headers
from warehouse.audit_rows import audit_row, command_result_row
from warehouse.dispatch_rows import dispatch_row
from warehouse.rows import (alert_event_row, alert_row, dead_letter_row, incident_event_row,
                            notification_row, silence_event_row, to_columns)

ALERTS_TABLE = "alerts"
DEAD_LETTERS_TABLE = "dead_letters"
AUDIT_TABLE = "command_audit"   # the cockpit's audit records and the worker's answers
# the worker's own JSON topics and the table each is sunk into, by which row builder
JSON_SINKS: tuple[tuple[str, str, Callable[[Any], dict[str, Any] | None]], ...] = (
    ("alert_events", "alert_events", alert_event_row),
    ("incident_events", "incident_events", incident_event_row),
    ("notifications", "notifications", notification_row),
    ("silence_events", "silence_events", silence_event_row),
    ("audit", AUDIT_TABLE, audit_row),
    ("command_results", AUDIT_TABLE, command_result_row),
    ("dispatch", "dispatch_log", dispatch_row))
Decoded = tuple[list[tuple[str, dict[str, list[Any]]]], list[dict[str, Any]]]


class Message(Protocol):
    topic: str
    partition: int
    offset: int
    value: bytes | None


def _rows(msgs: list[Message], table: str, now: int, code: str,
          to_row: Callable[[Any], dict[str, Any] | None],
          check: Callable[[Any], None] = lambda obj: None) -> Decoded:
    rows, dead = [], []
    for m in msgs:
        origin = Origin(m.topic, m.partition, m.offset)
        try:
            obj = decode(m.value or b"")
            check(obj)
        except ValidationError as exc:
            dead.append(dead_letter(origin, exc.code, exc.field, exc.reason, m.value or b"",
                                    now))
            continue
        try:
            row = to_row(obj)
        except Exception as exc:  # noqa: BLE001 - any reason this record is not a row
            dead.append(dead_letter(origin, code, "", f"{type(exc).__name__}: {exc}"[:300],
                                    m.value or b"", now))
            continue
        if row is not None:
            rows.append(row)
    return [(table, to_columns(table, rows))], dead


def _alert(obj: Any) -> dict[str, Any] | None:
    if not isinstance(obj, dict) or "alert_id" not in obj:
        raise ValueError("not an alert object")
    if obj.get("reasserted") is True:
        return None   # a repeat, not a state change (its end is in alert_events)
    return alert_row(obj)


def decode_alerts(msgs: list[Message], now: int) -> Decoded:
    """Detector alerts (the ``alerts`` topic) -> rows of the alerts table."""
    return _rows(msgs, ALERTS_TABLE, now, "bad_alert", _alert)


def _payload(obj: Any) -> None:
    if isinstance(obj, dict):
        decode(obj.get("payload_json") or "{}", field="payload_json")


def json_decoder(table: str, to_row: Callable[[Any], dict[str, Any] | None]
                 ) -> Callable[[list[Message], int], Decoded]:
    """Decode JSON records of ``table``; a record that is not one is dead-lettered (one
    ``to_row`` maps to None is deliberately not stored)."""
    check = _payload if table == "incident_events" else (lambda obj: None)

    def decode_table(msgs: list[Message], now: int) -> Decoded:
        return _rows(msgs, table, now, f"bad_{table}", to_row, check)
    return decode_table


def decode_dead(msgs: list[Any], now: int) -> Decoded:
    """Dead letters (the ``deadletter`` topic: original bytes, metadata in headers) ->
    rows of the dead_letters table."""
    records = [dead_letter_from_headers(m.value or b"", m.headers) for m in msgs]
    rows = [dead_letter_row(r) for r in records]
    return [(DEAD_LETTERS_TABLE, to_columns(DEAD_LETTERS_TABLE, rows))], []


def topic_decoders() -> dict[str, Callable[[list[Any], int], Decoded]]:
    """Every topic the worker sinks -> its decoder (the sink agents' and replay's)."""
    return {"alerts": decode_alerts, "deadletter": decode_dead,
            **{name: json_decoder(table, to_row) for name, table, to_row in JSON_SINKS}}
