"""Notifications: what one receiver is told (of an alert event, an escalation page or a
group flush), and the interface of whatever tells it.

A :class:`Notifier` does the sending (its I/O lives outside this package) and says how a
failure should be treated by raising :class:`RetryableError` or :class:`PermanentError`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Mapping, Protocol

from alerting.records import maker
from schemas.records import stable_id


class NotifyError(Exception):
    """Root of notification failures."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class RetryableError(NotifyError):
    """Try again later (timeout, 5xx, 429); ``retry_after_s`` if the receiver said when."""

    def __init__(self, reason: str, retry_after_s: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after_s = retry_after_s


class PermanentError(NotifyError):
    """Retrying cannot help (4xx, bad address, payload refused): the notification is dead."""


@dataclass(frozen=True)
class Notification:
    """What one receiver is told. ``key`` identifies it across restarts (the outbox and the
    receiver dedup on it); ``details`` must be JSON-serialisable."""

    key: str
    receiver: str
    fingerprint: str
    status: str              # firing | resolved | acknowledged | escalation
    severity: str
    summary: str
    at_ms: int
    occurrence: int = 0
    level: int = 0           # escalation level (0: not an escalation page)
    labels: tuple[tuple[str, str], ...] = ()
    details: Mapping[str, Any] = field(default_factory=dict, hash=False)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["labels"], d["details"] = dict(self.labels), dict(self.details)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Notification:
        return cls(**{**d, "labels": tuple(sorted(dict(d.get("labels", {})).items())),
                      "details": dict(d.get("details", {}))})


_new_notification = maker(Notification)   # (every field, in order: made per notification)


def for_event(event: Any, receiver: str, summary: str = "") -> Notification:
    """The notification of a lifecycle AlertEvent (one with ``notify`` set) to ``receiver``."""
    labels = dict(event.labels)
    return _new_notification(stable_id("notify", event.event_id, receiver), receiver,
                        event.fingerprint, event.to_state, event.severity,
                        summary or f"{event.kind} {event.entity_id} {event.to_state}",
                        event.at_ms, event.occurrence, 0, tuple(sorted(labels.items())),
                        {"event_id": event.event_id, "action": event.action,
                         "alert_id": event.alert_id, "district": event.district})


def for_page(page: Any, target: str, severity: str = "", summary: str = "") -> Notification:
    """The notification of an escalation Page to one of its targets."""
    labels = dict(page.labels)
    return _new_notification(stable_id("notify", page.key, target), target, page.fingerprint,
                        "escalation", severity or labels.get("severity", ""),
                        summary or f"escalation level {page.level}: "
                                   f"{labels.get('kind', '')} {labels.get('entity_id', '')}"
                                   f" ({labels.get('district', '')})",
                        page.due_ms, page.occurrence, page.level, tuple(sorted(labels.items())),
                        {"policy": page.policy, "round": page.round, "page_key": page.key})


def for_group(group: Any, summary: str = "") -> Notification:
    """The notification of an aggregation group's flush (``alerting.grouping``'s record:
    receiver, group_key, group_labels, firing, resolved, reason, route, at_ms). Its key
    covers the content and the flush time, so it is as deterministic as that time."""
    labels = tuple(sorted(dict(group.group_labels).items()))
    key = stable_id("notify-group", group.receiver, group.group_key, group.reason, group.at_ms,
                    *group.firing, "|", *group.resolved)
    return _new_notification(key, group.receiver, group.group_key,
                        "firing" if group.firing else "resolved",
                        dict(labels).get("severity", ""),
                        summary or f"{len(group.firing)} firing, {len(group.resolved)} resolved",
                        group.at_ms, 0, 0, labels,
                        {"route": group.route, "reason": group.reason,
                         "firing": list(group.firing), "resolved": list(group.resolved)})


class Notifier(Protocol):
    """Sends one notification; returns on success, raises RetryableError/PermanentError."""

    def notify(self, notification: Notification) -> None: ...
