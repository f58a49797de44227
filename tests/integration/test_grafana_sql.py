"""Every Grafana panel's SQL on the real ClickHouse, on a simulated city.

45 simulated minutes (scale 0.1, one incident of each kind injected) go through the
detectors and the alerting engine as the worker runs them; the events, alerts, alert and
incident events go into the warehouse through its own row builders and sink. Each panel's
SQL, its macros expanded to literal times as the ClickHouse plugin expands them, then runs:
its columns have the types the panel needs (``time`` a DateTime first in a time series,
numbers for values, every column named in zh), and it has rows where the data must give
some. The response figures are those of :mod:`dispatch.kpis` computed by
:func:`warehouse.kpi_queries.responses` on the same data: the dashboards and the cockpit
share the definitions (every interval on the panels, the 120 figures and NFPA 1710; the run
has no dispatch log, which only the cockpit reads, see :mod:`dashboards.kpi_sql`). With chDB installed (ClickHouse 26.x in process; not a project
dependency) the same tables are copied into it and every panel must give the same rows on
current ClickHouse as on the server here (18.16).
"""

from __future__ import annotations

import asyncio
import math
import subprocess
from dataclasses import asdict
from pathlib import Path
from typing import Any, Iterator

import orjson
import pytest

from alerting.config import default_config
from alerting.engine import Engine
from city.profile import load_profile
from citycc.settings import Settings
from cockpit_api.server import map_layers
from dashboards import kpi_sql, macros
from dashboards.build import dashboards
from dashboards.panels import Context
from detectors.plan import build_event_detectors
from dispatch import kpis
from dispatch.kpi_defs import AGENCIES, FIGURES, INTERVAL
from schemas.records import Origin
from schemas.validate import format_event_time, parse_event_time
from streams.alerting_bridge import finding_alert
from warehouse.client import connect
from warehouse.kpi_queries import responses
from warehouse.migrate import load_migrations
from warehouse.rows import alert_event_row, alert_row, event_columns, incident_event_row
from warehouse.sink import Warehouse

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

MIN = 60_000
T0 = 1_714_528_800_000                  # 2024-05-01T02:00:00Z
RUN_MS = 45 * MIN
FROM, TO = T0, T0 + 2 * 60 * MIN        # the dashboard range: the run and after it
INTERVAL_S = 300
PROFILE = load_profile("changsha")
DISPATCH_TYPES = {("ems", "call"), ("fire", "call"), ("fire", "incident")}
NUMBERS = ("UInt8", "UInt32", "UInt64", "Int64", "Float64")


def simulate() -> dict[str, list[Any]]:
    """The events per stream and the alerting logs of the run, as the worker makes them."""
    from simulator.generate import Simulation
    from simulator.incidents import KINDS
    sim = Simulation(PROFILE, scale=0.1, seed=4, start_ms=T0, incidents=0)
    for i, kind in enumerate(KINDS):
        sim.inject(kind, T0 + (3 + 4 * i) * MIN, duration_s=1500, district="furong")
    detectors, engine = build_event_detectors(PROFILE), Engine(default_config(), PROFILE)
    out: dict[str, list[Any]] = {"alert_events": [], "incident_events": [], "alerts": []}
    t = T0
    while t < T0 + RUN_MS:
        t += 10_000
        found, calls = [], []
        for stream, events in sim.tick(t).items():
            times = [parse_event_time(e["event_time"]) for e in events]
            out.setdefault(stream, []).extend(zip(events, times))
            for d in detectors:
                if stream in d.streams and events:
                    found += d.update(stream, events, times)
            calls += [{"stream": stream, "event": e} for e in events
                      if (stream, e.get("type")) in DISPATCH_TYPES]
        for d in detectors:
            found += d.tick(t)
        batch = [finding_alert(f, PROFILE, t) for f in found]
        out["alerts"] += batch
        step = engine.alerts(batch, t)
        step.extend(engine.dispatch(calls, t))
        step.extend(engine.tick(t))
        out["alert_events"] += [e.to_dict() for e in step.alert_events]
        out["incident_events"] += [asdict(e) for e in step.incident_events]
    return out


def load(settings: Settings, data: dict[str, list[Any]]) -> None:
    async def scenario() -> None:
        wh = Warehouse(settings)
        await wh.start()
        try:
            for stream in ("lifeline", "ems", "fire", "traffic", "hazmat"):
                items = [(e, ms, Origin(f"citycc.{stream}", 0, i), T0 + RUN_MS)
                         for i, (e, ms) in enumerate(data.get(stream, ()))]
                await wh.insert(f"events_{stream}", event_columns(stream, items))
            await wh.insert("alerts", [alert_row(a) for a in data["alerts"]])
            await wh.insert("alert_events", [alert_event_row(x) for x in data["alert_events"]])
            await wh.insert("incident_events",
                            [incident_event_row(x) for x in data["incident_events"]])
        finally:
            await wh.close()

    asyncio.run(scenario())


@pytest.fixture(scope="module")
def city(fresh_database: Any) -> Iterator[tuple[Settings, dict[str, list[Any]]]]:
    with fresh_database("grafana_test") as settings:
        data = simulate()
        load(settings, data)
        yield settings, data


def run(settings: Settings, sql: str) -> tuple[list[tuple[Any, ...]], list[tuple[str, str]]]:
    client = connect(settings)
    try:
        rows, cols = client.execute(macros.expand(sql, FROM, TO, INTERVAL_S),
                                    with_column_types=True)
    finally:
        client.disconnect()
    return rows, cols


def context(settings: Settings) -> Context:
    return Context(settings.clickhouse.database, {d.code: d.zh for d in PROFILE.districts},
                   map_layers(PROFILE).free_kmh)


def test_every_panel_runs_with_its_shape_and_has_rows(city: Any) -> None:
    settings, data = city
    assert data["alert_events"] and data["incident_events"]      # the run raised alerts
    ran = 0
    for board in dashboards(context(settings)):
        for panel in (p for p in board["panels"] if p["type"] != "row"):
            named = {o["matcher"]["options"] for o in panel["fieldConfig"]["overrides"]}
            for target in panel["targets"]:
                rows, cols = run(settings, target["rawSql"])
                what = f"{board['uid']} / {panel['title']} / {target['refId']}"
                assert rows, f"{what}: no rows"
                names = [c for c, _ in cols]
                types = dict(cols)
                if panel["type"] == "timeseries":
                    assert cols[0] == ("time", "DateTime"), what
                    values = names[1:]
                    labels = [c for c in values if types[c] == "String"]
                    assert len(labels) <= 1, what      # long format: one label column
                    values = [c for c in values if c not in labels]
                    assert [r[0] for r in rows] == sorted(r[0] for r in rows), what
                else:
                    values = [c for c in names if types[c] != "String"]
                assert values, what
                for c in values:
                    assert types[c].removeprefix("Nullable(").rstrip(")") in NUMBERS, \
                        f"{what}: {c} is {types[c]}"
                shown = [c for c in names if c != "time" and not (
                    panel["type"] == "timeseries" and types[c] == "String")]
                assert set(shown) <= named, f"{what}: {set(shown) - named} have no zh name"
                ran += 1
    assert ran == 16


def _python(settings: Settings, agency: str | None) -> dict[str, Any]:
    client = connect(settings)
    try:
        r = responses(client, FROM, TO, agency=agency)
    finally:
        client.disconnect()
    return kpis.compute(r, PROFILE.utc_offset_hours)


@pytest.mark.parametrize("agency", [None, "ems", "fire"])
def test_the_response_figures_are_the_cockpits(city: Any, agency: str | None) -> None:
    settings, _ = city
    db = settings.clickhouse.database
    want = _python(settings, agency)
    assert want["calls"] >= 2
    agencies = kpi_sql.AGENCIES if agency is None else (agency,)
    for key in kpi_sql.PANEL_INTERVALS:
        values = kpi_sql.interval_values(db, key, agencies)
        (row,), _ = run(settings, f"SELECT count() AS n, {kpi_sql.nearest_rank(50)}, "
                                  f"{kpi_sql.nearest_rank(90)} FROM ({values})")
        got = want["intervals"][key]["all"]
        assert row == (got["n"], got["p50"], got["p90"]), (agency, INTERVAL[key].en)
    if agency != "fire":
        (row,), _ = run(settings, kpi_sql.china_120(db))
        rate = want["china_120"]["depart_rate"]
        assert row[:2] == (round(rate["share"] * 100, 1), rate["n"])
        assert row[2] == round(want["china_120"]["mean_response"]["mean"], 1)


def _fire(etype: str, entity: str, at_s: int, **fields: Any) -> tuple[dict[str, Any], int]:
    ms = T0 + at_s * 1000
    return {"event_id": f"{etype}-{entity}-{at_s}", "type": etype, "source": "test",
            "event_time": format_event_time(ms), "entity_id": entity, "district": "tianxin",
            "lat": 28.2, "lon": 112.9, "category": "structure_fire", **fields}, ms


def _link(n: int, incident: str, call: str, kind: str = "call_linked") -> dict[str, Any]:
    return {"event_id": f"ie-{n}", "incident_id": incident, "seq": n, "lsn": n, "kind": kind,
            "at_ms": T0 + (200 + n) * 1000, "actor": "correlator",
            "payload_json": orjson.dumps({"call_id": call, "stream": "fire"}).decode()}


def test_a_119_call_moves_its_incidents_received_time(fresh_database: Any) -> None:
    """FI-1 opens at 130 s; the 119 call C1 at 100 s is linked with it to one alerting
    incident: the case was received at 100 s. C2 (at 50 s) was linked and unlinked, C3 (at
    40 s) is linked to an incident with two 119 incidents: neither counts. As the cockpit."""
    fire = [_fire("call", "C1", 100), _fire("call", "C2", 50), _fire("call", "C3", 40),
            _fire("incident", "FI-1", 130, status="open", alarm_level=1),
            _fire("incident", "FI-2", 140, status="open", alarm_level=1),
            *[_fire("engine_status", "ENG-1", t, status=st, incident_id="FI-1")
              for st, t in (("dispatched", 170), ("en_route", 230), ("on_scene", 430))]]
    links = [_link(1, "INC-1", "FI-1"), _link(2, "INC-1", "C1"), _link(3, "INC-1", "C2"),
             _link(4, "INC-1", "C2", "call_unlinked"), _link(5, "INC-2", "FI-1"),
             _link(6, "INC-2", "FI-2"), _link(7, "INC-2", "C3")]

    async def scenario(settings: Settings) -> None:
        wh = Warehouse(settings)
        await wh.start()
        try:
            await wh.insert("events_fire", event_columns(
                "fire", [(e, ms, Origin("citycc.fire", 0, i), T0)
                         for i, (e, ms) in enumerate(fire)]))
            await wh.insert("incident_events", [incident_event_row(x) for x in links])
        finally:
            await wh.close()

    with fresh_database("grafana_links") as settings:
        asyncio.run(scenario(settings))
        db = settings.clickhouse.database
        want = _python(settings, "fire")["intervals"]
        for key, seconds in (("processing", 70.0), ("depart", 130.0), ("response", 330.0)):
            values = kpi_sql.interval_values(db, key, ("fire",))
            rows, _ = run(settings, f"SELECT case_id, v FROM ({values}) ORDER BY case_id")
            assert rows == [("FI-1", seconds)], key
            assert want[key]["all"]["p50"] == seconds, key


def test_the_nfpa_1710_table_is_the_cockpits(city: Any) -> None:
    settings, _ = city
    agencies = {a: AGENCIES[a]["zh"] for a in kpi_sql.AGENCIES}
    figures = {k: FIGURES[k]["zh"] for k in ("turnout", "travel")}
    rows, _ = run(settings, kpi_sql.nfpa_1710(settings.clickhouse.database, figures, agencies))
    want = _python(settings, None)["nfpa_1710"]
    expected = []
    for name in ("turnout", "travel"):
        for a in kpi_sql.AGENCIES:
            f = want[name][a]
            expected.append((figures[name], agencies[a], f["limit_s"], f["n"], f["within"],
                             None if f["share"] is None else round(f["share"] * 100, 1),
                             f["p90"], None if f["meets"] is None else int(f["meets"])))
    assert rows == expected
    assert sum(r[3] for r in rows) > 0


def _rows(rows: Any) -> list[list[Any]]:
    """Rows compared across servers and formats: numbers as rounded floats, NaN as None."""
    def one(v: Any) -> Any:
        try:
            f = float(v)
        except (TypeError, ValueError):
            return str(v)
        return None if math.isnan(f) else round(f, 6)
    return [[one(v) for v in r] for r in rows]


def test_every_panel_gives_the_same_rows_on_current_clickhouse(city: Any,
                                                               tmp_path: Path) -> None:
    chdb = pytest.importorskip("chdb", reason="chDB (current ClickHouse in process) is not "
                               "installed; it is not a project dependency")
    settings, _ = city
    db = settings.clickhouse.database
    current = chdb.session.Session(str(tmp_path / "chdb"))
    current.query(f"CREATE DATABASE {db}")
    for migration in load_migrations():
        for statement in migration.statements(db):
            current.query(statement)
    client = connect(settings)
    try:
        tables = [t for (t,) in client.execute(f"SHOW TABLES FROM {db}")
                  if t != "schema_migrations"]
    finally:
        client.disconnect()
    for table in tables:
        dump = tmp_path / f"{table}.tsv"
        with open(dump, "wb") as out:
            subprocess.run(["clickhouse-client", "--port", str(settings.clickhouse.port),
                            "-q", f"SELECT * FROM {db}.{table} FORMAT TSVWithNames"],
                           stdout=out, check=True, timeout=120)
        current.query(f"INSERT INTO {db}.{table} SELECT * FROM file('{dump}', TSVWithNames)")
    version = current.query("SELECT version()", "CSV").bytes().decode().strip()
    for board in dashboards(context(settings)):
        for panel in (p for p in board["panels"] if p["type"] != "row"):
            for target in panel["targets"]:
                rows, cols = run(settings, target["rawSql"])
                got = orjson.loads(current.query(
                    macros.expand(target["rawSql"], FROM, TO, INTERVAL_S), "JSONCompact").bytes())
                what = f"{board['uid']} / {panel['title']} on {version}"
                assert [m["name"] for m in got["meta"]] == [c for c, _ in cols], what
                assert _rows(got["data"]) == _rows(
                    [[str(v) if not isinstance(v, (int, float)) else v for v in r]
                     for r in rows]), what
