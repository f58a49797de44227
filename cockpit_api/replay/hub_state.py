"""The picture an :class:`~cockpit_api.hub.AlertHub` holds, kept aside and put back (pure).

A replay's seek rebuilds the hub as it was at a moment: from the picture kept at the nearest
earlier moment (:func:`capture`: the folded state, pickled into bytes, compact and
independent of the hub that goes on changing) and the records after it. :func:`restore`
puts a captured picture into the hub the clients are subscribed to, in place: the hub, its
clients, its delivery and its configuration stay; only what the records fold changes.

What is the picture is declared here field by field (:data:`PICTURE`, :data:`LAYER_PARTS`),
and what is not (:data:`NOT_PICTURE`): a test checks that every field of the hub is one or
the other, so a new part of the hub cannot be forgotten by a seek.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass, fields
from typing import Any

from ..hub import AlertHub

# the hub's parts the records fold (AlertHub fields; ``_alerts`` and ``_notes`` are its
# boards of detector alerts and notifications)
PICTURE = ("_alerts", "_notes", "alert_states", "incidents", "silences", "dispatch")
# of ``layers``: what is folded (its road speeds and district lookup are configuration)
LAYER_PARTS = ("hazmat", "congestion", "health")
# of ``counters``: what the records count (dropped clients are the clients' own)
COUNTED = ("published", "malformed", "received", "malformed_by")
# configuration, wiring and readings that a moment of the replay does not decide
NOT_PICTURE = ("max_alerts", "queue_size", "queue_bytes", "ring_size", "ring_bytes",
               "feed_state", "feed_missing", "kpis", "kpi_wanted", "max_notifications",
               "places", "processes", "visibility", "delivery", "counters", "layers")


@dataclass(frozen=True)
class HubState:
    """A captured picture: ``data`` (pickled parts) at event time ``at_ms``, after the first
    ``applied`` records of the timeline."""

    at_ms: int
    applied: int
    data: bytes

    @property
    def size(self) -> int:
        return len(self.data)


def picture_fields() -> tuple[str, ...]:
    """Every field of :class:`AlertHub` (what :data:`PICTURE` and :data:`NOT_PICTURE` cover)."""
    return tuple(f.name for f in fields(AlertHub))


def capture(hub: AlertHub, at_ms: int, applied: int) -> HubState:
    parts: dict[str, Any] = {name: getattr(hub, name) for name in PICTURE}
    parts["layers"] = {name: getattr(hub.layers, name) for name in LAYER_PARTS}
    parts["counters"] = {name: getattr(hub.counters, name) for name in COUNTED}
    return HubState(at_ms, applied, pickle.dumps(parts, protocol=pickle.HIGHEST_PROTOCOL))


def restore(hub: AlertHub, state: HubState) -> None:
    """Put ``state``'s picture into ``hub`` (its clients are not told: see the channel)."""
    parts = pickle.loads(state.data)  # noqa: S301 - bytes this process pickled itself
    for name in PICTURE:
        setattr(hub, name, parts[name])
    for name, value in parts["layers"].items():
        setattr(hub.layers, name, value)
    for name, value in parts["counters"].items():   # (the delivery holds this object)
        setattr(hub.counters, name, value)
    # the cutting rules read the incidents through the board they were given
    hub.visibility.incident = hub.incidents.get
