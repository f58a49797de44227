"""Drive an event-level detector with the simulator, the way the worker does."""

from __future__ import annotations

from typing import Any

from detectors.findings import Finding
from schemas.validate import parse_event_time
from simulator.generate import Simulation


def run_sim(sim: Simulation, det: Any, until: int, streams: set[str] | None = None,
            step: int = 10_000) -> list[Finding]:
    """Tick ``sim`` to ``until`` in ``step`` ms; feed the detector's streams and tick it."""
    wanted = set(det.streams) if streams is None else streams
    out: list[Finding] = []
    t = sim.now_ms
    while t < until:
        t = min(t + step, until)
        for stream, events in sim.tick(t).items():
            if stream in wanted and events:
                out += det.update(stream, events,
                                  [parse_event_time(e["event_time"]) for e in events])
        out += det.tick(t)
    return out
