"""APCO-style base statuses of a unit, mapped from each stream's own statuses.

A stream reports what a unit is doing; the board speaks one vocabulary across agencies.
The mapping is a table per stream (every status of the stream's catalogue appears in it: a
test checks), the allowed transitions are a table too. A stream report is the field's truth
and is always taken (an unexpected jump is flagged, not refused); a dispatcher's manual
change must follow :data:`TRANSITIONS`.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping

from schemas.catalog import EMS_UNIT_STATUSES, ENGINE_STATUSES

BASE_STATUSES = ("available", "dispatched", "en_route", "on_scene", "transporting",
                 "at_hospital", "returning", "out_of_service")
STATUS_ZH = MappingProxyType({
    "available": "待命", "dispatched": "已派车", "en_route": "途中", "on_scene": "到达现场",
    "transporting": "转运中", "at_hospital": "到达医院", "returning": "返回中",
    "out_of_service": "停用"})

# stream -> its status -> base status (stream statuses are named like APCO's where they mean
# the same; a stream with its own words maps them here, nowhere else)
STREAM_STATUS: Mapping[str, Mapping[str, str]] = MappingProxyType({
    "ems": MappingProxyType({
        "available": "available", "dispatched": "dispatched", "en_route": "en_route",
        "on_scene": "on_scene", "transporting": "transporting", "at_hospital": "at_hospital",
        "out_of_service": "out_of_service"}),
    "fire": MappingProxyType({
        "available": "available", "dispatched": "dispatched", "en_route": "en_route",
        "on_scene": "on_scene", "returning": "returning", "out_of_service": "out_of_service"}),
})
STREAM_CATALOGUE = MappingProxyType({"ems": EMS_UNIT_STATUSES, "fire": ENGINE_STATUSES})

# from -> the statuses a dispatcher (or the board) may move a unit to
TRANSITIONS: Mapping[str, frozenset[str]] = MappingProxyType({
    "available": frozenset({"dispatched", "en_route", "on_scene", "out_of_service"}),
    "dispatched": frozenset({"en_route", "on_scene", "available", "out_of_service"}),
    "en_route": frozenset({"on_scene", "dispatched", "available", "out_of_service"}),
    "on_scene": frozenset({"transporting", "returning", "available", "out_of_service"}),
    "transporting": frozenset({"at_hospital", "available", "out_of_service"}),
    "at_hospital": frozenset({"returning", "available", "out_of_service"}),
    "returning": frozenset({"available", "dispatched", "out_of_service"}),
    "out_of_service": frozenset({"available", "returning"}),
})
# statuses in which a unit may be given a new incident
ASSIGNABLE = frozenset({"available"})
# statuses in which a unit works an incident (it counts as assigned to it)
COMMITTED = frozenset({"dispatched", "en_route", "on_scene", "transporting", "at_hospital"})


class StatusError(ValueError):
    """A status that is not known or a change that is not allowed (``code`` says which)."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def from_stream(stream: str, status: str) -> str:
    """The base status of a stream's ``status`` (StatusError ``unknown_status`` if none)."""
    table = STREAM_STATUS.get(stream)
    if table is None or status not in table:
        raise StatusError("unknown_status", f"{stream} status {status!r} has no base status")
    return table[status]


def allowed(current: str, new: str) -> bool:
    return new == current or new in TRANSITIONS.get(current, frozenset())


def check_manual(current: str, new: str) -> None:
    """A dispatcher's change from ``current`` to ``new``: StatusError if not allowed."""
    if new not in BASE_STATUSES:
        raise StatusError("unknown_status", f"{new!r} is not a base status {BASE_STATUSES}")
    if not allowed(current, new):
        raise StatusError("bad_transition", f"a unit cannot go from {current} to {new}")


def on_assignment(current: str) -> str:
    """The automatic change when a unit is assigned: dispatched (StatusError if it is not
    assignable)."""
    if current not in ASSIGNABLE:
        raise StatusError("unit_unavailable", f"a unit that is {current} cannot be assigned")
    return "dispatched"


@dataclass(frozen=True)
class StaleRule:
    """A position older than ``after_s`` is stale (the board shows a badge)."""

    after_s: float = 120.0

    def is_stale(self, gps_ms: int | None, now_ms: int) -> bool:
        return gps_ms is None or now_ms - gps_ms > self.after_s * 1000
