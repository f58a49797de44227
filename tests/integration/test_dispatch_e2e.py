"""Coordinated dispatch end to end on the real broker and ClickHouse: a 119 structure fire
(the fire incident event and a 119 call, produced as the simulator does) opens an incident
in the worker's alerting engine; the dispatch board next to it recommends a package; a 119
dispatcher confirms it over the cockpit's websocket; the units' statuses follow, the records
land in dispatch_log and the command in command_audit (the cockpit's record and the
worker's answer), a new client's snapshot shows them on the incident's timeline, and the KPI
figures (warehouse.kpi_queries on the same ClickHouse, the cockpit's definitions) count the
case with the confirmed units' dispatched time. The engine's GPS fix moves it on the map:
the board's batched unit_positions record reaches the cockpit as a ``positions`` message of
the ``units`` layer (and is not stored in dispatch_log)."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import orjson
import pytest

from city.profile import load_profile
from citycc.settings import Settings
from cockpit_api.auth.testing import signed_in
from deploy import procs
from schemas.validate import format_event_time
from test_alerting_restart import rows, wait_for
from test_cockpit_commands import next_of, read_topic
from test_pipeline_e2e import produce
from warehouse.client import connect
from warehouse.kpi_queries import kpi_summary, responses

pytestmark = [pytest.mark.integration, pytest.mark.timeout(420)]
DEADLINE_S = 120.0
LAT, LON = 28.1962, 113.0051      # Furong, about 1 km from the Furong fire station


def fire_events(now: int, tag: str) -> list[bytes]:
    base = {"source": "test-119", "lat": LAT, "lon": LON, "district": "furong"}
    call = {**base, "event_id": f"c-{tag}", "type": "call", "entity_id": f"C119-{tag}",
            "event_time": format_event_time(now - 2_000), "category": "structure_fire"}
    incident = {**base, "event_id": f"i-{tag}", "type": "incident", "entity_id": f"FI-{tag}",
                "event_time": format_event_time(now - 1_000), "category": "structure_fire",
                "alarm_level": 3, "status": "open"}
    return [orjson.dumps(call), orjson.dumps(incident)]


async def dispatch_message(ws: Any, want: Any) -> dict[str, Any]:
    """The next ``dispatch`` message ``want(msg)`` accepts (messages of other types skipped)."""
    async with asyncio.timeout(DEADLINE_S):
        while True:
            msg = await next_of(ws, "dispatch")
            if want(msg):
                return msg


def test_a_structure_fire_is_dispatched_by_a_119_dispatcher(
        prepared: Settings, own_topics: Any, citycc_proc: Any) -> None:
    settings = own_topics(prepared, "dsp").with_overrides(
        worker_id=f"dsp-{uuid.uuid4().hex[:6]}")
    db = settings.clickhouse.database
    worker = citycc_proc(["worker"], "worker-dispatch", settings)
    cockpit = citycc_proc(["cockpit"], "cockpit-dispatch", settings)
    procs.wait_until(lambda: procs.accepts(settings.cockpit_port), 60, "cockpit port",
                     logs=[cockpit.log])
    tag = uuid.uuid4().hex[:8]
    out: dict[str, Any] = {"start_ms": int(time.time() * 1000) - 60_000}

    async def scenario() -> None:
        async with signed_in(settings.cockpit_port, "消防调度") as ws:
            snap = await next_of(ws, "snapshot")
            out["units"] = len(snap["dispatch"]["units"])
            await produce(settings, "fire", fire_events(int(time.time() * 1000), tag))
            rec = await dispatch_message(ws, lambda m: m["package"] is not None and
                                         m["package"]["state"] == "recommended")
            pkg = out["package"] = rec["package"]
            cid = out["command_id"] = str(uuid.uuid4())
            await ws.send(orjson.dumps({"type": "command", "command": {
                "command_id": cid, "action": "dispatch_confirm",
                "incident_id": pkg["incident_id"], "package_id": pkg["package_id"]}}).decode())
            out["queued"] = await next_of(ws, "command_queued", "command_error")
            units = {i["unit_id"] for i in pkg["items"]}
            seen: dict[str, str] = {}
            # the answer and each unit of the package dispatched, in whatever order
            while set(seen) != units or "result" not in out:
                m = await next_of(ws, "dispatch", "command_result")
                if m["type"] == "command_result":
                    out["result"] = m
                elif m["unit"] is not None and m["unit"]["unit_id"] in units:
                    seen[m["unit"]["unit_id"]] = m["unit"]["status"]
            out["statuses"] = seen
            # the farthest engine leaves: a green wave along its route (a priority card)
            engine = max((i for i in pkg["items"] if i["capability"] == "engine"),
                         key=lambda i: i["eta_s"])["unit_id"]
            await ws.send(orjson.dumps({"type": "command", "command": {
                "command_id": str(uuid.uuid4()), "action": "unit_status", "unit_id": engine,
                "status": "en_route", "reason": "出动"}}).decode())
            out["en_route"] = await dispatch_message(
                ws, lambda m: m["unit"] is not None and m["unit"]["unit_id"] == engine and
                m["unit"]["status"] == "en_route")
            out["green"] = await dispatch_message(ws, lambda m: "preemptions" in m)
            # it reports where it is (~1 km north of its station): the map moves it
            home = next(u for u in snap["dispatch"]["units"] if u["unit_id"] == engine)
            fix = (round(home["lat"] + 0.009, 6), round(home["lon"], 6))
            await produce(settings, "fire", [orjson.dumps({
                "event_id": f"g-{tag}", "type": "engine_gps", "source": "test-119",
                "entity_id": engine, "event_time": format_event_time(int(time.time() * 1000)),
                "lat": fix[0], "lon": fix[1], "speed_kmh": 40.0})])
            async with asyncio.timeout(DEADLINE_S):
                while True:
                    m = await next_of(ws, "positions")
                    if m["layer"] == "units" and engine in m["items"]:
                        out["moved"] = (fix, m["items"][engine])
                        break
        async with signed_in(settings.cockpit_port, "张伟") as fresh:
            out["snapshot"] = await next_of(fresh, "snapshot")

    try:
        asyncio.run(scenario())
    except TimeoutError as exc:
        got = {name: [orjson.loads(m.value) for m in asyncio.run(read_topic(settings, name, 0))]
               for name in ("commands", "command_results")}
        raise AssertionError(f"dispatch did not happen in time: {sorted(out)}\n{got}\n"
                             f"worker log:\n{worker.tail()}") from exc
    pkg, iid = out["package"], out["package"]["incident_id"]
    assert out["units"] > 500, "the unit board holds the city's registry"
    assert out["queued"]["type"] == "command_queued", out["queued"]
    assert out["result"]["result"]["ok"] is True, out["result"]
    caps = sorted(i["capability"] for i in pkg["items"])
    assert caps.count("engine") >= 2 and "ladder" in caps and "als" in caps, pkg
    assert pkg["method"] == "road_graph" and all(i["eta_s"] > 0 for i in pkg["items"])
    assert set(out["statuses"].values()) == {"dispatched"}, out["statuses"]
    snap = out["snapshot"]["dispatch"]
    (held,) = [p for p in snap["packages"] if p["incident_id"] == iid]
    assert held["state"] == "confirmed" and not held["open"]
    kinds = [e["kind"] for e in snap["timelines"][iid]]
    assert kinds[:2] == ["package_recommended", "package_confirmed"], kinds
    assert {"unit_assigned", "unit_status"} <= set(kinds)
    assert iid in {i["incident_id"] for i in out["snapshot"]["incidents"]}
    engine = out["en_route"]["unit"]["unit_id"]
    assert out["green"]["incident_id"] == iid and out["green"]["preemptions"] >= 1
    signals = [orjson.loads(m.value) for m in asyncio.run(read_topic(settings, "signal_requests",
                                                                     1))]
    assert signals and all(r["kind"] == "preemption_request" and r["unit_id"] == engine and
                           r["incident_id"] == iid for r in signals), signals
    fix, moved = out["moved"]
    assert (moved["lat"], moved["lon"]) == fix and moved["status"] == "en_route", moved

    def logged() -> list[tuple[Any, ...]]:
        return rows(settings, f"SELECT kind, unit_id, actor FROM {db}.dispatch_log FINAL "
                              f"WHERE incident_id = '{iid}' ORDER BY at_ms, record_id")
    wait_for("the dispatch records in dispatch_log",
             lambda: {"package_confirmed", "unit_status"} <= {k for k, _, _ in logged()},
             worker, DEADLINE_S)
    got = logged()
    assert ("package_confirmed", "", "消防调度") in got
    assert rows(settings, f"SELECT count() FROM {db}.dispatch_log WHERE kind = "
                          f"'unit_positions'") == [(0,)]      # a live view, not logged
    assert {u for k, u, _ in got if k == "unit_status"} == {i["unit_id"] for i in pkg["items"]}

    def audited() -> list[tuple[Any, ...]]:
        return rows(settings, f"SELECT source, user, action, result FROM {db}.command_audit "
                              f"FINAL WHERE command_id = '{out['command_id']}' ORDER BY source")
    wait_for("the command and its answer in command_audit", lambda: len(audited()) >= 2,
             worker, DEADLINE_S)
    assert audited() == [("cockpit", "消防调度", "dispatch_confirm", "forwarded"),
                         ("worker", "", "", "applied")], audited()

    # the KPIs: the 119 incident is a case whose first unit was dispatched when the
    # dispatcher confirmed (its processing interval is there), counted in the figures
    dispatched_ms = min(int(r[0]) for r in rows(
        settings, f"SELECT at_ms FROM {db}.dispatch_log FINAL WHERE incident_id = '{iid}' "
                  f"AND kind IN ('package_confirmed', 'unit_assigned')"))
    profile, case = load_profile(settings.city), f"FI-{tag}"
    span = (out["start_ms"], int(time.time() * 1000) + 60_000)

    def kpi_case() -> dict[str, Any] | None:
        client = connect(settings)
        try:
            r = responses(client, *span, agency="fire")
            ids = [c.call_id for c in r.calls]
            if case not in ids:
                return None
            k = ids.index(case)
            return {"received": r.call_ts["received"][k],
                    "first_dispatched": r.call_ts["first_dispatched"][k],
                    "summary": kpi_summary(client, *span, profile, agency="fire")}
        finally:
            client.disconnect()
    wait_for("the case's dispatched time in the KPIs",
             lambda: (got := kpi_case()) is not None and got["first_dispatched"] ==
             got["first_dispatched"], worker, DEADLINE_S)   # (NaN != NaN: not yet)
    got = kpi_case()
    assert got is not None
    assert got["first_dispatched"] == dispatched_ms, (got, dispatched_ms)
    assert got["received"] < dispatched_ms
    summary = got["summary"]
    processing = next(i for i in summary["intervals"] if i["key"] == "processing")
    assert summary["counts"]["calls"] >= 1 and processing["n"] >= 1, summary
    assert summary["filters"] == {"district": None, "agency": "fire"}
