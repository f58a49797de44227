"""An engine whose checkpoint is lost, rebuilt from the warehouse's logs (pure).

Why: the alerting worker checkpoints to a local file; on a new machine (or a lost disk)
the alert states, incidents and silences must come back from what ClickHouse keeps, or
the command hall would see every acknowledged alert firing again and every incident
reopened under a new id. What the logs hold comes back exactly: the alert book
(``alert_events``), the incidents with their members, calls and timelines
(``incident_events``), the silences still current (``silence_events``). What they do not
hold is rebuilt from it: muting and inhibition bookkeeping from the active alerts, the
notification groups (their firing alerts are notified once more: better told twice than
not at all; the webhook's ``X-Citycc-Key`` lets a receiver drop what it already has) and
escalation (each unacknowledged firing alert's run restarts from the event that began its
firing spell, with the same page ids, then follows its later events: re-assertions make
an update the usual last event, and a run started from it would page level 1 again). The correlator's pending pool and loose calls are lost: alerts waiting
for company join again as they repeat.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from alerting.alert_model import FIRING, AlertEvent
from alerting.engine import Engine
from alerting.escalation import RESTARTS
from alerting.incident_model import IncidentEvent
from alerting.lifecycle import AlertBook
from alerting.silence_log import record_matchers
from alerting.silences import Silence, SilenceError
from schemas.validate import parse_event_time


def rebuild(engine: Engine, alert_events: Iterable[Mapping[str, Any]],
            incident_events: Iterable[Mapping[str, Any]],
            silence_events: Iterable[Mapping[str, Any]], now_ms: int) -> dict[str, int]:
    """Fill a fresh ``engine`` from the logs (warehouse.queries forms); returns counts."""
    alert_events = list(alert_events)
    engine.book = AlertBook.from_events(alert_events, engine.book.config)
    n_inc = 0
    for ev in sorted((IncidentEvent.from_dict(e) for e in incident_events),
                     key=lambda e: e.lsn):
        engine.correlator.apply(ev)
        n_inc += 1
    silences = _current_silences(silence_events, now_ms)
    for s in silences:
        engine.silencer.add(s, now_ms)
    last: dict[str, Mapping[str, Any]] = {}
    spell: dict[str, Mapping[str, Any]] = {}   # the event that began the firing spell
    for e in alert_events:   # (in book order: each fingerprint's last event comes last)
        last[e["fingerprint"]] = e
        if e["action"] in RESTARTS:
            spell[e["fingerprint"]] = e
    active = engine.book.active()
    for fp in active:
        aev = AlertEvent.from_dict(last[fp])
        labels = dict(aev.labels)
        engine.silencer.observe(labels, fp, FIRING, now_ms)
        engine.inhibitor.observe(labels, fp, FIRING)
        engine.grouper.add(labels, fp, FIRING, now_ms)
        start = spell.get(fp)
        for step in ([AlertEvent.from_dict(start)] if start is not None and start is not
                     last[fp] else []) + [aev]:
            for page in engine.escalator.observe(step):
                engine.page(page, now_ms)
    return {"alert_events": len(alert_events), "active_alerts": len(active),
            "incident_events": n_inc, "open_incidents": len(engine.correlator.incidents),
            "silences": len(silences)}


def _current_silences(records: Iterable[Mapping[str, Any]], now_ms: int) -> list[Silence]:
    """The silences created and neither expired nor ended (nor over) by ``now_ms``."""
    current: dict[str, Mapping[str, Any]] = {}
    done: set[str] = set()
    for r in sorted(records, key=lambda r: (int(r["at_ms"]), r["action"] != "created")):
        sid = str(r["silence_id"])
        if r["action"] == "created" and sid not in done:
            current[sid] = r
        elif r["action"] == "extended" and sid in current:
            current[sid] = {**current[sid], "ends_at": r.get("ends_at")}
        elif r["action"] in ("expired", "ended"):
            done.add(sid)
            current.pop(sid, None)
    out = []
    for sid, r in sorted(current.items()):
        ends = r.get("ends_at")
        ends_ms = None if ends is None else parse_event_time(ends)
        if ends_ms is not None and ends_ms <= now_ms:
            continue
        try:
            out.append(Silence(sid, record_matchers(r["matchers"], restored=True),
                               parse_event_time(r["starts_at"]), ends_ms, str(r["author"]),
                               str(r["reason"]), bool(r.get("until_resolved", False))))
        except (SilenceError, ValueError):
            continue   # (a record no silence can be made of: it mutes nothing)
    return out
