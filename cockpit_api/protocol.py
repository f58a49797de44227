"""The cockpit's websocket protocol: what the server sends, what a client may ask (pure).

UTF-8 JSON text frames. A client signs in with its first frame (:mod:`cockpit_api.auth.login`):
``{"type": "login", "user", "password"}`` or ``{"type": "auth", "token"}``, either optionally
with ``"resume": n, "epoch": e`` (where it left off, below) and ``"layers"``/``"districts"``
(its subscription, below). Then it is sent its ``session`` and the hub's messages.

Sequence numbers, snapshot and deltas
-------------------------------------
Every message the hub fans out (a *delta*: every type below but ``stats``) carries ``"seq":
n``, one counter per hub, strictly increasing, and ``"prev": m``, the ``seq`` of the last
delta (or the snapshot) *this client* was sent before it. A client is sent only what its role
and subscription let it see, so its ``seq``s have gaps; ``prev`` is how it still detects a
loss: ``prev`` must equal the ``seq`` it holds, else something is missing and it asks for a
new snapshot (``{"type": "snapshot"}``). (The server never skips a message on a live
connection: a client whose queue overflows is closed, 1013, and resumes.)

* ``{"type": "snapshot", "seq": n, "epoch": e, ...}`` -- the whole picture the client may see,
  consistent with ``seq`` n: built and queued in one step of the hub (no await between them),
  so the first delta after it has ``prev`` n and is the first change it does not hold.
  ``why`` (when it answers a ``resume`` it could not honour): ``gone`` (the ring no longer
  holds the deltas after n), ``epoch`` (another hub: the cockpit restarted), ``ahead`` (n is
  past this hub's last seq). ``epoch`` names the hub instance: seqs of another are meaningless.
* ``{"type": "resumed", "from": n, "to": m, "epoch": e}`` -- the answer to ``resume`` n: the
  deltas after n the client may see follow (``prev`` of the first is n), replayed from a
  bounded ring of recent deltas (settings ``cockpit_ring_size`` / ``cockpit_ring_bytes``),
  cut to what the client sees *now*.

Coalescing: a client's queue is bounded (``cockpit_queue_size`` messages and
``cockpit_queue_bytes``). A newer ``positions`` message of a layer, ``congestion``, ``kpis`` or
``stats`` message (and ``sensor_health``) is folded into a pending one of its kind
(:data:`COALESCED`) instead of queued behind it: items by id, the newest (by ``at_ms``; an item
gone, null, always) winning; ``kpis``, ``sensor_health`` and ``stats`` replaced.
The pending message keeps its place and its ``seq`` and gets ``"through": n`` (the newest
``seq`` folded in): what it carries is at least as new as its ``seq`` says, so a client that
resumes from it is sent those newer deltas again (they fold in idempotently). Every other
message keeps its order.

Subscriptions
-------------
``{"type": "subscribe", "layers": [...], "districts": [...]}`` (empty or missing: all):
narrows, on top of the role, the ``positions``/``congestion`` layers (:data:`LAYERS`) and the
districts (codes of the city profile) the client is sent; answered ``{"type": "subscribed",
"layers", "districts"}`` and a new snapshot cut to it. A layer or district nobody knows:
``command_error`` (``code`` ``unknown_value``, ``wrong_type`` for a non-list, ``field`` naming
it); the subscription stays as it was.

Server -> client messages
-------------------------
* ``{"type": "snapshot", "alerts": [...], "max_alerts": N, "alert_states": [...],
  "incidents": [...], "notifications": [...], "silences": [...], "silenced": {fp: [ids]},
  "places": {...}, "dispatch": {...}, "kpis": {...}}`` -- first message on every connection
  (unless resumed), each list most recently changed first; ``silenced``: the muted alerts
  only; ``places``: the city's and its districts' names (``{"city": {"zh", "en"},
  "districts": {code: {"zh", "en"}}}``); ``dispatch``: the unit board, open packages,
  move-ups and incidents' dispatch timelines (:mod:`cockpit_api.dispatch_view`); ``kpis``:
  today's KPI figures of the client's scopes; ``layers`` (when the hub holds map layers):
  ``{layer: {id: item}}``.
* ``{"type": "kpis", "kpis": {...}}`` -- the KPI figures were refreshed (or went stale):
  :mod:`cockpit_api.kpi_view`.
* ``{"type": "alert", "alert": {...}, "silenced_by": [ids]}`` -- a detector alert fired or
  changed (e.g. resolved).
* ``{"type": "alert_state", "fingerprint": fp, "state": {...} | null, "event": {...},
  "silenced_by": [ids]}`` -- an alert lifecycle change (``state`` null: it was forgotten).
* ``{"type": "silence", "silence_id": id, "silence": {...} | null, "event": {...},
  "silenced": {fp: [ids]}}`` -- a silence was created or changed, or is over (null);
  ``silenced``: the new marks of every alert it muted before or mutes now (``[]``: none).
* ``{"type": "incident", "incident": {...}, "event": {...}}`` -- an incident changed; its
  ``status`` is ``open``, ``resolved`` or ``merged`` (the last two: drop it).
* ``{"type": "notification", "notification": {...}}`` -- a notification to a receiver.
* ``{"type": "dispatch", "record": {...}, "incident_id": id, "unit": {...} | null,
  "package": {...} | null, "moveup": {...} | null, "entry": {...} | null}`` -- a dispatch
  record (topic ``dispatch``) and what it changed.
* ``{"type": "positions", "layer": "units" | "hazmat", "items": {id: {"lat", "lon", "at_ms",
  ...} | null}}`` and ``{"type": "congestion", "items": {id: {"lat", "lon", "level",
  "speed_kmh", "at_ms"} | null}}`` -- the map's moving layers, batched (null: gone;
  :mod:`cockpit_api.layers`; the snapshot's ``layers``: their current items).
* ``{"type": "sensor_health", "health": {...}}`` -- lifeline sensor health changed
  (:mod:`cockpit_api.sensor_health`).
* ``{"type": "command_result", "result": {...}}`` -- what became of a command (to its sender;
  a client matches its own ``command_id``s).
* ``{"type": "command_queued" | "command_error", ...}`` and ``subscribed`` -- to the sender of
  a frame only; no ``seq`` (they are answers, not part of the picture).
* ``{"type": "stats", ...}`` -- after the snapshot and periodically (counters, feed state);
  no ``seq``: a reading superseded by the next, never replayed.
* A replay cockpit only (:mod:`cockpit_api.replay`): the snapshot's ``replay`` and
  ``{"type": "replay", "mode", "start_ms", "end_ms", "at_ms", "speed", "paused", ...}``
  -- the session shown (no ``seq``); a seek starts every client over from a snapshot of a
  new epoch. Clients send ``{"type": "replay", "op": ...}`` controls
  (:mod:`cockpit_api.replay.controls`; the live cockpit refuses them ``not_replay``).

Client -> server after sign-in: commands (:mod:`cockpit_api.commands`), ``subscribe`` and
``snapshot`` (above). Clients ignore message types and fields they do not know.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from .errors import CommandRejected

LAYERS = ("units", "hazmat", "congestion")   # the map layers a client may subscribe to
POSITION_LAYERS = ("units", "hazmat")         # layers sent as ``positions`` messages
# message types folded into a pending one of the same key (see the module docstring)
COALESCED = ("positions", "congestion", "sensor_health", "kpis", "stats")
UNSEQUENCED = ("stats",)                      # fan-out messages that are not deltas
MAX_RESUME = 2 ** 53 - 1                      # (a JSON number the page can hold exactly)
MAX_EPOCH_CHARS = 64


@dataclass(frozen=True)
class Interest:
    """What a client subscribed to: layers and districts (None: all)."""

    layers: frozenset[str] | None = None
    districts: frozenset[str] | None = None

    def to_message(self) -> dict[str, Any]:
        return {"type": "subscribed", "layers": sorted(self.layers or ()),
                "districts": sorted(self.districts or ())}


ALL = Interest()


def _names(msg: Mapping[str, Any], field: str, known: Collection[str]) -> frozenset[str] | None:
    value = msg.get(field)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise CommandRejected("wrong_type", field, f"{field} must be a list of strings")
    unknown = sorted(set(value) - set(known))
    if unknown:
        raise CommandRejected("unknown_value", field,
                              f"unknown {field}: {', '.join(map(repr, unknown[:5]))} "
                              f"(known: {', '.join(sorted(known))})")
    return frozenset(value) or None


def parse_interest(msg: Mapping[str, Any], districts: Collection[str]) -> Interest:
    """The subscription a ``subscribe`` (or sign-in) message asks for, against the city's
    ``districts``; :class:`CommandRejected` when it names what nobody knows."""
    return Interest(_names(msg, "layers", LAYERS), _names(msg, "districts", districts))


@dataclass(frozen=True)
class Resume:
    """Where a reconnecting client left off: the last ``seq`` it holds of hub ``epoch``."""

    seq: int
    epoch: str


def parse_resume(msg: Mapping[str, Any]) -> Resume | str | None:
    """The sign-in message's ``resume``/``epoch``: None (not asked), a :class:`Resume`, or
    the stable reason it cannot be used (``bad_resume``: the client gets a snapshot)."""
    if "resume" not in msg or msg["resume"] is None:
        return None
    seq, epoch = msg["resume"], msg.get("epoch")
    if isinstance(seq, bool) or not isinstance(seq, int) or not 0 <= seq <= MAX_RESUME:
        return "bad_resume"
    if not isinstance(epoch, str) or not 0 < len(epoch) <= MAX_EPOCH_CHARS:
        return "bad_resume"
    return Resume(seq, epoch)
