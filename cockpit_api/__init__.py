"""citycc cockpit: the live picture from Kafka pushed to a bilingual command-hall web page,
and operator commands from the page back to Kafka; who may see and do what (``auth``), and
the audit trail of both."""

from typing import Any

from .commands import ACTIONS, CODES, ValidCommand, parse_client_message, validate_command
from .errors import (CockpitError, CommandRejected, CommandsUnavailable, MalformedAlert,
                     MalformedMessage)
from .feed import KafkaFeed, Source, decode_alert, run_feed, sources_for
from .hub import AlertHub, Subscription, normalize_alert

__all__ = ["ACTIONS", "CODES", "AlertHub", "CockpitError", "CommandRejected",
           "CommandsUnavailable", "KafkaFeed", "MalformedAlert", "MalformedMessage", "Source",
           "Subscription", "ValidCommand", "decode_alert", "normalize_alert",
           "parse_client_message", "run", "run_feed", "serve", "sources_for",
           "validate_command"]


def __getattr__(name: str) -> Any:
    # Lazy, so ``python -m cockpit_api.server`` does not import the module twice.
    if name in ("run", "serve"):
        from . import server
        return getattr(server, name)
    raise AttributeError(name)
