"""What the worker publishes, as data (pure): the records an engine :class:`~alerting.engine.
Output`, a dispatch board's :class:`~streams.dispatch_intake.BoardOut` and a batch of dead
letters become, in the order the worker sends them.

One function per kind of output, used by the worker's agents (which send each record to
its topic) and by replay (:mod:`replay.engine`, which keeps them): the bytes a replay
records are the bytes the live worker publishes, because they are made once, here.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

import orjson

from alerting.engine import Output
from schemas.records import dead_letter_headers, fit_dead_letter
from schemas.topics import DEAD_LETTER_PREFIX_BYTES
from schemas.validate import format_event_time
from streams.dispatch_intake import BoardOut

Headers = tuple[tuple[str, bytes], ...]
# (registry topic name, key, value, headers): one record as the worker sends it
Published = tuple[str, bytes, bytes, Headers]
PREEMPTION = "preemption_request"


def engine_records(out: Output, now: int) -> list[Published]:
    """An engine Output's records: alert events, incident events, silence events, then
    the answers to commands (refused, then applied, each with the events it caused)."""
    recs: list[Published] = []
    for ev in out.alert_events:
        recs.append(("alert_events", ev.fingerprint.encode(), orjson.dumps(ev.to_dict()), ()))
    for iev in out.incident_events:
        recs.append(("incident_events", iev.incident_id.encode(),
                     orjson.dumps(iev.to_row()), ()))
    for sev in out.silence_events:
        recs.append(("silence_events", sev["silence_id"].encode(), orjson.dumps(sev), ()))
    at = format_event_time(now)
    for r in out.rejected:
        if r.command_id:
            recs.append(("command_results", r.command_id.encode(), orjson.dumps({
                "command_id": r.command_id, "ok": False, "code": r.code, "field": r.field,
                "reason": r.reason, "events": [], "at": at}), ()))
    for cid in out.applied:
        events = [e.event_id for e in out.alert_events] + \
            [e.event_id for e in out.incident_events] + \
            [e["event_id"] for e in out.silence_events]
        duplicate = cid in out.duplicates   # a resend: applied before, nothing done now
        recs.append(("command_results", cid.encode(), orjson.dumps({
            "command_id": cid, "ok": True, "code": "", "field": "", "reason": "",
            "events": [] if duplicate else events, "at": at, "duplicate": duplicate}), ()))
    return recs


def record_key(record: Mapping[str, Any]) -> bytes:
    """A record's ``dispatch`` key: its incident, else its unit, else its id."""
    return str(record.get("incident_id") or record.get("unit_id") or
               record.get("record_id") or "").encode()


def signal_key(record: Mapping[str, Any]) -> bytes:
    """A pre-emption request's ``signal_requests`` key: the signal node it names."""
    payload = record.get("payload")
    node = payload.get("node") if isinstance(payload, Mapping) else None
    return str(node if node is not None else record.get("record_id", "")).encode()


def board_records(made: BoardOut) -> list[Published]:
    """The board's records (``dispatch``; a pre-emption request also on
    ``signal_requests``), then its answers to dispatch commands (``command_results``)."""
    recs: list[Published] = []
    for record in made.records:
        value = orjson.dumps(record)
        recs.append(("dispatch", record_key(record), value, ()))
        if record.get("kind") == PREEMPTION:
            recs.append(("signal_requests", signal_key(record), value, ()))
    recs += [("command_results", str(result["command_id"]).encode(), orjson.dumps(result), ())
             for result in made.answers]
    return recs


def output_records(out: Output, now: int, made: BoardOut | None = None) -> list[Published]:
    """Everything one engine call (and the board's share of it) publishes, in order."""
    return engine_records(out, now) + (board_records(made) if made is not None else [])


def notification_record(record: Mapping[str, Any]) -> Published:
    """A notification outcome (:func:`streams.notifiers.outcome_record`) on its topic,
    keyed by its receiver."""
    return ("notifications", record["notification"]["receiver"].encode(),
            orjson.dumps(record), ())


def fit(record: dict[str, Any], max_message_bytes: int) -> dict[str, Any]:
    """A dead letter whose original exceeds the input limit travels as a prefix with the
    original's size and digest (code too_large), so it always fits its topic."""
    return fit_dead_letter(record, max_message_bytes, DEAD_LETTER_PREFIX_BYTES)


def dead_letter_records(records: Iterable[dict[str, Any]], max_message_bytes: int
                        ) -> list[Published]:
    """Dead letters as the ``deadletter`` topic carries them: the original bytes (or their
    prefix), the metadata in headers, keyed by the source topic."""
    out: list[Published] = []
    for rec in records:
        rec = fit(rec, max_message_bytes)
        out.append(("deadletter", rec["source_topic"].encode(), rec["raw"],
                    tuple(dead_letter_headers(rec))))
    return out
