"""Sensor health for the KPI tiles: how many city-lifeline sensors are in alarm, silent,
stuck or sending bad data, by district (pure, bounded).

What it can honestly say from what the cockpit has: the detectors' alerts (topic
``alerts``). A lifeline alert names one sensor (``entity_id``) except an area's
(:data:`AREA_DETECTORS`); its kind says the condition: the data-quality kinds of
:mod:`detectors.quality` (``sensor_nodata``: silent, ``sensor_stuck``: stuck,
``sensor_out_of_range_burst``: bad data), any other kind: in alarm (a limit, a deviation, a
seasonal or general anomaly). A sensor counts once per condition while any alert of that
condition is firing for it; a resolved alert ends it. What it cannot say is how many
sensors report normally: the cockpit does not read the lifeline stream (20,000 sensors at
city-1x); that needs the number of sensors heard of per district (e.g. the distinct
``entity_id`` of ``events_lifeline`` over the last hour, a warehouse query).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

CONDITIONS = ("alarm", "silent", "stuck", "bad_data")
QUALITY = {"sensor_nodata": "silent", "sensor_stuck": "stuck",
           "sensor_out_of_range_burst": "bad_data"}
AREA_DETECTORS = frozenset({"clusters"})      # their entity is an area, not a sensor
STREAM = "lifeline"
MAX_FIRING = 100_000


class SensorHealth:
    """The firing sensor alerts (by fingerprint) and their counts by district."""

    def __init__(self, max_firing: int = MAX_FIRING) -> None:
        self.max_firing = max_firing
        self.firing: OrderedDict[str, tuple[str, str, str]] = OrderedDict()
        self.changed = False

    def observe(self, alert: Mapping[str, Any]) -> None:
        """Fold one detector alert (others than a lifeline sensor's are ignored)."""
        if alert.get("stream") != STREAM or alert.get("detector") in AREA_DETECTORS:
            return
        fp = str(alert.get("fingerprint") or "")
        if alert.get("status") == "resolved":
            self.changed |= self.firing.pop(fp, None) is not None
            return
        cond = QUALITY.get(str(alert.get("kind") or ""), "alarm")
        held = (str(alert.get("entity_id") or fp), str(alert.get("district") or ""), cond)
        if self.firing.get(fp) != held:
            self.firing[fp] = held
            self.changed = True
        self.firing.move_to_end(fp)
        while len(self.firing) > self.max_firing:
            self.firing.popitem(last=False)

    def part(self) -> dict[str, Any]:
        """``{"city": {condition: sensors}, "districts": {code: {condition: sensors}}}``."""
        seen: dict[str, dict[str, set[str]]] = {}
        for entity, district, cond in self.firing.values():
            seen.setdefault(district, {}).setdefault(cond, set()).add(entity)
        districts = {d: {c: len(by.get(c, ())) for c in CONDITIONS}
                     for d, by in sorted(seen.items())}
        city = {c: len({e for by in seen.values() for e in by.get(c, ())}) for c in CONDITIONS}
        return {"city": city, "districts": districts}

    def take(self) -> dict[str, Any] | None:
        """The counts if they changed since the last take."""
        if not self.changed:
            return None
        self.changed = False
        return self.part()
