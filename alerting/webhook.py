"""Webhooks: a notification as signed bytes, and the check a receiver makes of them.

The body is JSON with sorted keys, so the same notification is always the same bytes; the
signature is an HMAC-SHA256 over a timestamp and the body, so a captured request cannot
be replayed later, and the key header lets a receiver drop a redelivery.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any, Sequence
from urllib.parse import urlsplit

import orjson

from alerting.notification import Notification, PermanentError

SIGNATURE_HEADER = "X-Citycc-Signature"   # "t=<unix s>,v1=<hex hmac-sha256>"
KEY_HEADER = "X-Citycc-Key"               # the notification key: receivers dedup on it


def webhook_problem(url: str, secret: str) -> str | None:
    """What makes a webhook unusable, said before anything is sent (None: nothing): every
    POST is signed, so an empty secret would fail each delivery at send time, forever; a
    URL that is not http(s) to a host would fail each one too."""
    if not url:
        return None
    parsed = urlsplit(url)
    try:
        parsed.port   # (raises for a port that is not 0..65535)
    except ValueError as exc:
        return f"the webhook URL {url!r} has a bad port: {exc}"
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        return f"the webhook URL {url!r} must be http:// or https:// and name a host"
    if not secret.strip():
        return ("a webhook needs a secret: every POST is signed with it (HMAC-SHA256), and "
                "without one no notification could be sent")
    return None


def webhook_payload(n: Notification) -> bytes:
    """The JSON body of a webhook: keys sorted at every level, so the same notification is
    always the same bytes (and the same signature)."""
    try:
        return orjson.dumps({"version": 1, **n.to_dict()}, option=orjson.OPT_SORT_KEYS)
    except TypeError as exc:
        raise PermanentError(f"notification {n.key}: details not JSON-serialisable: {exc}") \
            from exc


def sign_webhook(body: bytes, secret: bytes, timestamp_s: int) -> str:
    """``t=<timestamp>,v1=<hex HMAC-SHA256 of "<timestamp>." + body>`` (Stripe/Slack style:
    the timestamp is signed too, so a captured request cannot be replayed later)."""
    if not isinstance(secret, bytes) or not secret:
        raise ValueError("sign_webhook: secret must be non-empty bytes")
    ts = int(timestamp_s)
    mac = hmac.new(secret, f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={ts},v1={mac}"


def verify_webhook(header: Any, body: Any, secrets: bytes | Sequence[bytes], now_s: int,
                   tolerance_s: int = 300) -> bool:
    """True if ``header`` signs ``body`` with one of ``secrets`` (several: key rotation) and
    its timestamp is within ``tolerance_s`` of ``now_s``. Malformed input is just False
    (``header`` and ``body`` are what a request held: typed Any, checked here)."""
    if not isinstance(header, str) or not isinstance(body, bytes):
        return False
    keys = [secrets] if isinstance(secrets, bytes) else list(secrets)
    parts = [p.split("=", 1) for p in header.split(",") if "=" in p]
    ts = [v.strip() for k, v in parts if k.strip() == "t"]
    sigs = [v.strip() for k, v in parts if k.strip() == "v1"]
    if len(ts) != 1 or not (ts[0].isascii() and ts[0].isdigit()) or not sigs \
            or abs(now_s - int(ts[0])) > tolerance_s:
        return False
    good = {sign_webhook(body, k, int(ts[0])).split("v1=", 1)[1] for k in keys
            if isinstance(k, bytes) and k}
    return any(hmac.compare_digest(s.encode(), g.encode()) for s in sigs for g in good)
