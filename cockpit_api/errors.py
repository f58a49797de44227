"""The cockpit's exceptions, under one root."""

from __future__ import annotations

from typing import Any


class CockpitError(Exception):
    """Root of every error the cockpit raises on purpose."""


class MalformedMessage(CockpitError, ValueError):
    """A Kafka message the cockpit cannot use; ``str(exc)`` says why."""


def require_ids(ev: dict[str, Any], what: str, keys: tuple[str, ...]) -> None:
    """MalformedMessage unless each of ``keys`` is a non-empty string in ``ev``."""
    for k in keys:
        if not isinstance(ev.get(k), str) or not ev[k]:
            raise MalformedMessage(f"{what} {ev.get('event_id')!r}: {k!r} must be a "
                                   f"non-empty string")


class MalformedAlert(MalformedMessage):
    """The message cannot be used as an alert; ``str(exc)`` says why."""


class CommandRejected(CockpitError, ValueError):
    """A client's command refused before it reaches Kafka. ``code`` is stable, ``field``
    names the offending part ("" for the whole message), ``reason`` says why."""

    def __init__(self, code: str, field: str, reason: str, command_id: str | None = None
                 ) -> None:
        super().__init__(f"{field or '<message>'}: {reason} [{code}]")
        self.code, self.field, self.reason, self.command_id = code, field, reason, command_id

    def to_message(self) -> dict[str, Any]:
        """The ``command_error`` reply to the client."""
        return {"type": "command_error", "command_id": self.command_id, "code": self.code,
                "field": self.field, "reason": self.reason}


class CommandsUnavailable(CockpitError):
    """The commands topic cannot take a command now (broker down, timeout)."""
