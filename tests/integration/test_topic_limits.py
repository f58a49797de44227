"""Topics made before the record limit was raised are held to it, keeping their own settings."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from citycc.settings import Settings
from streams.admin import ensure_topics

pytestmark = pytest.mark.integration


async def _configs(bootstrap: str, topic: str) -> dict[str, str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, topic)])
        return {e[0]: e[1] for r in described for res in r.resources for e in res[4]}
    finally:
        await admin.close()


def test_an_existing_topic_below_the_record_limit_is_raised_and_keeps_its_settings(
        infra_settings: Settings) -> None:
    s = infra_settings.with_overrides(topic_prefix=f"lim{uuid.uuid4().hex[:8]}")
    old = s.topic("lifeline")

    async def make_old_topic() -> None:   # as an older citycc or an operator left it
        admin = AIOKafkaAdminClient(bootstrap_servers=s.bootstrap)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(old, 2, 1, topic_configs={
                "max.message.bytes": "1048588", "retention.ms": "3600000"})])
        finally:
            await admin.close()

    asyncio.run(make_old_topic())
    created = asyncio.run(ensure_topics(s))
    assert old not in created and s.topic("ems") in created
    after = asyncio.run(_configs(s.bootstrap, old))
    assert int(after["max.message.bytes"]) == s.broker_message_max_bytes
    assert after["retention.ms"] == "3600000"          # its own settings are kept
    new = asyncio.run(_configs(s.bootstrap, s.topic("ems")))
    assert int(new["max.message.bytes"]) == s.broker_message_max_bytes
    assert asyncio.run(ensure_topics(s)) == []          # idempotent
