"""citycc cockpit: live alerts from Kafka pushed to a bilingual command-hall web page."""

from typing import Any

from .alert_feed import decode_alert, run_alert_feed
from .hub import AlertHub, MalformedAlert, Subscription, normalize_alert

__all__ = ["AlertHub", "MalformedAlert", "Subscription", "decode_alert", "normalize_alert",
           "run", "run_alert_feed", "serve"]


def __getattr__(name: str) -> Any:
    # Lazy, so ``python -m cockpit_api.server`` does not import the module twice.
    if name in ("run", "serve"):
        from . import server
        return getattr(server, name)
    raise AttributeError(name)
