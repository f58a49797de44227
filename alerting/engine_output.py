"""What the engine answers for each input: the events it caused and what it refused (pure).

Apart from :mod:`alerting.engine` so that the answer's shape is read in one small place by
whoever consumes it (the worker's agents publish it; tests and replay collect it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from alerting.alert_model import AlertEvent
from alerting.incident_model import IncidentEvent


@dataclass(frozen=True)
class Rejected:
    """An input that was not applied: ``code``/``field``/``reason`` say why."""

    command_id: str
    code: str
    field: str
    reason: str
    index: int = -1   # its position in the batch given to alerts()/dispatch()


@dataclass
class Output:
    alert_events: list[AlertEvent] = field(default_factory=list)
    incident_events: list[IncidentEvent] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    applied: list[str] = field(default_factory=list)    # command ids applied
    duplicates: list[str] = field(default_factory=list)  # of those, resends: nothing done
    offered: int = 0                                     # new notifications in the outbox
    silence_events: list[dict[str, Any]] = field(default_factory=list)  # alerting.silence_log

    def extend(self, other: "Output") -> None:
        self.alert_events += other.alert_events
        self.incident_events += other.incident_events
        self.rejected += other.rejected
        self.applied += other.applied
        self.duplicates += other.duplicates
        self.offered += other.offered
        self.silence_events += other.silence_events
