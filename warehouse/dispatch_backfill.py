"""The dispatch picture a cockpit needs at start, read from ``dispatch_log`` (FINAL).

Why: the cockpit's feed starts a fixed number of records back on the ``dispatch`` topic,
so a unit that changed status hours ago, or the package of an incident opened before the
backfill, would be missing after a cockpit restart (and a broker that restarted empty
leaves no backfill at all). Read: every unit's latest status and latest stale-position
record, and every record of the incidents still open (pre-emption requests left out: one
per intersection, the cockpit only counts them), in time order, as records of the topic's
form (:func:`warehouse.dispatch_rows.dispatch_row` inverted).
"""

from __future__ import annotations

from typing import Any

from clickhouse_driver import Client

from schemas.validate import format_event_time

from .queries import decoded_records
from .rows import DISPATCH_LOG_COLUMNS

_COLS = [c for c in DISPATCH_LOG_COLUMNS if c != "at"]
_OPEN = ("SELECT incident_id FROM incident_events FINAL GROUP BY incident_id "
         "HAVING countIf(kind IN ('resolved', 'merged_into')) = 0 "
         "ORDER BY max(at_ms) DESC LIMIT %(limit)s")


def _records(rows: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    out = []
    for row in rows:
        rec = dict(zip(_COLS, row))
        payload = decoded_records([rec["payload"]], "dispatch_log")
        rec["payload"] = payload[0] if payload else {}
        rec["at"] = format_event_time(int(rec["at_ms"]))
        out.append(rec)
    return out


def unit_latest(client: Client) -> list[dict[str, Any]]:
    """Each unit's latest ``unit_status`` and latest ``unit_stale`` record."""
    return _records(client.execute(
        f"SELECT {', '.join(_COLS)} FROM dispatch_log FINAL "
        "WHERE kind IN ('unit_status', 'unit_stale') AND unit_id != '' "
        "ORDER BY at_ms DESC, record_id DESC LIMIT 1 BY unit_id, kind"))


def open_incident_records(client: Client, *, limit: int = 1000) -> list[dict[str, Any]]:
    """Every record (but pre-emption requests) of the ``limit`` most recently active open
    incidents, by time."""
    return _records(client.execute(
        f"SELECT {', '.join(_COLS)} FROM dispatch_log FINAL "
        f"WHERE kind != 'preemption_request' AND incident_id IN ({_OPEN}) "
        "ORDER BY at_ms, record_id", {"limit": int(limit)}))


def dispatch_history(client: Client, *, limit: int = 1000) -> list[dict[str, Any]]:
    """Both, merged in time order (a record in both once)."""
    seen: dict[str, dict[str, Any]] = {}
    for rec in open_incident_records(client, limit=limit) + unit_latest(client):
        seen.setdefault(rec["record_id"], rec)
    return sorted(seen.values(), key=lambda r: (r["at_ms"], r["record_id"]))
