"""A cockpit that starts after its feed's backfill: open incidents and current silences
come from ClickHouse (the real server), resolved and merged ones do not."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from alerting.config import default_config
from alerting.engine import Engine
from citycc.settings import Settings
from cockpit_api.history_load import load_history
from cockpit_api.hub import AlertHub
from schemas.records import make_alert
from schemas.validate import format_event_time
from warehouse.rows import incident_event_row, silence_event_row, to_columns
from warehouse.sink import Warehouse

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]
T0 = 1_795_600_800_000


@pytest.fixture()
def db_settings(fresh_database: Any) -> Iterator[Settings]:
    with fresh_database("ck_hist") as settings:
        yield settings


def gas(entity: str, t: int, lat: float, status: str = "firing") -> dict[str, Any]:
    return make_alert(detector="limit", kind="gas_concentration_high", status=status,
                      severity="critical", stream="lifeline", entity_id=entity,
                      district="furong", district_zh="芙蓉区", district_en="Furong", lat=lat,
                      lon=112.99, event_time=format_event_time(t), value=30.0, threshold=20.0,
                      unit="%LEL", title_zh="燃气浓度超限", title_en="Gas above alarm level",
                      evidence=[f"{entity}-{status}"], detected_at=format_event_time(t))


def test_open_incidents_and_current_silences_are_read_back_at_start(
        db_settings: Settings) -> None:
    e = Engine(default_config())
    out = e.alerts([gas("GASC-H-1", T0, 28.19)], T0)          # stays open
    out.extend(e.alerts([gas("GASC-H-2", T0, 28.30)], T0))    # resolved below
    out.extend(e.alerts([gas("GASC-H-2", T0 + 60_000, 28.30, "resolved")], T0 + 60_000))
    out.extend(e.tick(T0 + 3_600_000))                        # quiet period over: resolved
    for cmd in ({"command_id": "s1", "action": "silence", "actor": "值班长",
                 "matchers": ['entity_id="GASC-H-9"'], "reason": "检修", "until_resolved": True},
                {"command_id": "s2", "action": "silence", "actor": "值班长",
                 "matchers": ['entity_id="GASC-H-8"'], "reason": "旧的", "until_resolved": True}):
        out.extend(e.command(cmd, T0 + 3_600_000))
    gone = out.silence_events[-1]["silence_id"]
    out.extend(e.command({"command_id": "s3", "action": "expire_silence", "actor": "值班长",
                          "silence_id": gone}, T0 + 3_601_000))
    out.extend(e.tick(T0 + 3_602_000))
    opened = {ev.incident_id: ev for ev in out.incident_events if ev.kind == "opened"}
    resolved = {ev.incident_id for ev in out.incident_events if ev.kind == "resolved"}
    assert len(opened) == 2 and len(resolved) == 1
    still_open = (set(opened) - resolved).pop()

    async def write() -> None:
        wh = Warehouse(db_settings)
        await wh.start()
        try:
            rows = [incident_event_row(orjson.loads(orjson.dumps(ev.to_row())))
                    for ev in out.incident_events]
            await wh.insert("incident_events", to_columns("incident_events", rows))
            await wh.insert("silence_events", to_columns(
                "silence_events", [silence_event_row(r) for r in out.silence_events]))
        finally:
            await wh.close()

    asyncio.run(write())
    hub = AlertHub()
    counts = asyncio.run(load_history(db_settings, hub))
    assert counts is not None and counts["incident_events"] > 0
    snap = hub.snapshot()
    assert [i["incident_id"] for i in snap["incidents"]] == [still_open]
    assert [(s["author"], s["reason"]) for s in snap["silences"]] == [("值班长", "检修")]


def test_an_unreachable_warehouse_leaves_the_feed_alone(db_settings: Settings) -> None:
    down = db_settings.with_overrides(clickhouse_port=1)
    hub = AlertHub()
    assert asyncio.run(load_history(down, hub)) is None
    assert hub.snapshot()["incidents"] == []
