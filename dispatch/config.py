"""The board's settings: one frozen object built at the entry point and passed down."""

from __future__ import annotations

from dataclasses import dataclass, field

from dispatch.eta import EtaConfig
from dispatch.positions import PositionRule
from dispatch.status import StaleRule
from dispatch.traffic import TrafficConfig


@dataclass(frozen=True)
class TimerRule:
    """A unit in ``status`` longer than ``after_s`` (for units of ``agency``, "" = any) is
    escalated once per stay in that status: a ``timer_escalated`` record."""

    timer: str
    status: str
    after_s: float
    agency: str = ""
    zh: str = ""
    en: str = ""


# Turnout targets: NFPA 1710 60 s (EMS) / 80 s (fire), China 120 "depart within 3 min" is
# the outer bound an EMS dispatcher is chased at; on-scene and hospital hand-over times.
DEFAULT_TIMERS = (
    TimerRule("turnout_late", "dispatched", 60.0, "ems", "出车超时", "late turnout"),
    TimerRule("turnout_late", "dispatched", 80.0, "fire", "出车超时", "late turnout"),
    TimerRule("turnout_late", "dispatched", 180.0, "", "出车超时", "late turnout"),
    TimerRule("travel_long", "en_route", 1200.0, "", "途中时间过长", "long travel"),
    TimerRule("on_scene_long", "on_scene", 3600.0, "", "现场时间过长", "long time on scene"),
    TimerRule("transport_long", "transporting", 2400.0, "", "转运时间过长",
              "long transport"),
    TimerRule("at_hospital_long", "at_hospital", 1800.0, "", "医院交接超时",
              "slow hospital hand-over"),
)


@dataclass(frozen=True)
class DispatchConfig:
    eta: EtaConfig = field(default_factory=EtaConfig)
    traffic: TrafficConfig = field(default_factory=TrafficConfig)
    stale: StaleRule = field(default_factory=StaleRule)
    timers: tuple[TimerRule, ...] = DEFAULT_TIMERS
    coverage: bool = True            # coverage and move-ups in every package
    priority_severities: tuple[str, ...] = ("critical", "major")   # green waves also for these
    max_packages_per_incident: int = 50
    positions: PositionRule = field(default_factory=PositionRule)   # unit_positions batches

    def timer_for(self, status: str, agency: str) -> TimerRule | None:
        """The rule for ``agency``'s units in ``status`` (an agency's own rule first)."""
        own = [t for t in self.timers if t.status == status and t.agency == agency]
        if own:
            return own[0]
        return next((t for t in self.timers if t.status == status and not t.agency), None)
