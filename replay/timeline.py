"""What a replay produces (pure): the records the live worker would have published, each at
the event-time watermark it was produced at.

(A minimal stand-in written to the shared interface of issue 16 by the cockpit's replay
channel until the replay core lands; the core's version replaces it.)
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class OutRecord:
    at_ms: int      # event-time watermark when it was produced
    topic: str      # registry name (schemas.topics.TOPICS)
    key: bytes
    value: bytes    # exactly the bytes the live worker publishes on that topic
