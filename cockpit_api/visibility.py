"""What each client is sent: the hub's messages cut to the client's :class:`Audience` (pure).

A client sees what its view (:class:`~cockpit_api.auth.roles.View`) covers: alerts by their
labels' stream (its agency) and district, lifecycle states and notifications by their
alert's labels, incidents by their streams and district, every current silence but only the
marks of alerts it sees. Dispatch: every unit of its districts (the unit board is shared
by the agencies: who else is near matters to each), the packages, move-ups and dispatch
records of the incidents it sees. KPI figures: the scopes of its view
(:func:`cockpit_api.kpi_view.scopes_of`). Map layers (``positions``, ``congestion`` and the
snapshot's ``layers``): the layers it subscribed to (:data:`~cockpit_api.protocol.LAYERS`),
their items as :meth:`Visibility._layer` cuts them. Command results go to the user who sent
the command (to a supervisor or admin when this cockpit does not know the sender). Stats go
to everyone.

Fan-out stays cheap: a message is cut once per distinct audience and encoded once per
distinct result (an unrestricted audience gets the message itself).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from alerting.labels import labels_of

from .auth.roles import AGENCY_OF_STREAM, SEES_EVERY_RESULT, Principal, View
from .kpi_view import cut as kpi_cut
from .protocol import LAYERS

Labels = Callable[[str], "dict[str, str] | None"]
Incident = Callable[[str], "Mapping[str, Any] | None"]
MAX_SENDERS = 10_000


@dataclass(frozen=True)
class Audience:
    """Who a client is, as far as what it may be sent goes."""

    view: View = View()
    user: str = ""
    every_result: bool = True   # results of commands whose sender is unknown
    layers: frozenset[str] | None = None   # the map layers it subscribed to (None: all)

    @classmethod
    def of(cls, principal: Principal) -> Audience:
        return cls(principal.view, principal.user, principal.role in SEES_EVERY_RESULT)


EVERYONE = Audience()


class Visibility:
    """The cutting rules, with the hub's labels of an alert (``labels(fingerprint)``), its
    view of an incident (``incident(incident_id)``) and the senders of the commands this
    cockpit forwarded (:meth:`note_sender`)."""

    def __init__(self, labels: Labels, incident: Incident = lambda _: None,
                 max_senders: int = MAX_SENDERS) -> None:
        self.labels, self.incident, self.max_senders = labels, incident, max_senders
        self._senders: OrderedDict[str, str] = OrderedDict()

    def note_sender(self, command_id: str, user: str) -> None:
        self._senders[command_id] = user
        self._senders.move_to_end(command_id)
        while len(self._senders) > self.max_senders:
            self._senders.popitem(last=False)

    def sees_alert(self, view: View, fingerprint: str,
                   fallback: Mapping[str, Any] | None = None) -> bool:
        labels = self.labels(fingerprint)
        if labels is None and fallback is not None:
            labels = labels_of(fallback)
        return view.sees_labels(labels)

    def message_for(self, msg: dict[str, Any], aud: Audience) -> dict[str, Any] | None:
        """``msg`` as ``aud`` is sent it (the same object when unchanged), or None."""
        kind, view = msg.get("type"), aud.view
        if kind == "command_result":
            sender = self._senders.get(str(msg["result"].get("command_id")))
            return msg if (aud.user == sender if sender is not None else aud.every_result) \
                else None
        if kind in ("positions", "congestion"):
            layer = "congestion" if kind == "congestion" else str(msg.get("layer"))
            if aud.layers is not None and layer not in aud.layers:
                return None
            if view.unrestricted:
                return msg
            items = self._layer(view, layer, msg["items"])
            return {**msg, "items": items} if items else None
        if kind == "kpis":      # even the city's view is cut: the city scope only
            return {**msg, "kpis": kpi_cut(msg["kpis"], view)}
        if view.unrestricted or kind == "stats":
            return msg
        if kind == "alert":
            return msg if self.sees_alert(view, msg["alert"]["fingerprint"], msg["alert"]) \
                else None
        if kind == "alert_state":   # a forgotten alert (state null) is news to nobody's harm
            return msg if msg["state"] is None or self.sees_alert(view, msg["fingerprint"]) \
                else None
        if kind == "incident":
            return msg if view.sees_incident(msg["incident"]) else None
        if kind == "notification":
            return msg if self._sees_note(view, msg["notification"]) else None
        if kind == "silence":
            return {**msg, "silenced": self._marks(view, msg["silenced"])}
        if kind == "dispatch":
            return self._dispatch(view, msg)
        if kind == "sensor_health":
            return {**msg, "health": self._health(view, msg["health"])}
        return None   # a kind nobody taught this module: not to a restricted client

    def snapshot_for(self, snap: dict[str, Any], aud: Audience) -> dict[str, Any]:
        view = aud.view
        if "kpis" in snap:
            snap = {**snap, "kpis": kpi_cut(snap["kpis"], view)}
        if aud.layers is not None and isinstance(snap.get("layers"), Mapping):
            snap = {**snap, "layers": {name: items for name, items in snap["layers"].items()
                                       if name not in LAYERS or name in aud.layers}}
        if view.unrestricted:
            return snap
        return {**snap,
                "alerts": [a for a in snap["alerts"]
                           if self.sees_alert(view, a["fingerprint"], a)],
                "alert_states": [s for s in snap["alert_states"]
                                 if self.sees_alert(view, s["fingerprint"])],
                "incidents": [i for i in snap["incidents"] if view.sees_incident(i)],
                "notifications": [n for n in snap["notifications"]
                                  if self._sees_note(view, n)],
                "silenced": self._marks(view, snap["silenced"]),
                "dispatch": self._dispatch_snapshot(view, snap.get("dispatch") or {}),
                "layers": {name: self._health(view, items) if name == "sensor_health"
                           else self._layer(view, name, items)
                           for name, items in (snap.get("layers") or {}).items()}}

    def sees_incident_id(self, view: View, incident_id: str) -> bool:
        return view.sees_incident(self.incident(incident_id))

    @staticmethod
    def sees_unit(view: View, unit: Mapping[str, Any] | None) -> bool:
        return unit is None or view.districts is None or unit.get("district") in view.districts

    def _layer(self, view: View, layer: str, items: Mapping[str, Any]) -> dict[str, Any]:
        """The map layer's items ``view`` sees: units of its districts (as on the unit
        board), hazmat vehicles and congestion of its agencies' streams in its districts; an
        item gone (null) names only an id."""
        agencies = () if layer == "units" else \
            ((AGENCY_OF_STREAM.get("traffic" if layer == "congestion" else layer, ""),))
        return {k: v for k, v in items.items()
                if v is None or (self.sees_unit(view, v) if layer == "units"
                                 else view.sees(agencies, str(v.get("district") or "")))}

    @staticmethod
    def _health(view: View, health: Mapping[str, Any]) -> dict[str, Any]:
        """Sensor health of the districts ``view`` sees lifeline alerts in; the city's
        totals only for a view of the whole city."""
        agency = AGENCY_OF_STREAM.get("lifeline", "")
        return {"city": health.get("city") if view.districts is None and
                view.sees((agency,), "") else None,
                "districts": {d: c for d, c in (health.get("districts") or {}).items()
                              if view.sees((agency,), d)}}

    def _dispatch(self, view: View, msg: dict[str, Any]) -> dict[str, Any] | None:
        unit_ok = self.sees_unit(view, msg["unit"])
        if not msg["incident_id"] or self.sees_incident_id(view, msg["incident_id"]):
            return msg if unit_ok else {**msg, "unit": None}
        return {"type": "dispatch", "incident_id": "", "record": None, "package": None,
                "moveup": None, "entry": None, "unit": msg["unit"]} \
            if unit_ok and msg["unit"] is not None else None

    def _dispatch_snapshot(self, view: View, part: Mapping[str, Any]) -> dict[str, Any]:
        def sees(iid: Any) -> bool:
            return not iid or self.sees_incident_id(view, str(iid))
        return {"units": [u for u in part.get("units", ()) if self.sees_unit(view, u)],
                "packages": [p for p in part.get("packages", ()) if sees(p["incident_id"])],
                "moveups": [m for m in part.get("moveups", ())
                            if sees(m.get("incident_id"))],
                "timelines": {i: t for i, t in (part.get("timelines") or {}).items() if sees(i)},
                "preemptions": {i: n for i, n in (part.get("preemptions") or {}).items()
                                if sees(i)}}

    def encoded(self, msg: dict[str, Any], clients: Iterable[Any], whole: bytes | None = None
                ) -> Iterator[tuple[Any, dict[str, Any], bytes]]:
        """(client, message, bytes) for every client (anything with an ``audience``) sent
        ``msg``: the message as cut for it and its encoding (both shared: not to change);
        ``whole``: ``msg`` already encoded."""
        cut: dict[Audience, dict[str, Any] | None] = {}
        data: dict[int, bytes] = {id(msg): whole} if whole is not None else {}
        for client in clients:
            aud = client.audience
            if aud not in cut:
                cut[aud] = self.message_for(msg, aud)
            out = cut[aud]
            if out is None:
                continue
            if id(out) not in data:   # (``cut`` keeps ``out`` alive: its id is not reused)
                data[id(out)] = orjson.dumps(out)
            yield client, out, data[id(out)]

    def _sees_note(self, view: View, note: Mapping[str, Any]) -> bool:
        fp = note.get("fingerprint")
        if isinstance(fp, str) and fp and self.labels(fp) is not None:
            return self.sees_alert(view, fp)
        labels = note.get("labels")
        return view.sees_labels({str(k): str(v) for k, v in labels.items()}
                                if isinstance(labels, Mapping) else {})

    def _marks(self, view: View, marks: Mapping[str, list[str]]) -> dict[str, list[str]]:
        return {fp: ids for fp, ids in marks.items() if self.sees_alert(view, fp)}
