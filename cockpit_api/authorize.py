"""May this user give this command? The role decides the action; the view decides the
target (pure over what the hub holds). Refusals are :class:`CommandRejected` with code
``forbidden`` and the field that is not the user's to act on.

A user limited to an agency or to districts acts only on what it sees
(:mod:`cockpit_api.visibility`): an alert by its labels, an incident by its streams and
district, a call line by its agency; a district-limited supervisor silences only with a
``district="..."`` matcher of its own districts, and changes only such silences. Something
the hub does not hold cannot be shown to be the user's, so it is refused too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from alerting.labels import LabelError, parse_matchers

from .auth.roles import AGENCY_OF_STREAM, INCIDENT_ACTIONS, Principal, View
from .errors import CommandRejected

INCIDENT_FIELDS = ("incident_id", "target", "source")


class Board(Protocol):
    """What the hub holds that a command can be about."""

    def labels(self, fingerprint: str) -> dict[str, str] | None: ...

    def incident(self, incident_id: str) -> Mapping[str, Any] | None: ...

    def silence(self, silence_id: str) -> Mapping[str, Any] | None: ...


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
    if action in INCIDENT_ACTIONS:
        for field in INCIDENT_FIELDS:
            if field in command and not view.sees_incident(board.incident(command[field])):
                raise refuse(field, f"incident {command[field]!r} is not one you may act on")
    if action == "link_call" and view.agencies is not None and \
            AGENCY_OF_STREAM.get(command["stream"]) not in view.agencies:
        raise refuse("stream", f"a {command['stream']} call is not your agency's")
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
