"""In-memory alert hub: latest alert per fingerprint plus a bounded queue per websocket client.

Pure (no I/O). Follows the websockets broadcast recipe: ``publish`` encodes a message once and
``put_nowait``s it into every client queue; a relay task per client (in ``server.py``) drains
its queue. The producer never waits. A client whose queue is full is dropped: it is
unsubscribed, its queue emptied, ``close_reason`` set, its ``dropped`` event set and
``dropped_clients`` incremented; the server then closes its socket (code 1013).
A producer should yield to the event loop between publishes (the feed does) so that a
burst longer than ``queue_size`` does not drop clients that keep up.

Websocket protocol (server -> client, UTF-8 JSON text frames; the client sends nothing):

* ``{"type": "snapshot", "alerts": [alert, ...], "max_alerts": N}`` -- first message on every
  connection; the retained alerts, most recently updated first.
* ``{"type": "alert", "alert": {...}}`` -- an alert was fired or updated (e.g. resolved);
  the client replaces its entry with the same ``fingerprint``.
* ``{"type": "stats", "published": int, "malformed": int, "dropped_clients": int,
  "clients": int, "retained": int, "firing": {severity: count}, "feed": str}`` -- after the
  snapshot and periodically. ``feed`` is the alert feed state (e.g. ``"connected"``).

Alerts are kept as received (unknown fields pass through). An alert is accepted when it is a
JSON object with a non-empty string ``fingerprint`` (or ``alert_id``) and a ``status`` of
``firing`` or ``resolved`` (missing status means ``firing``); anything else is counted as
malformed.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

log = logging.getLogger(__name__)

Alert = dict[str, Any]
STATUSES = ("firing", "resolved")
SEVERITIES = ("critical", "major", "minor", "info")
DEFAULT_MAX_ALERTS = 500
DEFAULT_QUEUE_SIZE = 256
OVERFLOW_REASON = "client too slow: send queue overflowed"


class MalformedAlert(ValueError):
    """The message cannot be used as an alert; ``str(exc)`` says why."""


def normalize_alert(obj: object) -> Alert:
    """Return a validated copy of ``obj`` with ``fingerprint`` and ``status`` filled in."""
    if not isinstance(obj, Mapping):
        raise MalformedAlert(f"alert is not a JSON object but {type(obj).__name__}")
    alert: Alert = dict(obj)
    key = alert.get("fingerprint") or alert.get("alert_id")
    if not isinstance(key, str) or not key.strip():
        raise MalformedAlert("alert has no fingerprint or alert_id string")
    status = alert.get("status", "firing")
    status = status.strip().lower() if isinstance(status, str) else status
    if status not in STATUSES:
        raise MalformedAlert(f"alert {key!r} has unknown status {alert.get('status')!r}")
    alert["fingerprint"] = key
    alert["status"] = status
    return alert


@dataclass(eq=False)
class Subscription:
    """One client's bounded outbox of encoded messages."""

    id: int
    queue: asyncio.Queue[bytes]
    closed: bool = False
    close_reason: str = ""
    dropped: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass
class HubCounters:
    published: int = 0
    malformed: int = 0
    dropped_clients: int = 0


@dataclass
class AlertHub:
    """Latest ``max_alerts`` alerts by fingerprint, fanned out to subscribed clients."""

    max_alerts: int = DEFAULT_MAX_ALERTS
    queue_size: int = DEFAULT_QUEUE_SIZE
    counters: HubCounters = field(default_factory=HubCounters)
    feed_state: str = "idle"
    _alerts: OrderedDict[str, Alert] = field(default_factory=OrderedDict, repr=False)
    _subs: dict[int, Subscription] = field(default_factory=dict, repr=False)
    _ids: itertools.count = field(default_factory=itertools.count, repr=False)

    def __post_init__(self) -> None:
        if self.max_alerts < 1 or self.queue_size < 2:
            raise ValueError("max_alerts must be >= 1 and queue_size >= 2")

    # --- producer side -------------------------------------------------------------------
    def publish(self, alert: object) -> bool:
        """Store and fan out one alert; a malformed one is counted and ``False`` returned."""
        try:
            clean = normalize_alert(alert)
            message = orjson.dumps({"type": "alert", "alert": clean})
        except (MalformedAlert, TypeError) as exc:  # orjson raises a TypeError subclass
            self.record_malformed(str(exc))
            return False
        key = clean["fingerprint"]
        self._alerts[key] = clean
        self._alerts.move_to_end(key)
        self._evict()
        self.counters.published += 1
        self._fan_out(message)
        return True

    def record_malformed(self, reason: str) -> None:
        """Count (and log) a message that could not be used as an alert."""
        self.counters.malformed += 1
        log.warning("malformed alert #%d: %s", self.counters.malformed, reason)

    def publish_stats(self) -> None:
        """Send a ``stats`` message to every client."""
        self._fan_out(orjson.dumps(self.stats()))

    # --- client side ---------------------------------------------------------------------
    def subscribe(self) -> Subscription:
        """Register a client; its queue already holds the snapshot and stats messages."""
        sub = Subscription(next(self._ids), asyncio.Queue(self.queue_size))
        sub.queue.put_nowait(orjson.dumps(self.snapshot()))
        self._subs[sub.id] = sub
        sub.queue.put_nowait(orjson.dumps(self.stats()))
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._subs.pop(sub.id, None)
        sub.closed = True

    # --- views ---------------------------------------------------------------------------
    def alerts(self) -> list[Alert]:
        """Retained alerts, most recently updated first."""
        return list(reversed(self._alerts.values()))

    def snapshot(self) -> dict[str, Any]:
        return {"type": "snapshot", "alerts": self.alerts(), "max_alerts": self.max_alerts}

    def firing_counts(self) -> dict[str, int]:
        counts = dict.fromkeys(SEVERITIES, 0)
        for alert in self._alerts.values():
            if alert["status"] == "firing":
                sev = alert.get("severity")
                sev = sev if isinstance(sev, str) and sev in counts else "info"
                counts[sev] += 1
        return counts

    def stats(self) -> dict[str, Any]:
        return {"type": "stats", "published": self.counters.published,
                "malformed": self.counters.malformed,
                "dropped_clients": self.counters.dropped_clients,
                "clients": len(self._subs), "retained": len(self._alerts),
                "firing": self.firing_counts(), "feed": self.feed_state}

    @property
    def client_count(self) -> int:
        return len(self._subs)

    # --- internals -----------------------------------------------------------------------
    def _evict(self) -> None:
        while len(self._alerts) > self.max_alerts:
            victim = next((k for k, a in self._alerts.items() if a["status"] == "resolved"),
                          next(iter(self._alerts)))
            del self._alerts[victim]

    def _fan_out(self, message: bytes) -> None:
        for sub in list(self._subs.values()):
            try:
                sub.queue.put_nowait(message)
            except asyncio.QueueFull:
                self._drop(sub)

    def _drop(self, sub: Subscription) -> None:
        self._subs.pop(sub.id, None)
        while not sub.queue.empty():
            sub.queue.get_nowait()
        sub.closed = True
        sub.close_reason = OVERFLOW_REASON
        sub.dropped.set()
        self.counters.dropped_clients += 1
        log.warning("dropped client %d: %s", sub.id, OVERFLOW_REASON)
