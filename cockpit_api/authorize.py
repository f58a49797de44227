"""May this user give this command? The role decides the action; the view decides the
target (pure over what the hub holds). Refusals are :class:`CommandRejected` with code
``forbidden`` and the field that is not the user's to act on.

A user limited to an agency or to districts acts only on what it sees
(:mod:`cockpit_api.visibility`): an alert by its labels, an incident by its streams and
district, a call line by its agency; a district-limited supervisor silences only with a
``district="..."`` matcher of its own districts, and changes only such silences. A
dispatcher commits its agency's units only (:data:`~cockpit_api.auth.roles.AGENCY_OF_UNIT`):
it confirms or rejects the current package of an incident it sees when its agency leads
that package (sends the most of its units; on a tie, the first slot's: the run card lists
the leading capability first). A package is one decision the board applies whole, so the
119 dispatcher commits a structure fire's engines with its ambulance, and a 120 dispatcher
who sees that incident does not commit 119's engines. It adds to or removes from a package
only units of its agency, and changes the status or confirms the move-up of those only. Something the hub does not hold cannot be shown to be
the user's, so it is refused too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from alerting.labels import LabelError, parse_matchers

from .auth.roles import AGENCY_OF_STREAM, DISPATCH_ACTIONS, INCIDENT_ACTIONS, Principal, View
from .dispatch_view import lead_agency, unit_agency
from .errors import CommandRejected

INCIDENT_FIELDS = ("incident_id", "target", "source")


class Board(Protocol):
    """What the hub holds that a command can be about."""

    def labels(self, fingerprint: str) -> dict[str, str] | None: ...

    def incident(self, incident_id: str) -> Mapping[str, Any] | None: ...

    def silence(self, silence_id: str) -> Mapping[str, Any] | None: ...

    def package(self, incident_id: str) -> Mapping[str, Any] | None: ...

    def unit(self, unit_id: str) -> Mapping[str, Any] | None: ...

    def moveup(self, moveup_id: str) -> Mapping[str, Any] | None: ...


class HubBoard:
    """:class:`Board` over an :class:`~cockpit_api.hub.AlertHub`."""

    def __init__(self, hub: Any) -> None:
        self.hub = hub

    def labels(self, fingerprint: str) -> dict[str, str] | None:
        labels: dict[str, str] | None = self.hub.labels(fingerprint)
        return labels

    def incident(self, incident_id: str) -> Mapping[str, Any] | None:
        found: Mapping[str, Any] | None = self.hub.incidents.get(incident_id)
        return found

    def silence(self, silence_id: str) -> Mapping[str, Any] | None:
        found: Mapping[str, Any] | None = self.hub.silences.get(silence_id)
        return found

    def package(self, incident_id: str) -> Mapping[str, Any] | None:
        found: Mapping[str, Any] | None = self.hub.dispatch.package(incident_id)
        return found

    def unit(self, unit_id: str) -> Mapping[str, Any] | None:
        found: Mapping[str, Any] | None = self.hub.dispatch.unit(unit_id)
        return found

    def moveup(self, moveup_id: str) -> Mapping[str, Any] | None:
        found: Mapping[str, Any] | None = self.hub.dispatch.moveup(moveup_id)
        return found


def authorize(principal: Principal, command: Mapping[str, Any], board: Board) -> None:
    """Nothing if ``principal`` may give ``command`` (a valid one), else CommandRejected."""
    action, cid = command["action"], command.get("command_id")

    def refuse(field: str, reason: str) -> CommandRejected:
        return CommandRejected("forbidden", field, reason, cid)

    if not principal.may(action):
        raise refuse("action", f"a {principal.role} may not {action}" + (
            " (the big screen only shows)" if not principal.actions else ""))
    view = principal.view
    if view.unrestricted:
        return
    if "fingerprint" in command and not view.sees_labels(board.labels(command["fingerprint"])):
        raise refuse("fingerprint", f"alert {command['fingerprint']!r} is not one you may act "
                                    f"on")
    if action in INCIDENT_ACTIONS or action in DISPATCH_ACTIONS:
        for field in INCIDENT_FIELDS:
            if field in command and not view.sees_incident(board.incident(command[field])):
                raise refuse(field, f"incident {command[field]!r} is not one you may act on")
    if action == "link_call" and view.agencies is not None and \
            AGENCY_OF_STREAM.get(command["stream"]) not in view.agencies:
        raise refuse("stream", f"a {command['stream']} call is not your agency's")
    if action in DISPATCH_ACTIONS:
        _own_units(view, command, board, refuse)
    if action == "silence":
        _own_districts(view, command["matchers"], refuse, "matchers")
    elif "silence_id" in command:
        silence = board.silence(command["silence_id"])
        if silence is None:
            raise refuse("silence_id", f"silence {command['silence_id']!r} is not one you may "
                                       f"change")
        _own_districts(view, silence.get("matchers") or [], refuse, "silence_id")


def _own_districts(view: View, matchers: list[str], refuse: Any, field: str) -> None:
    """A district-limited user's silence must pin ``district`` to districts of its own."""
    if view.districts is None:
        return
    try:
        parsed = parse_matchers(list(matchers))
    except LabelError:
        parsed = ()
    pinned = {m.value for m in parsed if m.name == "district" and m.op == "="}
    if not pinned or not pinned <= view.districts:
        raise refuse(field, f"a silence of yours needs a district=\"...\" matcher of your "
                            f"districts {sorted(view.districts)}")


def _own_units(view: View, command: Mapping[str, Any], board: Board, refuse: Any) -> None:
    """A dispatch command of a limited user names units it may commit (see the module)."""
    def mine(unit_id: str) -> bool:
        unit = board.unit(unit_id)
        if unit is None or (view.districts is not None and
                            unit.get("district") not in view.districts):
            return False
        return view.agencies is None or unit_agency(unit) in view.agencies

    action = command["action"]
    if action in ("dispatch_confirm", "dispatch_reject"):
        held = board.package(command["incident_id"])
        if held is None or held.get("package_id") != command["package_id"]:
            raise refuse("package_id", f"package {command['package_id']!r} is not the "
                                       f"incident's current package here")
        lead = lead_agency(held.get("items") or (), board.unit)
        if view.agencies is not None and lead not in view.agencies:
            raise refuse("package_id", f"package {command['package_id']!r} is led by "
                                       f"{lead or 'no agency'}'s units, not yours")
    for field in ("add", "remove"):
        for uid in command.get(field) or ():
            if not mine(uid):
                raise refuse(field, f"unit {uid!r} is not one you may commit")
    if action == "unit_status" and not mine(command["unit_id"]):
        raise refuse("unit_id", f"unit {command['unit_id']!r} is not one you may commit")
    if action == "moveup_confirm":
        held = board.moveup(command["moveup_id"])
        if held is None or not mine(str(held.get("unit_id") or "")):
            raise refuse("moveup_id", f"move-up {command['moveup_id']!r} is not one you may "
                                      f"confirm")
