"""The Board: an incident gets a package, the dispatcher's decisions change units, timers
escalate; refusals have stable codes; same inputs give the same records; snapshots restore."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from board_helpers import GRID, T0, cmd, event, make_board, opened, row
from dispatch.actions import ACTIONS
from dispatch.actions import REFUSALS as CODES
from dispatch.board import Board
from dispatch.records import RECORD_KINDS

LAT, LON = float(GRID.lat[300]), float(GRID.lon[300])


def fire(board: Board, iid: str = "INC-1", at: int = T0) -> dict[str, Any]:
    recs = board.observe_incident(opened(iid, "fire", at, LAT, LON, kinds=("fire_alarm",)))
    assert [r["kind"] for r in recs] == ["package_recommended"]
    return recs[0]["payload"]


def kinds(records: list[dict[str, Any]]) -> list[str]:
    return [r["kind"] for r in records]


def check_records(records: list[dict[str, Any]]) -> None:
    for r in records:
        assert set(r) == {"record_id", "kind", "at", "at_ms", "incident_id", "unit_id",
                          "actor", "payload"}
        assert r["kind"] in RECORD_KINDS and r["at"].endswith("Z")
        json.dumps(r)
    ids = [r["record_id"] for r in records]
    assert len(ids) == len(set(ids))


def test_a_structure_fire_is_recommended_confirmed_and_its_units_dispatched() -> None:
    b = make_board()
    pkg = fire(b)
    assert pkg["card"]["id"] == "fire.structure" and pkg["method"] == "road_graph"
    units = [it["unit_id"] for it in pkg["items"]]
    res = b.command(cmd("dispatch_confirm", incident_id="INC-1",
                        package_id=pkg["package_id"]), T0 + 30_000)
    assert res.code == "" and kinds(res.records)[0] == "package_confirmed"
    assert sorted(r["unit_id"] for r in res.records if r["kind"] == "unit_assigned") == \
        sorted(units)
    view = {u["unit_id"]: u for u in b.view()["units"]}
    for uid in units:
        assert view[uid]["status"] == "dispatched" and view[uid]["incident_id"] == "INC-1"
    check_records(res.records)


def test_a_confirmed_unit_is_not_offered_again() -> None:
    b = make_board()
    pkg = fire(b)
    b.command(cmd("dispatch_confirm", incident_id="INC-1", package_id=pkg["package_id"]), T0)
    other = fire(b, "INC-2", T0 + 1000)
    first = {it["unit_id"] for it in pkg["items"]}
    assert first.isdisjoint(it["unit_id"] for it in other["items"])
    assert {s["reason"] for s in other["skipped"]} <= {"assigned", "unavailable"}


def test_stream_statuses_drive_units_and_green_waves_on_priority_incidents() -> None:
    b = make_board()
    pkg = fire(b)
    b.command(cmd("dispatch_confirm", incident_id="INC-1", package_id=pkg["package_id"]), T0)
    eng = pkg["items"][0]["unit_id"]
    out = b.observe("fire", event("fire", "engine_status", eng, T0 + 40_000,
                                  status="en_route"))
    assert kinds(out)[0] == "unit_status" and "preemption_request" in kinds(out)
    waves = [r["payload"] for r in out if r["kind"] == "preemption_request"]
    times = [w["expected_ms"] for w in waves]
    assert times == sorted(times) and times[0] >= T0 + 40_000
    assert all(r["incident_id"] == "INC-1" and r["unit_id"] == eng for r in out)
    assert b.observe("fire", event("fire", "engine_status", eng, T0 + 41_000,
                                   status="en_route")) == []       # no change, nothing


def test_an_unknown_unit_on_a_stream_is_added_not_refused() -> None:
    b = make_board()
    out = b.observe("ems", event("ems", "unit_status", "AMB-NEW-1", T0, status="on_scene",
                                 lat=LAT, lon=LON))
    assert kinds(out) == ["unit_status"]
    u = {u["unit_id"]: u for u in b.view()["units"]}["AMB-NEW-1"]
    assert u["kind"] == "ambulance" and u["status"] == "on_scene"


def test_turnout_timer_escalates_once_and_gps_goes_stale() -> None:
    b = make_board()
    pkg = fire(b)
    b.command(cmd("dispatch_confirm", incident_id="INC-1", package_id=pkg["package_id"]), T0)
    amb = next(it["unit_id"] for it in pkg["items"] if it["agency"] == "ems")
    eng = next(it["unit_id"] for it in pkg["items"] if it["agency"] == "fire")
    b.observe("fire", event("fire", "engine_gps", eng, T0, lat=LAT, lon=LON))
    assert not [r for r in b.tick(T0 + 59_000) if r["kind"] == "timer_escalated"]
    late = b.tick(T0 + 61_000)
    assert [(r["unit_id"], r["payload"]["timer"]) for r in late] == [(amb, "turnout_late")]
    more = b.tick(T0 + 200_000)
    # (the engine's moves also come as unit_positions batches: tested in test_positions.py)
    assert sorted(k for k in kinds(more) if k != "unit_positions") == \
        ["timer_escalated"] * 3 + ["unit_stale"]
    assert not [r for r in b.tick(T0 + 300_000)        # each fires once per status
                if r["kind"] != "unit_positions"]
    stale = next(r for r in more if r["kind"] == "unit_stale")
    assert (stale["unit_id"], stale["payload"]["stale"]) == (eng, True)
    back = b.observe("fire", event("fire", "engine_gps", eng, T0 + 301_000, lat=LAT, lon=LON))
    assert [(r["kind"], r["payload"]["stale"]) for r in back] == [("unit_stale", False)]
    assert b.observe("fire", event("fire", "engine_gps", eng, T0 + 302_000, lat=LAT,
                                   lon=LON)) == []


REFUSALS = [
    ({"action": "launch_rocket"}, "unknown_action", "action"),
    ({"action": "dispatch_confirm", "incident_id": "INC-1"}, "missing_field", "package_id"),
    ({"action": "dispatch_confirm", "incident_id": "INC-9", "package_id": "P"},
     "unknown_incident", "incident_id"),
    ({"action": "dispatch_confirm", "incident_id": "INC-1", "package_id": "P"},
     "unknown_package", "package_id"),
    ({"action": "dispatch_edit", "incident_id": "INC-1", "package_id": "$PKG",
      "add": ["ENG-F-YL-01"]}, "missing_field", "reason"),
    ({"action": "dispatch_edit", "incident_id": "INC-1", "package_id": "$PKG",
      "reason": "why not"}, "nothing_to_do", "add"),
    ({"action": "dispatch_edit", "incident_id": "INC-1", "package_id": "$PKG",
      "remove": ["ENG-X"], "reason": "r"}, "not_in_package", "remove"),
    ({"action": "dispatch_edit", "incident_id": "INC-1", "package_id": "$PKG",
      "add": ["WTR-yuelu-01"], "reason": "r"}, "not_capable", "add"),
    ({"action": "dispatch_edit", "incident_id": "INC-1", "package_id": "$PKG",
      "add": ["NOPE"], "reason": "r"}, "unknown_unit", "add"),
    ({"action": "dispatch_edit", "incident_id": "INC-1", "package_id": "$PKG",
      "add": "ENG-F-YL-01", "reason": "r"}, "bad_field", "add"),
    ({"action": "unit_status", "unit_id": "NOPE", "status": "available"}, "unknown_unit",
     "unit_id"),
    ({"action": "unit_status", "unit_id": "ENG-F-YL-01", "status": "asleep"},
     "unknown_status", "status"),
    ({"action": "unit_status", "unit_id": "ENG-F-YL-01", "status": "transporting"},
     "bad_transition", "status"),
    ({"action": "unit_status", "unit_id": "ENG-F-YL-01", "status": "available"},
     "nothing_to_do", "status"),
    ({"action": "moveup_confirm", "moveup_id": "MU-x"}, "unknown_moveup", "moveup_id"),
]


@pytest.mark.parametrize("command, code, field", REFUSALS)
def test_refusals_have_stable_codes_and_change_nothing(command: dict[str, Any], code: str,
                                                       field: str) -> None:
    b = make_board()
    pkg = fire(b)
    command = {k: (pkg["package_id"] if v == "$PKG" else v) for k, v in command.items()}
    before = json.dumps(b.snapshot(), sort_keys=True)
    res = b.command({"command_id": "c9", "actor": "bob", **command}, T0 + 5000)
    assert (res.code, res.field) == (code, field) and res.reason
    assert res.records == []
    assert json.dumps(b.snapshot(), sort_keys=True) == before


def test_a_stale_package_and_a_busy_unit_are_refused() -> None:
    b = make_board()
    pkg = fire(b)
    ok = b.command(cmd("dispatch_confirm", incident_id="INC-1",
                       package_id=pkg["package_id"]), T0)
    assert ok.code == ""
    again = b.command(cmd("dispatch_confirm", "c2", incident_id="INC-1",
                          package_id=pkg["package_id"]), T0 + 1)
    assert again.code == "stale_package"
    p2 = fire(b, "INC-2", T0 + 10)
    # a unit of INC-2's package is taken by hand meanwhile: refused, and a fresh plan
    taken = p2["items"][0]["unit_id"]
    b.command(cmd("unit_status", "c3", unit_id=taken, status="out_of_service"), T0 + 20)
    res = b.command(cmd("dispatch_confirm", "c4", incident_id="INC-2",
                        package_id=p2["package_id"]), T0 + 30)
    assert res.code == "unit_unavailable" and taken in res.reason
    assert kinds(res.records) == ["package_rejected", "package_recommended"]
    assert taken not in [it["unit_id"] for it in res.records[1]["payload"]["items"]]


def test_edit_before_confirmation_makes_a_new_version_with_the_reason() -> None:
    b = make_board()
    pkg = fire(b)
    gone = pkg["items"][0]["unit_id"]
    res = b.command(cmd("dispatch_edit", incident_id="INC-1", package_id=pkg["package_id"],
                        remove=[gone], reason="engine 1 is washing"), T0 + 5000)
    assert res.code == "" and kinds(res.records) == ["package_edited"]
    new = res.records[0]["payload"]
    assert new["package_id"] != pkg["package_id"] and new["status"] == "recommended"
    assert gone not in [it["unit_id"] for it in new["items"]]
    assert len(new["items"]) == len(pkg["items"])       # the slot is filled by the next
    assert new["edit"]["reason"] == "engine 1 is washing"
    old = b.command(cmd("dispatch_confirm", "c2", incident_id="INC-1",
                        package_id=pkg["package_id"]), T0 + 6000)
    assert old.code == "stale_package"
    assert b.command(cmd("dispatch_confirm", "c3", incident_id="INC-1",
                         package_id=new["package_id"]), T0 + 7000).code == ""


def test_edit_after_confirmation_assigns_and_releases() -> None:
    b = make_board()
    pkg = fire(b)
    b.command(cmd("dispatch_confirm", incident_id="INC-1", package_id=pkg["package_id"]), T0)
    gone = pkg["items"][0]["unit_id"]
    extra = next(u["unit_id"] for u in b.view()["units"]
                 if u["kind"] == "engine" and u["status"] == "available")
    res = b.command(cmd("dispatch_edit", "c2", incident_id="INC-1",
                        package_id=pkg["package_id"], add=[extra], remove=[gone],
                        reason="closer engine"), T0 + 10_000)
    assert res.code == ""
    units = {u["unit_id"]: u for u in b.view()["units"]}
    assert units[extra]["status"] == "dispatched" and units[extra]["incident_id"] == "INC-1"
    assert units[gone]["status"] == "available" and units[gone]["incident_id"] == ""


def test_reject_and_grow_and_resolve() -> None:
    b = make_board()
    recs = b.observe_incident(opened("INC-7", "ems", T0, LAT, LON, kinds=("ems_calls",),
                                     calls={"C1": {"stream": "ems"}}))
    assert recs[0]["payload"]["card"]["id"] == "ems"
    pid = recs[0]["payload"]["package_id"]
    assert b.command(cmd("dispatch_reject", incident_id="INC-7", package_id=pid,
                         reason="caller cancelled"), T0 + 1).code == ""
    for k, c in enumerate(("C2", "C3"), start=1):
        b.observe("ems", event("ems", "call", c, T0 + k, lat=LAT, lon=LON,
                               complaint="trauma", priority=1, patients=3))
        grown = b.observe_incident(row("INC-7", "call_linked", k, T0 + 10 + k,
                                       {"call_id": c, "stream": "ems"}))
    assert kinds(grown) == ["package_recommended"]
    assert grown[0]["payload"]["card"]["id"] == "ems.mass_casualty"
    assert b.observe_incident(row("INC-7", "call_linked", 2, T0 + 99, {"call_id": "C3"})) \
        == []                                            # a redelivery changes nothing
    done = b.observe_incident(row("INC-7", "resolved", 3, T0 + 100, {"reason": "x"}))
    assert kinds(done) == ["package_rejected"]
    assert done[0]["payload"]["reason"] == "incident_resolved"


def test_merged_incident_hands_its_units_to_the_target() -> None:
    b = make_board()
    pkg = fire(b)
    b.command(cmd("dispatch_confirm", incident_id="INC-1", package_id=pkg["package_id"]), T0)
    fire(b, "INC-2", T0 + 5)
    out = b.observe_incident(row("INC-1", "merged_into", 1, T0 + 10, {"target": "INC-2"}))
    assert {r["incident_id"] for r in out if r["kind"] == "unit_assigned"} == {"INC-2"}
    units = {u["unit_id"]: u for u in b.view()["units"]}
    assert all(units[it["unit_id"]]["incident_id"] == "INC-2" for it in pkg["items"])


def script(b: Board) -> list[dict[str, Any]]:
    """A fixed sequence of inputs and commands; every record the board made."""
    out = []
    out += b.observe("traffic", event("traffic", "segment", "row5:3", T0, lat=LAT, lon=LON,
                                      speed_kmh=8.0, flow_vph=900.0, occupancy=0.6))
    out += b.observe("traffic", event("traffic", "accident", "ACC-1", T0, lat=LAT,
                                      lon=LON + 0.01, severity=2, lanes_blocked=1))
    p1 = b.observe_incident(opened("INC-1", "fire", T0, LAT, LON, kinds=("fire_alarm",)))
    out += p1
    out += b.command(cmd("dispatch_confirm", incident_id="INC-1",
                         package_id=p1[0]["payload"]["package_id"]), T0 + 1000).records
    for it in p1[0]["payload"]["items"][:2]:
        out += b.observe("fire", event("fire", "engine_status", it["unit_id"], T0 + 50_000,
                                       status="en_route"))
    out += b.tick(T0 + 90_000)
    out += b.observe_incident(opened("INC-2", "hazmat", T0 + 95_000, LAT + 0.01, LON,
                                     kinds=("hazmat_tank_pressure_high",)))
    out += b.tick(T0 + 400_000)
    return out


def test_same_inputs_same_records_ids_included() -> None:
    a, b = script(make_board()), script(make_board())
    assert a == b
    check_records(a)
    assert {"package_recommended", "package_confirmed", "unit_assigned", "unit_status",
            "preemption_request", "timer_escalated"} <= set(kinds(a))


def test_snapshot_restore_round_trip_continues_identically() -> None:
    whole = make_board()
    first = script(whole)
    snap = json.loads(json.dumps(whole.snapshot()))
    restored = make_board()
    restored.restore(snap)
    assert json.loads(json.dumps(restored.snapshot())) == snap
    assert restored.view() == whole.view()
    nxt = opened("INC-3", "fire", T0 + 500_000, LAT - 0.01, LON, kinds=("fire_alarm",))
    assert restored.observe_incident(nxt) == whole.observe_incident(nxt)
    assert first


def test_a_snapshot_of_another_version_is_refused() -> None:
    with pytest.raises(ValueError):
        make_board().restore({"version": 99})


def test_without_a_graph_packages_say_straight_line() -> None:
    b = make_board(graph=None)
    pkg = fire(b)
    assert pkg["method"] == "straight_line"
    assert all("straight line" in it["why"]["en"] for it in pkg["items"])


def test_view_shows_call_age() -> None:
    b = make_board()
    b.observe("fire", event("fire", "call", "F-C1", T0, lat=LAT, lon=LON,
                            category="structure_fire"))
    calls = b.view(T0 + 75_000)["calls"]
    assert calls[0]["call_id"] == "F-C1" and calls[0]["age_s"] == 75.0
    assert calls[0]["served"] is False


def test_a_unit_reporting_a_known_incident_or_linked_call_works_it() -> None:
    b = make_board()
    fire(b)
    eng = next(u["unit_id"] for u in b.view()["units"] if u["kind"] == "engine")
    b.observe("fire", event("fire", "engine_status", eng, T0 + 1, status="en_route",
                            incident_id="INC-1"))
    b.observe("ems", event("ems", "call", "C9", T0 + 2, lat=LAT, lon=LON,
                           complaint="burn", priority=1))
    b.observe_incident(row("INC-1", "call_linked", 1, T0 + 3, {"call_id": "C9"}))
    amb = next(u["unit_id"] for u in b.view()["units"] if u["kind"] == "ambulance")
    b.observe("ems", event("ems", "unit_status", amb, T0 + 4, status="dispatched",
                           call_id="C9"))
    b.observe("fire", event("fire", "engine_status", "ENG-F-YL-02", T0 + 5,
                            status="en_route", incident_id="FIRE-77"))   # the stream's own
    units = {u["unit_id"]: u for u in b.view()["units"]}
    assert (units[eng]["incident_id"], units[amb]["incident_id"]) == ("INC-1", "INC-1")
    assert units["ENG-F-YL-02"]["incident_id"] == ""
    assert b.view()["calls"][0]["served"] is True


@pytest.mark.parametrize("stream, ev", [
    ("ems", {"type": "unit_gps", "entity_id": "AMB-1", "lat": "north", "lon": 112.9}),
    ("ems", {"type": "unit_status", "entity_id": "", "status": "available"}),
    ("ems", {"type": "unit_status", "entity_id": "AMB-1", "status": "flying"}),
    ("fire", {"type": "engine_gps", "entity_id": "E-1", "lat": float("nan"), "lon": 1.0}),
    ("traffic", {"type": "segment", "entity_id": "row1:1", "lat": 28.2, "lon": 112.9}),
    ("traffic", {"type": "accident", "entity_id": "A", "lat": 28.2, "lon": 112.9,
                 "lanes_blocked": "two"}),
    ("hazmat", {"type": "vehicle_gps", "entity_id": "V", "lat": 28.2, "lon": 112.9}),
    ("ems", {"type": "unit_gps", "entity_id": "AMB-1", "event_time": "yesterday"}),
])
def test_odd_events_change_nothing_and_never_raise(stream: str, ev: dict[str, Any]) -> None:
    b = make_board()
    before = json.dumps(b.snapshot(), sort_keys=True)
    full = {"event_time": "2026-06-01T02:00:00Z", **ev}
    assert b.observe(stream, full) == []
    snap = b.snapshot()
    snap["now_ms"] = 0
    assert json.dumps(snap, sort_keys=True) == before

_BOARD = make_board(0.1)
_PKG = fire(_BOARD, "INC-F")
_VALUES = st.one_of(st.none(), st.integers(), st.text(max_size=20),
                    st.sampled_from(["INC-F", _PKG["package_id"], "ENG-F-YL-01",
                                     "available", "en_route", "MU-1"]),
                    st.lists(st.sampled_from(["ENG-F-YL-01", "AMB-H-XY1-01", "x"]),
                             max_size=3), st.lists(st.integers(), max_size=2))


@settings(max_examples=200, deadline=None)
@given(action=st.sampled_from(sorted(ACTIONS) + ["bogus", None]),
       args=st.dictionaries(st.sampled_from(["incident_id", "package_id", "add", "remove",
                                             "reason", "unit_id", "status", "moveup_id"]),
                            _VALUES))
def test_any_command_is_applied_or_refused_with_a_known_code(action, args) -> None:
    snap = json.loads(json.dumps(_BOARD.snapshot()))
    b = make_board(0.1)
    b.restore(snap)
    res = b.command({"command_id": "c", "actor": "fuzz", "action": action, **args}, T0 + 9)
    assert res.code == "" or res.code in CODES
    check_records(res.records)


def test_every_refusal_code_of_the_board_is_declared() -> None:
    assert {code for _, code, _ in REFUSALS} <= set(CODES)


def test_green_wave_times_agree_with_the_units_eta() -> None:
    from dispatch.eta import etas_to
    b = make_board()
    pkg = fire(b)                          # the incident sits on node 300 (a junction)
    b.command(cmd("dispatch_confirm", incident_id="INC-1", package_id=pkg["package_id"]), T0)
    eng = pkg["items"][0]["unit_id"]
    far = 300 + 24 * 8 + 6                 # 8 rows north, 6 columns east, then 300 m off
    lat, lon = float(GRID.lat[far]) + 0.0027, float(GRID.lon[far])
    b.observe("fire", event("fire", "engine_gps", eng, T0 + 1, lat=lat, lon=lon))
    out = b.observe("fire", event("fire", "engine_status", eng, T0 + 2, status="en_route"))
    waves = [r["payload"] for r in out if r["kind"] == "preemption_request"]
    speeds = b.planner.speeds(b.traffic, T0 + 2)
    eta = etas_to(GRID, speeds, LAT, LON, [lat], [lon]).eta_s[0]
    assert waves[-1]["node"] == 300
    assert abs(waves[-1]["eta_s"] - eta) < 0.2            # the last junction is the scene


def test_a_call_moved_or_unlinked_follows_its_incident() -> None:
    b = make_board()
    b.observe("ems", event("ems", "call", "C1", T0, lat=LAT, lon=LON, complaint="trauma",
                           priority=1, patients=4))
    b.observe_incident(opened("INC-A", "ems", T0 + 1, LAT, LON, kinds=("ems_calls",),
                              calls={"C1": {"stream": "ems"}}))
    b.observe_incident(opened("INC-B", "ems", T0 + 2, LAT, LON, kinds=("ems_calls",)))
    a, bb = b.incidents.get("INC-A"), b.incidents.get("INC-B")
    assert a is not None and bb is not None and b.incidents.patients(a) == 4
    b.observe_incident(row("INC-B", "call_linked", 1, T0 + 3,
                           {"call_id": "C1", "stream": "ems", "moved_from": "INC-A"}))
    assert (b.incidents.patients(a), b.incidents.patients(bb)) == (0, 4)
    assert b.view()["calls"][0]["incident_id"] == "INC-B"
    b.observe_incident(row("INC-B", "call_unlinked", 2, T0 + 4, {"call_id": "C1"}))
    assert b.incidents.patients(bb) == 0 and b.view()["calls"][0]["incident_id"] == ""
    # a call heard after its link still finds its incident
    b.observe_incident(row("INC-B", "call_linked", 3, T0 + 5, {"call_id": "C2"}))
    b.observe("ems", event("ems", "call", "C2", T0 + 6, lat=LAT, lon=LON, complaint="fall",
                           priority=3))
    assert {c["call_id"]: c["incident_id"] for c in b.view()["calls"]}["C2"] == "INC-B"


def test_a_split_takes_its_calls_with_it() -> None:
    b = make_board()
    b.observe_incident(opened("INC-A", "ems", T0, LAT, LON, kinds=("ems_calls",),
                              calls={"C1": {"stream": "ems"}, "C2": {"stream": "ems"}}))
    split = opened("INC-S", "ems", T0 + 5, LAT, LON, kinds=("ems_calls",),
                   calls={"C2": {"stream": "ems"}})
    split["payload_json"] = json.dumps({**json.loads(split["payload_json"]),
                                        "split_from": "INC-A"})
    b.observe_incident(split)
    a, s = b.incidents.get("INC-A"), b.incidents.get("INC-S")
    assert a is not None and s is not None
    assert (a.calls, s.calls) == (["C1"], ["C2"])


def test_units_answering_a_linked_call_fill_the_package_instead_of_more_units() -> None:
    """Seen on a live run: engines of the 119 incident a call was linked to (engines name
    the 119 incident, FI-..., as their incident_id) and units that named a call before it
    was linked were never attached, so the recommendation kept asking for more units."""
    b = make_board()
    pkg = fire(b)
    engines = [it["unit_id"] for it in pkg["items"] if it["capability"] == "engine"]
    assert len(engines) == 2
    other = [u["unit_id"] for u in b.view()["units"]
             if u["kind"] == "engine" and u["unit_id"] not in engines][:2]
    # one engine names the 119 incident before the link, one after it
    b.observe("fire", event("fire", "engine_status", other[0], T0 + 1, status="en_route",
                            incident_id="FI-9"))
    out = b.observe_incident(row("INC-1", "call_linked", 1, T0 + 2,
                                 {"call_id": "FI-9", "stream": "fire"}))
    out += b.observe("fire", event("fire", "engine_status", other[1], T0 + 3,
                                   status="en_route", incident_id="FI-9"))
    units = {u["unit_id"]: u for u in b.view()["units"]}
    assert units[other[0]]["incident_id"] == units[other[1]]["incident_id"] == "INC-1"
    [new] = [r["payload"] for r in out if r["kind"] == "package_recommended"][-1:]
    got = {it["unit_id"]: it for it in new["items"]}
    assert set(other) <= set(got) and all(got[u]["kept"] for u in other)
    assert len([it for it in new["items"] if it["capability"] == "engine"]) == 2
    assert not set(engines) & set(got), "no third and fourth engine"
    check_records(out)


def test_a_unit_reported_available_is_free_even_if_it_names_its_last_call() -> None:
    """A feed may send "available" with the call just cleared (the simulator did): the unit
    must be offered again, not kept on that call's incident."""
    b = make_board()
    pkg = fire(b)
    unit = pkg["items"][0]["unit_id"]
    b.command(cmd("dispatch_confirm", incident_id="INC-1", package_id=pkg["package_id"]),
              T0 + 1000)
    b.observe("fire", event("fire", "engine_status", unit, T0 + 60_000, status="available",
                            incident_id="INC-1"))
    view = {u["unit_id"]: u for u in b.view()["units"]}
    assert (view[unit]["status"], view[unit]["incident_id"]) == ("available", "")
