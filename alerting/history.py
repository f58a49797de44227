"""Any moment of the alerting history, rebuilt from its event log (pure).

The warehouse keeps every alert lifecycle event and every incident event
(``warehouse.queries.alert_events`` / ``incident_events``); replaying them up to a moment
gives the alert book and the incidents as they were then, and any incident can be exported
(CAP 1.2 / GB/T 35965.1 style) from that state.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from alerting.cap import incident_to_cap
from alerting.gbt import incident_to_gbt
from alerting.incident_model import IncidentError, IncidentEvent
from alerting.incidents import Correlator
from alerting.lifecycle import AlertBook

FORMATS = ("cap", "gbt")


def alerts_at(events: Iterable[Mapping[str, Any]]) -> AlertBook:
    """The alert book the events (``AlertEvent.to_dict`` form, up to a moment) describe."""
    return AlertBook.from_events(events)


def incidents_at(events: Iterable[Mapping[str, Any]]) -> Correlator:
    """The incidents the events (``IncidentEvent`` fields) describe."""
    return Correlator.from_events([IncidentEvent.from_dict(e) for e in events])


def export_incident(events: Iterable[Mapping[str, Any]], incident_id: str, fmt: str,
                    sent_ms: int, exercise: bool = False) -> str:
    """The XML export of one incident as the log describes it (IncidentError: unknown)."""
    if fmt not in FORMATS:
        raise IncidentError(f"unknown export format {fmt!r}; use one of {FORMATS}")
    inc = incidents_at(events).get(incident_id)
    if inc is None:
        raise IncidentError(f"no incident {incident_id!r} in the history")
    status = "Exercise" if exercise else "Actual"
    make = incident_to_cap if fmt == "cap" else incident_to_gbt
    return make(inc, inc.enrichment, sent_ms, status)
