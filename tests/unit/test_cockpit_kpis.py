"""The cockpit's KPI figures: kept per scope in the hub, each client sent its scopes only,
a failed refresh keeps the figures marked stale, a new scope wakes the refresher."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson

from cockpit_api.auth.roles import Principal
from cockpit_api.hub import AlertHub
from cockpit_api.kpi_load import local_day, refresh_once
from cockpit_api.kpi_view import scopes_of
from cockpit_api.visibility import Audience


def audience(role: str, agency: str = "", districts: tuple[str, ...] = ()) -> Audience:
    return Audience.of(Principal("u", role, agency, districts))


def drain(sub: Any) -> list[dict[str, Any]]:
    out = []
    while not sub.queue.empty():
        out.append(orjson.loads(sub.queue.get_nowait()))
    return out


def figures(tag: str) -> dict[str, Any]:
    return {"counts": {"calls": len(tag)}, "tag": tag}


ALL = {(None, None): figures("city"), ("ems", None): figures("ems"),
       ("fire", None): figures("fire"), (None, "yuelu"): figures("yuelu"),
       (None, "furong"): figures("furong"), ("ems", "yuelu"): figures("ems-yuelu")}


def test_scopes_follow_the_view() -> None:
    assert scopes_of(audience("viewer").view) == [(None, None)]
    assert scopes_of(audience("supervisor").view) == [(None, None)]
    assert scopes_of(audience("dispatcher", "120").view) == [("ems", None)]
    assert scopes_of(audience("dispatcher", "119").view) == [("fire", None)]
    assert scopes_of(audience("dispatcher", "traffic_police").view) == []
    assert scopes_of(audience("viewer", districts=("yuelu", "furong")).view) == [
        (None, "furong"), (None, "yuelu")]
    assert scopes_of(audience("dispatcher", "120", ("yuelu",)).view) == [("ems", "yuelu")]


def test_each_client_gets_its_own_scopes_in_the_snapshot_and_the_updates() -> None:
    hub = AlertHub()
    hub.publish_kpis(dict(ALL), "2026-12-07T10:00:00.000Z")
    subs = {"city": hub.subscribe(audience("supervisor")),
            "ems": hub.subscribe(audience("dispatcher", "120")),
            "districts": hub.subscribe(audience("viewer", districts=("yuelu", "furong"))),
            "police": hub.subscribe(audience("dispatcher", "traffic_police"))}
    want = {"city": ["city"], "ems": ["ems"], "districts": ["furong", "yuelu"], "police": []}
    for name, sub in subs.items():
        snap = drain(sub)[0]
        assert snap["type"] == "snapshot"
        assert [s["figures"]["tag"] for s in snap["kpis"]["scopes"]] == want[name], name
        assert snap["kpis"]["stale"] is False
    hub.publish_kpis({k: {**v, "tag": v["tag"] + "2"} for k, v in ALL.items()},
                     "2026-12-07T10:01:00.000Z")
    for name, sub in subs.items():
        msg, = [m for m in drain(sub) if m["type"] == "kpis"]
        assert [s["figures"]["tag"] for s in msg["kpis"]["scopes"]] == \
            [t + "2" for t in want[name]], name
        assert msg["kpis"]["updated"] == "2026-12-07T10:01:00.000Z"


def test_a_new_scope_wakes_the_refresher_and_is_listed_until_computed() -> None:
    hub = AlertHub()
    assert not hub.kpi_wanted.is_set()
    hub.subscribe(audience("viewer"))
    assert not hub.kpi_wanted.is_set()          # the city is always wanted
    sub = hub.subscribe(audience("dispatcher", "119", ("kaifu",)))
    assert hub.kpi_wanted.is_set() and ("fire", "kaifu") in hub.kpis.wanted
    snap = drain(sub)[0]
    assert snap["kpis"]["scopes"] == [{"agency": "fire", "district": "kaifu", "figures": None}]


class _Broken:
    pass


def test_a_failed_refresh_keeps_the_figures_marked_stale(monkeypatch: Any) -> None:
    import cockpit_api.kpi_load as kl
    hub = AlertHub()
    calls: list[list[Any]] = []

    def read(settings: Any, profile: Any, scopes: Any, now_ms: int) -> Any:
        calls.append(list(scopes))
        if len(calls) > 1:
            raise ConnectionRefusedError("clickhouse is down")
        return {s: figures("city") for s in scopes}

    monkeypatch.setattr(kl, "read_kpis", read)
    sub = hub.subscribe(audience("viewer"))
    drain(sub)
    assert asyncio.run(refresh_once(_Broken(), _Broken(), hub, 1_765_000_000_000)) is True
    first, = [m for m in drain(sub) if m["type"] == "kpis"]
    assert first["kpis"]["stale"] is False and first["kpis"]["scopes"][0]["figures"]
    assert asyncio.run(refresh_once(_Broken(), _Broken(), hub, 1_765_000_060_000)) is False
    second, = [m for m in drain(sub) if m["type"] == "kpis"]
    assert second["kpis"]["stale"] is True
    assert second["kpis"]["scopes"] == first["kpis"]["scopes"]      # the last figures kept
    assert second["kpis"]["updated"] == first["kpis"]["updated"]
    assert calls == [[(None, None)], [(None, None)]]


def test_the_day_is_the_local_day_of_the_city() -> None:
    # 2026-12-07T17:30Z is 01:30 on the 8th in Changsha: the day began at 2026-12-07T16:00Z
    now = 1_796_664_600_000
    start, end = local_day(now, "Asia/Shanghai")
    assert (start, end) == (now - 90 * 60_000, now)
