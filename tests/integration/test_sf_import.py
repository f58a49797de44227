"""SF Fire history loaded into a real ClickHouse: its own database, dead letters, idempotent.

Uses the session fixture ``fresh_database`` of tests/conftest.py (a running ClickHouse).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, Iterator

import pytest

from citycc.settings import Settings
from replay.cad_import import reader
from warehouse.cad_load import history_settings, load
from warehouse.client import connect

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]
FIXTURE = Path(__file__).parents[1] / "fixtures" / "sf_fire" / "calls_sample.csv"


@pytest.fixture()
def live(fresh_database: Any) -> Iterator[Settings]:
    with fresh_database("sf_live") as settings:
        try:
            yield settings
        finally:
            hist = history_settings(settings, "sf").clickhouse.database
            client = connect(settings, database="default")
            try:
                client.execute(f"DROP DATABASE IF EXISTS {hist}")
            finally:
                client.disconnect()


def _load(settings: Settings) -> reader.Summary:
    with FIXTURE.open(newline="") as f:
        return asyncio.run(load(settings, "sf", FIXTURE.name, reader.read(f), batch_rows=40))


def _q(settings: Settings, sql: str) -> list[tuple[Any, ...]]:
    client = connect(settings, database="default")
    try:
        return client.execute(sql)
    finally:
        client.disconnect()


def test_fixture_loads_into_the_citys_own_database_with_its_bad_rows(live: Settings) -> None:
    s = _load(live)
    assert (s.rows_read, s.records, sum(s.bad_rows.values())) == (96, 193, 12)
    db = history_settings(live, "sf").clickhouse.database
    assert db == f"{live.clickhouse.database}_hist_sf"
    counts = dict(_q(live, f"SELECT concat('ems.', type), count() FROM {db}.events_ems FINAL "
                           f"GROUP BY type UNION ALL SELECT concat('fire.', type), count() "
                           f"FROM {db}.events_fire FINAL GROUP BY type"))
    assert counts == {"ems.call": 50, "ems.unit_status": 50, "fire.call": 30,
                      "fire.engine_status": 33, "fire.incident": 30}
    dl = _q(live, f"SELECT source_offset, code, field FROM {db}.dead_letters "
                  f"ORDER BY source_offset")
    assert [(o, c) for o, c, _ in dl] == [
        (86, "wrong_column_count"), (87, "missing_call_number"), (88, "missing_unit_id"),
        (89, "unknown_call_type"), (90, "bad_date"), (91, "bad_time"),
        (92, "nonexistent_local_time"), (93, "bad_location"), (94, "bad_location"),
        (95, "bad_priority"), (96, "bad_delay"), (97, "wrong_column_count")]
    row = _q(live, f"SELECT event_time, lat, lon, district, complaint, priority, src_topic, "
                   f"src_offset FROM {db}.events_ems FINAL WHERE event_id = "
                   f"'sf-fire-cad:call:20110022'")
    assert [(str(r[0]), *r[1:]) for r in row] == [
        ("2002-01-11 08:00:00+00:00", 37.7337623673897, -122.396113802632, "B10", "other", 1,
         "import:calls_sample.csv", 3)]
    # the live database is untouched: the load never created or wrote it
    assert _q(live, f"SELECT count() FROM system.databases WHERE name = "
                    f"'{live.clickhouse.database}'") == [(0,)]


def test_importing_twice_is_idempotent(live: Settings) -> None:
    _load(live)
    _load(live)
    db = history_settings(live, "sf").clickhouse.database
    assert _q(live, f"SELECT count() FROM {db}.events_ems FINAL")[0][0] == 100
    assert _q(live, f"SELECT count() FROM {db}.events_fire FINAL")[0][0] == 93


def test_the_live_kpi_query_reads_imported_history(live: Settings) -> None:
    """warehouse.kpi_queries (the cockpit's KPI function) on the history database: the
    imported cases and unit responses are found by the live definitions; every interval is
    absent because the export has no dispatched/en route/on scene times."""
    from types import SimpleNamespace

    from schemas.validate import parse_event_time
    from warehouse.kpi_queries import kpi_summary
    _load(live)
    client = connect(history_settings(live, "sf"))
    try:
        got = kpi_summary(client, parse_event_time("2002-01-01T00:00:00Z"),
                          parse_event_time("2020-01-01T00:00:00Z"),
                          SimpleNamespace(utc_offset_hours=-8.0, districts=()))
    finally:
        client.disconnect()
    assert got["counts"] == {"calls": 80, "unit_responses": 83}
    assert got["excluded"] == []
    assert {i["key"]: i["n"] for i in got["intervals"]} == {
        i["key"]: 0 for i in got["intervals"]}


def test_the_cli_loads_into_the_history_database(live: Settings, monkeypatch: Any,
                                                 capsys: Any) -> None:
    import json

    from citycc.cli import main
    for k, v in live.to_environ().items():
        monkeypatch.setenv(k, v)
    assert main(["import", "sf-fire", str(FIXTURE), "--city", "sf"]) == 0
    out, err = capsys.readouterr()
    summary = json.loads(out)
    db = f"{live.clickhouse.database}_hist_sf"
    assert (summary["database"], summary["dry_run"], summary["records"]) == (db, False, 193)
    assert len(err.strip().splitlines()) == 12
    assert _q(live, f"SELECT count() FROM {db}.dead_letters")[0][0] == 12
    assert _q(live, f"SELECT count() FROM {db}.events_ems FINAL")[0][0] == 100


def test_a_row_that_is_not_utf8_is_a_dead_letter_with_its_own_bytes(live: Settings,
                                                                     tmp_path: Path) -> None:
    lines = FIXTURE.read_bytes().split(b"\n")
    cells = lines[2].split(b",")
    cells[8] = b"CAF\xc9 ST"          # Address in Latin-1
    lines[2] = b",".join(cells)
    path = tmp_path / "latin1.csv"
    path.write_bytes(b"\n".join(lines[:4]) + b"\n")
    with reader.open_export(path) as f:
        s = asyncio.run(load(live, "sf", path.name, reader.read(f)))
    assert (s.rows_read, s.rows_ok, dict(s.bad_rows)) == (3, 2, {reader.BAD_ENCODING: 1})
    db = history_settings(live, "sf").clickhouse.database
    got = _q(live, f"SELECT source_offset, code, field, raw FROM {db}.dead_letters")
    assert [(o, c, f) for o, c, f, _ in got] == [(3, reader.BAD_ENCODING, "Address")]
    raw = got[0][3]
    assert (raw if isinstance(raw, bytes) else raw.encode("utf-8", "surrogateescape")) \
        == lines[2]
