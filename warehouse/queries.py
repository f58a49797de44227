"""The project's read queries. All read with FINAL, so re-inserted duplicates count once.

``client`` is a ``clickhouse_driver.Client`` connected to the citycc database
(:func:`warehouse.client.connect`, or ``await warehouse.run(queries.count_events, ...)``).
Time ranges are half-open ``[start_ms, end_ms)`` in epoch milliseconds (UTC).
"""

from __future__ import annotations

import logging
from typing import Any, Iterator

from clickhouse_driver import Client

from schemas.errors import ValidationError
from schemas.jsonin import decode
from schemas.validate import format_event_time

from .rows import (ALERT_COLUMNS, ALERT_EVENT_COLUMNS, DEAD_LETTER_COLUMNS,
                   INCIDENT_EVENT_COLUMNS, table_for_stream)

log = logging.getLogger(__name__)
_BYTES = {"strings_as_bytes": True}


def _where(start_ms: int | None = None, end_ms: int | None = None, district: str | None = None,
           time_col: str = "event_time", ms_col: str = "event_ms",
           **equal: str | None) -> tuple[str, dict[str, Any]]:
    """A WHERE clause and its parameters; the second-resolution bounds prune partitions."""
    terms: list[str] = []
    params: dict[str, Any] = {}
    if start_ms is not None:
        terms.append(f"{time_col} >= %(start_s)s AND {ms_col} >= %(start_ms)s")
        params.update(start_s=start_ms // 1000, start_ms=start_ms)
    if end_ms is not None:
        terms.append(f"{time_col} <= %(end_s)s AND {ms_col} < %(end_ms)s")
        params.update(end_s=end_ms // 1000, end_ms=end_ms)
    for column, value in (("district", district), *equal.items()):
        if value is not None:
            terms.append(f"{column} = %({column})s")
            params[column] = value
    return (" WHERE " + " AND ".join(terms) if terms else ""), params


def count_events(client: Client, stream: str, *, start_ms: int | None = None,
                 end_ms: int | None = None, district: str | None = None,
                 event_type: str | None = None) -> int:
    """Distinct events of ``stream`` (optionally in a time range / district / type)."""
    where, params = _where(start_ms, end_ms, district, type=event_type)
    rows = client.execute(f"SELECT count() FROM {table_for_stream(stream)} FINAL{where}", params)
    return int(rows[0][0])


def event_ids(client: Client, stream: str, *, start_ms: int | None = None,
              end_ms: int | None = None) -> list[str]:
    """Every stored ``event_id`` of ``stream``, sorted (each once)."""
    where, params = _where(start_ms, end_ms)
    rows = client.execute(f"SELECT event_id FROM {table_for_stream(stream)} FINAL{where} "
                          f"ORDER BY event_id", params)
    return [r[0] for r in rows]


def events_between(client: Client, stream: str, start_ms: int, end_ms: int,
                   district: str | None = None) -> list[bytes]:
    """Bodies (canonical event JSON, as bytes) with ``start_ms <= event_ms < end_ms``,
    ordered by event time then ``event_id``: the input of replay."""
    return list(iter_events_between(client, stream, start_ms, end_ms, district))


def iter_events_between(client: Client, stream: str, start_ms: int, end_ms: int,
                        district: str | None = None) -> Iterator[bytes]:
    """Streaming form of :func:`events_between` (holds the client until exhausted)."""
    where, params = _where(start_ms, end_ms, district)
    query = (f"SELECT body FROM {table_for_stream(stream)} FINAL{where} "
             f"ORDER BY event_ms, event_id")
    for (body,) in client.execute_iter(query, params, settings=_BYTES):
        yield body


def alerts(client: Client, *, start_ms: int | None = None, end_ms: int | None = None,
           district: str | None = None, status: str | None = None,
           fingerprint: str | None = None, limit: int = 10_000) -> list[dict[str, Any]]:
    """Alert state changes by event time (oldest first). Times come back in the message's
    ISO form (``event_time``, ``detected_at``) and as ``event_ms``/``detected_ms``."""
    where, params = _where(start_ms, end_ms, district, status=status, fingerprint=fingerprint)
    rows = client.execute(f"SELECT {', '.join(ALERT_COLUMNS)} FROM alerts FINAL{where} "
                          f"ORDER BY event_ms, alert_id LIMIT {int(limit)}", params)
    out = []
    for row in rows:
        record = dict(zip(ALERT_COLUMNS, row))
        record["event_time"] = format_event_time(record["event_ms"])
        record["detected_at"] = format_event_time(record["detected_ms"])
        out.append(record)
    return out


def dead_letters(client: Client, *, source_topic: str | None = None, code: str | None = None,
                 start_ms: int | None = None, end_ms: int | None = None,
                 limit: int = 10_000) -> list[dict[str, Any]]:
    """Dead letters by receive time; ``raw`` is the original bytes, exactly as stored."""
    where, params = _where(start_ms, end_ms, None, "received_at", "received_ms",
                           source_topic=source_topic, code=code)
    rows = client.execute(f"SELECT {', '.join(DEAD_LETTER_COLUMNS)} FROM dead_letters FINAL"
                          f"{where} ORDER BY received_ms, dl_id LIMIT {int(limit)}",
                          params, settings=_BYTES)
    out = []
    for row in rows:
        record = {c: (v.decode("utf-8", "replace") if isinstance(v, bytes) and c != "raw" else v)
                  for c, v in zip(DEAD_LETTER_COLUMNS, row)}
        out.append(record)
    return out


def alert_events(client: Client, *, until_ms: int | None = None,
                 fingerprint: str | None = None) -> list[dict[str, Any]]:
    """Alert lifecycle events (``AlertEvent.to_dict`` form) up to ``until_ms``, in the order
    that rebuilds the book (``AlertBook.from_events``): by fingerprint, occurrence, seq."""
    where, params = _where(None, until_ms, None, "at", "at_ms", fingerprint=fingerprint)
    return _alert_events(client, f"{where} ORDER BY fingerprint, occurrence, seq", params)


def current_alert_events(client: Client, *, limit: int = 2000) -> list[dict[str, Any]]:
    """The events of the current occurrence of every alert not resolved (its last event),
    of the ``limit`` most recently changed ones, by fingerprint, occurrence and seq: the
    alert list a cockpit that starts later than its feed's backfill needs."""
    return _alert_events(
        client, " WHERE (fingerprint, occurrence) IN (SELECT fingerprint, max(occurrence) "
        "FROM alert_events FINAL GROUP BY fingerprint "
        "HAVING argMax(to_state, occurrence * 4294967296 + seq) != 'resolved' "
        "ORDER BY max(at_ms) DESC LIMIT %(limit)s) ORDER BY fingerprint, occurrence, seq",
        {"limit": int(limit)})


def _alert_events(client: Client, tail: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    """``SELECT <event fields> FROM alert_events FINAL<tail>`` as AlertEvent dicts."""
    cols = [c for c in ALERT_EVENT_COLUMNS if c != "at"]
    rows = client.execute(f"SELECT {', '.join(cols)} FROM alert_events FINAL{tail}", params)
    out = []
    for row in rows:
        d = dict(zip(cols, row))
        d["labels"] = dict(zip(d.pop("label_keys"), d.pop("label_values")))
        d["notify"] = bool(d["notify"])
        out.append(d)
    return out


def incident_events(client: Client, *, until_ms: int | None = None,
                    incident_id: str | None = None) -> list[dict[str, Any]]:
    """Incident events (``IncidentEvent`` fields, ``payload_json``) up to ``until_ms`` (of
    one incident: enough to rebuild it, its events carry what merges brought), in log order
    (``lsn``): the input of ``Correlator.from_events``."""
    where, params = _where(None, until_ms, None, "at", "at_ms", incident_id=incident_id)
    return _incident_events(client, f"{where} ORDER BY lsn, incident_id, seq", params)


def _incident_events(client: Client, tail: str, params: dict[str, Any]
                     ) -> list[dict[str, Any]]:
    """``SELECT <event fields> FROM incident_events FINAL<tail>`` as IncidentEvent dicts."""
    cols = [c for c in INCIDENT_EVENT_COLUMNS if c != "at"]
    rows = client.execute(f"SELECT {', '.join(cols)} FROM incident_events FINAL{tail}", params)
    out = []
    for row in rows:
        d = dict(zip(cols, row))
        d["payload_json"] = d.pop("payload")
        out.append(d)
    return out


def open_incident_events(client: Client, *, limit: int = 1000) -> list[dict[str, Any]]:
    """Every event of the incidents still open (none resolved or merged away), of the
    ``limit`` most recently active ones, by incident and seq: the picture a cockpit that
    starts later than its feed's backfill needs."""
    return _incident_events(
        client, " WHERE incident_id IN (SELECT incident_id FROM incident_events FINAL "
        "GROUP BY incident_id HAVING countIf(kind IN ('resolved', 'merged_into')) = 0 "
        "ORDER BY max(at_ms) DESC LIMIT %(limit)s) ORDER BY incident_id, seq",
        {"limit": int(limit)})


def silence_events(client: Client) -> list[dict[str, Any]]:
    """Every silence event as published (``alerting.silence_log`` form), in time order."""
    rows = client.execute("SELECT record FROM silence_events FINAL "
                          "ORDER BY at_ms, silence_id, action")
    return decoded_records([r[0] for r in rows], "silence_events")


def decoded_records(texts: list[str], table: str) -> list[dict[str, Any]]:
    """JSON records read back (through ``schemas.jsonin``, as they came in); one that is not
    a JSON object the door takes is left out and logged, not the whole history with it."""
    out = []
    for text in texts:
        try:
            record = decode(text)
        except ValidationError as exc:
            log.error("%s: a stored record is left out: %s", table, exc)
            continue
        if isinstance(record, dict):
            out.append(record)
        else:
            log.error("%s: a stored record is left out: not a JSON object", table)
    return out
