"""The detector alerts and notifications the cockpit retains for a new client's snapshot
(pure; bounded, most recently changed last)."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from .messages import Alert

SEVERITIES = ("critical", "major", "minor", "info")


class AlertBoard:
    """At most ``max_alerts`` detector alerts by fingerprint: over it, the oldest resolved one
    goes (the oldest of all when none is resolved)."""

    def __init__(self, max_alerts: int) -> None:
        if max_alerts < 1:
            raise ValueError("max_alerts must be >= 1")
        self.max_alerts = max_alerts
        self._alerts: OrderedDict[str, Alert] = OrderedDict()

    def __len__(self) -> int:
        return len(self._alerts)

    def __iter__(self) -> Any:
        return iter(self._alerts)

    def get(self, fingerprint: str) -> Alert | None:
        return self._alerts.get(fingerprint)

    def put(self, alert: Alert) -> None:
        key = alert["fingerprint"]
        self._alerts[key] = alert
        self._alerts.move_to_end(key)
        while len(self._alerts) > self.max_alerts:
            victim = next((k for k, a in self._alerts.items() if a["status"] == "resolved"),
                          next(iter(self._alerts)))
            del self._alerts[victim]

    def alerts(self) -> list[Alert]:
        """Most recently updated first."""
        return list(reversed(self._alerts.values()))

    def firing_counts(self) -> dict[str, int]:
        counts = dict.fromkeys(SEVERITIES, 0)
        for alert in self._alerts.values():
            if alert["status"] == "firing":
                sev = alert.get("severity")
                sev = sev if isinstance(sev, str) and sev in counts else "info"
                counts[sev] += 1
        return counts


class NoteBoard:
    """The latest ``max_notes`` notifications by key."""

    def __init__(self, max_notes: int) -> None:
        self.max_notes = max_notes
        self._notes: OrderedDict[str, dict[str, Any]] = OrderedDict()

    def put(self, note: dict[str, Any]) -> None:
        self._notes[note["key"]] = note
        self._notes.move_to_end(note["key"])
        while len(self._notes) > self.max_notes:
            self._notes.popitem(last=False)

    def notes(self) -> list[dict[str, Any]]:
        """Most recent first."""
        return list(reversed(self._notes.values()))
