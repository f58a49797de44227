"""The topic registry: every Kafka topic citycc uses, declared once.

Names here are registry names; the full topic name is ``<prefix>.<name>`` (see
``Settings.topic``). No topic relies on log compaction (an outside Kafka may lack it).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping

DAY_MS = 24 * 3600 * 1000

# Size limits, all derived from the one input limit (Settings.max_message_bytes).
# A record on any topic is at most an input message, or a dead letter wrapping one, plus
# its key, its bounded citycc-* headers (schemas.records bounds every header) and the
# record-batch framing: HEADROOM_BYTES covers those with a wide margin.
HEADROOM_BYTES = 64 * 1024
# What a dead letter keeps of an original too big to travel whole (with its size and
# sha256): enough to see what it was and who sent it.
DEAD_LETTER_PREFIX_BYTES = 64 * 1024


def broker_message_max_bytes(max_message_bytes: int) -> int:
    """The one record-size limit every part must accept for inputs of ``max_message_bytes``:
    the broker's ``message.max.bytes``, each topic's ``max.message.bytes``, every producer's
    ``max_request_size`` and the consumers' per-partition fetch size."""
    if max_message_bytes <= 0:
        raise ValueError(f"max_message_bytes must be positive, got {max_message_bytes}")
    return max_message_bytes + HEADROOM_BYTES


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    key: str
    value_schema: str
    retention_ms: int
    cleanup_policy: str = "delete"
    doc: str = ""


_INPUT_DOC = ("A JSON event, or a batch {\"events\": [...]} of events of this stream; "
              "key: the producing gateway or entity id.")

TOPICS: Mapping[str, TopicSpec] = MappingProxyType({t.name: t for t in (
    TopicSpec("lifeline", 8, "gateway or entity_id", "lifeline", 7 * DAY_MS, doc=_INPUT_DOC),
    TopicSpec("ems", 4, "gateway or entity_id", "ems", 7 * DAY_MS, doc=_INPUT_DOC),
    TopicSpec("fire", 4, "gateway or entity_id", "fire", 7 * DAY_MS, doc=_INPUT_DOC),
    TopicSpec("traffic", 4, "gateway or entity_id", "traffic", 7 * DAY_MS, doc=_INPUT_DOC),
    TopicSpec("hazmat", 4, "gateway or entity_id", "hazmat", 7 * DAY_MS, doc=_INPUT_DOC),
    TopicSpec("alerts", 4, "fingerprint", "alert", 30 * DAY_MS,
              doc="One alert state (firing/resolved) per message."),
    TopicSpec("commands", 1, "fingerprint or incident id", "command", 30 * DAY_MS,
              doc="Operator commands from the cockpit (ack, claim, silence, merge, ...); one "
                  "partition, so every command is applied in the order it was given."),
    TopicSpec("command_results", 1, "command_id", "command result", 7 * DAY_MS,
              doc="What became of each command: applied (with the events it caused) or "
                  "refused (code, field, reason)."),
    TopicSpec("alert_events", 4, "fingerprint", "alert event", 30 * DAY_MS,
              doc="Every alert lifecycle state change (alerting.lifecycle.AlertEvent)."),
    TopicSpec("incident_events", 4, "incident_id", "incident event", 30 * DAY_MS,
              doc="Every incident change: opened, alert attached, merged, split, ... "
                  "(alerting.incident_model.IncidentEvent): the incident timeline."),
    TopicSpec("notifications", 2, "receiver", "notification", 30 * DAY_MS,
              doc="Notifications as delivered to the cockpit notifier, and the delivery "
                  "outcome of every notification (sent, retried, dead)."),
    TopicSpec("silence_events", 1, "silence_id", "silence event", 30 * DAY_MS,
              doc="Every silence created, extended, expired or ended "
                  "(alerting.silence_log): who muted what, why and until when."),
    TopicSpec("dispatch_events", 1, "entity_id", "dispatch event", 7 * DAY_MS,
              doc="Validated 120/119 calls, 119 incidents and unit status changes "
                  "({\"stream\": ..., \"event\": {...}}), for the alerting stage to link "
                  "them to incidents, and unit GPS reports and traffic segment/accident "
                  "events for the dispatch board (streams.dispatch_intake routes them); one "
                  "partition, so a call comes before its units."),
    TopicSpec("dispatch", 1, "incident_id or unit_id", "dispatch record", 30 * DAY_MS,
              doc="Every dispatch record of the worker's dispatch board (dispatch.board): "
                  "packages recommended, confirmed, edited or rejected, units assigned, unit "
                  "status, timers, move-ups; sunk into ClickHouse dispatch_log."),
    TopicSpec("signal_requests", 1, "signal node", "signal pre-emption request", 1 * DAY_MS,
              doc="Green-wave requests: for a unit en route on a priority call, each "
                  "intersection on its route with the expected arrival time, for a signal "
                  "control system to consume."),
    TopicSpec("audit", 1, "user", "audit record", 30 * DAY_MS,
              doc="The cockpit's audit trail: every sign-in and every command, forwarded "
                  "or refused (who, role, what, result); sunk into ClickHouse "
                  "command_audit with the worker's command results."),
    TopicSpec("deadletter", 2, "source topic", "raw bytes + citycc-* headers", 30 * DAY_MS,
              doc="The original bytes of every rejected message or batch item; the reason "
                  "and origin travel in headers."),
)})
