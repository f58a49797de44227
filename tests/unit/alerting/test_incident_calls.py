"""Single 120/119 calls linked to incidents by place, loose calls, unit status records."""

from __future__ import annotations

from typing import Any

import pytest

from alerting.incident_calls import UNIT_RECORD
from alerting.incidents import Correlator, IncidentError
from schemas.validate import format_event_time
from test_incidents import MIN, T0, alert, at, feed, label


def call(cid: str, stream: str, dn: float = 0.0, de: float = 0.0, t_min: float = 0.0,
         **fields: Any) -> dict[str, Any]:
    lat, lon = at(dn, de)
    return {"event_id": f"ev-{cid}", "entity_id": cid, "type": "call", "lat": lat, "lon": lon,
            "district": "furong", "event_time": format_event_time(T0 + int(t_min * MIN)),
            **fields}


def hazmat(c: Correlator) -> str:
    feed(c, [alert("TK1", "tank_gas_high", severity="critical")])
    (inc,) = c.open_incidents()
    return inc.incident_id


def linked(c: Correlator) -> dict[str, set[str]]:
    return {i.incident_id: set(i.calls) for i in c.open_incidents()}


def test_a_119_call_near_a_hazmat_incident_is_linked_by_place() -> None:
    c = Correlator()
    iid = hazmat(c)
    (ev,) = c.observe_call(call("C119-1", "fire", 0.1, 0, 1, category="hazmat"), "fire", T0)
    assert (ev.kind, ev.incident_id, ev.payload["via"]) == ("call_linked", iid, "nearby")
    assert c.observe_call(call("C119-1", "fire", 0.1, 0, 1, category="hazmat"), "fire",
                          T0) == []   # a redelivery links nothing more
    assert linked(c) == {iid: {"C119-1"}}


@pytest.mark.parametrize("complaint,joins", [("poisoning", True), ("breathing", True),
                                             ("chest_pain", False), ("trauma", False)])
def test_a_120_call_joins_a_gas_leak_only_for_a_toxic_complaint(complaint: str,
                                                                joins: bool) -> None:
    c = Correlator()
    feed(c, [alert("GC1", "gas_concentration_high", severity="critical")])
    out = c.observe_call(call("C120-1", "ems", 0.3, 0, 1, complaint=complaint), "ems", T0)
    assert bool(out) is joins


def test_a_call_beyond_the_radius_or_with_no_place_is_not_linked() -> None:
    c = Correlator()
    hazmat(c)
    assert c.observe_call(call("C119-1", "fire", 2.5, 0, 1, category="hazmat"), "fire",
                          T0) == []
    no_place = {k: v for k, v in call("C119-2", "fire", category="hazmat").items()
                if k not in ("lat", "lon")}
    assert c.observe_call(no_place, "fire", T0) == []
    with pytest.raises(IncidentError):
        c.observe_call({"entity_id": "C119-3"}, "fire", T0)
    with pytest.raises(IncidentError):
        c.observe_call(call("C119-4", "fire", category="hazmat"), "traffic", T0)


def test_a_call_before_its_incident_waits_and_is_linked_when_the_incident_opens() -> None:
    c = Correlator()
    assert c.observe_call(call("C119-1", "fire", 0.2, 0, 0, category="hazmat"), "fire",
                          T0) == []
    events = c.observe(alert("TK1", "tank_gas_high", t_min=2, severity="critical"),
                       T0 + 2 * MIN)
    (link,) = [e for e in events if e.kind == "call_linked"]
    assert link.payload["call_id"] == "C119-1" and link.payload["via"] == "nearby"
    # restored from a snapshot, a loose call is still waiting
    c2 = Correlator()
    c2.observe_call(call("C119-9", "fire", 0.2, 0, 0, category="hazmat"), "fire", T0)
    c3 = Correlator()
    c3.restore(c2.snapshot())
    out = c3.observe(alert("TK1", "tank_gas_high", t_min=2, severity="critical"), T0 + 2 * MIN)
    assert [e.payload["call_id"] for e in out if e.kind == "call_linked"] == ["C119-9"]


def test_a_waiting_call_a_dispatcher_linked_stays_where_they_put_it() -> None:
    c = Correlator()
    far = feed(c, [alert("GC1", "gas_concentration_high", 9, 0, severity="critical")])
    gas = far[0].incident_id
    assert c.observe_call(call("C119-1", "fire", 0.2, 0, 0, category="hazmat"), "fire",
                          T0) == []   # waits: nothing near it yet
    c.link_call(gas, "C119-1", stream="fire", actor="disp-1", at_ms=T0 + MIN)
    events = c.observe(alert("TK1", "tank_gas_high", t_min=2, severity="critical"),
                       T0 + 2 * MIN)   # an incident opens next to the call
    assert [e for e in events if e.kind == "call_linked"] == []
    assert linked(c)[gas] == {"C119-1"} and c._call_of["C119-1"] == gas  # noqa: SLF001


def test_a_waiting_call_an_alert_links_is_not_linked_again_by_place() -> None:
    c = Correlator()
    assert c.observe_call(call("C119-1", "fire", 0.2, 0, 0, category="hazmat"), "fire",
                          T0) == []   # waits: nothing near it yet
    first = feed(c, [alert("FC1", "fire_calls", 6, 0, t_min=1,
                           expl={"members": ["C119-1"]})])   # a 119 cluster naming it
    (link,) = [e for e in first if e.kind == "call_linked"]
    events = c.observe(alert("TK1", "tank_gas_high", t_min=2, severity="critical"),
                       T0 + 2 * MIN)   # an incident opens next to the call
    assert [e for e in events if e.kind == "call_linked"] == []
    assert c._call_of["C119-1"] == link.incident_id  # noqa: SLF001


def test_a_loose_call_expires_after_the_window() -> None:
    c = Correlator()
    c.observe_call(call("C119-1", "fire", 0.2, 0, 0, category="hazmat"), "fire", T0)
    c.tick(T0 + 31 * MIN)   # the hazmat window is 30 min
    out = c.observe(alert("TK1", "tank_gas_high", t_min=32, severity="critical"),
                    T0 + 32 * MIN)
    assert not [e for e in out if e.kind == "call_linked"]


def test_a_service_alert_on_a_linked_119_incident_joins_through_it() -> None:
    """The 119 incident opened for the leak is linked by place; the engine's late arrival
    on it (an entity-only kind) then joins the hazmat incident."""
    c = Correlator()
    iid = hazmat(c)
    fi = call("FI-1", "fire", 0.05, 0, 1, category="hazmat", alarm_level=1, status="open")
    c.observe_call({**fi, "type": "incident"}, "fire", T0)
    feed(c, [alert("DLY", "fire_travel_delay", 0.05, 0, 5, severity="info", entity="FI-1")])
    (inc,) = c.open_incidents()
    assert inc.incident_id == iid and {label(m) for m in inc.members.values()} == \
        {"TK1", "DLY"}


def test_unit_status_of_a_linked_call_goes_on_the_timeline_once() -> None:
    c = Correlator()
    iid = hazmat(c)
    c.observe_call(call("C119-1", "fire", 0.1, 0, 1, category="hazmat"), "fire", T0)
    c.observe_call({**call("FI-1", "fire", 0.1, 0, 1, category="hazmat"), "type": "incident"},
                   "fire", T0)
    status = {"event_id": "u1", "entity_id": "ENG-YH-01", "type": "engine_status",
              "status": "en_route", "incident_id": "FI-1",
              "event_time": format_event_time(T0 + 2 * MIN)}
    (ev,) = c.observe_unit(status, "fire", T0)
    assert (ev.kind, ev.incident_id) == (UNIT_RECORD, iid)
    assert ev.payload["unit"] == "ENG-YH-01" and ev.payload["status"] == "en_route"
    assert c.observe_unit(status, "fire", T0) == []          # redelivered
    other = {**status, "event_id": "u2", "incident_id": "FI-other"}
    assert c.observe_unit(other, "fire", T0) == []           # not an incident's call
    gps = {**status, "event_id": "u3", "type": "engine_gps"}
    assert c.observe_unit(gps, "fire", T0) == []             # positions are not recorded
    ems = {"event_id": "u4", "entity_id": "AMB-1", "type": "unit_status",
           "status": "on_scene", "call_id": "C119-1",
           "event_time": format_event_time(T0 + 3 * MIN)}
    assert [e.kind for e in c.observe_unit(ems, "ems", T0)] == [UNIT_RECORD]


def test_links_and_unit_records_replay_from_the_log() -> None:
    c = Correlator()
    log = feed(c, [alert("TK1", "tank_gas_high", severity="critical")])
    log += c.observe_call(call("C119-1", "fire", 0.1, 0, 1, category="hazmat"), "fire", T0)
    log += c.observe_unit({"event_id": "u1", "entity_id": "ENG-1", "type": "engine_status",
                           "status": "on_scene", "incident_id": "C119-1",
                           "event_time": format_event_time(T0 + MIN)}, "fire", T0)
    assert log[-1].kind == UNIT_RECORD
    again = Correlator.from_events(log)
    assert linked(again) == linked(c) == {log[0].incident_id: {"C119-1"}}


def test_a_call_within_the_radius_but_beyond_the_call_radius_waits_for_a_nearer_one() -> None:
    # a gas leak's 119 call (category hazmat) 1.5 km from a leaking tanker: within the
    # hazmat radius (2 km) but one caller's place is weaker than an alert's; the gas leak
    # opens next to it half a minute later and gets it
    c = Correlator()
    tanker = hazmat(c)
    assert c.observe_call(call("C119-1", "fire", 1.5, 0, 1, category="hazmat"), "fire",
                          T0) == []
    assert linked(c) == {tanker: set()}
    events = c.observe(alert("GC1", "gas_concentration_high", 1.52, 0, 1.5,
                             severity="critical"), T0 + 2 * MIN)
    (link,) = [e for e in events if e.kind == "call_linked"]
    assert link.incident_id != tanker and link.payload["call_id"] == "C119-1"
    # within the call radius of the tanker's alerts, a call is linked at once
    (near,) = c.observe_call(call("C119-2", "fire", 0.9, 0, 2, category="hazmat"), "fire", T0)
    assert near.incident_id == tanker
