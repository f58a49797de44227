"""warehouse against a real ClickHouse (18.16 from Debian, or any newer server).

Uses the session fixture ``clickhouse_settings`` of tests/conftest.py (a running ClickHouse);
each test works in a fresh database of its own. The outage test starts a private server
with the project's own deploy code, so it can stop and restart it without disturbing others.
"""

from __future__ import annotations

import asyncio
import os
import random
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import orjson
import pytest

from citycc.settings import Settings, load_settings
from deploy import clickhouse, procs
from schemas.records import Origin, dead_letter
from schemas.validate import format_event_time, parse_event_time
from warehouse import queries
from warehouse.client import connect
from warehouse.migrate import load_migrations, migrate
from warehouse.rows import TABLES, alert_row, dead_letter_row, event_columns, to_columns
from warehouse.sink import Backoff, PermanentInsertError, Warehouse, WarehouseError

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

DAY_MS = 86_400_000
T0 = 1_714_607_000_000  # 2024-05-01T23:43:20Z: batches below cross midnight (2 partitions)


@pytest.fixture()
def db_settings(fresh_database: Any) -> Iterator[Settings]:
    """The shared server with a fresh database of this test's own (dropped afterwards)."""
    with fresh_database("wh_test") as settings:
        yield settings


def _run(settings: Settings, fn: Any, *args: Any, **kwargs: Any) -> Any:
    client = connect(settings)
    try:
        return fn(client, *args, **kwargs)
    finally:
        client.disconnect()


def _scalar(settings: Settings, sql: str) -> Any:
    return _run(settings, lambda c: c.execute(sql)[0][0])


# --- events ----------------------------------------------------------------------------

def lifeline(i: int, ts_ms: int, district: str = "yuelu") -> dict[str, Any]:
    return {"event_id": f"lf-{i:07d}", "type": "reading", "event_time": format_event_time(ts_ms),
            "source": "gw-1", "entity_id": f"GAS-{i % 300:03d}", "district": district,
            "lat": 28.2, "lon": 112.9, "kind": "gas_pressure", "value": 300.0 + i % 50,
            "unit": "kPa"}


SAMPLES: dict[str, dict[str, Any]] = {
    "lifeline": lifeline(0, T0),
    "ems": {"event_id": "x", "type": "call", "event_time": "", "source": "120", "entity_id": "C",
            "lat": 28.1, "lon": 112.9, "complaint": "stroke", "priority": 1},
    "fire": {"event_id": "x", "type": "incident", "event_time": "", "source": "119",
             "entity_id": "I", "lat": 28.1, "lon": 112.9, "category": "structure_fire",
             "alarm_level": 2, "status": "open"},
    "traffic": {"event_id": "x", "type": "segment", "event_time": "", "source": "tms",
                "entity_id": "S", "lat": 28.1, "lon": 112.9, "speed_kmh": 31.5,
                "flow_vph": 1200.0, "occupancy": 0.3},
    "hazmat": {"event_id": "x", "type": "vehicle_gps", "event_time": "", "source": "gps",
               "entity_id": "V", "lat": 28.1, "lon": 112.9, "un_number": "1203",
               "hazard_class": "3", "speed_kmh": 60.0},
}


def stream_batch(stream: str, n: int, offset: int, ingested_ms: int) -> dict[str, list[Any]]:
    items = []
    for i in range(n):
        ts = T0 + i * 1000
        event = {**SAMPLES[stream], "event_id": f"{stream}-{i}", "event_time": format_event_time(ts),
                 "entity_id": f"{stream}-E{i % 7}"}
        items.append((event, ts, Origin(f"citycc.{stream}", i % 4, offset + i, -1), ingested_ms))
    return event_columns(stream, items)


# --- tests -----------------------------------------------------------------------------

def test_migrations_idempotent_and_safe_concurrently(db_settings: Settings) -> None:
    db = db_settings.clickhouse.database
    errors: list[BaseException] = []

    def run() -> None:
        client = connect(db_settings, database="default")
        try:
            migrate(client, db)
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)
        finally:
            client.disconnect()

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    client = connect(db_settings, database="default")
    try:
        assert migrate(client, db) == []  # again: nothing new
        assert migrate(client, db) == []
        versions = client.execute(f"SELECT version FROM {db}.schema_migrations FINAL")
        assert sorted(v for (v,) in versions) == [m.version for m in load_migrations()]
        for table, columns in TABLES.items():
            got = client.execute("SELECT name FROM system.columns WHERE database = %(db)s "
                                 "AND table = %(t)s", {"db": db, "t": table})
            assert tuple(name for (name,) in got) == columns, table
            engine = client.execute("SELECT engine FROM system.tables WHERE database = %(db)s "
                                    "AND name = %(t)s", {"db": db, "t": table})
            assert engine == [("ReplacingMergeTree",)]
    finally:
        client.disconnect()


@pytest.mark.parametrize("stream", sorted(SAMPLES))
def test_same_batch_twice_is_counted_once(db_settings: Settings, stream: str) -> None:
    n = 300

    async def scenario() -> None:
        wh = Warehouse(db_settings)
        await wh.start()
        try:
            await wh.insert(f"events_{stream}", stream_batch(stream, n, 1000, T0))
            # The replay after a restart: same events, later ingest time (and other offsets,
            # as when a producer re-sends): neither is part of the sorting key.
            await wh.insert(f"events_{stream}", stream_batch(stream, n, 5000, T0 + 60_000))
            assert wh.counters.rows_inserted == 2 * n and wh.counters.retries == 0
            assert await wh.run(queries.count_events, stream) == n
            assert await wh.run(queries.event_ids, stream) == sorted(f"{stream}-{i}"
                                                                     for i in range(n))
            assert await wh.run(queries.count_events, stream, start_ms=T0,
                                end_ms=T0 + 10_000) == 10
        finally:
            await wh.close()

    asyncio.run(scenario())
    table = f"{db_settings.clickhouse.database}.events_{stream}"
    assert _scalar(db_settings, f"SELECT count() FROM {table} FINAL") == n


def test_alerts_and_dead_letters_collapse_on_their_ids(db_settings: Settings) -> None:
    alerts = [{"alert_id": f"a{i}", "fingerprint": "fp", "status": "firing", "district": "yuelu",
               "event_time": format_event_time(T0 + i), "evidence": [f"e{i}", "e0"],
               "value": 26.5, "title_zh": "燃气浓度超限", "detected_at": T0 + 5} for i in range(5)]
    later = [{**a, "detected_at": T0 + 9_000} for a in alerts]  # re-detected after a restart
    records = [dead_letter(Origin("citycc.ems", 1, 77, i), "bad_json", "", "x", b"{", T0 + i)
               for i in range(3)]
    resent = [{**r, "received_ms": T0 + DAY_MS * 40} for r in records]  # other day and month

    async def scenario() -> None:
        wh = Warehouse(db_settings)
        await wh.start()
        try:
            for batch in (alerts, later):
                await wh.insert("alerts", [alert_row(a) for a in batch])
            for batch in (records, resent):
                await wh.insert("dead_letters", to_columns(
                    "dead_letters", [dead_letter_row(r) for r in batch]))
            got = await wh.run(queries.alerts)
            assert [a["alert_id"] for a in got] == [f"a{i}" for i in range(5)]
            assert got[2]["evidence"] == ["e2", "e0"] and got[2]["title_zh"] == "燃气浓度超限"
            assert got[2]["event_time"] == format_event_time(T0 + 2) and got[2]["value"] == 26.5
            assert len(await wh.run(queries.alerts, status="firing", fingerprint="fp")) == 5
            assert await wh.run(queries.alerts, district="furong") == []
            assert len(await wh.run(queries.dead_letters)) == 3
        finally:
            await wh.close()

    asyncio.run(scenario())


def test_dead_letter_raw_bytes_round_trip(db_settings: Settings) -> None:
    blobs = [bytes(range(256)), b"", b"\x00" * 1000, "燃气".encode("gbk"), b"\xff\xfe{\x80",
             "合法 UTF-8 ✓".encode(), os.urandom(4096)]
    records = [dead_letter(Origin("citycc.lifeline", 0, i, -1), "malformed_json", "",
                           "not JSON", raw, T0 + i) for i, raw in enumerate(blobs)]

    async def scenario() -> list[dict[str, Any]]:
        wh = Warehouse(db_settings)
        await wh.start()
        try:
            await wh.insert("dead_letters", [dead_letter_row(r) for r in records])
            return await wh.run(queries.dead_letters, source_topic="citycc.lifeline")
        finally:
            await wh.close()

    got = asyncio.run(scenario())
    assert [r["raw"] for r in got] == blobs
    assert got[0]["reason"] == "not JSON" and got[0]["code"] == "malformed_json"
    assert got[0]["source_offset"] == 0 and got[0]["received_ms"] == T0


def test_events_between_orders_by_event_time(db_settings: Settings) -> None:
    n = 3000
    rng = random.Random(7)
    times = [T0 + rng.randrange(0, 2 * 3_600_000) for _ in range(n)]  # crosses midnight UTC
    times[10] = times[11]  # a tie: broken by event_id
    events = [lifeline(i, ts, "yuelu" if i % 3 else "furong") for i, ts in enumerate(times)]
    order = list(range(n))
    rng.shuffle(order)
    chunks = [order[i:i + 1000] for i in range(0, n, 1000)]

    async def scenario() -> None:
        wh = Warehouse(db_settings)
        await wh.start()
        try:
            for chunk in chunks:
                await wh.insert("events_lifeline", event_columns(
                    "lifeline", [(events[i], times[i], Origin("t", 0, i), T0) for i in chunk]))
            start, end = T0 + 1_800_000, T0 + 5_400_000
            bodies = await wh.run(queries.events_between, "lifeline", start, end)
            want = sorted((times[i], events[i]["event_id"]) for i in range(n)
                          if start <= times[i] < end)
            got = [orjson.loads(b) for b in bodies]
            assert [(parse_event_time(g["event_time"]), g["event_id"]) for g in got] == want
            assert got[0] == events[int(want[0][1][3:])]
            furong = await wh.run(queries.events_between, "lifeline", start, end, "furong")
            assert len(furong) == sum(1 for _, eid in want if int(eid[3:]) % 3 == 0)
            edge = await wh.run(queries.events_between, "lifeline", times[5], times[5] + 1)
            assert orjson.loads(edge[0])["event_id"] == "lf-0000005"
            assert await wh.run(queries.events_between, "lifeline", times[5], times[5]) == []
        finally:
            await wh.close()

    asyncio.run(scenario())


def test_rejected_rows_raise_permanent_error_at_once(db_settings: Settings) -> None:
    async def scenario() -> None:
        wh = Warehouse(db_settings, backoff=Backoff(initial_s=5.0, max_s=5.0))
        await wh.start()
        try:
            started = time.monotonic()
            with pytest.raises(PermanentInsertError) as info:  # no such column (server)
                await wh.insert("dead_letters", {"dl_id": ["a"], "no_such_column": ["b"]})
            assert getattr(info.value.cause, "code", None) == 16
            with pytest.raises(PermanentInsertError):  # a string for a UInt8 (driver)
                await wh.insert("events_ems", {"event_id": ["a"], "priority": ["high"]})
            assert time.monotonic() - started < 4.0 and wh.counters.retries == 0
            assert wh.counters.permanent_failures == 2
        finally:
            await wh.close()

    asyncio.run(scenario())


def test_dropped_table_is_recreated_by_the_next_insert(db_settings: Settings) -> None:
    async def scenario() -> None:
        wh = Warehouse(db_settings, backoff=Backoff(initial_s=0.05, max_s=0.2))
        await wh.start()
        try:
            await wh.run(lambda c: c.execute("DROP TABLE events_ems"))
            batch = stream_batch("ems", 10, 0, T0)
            assert await asyncio.wait_for(wh.insert("events_ems", batch), 30.0) == 10
            assert await wh.run(queries.count_events, "ems") == 10
        finally:
            await wh.close()

    asyncio.run(scenario())


def test_insert_throughput_50k_lifeline_rows(db_settings: Settings) -> None:
    items = [(lifeline(i, T0 + i), T0 + i, Origin("t", 0, i), T0) for i in range(50_000)]

    async def scenario() -> float:
        wh = Warehouse(db_settings)
        await wh.start()
        try:
            columns = event_columns("lifeline", items)
            started = time.perf_counter()
            await wh.insert("events_lifeline", columns)
            return time.perf_counter() - started
        finally:
            await wh.close()

    elapsed = asyncio.run(scenario())
    version = _run(db_settings, lambda c: c.execute("SELECT version()")[0][0])
    print(f"50k lifeline rows inserted into ClickHouse {version} in {elapsed * 1000:.0f} ms "
          f"({50_000 / elapsed:,.0f} rows/s)")
    assert _scalar(db_settings, f"SELECT count() FROM {db_settings.clickhouse.database}"
                                f".events_lifeline FINAL") == 50_000
    assert elapsed < 20.0


def test_insert_waits_out_a_server_restart(tmp_path: Path) -> None:
    # A private server (the project's own deploy code) that this test may stop and restart.
    ports = procs.free_ports(2)
    settings = load_settings({}, run_dir=tmp_path / "run", clickhouse_port=ports[0],
                             clickhouse_http_port=ports[1],
                             clickhouse_database="outage")
    clickhouse.start(settings)
    n = 20_000
    columns = event_columns("lifeline", [(lifeline(i, T0 + i), T0 + i, Origin("t", 0, i), T0)
                                         for i in range(n)])

    async def scenario() -> None:
        wh = Warehouse(settings, backoff=Backoff(initial_s=0.1, max_s=0.5))
        await wh.start()
        try:
            await wh.insert("events_lifeline", {c: v[:100] for c, v in columns.items()})
            await asyncio.to_thread(clickhouse.stop, settings)
            # A fresh process cannot start while the server is down: start() gives up.
            with pytest.raises(WarehouseError):
                await Warehouse(settings, backoff=Backoff(0.1, 0.2)).start(deadline_s=1.0)
            task = asyncio.create_task(wh.insert("events_lifeline", columns))
            deadline = time.monotonic() + 30
            while wh.counters.retries < 3 and time.monotonic() < deadline:
                await asyncio.sleep(0.05)  # poll the retry counter
            assert wh.counters.retries >= 3
            assert not task.done(), "insert returned while ClickHouse was down"
            await asyncio.to_thread(clickhouse.start, settings)
            assert await asyncio.wait_for(task, 60.0) == n
            assert await wh.run(queries.count_events, "lifeline") == n  # first 100 once
        finally:
            await wh.close()

    try:
        asyncio.run(scenario())
    finally:
        clickhouse.stop(settings)
    assert procs.running_pid(clickhouse.pidfile(settings)) is None
