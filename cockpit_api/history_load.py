"""The picture older than the feed's backfill, read from ClickHouse when the cockpit starts.

Why: the feed starts a fixed number of records back on each topic, so an incident opened
hours ago whose last events lie further back, or a silence made last week, would be
missing from the big screen after a cockpit restart; and a broker that restarts empty (the
local Tansu keeps nothing) leaves the feed with no backfill at all, while the alerting
engine still holds the alerts of the previous run. The current occurrence of every alert
not resolved, the open incidents' events and the silence history are read from the
warehouse first and folded into the hub exactly as the
feed folds them, and so are the units' latest statuses and the open incidents' dispatch
records (:mod:`warehouse.dispatch_backfill`); the feed's backfill then adds nothing the hub already has (the views
drop events at or before what they hold). If ClickHouse cannot be read, the cockpit
starts from the feed alone and says so.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from citycc.settings import Settings
from warehouse import queries
from warehouse.dispatch_backfill import dispatch_history
from warehouse.client import connect

from .hub import AlertHub

log = logging.getLogger(__name__)


def read_history(settings: Settings, max_incidents: int, max_alerts: int = 2000
                 ) -> dict[str, list[dict[str, Any]]]:
    """The alerts not resolved, the open incidents' events and every silence event
    (blocking: run it in a thread)."""
    client = connect(settings)
    try:
        return {"alert_events": queries.current_alert_events(client, limit=max_alerts),
                "incident_events": queries.open_incident_events(client, limit=max_incidents),
                "silence_events": queries.silence_events(client),
                "dispatch": dispatch_history(client, limit=max_incidents)}
    finally:
        client.disconnect()


def fold_history(hub: AlertHub, history: dict[str, list[dict[str, Any]]]) -> dict[str, int]:
    """Publish what :func:`read_history` read into the hub; returns what was accepted."""
    where = "clickhouse"
    return {"alert_events": sum(hub.publish_alert_event(e, where)
                                for e in history.get("alert_events", [])),
            "incident_events": sum(hub.publish_incident_event(e, where)
                                   for e in history["incident_events"]),
            "silence_events": sum(hub.publish_silence_event(e, where)
                                  for e in history["silence_events"]),
            "dispatch": sum(hub.publish_dispatch_record(r, where)
                            for r in history.get("dispatch", []))}


async def load_history(settings: Settings, hub: AlertHub, max_incidents: int = 1000
                       ) -> dict[str, int] | None:
    """Read and fold the history; None (logged) if ClickHouse cannot be read."""
    try:
        history = await asyncio.to_thread(read_history, settings, max_incidents)
    except Exception as exc:  # the warehouse is down: the feed's backfill still works
        log.warning("cockpit: cannot read the alert/incident/silence history from ClickHouse "
                    "(%r); showing what the feed's backfill holds", exc)
        return None
    counts = fold_history(hub, history)
    log.info("cockpit: history from ClickHouse: %s", counts)
    return counts
