"""What event-level detectors report, and the protocol they follow.

Univariate detectors (:mod:`detectors.base`) score numbers. Event-level detectors (traffic
incidents, hazmat rules, service levels, clusters, data quality) watch validated events of
one or more streams and report :class:`Finding` state changes; the stream layer turns each
into an alert message (``schemas.records.make_alert``). Pure: no I/O, no clock — ``now_ms``
is passed to :meth:`EventDetector.tick`, which closes windows and raises NoData when a
stream goes quiet (Faust's window-close callbacks wait for the next event; this does not).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

FIRING, RESOLVED = "firing", "resolved"


@dataclass(frozen=True)
class Finding:
    """One alert state change, with the evidence and explanation a dispatcher needs."""

    detector: str            # family name, e.g. "traffic_incident"
    kind: str                # alert kind, e.g. "traffic_congestion"; with entity = identity
    entity_id: str
    status: str              # FIRING | RESOLVED
    severity: str            # critical | major | minor | info
    event_ms: int            # event time of the deciding event (or the window end)
    title_zh: str
    title_en: str
    stream: str = ""
    value: float = 0.0
    threshold: float = 0.0
    unit: str = ""
    lat: float | None = None
    lon: float | None = None
    district: str = ""
    evidence: tuple[str, ...] = ()     # event ids
    explanation: dict[str, Any] = field(default_factory=dict)  # baseline, deviation, window


class EventDetector:
    """Base of event-level detectors. Subclasses set ``streams`` and ``name``."""

    name: str = ""
    streams: tuple[str, ...] = ()

    def update(self, stream: str, events: list[dict[str, Any]],
               ts_ms: list[int]) -> list[Finding]:  # pragma: no cover - abstract
        """Feed validated events of ``stream`` (with their event times, in order)."""
        raise NotImplementedError

    def tick(self, now_ms: int) -> list[Finding]:
        """Advance time without events (window close, NoData). Default: nothing."""
        return []

    def snapshot(self) -> Any:
        """State for a checkpoint (must be JSON-serialisable)."""
        return None

    def restore(self, state: Any) -> None:
        """Inverse of :meth:`snapshot`."""


def evidence_ids(events: Iterable[dict[str, Any]], limit: int = 20) -> tuple[str, ...]:
    """The event ids of the evidence, newest last, at most ``limit`` of them."""
    ids = [e["event_id"] for e in events]
    return tuple(ids[-limit:])
