"""Pure row builder of the ``dispatch_log`` table (``migrations/0008_dispatch_log.sql``)
from a dispatch record (:mod:`dispatch.board`, topic ``dispatch``)."""

from __future__ import annotations

from typing import Any, Mapping

import orjson

from .rows import DISPATCH_LOG_COLUMNS, Row

MAX_TEXT = 200
# Not stored: a batch of unit positions (dispatch.positions) is a live view for the cockpit,
# derived from GPS fixes that the warehouse already keeps one row each (events_ems,
# events_fire); at city-1x it would add a ~100 KB payload every few seconds.
SKIPPED_KINDS = frozenset({"unit_positions"})


def _text(value: Any) -> str:
    return (value if isinstance(value, str) else "" if value is None else str(value))[:MAX_TEXT]


def dispatch_row(record: Mapping[str, Any]) -> Row | None:
    """A dispatch record -> row (KeyError without ``record_id``/``kind``/``at_ms``); None for
    a kind the log does not keep (:data:`SKIPPED_KINDS`)."""
    if record.get("kind") in SKIPPED_KINDS:
        return None
    at_ms = int(record["at_ms"])
    if at_ms < 0 or not _text(record["record_id"]) or not _text(record["kind"]):
        raise KeyError("record_id, kind and a non-negative at_ms are required")
    payload = record.get("payload")
    row: Row = {"record_id": _text(record["record_id"]), "kind": _text(record["kind"]),
                "at": at_ms // 1000, "at_ms": at_ms,
                "incident_id": _text(record.get("incident_id")),
                "unit_id": _text(record.get("unit_id")), "actor": _text(record.get("actor")),
                "payload": orjson.dumps(payload if isinstance(payload, dict) else {},
                                        option=orjson.OPT_SORT_KEYS).decode()}
    return {c: row[c] for c in DISPATCH_LOG_COLUMNS}
