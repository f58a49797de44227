"""Dispatch records: one JSON-able schema for everything the board decides or observes
(topic ``dispatch``, ClickHouse table ``dispatch_log``), with deterministic ids."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from schemas.records import stable_id
from schemas.validate import format_event_time

RECORD_KINDS = ("package_recommended", "package_confirmed", "package_edited",
                "package_rejected", "unit_assigned", "unit_status", "unit_stale",
                "timer_escalated", "moveup_suggested", "moveup_confirmed", "preemption_request",
                "unit_positions")
BOARD_ACTOR = "dispatch"      # the actor of the board's own records


def record(kind: str, at_ms: int, *, incident_id: str = "", unit_id: str = "",
           actor: str = BOARD_ACTOR, payload: Mapping[str, Any] | None = None,
           key: tuple[Any, ...] = ()) -> dict[str, Any]:
    """A record; its id hashes the kind, incident, unit, time and ``key`` (what makes two
    records of the same kind, place and moment different: a package id, a status)."""
    assert kind in RECORD_KINDS, kind
    return {"record_id": "D-" + stable_id(kind, incident_id, unit_id, at_ms, *key),
            "kind": kind, "at": format_event_time(at_ms), "at_ms": int(at_ms),
            "incident_id": incident_id, "unit_id": unit_id, "actor": actor,
            "payload": dict(payload or {})}


@dataclass
class CommandResult:
    """What became of a command: its records, or a refusal (``code`` a stable code of
    :data:`dispatch.actions.REFUSALS`, "" when applied)."""

    records: list[dict[str, Any]] = field(default_factory=list)
    code: str = ""
    field: str = ""
    reason: str = ""
