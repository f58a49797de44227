"""Notifications: the notifier interface, the retrying outbox, webhook payloads and signatures.

One module per concept, re-exported here so that callers keep one import: the
notification, its builders and the Notifier with its errors (``alerting.notification``),
the retrying outbox (``alerting.outbox``) and webhook bodies and signatures
(``alerting.webhook``).
"""

from __future__ import annotations

from alerting.notification import (Notification, Notifier, NotifyError, PermanentError,
                                   RetryableError, for_event, for_group, for_page)
from alerting.outbox import OK, PERMANENT, RETRYABLE, Attempt, Dead, Outbox, drain
from alerting.webhook import (KEY_HEADER, SIGNATURE_HEADER, sign_webhook, verify_webhook,
                              webhook_payload)

__all__ = ["KEY_HEADER", "OK", "PERMANENT", "RETRYABLE", "SIGNATURE_HEADER", "Attempt", "Dead",
           "Notification", "Notifier", "NotifyError", "Outbox", "PermanentError",
           "RetryableError", "drain", "for_event", "for_group", "for_page", "sign_webhook",
           "verify_webhook", "webhook_payload"]
