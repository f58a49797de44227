"""``citycc replay run`` on a real ClickHouse: simulated events stored as the worker stores
them, replayed twice (the same digest, ids included), the outputs in the session's own
database and nothing written to the live one.

Uses the session fixture ``fresh_database`` of tests/conftest.py (a running ClickHouse).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

from citycc.cli import build_parser
from citycc.commands.replay import run_cmd
from citycc.settings import Settings
from schemas.records import Origin
from schemas.validate import format_event_time
from warehouse.client import connect, query
from warehouse.migrate import migrate
from warehouse.rows import event_columns, table_for_stream

sys.path.insert(0, str(Path(__file__).parents[1] / "unit" / "replay"))
from worker_fake import T0, simulated_streams  # noqa: E402

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]
MINUTES = 3
STREAMS = ("lifeline", "ems", "fire", "traffic", "hazmat")


_q = query   # one query on a client of its own (warehouse.client)


@pytest.fixture()
def live(fresh_database: Any) -> Iterator[Settings]:
    with fresh_database("replay_live") as settings:
        db = settings.clickhouse.database
        client = connect(settings, database="default")
        try:
            migrate(client, db)
            for stream, items in simulated_streams(MINUTES).items():
                cols = event_columns(stream, [(ev, t, Origin(stream, 0, k // 500, k % 500),
                                               t + 200) for k, (t, _, ev) in
                                              enumerate(items)])
                client.execute(f"INSERT INTO {db}.{table_for_stream(stream)} "
                               f"({', '.join(cols)}) VALUES", list(cols.values()),
                               columnar=True)
            yield settings
        finally:
            for (name,) in client.execute(f"SELECT name FROM system.databases WHERE name "
                                          f"LIKE '{db}_replay_%'"):
                client.execute(f"DROP DATABASE IF EXISTS {name}")
            client.disconnect()


def replay(settings: Settings, capsys: Any, *extra: str) -> tuple[int, dict[str, Any]]:
    args = build_parser().parse_args(
        ["replay", "run", "--from", format_event_time(T0),
         "--to", format_event_time(T0 + MINUTES * 60_000 + 1000), *extra])
    rc = run_cmd(settings, args)
    out = capsys.readouterr().out
    return rc, json.loads(out) if rc == 0 else {"stderr": capsys.readouterr().err}


def test_a_window_replayed_twice_gives_the_same_outputs_apart_from_live(
        live: Settings, capsys: Any, tmp_path: Path) -> None:
    rc, first = replay(live, capsys, "--out", str(tmp_path / "a.jsonl"))   # (with its bar)
    assert rc == 0
    rc, second = replay(live, capsys, "--no-progress")
    assert rc == 0
    stored = sum(n for (n,) in _q(live, " UNION ALL ".join(
        f"SELECT count() FROM {live.clickhouse.database}.{table_for_stream(s)}"
        for s in STREAMS)))
    assert first["events"] == second["events"] == stored > 1000
    assert first["digest"] == second["digest"] and first["records"] == second["records"]
    assert first["alerts"] > 0 and first["incidents"] > 0 and first["packages"] > 0
    assert first["dead_letters"] == 0
    lines = (tmp_path / "a.jsonl").read_bytes().splitlines()
    assert len(lines) == first["records"]
    db = first["database"]
    assert db == f"{live.clickhouse.database}_replay_{first['session']}"
    rows = first["rows"]
    for table in ("alerts", "alert_events", "incident_events", "dispatch_log",
                  "notifications"):
        assert rows.get(table, 0) > 0, table
        # the second run started the session afresh: its rows, not twice as many
        assert _q(live, f"SELECT count() FROM {db}.{table}")[0][0] == rows[table], table
        assert _q(live, f"SELECT count() FROM {live.clickhouse.database}.{table}") \
            == [(0,)], table
    # the replayed events as the input agents store them: the session's KPIs work
    assert sum(rows.get(table_for_stream(s), 0) for s in STREAMS) == stored
    replayed = _q(live, f"SELECT event_id, body FROM {db}.events_ems ORDER BY event_id")
    original = _q(live, f"SELECT event_id, body FROM {live.clickhouse.database}.events_ems "
                        f"ORDER BY event_id")
    assert replayed == original
    ids = _q(live, f"SELECT event_id FROM {db}.incident_events ORDER BY event_id")
    assert len(ids) == first["rows"]["incident_events"]


def test_an_unknown_incident_is_refused_with_its_code(live: Settings, capsys: Any) -> None:
    args = build_parser().parse_args(["replay", "run", "--incident", "INC-nope",
                                      "--no-progress"])
    assert run_cmd(live, args) == 2
    err = capsys.readouterr().err
    assert "unknown_incident" in err and "INC-nope" in err


def test_an_incident_picks_its_window_and_area(live: Settings, capsys: Any) -> None:
    """An incident stored in the live database (here: one the first replay made, copied
    over) is replayed from its own window and districts."""
    rc, first = replay(live, capsys, "--no-progress", "--no-db", "--stream", "fire")
    assert rc == 0
    rc, made = replay(live, capsys, "--no-progress")
    db, own = made["database"], live.clickhouse.database
    (incident,) = _q(live, f"SELECT incident_id FROM {db}.incident_events WHERE kind = "
                           f"'opened' ORDER BY at_ms LIMIT 1")[0]
    _q(live, f"INSERT INTO {own}.incident_events SELECT * FROM {db}.incident_events "
             f"WHERE incident_id = '{incident}'")
    first_ms, last_ms = _q(live, f"SELECT min(at_ms), max(at_ms) FROM {own}.incident_events "
                                 f"WHERE incident_id = '{incident}'")[0]
    args = build_parser().parse_args(["replay", "run", "--incident", incident,
                                      "--no-progress", "--no-db"])
    assert run_cmd(live, args) == 0
    summary = json.loads(capsys.readouterr().out)
    w = summary["window"]
    assert w["incident_id"] == incident and w["districts"]
    assert w["from"] == format_event_time(first_ms - 30 * 60_000)
    assert w["to"] == format_event_time(last_ms + 10 * 60_000)
    assert summary["events"] > 0 and summary["database"] is None
    assert first["events"] < made["events"]   # (--stream fire: a subset)


def test_the_prefetching_reader_gives_the_same_runs_and_says_its_failure(
        live: Settings) -> None:
    """The reader in its own process (warehouse.replay_prefetch) yields exactly the runs of
    the in-process reader; a reader that cannot read ends the replay with its error."""
    from city.profile import load_profile
    from replay.window import make_window
    from warehouse.replay_prefetch import PrefetchError, prefetched_window
    from warehouse.replay_read import read_window
    window = make_window(load_profile(), T0, T0 + MINUTES * 60_000 + 1000)
    db = live.clickhouse.database
    client = connect(live)
    try:
        want = list(read_window(client, db, window, raw=True))
    finally:
        client.disconnect()
    got = list(prefetched_window(live, db, window, per_chunk=7, depth=2))
    assert got == want and len(want) > 10
    with pytest.raises(PrefetchError) as err:
        list(prefetched_window(live, "no_such_database_here", window))
    assert "no_such_database_here" in str(err.value)
