"""warehouse.kpi_queries on the real ClickHouse: calls, unit statuses, a call link and a
dispatch record go in through the warehouse's own row builders and sink; the KPI figures
that come out are the hand-computed ones (dispatch.kpis definitions)."""

from __future__ import annotations

import asyncio
from typing import Any, Iterator

import orjson
import pytest

from citycc.settings import Settings
from city.profile import load_profile
from schemas.records import Origin
from schemas.validate import format_event_time
from warehouse import kpi_queries
from warehouse.dispatch_rows import dispatch_row
from warehouse.rows import event_columns, incident_event_row
from warehouse.client import WarehouseError
from warehouse.sink import Warehouse

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

S = 1000
T0 = 1_714_528_800_000          # 2024-05-01T02:00:00Z = 10:00 in Changsha
END = T0 + 3600 * S
PROFILE = load_profile("changsha")


@pytest.fixture()
def db_settings(fresh_database: Any) -> Iterator[Settings]:
    with fresh_database("kpi_test") as settings:
        yield settings


def ev(stream: str, etype: str, entity: str, at_s: float, district: str = "yuelu",
       **fields: Any) -> tuple[str, dict[str, Any], int]:
    ms = T0 + int(at_s * S)
    return stream, {"event_id": f"{etype}-{entity}-{at_s}-{fields.get('status', '')}",
                    "type": etype, "event_time": format_event_time(ms), "source": "test",
                    "entity_id": entity, "district": district, "lat": 28.2, "lon": 112.9,
                    **fields}, ms


def ems_call(cid: str, at_s: float, district: str) -> tuple[str, dict[str, Any], int]:
    return ev("ems", "call", cid, at_s, district, complaint="chest_pain", priority=1)


def amb(uid: str, cid: str, **at_s: float) -> list[tuple[str, dict[str, Any], int]]:
    return [ev("ems", "unit_status", uid, s, "yuelu", status=st, call_id=cid)
            for st, s in at_s.items()]


def eng(uid: str, fid: str, **at_s: float) -> list[tuple[str, dict[str, Any], int]]:
    return [ev("fire", "engine_status", uid, s, "tianxin", status=st, incident_id=fid)
            for st, s in at_s.items()]


EVENTS = [
    ems_call("C1", 0, "yuelu"), *amb("AMB-1", "C1", dispatched=30, en_route=75, on_scene=375,
                                     transporting=1275, at_hospital=1875, available=2500),
    ems_call("C2", 600, "furong"), *amb("AMB-2", "C2", dispatched=620, en_route=830,
                                        on_scene=1130),
    ems_call("C3", 1200, "yuelu"),                                # no unit: all absent
    ems_call("C4", 3500, "furong"),                               # arrives after the range
    *amb("AMB-3", "C4", dispatched=3510, en_route=3560, on_scene=3800),
    ems_call("C-OLD", -7200, "yuelu"), *amb("AMB-9", "C-OLD", on_scene=100),   # before
    ems_call("C-NEXT", 3600, "yuelu"), *amb("AMB-8", "C-NEXT", dispatched=3610),  # after
    ev("fire", "call", "C119-1", 100, "tianxin", category="structure_fire"),
    ev("fire", "incident", "FI-1", 130, "tianxin", category="structure_fire", alarm_level=2,
       status="open"),
    ev("fire", "incident", "FI-1", 1500, "tianxin", category="structure_fire", alarm_level=2,
       status="under_control"),
    *eng("ENG-1", "FI-1", dispatched=170, en_route=230, on_scene=430, returning=2000),
    *eng("ENG-2", "FI-1", dispatched=170, en_route=270, on_scene=600),
]
LINKS = [{"event_id": f"ie-{i}", "incident_id": "INC-1", "seq": i, "lsn": i,
          "kind": "call_linked", "at_ms": T0 + (100 + i) * S, "actor": "correlator",
          "payload_json": orjson.dumps({"call_id": cid, "stream": "fire"}).decode()}
         for i, cid in enumerate(["C119-1", "FI-1"])]
# the board assigned ENG-1 to the alerting incident before its own status said so
ASSIGNED = {"record_id": "d-1", "kind": "unit_assigned", "at": format_event_time(T0 + 160 * S),
            "at_ms": T0 + 160 * S, "incident_id": "INC-1", "unit_id": "ENG-1",
            "actor": "dispatcher", "payload": {"package_id": "P-1", "agency": "fire"}}


def load(settings: Settings) -> None:
    async def scenario() -> None:
        wh = Warehouse(settings)
        await wh.start()
        try:
            for stream in ("ems", "fire"):
                items = [(e, ms, Origin(f"citycc.{stream}", 0, i), T0)
                         for i, (s, e, ms) in enumerate(EVENTS) if s == stream]
                for _ in range(2):     # delivered twice (at-least-once): same figures
                    await wh.insert(f"events_{stream}", event_columns(stream, items))
            await wh.insert("incident_events", [incident_event_row(e) for e in LINKS])
            await wh.insert("dispatch_log", [dispatch_row(ASSIGNED)] * 2)
        finally:
            await wh.close()

    asyncio.run(scenario())


def summary(settings: Settings, **kw: Any) -> dict[str, Any]:
    async def scenario() -> dict[str, Any]:
        wh = Warehouse(settings)
        await wh.start()
        try:
            return await wh.run(kpi_queries.kpi_summary, T0, END, PROFILE, **kw)
        finally:
            await wh.close()
    out = asyncio.run(scenario())
    orjson.dumps(out)
    return out


def interval(out: dict[str, Any], key: str) -> dict[str, Any]:
    return next(i for i in out["intervals"] if i["key"] == key)


def groups(item: dict[str, Any], by: str) -> dict[str, dict[str, Any]]:
    return {g["key"]: g for g in item[f"by_{by}"]["groups"]}


def test_kpis_from_the_warehouse(db_settings: Settings) -> None:
    load(db_settings)
    out = summary(db_settings)
    assert out["counts"] == {"calls": 5, "unit_responses": 5}   # C1-C4, FI-1 (C119-1 merged)
    processing = interval(out, "processing")
    # ems 30, 20, 10 s; fire: 119 call at 100 s -> the board's assignment at 160 s
    assert (processing["n"], processing["p50"], processing["p90"]) == (4, 20.0, 60.0)
    assert {k: (g["n"], g["p50"]) for k, g in groups(processing, "district").items()} == {
        "yuelu": (1, 30.0), "furong": (2, 10.0), "tianxin": (1, 60.0)}
    assert groups(processing, "district")["yuelu"]["label"]["zh"] == "岳麓区"
    assert {k: g["n"] for k, g in groups(processing, "hour").items()} == {"10": 4}
    turnout = groups(interval(out, "turnout"), "agency")
    assert (turnout["ems"]["p50"], turnout["ems"]["p90"]) == (50.0, 210.0)
    assert (turnout["fire"]["n"], turnout["fire"]["p50"], turnout["fire"]["p90"]) == \
        (2, 70.0, 100.0)                             # ENG-1 160 -> 230; ENG-2 170 -> 270
    assert interval(out, "transport")["p50"] == 600.0
    assert interval(out, "on_scene")["n"] == 2       # AMB-1 (to transport), ENG-1 (returning)
    china = out["china_120"]
    assert (china["depart_rate"]["n"], china["depart_rate"]["within"]) == (3, 2)
    assert china["mean_response"]["mean"] == pytest.approx((375 + 530 + 300) / 3, abs=1e-3)
    nfpa = {name: {a["key"]: a for a in out["nfpa_1710"][name]["by_agency"]}
            for name in ("turnout", "travel")}
    assert (nfpa["turnout"]["ems"]["within"], nfpa["turnout"]["ems"]["n"]) == (2, 3)
    assert nfpa["turnout"]["fire"]["share"] == 0.5 and nfpa["turnout"]["fire"]["meets"] is False
    assert (nfpa["travel"]["fire"]["n"], nfpa["travel"]["fire"]["p90"]) == (1, 200.0)
    assert (nfpa["travel"]["ems"]["within"], nfpa["travel"]["ems"]["meets"]) == (1, False)
    assert out["range"]["utc_offset_hours"] == 8.0


def test_district_and_agency_filters(db_settings: Settings) -> None:
    load(db_settings)
    yuelu = summary(db_settings, district="yuelu")
    assert yuelu["counts"] == {"calls": 2, "unit_responses": 1}
    assert interval(yuelu, "processing")["n"] == 1
    fire = summary(db_settings, agency="fire")
    assert fire["counts"] == {"calls": 1, "unit_responses": 2}
    assert interval(fire, "response")["p50"] == 330.0     # 119 call at 100 s, on scene 430 s
    assert fire["china_120"]["depart_rate"]["n"] == 0
    with pytest.raises(WarehouseError, match="agency 'police'"):
        summary(db_settings, agency="police")
