"""Create the registry's topics on the broker, and hold them to the record limit (idempotent)."""

from __future__ import annotations

import asyncio
import logging
import time

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError

from citycc.settings import Settings
from schemas.topics import TOPICS

log = logging.getLogger(__name__)
TOPIC_ALREADY_EXISTS = 36
DYNAMIC_TOPIC_CONFIG = 1   # DescribeConfigs config_source: set on the topic itself


class TopicAdminError(RuntimeError):
    """Topics could not be created."""


async def ensure_topics(settings: Settings, *, deadline_s: float = 30.0) -> list[str]:
    """Create every registry topic that does not exist yet; return the ones created."""
    end = time.monotonic() + deadline_s
    while True:
        admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap,
                                    client_id="citycc-admin")
        try:
            await admin.start()
            try:
                return await _create(admin, settings)
            finally:
                await admin.close()
        except KafkaError as exc:
            if time.monotonic() > end:
                raise TopicAdminError(f"cannot create topics on {settings.bootstrap}: "
                                      f"{exc!r}") from exc
            log.info("broker %s not ready (%r); retrying", settings.bootstrap, exc)
            await asyncio.sleep(0.5)


async def _create(admin: AIOKafkaAdminClient, settings: Settings) -> list[str]:
    existing = set(await admin.list_topics())
    ours = [settings.topic(t.name) for t in TOPICS.values() if settings.topic(t.name) in existing]
    if ours:
        raised = await _hold_to_record_limit(admin, ours, settings.broker_message_max_bytes)
        if raised:
            log.warning("raised max.message.bytes of %s to the record limit %d bytes",
                        raised, settings.broker_message_max_bytes)
    wanted = [NewTopic(settings.topic(t.name), t.partitions, 1,
                       topic_configs={"retention.ms": str(t.retention_ms),
                                      "cleanup.policy": t.cleanup_policy,
                                      "max.message.bytes":
                                          str(settings.broker_message_max_bytes)})
              for t in TOPICS.values() if settings.topic(t.name) not in existing]
    if not wanted:
        return []
    response = await admin.create_topics(wanted)
    created = []
    for name, code, message in response.topic_errors:
        if code == 0:
            created.append(name)
        elif code != TOPIC_ALREADY_EXISTS:
            raise TopicAdminError(f"creating topic {name}: error {code} {message}")
    log.info("created topics %s", created)
    return created


async def _hold_to_record_limit(admin: AIOKafkaAdminClient, names: list[str],
                                limit: int) -> list[str]:
    """Raise ``max.message.bytes`` of each topic in ``names`` that accepts less than ``limit``
    (a topic made before the limit was set or raised, or under an older broker default);
    the topic's other settings stay as they are. Returns the topics raised."""
    described = await admin.describe_configs(
        [ConfigResource(ConfigResourceType.TOPIC, name) for name in names])
    raised = []
    for response in described:
        for code, message, _type, name, entries in response.resources:
            if code:
                raise TopicAdminError(f"reading the settings of topic {name}: error {code} "
                                      f"{message}")
            values = {entry[0]: entry[1] for entry in entries}
            if int(values.get("max.message.bytes") or 0) >= limit:
                continue
            # AlterConfigs replaces a topic's whole set of settings: send the ones it has.
            if any(len(entry) <= 5 for entry in entries):   # DescribeConfigs v0: no source
                raise TopicAdminError(f"topic {name} accepts {values.get('max.message.bytes')}"
                                      f" bytes, below the record limit {limit}, and this "
                                      "broker does not say which settings are the topic's "
                                      "own: raise max.message.bytes with kafka-configs")
            own = {entry[0]: entry[1] for entry in entries
                   if entry[3] == DYNAMIC_TOPIC_CONFIG}
            own["max.message.bytes"] = str(limit)
            for answer in await admin.alter_configs(
                    [ConfigResource(ConfigResourceType.TOPIC, name, own)]):
                for a_code, a_message, _t, a_name in answer.resources:
                    if a_code:
                        raise TopicAdminError(f"raising max.message.bytes of {a_name}: error "
                                              f"{a_code} {a_message}")
            raised.append(name)
    return raised


async def topic_partitions(bootstrap: str, names: list[str]) -> dict[str, list[int]]:
    """Partition numbers of each existing topic in ``names`` (missing topics are left out).

    A metadata request for exactly these topics: a consumer's own metadata covers only the
    topics it has been asked about (Kafka answers an empty topic list with no topics), so
    ``partitions_for_topic`` on a fresh, unsubscribed consumer knows none.
    """
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="citycc-admin")
    await admin.start()
    try:
        described = await admin.describe_topics(list(names))
    finally:
        await admin.close()
    return {t["topic"]: sorted(p["partition"] for p in t["partitions"])
            for t in described if t["error_code"] == 0 and t["partitions"]}
