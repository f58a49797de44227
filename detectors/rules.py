"""Base of rule-based event detectors: route each event to a handler by stream and type.

Subclasses declare ``routes`` — ``(stream, event type) -> method name`` (type ``None``: every
event of the stream) — and handlers ``(event, ts_ms, out)`` that append Findings to ``out``.
The base advances the detector's event-time clock (``now``; override :meth:`_advance` to
sweep expired state) and counts malformed events instead of failing the batch.
"""

from __future__ import annotations

from typing import Any, Mapping

from detectors.findings import EventDetector, Finding


class RuleDetector(EventDetector):
    routes: Mapping[tuple[str, str | None], str] = {}
    now: int = 0
    counters: dict[str, int]

    def _count(self, key: str, n: int = 1) -> None:
        self.counters[key] = self.counters.get(key, 0) + n

    def _advance(self, t: int, out: list[Finding]) -> None:
        if t > self.now:
            self.now = t

    def update(self, stream: str, events: list[dict[str, Any]],
               ts_ms: list[int]) -> list[Finding]:
        out: list[Finding] = []
        if stream not in self.streams:
            return out
        routes = self.routes
        for e, t in zip(events, ts_ms):
            t = int(t)
            self._advance(t, out)
            name = routes.get((stream, e.get("type"))) or routes.get((stream, None))
            if name is None:
                continue
            try:
                getattr(self, name)(e, t, out)
            except (KeyError, TypeError, ValueError):
                self._count("bad_events")
        return out
