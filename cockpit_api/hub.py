"""In-memory cockpit hub: the current picture, fanned out to the websocket clients.

Pure (no I/O). A ``publish_*`` method folds one message into the state and hands the client
message to :class:`~cockpit_api.delivery.Delivery` (numbered, kept in the ring of recent
deltas, cut and encoded once per audience, put into every client's bounded outbox without
waiting; a client whose outbox overflows is dropped and closed with 1013). A producer should
yield to the event loop between publishes (the feed does) so that a burst longer than
``queue_size`` does not drop clients that keep up.

The picture (each part bounded): detector alerts by fingerprint (``alerts`` topic), their
lifecycle states (:mod:`cockpit_api.alert_states`), the open incidents with their members
and latest timeline entries (:mod:`cockpit_api.incident_view`), the latest notifications,
the current silences (:mod:`cockpit_api.silence_view`). Each alert is marked with the ids of
the current silences muting it (``silenced_by``), matched against the engine's labels of the
alert (its lifecycle state's ``labels``; without them ``alerting.labels.labels_of`` of the
detector alert), as the engine mutes it.

The websocket protocol (messages, seq, snapshot, resume, subscriptions, coalescing) is
:mod:`cockpit_api.protocol`; delivery to the clients is :mod:`cockpit_api.delivery`.

Alerts are kept as received (unknown fields pass through). An alert is accepted when it is a
JSON object with a non-empty string ``fingerprint`` (or ``alert_id``) and a ``status`` of
``firing`` or ``resolved`` (missing status means ``firing``); anything else is counted as
malformed, as are events the normalisers refuse, messages nested deeper than
``schemas.limits.MAX_DEPTH`` and messages a bug in folding them stops: the hub keeps
nothing it could not send again, so a new client always gets its snapshot.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from schemas.jsonin import too_deep
from schemas.limits import MAX_DEPTH

from .alert_board import AlertBoard, NoteBoard
from .alert_states import AlertStates, entry_of, normalize_alert_event
from .errors import MalformedAlert, MalformedMessage
from .dispatch_view import DispatchView, normalize_dispatch_record
from .delivery import (DEFAULT_QUEUE_BYTES, DEFAULT_QUEUE_SIZE, DEFAULT_RING_BYTES,
                       DEFAULT_RING_SIZE, OVERFLOW_REASON, Delivery, Ring, Subscription)
from .kpi_view import KpiBoard
from .layers import Layers
from .incident_view import IncidentBoard, normalize_incident_event
from .messages import Alert, normalize_alert, normalize_command_result, normalize_notification
from .protocol import ALL, Interest, Resume
from .silence_view import SilenceBoard, SilenceChange, alert_labels, normalize_silence_event
from .visibility import EVERYONE, Audience, Visibility

log = logging.getLogger(__name__)

DEFAULT_MAX_ALERTS = 500
DEFAULT_MAX_NOTIFICATIONS = 50
SOURCES = ("alert", "alert event", "incident event", "command result", "notification",
           "silence event", "dispatch record", "traffic event", "hazmat event")

__all__ = ["OVERFLOW_REASON", "AlertHub", "MalformedAlert", "Subscription",
           "normalize_alert", "normalize_command_result", "normalize_notification"]


@dataclass
class HubCounters:
    published: int = 0          # detector alerts accepted
    malformed: int = 0
    dropped_clients: int = 0
    received: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SOURCES, 0))
    # by message type (a hub source, or the topic of a message that did not decode)
    malformed_by: dict[str, int] = field(default_factory=dict)


@dataclass
class AlertHub:
    """The cockpit's picture (see the module docstring), fanned out to subscribed clients."""

    max_alerts: int = DEFAULT_MAX_ALERTS
    queue_size: int = DEFAULT_QUEUE_SIZE
    queue_bytes: int = DEFAULT_QUEUE_BYTES
    ring_size: int = DEFAULT_RING_SIZE
    ring_bytes: int = DEFAULT_RING_BYTES
    counters: HubCounters = field(default_factory=HubCounters)
    feed_state: str = "idle"
    feed_missing: list[str] = field(default_factory=list)
    alert_states: AlertStates = field(default_factory=AlertStates)
    incidents: IncidentBoard = field(default_factory=IncidentBoard)
    silences: SilenceBoard = field(default_factory=SilenceBoard)
    dispatch: DispatchView = field(default_factory=DispatchView)
    kpis: KpiBoard = field(default_factory=KpiBoard)
    layers: Layers = field(default_factory=Layers)
    kpi_wanted: asyncio.Event = field(default_factory=asyncio.Event, repr=False)
    max_notifications: int = DEFAULT_MAX_NOTIFICATIONS
    places: dict[str, Any] = field(default_factory=dict)
    processes: dict[str, Any] = field(default_factory=dict)  # the supervisor's, checked
    visibility: Visibility = field(init=False, repr=False)    # who is sent what
    delivery: Delivery = field(init=False, repr=False)        # the clients
    _alerts: AlertBoard = field(init=False, repr=False)
    _notes: NoteBoard = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._alerts = AlertBoard(self.max_alerts)
        self._notes = NoteBoard(self.max_notifications)
        self.visibility = Visibility(self._labels, self.incidents.get)
        self.delivery = Delivery(self.visibility, self.counters, self.snapshot, self.stats,
                                 self._want_kpis, queue_size=self.queue_size,
                                 queue_bytes=self.queue_bytes,
                                 ring=Ring(self.ring_size, self.ring_bytes))

    # --- producer side -------------------------------------------------------------------
    def publish(self, alert: object, where: str = "") -> bool:
        """Store and fan out one detector alert; a malformed one is counted, ``False``."""
        return self._ingest("alert", normalize_alert, self._on_alert, alert, where)

    def publish_alert_event(self, event: object, where: str = "") -> bool:
        return self._ingest("alert event", normalize_alert_event, self._on_alert_event,
                            event, where)

    def publish_incident_event(self, event: object, where: str = "") -> bool:
        return self._ingest("incident event", normalize_incident_event,
                            self._on_incident_event, event, where)

    def publish_command_result(self, result: object, where: str = "") -> bool:
        return self._ingest("command result", normalize_command_result,
                            lambda r: {"type": "command_result", "result": r}, result, where)

    def publish_notification(self, note: object, where: str = "") -> bool:
        return self._ingest("notification", normalize_notification, self._on_notification,
                            note, where)

    def publish_silence_event(self, event: object, where: str = "") -> bool:
        return self._ingest("silence event", normalize_silence_event, self._on_silence_event,
                            event, where)

    def publish_dispatch_record(self, record: object, where: str = "") -> bool:
        return self._ingest("dispatch record", normalize_dispatch_record, self.dispatch.apply,
                            record, where)

    def publish_layer_event(self, source: str, value: object, where: str = "") -> bool:
        """Fold validated ``source`` events (``traffic``, ``hazmat``: a list, as the feed's
        :func:`~cockpit_api.layers.decode_input` gives them) into the map's layers; sent by
        :meth:`flush_layers`, not one message per event."""
        if f"{source} event" not in self.counters.received:
            self.record_malformed(f"{where}: no map layer follows {source!r}", source)
            return False

        def fold(item: dict[str, Any]) -> None:
            self.layers.observe(source, item["events"])
        events = value if isinstance(value, list) else [value]
        return self._ingest(f"{source} event", _events, fold, {"events": events}, where)

    def flush_layers(self, now_ms: int) -> None:
        """What changed in the layers since the last flush: one message per layer."""
        for message in self.layers.flush(now_ms):
            self.delivery.fan_out(message)

    def publish_kpis(self, figures: dict[Any, dict[str, Any]], updated: str) -> None:
        """Fresh KPI figures per scope (:mod:`cockpit_api.kpi_load`), sent to everyone."""
        self.delivery.fan_out(self.kpis.update(figures, updated))

    def kpis_failed(self, error: str) -> None:
        """A KPI refresh failed: the last figures are kept and marked stale."""
        self.delivery.fan_out(self.kpis.failed(error))

    def record_malformed(self, reason: str, source: str = "alert") -> None:
        """Count (and log) a message that could not be used."""
        self.counters.malformed += 1
        self.counters.malformed_by[source] = self.counters.malformed_by.get(source, 0) + 1
        log.warning("malformed %s #%d: %s", source, self.counters.malformed, reason)

    def publish_stats(self) -> None:
        """Send a ``stats`` message to every client."""
        self.delivery.fan_out(self.stats())

    # --- client side (cockpit_api.delivery) -----------------------------------------------
    def subscribe(self, audience: Audience = EVERYONE, interest: Interest = ALL,
                  resume: Resume | str | None = None) -> Subscription:
        """Register a client; its queue already holds the snapshot (what ``audience`` may
        see of it, cut to ``interest``) or its resume, and a stats message."""
        return self.delivery.subscribe(audience, interest, resume)

    def resnapshot(self, sub: Subscription, interest: Interest | None = None) -> None:
        """A fresh snapshot for ``sub`` (a client that saw a gap, or changed ``interest``)."""
        self.delivery.resnapshot(sub, interest)

    def unsubscribe(self, sub: Subscription) -> None:
        self.delivery.unsubscribe(sub)

    def reply(self, sub: Subscription, message: Mapping[str, Any]) -> None:
        """Queue a message for one client only (behind what it was already sent)."""
        self.delivery.reply(sub, message)

    def broadcast(self, message: dict[str, Any]) -> None:
        """Fan out a message the hub's state already holds (e.g. a map layer change)."""
        self.delivery.fan_out(message)

    def _want_kpis(self, view: Any) -> None:
        if self.kpis.want(view):   # a scope nobody needed yet: compute it now
            self.kpi_wanted.set()

    # --- views ---------------------------------------------------------------------------
    def alerts(self) -> list[Alert]:
        """Retained alerts, most recently updated first."""
        return self._alerts.alerts()

    def notifications(self) -> list[dict[str, Any]]:
        return self._notes.notes()

    def snapshot(self) -> dict[str, Any]:
        return {"type": "snapshot", "alerts": self.alerts(), "max_alerts": self.max_alerts,
                "alert_states": self.alert_states.states(),
                "incidents": self.incidents.incidents(),
                "notifications": self.notifications(), "silences": self.silences.silences(),
                "silenced": self.silenced(), "places": self.places,
                "dispatch": self.dispatch.snapshot(), "kpis": self.kpis.part(),
                "layers": self.layers.part(self.dispatch.units())}

    def silenced_by(self, fingerprint: str) -> list[str]:
        """Ids of the current silences muting the alert ``fingerprint`` (none if unknown)."""
        if not len(self.silences):
            return []
        labels = self._labels(fingerprint)
        return list(self.silences.matching(labels)) if labels is not None else []

    def silenced(self) -> dict[str, list[str]]:
        """Every muted alert's ``silenced_by``."""
        if not len(self.silences):
            return {}
        marks = {fp: self.silenced_by(fp) for fp in self._fingerprints()}
        return {fp: ids for fp, ids in marks.items() if ids}

    def firing_counts(self) -> dict[str, int]:
        return self._alerts.firing_counts()

    def stats(self) -> dict[str, Any]:
        return {"type": "stats", "published": self.counters.published,
                "malformed": self.counters.malformed,
                "dropped_clients": self.counters.dropped_clients,
                "clients": len(self.delivery.subs), "retained": len(self._alerts),
                "firing": self.firing_counts(), "feed": self.feed_state,
                "feed_missing": list(self.feed_missing),
                "received": dict(self.counters.received),
                "alert_states": self.alert_states.counts(), "incidents": len(self.incidents),
                "silences": len(self.silences), "processes": self.processes}

    @property
    def client_count(self) -> int:
        return len(self.delivery.subs)

    def labels(self, fingerprint: str) -> dict[str, str] | None:
        """The engine's labels of an alert the hub holds (None: it holds none)."""
        return self._labels(fingerprint)

    # --- internals -----------------------------------------------------------------------
    def _ingest(self, source: str, normalize: Callable[[object], dict[str, Any]],
                fold: Callable[[dict[str, Any]], dict[str, Any] | None], obj: object,
                where: str) -> bool:
        try:
            item = normalize(obj)
            # refuse what could not be sent again before it changes any state: a value
            # too deep fits one message but not the snapshot that nests it further
            if too_deep(item, MAX_DEPTH):
                raise MalformedMessage(f"nested deeper than {MAX_DEPTH} levels [too_deep]")
            orjson.dumps(item)
            message = fold(item)
        except (MalformedMessage, TypeError) as exc:  # orjson raises a TypeError subclass
            self.record_malformed(f"{where}: {exc}" if where else str(exc), source)
            return False
        except Exception as exc:  # noqa: BLE001 - a bug that this message set off
            log.exception("%s %s: cannot be folded", source, where)
            self.record_malformed(f"{where}: internal: {type(exc).__name__}: {exc}"[:500],
                                  source)
            return False
        self.counters.received[source] += 1
        if message is not None:
            self.delivery.fan_out(message)
        return True

    def _on_alert(self, alert: Alert) -> dict[str, Any]:
        key = alert["fingerprint"]
        self._alerts.put(alert)
        self.counters.published += 1
        self.layers.health.observe(alert)   # (sent batched, with the map's layers)
        return {"type": "alert", "alert": alert, "silenced_by": self.silenced_by(key)}

    def _on_alert_event(self, ev: dict[str, Any]) -> dict[str, Any] | None:
        changed, state = self.alert_states.apply(ev)
        if not changed:
            return None
        return {"type": "alert_state", "fingerprint": ev["fingerprint"], "state": state,
                "event": entry_of(ev), "silenced_by": self.silenced_by(ev["fingerprint"])}

    def _on_silence_event(self, ev: dict[str, Any]) -> dict[str, Any] | None:
        change = self.silences.apply(ev)
        if change is None:
            return None
        return {"type": "silence", "silence_id": change.silence_id, "silence": change.view,
                "event": change.entry, "silenced": self._remarked(change)}

    def _remarked(self, change: SilenceChange) -> dict[str, list[str]]:
        """The marks of the alerts a silence change may have changed: those its matchers,
        before or after, match (a silence's change touches no other alert's marks)."""
        out: dict[str, list[str]] = {}
        for fp in self._fingerprints():
            labels = self._labels(fp)
            if labels is not None and change.touches(labels):
                out[fp] = list(self.silences.matching(labels))
        return out

    def _fingerprints(self) -> list[str]:
        """Every alert the hub holds (a detector alert, a lifecycle state or both)."""
        held = dict.fromkeys(self._alerts)
        held.update(dict.fromkeys(s["fingerprint"] for s in self.alert_states.states()))
        return list(held)

    def _labels(self, fingerprint: str) -> dict[str, str] | None:
        return alert_labels(self.alert_states.get(fingerprint), self._alerts.get(fingerprint))

    def _on_incident_event(self, ev: dict[str, Any]) -> dict[str, Any] | None:
        folded = self.incidents.apply(ev)
        if folded is None:
            return None
        if folded[0]["status"] != "open":
            self.dispatch.forget_incident(ev["incident_id"])
        return {"type": "incident", "incident": folded[0], "event": folded[1]}

    def _on_notification(self, note: dict[str, Any]) -> dict[str, Any]:
        self._notes.put(note)
        return {"type": "notification", "notification": note}


def _events(obj: object) -> dict[str, Any]:
    if not isinstance(obj, dict) or not all(isinstance(e, dict) for e in obj["events"]):
        raise MalformedMessage("layer events must be JSON objects")
    return obj
