"""The cockpit's dispatch picture (cockpit_api.dispatch_view through the hub), who is sent
what of it (visibility) and who may commit which units (authorize)."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest

from cockpit_api.auth.roles import Principal
from cockpit_api.authorize import HubBoard, authorize
from cockpit_api.dispatch_view import DispatchView
from cockpit_api.errors import CommandRejected
from cockpit_api.hub import AlertHub
from cockpit_api.visibility import Audience

T0 = 1_764_576_000_000
UNITS = [
    {"unit_id": "ENG-S1-01", "kind": "engine", "agency": "fire", "district": "furong",
     "capabilities": ["engine"], "station_id": "S1", "status": "available", "status_ms": None,
     "incident_id": "", "stale": False},
    {"unit_id": "LAD-S1-01", "kind": "ladder", "agency": "fire", "district": "furong",
     "capabilities": ["ladder"], "station_id": "S1", "status": "available", "status_ms": None,
     "incident_id": "", "stale": False},
    {"unit_id": "AMB-H1-01", "kind": "ambulance", "agency": "ems", "district": "yuelu",
     "capabilities": ["als", "bls"], "station_id": "H1", "status": "available",
     "status_ms": None, "incident_id": "", "stale": False},
]


def rec(rid: str, kind: str, t: int = 0, incident: str = "", unit: str = "",
        actor: str = "", **payload: Any) -> dict[str, Any]:
    return {"record_id": rid, "kind": kind, "at": "2025-12-01T08:00:00.000Z", "at_ms": T0 + t,
            "incident_id": incident, "unit_id": unit, "actor": actor, "payload": payload}


def item(unit: str, cap: str, agency: str) -> dict[str, Any]:
    return {"capability": cap, "unit_id": unit, "eta_s": 240, "route_m": 2100,
            "status": "available", "station_id": "S1", "agency": agency, "why": "fastest"}


PACKAGE = rec("r-pkg", "package_recommended", 10, "INC-F", package_id="PKG-1",
              method="road_graph", card={"id": "structure_fire"},
              items=[item("ENG-S1-01", "engine", "fire"), item("AMB-H1-01", "als", "ems")],
              unfilled=[{"capability": "ladder", "reason": "none_available"}],
              skipped=[{"unit_id": "ENG-S2-01", "reason": "assigned"}], coverage={},
              moveups=[])
FIRE_OPENED = {"event_id": "ie-F", "incident_id": "INC-F", "seq": 1, "lsn": 1,
               "kind": "opened", "at_ms": T0, "actor": "correlator",
               "payload_json": json.dumps({"category": "fire", "severity": "major",
                                           "district": "furong",
                                           "members": [{"fingerprint": "fp-f",
                                                        "stream": "fire",
                                                        "severity": "major",
                                                        "status": "firing"}]})}


def hub_with_package() -> AlertHub:
    hub = AlertHub(dispatch=DispatchView(UNITS))
    assert hub.publish_incident_event(dict(FIRE_OPENED))
    assert hub.publish_dispatch_record(PACKAGE)
    return hub


def drain(sub: Any) -> list[dict[str, Any]]:
    out = []
    while not sub.queue.empty():
        out.append(orjson.loads(sub.queue.get_nowait()))
    return out


def test_a_new_client_gets_the_unit_board_and_the_open_package() -> None:
    hub = hub_with_package()
    snap = hub.snapshot()["dispatch"]
    assert [u["unit_id"] for u in snap["units"]] == [u["unit_id"] for u in UNITS]
    (pkg,) = snap["packages"]
    assert (pkg["incident_id"], pkg["package_id"], pkg["state"], pkg["open"]) == \
        ("INC-F", "PKG-1", "recommended", True)
    assert pkg["unfilled"] == [{"capability": "ladder", "reason": "none_available"}]
    assert pkg["lead"] == "119"   # an engine and an ambulance: the first slot's agency leads
    assert [e["kind"] for e in snap["timelines"]["INC-F"]] == ["package_recommended"]
    assert snap["timelines"]["INC-F"][0]["detail"]["units"] == ["ENG-S1-01", "AMB-H1-01"]


def test_confirmation_and_unit_statuses_change_the_picture_once() -> None:
    hub = hub_with_package()
    sub = hub.subscribe()
    drain(sub)
    confirmed = rec("r-conf", "package_confirmed", 20, "INC-F", "", "消防调度",
                    package_id="PKG-1")
    status = rec("r-st", "unit_status", 21, "INC-F", "ENG-S1-01", "消防调度",
                 status="dispatched")
    for r in (confirmed, status, confirmed, status):   # redelivered: nothing more
        hub.publish_dispatch_record(r)
    msgs = drain(sub)
    assert [m["record"]["kind"] for m in msgs] == ["package_confirmed", "unit_status"]
    assert msgs[0]["package"]["state"] == "confirmed" and not msgs[0]["package"]["open"]
    assert msgs[0]["package"]["items"] == PACKAGE["payload"]["items"]   # kept from before
    unit = hub.dispatch.unit("ENG-S1-01")
    assert (unit["status"], unit["status_ms"], unit["incident_id"]) == \
        ("dispatched", T0 + 21, "INC-F")
    # an older status (the warehouse's backfill after the feed) does not go back
    hub.publish_dispatch_record(rec("r-old", "unit_status", 5, "", "ENG-S1-01",
                                    status="available"))
    assert hub.dispatch.unit("ENG-S1-01")["status"] == "dispatched"
    hub.publish_dispatch_record(rec("r-stale", "unit_stale", 30, "", "LAD-S1-01", stale=True,
                                    age_s=95))
    assert hub.dispatch.unit("LAD-S1-01")["stale"] is True
    hub.publish_dispatch_record(rec("r-fresh", "unit_stale", 31, "", "LAD-S1-01", stale=False,
                                    age_s=2))
    assert hub.dispatch.unit("LAD-S1-01")["stale"] is False   # a fresh position: no badge
    kinds = [e["kind"] for e in hub.snapshot()["dispatch"]["timelines"]["INC-F"]]
    assert kinds == ["package_recommended", "package_confirmed", "unit_status"]


def test_preemption_requests_are_counted_not_listed_and_a_closed_incident_is_forgotten(
        ) -> None:
    hub = hub_with_package()
    for i in range(3):
        hub.publish_dispatch_record(rec(f"r-sig{i}", "preemption_request", 30 + i, "INC-F",
                                        "ENG-S1-01", node=i))
    snap = hub.snapshot()["dispatch"]
    assert snap["preemptions"] == {"INC-F": 3}
    assert len(snap["timelines"]["INC-F"]) == 1
    hub.publish_incident_event({**FIRE_OPENED, "event_id": "ie-F2", "seq": 2, "lsn": 2,
                                "kind": "resolved", "payload_json": "{}"})
    snap = hub.snapshot()["dispatch"]
    assert snap["packages"] == [] and snap["timelines"] == {} and snap["preemptions"] == {}


def test_a_unit_the_registry_does_not_hold_is_added_from_its_record() -> None:
    hub = AlertHub(dispatch=DispatchView(UNITS))
    hub.publish_dispatch_record(rec("r-x", "unit_status", 1, "", "AMB-X-01",
                                    status="en_route", agency="ems"))
    assert hub.dispatch.unit("AMB-X-01")["status"] == "en_route"


@pytest.mark.parametrize("bad", [{"record_id": "", "kind": "unit_status", "at_ms": 1},
                                 {"record_id": "r", "kind": "unit_status", "at_ms": "1"},
                                 {"record_id": "r", "kind": "x", "at_ms": 1, "payload": []},
                                 {"record_id": "r", "kind": "x", "at_ms": 1, "unit_id": 7},
                                 [1]])
def test_a_malformed_record_is_counted_and_changes_nothing(bad: Any) -> None:
    hub = AlertHub(dispatch=DispatchView(UNITS))
    assert hub.publish_dispatch_record(bad) is False
    assert hub.counters.malformed == 1 and hub.snapshot()["dispatch"]["packages"] == []


# --- visibility -------------------------------------------------------------------------
def audience(role: str, agency: str = "", districts: tuple[str, ...] = ()) -> Audience:
    return Audience.of(Principal("u", role, agency, districts))


def test_a_dispatcher_sees_every_unit_but_only_the_packages_of_its_incidents() -> None:
    hub = hub_with_package()
    fire, ems = hub.subscribe(audience("dispatcher", "119")), \
        hub.subscribe(audience("dispatcher", "120"))
    snaps = {name: drain(s)[0]["dispatch"] for name, s in (("fire", fire), ("ems", ems))}
    assert [p["package_id"] for p in snaps["fire"]["packages"]] == ["PKG-1"]
    assert snaps["ems"]["packages"] == [] and snaps["ems"]["timelines"] == {}
    assert len(snaps["ems"]["units"]) == len(UNITS) == len(snaps["fire"]["units"])
    hub.publish_dispatch_record(rec("r-st", "unit_status", 21, "INC-F", "AMB-H1-01",
                                    status="dispatched"))
    (to_fire,), (to_ems,) = drain(fire), drain(ems)
    assert to_fire["entry"]["kind"] == "unit_status"
    assert to_ems["unit"]["status"] == "dispatched"   # the unit, not the incident's record
    assert to_ems["record"] is None and to_ems["entry"] is None


def test_a_district_limited_user_sees_the_units_of_its_districts() -> None:
    hub = hub_with_package()
    sub = hub.subscribe(audience("supervisor", "", ("yuelu",)))
    snap = drain(sub)[0]["dispatch"]
    assert [u["unit_id"] for u in snap["units"]] == ["AMB-H1-01"]
    assert snap["packages"] == []   # INC-F is in furong


# --- who may commit which units ---------------------------------------------------------
def command(action: str, **args: Any) -> dict[str, Any]:
    return {"command_id": "c1", "actor": "u", "action": action, **args}


def check(role: str, agency: str, cmd: dict[str, Any], districts: tuple[str, ...] = ()
          ) -> tuple[str, str] | None:
    hub = hub_with_package()
    hub.publish_dispatch_record(rec("r-mu", "moveup_suggested", 40, "", "LAD-S1-01",
                                    moveup_id="MU-1", to_station="S9"))
    try:
        authorize(Principal("u", role, agency, districts), cmd, HubBoard(hub))
    except CommandRejected as exc:
        assert exc.code == "forbidden" and exc.command_id == "c1"
        return exc.code, exc.field
    return None


CONFIRM = command("dispatch_confirm", incident_id="INC-F", package_id="PKG-1")
EDIT_ENGINE = command("dispatch_edit", incident_id="INC-F", package_id="PKG-1",
                      add=["LAD-S1-01"], remove=[], reason="就近")
EDIT_AMB = command("dispatch_edit", incident_id="INC-F", package_id="PKG-1", add=[],
                   remove=["AMB-H1-01"], reason="不需要")
AUTH_CASES = [
    ("a 119 dispatcher confirms a package sending its engine", "dispatcher", "119", CONFIRM,
     None),
    ("a 120 dispatcher does not see the fire incident", "dispatcher", "120", CONFIRM,
     ("forbidden", "incident_id")),
    ("a 119 dispatcher adds its ladder", "dispatcher", "119", EDIT_ENGINE, None),
    ("a 119 dispatcher cannot remove 120's ambulance", "dispatcher", "119", EDIT_AMB,
     ("forbidden", "remove")),
    ("a supervisor edits any unit", "supervisor", "", EDIT_AMB, None),
    ("a viewer commits nothing", "viewer", "", CONFIRM, ("forbidden", "action")),
    ("not the current package", "dispatcher", "119",
     {**CONFIRM, "package_id": "PKG-0"}, ("forbidden", "package_id")),
    ("a 119 dispatcher changes its engine's status", "dispatcher", "119",
     command("unit_status", unit_id="ENG-S1-01", status="out_of_service", reason="故障"),
     None),
    ("but not an ambulance's", "dispatcher", "119",
     command("unit_status", unit_id="AMB-H1-01", status="out_of_service", reason="故障"),
     ("forbidden", "unit_id")),
    ("nor a unit nobody knows", "dispatcher", "119",
     command("unit_status", unit_id="ENG-ZZ-09", status="available", reason="x"),
     ("forbidden", "unit_id")),
    ("a 119 dispatcher confirms its ladder's move-up", "dispatcher", "119",
     command("moveup_confirm", moveup_id="MU-1"), None),
    ("a 120 dispatcher does not", "dispatcher", "120",
     command("moveup_confirm", moveup_id="MU-1"), ("forbidden", "moveup_id")),
]


@pytest.mark.parametrize("role,agency,cmd,want", [c[1:] for c in AUTH_CASES],
                         ids=[c[0] for c in AUTH_CASES])
def test_who_may_commit_which_units(role: str, agency: str, cmd: dict[str, Any],
                                   want: tuple[str, str] | None) -> None:
    assert check(role, agency, cmd) == want


def test_a_120_dispatcher_may_not_confirm_a_package_without_its_units() -> None:
    hub = AlertHub(dispatch=DispatchView(UNITS))
    hub.publish_incident_event({**FIRE_OPENED, "payload_json": json.dumps({
        "category": "fire", "severity": "major", "district": "furong", "calls": {
            "C120-1": {"stream": "ems"}}, "members": []})})
    hub.publish_dispatch_record({**PACKAGE, "payload": {
        **PACKAGE["payload"], "items": [item("ENG-S1-01", "engine", "fire")]}})
    with pytest.raises(CommandRejected) as refused:
        authorize(Principal("u", "dispatcher", "120"), CONFIRM, HubBoard(hub))
    assert (refused.value.code, refused.value.field) == ("forbidden", "package_id")


def test_an_edited_package_is_the_incidents_package_still_to_decide() -> None:
    """The board's edit of a recommended package is a new package (new id) still to be
    confirmed; a decision on the older one, arriving late, changes nothing but the timeline."""
    hub = hub_with_package()
    edited = rec("r-ed", "package_edited", 20, "INC-F", "", "消防调度", **{
        **PACKAGE["payload"], "package_id": "PKG-2", "status": "recommended",
        "items": [item("ENG-S1-01", "engine", "fire"), item("LAD-S1-01", "ladder", "fire")],
        "edit": {"from": "PKG-1", "add": ["LAD-S1-01"], "remove": ["AMB-H1-01"],
                 "reason": "就近", "actor": "消防调度"}})
    hub.publish_dispatch_record(edited)
    hub.publish_dispatch_record(rec("r-late", "package_rejected", 21, "INC-F",
                                    package_id="PKG-1", reason="superseded"))
    pkg = hub.dispatch.package("INC-F")
    assert (pkg["package_id"], pkg["state"], pkg["open"], pkg["edited"]) == \
        ("PKG-2", "recommended", True, True)
    entries = hub.snapshot()["dispatch"]["timelines"]["INC-F"]
    assert [e["kind"] for e in entries] == ["package_recommended", "package_edited",
                                            "package_rejected"]
    assert entries[1]["detail"]["add"] == ["LAD-S1-01"] and entries[1]["detail"]["reason"] == "就近"
    assert authorize(Principal("u", "dispatcher", "119"), {**CONFIRM, "package_id": "PKG-2"},
                     HubBoard(hub)) is None


def test_a_mixed_package_is_committed_by_the_agency_that_leads_it() -> None:
    """A structure fire's package (two engines, an ambulance): the 119 dispatcher commits it
    whole; a 120 dispatcher who sees the incident (a 120 call is linked) does not commit
    119's engines, though its ambulance is in it."""
    hub = AlertHub(dispatch=DispatchView(UNITS))
    hub.publish_incident_event({**FIRE_OPENED, "payload_json": json.dumps({
        "category": "fire", "severity": "major", "district": "furong", "calls": {
            "C120-1": {"stream": "ems"}},
        "members": [{"fingerprint": "fp-f", "stream": "fire", "severity": "major",
                     "status": "firing"}]})})
    hub.publish_dispatch_record({**PACKAGE, "payload": {**PACKAGE["payload"], "items": [
        item("ENG-S1-01", "engine", "fire"), item("LAD-S1-01", "ladder", "fire"),
        item("AMB-H1-01", "als", "ems")]}})
    authorize(Principal("u", "dispatcher", "119"), CONFIRM, HubBoard(hub))
    with pytest.raises(CommandRejected) as refused:
        authorize(Principal("u", "dispatcher", "120"), CONFIRM, HubBoard(hub))
    assert (refused.value.code, refused.value.field) == ("forbidden", "package_id")
    assert "119" in refused.value.reason


ROUTE = [[112.98765, 28.19876], [112.99, 28.2], [113.0, 28.21]]


@pytest.mark.parametrize("route, kept", [
    (ROUTE, ROUTE),                                        # the board's line, as it is
    ([], []),
    (ROUTE * 40, []),                                      # 120 points: more than a board makes
    ([[112.9, "28.2"], [113.0, 28.2]], []),                # not numbers
    ([[112.9, 28.2, 5.0], [113.0, 28.2]], []),             # not [lon, lat] pairs
    ([[28.2, 212.9], [113.0, 28.2]], []),                  # a latitude out of range
    ([[True, 28.2], [113.0, 28.2]], []),
    ("LINESTRING(1 2, 3 4)", []),
])
def test_a_package_items_route_line_reaches_the_page_only_when_it_is_one(
        route: Any, kept: list[Any]) -> None:
    view = DispatchView(UNITS)
    items = [{**item("ENG-S1-01", "engine", "fire"), "route": route},
             item("AMB-H1-01", "als", "ems")]           # (a record before routes: no key)
    msg = view.apply(rec("r-route", "package_recommended", 10, "INC-F", package_id="PKG-1",
                         method="road_graph", card={"id": "fire", "decide_s": 60},
                         items=items, location={"lat": 28.2, "lon": 113.0,
                                                "from": "incident"}))
    assert msg is not None
    pkg = view.package("INC-F")
    assert pkg is not None and msg["package"] is pkg
    assert pkg["items"][0]["route"] == kept and "route" not in pkg["items"][1]
    # the incident's place and the card's decision target travel with the package
    assert pkg["location"] == {"lat": 28.2, "lon": 113.0, "from": "incident"}
    assert pkg["card"]["decide_s"] == 60
    assert orjson.loads(orjson.dumps(pkg)) == pkg
