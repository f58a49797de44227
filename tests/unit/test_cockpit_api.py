"""The cockpit's authenticated HTTP API, served by the real server with a stand-in warehouse:
bearer tokens, scopes, parameters, refusals (JSON in both languages, never a traceback),
the rate limit, ClickHouse off the event loop, and the CAP export's content."""

from __future__ import annotations

import asyncio
import functools
import http.client
import socket
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import orjson
import pytest
from clickhouse_driver.errors import NetworkError

from alerting.cap import NS, validate_cap
from alerting.config import default_config
from alerting.engine import Engine
from alerting.gbt import validate_gbt
from citycc.settings import Settings
from cockpit_api.api.access import Access
from cockpit_api.api.service import Api
from cockpit_api.auth.roles import Principal
from cockpit_api.auth.testing import write_test_users
from cockpit_api.auth.tokens import issue_token, load_secret
from cockpit_api.hub import AlertHub
from cockpit_api.server import authenticator, serve
from schemas.records import make_alert
from schemas.validate import format_event_time
from unit_helpers import NOW_MS, PROFILE

S = 1000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def sync(fn: Any) -> Any:
    """An async test run to its end in a loop of its own."""
    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        return asyncio.run(fn(*args, **kwargs))
    return run
USERS = {"张伟": ("supervisor", "", ()), "大屏": ("viewer", "", ()),
         "急救调度": ("dispatcher", "120", ()), "交警调度": ("dispatcher", "traffic_police", ()),
         "芙蓉值班长": ("supervisor", "", ("furong",)),
         "两区值班": ("supervisor", "", ("furong", "tianxin"))}


def gas_alert(kind: str, entity: str, t: int, severity: str) -> dict[str, Any]:
    return make_alert(detector="limit", kind=kind, status="firing", severity=severity,
                      stream="lifeline", entity_id=entity, district="furong",
                      district_zh="芙蓉区", district_en="Furong", lat=28.19, lon=112.99,
                      event_time=format_event_time(t), value=1.0, threshold=1.0, unit="",
                      title_zh="燃气浓度超限", title_en="Gas concentration high",
                      evidence=["e1"], detected_at=format_event_time(t))


def incident_log() -> tuple[str, list[dict[str, Any]]]:
    """A gas-leak incident in Furong, as its events come back from ClickHouse."""
    e = Engine(default_config(), PROFILE)
    out = e.alerts([gas_alert("gas_concentration_high", "GASC-1", NOW_MS, "critical"),
                    gas_alert("gas_pressure_drop", "GASP-1", NOW_MS + 5 * S, "minor")],
                   NOW_MS + 6 * S)
    iid = next(ev.incident_id for ev in out.incident_events if ev.kind == "opened")
    return iid, [ev.to_row() for ev in out.incident_events]


class FakeWarehouse:
    """Stands in for :class:`~cockpit_api.api.reader.WarehouseReader`: records the calls
    (and the thread they ran on), answers canned figures, or fails like ClickHouse."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.threads: set[int] = set()
        self.fail: Exception | None = None
        self.incidents: dict[str, list[dict[str, Any]]] = {}

    def _call(self, name: str, *args: Any) -> None:
        self.calls.append((name, args))
        self.threads.add(threading.get_ident())
        if self.fail is not None:
            raise self.fail

    def summary(self, start: int, end: int, district: str | None, agency: str | None
                ) -> dict[str, Any]:
        self._call("summary", start, end, district, agency)
        return {"counts": {"calls": 3}, "filters": {"district": district, "agency": agency}}

    def trend(self, end_ms: int, hours: int, district: str | None, agency: str | None,
              kpi_streams: tuple[str, ...], sees_alert: Any, sees_incident: Any
              ) -> dict[str, Any]:
        self._call("trend", end_ms, hours, district, agency, kpi_streams)
        return {"hours": [], "series": {}, "sees_ems_in_furong": sees_alert("ems", "furong"),
                "sees_fire_in_yuelu": sees_alert("fire", "yuelu")}

    def incident_events(self, incident_id: str) -> list[dict[str, Any]]:
        self._call("incident_events", incident_id)
        return self.incidents.get(incident_id, [])


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    s = Settings(cockpit_port=free_port(), run_dir=tmp_path / "run", command_rate_per_s=5.0,
                 command_burst=10, kafka_bootstrap=f"127.0.0.1:{free_port()}")
    write_test_users(s.users_path, USERS)
    return s


class Recorder:
    async def send(self, key: str, value: bytes) -> None:
        pass


@asynccontextmanager
async def cockpit(settings: Settings, warehouse: FakeWarehouse, hub: AlertHub | None = None
                  ) -> AsyncIterator[AlertHub]:
    hub = hub or AlertHub()
    ready = asyncio.Event()
    task = asyncio.create_task(serve(settings, hub, ready=ready, commands=Recorder(),
                                     audit=Recorder(), stats_interval_s=60,
                                     profile=PROFILE, warehouse=warehouse))
    await ready.wait()
    try:
        yield hub
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def token(settings: Settings, user: str, now: float | None = None, ttl: float = 600) -> str:
    role, agency, districts = USERS[user]
    secret = load_secret(settings.auth_secret, settings.run_dir)
    return issue_token(Principal(user, role, agency, districts), secret,
                       time.time() if now is None else now, ttl).token


def _get(port: int, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        conn.request("GET", path, headers=headers)
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


async def get(settings: Settings, path: str, user: str | None = None, *,
              auth: str | None = None) -> tuple[int, dict[str, str], bytes]:
    headers = {}
    if user is not None:
        headers["Authorization"] = f"Bearer {token(settings, user)}"
    if auth is not None:
        headers["Authorization"] = auth
    return await asyncio.to_thread(_get, settings.cockpit_port, path, headers)


def error_of(body: bytes) -> dict[str, str]:
    err: dict[str, str] = orjson.loads(body)["error"]
    assert set(err) == {"code", "zh", "en"} and err["zh"] and err["en"]
    assert "Traceback" not in err["en"]
    return err


@sync
async def test_no_or_bad_token_is_401_in_both_languages(settings: Settings) -> None:
    wh = FakeWarehouse()
    async with cockpit(settings, wh):
        status, headers, body = await get(settings, "/api/kpi/summary")
        assert status == 401 and error_of(body)["code"] == "unauthenticated"
        assert headers["www-authenticate"].startswith("Bearer")
        assert headers["content-type"].startswith("application/json")
        for value, code in (("Basic abc", "bad_token"), ("Bearer ", "bad_token"),
                            ("Bearer not.a.jwt", "bad_token")):
            status, _, body = await get(settings, "/api/kpi/summary", auth=value)
            assert (status, error_of(body)["code"]) == (401, code), value
        expired = token(settings, "张伟", now=time.time() - 3600, ttl=60)
        status, _, body = await get(settings, "/api/kpi/summary", auth=f"Bearer {expired}")
        assert (status, error_of(body)["code"]) == (401, "expired")
        forged = token(settings, "张伟")[:-4] + "AAAA"
        status, _, body = await get(settings, "/api/kpi/summary", auth=f"Bearer {forged}")
        assert (status, error_of(body)["code"]) == (401, "bad_token")
        # a user removed or changed since the token was issued
        old = token(settings, "大屏")
        write_test_users(settings.users_path, {**USERS, "大屏": ("supervisor", "", ())})
        status, _, body = await get(settings, "/api/kpi/summary", auth=f"Bearer {old}")
        assert (status, error_of(body)["code"]) == (401, "user_changed")
    assert wh.calls == []


@sync
async def test_summary_reads_the_scope_of_the_user_off_the_event_loop(settings: Settings
                                                                     ) -> None:
    wh = FakeWarehouse()
    async with cockpit(settings, wh):
        status, _, body = await get(settings, "/api/kpi/summary?from=2026-03-01T00:00:00%2B08:00"
                                    "&to=2026-03-01T12:00:00%2B08:00", "大屏")
        assert status == 200 and orjson.loads(body)["counts"] == {"calls": 3}
        name, (start, end, district, agency) = wh.calls[-1]
        assert (start, end) == (1772294400000, 1772337600000)
        assert (district, agency) == (None, None)
        # a dispatcher sees its agency's cases; a district user its district
        assert (await get(settings, "/api/kpi/summary", "急救调度"))[0] == 200
        assert wh.calls[-1][1][2:] == (None, "ems")
        assert (await get(settings, "/api/kpi/summary", "芙蓉值班长"))[0] == 200
        assert wh.calls[-1][1][2:] == ("furong", None)
        # today by default: local midnight (+08:00) to now
        start, end = wh.calls[-1][1][:2]
        assert 0 <= time.time() * 1000 - end < 60_000 and (end - start) < 86_400_000
        assert (start + 8 * 3_600_000) % 86_400_000 == 0
    assert threading.main_thread().ident not in wh.threads


@pytest.mark.parametrize("path,user,status,code", [
    ("/api/kpi/summary?district=tianxin", "芙蓉值班长", 403, "forbidden"),
    ("/api/kpi/summary?district=atlantis", "张伟", 400, "bad_param"),
    ("/api/kpi/summary", "两区值班", 400, "bad_param"),        # which of its districts?
    ("/api/kpi/summary", "交警调度", 403, "forbidden"),         # an agency without KPIs
    ("/api/kpi/summary?from=yesterday", "张伟", 400, "bad_param"),
    ("/api/kpi/summary?from=2026-03-01T00:00:00", "张伟", 400, "bad_param"),   # no offset
    ("/api/kpi/summary?from=2026-03-02T00:00:00Z&to=2026-03-01T00:00:00Z", "张伟", 400,
     "bad_param"),
    ("/api/kpi/summary?from=2026-01-01T00:00:00Z&to=2026-03-01T00:00:00Z", "张伟", 400,
     "bad_param"),                                                 # over 31 days
    ("/api/kpi/summary?distrct=furong", "张伟", 400, "bad_param"),  # a typo is not ignored
    ("/api/kpi/summary?district=furong&district=yuelu", "张伟", 400, "bad_param"),
    ("/api/kpi/trend?hours=0", "张伟", 400, "bad_param"),
    ("/api/kpi/trend?hours=73", "张伟", 400, "bad_param"),
    ("/api/kpi/trend?hours=six", "张伟", 400, "bad_param"),
    ("/api/kpi/trend?district=yuelu", "芙蓉值班长", 403, "forbidden"),
    ("/api/incidents/..%2Fetc/cap", "张伟", 400, "bad_param"),
    ("/api/incidents/INC-1/pdf", "张伟", 404, "not_found"),
    ("/api/nothing", "张伟", 404, "not_found"),
])
@sync
async def test_refusals_name_the_parameter_and_never_reach_the_warehouse(
        settings: Settings, path: str, user: str, status: int, code: str) -> None:
    wh = FakeWarehouse()
    async with cockpit(settings, wh):
        got, _, body = await get(settings, path, user)
    assert (got, error_of(body)["code"]) == (status, code)
    assert wh.calls == []


@sync
async def test_trend_passes_hours_scope_and_the_users_view(settings: Settings) -> None:
    wh = FakeWarehouse()
    async with cockpit(settings, wh):
        status, _, body = await get(settings, "/api/kpi/trend?hours=12", "急救调度")
        assert status == 200
        assert wh.calls[-1][1][1:] == (12, None, "ems", ("ems",))
        # the view cuts alerts: a 120 dispatcher sees ems, not fire
        assert orjson.loads(body)["sees_ems_in_furong"] is True
        assert orjson.loads(body)["sees_fire_in_yuelu"] is False
        status, _, body = await get(settings, "/api/kpi/trend", "交警调度")
        assert status == 200 and wh.calls[-1][1][1:] == (6, None, None, ())


@sync
async def test_an_unreachable_warehouse_is_503_not_a_crash(settings: Settings) -> None:
    wh = FakeWarehouse()
    wh.fail = NetworkError("Code: 210. Connection refused (127.0.0.1:1)")
    async with cockpit(settings, wh):
        status, headers, body = await get(settings, "/api/kpi/trend", "张伟")
        assert (status, error_of(body)["code"]) == (503, "warehouse_unavailable")
        assert "127.0.0.1" not in body.decode() and headers["retry-after"]
        wh.fail = KeyError("a bug")
        status, _, body = await get(settings, "/api/kpi/trend", "张伟")
        assert (status, error_of(body)["code"]) == (500, "internal")
        assert "KeyError" not in body.decode()
        # the page is still served meanwhile
        assert (await get(settings, "/healthz"))[0] == 200


@sync
async def test_a_slow_warehouse_times_out_and_the_loop_stays_free(settings: Settings) -> None:
    auth = authenticator(settings)
    api = Api(Access(auth, 100, 100), FakeWarehouse(), PROFILE, AlertHub(), timeout_s=0.3)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    t = asyncio.create_task(ticker())
    try:
        with pytest.raises(Exception) as info:
            await api.blocking(time.sleep, 1.0)
    finally:
        t.cancel()
    assert error_of(orjson.dumps(info.value.body()))["code"] == "warehouse_timeout"  # type: ignore[attr-defined]
    assert ticks >= 10       # the loop ran while the query blocked its thread


@sync
async def test_requests_are_rate_limited_per_user(settings: Settings) -> None:
    wh = FakeWarehouse()
    async with cockpit(settings, wh):
        statuses = [(await get(settings, "/api/kpi/trend", "张伟"))[0] for _ in range(12)]
        assert statuses[:10] == [200] * 10 and 429 in statuses[10:]
        status, headers, body = await get(settings, "/api/kpi/trend", "张伟")
        assert status == 429 and error_of(body)["code"] == "rate_limited"
        assert int(headers["retry-after"]) >= 1
        assert (await get(settings, "/api/kpi/trend", "大屏"))[0] == 200   # another user


@sync
async def test_cap_export_of_an_incident_is_valid_cap_1_2(settings: Settings) -> None:
    iid, rows = incident_log()
    wh = FakeWarehouse()
    wh.incidents[iid] = rows
    async with cockpit(settings, wh):
        status, headers, body = await get(settings, f"/api/incidents/{iid}/cap", "大屏")
        assert status == 200 and headers["content-type"].startswith("application/xml")
        assert validate_cap(body) == []
        root = ET.fromstring(body)
        q = {"c": NS}
        assert root.findtext("c:incidents", namespaces=q) == iid
        assert root.findtext("c:status", namespaces=q) == "Actual"
        infos = root.findall("c:info", q)
        assert [i.findtext("c:language", namespaces=q) for i in infos] == ["zh-CN", "en"]
        assert infos[0].findtext("c:severity", namespaces=q) == "Extreme"   # critical
        assert "芙蓉区" in infos[0].findtext("c:headline", namespaces=q)
        assert infos[0].find("c:area/c:circle", q).text.startswith("28.19")
        status, _, body = await get(settings, f"/api/incidents/{iid}/gbt", "大屏")
        assert status == 200 and validate_gbt(body) == []
        # out of scope: a 120 dispatcher does not see a gas incident; a district user
        # sees its district's only
        status, _, body = await get(settings, f"/api/incidents/{iid}/cap", "急救调度")
        assert (status, error_of(body)["code"]) == (403, "forbidden")
        assert (await get(settings, f"/api/incidents/{iid}/cap", "芙蓉值班长"))[0] == 200
        status, _, body = await get(settings, "/api/incidents/INC-none/cap", "大屏")
        assert (status, error_of(body)["code"]) == (404, "not_found")


@sync
async def test_an_open_incident_not_stored_yet_is_503_with_retry(settings: Settings) -> None:
    iid, rows = incident_log()
    hub = AlertHub()
    for row in rows:
        assert hub.publish_incident_event(row)
    async with cockpit(settings, FakeWarehouse(), hub):
        status, headers, body = await get(settings, f"/api/incidents/{iid}/cap", "张伟")
    assert (status, error_of(body)["code"]) == (503, "not_stored_yet")
    assert headers["retry-after"] == "2"
