"""A cockpit that starts after its feed's backfill gets the dispatch picture from ClickHouse
(the real server): every unit's latest status and stale record, the open incidents'
packages and dispatch timelines; a closed incident's records stay out."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest

from citycc.settings import Settings
from cockpit_api.dispatch_view import DispatchView
from cockpit_api.history_load import load_history
from cockpit_api.hub import AlertHub
from schemas.validate import format_event_time
from warehouse.dispatch_rows import dispatch_row
from warehouse.rows import incident_event_row, to_columns
from warehouse.sink import Warehouse

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]
T0 = 1_795_600_800_000
UNITS = [{"unit_id": u, "kind": "engine", "agency": "fire", "district": "furong",
          "capabilities": ["engine"], "station_id": "F-FR", "status": "available",
          "status_ms": None, "incident_id": "", "stale": False}
         for u in ("ENG-F-FR-01", "ENG-F-FR-02", "ENG-F-FR-03")]


@pytest.fixture()
def db_settings(fresh_database: Any) -> Iterator[Settings]:
    with fresh_database("ck_dsp") as settings:
        yield settings


def opened(iid: str, seq: int = 1, kind: str = "opened", dt: int = 0) -> dict[str, Any]:
    return {"event_id": f"ie-{iid}-{seq}", "incident_id": iid, "seq": seq, "lsn": seq,
            "kind": kind, "at_ms": T0 + dt, "actor": "correlator",
            "at": format_event_time(T0 + dt),
            "payload_json": json.dumps({"category": "fire", "severity": "major",
                                        "district": "furong", "members": []})}


def rec(rid: str, kind: str, dt: int, iid: str = "", unit: str = "", **payload: Any
        ) -> dict[str, Any]:
    return {"record_id": rid, "kind": kind, "at": format_event_time(T0 + dt),
            "at_ms": T0 + dt, "incident_id": iid, "unit_id": unit, "actor": "dispatch",
            "payload": payload}


def test_the_dispatch_picture_is_read_back_at_start(db_settings: Settings) -> None:
    records = [
        rec("r1", "package_recommended", 1000, "INC-open", package_id="P1",
            items=[{"capability": "engine", "unit_id": "ENG-F-FR-01", "agency": "fire"}]),
        rec("r2", "package_confirmed", 2000, "INC-open", package_id="P1",
            units=["ENG-F-FR-01"]),
        rec("r3", "unit_status", 2000, "INC-open", "ENG-F-FR-01", status="dispatched",
            **{"from": "available"}),
        rec("r4", "unit_status", 9000, "INC-open", "ENG-F-FR-01", status="on_scene",
            **{"from": "en_route"}),
        rec("r5", "preemption_request", 3000, "INC-open", "ENG-F-FR-01", node=17),
        rec("r6", "package_recommended", 1000, "INC-closed", package_id="P9", items=[]),
        rec("r7", "unit_status", 1500, "INC-closed", "ENG-F-FR-02", status="dispatched"),
        rec("r8", "unit_status", 50_000, "", "ENG-F-FR-02", status="available"),
        rec("r9", "unit_stale", 60_000, "", "ENG-F-FR-03", gps_ms=T0, after_s=60),
    ]
    events = [opened("INC-open"), opened("INC-closed"),
              opened("INC-closed", 2, "resolved", 40_000)]

    async def write() -> None:
        wh = Warehouse(db_settings)
        await wh.start()
        try:
            await wh.insert("incident_events", to_columns(
                "incident_events", [incident_event_row(e) for e in events]))
            rows = [dispatch_row(r) for r in records]
            await wh.insert("dispatch_log", to_columns("dispatch_log", rows))
            await wh.insert("dispatch_log", to_columns("dispatch_log", rows[:3]))  # again
        finally:
            await wh.close()

    asyncio.run(write())
    hub = AlertHub(dispatch=DispatchView(UNITS))
    counts = asyncio.run(load_history(db_settings, hub))
    assert counts is not None
    snap = hub.snapshot()["dispatch"]
    units = {u["unit_id"]: u for u in snap["units"]}
    assert (units["ENG-F-FR-01"]["status"], units["ENG-F-FR-01"]["incident_id"]) == \
        ("on_scene", "INC-open")
    assert units["ENG-F-FR-02"]["status"] == "available"
    assert units["ENG-F-FR-03"]["stale"] is True
    assert [(p["incident_id"], p["package_id"], p["state"]) for p in snap["packages"]] == \
        [("INC-open", "P1", "confirmed")]
    assert [e["record_id"] for e in snap["timelines"]["INC-open"]] == ["r1", "r2", "r3", "r4"]
    assert "INC-closed" not in snap["timelines"] and snap["preemptions"] == {}
    assert counts["dispatch"] == 6   # r1-r4 of the open incident, the units' latest r8, r9
