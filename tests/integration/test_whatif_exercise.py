"""What-if and drills against a real ClickHouse: ``citycc replay whatif`` reads a window of
simulated history from the warehouse and reports the alerts a lower limit adds;
``citycc exercise run`` writes its drill to ``<db>_exercise_<id>`` and never to the live
database. Uses the session fixture ``fresh_database`` of tests/conftest.py."""

from __future__ import annotations

import json
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Iterator

import pytest

from citycc import cli
from citycc.settings import Settings
from city.profile import load_profile
from schemas.records import Origin
from schemas.validate import EventValidator, Policy, parse_event_time
from simulator.generate import Simulation
from warehouse.client import connect, query
from warehouse.migrate import migrate
from warehouse.rows import event_columns, table_for_stream

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]
T0 = 1_795_600_800_000          # 2026-11-25T10:00:00Z
SAMPLE = Path(__file__).parents[1] / "fixtures" / "exercise" / "gas_leak_yuelu_school.yaml"


_q = query   # one query on a client of its own (warehouse.client)


@pytest.fixture()
def live(fresh_database: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """A live database holding 3 minutes of a small simulated city with a gas leak."""
    with fresh_database("whatif") as settings:
        for k, v in settings.to_environ().items():
            monkeypatch.setenv(k, v)
        profile = load_profile(settings.city)
        sim = Simulation(profile, scale=0.05, seed=3, start_ms=T0, incidents=0)
        sim.inject("gas_leak", T0 + 20_000)
        by_stream: dict[str, list[Any]] = defaultdict(list)
        policy = Policy.for_city(profile, max_lateness_s=24 * 3600)
        for t in range(T0 + 1000, T0 + 3 * 60_000, 1000):
            for stream, evs in sim.tick(t).items():
                v = EventValidator(stream, policy)
                for e in evs:
                    ev, ts = v.validate(e, t)
                    by_stream[stream].append((ev, ts, Origin(stream, 0, len(by_stream[stream]),
                                                             0), t))
        client = connect(settings, database="default")
        try:
            migrate(client, settings.clickhouse.database)
            for stream, items in by_stream.items():
                cols = event_columns(stream, items)
                client.execute(f"INSERT INTO {settings.clickhouse.database}."
                               f"{table_for_stream(stream)} ({', '.join(cols)}) VALUES",
                               list(cols.values()), columnar=True)
        finally:
            client.disconnect()
        yield settings


def test_whatif_reads_the_window_and_reports_a_lower_limits_alerts(
        live: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ov = tmp_path / "ov.yaml"
    ov.write_text("limits:\n  manhole_gas: {high_alarm: 3.25, high_recover: 2}\n",
                  encoding="utf-8")
    assert cli.main(["replay", "whatif", "--from", "2026-11-25T10:00:00Z", "--to",
                     "2026-11-25T10:03:00Z", "--with", str(ov), "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    added = {a["entity_id"] for a in rep["alerts"]["added"] if a["kind"] == "manhole_gas_high"}
    # what the stored readings say: sensors reaching 3.25 %LEL but never the shipped 25
    rows = _q(live, f"SELECT entity_id, max(value) FROM {live.clickhouse.database}."
                    f"events_lifeline WHERE kind = 'manhole_gas' GROUP BY entity_id")
    assert added and added == {e for e, mx in rows if 3.25 <= mx < 25.0}
    assert rep["alerts"]["removed"] == []
    # a what-if writes nothing: no replay or exercise database appeared
    names = [n for (n,) in _q(live, "SELECT name FROM system.databases")]
    assert not [n for n in names if n.startswith(f"{live.clickhouse.database}_")]


def test_a_drill_writes_its_own_database_and_never_the_live_one(
        live: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = live.clickhouse.database
    before = _q(live, f"SELECT count() FROM {db}.incident_events")
    started_ms = int(time.time() * 1000)
    assert cli.main(["exercise", "run", str(SAMPLE), "--speed", "max",
                     "--out", str(tmp_path / "drill")]) == 0
    summary = json.loads(capsys.readouterr().out)
    ex_db = summary["database"]
    try:
        assert ex_db == f"{db}_exercise_{summary['exercise']}"
        opened = _q(live, f"SELECT incident_id FROM {ex_db}.incident_events "
                          f"WHERE kind = 'opened'")
        assert [i for (i,) in opened] == [i["incident_id"] for i in summary["incidents"]]
        assert summary["incidents"][0]["category"] == "gas"
        assert _q(live, f"SELECT count() FROM {ex_db}.alert_events")[0][0] > 0
        # the drill's events are stored as the worker stores input, with the drill's ids
        ids = [i for (i,) in _q(live, f"SELECT event_id FROM {ex_db}.events_lifeline")]
        assert len(ids) == 22 and all(i.startswith("EX-") for i in ids)
        assert _q(live, f"SELECT count() FROM {db}.incident_events") == before
        assert _q(live, f"SELECT count() FROM {db}.alert_events") == [(0,)]
        cap = (tmp_path / "drill" / "cap" / f"{opened[0][0]}.xml").read_text(encoding="utf-8")
        assert "<status>Exercise</status>" in cap
        first = min(parse_event_time(json.loads(line)["value"]["event_time"])
                    for line in (tmp_path / "drill" / "records.jsonl").read_text().splitlines()
                    if json.loads(line)["topic"] == "alerts")
        assert first >= started_ms     # the drill ran from now
    finally:
        _q(live, f"DROP DATABASE IF EXISTS {ex_db}")


def test_a_served_drill_exports_its_incident_as_an_exercise_from_its_own_database(
        live: Settings, tmp_path: Path) -> None:
    """``exercise run --serve``: the drill plays in its cockpit; that cockpit's CAP export
    of the drill's incident is read from ``<db>_exercise_<id>`` and says Exercise."""
    import argparse
    import asyncio
    import http.client
    import socket

    import orjson

    from citycc.commands.exercise import run_exercise
    from cockpit_api.auth.testing import signed_in, write_test_users
    from replay.exercise import drill_events, parse_scenario
    from replay.setup import setup_from_settings

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    settings = live.with_overrides(cockpit_host="127.0.0.1")
    write_test_users(settings.users_path)
    setup = setup_from_settings(settings)
    now = int(time.time() * 1000)
    events = drill_events(parse_scenario(SAMPLE.read_text(encoding="utf-8"), setup.policy),
                          "served1", now, setup.policy)
    args = argparse.Namespace(no_db=False, out=None, serve=True, speed=None, tail=60.0,
                              port=port)

    async def next_of(ws: Any, kind: str) -> dict[str, Any]:
        async with asyncio.timeout(30):
            while True:
                msg = orjson.loads(await ws.recv())
                if msg["type"] == kind:
                    return msg  # type: ignore[no-any-return]

    def get(path: str, token: str) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
        try:
            conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
            r = conn.getresponse()
            return r.status, r.read()
        finally:
            conn.close()

    async def scenario() -> dict[str, Any]:
        run = asyncio.create_task(asyncio.to_thread(run_exercise, settings, setup, events,
                                                    "served1", now, args))
        async with asyncio.timeout(60):
            while True:              # (polls with a deadline until the cockpit listens)
                try:
                    async with signed_in(port, "大屏") as ws:
                        snap = await next_of(ws, "snapshot")
                        told = snap["replay"]
                        assert told["mode"] == "exercise"
                        while not told["ended"]:
                            told = await next_of(ws, "replay")
                        break
                except OSError:
                    await asyncio.sleep(0.2)
        from cockpit_api.auth.roles import Principal
        from cockpit_api.auth.tokens import issue_token, load_secret
        tok = issue_token(Principal("大屏", "viewer", "", ()),
                          load_secret(settings.auth_secret, settings.run_dir), time.time(),
                          600).token
        iid = await asyncio.to_thread(_first_incident, settings, "served1")
        code, body = await asyncio.to_thread(get, f"/api/incidents/{iid}/cap", tok)
        assert code == 200, body
        assert b"<status>Exercise</status>" in body
        async with signed_in(port, "张伟") as ws:
            await ws.send(orjson.dumps({"type": "replay", "op": "stop",
                                        "command_id": "s1"}).decode())
        return await asyncio.wait_for(run, 30)

    summary = asyncio.run(scenario())
    try:
        assert [i["category"] for i in summary["incidents"]] == ["gas"]
    finally:
        _q(live, f"DROP DATABASE IF EXISTS {summary['database']}")


def _first_incident(settings: Settings, ex: str) -> str:
    from replay.drill import exercise_database
    db = exercise_database(settings.clickhouse.database, ex)
    rows = _q(settings, f"SELECT incident_id FROM {db}.incident_events WHERE kind = 'opened'")
    assert rows, "the drill's incident is in its own database while it is served"
    return str(rows[0][0])


def test_a_real_incident_rerun_as_a_drill_keeps_its_timing(
        live: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``exercise run --incident ID``: the incident's window read back from the warehouse,
    shifted so its first event is now, opens the same kind of incident after the same
    time (to the replay's tick), in the drill's session only."""
    from replay.engine import Replayer
    from replay.session import OutputWriter
    from replay.setup import setup_from_settings
    from replay.window import make_window
    from warehouse.replay_read import read_window
    db = live.clickhouse.database
    # the live history's incident: the window replayed once into the live database's logs
    setup = setup_from_settings(live)
    window = make_window(setup.profile, T0, T0 + 3 * 60_000)
    client = connect(live)
    try:
        writer = OutputWriter(client, db, None)
        r = Replayer(setup, T0)
        for stream, events, times in read_window(client, db, window):
            writer.add(r.feed(stream, events, times))
        writer.add(r.advance(window.end_ms))
        writer.flush()
    finally:
        client.disconnect()
    (iid, opened_ms), = _q(live, f"SELECT incident_id, at_ms FROM {db}.incident_events "
                                 f"WHERE kind = 'opened'")
    category = json.loads(_q(live, f"SELECT payload FROM {db}.incident_events WHERE "
                                   f"kind = 'opened'")[0][0])["category"]
    first_ms = _q(live, f"SELECT min(event_ms) FROM {db}.events_lifeline WHERE event_ms >= "
                        f"{int(opened_ms) - 30 * 60_000}")[0][0]
    started_ms = int(time.time() * 1000)
    assert cli.main(["exercise", "run", "--incident", iid, "--speed", "max", "--no-db",
                     "--tail", "0", "--out", str(tmp_path / "rerun")]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["name"]["en"] == f"Re-run of incident {iid}"
    (inc,) = [i for i in summary["incidents"] if i["category"] == category]
    # the drill's first event is 'now' (after the test started); the incident opens as long
    # after it as the real one opened after the history's first event, to a tick
    assert summary["start_ms"] >= started_ms
    assert abs((inc["opened_ms"] - summary["start_ms"]) - (int(opened_ms) - first_ms)) <= 1000
    assert inc["incident_id"] != iid                   # a drill never reuses a real id
    assert _q(live, f"SELECT count() FROM {db}.incident_events WHERE kind = 'opened'") == \
        [(1,)]                                         # nor writes the live database
