"""The messages the cockpit reads from Kafka, checked: detector alerts, command results and
notifications (incident, alert and silence events are checked by their views).

Apart from the hub so that the feed and the tests can check a message without the hub's
state. A message that is not usable raises :class:`~cockpit_api.errors.MalformedMessage`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .errors import MalformedAlert, MalformedMessage
from .reading_view import reading_of

Alert = dict[str, Any]
STATUSES = ("firing", "resolved")


def normalize_alert(obj: object) -> Alert:
    """Return a validated copy of ``obj`` with ``fingerprint`` and ``status`` filled in,
    and its ``reading`` (:mod:`cockpit_api.reading_view`: the value with its precision, the
    threshold with its side) for the page."""
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
    alert["reading"] = reading_of(alert)
    return alert


def _require(obj: object, what: str, strings: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise MalformedMessage(f"{what} is not a JSON object but {type(obj).__name__}")
    for k in strings:
        if not isinstance(obj.get(k), str) or not obj[k]:
            raise MalformedMessage(f"{what}: {k!r} must be a non-empty string")
    return dict(obj)


def normalize_command_result(obj: object) -> dict[str, Any]:
    res = _require(obj, "command result", ("command_id",))
    if not isinstance(res.get("ok"), bool):
        raise MalformedMessage(f"command result {res['command_id']!r}: 'ok' must be a boolean")
    return res


def normalize_notification(obj: object) -> dict[str, Any]:
    """A notification, or the worker's delivery record of one (``streams.notifiers``:
    ``{"notification": {...}, "outcome", "channel", "attempts", "reason", "at_ms"}``)."""
    if isinstance(obj, dict) and isinstance(obj.get("notification"), dict):
        obj = {**obj["notification"], **{k: v for k, v in obj.items() if k != "notification"}}
    return _require(obj, "notification", ("key", "receiver"))
