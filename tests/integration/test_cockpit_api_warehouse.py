"""The cockpit's HTTP API on the real ClickHouse: calls, unit statuses, alert and incident
events of the last hours go in through the warehouse's own row builders and sink; the
trend, the summary and the CAP export that come out through the running cockpit are the
hand-computed ones, cut to each user's view; a ClickHouse that cannot be reached is a 503."""

from __future__ import annotations

import asyncio
import http.client
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
import pytest

from alerting.cap import validate_cap
from alerting.config import default_config
from alerting.engine import Engine
from city.profile import load_profile
from citycc.settings import Settings
from cockpit_api.auth.roles import Principal
from cockpit_api.auth.testing import STAFF
from cockpit_api.auth.tokens import issue_token, load_secret
from cockpit_api.hub import AlertHub
from cockpit_api.server import serve
from deploy import procs
from schemas.records import Origin, make_alert
from schemas.validate import format_event_time
from warehouse.rows import alert_event_row, event_columns, incident_event_row
from warehouse.sink import Warehouse

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

S, H = 1000, 3_600_000
PROFILE = load_profile("changsha")
NOW = int(time.time() * 1000)
HOUR = NOW // H * H
if NOW - HOUR < 60 * S:          # keep every event before "now" (the test's, and the API's)
    NOW, HOUR = HOUR - 1, HOUR - H
B0, B1 = HOUR - 2 * H + 10 * 60 * S, HOUR - H + 5 * 60 * S   # in buckets 0 and 1 of 3


def ev(stream: str, etype: str, entity: str, ms: int, district: str, **fields: Any
       ) -> tuple[str, dict[str, Any], int]:
    return stream, {"event_id": f"{etype}-{entity}-{ms}-{fields.get('status', '')}",
                    "type": etype, "event_time": format_event_time(ms), "source": "test",
                    "entity_id": entity, "district": district, "lat": 28.2, "lon": 112.9,
                    **fields}, ms


EVENTS = [
    ev("ems", "call", "C1", B0, "furong", complaint="chest_pain", priority=1),
    *[ev("ems", "unit_status", "AMB-1", B0 + s * S, "furong", status=st, call_id="C1")
      for st, s in (("dispatched", 30), ("en_route", 75), ("on_scene", 375))],
    ev("ems", "call", "C2", B1, "yuelu", complaint="fall", priority=2),
    *[ev("ems", "unit_status", "AMB-2", B1 + s * S, "yuelu", status=st, call_id="C2")
      for st, s in (("dispatched", 60), ("en_route", 200), ("on_scene", 500))],
    ev("fire", "incident", "FI-1", B1 + 5 * 60 * S, "tianxin", category="structure_fire",
       alarm_level=1, status="open"),
    *[ev("fire", "engine_status", "ENG-1", B1 + (300 + s) * S, "tianxin", status=st,
         incident_id="FI-1") for st, s in (("dispatched", 20), ("en_route", 60),
                                           ("on_scene", 300))],
]


def gas(kind: str, entity: str, t: int, severity: str) -> dict[str, Any]:
    return make_alert(detector="limit", kind=kind, status="firing", severity=severity,
                      stream="lifeline", entity_id=entity, district="furong",
                      district_zh="芙蓉区", district_en="Furong", lat=28.19, lon=112.99,
                      event_time=format_event_time(t), value=1.0, threshold=1.0, unit="",
                      title_zh="燃气浓度超限", title_en="Gas concentration high",
                      evidence=["e1"], detected_at=format_event_time(t))


def engine_logs() -> tuple[str, list[dict[str, Any]], list[dict[str, Any]]]:
    e = Engine(default_config(), PROFILE)
    out = e.alerts([gas("gas_concentration_high", "GASC-1", B0, "critical"),
                    gas("gas_pressure_drop", "GASP-1", B0 + 5 * S, "minor")], B0 + 60 * S)
    iid = next(x.incident_id for x in out.incident_events if x.kind == "opened")
    return iid, [x.to_dict() for x in out.alert_events], [x.to_row() for x in out.incident_events]


@pytest.fixture()
def db_settings(fresh_database: Any) -> Iterator[Settings]:
    with fresh_database("api_test") as settings:
        yield settings.with_overrides(cockpit_port=procs.free_ports(1)[0])


def load(settings: Settings, alert_log: list[dict[str, Any]],
         incident_log: list[dict[str, Any]]) -> None:
    async def scenario() -> None:
        wh = Warehouse(settings)
        await wh.start()
        try:
            for stream in ("ems", "fire"):
                items = [(e, ms, Origin(f"citycc.{stream}", 0, i), NOW)
                         for i, (s, e, ms) in enumerate(EVENTS) if s == stream]
                await wh.insert(f"events_{stream}", event_columns(stream, items))
            await wh.insert("alert_events", [alert_event_row(x) for x in alert_log])
            await wh.insert("incident_events", [incident_event_row(x) for x in incident_log])
        finally:
            await wh.close()

    asyncio.run(scenario())


class Null:
    async def send(self, key: str, value: bytes) -> None:
        pass


@asynccontextmanager
async def cockpit(settings: Settings) -> AsyncIterator[None]:
    ready = asyncio.Event()
    task = asyncio.create_task(serve(settings, AlertHub(), ready=ready, commands=Null(),
                                     audit=Null(), profile=PROFILE))
    await ready.wait()
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def get(settings: Settings, path: str, user: str) -> tuple[int, bytes]:
    role, agency, districts = STAFF[user]
    token = issue_token(Principal(user, role, agency, districts),
                        load_secret(settings.auth_secret, settings.run_dir), time.time(),
                        600).token

    def ask() -> tuple[int, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", settings.cockpit_port, timeout=30)
        try:
            conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
            r = conn.getresponse()
            return r.status, r.read()
        finally:
            conn.close()
    return await asyncio.to_thread(ask)


def series(body: bytes) -> dict[str, list[Any]]:
    out = orjson.loads(body)
    assert len(out["hours"]) == 3
    for s in out["series"].values():
        assert s["label"]["zh"] and s["label"]["en"] and s["unit"]["zh"] and s["unit"]["en"]
    return {name: s["values"] for name, s in out["series"].items()}


def test_trend_summary_and_cap_from_the_warehouse(db_settings: Settings) -> None:
    iid, alert_log, incident_log = engine_logs()
    load(db_settings, alert_log, incident_log)

    async def scenario() -> dict[str, tuple[int, bytes]]:
        async with cockpit(db_settings):
            return {
                "city": await get(db_settings, "/api/kpi/trend?hours=3", "张伟"),
                "furong": await get(db_settings, "/api/kpi/trend?hours=3", "芙蓉值班长"),
                "ems": await get(db_settings, "/api/kpi/trend?hours=3", "急救调度"),
                "summary": await get(db_settings, "/api/kpi/summary?from="
                                     f"{format_event_time(HOUR - 3 * H)}", "大屏"),
                "cap": await get(db_settings, f"/api/incidents/{iid}/cap", "大屏"),
                "cap_ems": await get(db_settings, f"/api/incidents/{iid}/cap", "急救调度"),
            }

    got = asyncio.run(scenario())
    assert {k: s for k, (s, _) in got.items()} == {
        "city": 200, "furong": 200, "ems": 200, "summary": 200, "cap": 200, "cap_ems": 403}
    city = series(got["city"][1])
    assert city["alerts"] == [2, 0, 0]                    # the two gas alerts began
    assert city["incidents.gas"] == [1, 0, 0]
    assert city["calls_120"] == [1, 1, 0]
    assert city["response_p90_s"] == [375.0, 500.0, None]  # C1; C2 500 s, FI-1 300 s
    assert city["depart_3min_rate"] == [100.0, 0.0, None]  # C1 75 s; C2 200 s
    furong = series(got["furong"][1])
    assert (furong["alerts"], furong["calls_120"], furong["response_p90_s"]) == \
        ([2, 0, 0], [1, 0, 0], [375.0, None, None])
    ems = series(got["ems"][1])       # a 120 dispatcher: no gas alerts, no gas incident
    assert ems["alerts"] == [0, 0, 0] and not any(k.startswith("incidents.") for k in ems)
    assert ems["response_p90_s"] == [375.0, 500.0, None]
    summary = orjson.loads(got["summary"][1])
    assert summary["counts"]["calls"] == 3
    assert validate_cap(got["cap"][1]) == []
    assert iid.encode() in got["cap"][1]


def test_an_unreachable_warehouse_is_503(db_settings: Settings) -> None:
    down = db_settings.with_overrides(clickhouse_port=procs.free_ports(1)[0])

    async def scenario() -> tuple[int, bytes]:
        async with cockpit(down):
            return await get(down, "/api/kpi/trend", "张伟")

    status, body = asyncio.run(scenario())
    assert status == 503
    assert orjson.loads(body)["error"]["code"] in ("warehouse_unavailable", "warehouse_timeout")
