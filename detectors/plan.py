"""Which event-level detectors run, built once from the city profile (configuration as data).

Each detector lists the streams it watches; the first is its owner (its state is kept in
that stream's state table). Univariate value detectors and limits run inside the streams
that carry measurements.
"""

from __future__ import annotations

from city.profile import CityProfile
from detectors.findings import EventDetector


def build_event_detectors(profile: CityProfile) -> list[EventDetector]:
    return []
