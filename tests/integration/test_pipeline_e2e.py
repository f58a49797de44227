"""End to end on the real broker and ClickHouse: producer -> worker -> ClickHouse/cockpit."""

from __future__ import annotations

import asyncio
import http.client
import threading
import time
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer
from prometheus_client.parser import text_string_to_metric_families

from citycc.settings import Settings
from cockpit_api.auth.testing import signed_in
from deploy import procs
from schemas.validate import format_event_time
from warehouse.client import connect, query

pytestmark = pytest.mark.integration


def reading(i: int, ts_ms: int, value: float = 3.0, entity: str | None = None,
            kind: str = "gas_concentration") -> dict[str, Any]:
    unit = {"gas_concentration": "%LEL", "water_pressure": "MPa"}[kind]
    return {"event_id": f"t-{i}", "type": "reading", "event_time": format_event_time(ts_ms),
            "source": "test-gw", "entity_id": entity or f"GAS-T-{i % 50:03d}",
            "lat": 28.19 + (i % 7) * 0.001, "lon": 112.99, "kind": kind, "value": value,
            "unit": unit}


async def produce(settings: Settings, topic: str, values: list[bytes]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap, linger_ms=5,
                                max_request_size=settings.broker_message_max_bytes)
    await producer.start()
    try:
        for i, value in enumerate(values):
            await producer.send(settings.topic(topic), value, key=f"gw-{i % 8}".encode())
        await producer.flush()
    finally:
        await producer.stop()


def http_get(port: int, path: str) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        assert response.status == 200, response.status
        return response.read().decode()
    finally:
        conn.close()


def scalar(settings: Settings, sql: str) -> Any:
    return query(settings, sql)[0][0]


def wait_rows(settings: Settings, sql: str, want: int, deadline: float, worker: Any) -> None:
    def reached() -> bool:
        assert worker.alive(), f"worker died:\n{worker.tail()}"
        return scalar(settings, sql) >= want
    try:
        procs.wait_until(reached, deadline, f"{want} rows from: {sql}")
    except procs.DeployError as exc:
        raise AssertionError(f"{exc}\nlast count: {scalar(settings, sql)}\n"
                             f"worker log:\n{worker.tail()}") from exc


def test_valid_events_land_once_invalid_are_dead_lettered_and_alert_reaches_cockpit(
        prepared: Settings, citycc_proc: Any) -> None:
    s = prepared
    db = s.clickhouse.database
    worker = citycc_proc(["worker"], "worker-e2e")
    cockpit = citycc_proc(["cockpit"], "cockpit-e2e")
    procs.wait_until(lambda: procs.accepts(s.cockpit_port), 30, "cockpit port",
                     logs=[cockpit.log])
    now = int(time.time() * 1000)
    good = [reading(i, now - 5_000 + i) for i in range(600)]
    batches = [orjson.dumps({"events": good[i:i + 100]}) for i in range(0, 500, 100)]
    singles = [orjson.dumps(e) for e in good[500:]]
    bad_items = [
        {**reading(10_000, now), "unit": "ppm"},                      # wrong unit
        {**reading(10_001, now), "lat": 40.0},                         # outside Changsha
        {k: v for k, v in reading(10_002, now).items() if k != "value"},  # missing value
        {**reading(10_003, now + 3_600_000)},                          # an hour in the future
    ]
    mixed = orjson.dumps({"events": bad_items + [reading(700, now)]})
    garbage = [b"{not json", b"[1, 2, 3]", "燃气".encode("gbk")]
    leak = [reading(800 + j, now + j * 1000, value=v, entity="GAS-FR-LEAK")
            for j, v in enumerate([4.0, 12.0, 26.5, 31.0])]

    async def scenario() -> dict[str, Any]:
        async with signed_in(s.cockpit_port, "大屏") as ws:   # the big screen
            await produce(s, "lifeline", batches + singles + [mixed] + garbage)
            await produce(s, "lifeline", [orjson.dumps({"events": leak})])
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                msg = orjson.loads(await asyncio.wait_for(ws.recv(), deadline - time.monotonic()))
                alerts = msg.get("alerts", []) if msg.get("type") == "snapshot" else \
                    [msg.get("alert")] if msg.get("type") == "alert" else []
                for alert in alerts:
                    if alert and alert.get("entity_id") == "GAS-FR-LEAK":
                        return alert
            raise AssertionError("no alert reached the websocket")

    alert = asyncio.run(scenario())
    assert alert["status"] == "firing" and alert["kind"] == "gas_concentration_high"
    assert alert["evidence"] == ["t-802"] and alert["value"] == 26.5
    assert alert["district"] == "furong" and alert["title_zh"] == "燃气浓度超限"
    assert alert["explanation"]["alarm_level"] == 20.0      # explained, not just raised
    assert alert["explanation"]["deviation"] == 6.5

    n_valid = len(good) + 1 + len(leak)
    wait_rows(s, f"SELECT count() FROM {db}.events_lifeline FINAL", n_valid, 60, worker)
    wait_rows(s, f"SELECT count() FROM {db}.dead_letters FINAL", len(bad_items) + 3, 60, worker)
    # the alert reached the cockpit first; its row lands with the alerts sink's next flush
    wait_rows(s, f"SELECT count() FROM {db}.alerts FINAL WHERE entity_id = 'GAS-FR-LEAK'",
              1, 60, worker)
    assert scalar(s, f"SELECT uniqExact(event_id) FROM {db}.events_lifeline") == n_valid
    client = connect(s)
    try:
        codes = dict(client.execute(
            f"SELECT code, count() FROM {db}.dead_letters FINAL GROUP BY code"))
        raws = {r[0] for r in client.execute(f"SELECT raw FROM {db}.dead_letters FINAL",
                                             settings={"strings_as_bytes": True})}
        alerts = client.execute(f"SELECT entity_id, status FROM {db}.alerts FINAL")
        explained = client.execute(f"SELECT explanation FROM {db}.alerts FINAL "
                                   "WHERE entity_id = 'GAS-FR-LEAK'")
    finally:
        client.disconnect()
    assert codes == {"bad_unit": 1, "outside_city": 1, "missing_field": 1, "in_future": 1,
                     "malformed_json": 2, "not_object": 1}
    assert b"{not json" in raws and "燃气".encode("gbk") in raws
    assert ("GAS-FR-LEAK", "firing") in alerts
    assert '"alarm_level":20.0' in explained[0][0]
    # the same story in the cockpit's /metrics: the worker's figures (its metrics file) and
    # the cockpit's own
    def figures() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        return {(x.name, tuple(sorted(x.labels.items()))): x.value
                for f in text_string_to_metric_families(http_get(s.cockpit_port, "/metrics"))
                for x in f.samples}

    def total(fig: dict[Any, float], name: str, **labels: str) -> float:
        return sum(v for (n, ls), v in fig.items()
                   if n == name and labels.items() <= dict(ls).items())

    def caught_up() -> bool:
        fig = figures()
        return total(fig, "citycc_worker_events_in_total", stream="lifeline") >= n_valid \
            and all(total(fig, "citycc_worker_dead_letters_total", code=c) >= n
                    for c, n in codes.items())
    procs.wait_until(caught_up, 30, "the worker's figures in /metrics", logs=[cockpit.log])
    fig = figures()
    assert total(fig, "citycc_worker_alerts", state="firing") >= 1
    assert total(fig, "citycc_cockpit_messages_total", type="alert") >= 1
    assert any(n == "citycc_worker_consumer_lag" and dict(ls)["topic"] == s.topic("lifeline")
               for n, ls in fig)
    assert any(n == "citycc_cockpit_feed_lag" for n, _ in fig)
    assert total(fig, "citycc_cockpit_websocket_clients") == 0   # the big screen has gone


def test_kill9_mid_stream_loses_and_duplicates_nothing(prepared: Settings,
                                                       citycc_proc: Any) -> None:
    # Small sink batches: many flushes and offset commits, so a kill lands between them.
    s = prepared.with_overrides(topic_prefix="kill9", worker_id="kill9-worker",
                                sink_max_rows=2_000, sink_max_age_s=0.2)
    db = s.clickhouse.database
    from citycc.cli import _prepare
    _prepare(s)
    worker = citycc_proc(["worker"], "worker-kill9-a", s)
    now = int(time.time() * 1000)
    total = 100_000
    events = [{**reading(i, now - 60_000 + i // 10), "event_id": f"k9-{i}",
               "entity_id": f"WTR-K9-{i % 500:03d}", "kind": "water_pressure",
               "unit": "MPa", "value": 0.3} for i in range(total)]
    payloads = [orjson.dumps({"events": events[i:i + 250]}) for i in range(0, total, 250)]
    table = f"{db}.events_lifeline"
    where = "WHERE startsWith(event_id, 'k9-')"

    async def paced() -> None:  # a steady stream over ~8 s, like a live city
        for i in range(0, len(payloads), 20):
            await produce(s, "lifeline", payloads[i:i + 20])
            await asyncio.sleep(0.4)

    producer = threading.Thread(target=lambda: asyncio.run(paced()))
    producer.start()
    try:
        wait_rows(s, f"SELECT count() FROM {table} {where}", total // 10, 60, worker)
        worker.kill9()  # mid-stream: batches in ClickHouse whose offsets were not committed
        landed_before = scalar(s, f"SELECT count() FROM {table} FINAL {where}")
        assert landed_before < total, "worker finished before the kill; test proves nothing"
        worker = citycc_proc(["worker"], "worker-kill9-b", s)
        wait_rows(s, f"SELECT count() FROM {table} FINAL {where}", total, 120, worker)
    finally:
        producer.join()
    assert scalar(s, f"SELECT count() FROM {table} FINAL {where}") == total
    assert scalar(s, f"SELECT uniqExact(event_id) FROM {table} {where}") == total
    assert scalar(s, f"SELECT count() FROM {db}.dead_letters FINAL "
                     "WHERE source_topic = 'kill9.lifeline'") == 0


def test_worker_state_changelogs_are_compacted(prepared: Settings, citycc_proc: Any,
                                               own_topics: Any) -> None:
    """Detector checkpoints go to Faust changelog topics; on Kafka they are compacted, so a
    changelog keeps each key's newest checkpoint instead of growing with every one."""
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

    s = own_topics(prepared, "cl").with_overrides(worker_id="cl-worker")
    worker = citycc_proc(["worker"], "worker-changelog", s)

    async def changelog_policies() -> dict[str, str]:
        admin = AIOKafkaAdminClient(bootstrap_servers=s.bootstrap)
        await admin.start()
        try:
            names = [t for t in await admin.list_topics()
                     if t.startswith(f"{s.topic_prefix}-worker") and t.endswith("-changelog")]
            if not names:
                return {}
            described = await admin.describe_configs(
                [ConfigResource(ConfigResourceType.TOPIC, n) for n in names])
            return {r[3]: dict((c[0], c[1]) for c in r[4])["cleanup.policy"]
                    for response in described for r in response.resources}
        finally:
            await admin.close()

    def created() -> dict[str, str] | None:
        assert worker.alive(), f"worker died:\n{worker.tail()}"
        return asyncio.run(changelog_policies()) or None

    policies = procs.wait_until(created, 60, "the worker's changelog topics")
    assert policies and set(policies.values()) == {"compact"}, policies
