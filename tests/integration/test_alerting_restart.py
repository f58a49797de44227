"""Alerting on the real broker and ClickHouse: alert -> incident -> signed webhook; operator
commands; a worker restart keeps alert states and incident membership and re-sends nothing."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from alerting.notify import verify_webhook
from citycc.settings import Settings
from deploy import procs
from schemas.validate import format_event_time
from warehouse.client import connect, query

pytestmark = pytest.mark.integration
SECRET = "test-secret"
CONFIG = """
route:
  receiver: city_duty
  group_by: [kind, district]
  group_wait: 1s
  group_interval: 2s
  repeat_interval: 4h
  routes:
    - receiver: gas_utility
      matchers: ['kind=~"gas_.*"']
"""


class Hook:
    """A webhook receiver on 127.0.0.1 that records (key, receiver, signature ok)."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, str, bool, dict[str, Any]]] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                ok = verify_webhook(self.headers["X-Citycc-Signature"], body,
                                    SECRET.encode(), int(time.time()))
                hook.posts.append((self.headers["X-Citycc-Key"],
                                   self.headers["X-Citycc-Receiver"], ok, orjson.loads(body)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", procs.free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def reading(entity: str, t: int, value: float, lat: float) -> dict[str, Any]:
    return {"event_id": f"{entity}-{t}", "type": "reading", "event_time": format_event_time(t),
            "source": "it-gw", "entity_id": entity, "lat": lat, "lon": 112.99,
            "kind": "gas_concentration", "value": value, "unit": "%LEL"}


async def produce(s: Settings, topic: str, values: list[bytes]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=s.bootstrap)
    await producer.start()
    try:
        for v in values:
            await producer.send_and_wait(s.topic(topic), v, key=b"k")
    finally:
        await producer.stop()


async def command_result(s: Settings, command_id: str, deadline_s: float,
                         duplicate: bool = False) -> dict[str, Any]:
    consumer = AIOKafkaConsumer(s.topic("command_results"), bootstrap_servers=s.bootstrap,
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    try:
        end = time.monotonic() + deadline_s
        while time.monotonic() < end:
            for msgs in (await consumer.getmany(timeout_ms=500)).values():
                for m in msgs:
                    r = orjson.loads(m.value)
                    if r["command_id"] == command_id and \
                            r.get("duplicate", False) is duplicate:
                        return r
        raise AssertionError(f"no result for command {command_id}")
    finally:
        await consumer.stop()


def rows(s: Settings, sql: str) -> list[tuple[Any, ...]]:
    return query(s, sql)


def wait_for(what: str, check: Any, worker: Any, deadline: float = 60) -> None:
    def ok() -> bool:
        assert worker.alive(), f"worker died:\n{worker.tail()}"
        return bool(check())
    try:
        procs.wait_until(ok, deadline, what)
    except procs.DeployError as exc:
        raise AssertionError(f"{exc}\nworker log:\n{worker.tail()}") from exc


def test_restart_keeps_alert_states_and_incidents_and_sends_nothing_twice(
        prepared: Settings, citycc_proc: Any, tmp_path: Path) -> None:
    hook = Hook()
    cfg = tmp_path / "alerting.yaml"
    cfg.write_text(CONFIG, encoding="utf-8")
    s = prepared.with_overrides(topic_prefix="alrt", worker_id="alrt-worker",
                                clickhouse_database="citycc_alrt",
                                alerting_config=str(cfg), webhook_url=hook.url,
                                webhook_secret=SECRET)
    db = s.clickhouse.database
    from citycc.cli import _prepare
    _prepare(s)
    try:
        worker = citycc_proc(["worker"], "worker-alrt-a", s)
        now = int(time.time() * 1000)
        leak = [reading("GASC-IT-1", now + i * 1000, v, 28.19) for i, v in
                enumerate([2.0, 9.0, 24.0, 30.0])]
        asyncio.run(produce(s, "lifeline", [orjson.dumps({"events": leak})]))

        def fired() -> list[tuple[Any, ...]]:
            return rows(s, f"SELECT fingerprint FROM {db}.alert_events FINAL "
                           "WHERE entity_id = 'GASC-IT-1' AND action = 'fire'")
        wait_for("the alert's fire event in ClickHouse", fired, worker)
        fp = fired()[0][0]
        wait_for("the gas utility's webhook", lambda: any(
            r == "gas_utility" and fp in p["details"]["firing"]
            for _, r, _, p in hook.posts), worker)
        assert all(ok for _, _, ok, _ in hook.posts), "every POST carries a valid signature"
        opened = rows(s, f"SELECT incident_id FROM {db}.incident_events FINAL "
                         "WHERE kind = 'opened'")
        assert len(opened) == 1
        incident = opened[0][0]

        asyncio.run(produce(s, "commands", [orjson.dumps({
            "command_id": "it-ack-1", "action": "ack", "fingerprint": fp, "actor": "调度员甲",
            "comment": "已通知燃气公司", "at": format_event_time(now)})]))
        assert asyncio.run(command_result(s, "it-ack-1", 30))["ok"] is True
        note_1 = {"command_id": "it-note-1", "action": "add_note", "actor": "指挥长",
                  "text": "封锁现场", "incident_id": incident, "at": format_event_time(now)}
        asyncio.run(produce(s, "commands", [orjson.dumps(note_1)]))
        assert asyncio.run(command_result(s, "it-note-1", 30))["ok"] is True
        # an alert the engine refuses, and commands nobody can be answered about, are
        # dead-lettered with their bytes
        asyncio.run(produce(s, "alerts", [orjson.dumps({"alert_id": "it-bad", "fingerprint": "f",
                                                        "status": "firing", "severity": "?"})]))
        wait_for("the refused alert dead-lettered", lambda: rows(
            s, f"SELECT code, field, event_id FROM {db}.dead_letters FINAL "
               "WHERE source_topic = 'alrt.alerts'") == [
            ("alerting_bad_alert", "severity", "it-bad")], worker)
        asyncio.run(produce(s, "commands", [b"{not json", orjson.dumps({"action": "ack"})]))
        wait_for("the bad commands dead-lettered", lambda: sorted(rows(
            s, f"SELECT code, field, raw FROM {db}.dead_letters FINAL "
               "WHERE source_topic = 'alrt.commands'")) == [
            ("malformed_json", "", "{not json"),
            ("missing_field", "command_id", '{"action":"ack"}')], worker)   # issue 13

        # a graceful restart of the worker
        worker.stop()
        worker = citycc_proc(["worker"], "worker-alrt-b", s)
        # the state survived: an ack of an acknowledged alert is refused ...
        asyncio.run(produce(s, "commands", [orjson.dumps({
            "command_id": "it-ack-2", "action": "ack", "fingerprint": fp, "actor": "调度员乙",
            "at": format_event_time(now)})]))
        refused = asyncio.run(command_result(s, "it-ack-2", 60))
        assert refused["ok"] is False and refused["code"] == "illegal_transition"
        # ... and a resent command is answered, not applied again (issue 13): the ids of
        # applied commands are in the checkpoint
        asyncio.run(produce(s, "commands", [orjson.dumps({
            **note_1, "at": format_event_time(int(time.time() * 1000))})]))
        again = asyncio.run(command_result(s, "it-note-1", 60, duplicate=True))
        assert again["ok"] is True and again["events"] == []
        wait_for("the one note in ClickHouse", lambda: rows(
            s, f"SELECT count() FROM {db}.incident_events FINAL "
               "WHERE kind = 'note_added' AND payload LIKE '%封锁现场%'") == [(1,)], worker)
        # ... and a second leaking sensor 150 m away joins the same incident
        later = int(time.time() * 1000)
        leak2 = [reading("GASC-IT-2", later + i * 1000, v, 28.1913) for i, v in
                 enumerate([3.0, 25.0, 32.0])]
        asyncio.run(produce(s, "lifeline", [orjson.dumps({"events": leak2})]))

        def attached() -> list[tuple[Any, ...]]:
            return rows(s, f"SELECT incident_id FROM {db}.incident_events FINAL "
                           "WHERE kind = 'alert_attached' AND payload LIKE '%GASC-IT-2%'")
        wait_for("the second alert attached to an incident", attached, worker)
        assert attached() == [(incident,)]
        # a 119 call 100 m away is linked to the incident by place, and the engine sent
        # to it goes on the incident's timeline; a junk dispatch record is dead-lettered
        t_call = format_event_time(int(time.time() * 1000))
        asyncio.run(produce(s, "fire", [orjson.dumps({"events": [
            {"event_id": "it-call-1", "type": "call", "event_time": t_call, "source": "119",
             "entity_id": "C119-IT-1", "lat": 28.1909, "lon": 112.99, "category": "hazmat"},
            {"event_id": "it-eng-1", "type": "engine_status", "event_time": t_call,
             "source": "119", "entity_id": "ENG-IT-1", "status": "en_route",
             "incident_id": "C119-IT-1"}]})]))
        asyncio.run(produce(s, "dispatch_events", [b"[1, 2]", b'{"stream": "fire"}']))

        def timeline() -> list[tuple[Any, ...]]:
            return sorted(rows(s, f"SELECT kind, incident_id FROM {db}.incident_events FINAL "
                                  "WHERE kind IN ('call_linked', 'unit_status')"))
        wait_for("the call linked and the engine on the timeline", lambda: timeline() == [
            ("call_linked", incident), ("unit_status", incident)], worker)
        # a silence is recorded with who, why and until when, and its expiry too
        asyncio.run(produce(s, "commands", [orjson.dumps({
            "command_id": "it-sil-1", "action": "silence", "actor": "值班长",
            "matchers": ['entity_id="GASC-IT-9"'], "reason": "传感器检修",
            "until_resolved": True, "at": format_event_time(now)})]))
        assert asyncio.run(command_result(s, "it-sil-1", 30))["ok"] is True
        def created() -> list[tuple[Any, ...]]:
            return rows(s, f"SELECT silence_id FROM {db}.silence_events FINAL "
                           "WHERE action = 'created'")
        wait_for("the silence in ClickHouse", created, worker)
        sid = created()[0][0]
        asyncio.run(produce(s, "commands", [orjson.dumps({
            "command_id": "it-sil-2", "action": "expire_silence", "actor": "指挥长",
            "silence_id": sid, "at": format_event_time(now)})]))
        assert asyncio.run(command_result(s, "it-sil-2", 30))["ok"] is True
        wait_for("the silence's whole history in ClickHouse", lambda: sorted(rows(
            s, f"SELECT action, actor, author, reason, end_reason, ends_at IS NULL "
               f"FROM {db}.silence_events FINAL WHERE silence_id = '{sid}'")) == [
            ("created", "值班长", "值班长", "传感器检修", "", 1),
            ("ended", "system", "值班长", "传感器检修", "expired_by_command", 0),
            ("expired", "指挥长", "值班长", "传感器检修", "", 0)], worker)
        wait_for("the junk dispatch records dead-lettered with their bytes", lambda: sorted(
            rows(s, f"SELECT code, raw FROM {db}.dead_letters FINAL "
                    "WHERE source_topic = 'alrt.dispatch_events'")) == [
            ("alerting_bad_dispatch", '{"stream": "fire"}'), ("malformed_json", "[1, 2]")],
            worker)
        wait_for("the second alert's webhook", lambda: sum(
            len(p["details"]["firing"]) for _, r, _, p in hook.posts if r == "gas_utility") >= 2,
            worker)
        # a new machine: the checkpoint is gone, the state comes back from ClickHouse
        worker.stop()
        (s.run_dir / "alerting" / f"{s.topic_prefix}-{s.worker_id}.json").unlink()
        worker = citycc_proc(["worker"], "worker-alrt-c", s)
        asyncio.run(produce(s, "commands", [orjson.dumps({
            "command_id": "it-ack-3", "action": "ack", "fingerprint": fp, "actor": "调度员丙",
            "at": format_event_time(now)})]))
        try:
            rebuilt = asyncio.run(command_result(s, "it-ack-3", 90))
        except AssertionError as exc:
            raise AssertionError(f"{exc}; worker log:\n{worker.tail()}") from exc
        assert rebuilt["ok"] is False and rebuilt["code"] == "illegal_transition", rebuilt
        note = f"it-note-{uuid.uuid4().hex[:6]}"
        asyncio.run(produce(s, "commands", [orjson.dumps({
            "command_id": note, "action": "add_note", "actor": "指挥长", "text": "交接班",
            "incident_id": incident, "at": format_event_time(now)})]))
        assert asyncio.run(command_result(s, note, 30))["ok"] is True   # still open
    finally:
        hook.close()
    keys = Counter(k for k, _, _, _ in hook.posts)
    assert [k for k, n in keys.items() if n > 1] == [], "a notification was delivered twice"
    acked = rows(s, f"SELECT actor, comment FROM {db}.alert_events FINAL "
                    f"WHERE fingerprint = '{fp}' AND action = 'ack'")
    assert acked == [("调度员甲", "已通知燃气公司")]
    # every webhook delivery is recorded once in the warehouse (outcome 'delivered')

    def delivered() -> list[tuple[Any, ...]]:
        return rows(s, f"SELECT key, count() FROM {db}.notifications FINAL "
                       "WHERE outcome = 'delivered' GROUP BY key")
    wait_for("the deliveries in ClickHouse", lambda: {k for k, _ in delivered()} == set(keys),
             worker, 30)
    assert all(n == 1 for _, n in delivered())

    # any moment rebuilds from the warehouse, and the incident exports as valid CAP 1.2
    from alerting.cap import validate_cap
    from alerting.history import alerts_at, export_incident
    from warehouse import queries
    client = connect(s)
    try:
        book = alerts_at(queries.alert_events(client))
        history = queries.incident_events(client)
    finally:
        client.disconnect()
    assert book.get(fp)["state"] == "acknowledged" and book.get(fp)["acked_by"] == "调度员甲"
    cap = export_incident(history, incident, "cap", int(time.time() * 1000), exercise=True)
    assert validate_cap(cap) == [] and "<status>Exercise</status>" in cap
