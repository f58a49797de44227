"""Everything a replay's pipeline is built from, and what a what-if may change:
:class:`ReplaySetup` (frozen), made once at the entry point from the worker's own settings
(:func:`setup_from_settings`), so a replay runs the configuration the live worker runs:
the same alerting config (``load_alerting_config``), the same unit fleet at the same scale,
run cards and road graph (``build_board``'s parts), the same validation policy and limits,
the same alert TTL, re-assertion interval and tick.

Fresh detector, engine and board *state* is made from it by each
:class:`replay.engine.Replayer`; the setup itself is never changed, so two replays of one
setup start from the same point.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from alerting.config import AlertingConfig
from city.profile import CityProfile
from detectors.findings import EventDetector
from detectors.plan import PartitionDetector, build_event_detectors, build_partition_detectors
from schemas.validate import Policy
from streams.pipeline import Limits

Detectors = tuple[list[EventDetector], list[PartitionDetector]]


@dataclass(frozen=True)
class DispatchSetup:
    """The board's fixed parts: unit registry, run cards, road graph (None: none)."""

    registry: Any
    runcards: Any
    graph: Any = None
    scale: float = 1.0


def default_detectors(profile: CityProfile, road_names: Mapping[str, tuple[str, str]]
                      ) -> Detectors:
    """The worker's detectors (:mod:`detectors.plan`), fresh."""
    return build_event_detectors(profile, road_names), build_partition_detectors(profile)


@dataclass(frozen=True)
class ReplaySetup:
    profile: CityProfile
    alerting: AlertingConfig
    dispatch: DispatchSetup | None
    policy: Policy
    limits: Limits = Limits()
    alert_ttl_ms: int = 300_000
    reassert_ms: int = 60_000
    alerting_tick_ms: int = 1_000
    road_names: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    # fresh detectors for one replay (a what-if passes its own, e.g. other thresholds)
    detectors: Callable[[CityProfile, Mapping[str, tuple[str, str]]], Detectors] = \
        default_detectors

    def replace(self, **changes: Any) -> "ReplaySetup":
        return dataclasses.replace(self, **changes)

    def new_board(self) -> Any:
        """A fresh dispatch board (None: dispatch is off)."""
        if self.dispatch is None:
            return None
        from dispatch.board import Board
        d = self.dispatch
        return Board(self.profile, d.graph, d.registry, d.runcards)


def setup_from_settings(settings: Any, profile: CityProfile | None = None) -> ReplaySetup:
    """The live worker's configuration (``settings``: :class:`citycc.settings.Settings`)."""
    from city.profile import load_profile, load_roads, road_names
    from streams.alerting_agent import load_alerting_config
    profile = profile or load_profile(settings.city)
    dispatch = None
    if settings.dispatch_enabled:
        from city.dispatch_config import load_runcards, registry_for
        from streams.dispatch_agent import _graph
        dispatch = DispatchSetup(registry_for(profile, settings.dispatch_scale),
                                 load_runcards(profile.name), _graph(profile),
                                 settings.dispatch_scale)
    return ReplaySetup(
        profile=profile, alerting=load_alerting_config(settings), dispatch=dispatch,
        policy=Policy.for_city(profile, max_lateness_s=settings.max_lateness_s,
                               max_future_s=settings.max_future_s,
                               max_event_bytes=settings.max_event_bytes),
        limits=Limits(settings.max_message_bytes, settings.max_event_bytes,
                      settings.max_batch_events),
        alert_ttl_ms=int(settings.alert_ttl_s * 1000),
        reassert_ms=int(settings.reassert_interval_s * 1000),
        alerting_tick_ms=max(1, int(settings.alerting_tick_s * 1000)),
        road_names=road_names(load_roads(profile)))
