"""The dispatcher's actions, declared once: name -> arguments and their checks.

``cockpit_api/commands.py`` reuses :data:`ACTIONS` and :func:`check_args` to refuse a
malformed command at the door with the same codes the board uses; the board checks the
arguments again (a command can come from a log replay) and then the facts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

MAX_ID = 128
MAX_REASON = 500
MAX_UNITS = 50


@dataclass(frozen=True)
class Arg:
    name: str
    kind: str            # "id" | "text" | "ids"
    required: bool = True


@dataclass(frozen=True)
class Action:
    name: str
    args: tuple[Arg, ...]
    zh: str
    en: str


ACTIONS: Mapping[str, Action] = {a.name: a for a in (
    Action("dispatch_confirm", (Arg("incident_id", "id"), Arg("package_id", "id")),
           "确认派车", "confirm dispatch"),
    Action("dispatch_edit", (Arg("incident_id", "id"), Arg("package_id", "id"),
                             Arg("add", "ids", False), Arg("remove", "ids", False),
                             Arg("reason", "text")), "调整方案", "edit package"),
    Action("dispatch_reject", (Arg("incident_id", "id"), Arg("package_id", "id"),
                               Arg("reason", "text", False)), "驳回方案", "reject package"),
    Action("unit_status", (Arg("unit_id", "id"), Arg("status", "id"),
                           Arg("reason", "text", False)), "变更单位状态", "change unit status"),
    Action("moveup_confirm", (Arg("moveup_id", "id"),), "确认前置调防", "confirm move-up"),
)}
# codes of refusals (stable: the cockpit and the audit log key on them)
REFUSALS = ("unknown_action", "missing_field", "bad_field", "unknown_incident",
            "unknown_package", "stale_package", "incident_closed", "unknown_unit", "unit_unavailable",
            "not_capable", "not_in_package", "unknown_status", "bad_transition",
            "unknown_moveup", "stale_moveup", "nothing_to_do")


class ActionError(ValueError):
    def __init__(self, code: str, field: str, reason: str) -> None:
        super().__init__(f"{code}: {field}: {reason}")
        self.code, self.field, self.reason = code, field, reason
        self.records: list[dict[str, Any]] = []   # what the board did instead (a new plan)


def check_args(cmd: Mapping[str, Any]) -> tuple[Action, dict[str, Any]]:
    """The action and its normalised arguments; :class:`ActionError` if malformed."""
    name = cmd.get("action")
    action = ACTIONS.get(name) if isinstance(name, str) else None
    if action is None:
        raise ActionError("unknown_action", "action",
                          f"{str(name)[:40]!r} is not one of {sorted(ACTIONS)}")
    out: dict[str, Any] = {}
    for a in action.args:
        v = cmd.get(a.name)
        if v is None or v == "" or v == []:
            if a.required:
                raise ActionError("missing_field", a.name, "is required")
            out[a.name] = [] if a.kind == "ids" else ""
            continue
        if a.kind == "ids":
            if not isinstance(v, list) or len(v) > MAX_UNITS or not all(
                    isinstance(x, str) and 0 < len(x) <= MAX_ID for x in v):
                raise ActionError("bad_field", a.name,
                                  f"must be a list of at most {MAX_UNITS} unit ids")
            out[a.name] = list(dict.fromkeys(v))
        else:
            limit = MAX_ID if a.kind == "id" else MAX_REASON
            if not isinstance(v, str) or len(v) > limit or (a.kind == "id" and not v.strip()):
                raise ActionError("bad_field", a.name, f"must be a string of at most {limit} "
                                  "characters")
            out[a.name] = v.strip() if a.kind == "text" else v
            if a.required and not out[a.name]:
                raise ActionError("missing_field", a.name, "is required")
    return action, out
