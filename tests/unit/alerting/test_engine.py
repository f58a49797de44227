"""The assembled alerting pipeline: alerts and commands in, events and notifications out."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alerting.config import default_config
from alerting.engine import ACTIONS, Engine
from schemas.records import make_alert
from schemas.validate import format_event_time
from unit_helpers import NOW_MS, PROFILE

S = 1000


def alert(kind: str, entity: str, status: str = "firing", *, t: int = NOW_MS,
          severity: str = "major", stream: str = "lifeline", detector: str = "limit",
          lat: float = 28.19, lon: float = 112.99, evidence: tuple[str, ...] = ("e1",)
          ) -> dict[str, Any]:
    return make_alert(detector=detector, kind=kind, status=status, severity=severity,
                      stream=stream, entity_id=entity, district="furong", district_zh="芙蓉区",
                      district_en="Furong", lat=lat, lon=lon, event_time=format_event_time(t),
                      value=1.0, threshold=1.0, unit="", title_zh="测试", title_en="test",
                      evidence=list(evidence) + [status], detected_at=format_event_time(t))


def engine() -> Engine:
    return Engine(default_config(), PROFILE)


def notifications(e: Engine, now: int) -> list[Any]:
    return [a.notification for a in e.outbox.due(now)]


def gas_leak(t: int = NOW_MS) -> list[dict[str, Any]]:
    return [alert("gas_concentration_high", "GASC-1", t=t, severity="critical"),
            alert("gas_pressure_drop", "GASP-1", t=t + 5 * S, severity="minor",
                  detector="sensor_deviation", lat=28.1905, lon=112.9902, evidence=("e2",))]


def test_a_gas_leak_becomes_one_incident_and_one_notification_per_receiver() -> None:
    e = engine()
    out = e.alerts(gas_leak(), NOW_MS + 6 * S)
    assert [ev.action for ev in out.alert_events] == ["fire", "fire"]
    opened = [ev for ev in out.incident_events if ev.kind == "opened"]
    assert len(opened) == 1
    inc = e.correlator.incident_of(out.alert_events[0].fingerprint)
    assert inc is not None and inc == e.correlator.incident_of(out.alert_events[1].fingerprint)
    # nothing is sent before group_wait (15 s); then each alert reaches the gas utility
    # once (groups by kind and district), and the critical one the district duty office
    assert e.tick(NOW_MS + 6 * S).offered == 0
    e.tick(NOW_MS + 60 * S)
    sent = notifications(e, NOW_MS + 60 * S)
    gas = [fp for n in sent if n.receiver == "gas_utility" for fp in n.details["firing"]]
    assert sorted(gas) == sorted(ev.fingerprint for ev in out.alert_events)
    duty = [fp for n in sent if n.receiver == "district_duty:furong"
            for fp in n.details["firing"]]
    assert duty == [out.alert_events[0].fingerprint]   # critical/major only


def test_redelivered_alerts_change_nothing() -> None:
    e = engine()
    first = e.alerts(gas_leak(), NOW_MS + 6 * S)
    snap = e.snapshot()
    again = e.alerts(gas_leak(), NOW_MS + 9 * S)   # a worker restart re-reads them
    assert again.alert_events == [] and again.incident_events == []
    after = e.snapshot()
    assert after["correlator"].pop("counters") == {"duplicates": 2}   # counted, not applied
    snap["correlator"].pop("counters")
    assert orjson.dumps(after) == orjson.dumps(snap)
    assert first.alert_events


def test_ack_stops_escalation_and_resolve_is_notified() -> None:
    e = engine()
    out = e.alerts([alert("gas_concentration_high", "GASC-1", severity="critical")], NOW_MS)
    fp = out.alert_events[0].fingerprint
    assert e.escalator.running(fp) is not None
    res = e.command({"command_id": "c1", "action": "ack", "fingerprint": fp,
                     "actor": "张三", "comment": "已派燃气抢修"}, NOW_MS + 10 * S)
    assert res.applied == ["c1"] and res.rejected == []
    assert [ev.to_state for ev in res.alert_events] == ["acknowledged"]
    assert e.escalator.running(fp) is None
    e.tick(NOW_MS + 60 * S)
    notifications(e, NOW_MS + 60 * S)
    e.alerts([alert("gas_concentration_high", "GASC-1", "resolved", t=NOW_MS + 120 * S,
                    severity="critical")], NOW_MS + 120 * S)
    e.tick(NOW_MS + 600 * S)
    sent = notifications(e, NOW_MS + 600 * S)
    assert any(fp in n.details.get("resolved", []) for n in sent)


def test_a_silence_mutes_and_its_end_renotifies_what_still_fires() -> None:
    e = engine()
    res = e.command({"command_id": "s1", "action": "silence", "actor": "值班员",
                     "matchers": ['entity_id="GASC-1"'], "reason": "传感器检修",
                     "ends_at": format_event_time(NOW_MS + 600 * S)}, NOW_MS)
    assert res.applied == ["s1"]
    out = e.alerts([alert("gas_concentration_high", "GASC-1")], NOW_MS + S)
    fp = out.alert_events[0].fingerprint
    first_sent = None
    for t in range(NOW_MS + 2 * S, NOW_MS + 900 * S, S):   # the worker ticks every second
        e.tick(t)
        if any(fp in n.details.get("firing", []) for n in notifications(e, t)):
            first_sent = t
            break
    # muted until the silence ends at 600 s, then sent at once (not at the next re-check)
    assert first_sent == NOW_MS + 600 * S


# command -> expected rejection code (field)
BAD_COMMANDS = [
    ("not a mapping", "bad_command"),
    ({"command_id": "x", "action": "launch", "actor": "a"}, "unknown_action"),
    ({"command_id": "x", "action": "ack", "fingerprint": "nope", "actor": "a"}, "unknown_alert"),
    ({"command_id": "x", "action": "ack", "fingerprint": "nope", "actor": ""}, "missing_actor"),
    ({"command_id": "x", "action": "resolve", "fingerprint": "f", "actor": "system",
      "comment": "not_reasserted"}, "reserved_actor"),
    ({"command_id": "x", "action": "ack", "fingerprint": "f", "actor": " detector:limit"},
     "reserved_actor"),
    ({"command_id": "x", "action": "silence", "actor": "system", "matchers": ['kind="k"'],
      "reason": "r"}, "reserved_actor"),
    ({"command_id": "x", "action": "silence", "actor": "a", "matchers": [],
      "reason": "r"}, "bad_command"),
    ({"command_id": "x", "action": "silence", "actor": "a", "matchers": ["=broken"],
      "reason": "r"}, "silence_refused"),
    ({"command_id": "x", "action": "silence", "actor": "a", "matchers": ['kind="k"'],
      "reason": "r", "ends_at": "yesterday"}, "bad_command"),
    # wrong types where a compiled record would take only str (citycc.native)
    ({"command_id": "x", "action": "silence", "actor": None, "matchers": ['kind="k"'],
      "reason": "r"}, "missing_actor"),
    ({"command_id": "x", "action": "silence", "actor": "a", "matchers": ['kind="k"'],
      "reason": None}, "bad_command"),
    ({"command_id": "x", "action": "silence", "actor": "a", "matchers": [42],
      "reason": "r"}, "silence_refused"),
    ({"command_id": "x", "action": "silence", "actor": "a", "matchers": 42,
      "reason": "r"}, "silence_refused"),
    ({"command_id": "x", "action": "silence", "actor": "a", "matchers": ['kind="k"'],
      "reason": "r", "ends_at": 5}, "bad_command"),
    ({"command_id": "x", "action": "ack", "fingerprint": 5, "actor": "a"}, "bad_command"),
    ({"command_id": "x", "action": "ack", "fingerprint": "f", "actor": "a",
      "comment": ["c"]}, "bad_command"),
    ({"command_id": "x", "action": "expire_silence", "actor": "a", "silence_id": "none"},
     "silence_refused"),
    ({"command_id": "x", "action": "merge_incidents", "actor": "a", "target": "I1",
      "source": "I2"}, "incident_refused"),
    ({"command_id": "x", "action": "split_incident", "actor": "a", "incident_id": "I1",
      "fingerprints": "fp"}, "bad_command"),
    ({"command_id": "x", "action": "add_note", "actor": "a", "incident_id": "I1",
      "text": 5}, "bad_command"),
]


@pytest.mark.parametrize("cmd,code", BAD_COMMANDS)
def test_bad_commands_are_refused_with_a_code_and_change_nothing(cmd: Any, code: str) -> None:
    e = engine()
    before = orjson.dumps(e.snapshot())
    out = e.command(cmd, NOW_MS)
    assert [r.code for r in out.rejected] == [code] and out.applied == []
    assert orjson.dumps(e.snapshot()) == before


def test_a_malformed_alert_is_rejected_not_raised() -> None:
    e = engine()
    out = e.alerts([{"fingerprint": "x"}, alert("water_pressure_low", "WP-1")], NOW_MS)
    assert [r.code for r in out.rejected] == ["bad_alert"]
    assert [ev.action for ev in out.alert_events] == ["fire"]


def test_incident_commands_reach_the_correlator() -> None:
    e = engine()
    out = e.alerts(gas_leak(), NOW_MS + 6 * S)
    iid = next(ev.incident_id for ev in out.incident_events if ev.kind == "opened")
    res = e.command({"command_id": "n1", "action": "add_note", "actor": "指挥长",
                     "incident_id": iid, "text": "疏散半径 200 米"}, NOW_MS + 20 * S)
    assert [ev.kind for ev in res.incident_events] == ["note_added"]
    assert res.incident_events[0].actor == "指挥长"


def test_snapshot_restore_continues_exactly() -> None:
    def run(e: Engine, steps: list[tuple[str, Any, int]]) -> list[Any]:
        out = []
        for what, arg, t in steps:
            o = e.alerts(arg, t) if what == "alerts" else e.command(arg, t) \
                if what == "command" else e.tick(t)
            out.append(([ev.event_id for ev in o.alert_events],
                        [ev.event_id for ev in o.incident_events], o.offered,
                        [a.notification.key for a in e.outbox.due(t)] if what == "tick" else []))
        return out

    leak = gas_leak()
    fp = Engine(default_config(), PROFILE).alerts(leak[:1], NOW_MS).alert_events[0].fingerprint
    steps = [("alerts", leak, NOW_MS + 6 * S), ("tick", None, NOW_MS + 40 * S),
             ("command", {"command_id": "c", "action": "claim", "fingerprint": fp,
                          "actor": "李四"}, NOW_MS + 50 * S),
             ("alerts", [alert("gas_concentration_high", "GASC-1", "resolved",
                               t=NOW_MS + 90 * S, severity="critical")], NOW_MS + 90 * S),
             ("tick", None, NOW_MS + 400 * S), ("tick", None, NOW_MS + 2000 * S)]
    ref = run(engine(), steps)
    e = engine()
    head = run(e, steps[:2])
    again = engine()
    again.restore(orjson.loads(orjson.dumps(e.snapshot())))
    assert head + run(again, steps[2:]) == ref


def test_dispatch_links_a_nearby_119_call_and_records_its_engine() -> None:
    e = engine()
    out = e.alerts(gas_leak(), NOW_MS + 6 * S)
    iid = next(ev.incident_id for ev in out.incident_events if ev.kind == "opened")
    call = {"event_id": "ev-c1", "type": "call", "entity_id": "C119-1", "lat": 28.1902,
            "lon": 112.9901, "category": "hazmat", "event_time": format_event_time(NOW_MS)}
    engine_on_way = {"event_id": "ev-u1", "type": "engine_status", "entity_id": "ENG-FR-01",
                     "status": "en_route", "incident_id": "C119-1",
                     "event_time": format_event_time(NOW_MS + 30 * S)}
    res = e.dispatch([{"stream": "fire", "event": call},
                      {"stream": "fire", "event": engine_on_way},
                      {"stream": "ems", "event": {"event_id": "gps", "type": "unit_gps",
                                                  "entity_id": "AMB-1"}}], NOW_MS + 40 * S)
    assert [(ev.kind, ev.incident_id) for ev in res.incident_events] == \
        [("call_linked", iid), ("unit_status", iid)]
    assert not res.rejected


@pytest.mark.parametrize("record", [{"event": {"event_id": "x"}}, {"stream": "fire"}, "junk",
                                    {"stream": "fire", "event": {"type": "call",
                                                                 "event_id": "y"}}])
def test_a_bad_dispatch_record_is_refused_not_raised(record: Any) -> None:
    out = engine().dispatch([record], NOW_MS)
    assert [r.code for r in out.rejected] == ["bad_dispatch"]


def test_silences_are_recorded_when_created_expired_and_ended() -> None:
    e = engine()
    made = e.command({"command_id": "s1", "action": "silence", "actor": "值班长",
                      "matchers": ['entity_id="GASC-1"'], "reason": "管网抢修",
                      "ends_at": format_event_time(NOW_MS + 600 * S)}, NOW_MS)
    (created,) = made.silence_events
    assert created["action"] == "created" and created["actor"] == "值班长"
    assert created["matchers"] == ['entity_id="GASC-1"'] and created["reason"] == "管网抢修"
    assert created["ends_at"] == format_event_time(NOW_MS + 600 * S)
    sid = created["silence_id"]
    again = e.command({"command_id": "s2", "action": "silence", "actor": "值班长",
                       "matchers": ['kind="water_pressure_low"'], "reason": "试压",
                       "until_resolved": True}, NOW_MS)
    assert again.silence_events[0]["ends_at"] is None
    assert again.silence_events[0]["until_resolved"] is True
    gone = e.command({"command_id": "s3", "action": "expire_silence", "actor": "指挥长",
                      "silence_id": sid}, NOW_MS + 60 * S)
    assert [(r["action"], r["actor"], r["silence_id"]) for r in gone.silence_events] == \
        [("expired", "指挥长", sid)]
    ended = e.tick(NOW_MS + 61 * S).silence_events
    assert [(r["action"], r["end_reason"], r["silence_id"]) for r in ended] == \
        [("ended", "expired_by_command", sid)]
    assert e.tick(NOW_MS + 62 * S).silence_events == []   # reported once
    refused = e.command({"command_id": "s4", "action": "expire_silence", "actor": "x",
                         "silence_id": "s-nope"}, NOW_MS + 70 * S)
    assert refused.silence_events == [] and refused.rejected


def test_a_maintenance_window_is_recorded_when_it_begins_and_ends() -> None:
    from datetime import datetime, timezone
    tue_0230_shanghai = int(datetime(2026, 11, 30, 18, 30, tzinfo=timezone.utc).timestamp()
                            * 1000)   # Tuesday 1 December 02:30 in Changsha
    e = engine()
    e.tick(tue_0230_shanghai - 3600 * S)
    (begun,) = e.tick(tue_0230_shanghai).silence_events
    assert begun["action"] == "created"
    assert begun["silence_id"].startswith("maintenance:iot-gateway-firmware:")
    assert begun["actor"] == "system" and "固件升级" in begun["reason"]
    assert begun["starts_at"] == "2026-11-30T18:00:00.000Z"
    assert begun["ends_at"] == "2026-11-30T20:00:00.000Z"
    assert e.tick(tue_0230_shanghai + 60 * S).silence_events == []   # recorded once
    (over,) = e.tick(tue_0230_shanghai + 5400 * S).silence_events
    assert (over["action"], over["end_reason"], over["silence_id"]) == \
        ("ended", "expired", begun["silence_id"])


def test_a_silence_is_extended_and_the_new_end_is_recorded() -> None:
    e = engine()
    (made,) = e.command({"command_id": "s1", "action": "silence", "actor": "值班长",
                         "matchers": ['entity_id="GASC-1"'], "reason": "管网抢修",
                         "ends_at": format_event_time(NOW_MS + 600 * S)}, NOW_MS).silence_events
    sid = made["silence_id"]
    later = format_event_time(NOW_MS + 7200 * S)
    res = e.command({"command_id": "s2", "action": "extend_silence", "actor": "指挥长",
                     "silence_id": sid, "ends_at": later}, NOW_MS + 300 * S)
    assert [(r["action"], r["actor"], r["ends_at"]) for r in res.silence_events] == \
        [("extended", "指挥长", later)]
    assert e.tick(NOW_MS + 900 * S).silence_events == []     # the old end passed: still on
    open_ended = e.command({"command_id": "s3", "action": "extend_silence", "actor": "指挥长",
                            "silence_id": sid}, NOW_MS + 1000 * S)
    assert open_ended.silence_events[0]["ends_at"] is None
    refused = e.command({"command_id": "s4", "action": "extend_silence", "actor": "x",
                         "silence_id": sid, "ends_at": format_event_time(NOW_MS)},
                        NOW_MS + 1100 * S)
    assert refused.rejected and refused.silence_events == []  # an end in the past



def test_refusals_name_their_position_in_the_batch() -> None:
    e = engine()
    out = e.alerts([alert("water_pressure_low", "WP-1"), {"fingerprint": "x"},
                    alert("water_pressure_low", "WP-2"), {"alert_id": "y"}], NOW_MS)
    assert [r.index for r in out.rejected] == [1, 3]
    good = {"stream": "fire", "event": {"event_id": "g", "type": "engine_gps",
                                        "entity_id": "ENG-1"}}
    res = e.dispatch([{"stream": "fire"}, good, "junk"], NOW_MS)
    assert [(r.index, r.code) for r in res.rejected] == [(0, "bad_dispatch"), (2, "bad_dispatch")]


# --- any input: refused with a code, never raised (compiled code checks types too) ---------
JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=6),
                    lambda inner: st.lists(inner, max_size=3) |
                    st.dictionaries(st.text(max_size=4), inner, max_size=3), max_leaves=6)


def _bent(base: dict[str, Any], changes: dict[str, Any], drop: list[str]) -> dict[str, Any]:
    return {**{k: v for k, v in base.items() if k not in drop}, **changes}


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(sorted(alert("fire_alarm", "P1"))), JSON, max_size=3),
       st.lists(st.sampled_from(sorted(alert("fire_alarm", "P1"))), max_size=2))
def test_an_alert_with_any_field_of_any_type_is_applied_or_refused(
        changes: dict[str, Any], drop: list[str]) -> None:
    e = engine()
    msgs = [_bent(alert("fire_alarm", "P1"), changes, drop), alert("fire_alarm", "P2")]
    out = e.alerts(msgs, NOW_MS)
    assert all(r.code and r.index in (0, 1) for r in out.rejected)
    assert 1 not in {r.index for r in out.rejected}   # the good one after it still goes in
    assert any(ev.fingerprint == msgs[1]["fingerprint"] for ev in out.alert_events)


COMMAND_FIELDS = ["command_id", "actor", "fingerprint", "comment", "occurrence", "matchers",
                  "reason", "ends_at", "until_resolved", "silence_id", "incident_id",
                  "target", "source", "fingerprints", "text", "call_id", "stream"]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(ACTIONS), st.dictionaries(st.sampled_from(COMMAND_FIELDS), JSON,
                                                 max_size=5))
def test_a_command_with_any_fields_is_applied_or_refused(action: str,
                                                        fields: dict[str, Any]) -> None:
    e = engine()
    e.alerts(gas_leak(), NOW_MS)
    out = e.command({**fields, "action": action}, NOW_MS + S)
    assert bool(out.applied) != bool(out.rejected)
    assert all(r.code for r in out.rejected)


@settings(max_examples=200, deadline=None)
@given(JSON, JSON)
def test_a_dispatch_record_of_any_shape_is_applied_or_refused(stream: Any, event: Any) -> None:
    e = engine()
    out = e.dispatch([{"stream": stream, "event": event}, {"event": {"event_id": 5}}], NOW_MS)
    assert all(r.code for r in out.rejected) and 1 in {r.index for r in out.rejected}


def test_an_alert_not_reasserted_resolves_stops_paging_and_its_incident_follows() -> None:
    """Issue 12, item 3: the engine holds a firing alert whose detector is gone (a restart
    lost it): at its ends_at it resolves with "not re-asserted", escalation stops, and its
    incident resolves after the quiet period like any incident whose alerts resolved."""
    e = engine()
    ends = format_event_time(NOW_MS + 300 * S)
    a = {**alert("gas_concentration_high", "GASC-1", severity="critical"), "ends_at": ends}
    out = e.alerts([a], NOW_MS)
    fp = out.alert_events[0].fingerprint
    iid = e.correlator.incident_of(fp)
    assert iid is not None and e.escalator.running(fp) is not None
    assert e.tick(NOW_MS + 299 * S).alert_events == []
    out = e.tick(NOW_MS + 301 * S)
    assert [(ev.action, ev.comment) for ev in out.alert_events] == \
        [("resolve", "not_reasserted")]
    assert e.escalator.running(fp) is None
    assert [ev.kind for ev in out.incident_events] == ["alert_resolved"]
    quiet = int(e.correlator.config.quiet_s * 1000)
    done = e.tick(NOW_MS + 300 * S + quiet)
    assert [(ev.kind, ev.incident_id) for ev in done.incident_events] == [("resolved", iid)]
    pages = [n for n in notifications(e, NOW_MS + 10_000 * S) if n.status == "escalation"]
    assert sorted((n.level, n.at_ms) for n in pages) == \
        [(1, NOW_MS), (2, NOW_MS + 120 * S)], "nothing paged after the alert expired"
    assert e.tick(NOW_MS + 10_000 * S).incident_events == []


def test_a_severity_rise_reaches_the_routes_of_the_new_severity() -> None:
    """Found with issue 12, item 4 (a severity change must move an alert, in escalation and
    in routing alike): an alert that rises from minor to critical now matches the
    district duty office's route (critical|major), which must be told."""
    e = engine()
    low = alert("gas_concentration_high", "GASC-1", severity="minor")
    fp = e.alerts([low], NOW_MS).alert_events[0].fingerprint
    e.tick(NOW_MS + 60 * S)
    first = notifications(e, NOW_MS + 60 * S)
    assert {n.receiver for n in first} == {"gas_utility"}
    high = {**alert("gas_concentration_high", "GASC-1", severity="critical",
                    t=NOW_MS + 70 * S, evidence=("e2",))}
    assert [ev.action for ev in e.alerts([high], NOW_MS + 70 * S).alert_events] == ["update"]
    e.tick(NOW_MS + 200 * S)
    sent = [n for n in notifications(e, NOW_MS + 200 * S) if n.status != "escalation"
            and n.key not in {m.key for m in first}]
    assert [(n.receiver, n.details["firing"]) for n in sent] == \
        [("district_duty:furong", [fp])]
