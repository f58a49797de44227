"""Which event-level detectors run, built once from the city profile (configuration as data).

Each detector lists the streams it watches; the first is its owner (its state is kept in
that stream's state table). Limits run inside every stream that carries measurements.

Per-entity detectors whose state is only about one entity (a sensor's own baseline) run per
*source partition*, like limits: their state is checkpointed to that partition of the
changelog and moves with it on a rebalance, and each snapshot stays small (one partition's
sensors, not the city's). :func:`build_partition_detectors` declares them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any, Callable, Mapping

from city.profile import CityProfile
from detectors.findings import EventDetector
from detectors.multivariate import MultivariateAnomaly, TankMultivariateAnomaly
from detectors.clusters import ClusterDetector
from detectors.deviation import SensorDeviation
from detectors.hazmat import HazmatDetector
from detectors.quality import Flatline, NoData, OutOfRangeBurst
from detectors.service import ServiceLevelDetector
from detectors.traffic import TrafficDetector
from detectors.univariate import UnivariateConfig, UnivariateEntities


def build_event_detectors(profile: CityProfile,
                          road_names: Mapping[str, tuple[str, str]] | None = None
                          ) -> list[EventDetector]:
    """The event detectors of a city; ``road_names`` ({road id: (zh, en)},
    :func:`city.profile.road_names`) let traffic alerts name a road, not a segment id."""
    return [
        # Stuck sensors. Exactly 0 is exempt: a gas detector in clean air or a dry drain
        # reads 0 for hours; a pressure stuck at 0 raises its low limit anyway.
        Flatline(stream="lifeline", exempt_values=(0.0,)),
        NoData(streams=("lifeline",)),         # silent sensors (fires from tick when quiet)
        OutOfRangeBurst(),                     # bursts of rejected readings per sensor
        MultivariateAnomaly(),                 # trained from warehouse history (streams.retrain)
        TankMultivariateAnomaly(),
        TrafficDetector(profile, road_names=road_names),   # congestion, accidents, signal faults
        HazmatDetector(profile),               # geofences, unscheduled stops, fatigue
        ServiceLevelDetector(profile),         # 120/119 dispatch, turnout, travel, pending
        ClusterDetector(profile),              # call/alarm clusters, gas-explosion risk
    ]


@dataclass(frozen=True)
class PartitionDetector:
    """A per-entity detector built once per source partition of the streams it watches."""

    name: str
    streams: tuple[str, ...]
    build: Callable[[], EventDetector]


def build_partition_detectors(profile: CityProfile, univariate: Mapping[str, Any] | None = None,
                              ) -> list[PartitionDetector]:
    uni = UnivariateConfig.from_dict(univariate)  # detectors.univariate.DEFAULTS when None
    return [
        # each sensor against its own recent baseline (early, before the alarm level)
        PartitionDetector(SensorDeviation.name, SensorDeviation.streams,
                          partial(SensorDeviation, profile)),
        # the general-purpose detector per entity, for a few high-value kinds (river gauges)
        PartitionDetector(uni.name, uni.streams, partial(UnivariateEntities, uni)),
    ]


def trainable(detectors: list[EventDetector]) -> list[EventDetector]:
    """The detectors whose models are (re)trained from history."""
    return [d for d in detectors if hasattr(d, "set_model")]
