"""Imported CAD events -> the live KPI definitions (:mod:`dispatch.kpis`), not a copy.

Calls and unit statuses are turned into :class:`dispatch.kpi_defs.Call` and
:class:`~dispatch.kpi_defs.UnitStatus` exactly as the live records are (stream statuses go
through :func:`dispatch.kpi_defs.status_timestamp`), then :func:`dispatch.kpis.assemble`
and :func:`~dispatch.kpis.compute` do the rest. This holds the cases in memory, like the
live KPI query does for its window: call it on a window of history, not on a whole file.
Pure: no I/O, no clock.
"""

from __future__ import annotations

from typing import Any, Iterable

from dispatch import kpis
from dispatch.kpi_defs import Call, UnitStatus

CASE_FIELD = {"unit_status": "call_id", "engine_status": "incident_id"}


def to_kpi_inputs(events: Iterable[tuple[str, dict[str, Any]]]
                  ) -> tuple[list[Call], list[UnitStatus]]:
    """(stream, event) pairs -> the cases as the live query takes them (a 120 ``call``, a
    119 ``incident`` while ``open``; one per entity_id, the first seen wins, as the
    warehouse's dedup would) and the unit statuses naming them. A 119 call only moves its
    incident's received time earlier live; here both are at CallDate 00:00, so it is not
    used."""
    from schemas.validate import parse_event_time
    calls: dict[str, Call] = {}
    statuses: list[UnitStatus] = []
    for stream, ev in events:
        at = parse_event_time(ev["event_time"])
        if (stream, ev["type"]) in (("ems", "call"), ("fire", "incident")) and \
                ev.get("status", "open") == "open":
            calls.setdefault(ev["entity_id"], Call(ev["entity_id"], stream,
                                                   ev.get("district", ""), at))
        elif ev["type"] in CASE_FIELD and ev.get(CASE_FIELD[ev["type"]]):
            statuses.append(UnitStatus(ev["entity_id"], ev[CASE_FIELD[ev["type"]]],
                                       ev["status"], at, stream))
    return list(calls.values()), statuses


def report(events: Iterable[tuple[str, dict[str, Any]]],
           utc_offset_hours: float) -> dict[str, Any]:
    """The KPI report of :func:`dispatch.kpis.compute` for imported events."""
    calls, statuses = to_kpi_inputs(events)
    return kpis.compute(kpis.assemble(calls, statuses), utc_offset_hours)
