"""Incident categories and the correlator's settings: which alert kinds open or join an
incident of which category, how near in space and time, which kinds are one distinct
event, and the table of Changsha's categories (``DEFAULT_CATEGORIES``).

Apart from the model (``alerting.incident_model``) because it is configuration: read from
YAML, checked once, shared by the correlator, the benchmark and the tests. Pure data.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from alerting.records import reduce_record
from schemas.records import SEVERITIES

RANK = {s: i for i, s in enumerate(reversed(SEVERITIES))}  # info 0 .. critical 3


class IncidentError(ValueError):
    """A bad alert, configuration or operator command; the message says which and why."""


@dataclass(frozen=True)
class Category:
    """Which alert kinds open an incident of this category, which only join one already
    open, and how near in space (km) and time (s) an alert must be to join. Patterns are
    globs on the kind, optionally ``kind:tag`` (tags: an EMS cluster's complaint family,
    a 119 cluster's call categories, a fire incident's category).

    ``primary`` kinds mark one distinct event (an accident, a burning building, a
    tanker): two incidents that each hold one are never merged automatically. The other
    alerts are symptoms, and ``reach_km`` (default: the radius) is how far an event's
    symptoms spread: a symptom joins an incident holding a primary within that distance
    of its alerts (the queue behind an accident)."""

    name: str
    zh: str
    en: str
    opens: tuple[str, ...]
    joins: tuple[str, ...] = ()
    radius_km: float = 1.0
    window_s: float = 1800.0
    min_alerts: int = 1
    priority: int = 0  # the higher wins when several incidents could take an alert
    open_severity: str = "minor"  # below it an alert may join but not open (info notices)
    primary: tuple[str, ...] = ()
    reach_km: float | None = None

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return reduce_record(self)

    @property
    def reach(self) -> float:
        return max(self.radius_km, self.reach_km or 0.0)

    def is_primary(self, kind: str, tags: Iterable[str] = ()) -> bool:
        return any(_match(p, kind, tags) for p in self.primary)

    def role(self, kind: str, tags: Iterable[str], severity: str = "critical") -> str | None:
        if RANK.get(severity, 0) >= RANK[self.open_severity] and \
                any(_match(p, kind, tags) for p in self.opens):
            return "opens"
        if any(_match(p, kind, tags) for p in self.opens + self.joins):
            return "joins"
        return None


def _match(pattern: str, kind: str, tags: Iterable[str]) -> bool:
    k, _, tag = pattern.partition(":")
    return fnmatch.fnmatchcase(kind, k) and (not tag or any(fnmatch.fnmatchcase(t, tag)
                                                             for t in tags))


# The EMS "toxic" family holds poisoning and breathing-difficulty calls (detectors.clusters).
DEFAULT_CATEGORIES: tuple[Category, ...] = (
    Category("hazmat", "危化品事故", "Hazardous-materials incident",
             ("tank_*", "hazmat_stopped", "hazmat_tank_*"),
             ("hazmat_*", "traffic_*", "signal_fault", "ems_calls", "fire_calls",
              "fire_incident"), radius_km=2.0, window_s=1800.0, priority=50,
             primary=("tank_*", "hazmat_tank_*", "hazmat_stopped")),
    # a vehicle in a protected zone or driven too long: the carrier's business, unless a
    # real hazmat incident is near (then it joins that one)
    Category("hazmat_notice", "危化品车辆违规", "Hazmat vehicle violation",
             ("hazmat_geofence", "hazmat_fatigue"), radius_km=0.5, priority=5),
    Category("gas", "燃气泄漏", "Gas leak", ("gas_*", "manhole_gas_*"),
             ("fire_calls:hazmat", "ems_calls:toxic"), radius_km=2.0, priority=40),
    Category("fire", "火灾", "Fire", ("fire_alarm", "fire_calls", "fire_incident"),
             ("ems_calls:burn", "ems_calls:toxic"), radius_km=1.0, priority=30,
             primary=("fire_alarm", "fire_incident")),
    # a burst drops the pressure across its supply zone: in a county network the nearest
    # other sensor seeing it can be ~3 km off (seed 13: 2.9 km in Liuyang)
    Category("water", "供水管网事故", "Water-main failure",
             ("water_pressure_low", "water_pressure_drop", "drainage_level_high",
              "drainage_level_rise"), radius_km=3.0, window_s=3600.0, priority=20),
    Category("traffic", "交通事故", "Traffic incident",
             ("traffic_accident", "traffic_congestion", "signal_fault"),
             ("ems_calls:trauma", "traffic_multivariate_anomaly"), radius_km=1.5,
             priority=20, primary=("traffic_accident",), reach_km=3.0),
    Category("ems", "群体伤病呼救", "Cluster of 120 calls", ("ems_calls",), radius_km=1.0,
             window_s=1200.0, priority=10),
)


def _category_fields(c: Mapping[str, Any]) -> dict[str, Any]:
    """A category's config mapping as Category's keyword arguments (lists as tuples)."""
    return {k: tuple(v) if k in ("opens", "joins", "primary") else v for k, v in c.items()}


@dataclass(frozen=True)
class CorrelatorConfig:
    """``entity_kinds`` join an incident only through their entity (service-level alerts
    about a call the incident holds); kinds in no category are not correlated."""

    categories: tuple[Category, ...] = DEFAULT_CATEGORIES
    entity_kinds: tuple[str, ...] = ("call_pending", "*_delay")
    quiet_s: float = 600.0
    cell_deg: float = 0.01
    max_pending: int = 50_000
    keep_closed: int = 10_000
    absorb: bool = True   # a new incident takes in lower-priority ones it accepts
    bridge: bool = True   # an alert reaching two incidents of its category merges them
    # a single 120/119 call is linked by place only this close to one of an incident's
    # alerts (and within the category's radius): one caller's position is weaker evidence
    # than an alert, and the incident it belongs to may open a moment later next to it
    call_radius_km: float = 1.0

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return reduce_record(self)

    def __post_init__(self) -> None:
        names = [c.name for c in self.categories]
        if not names or len(set(names)) != len(names):
            raise IncidentError(f"categories must be non-empty with unique names: {names}")
        for c in self.categories:
            if c.radius_km <= 0 or c.window_s <= 0 or c.min_alerts < 1 or not c.opens or \
                    c.open_severity not in RANK or (c.reach_km is not None and c.reach_km <= 0):
                raise IncidentError(f"category {c.name!r}: needs opens, radius_km > 0, "
                                    f"window_s > 0, min_alerts >= 1 and an open_severity "
                                    f"in {SEVERITIES}")
        if self.quiet_s < 0 or not 0 < self.cell_deg <= 1 or self.call_radius_km <= 0:
            raise IncidentError("quiet_s must be >= 0, cell_deg in (0, 1] and "
                                "call_radius_km > 0")

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> "CorrelatorConfig":
        """From a config mapping; ``categories`` entries use Category's field names."""
        try:
            kw: dict[str, Any] = dict(raw)
            if "categories" in kw:
                kw["categories"] = tuple(Category(**_category_fields(c))
                                         for c in kw["categories"])
            if "entity_kinds" in kw:
                kw["entity_kinds"] = tuple(kw["entity_kinds"])
            return cls(**kw)
        except (TypeError, AttributeError) as exc:
            raise IncidentError(f"bad incident correlation config: {exc}") from exc
