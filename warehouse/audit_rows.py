"""Pure row builders of the ``command_audit`` table (``migrations/0007_command_audit.sql``):
the cockpit's audit records (``cockpit_api.audit.audit_record``, topic ``audit``) and the
worker's answers to commands (topic ``command_results``), joined by ``command_id``."""

from __future__ import annotations

from typing import Any, Mapping

from schemas.records import stable_id
from schemas.validate import parse_event_time

from .rows import COMMAND_AUDIT_COLUMNS, Row

MAX_TEXT = 2000
_TEXT = ("source", "user", "role", "agency", "action", "target", "command_id", "result",
         "code", "field", "reason", "remote", "session", "command")


def _text(value: Any) -> str:
    return (value if isinstance(value, str) else "" if value is None else str(value))[:MAX_TEXT]


def audit_row(record: Mapping[str, Any]) -> Row:
    """A cockpit audit record -> row (KeyError without ``audit_id``/``at_ms``)."""
    at_ms = max(int(record["at_ms"]), 0)
    row: Row = {k: _text(record.get(k)) for k in _TEXT}
    districts = record.get("districts")
    row.update(audit_id=_text(record["audit_id"]), at=at_ms // 1000, at_ms=at_ms,
               source=row["source"] or "cockpit",
               districts=[_text(d) for d in districts] if isinstance(districts, list) else [])
    if not row["audit_id"]:
        raise KeyError("audit_id")
    return {c: row[c] for c in COMMAND_AUDIT_COLUMNS}


def command_result_row(result: Mapping[str, Any]) -> Row:
    """The worker's answer to a command -> row: ``applied``, ``duplicate`` (a command id
    already applied: nothing changed) or ``refused`` with the worker's code; the same answer
    delivered twice is one row."""
    cid = _text(result["command_id"])
    at_ms = max(parse_event_time(result["at"]), 0)
    outcome = ("duplicate" if result.get("duplicate") is True else "applied") \
        if result.get("ok") is True else "refused"
    row: Row = dict.fromkeys(_TEXT, "")
    row.update(audit_id=stable_id("result", cid, at_ms, outcome, result.get("code", "")),
               at=at_ms // 1000, at_ms=at_ms, source="worker", districts=[],
               command_id=cid, result=outcome, code=_text(result.get("code")),
               field=_text(result.get("field")), reason=_text(result.get("reason")))
    return {c: row[c] for c in COMMAND_AUDIT_COLUMNS}
