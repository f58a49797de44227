"""Who may see and do what in the cockpit: roles, agencies and views, as data (pure).

* ``viewer`` -- the big screen: sees, never commands.
* ``dispatcher`` of one agency (:data:`AGENCIES`) -- sees the alerts of its agency's streams
  and the incidents they are part of, and acknowledges, claims, comments, resolves, notes
  and links calls on those (:data:`ROLE_ACTIONS`); commits its agency's units
  (:data:`DISPATCH_ACTIONS`: confirms or rejects the package of an incident it sees that its
  agency leads, adds or removes only its agency's units, changes their status, confirms
  their move-ups; :data:`AGENCY_OF_UNIT`, :mod:`cockpit_api.authorize`).
* ``supervisor`` -- every alert and incident command, and silences.
* ``admin`` -- what a supervisor may; users are administered with the ``citycc`` command.

Any user may be limited to some districts (none: the whole city): what it sees and what it
may command both stop there (:class:`View`). The stream an alert came from decides its
agency (:data:`AGENCY_OF_STREAM`, the one place that mapping is declared).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from alerting.alert_model import COMMANDS as ALERT_ACTIONS

from ..commands import DISPATCH_ACTIONS

VIEWER, DISPATCHER, SUPERVISOR, ADMIN = "viewer", "dispatcher", "supervisor", "admin"
ROLES = (VIEWER, DISPATCHER, SUPERVISOR, ADMIN)

# agency id -> the input streams whose alerts are its business
AGENCIES: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "120": ("ems",),                 # 120 急救中心, emergency medical service
    "119": ("fire",),                # 119 消防救援, fire and rescue
    "traffic_police": ("traffic",),  # 交警
    "hazmat": ("hazmat",),           # 危化品监管
    "utilities": ("lifeline",),      # 燃气/供水/排水/桥梁: the city-lifeline sensors
})
AGENCY_OF_STREAM: Mapping[str, str] = MappingProxyType(
    {stream: agency for agency, streams in AGENCIES.items() for stream in streams})
# a unit's agency (dispatch.units, the fleet configuration) -> the cockpit agency whose
# dispatchers commit it
AGENCY_OF_UNIT: Mapping[str, str] = MappingProxyType({
    "ems": "120", "fire": "119", "police": "traffic_police", "gas": "utilities",
    "water": "utilities", "environment": "hazmat"})

INCIDENT_ACTIONS = ("add_note", "link_call", "resolve_incident", "merge_incidents",
                    "split_incident")
SILENCE_ACTIONS = ("silence", "expire_silence", "extend_silence")
EVERY_ACTION = frozenset((*ALERT_ACTIONS, *INCIDENT_ACTIONS, *SILENCE_ACTIONS,
                          *DISPATCH_ACTIONS))
ROLE_ACTIONS: Mapping[str, frozenset[str]] = MappingProxyType({
    VIEWER: frozenset(),
    DISPATCHER: frozenset((*ALERT_ACTIONS, "add_note", "link_call", "resolve_incident",
                           *DISPATCH_ACTIONS)),
    SUPERVISOR: EVERY_ACTION,
    ADMIN: EVERY_ACTION,
})
# roles that are told the results of commands whose sender this cockpit does not know
# (another cockpit's, or one sent before a restart)
SEES_EVERY_RESULT = frozenset({SUPERVISOR, ADMIN})


@dataclass(frozen=True)
class View:
    """What part of the city a client sees: ``agencies`` and ``districts`` it is limited
    to (None: all). Hashable, so clients with the same view share one encoded message."""

    agencies: frozenset[str] | None = None
    districts: frozenset[str] | None = None

    @property
    def unrestricted(self) -> bool:
        return self.agencies is None and self.districts is None

    def sees(self, agencies: Iterable[str], district: str) -> bool:
        """Something of ``agencies`` (any of them) in ``district`` ("" : unknown)."""
        if self.districts is not None and district not in self.districts:
            return False
        return self.agencies is None or not self.agencies.isdisjoint(agencies)

    def sees_labels(self, labels: Mapping[str, str] | None) -> bool:
        """An alert, by its labels (``stream``, ``district``); None: no such alert."""
        if labels is None:
            return self.unrestricted
        agency = AGENCY_OF_STREAM.get(labels.get("stream", ""))
        return self.sees((agency,) if agency else (), labels.get("district", ""))

    def sees_incident(self, incident: Mapping[str, object] | None) -> bool:
        """An incident view (``streams``: its members' and calls' streams, ``district``)."""
        if incident is None:
            return self.unrestricted
        streams = incident.get("streams")
        agencies = [AGENCY_OF_STREAM[s] for s in streams if s in AGENCY_OF_STREAM] \
            if isinstance(streams, list) else []
        district = incident.get("district")
        return self.sees(agencies, district if isinstance(district, str) else "")


@dataclass(frozen=True)
class Principal:
    """A signed-in user: the actor of every command it gives."""

    user: str
    role: str
    agency: str = ""
    districts: tuple[str, ...] = ()
    display: str = ""

    def may(self, action: str) -> bool:
        return action in ROLE_ACTIONS.get(self.role, frozenset())

    @property
    def actions(self) -> list[str]:
        return sorted(ROLE_ACTIONS.get(self.role, frozenset()))

    @property
    def view(self) -> View:
        return View(frozenset({self.agency}) if self.role == DISPATCHER else None,
                    frozenset(self.districts) if self.districts else None)


def check_role(role: str, agency: str) -> None:
    """ValueError unless ``role`` is known and ``agency`` is given exactly for a dispatcher."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; one of {list(ROLES)}")
    if role == DISPATCHER and agency not in AGENCIES:
        raise ValueError(f"a dispatcher needs an agency, one of {list(AGENCIES)}; "
                         f"not {agency!r}")
    if role != DISPATCHER and agency:
        raise ValueError(f"only a dispatcher belongs to an agency (role {role!r})")
