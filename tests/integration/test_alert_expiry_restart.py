"""Issue 12, item 3 on the real broker and ClickHouse: a stop and start with the previous
run's state and a broker that restarted empty (as the local Tansu does). The cockpit's
screen (read through its websocket) and the pages agree with the engine: every alert the
engine holds is shown (snapshot at connect included), nothing is paged that is not shown,
and an alert whose detector no longer re-asserts it resolves with "not re-asserted"."""

from __future__ import annotations

import asyncio
import shutil
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer
from cockpit_api.auth.testing import signed_in

from alerting.history import alerts_at
from citycc.settings import Settings
from deploy import procs
from warehouse import queries
from warehouse.client import connect

from test_alerting_restart import SECRET, Hook, produce, reading, rows, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]
CONFIG = """
route:
  receiver: city_duty
  group_by: [kind, district]
  group_wait: 1s
  group_interval: 2s
  repeat_interval: 4h
escalation:
  policies:
    - name: any
      levels:
        - {after_s: 4, notify: [duty_dispatcher]}
        - {after_s: 600, notify: [shift_leader]}
"""
TTL_S, REASSERT_S = 15.0, 2.0


def engine_active(s: Settings) -> set[str]:
    """What the engine holds firing or acknowledged, as its own log says."""
    client = connect(s)
    try:
        book = alerts_at(queries.alert_events(client))
    finally:
        client.disconnect()
    return set(book.active())


async def snapshot_states(s: Settings) -> dict[str, dict[str, Any]]:
    """The alert states of a new client's snapshot, by fingerprint."""
    async with signed_in(s.cockpit_port) as ws:
        async with asyncio.timeout(20):
            while True:
                msg = orjson.loads(await ws.recv())
                if msg["type"] == "snapshot":
                    return {st["fingerprint"]: st for st in msg["alert_states"]}


def shown(states: dict[str, dict[str, Any]]) -> set[str]:
    return {fp for fp, st in states.items() if st["state"] != "resolved"}


async def on_topic(s: Settings, name: str, fingerprint: str, deadline_s: float) -> bool:
    """Whether a record of ``fingerprint`` is on topic ``name`` (read from the start)."""
    consumer = AIOKafkaConsumer(s.topic(name), bootstrap_servers=s.bootstrap, group_id=None,
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    try:
        end = time.monotonic() + deadline_s
        while time.monotonic() < end:
            for msgs in (await consumer.getmany(timeout_ms=500)).values():
                if any(orjson.loads(m.value).get("fingerprint") == fingerprint for m in msgs):
                    return True
        return False
    finally:
        await consumer.stop()


def pages(hook: Hook) -> list[dict[str, Any]]:
    return [p for _, _, _, p in hook.posts if p["status"] == "escalation"]


def test_stop_and_start_with_an_empty_broker_screen_and_pages_agree_with_the_engine(
        prepared: Settings, own_topics: Any, citycc_proc: Any, tmp_path: Path) -> None:
    hook = Hook()
    cfg = tmp_path / "alerting.yaml"
    cfg.write_text(CONFIG, encoding="utf-8")
    base = prepared.with_overrides(clickhouse_database="citycc_expiry", worker_id="exp-worker",
                                   alerting_config=str(cfg), webhook_url=hook.url,
                                   webhook_secret=SECRET, alert_ttl_s=TTL_S,
                                   reassert_interval_s=REASSERT_S)
    from citycc.cli import _prepare
    s1 = own_topics(base, "expa")
    _prepare(s1)
    try:
        # --- the previous run: a gas sensor beyond its alarm level, kept alive -----------
        worker = citycc_proc(["worker"], "worker-exp-1", s1)
        cockpit = citycc_proc(["cockpit"], "cockpit-exp-1", s1)
        now = int(time.time() * 1000)
        leak = [reading("GASC-EXP-1", now + i * 1000, v, 28.21) for i, v in
                enumerate([2.0, 24.0, 30.0])]
        asyncio.run(produce(s1, "lifeline", [orjson.dumps({"events": leak})]))
        db = s1.clickhouse.database

        def fired() -> list[tuple[Any, ...]]:
            return rows(s1, f"SELECT fingerprint, at_ms FROM {db}.alert_events FINAL "
                            "WHERE entity_id = 'GASC-EXP-1' AND action = 'fire'")
        wait_for("the alert's fire event in ClickHouse", fired, worker)
        fp, fired_ms = fired()[0]
        wait_for("the duty dispatcher paged", lambda: any(
            p["fingerprint"] == fp for p in pages(hook)), worker, 30)
        # re-asserted while its detector holds it: still firing well past one TTL
        wait_for("re-assertions in the log", lambda: rows(
            s1, f"SELECT count() FROM {db}.alert_events FINAL WHERE fingerprint = '{fp}' "
                f"AND action = 'update'")[0][0] >= 2, worker, 30)
        procs.wait_until(lambda: time.time() * 1000 > fired_ms + (TTL_S + 3) * 1000,
                         TTL_S + 10, "one TTL over")
        assert rows(s1, f"SELECT count() FROM {db}.alert_events FINAL "
                        f"WHERE fingerprint = '{fp}' AND action = 'resolve'") == [(0,)]
        procs.wait_until(lambda: procs.accepts(s1.cockpit_port), 30, "the cockpit listening")
        assert fp in shown(asyncio.run(snapshot_states(s1))), "the first cockpit shows it"
        # a worker restart on a broker that kept its state: the detector state comes back
        # and its firing finding is re-asserted right away, no new reading needed
        worker.stop()
        restarted_ms = int(time.time() * 1000)
        worker = citycc_proc(["worker"], "worker-exp-1b", s1)
        wait_for("re-asserted after the restore", lambda: rows(
            s1, f"SELECT count() FROM {db}.alert_events FINAL WHERE fingerprint = '{fp}' "
                f"AND action = 'update' AND at_ms > {restarted_ms}")[0][0] >= 1, worker, 60)
        procs.wait_until(lambda: time.time() * 1000 > restarted_ms + (TTL_S + 3) * 1000,
                         TTL_S + 10, "one TTL after the restart")
        assert rows(s1, f"SELECT count() FROM {db}.alert_events FINAL "
                        f"WHERE fingerprint = '{fp}' AND action = 'resolve'") == [(0,)]
        cockpit.stop()
        worker.stop()

        # --- make stop + make run: the broker is empty (new topics, no detector state),
        # ClickHouse and the engine's checkpoint file are what is left ---------------------
        s2 = own_topics(base, "expb")
        ckpt = s1.run_dir / "alerting"
        shutil.copy(ckpt / f"{s1.topic_prefix}-{s1.worker_id}.json",
                    ckpt / f"{s2.topic_prefix}-{s2.worker_id}.json")
        _prepare(s2)
        before_restart = len(hook.posts)
        cockpit = citycc_proc(["cockpit"], "cockpit-exp-2", s2)
        procs.wait_until(lambda: procs.accepts(s2.cockpit_port), 30, "the cockpit listening")
        first = asyncio.run(snapshot_states(s2))
        assert fp in shown(first), "the snapshot at connect shows the engine's alert"
        assert shown(first) == engine_active(s2)
        worker = citycc_proc(["worker"], "worker-exp-2", s2)
        # the starting worker publishes what it holds again: the empty broker has it now
        assert asyncio.run(on_topic(s2, "alert_events", fp, 60)), worker.tail()
        # a new leak after the restart: its detector runs, it stays firing
        later = int(time.time() * 1000)
        asyncio.run(produce(s2, "lifeline", [orjson.dumps({"events": [
            reading("GASC-EXP-2", later + i * 1000, v, 28.30) for i, v in
            enumerate([2.0, 26.0])]})]))

        def expired() -> list[tuple[Any, ...]]:
            return rows(s2, f"SELECT at_ms, actor FROM {db}.alert_events FINAL WHERE "
                            f"fingerprint = '{fp}' AND action = 'resolve' "
                            f"AND comment = 'not_reasserted'")
        wait_for("the alert nobody re-asserts resolved: not re-asserted", expired, worker,
                 TTL_S + 60)
        expired_ms, actor = expired()[0]
        assert actor == "system"

        def settled() -> bool:
            states = asyncio.run(snapshot_states(s2))
            return fp in states and states[fp]["state"] == "resolved" and \
                states[fp]["last"]["comment"] == "not_reasserted" and \
                any(st["entity_id"] == "GASC-EXP-2" for st in states.values())
        wait_for("the cockpit shows it resolved, and the new alert", settled, worker, 30)
        states = asyncio.run(snapshot_states(s2))
        engine = engine_active(s2)
        stale = shown(states) - engine
        assert stale == set() and shown(states) == engine, "stale alerts on screen"
        fp2 = next(f for f, st in states.items() if st["entity_id"] == "GASC-EXP-2")
        assert fp2 in engine and fp not in engine
        wait_for("the new alert paged", lambda: any(
            p["fingerprint"] == fp2 for p in pages(hook)), worker, 30)
        # pages of the second run: only for alerts the cockpit showed, and none for the
        # expired alert after it expired
        run2 = pages(hook)[sum(1 for _, _, _, p in hook.posts[:before_restart]
                               if p["status"] == "escalation"):]
        unseen = [p for p in run2 if p["fingerprint"] not in shown(first) | {fp2}]
        assert unseen == [], "pages for alerts the cockpit did not show"
        assert all(p["at_ms"] <= expired_ms for p in run2 if p["fingerprint"] == fp)
        print(f"\nmeasured: stale alerts on screen {len(stale)}, pages for unseen alerts "
              f"{len(unseen)}; second-run pages {len(run2)}")
    finally:
        hook.close()
