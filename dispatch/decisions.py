"""The dispatcher's decisions on the board: confirm, edit or reject a package, change a
unit's status by hand, confirm a move-up. Each is checked (arguments, then facts) and either
applied, returning its records, or refused with a stable code (:data:`dispatch.actions.
REFUSALS`) and nothing changed.
"""

from __future__ import annotations

from typing import Any, Mapping, Protocol

from dispatch.actions import ActionError, check_args
from dispatch.fleet import Fleet
from dispatch.incidents import Incidents, TrackedIncident
from dispatch.planner import Planner
from dispatch.records import CommandResult, record
from dispatch.status import StatusError, check_manual
from dispatch.traffic import TrafficState

Record = dict[str, Any]


class Board(Protocol):
    """What a decision reads and changes of the board (:class:`dispatch.board.Board`)."""

    fleet: Fleet
    incidents: Incidents
    planner: Planner
    traffic: TrafficState | None
    packages: dict[str, dict[str, Any]]
    moveups: dict[str, dict[str, Any]]
    now_ms: int

    def replan(self, inc: TrackedIncident, at: int, actor: str = ...,
               force: bool = ...) -> list[Record]: ...

    def green_wave(self, unit_id: str, at: int) -> list[Record]: ...


def apply_command(board: Board, cmd: Mapping[str, Any], now_ms: int) -> CommandResult:
    try:
        action, args = check_args(cmd)
        actor = str(cmd.get("actor") or "dispatcher")
        key = str(cmd.get("command_id", ""))
        records = HANDLERS[action.name](board, args, actor, now_ms, key)
    except ActionError as exc:
        return CommandResult(exc.records, exc.code, exc.field, exc.reason)
    board.now_ms = max(board.now_ms, now_ms)
    return CommandResult(records)


# -- checks -------------------------------------------------------------------------------


def _package(board: Board, args: Mapping[str, Any], *states: str
             ) -> tuple[TrackedIncident, dict[str, Any]]:
    inc = board.incidents.get(args["incident_id"])
    if inc is None:
        raise ActionError("unknown_incident", "incident_id", "no such incident")
    pkg = board.packages.get(args["package_id"])
    if pkg is None or pkg["incident_id"] != inc.incident_id:
        raise ActionError("unknown_package", "package_id", "no such package of it")
    if inc.status != "open":
        raise ActionError("incident_closed", "incident_id", f"the incident is {inc.status}")
    if pkg["package_id"] != inc.package_id or pkg["status"] not in states:
        raise ActionError("stale_package", "package_id",
                          f"package is {pkg['status']}; the current one is "
                          f"{inc.package_id or 'none'}")
    return inc, pkg


def _check_free(board: Board, unit_ids: list[str], incident_id: str, field: str) -> None:
    for uid in unit_ids:
        s = board.fleet.state.get(uid)
        if s is None:
            raise ActionError("unknown_unit", field, f"no unit {uid!r}")
        if s.incident_id != incident_id and not board.fleet.assignable(uid):
            raise ActionError("unit_unavailable", field, f"{uid} is {s.status}"
                              + (f" on {s.incident_id}" if s.incident_id else ""))


# -- actions ------------------------------------------------------------------------------


def _do_dispatch_confirm(board: Board, args: Mapping[str, Any], actor: str, at: int,
                         key: str) -> list[Record]:
    inc, pkg = _package(board, args, "recommended")
    units = [it["unit_id"] for it in pkg["items"]]
    try:
        _check_free(board, units, inc.incident_id, "package_id")
    except ActionError as exc:   # the fleet moved on: refuse, and offer a fresh plan
        exc.records = board.replan(inc, at, force=True)
        raise
    pkg["status"] = "confirmed"
    out = [record("package_confirmed", at, incident_id=inc.incident_id, actor=actor,
                  payload={"package_id": pkg["package_id"], "units": units},
                  key=(pkg["package_id"], key))]
    out += _assign(board, inc.incident_id, units, at, actor, pkg["package_id"])
    for mu in pkg.get("moveups", ()):
        board.moveups[mu["moveup_id"]] = {**mu, "status": "suggested", "at_ms": at,
                                         "package_id": pkg["package_id"],
                                         "incident_id": inc.incident_id}
        out.append(record("moveup_suggested", at, incident_id=inc.incident_id,
                          unit_id=mu["unit_id"], payload=mu, key=(mu["moveup_id"],)))
    return out


def _assign(board: Board, incident_id: str, units: list[str], at: int, actor: str,
            package_id: str) -> list[Record]:
    out: list[Record] = []
    for uid in units:
        if board.fleet.state[uid].incident_id == incident_id:
            continue
        out.append(record("unit_assigned", at, incident_id=incident_id, unit_id=uid,
                          actor=actor, payload={"package_id": package_id},
                          key=(package_id,)))
        out += board.fleet.set_status(uid, "dispatched", at, actor=actor, source="board",
                                     incident_id=incident_id, reason="assigned")
    return out


def _do_dispatch_edit(board: Board, args: Mapping[str, Any], actor: str, at: int,
                      key: str) -> list[Record]:
    inc, pkg = _package(board, args, "recommended", "confirmed")
    have = [it["unit_id"] for it in pkg["items"]]
    add = [u for u in args["add"] if u not in have]
    remove = list(args["remove"])
    if not add and not remove:
        raise ActionError("nothing_to_do", "add", "no unit to add or remove")
    for uid in remove:
        if uid not in have:
            raise ActionError("not_in_package", "remove", f"{uid} is not in the package")
    _check_free(board, add, inc.incident_id, "add")
    needed = {n["capability"] for n in pkg["card"]["needs"]}
    for uid in add:
        spec = board.fleet.spec(uid)
        if spec is None or not any(c in needed for c in spec.capabilities):
            raise ActionError("not_capable", "add", f"{uid} has none of "
                              f"{sorted(needed)}")
    confirmed = pkg["status"] == "confirmed"
    keep = [u for u in have if u not in remove] + add
    exclude = frozenset(pkg.get("excluded", ())) | frozenset(remove)
    new = board.planner.plan(inc, board.incidents.patients(inc), board.fleet, board.traffic,
                            at, inc.packages, exclude=exclude, keep=keep)
    assert new is not None    # (the incident had a package, so it has a type and place)
    if confirmed:      # a committed package changes only by what the dispatcher said
        dropped = [it for it in new["items"] if not it["kept"]]
        new["items"] = [it for it in new["items"] if it["kept"]]
        new["unfilled"] += [{"capability": it["capability"], "missing": 1,
                             "reason": "excluded", "zh": "调度员已移除",
                             "en": "removed by the dispatcher"} for it in dropped]
    new.update(status=pkg["status"], excluded=sorted(exclude),
               edit={"from": pkg["package_id"], "add": add, "remove": remove,
                     "reason": args["reason"], "actor": actor})
    pkg["status"] = "edited"
    inc.packages += 1
    inc.package_id = new["package_id"]
    board.packages[new["package_id"]] = new
    out = [record("package_edited", at, incident_id=inc.incident_id, actor=actor,
                  payload=new, key=(new["package_id"], key))]
    if confirmed:
        out += _assign(board, inc.incident_id, add, at, actor, new["package_id"])
        for uid in remove:
            out += board.fleet.set_status(uid, "available", at, actor=actor,
                                         source="dispatcher", incident_id="",
                                         reason=args["reason"])
    return out


def _do_dispatch_reject(board: Board, args: Mapping[str, Any], actor: str, at: int,
                        key: str) -> list[Record]:
    inc, pkg = _package(board, args, "recommended")
    pkg["status"] = "rejected"
    return [record("package_rejected", at, incident_id=inc.incident_id, actor=actor,
                   payload={"package_id": pkg["package_id"], "reason": args["reason"]},
                   key=(pkg["package_id"], key))]


def _do_unit_status(board: Board, args: Mapping[str, Any], actor: str, at: int,
                    key: str) -> list[Record]:
    uid, new = args["unit_id"], args["status"]
    s = board.fleet.state.get(uid)
    if s is None:
        raise ActionError("unknown_unit", "unit_id", f"no unit {uid!r}")
    try:
        check_manual(s.status, new)
    except StatusError as exc:
        raise ActionError(exc.code, "status", exc.reason) from exc
    was = s.status
    out = board.fleet.set_status(uid, new, at, actor=actor, source="dispatcher",
                                reason=args["reason"])
    if not out:
        raise ActionError("nothing_to_do", "status", f"{uid} is already {new}")
    if new == "en_route" and was != "en_route":
        out += board.green_wave(uid, at)
    return out


def _do_moveup_confirm(board: Board, args: Mapping[str, Any], actor: str, at: int,
                       key: str) -> list[Record]:
    mu = board.moveups.get(args["moveup_id"])
    if mu is None:
        raise ActionError("unknown_moveup", "moveup_id", "no such move-up")
    if mu["status"] != "suggested" or not board.fleet.assignable(mu["unit_id"]):
        raise ActionError("stale_moveup", "moveup_id",
                          f"move-up is {mu['status']}; unit "
                          f"{board.fleet.state[mu['unit_id']].status}")
    mu["status"] = "confirmed"
    s = board.fleet.state[mu["unit_id"]]
    s.lat, s.lon, s.posted = float(mu["to_lat"]), float(mu["to_lon"]), mu["to_station"]
    return [record("moveup_confirmed", at, incident_id=mu["incident_id"],
                   unit_id=mu["unit_id"], actor=actor, key=(mu["moveup_id"], key),
                   payload={k: mu[k] for k in ("moveup_id", "from_station", "to_station",
                                               "to_lat", "to_lon", "target")})]


HANDLERS = {"dispatch_confirm": _do_dispatch_confirm, "dispatch_edit": _do_dispatch_edit,
            "dispatch_reject": _do_dispatch_reject, "unit_status": _do_unit_status,
            "moveup_confirm": _do_moveup_confirm}
