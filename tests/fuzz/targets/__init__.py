"""The fuzz targets: one per entry point that takes outside bytes. Each is a strategy of
cases and a check that judges one case (a :class:`fuzz.verdict.Tally`); the tests run them
on a bounded budget and ``bench/fuzz.py`` runs the same ones for millions of inputs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from hypothesis.strategies import SearchStrategy

from ..verdict import Tally


@dataclass(frozen=True)
class Target:
    name: str
    entry: str                                  # the entry point, as the report names it
    cases: Callable[[], SearchStrategy[Any]]
    check: Callable[[Any], Tally]
    weight: float                               # its share of a long run's inputs


def targets() -> list[Target]:
    """Every target (imported here: each module builds its strategies at import)."""
    from .engine import check_engine, engine_cases
    from .frames import check_frames, frame_cases
    from .hub import check_hub, hub_cases
    from .importers import check_documents, documents
    from .ingest import check_ingest, ingest_cases
    from .regexes import check_regex, regex_cases
    return [
        Target("ingest", "streams.pipeline.StreamStep.process_safely", ingest_cases,
               check_ingest, 0.40),
        Target("engine", "alerting.engine.Engine alerts/command/dispatch/tick", engine_cases,
               check_engine, 0.20),
        Target("frames", "cockpit_api.command_sink.submit (websocket frames)", frame_cases,
               check_frames, 0.20),
        Target("hub", "cockpit_api.feed -> AlertHub (Kafka into the cockpit)", hub_cases,
               check_hub, 0.14),
        Target("regexes", "alerting.matchers / silences (user regexes)", regex_cases,
               check_regex, 0.04),
        Target("importers", "alerting config, city profile, matcher text", documents,
               check_documents, 0.02),
    ]
