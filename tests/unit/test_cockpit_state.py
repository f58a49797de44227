"""The hub's picture: lifecycle states from alert events, open incidents from incident events
(checked against the alerting package's own AlertBook and Correlator), and the snapshot."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import orjson
import pytest
from hypothesis import given, settings as hsettings, strategies as st

from alerting.incidents import Correlator
from alerting.lifecycle import AlertBook, CommandError, LifecycleConfig
from cockpit_api.alert_states import AlertStates, normalize_alert_event
from cockpit_api.errors import MalformedMessage
from cockpit_api.hub import AlertHub
from cockpit_api.incident_view import IncidentBoard, normalize_incident_event
from schemas.records import make_alert
from schemas.validate import format_event_time
from unit_helpers import ROOT

T0 = 1_764_576_000_000
MIN = 60_000


def ev(fp: str, occ: int, seq: int, action: str, to: str, actor: str = "system",
       comment: str = "", **extra: Any) -> dict[str, Any]:
    return {"event_id": f"e-{fp}-{occ}-{seq}", "fingerprint": fp, "occurrence": occ,
            "occurrence_id": f"o-{fp}-{occ}", "seq": seq, "from_state": "", "to_state": to,
            "action": action, "actor": actor, "comment": comment, "at_ms": T0 + seq * 1000,
            "severity": "major", "kind": "gas_concentration_high", "entity_id": "GAS-1",
            "district": "furong", "labels": {"building": "b1"}, "alert_id": "a1",
            "cause_id": "", "notify": False, **extra}


FIRE = ev("f", 1, 1, "fire", "firing", "detector:limit")
# (name, events, expected (state, acked_by, owner), expected comments)
LIFECYCLE = [
    ("fired", [FIRE], ("firing", "", ""), []),
    ("acknowledged", [FIRE, ev("f", 1, 2, "ack", "acknowledged", "张伟")],
     ("acknowledged", "张伟", ""), []),
    ("claimed", [FIRE, ev("f", 1, 2, "claim", "firing", "李娜")], ("firing", "", "李娜"), []),
    ("claimed then acked", [FIRE, ev("f", 1, 2, "claim", "firing", "李娜"),
                            ev("f", 1, 3, "ack", "acknowledged", "张伟", "处理中")],
     ("acknowledged", "张伟", "李娜"), [("张伟", "处理中")]),
    ("unacked", [FIRE, ev("f", 1, 2, "ack", "acknowledged", "张伟"),
                 ev("f", 1, 3, "unack", "firing", "张伟")], ("firing", "", ""), []),
    ("unclaimed", [FIRE, ev("f", 1, 2, "claim", "firing", "李娜"),
                   ev("f", 1, 3, "unclaim", "firing", "李娜")], ("firing", "", ""), []),
    ("ack times out", [FIRE, ev("f", 1, 2, "ack", "acknowledged", "张伟"),
                       ev("f", 1, 3, "retrigger", "firing", "system", "acknowledgement timed out")],
     ("firing", "", ""), []),
    ("resolved by detector", [FIRE, ev("f", 1, 2, "claim", "firing", "李娜"),
                              ev("f", 1, 3, "resolve", "resolved", "detector:limit")],
     ("resolved", "", "李娜"), []),
    ("refire starts afresh", [FIRE, ev("f", 1, 2, "claim", "firing", "李娜"),
                              ev("f", 1, 3, "comment", "firing", "李娜", "已派人"),
                              ev("f", 1, 4, "resolve", "resolved", "detector:limit"),
                              ev("f", 2, 1, "refire", "firing", "detector:limit")],
     ("firing", "", ""), []),
    ("redelivery ignored", [FIRE, ev("f", 1, 2, "ack", "acknowledged", "张伟"),
                            ev("f", 1, 2, "unack", "firing", "x"), FIRE],
     ("acknowledged", "张伟", ""), []),
    ("started mid-occurrence", [ev("f", 3, 5, "ack", "acknowledged", "王强")],
     ("acknowledged", "王强", ""), []),
    ("comments kept", [FIRE] + [ev("f", 1, i, "comment", "firing", "张伟", f"c{i}")
                                for i in range(2, 9)], ("firing", "", ""),
     [("张伟", f"c{i}") for i in range(4, 9)]),
]


@pytest.mark.parametrize("name,events,expected,comments", LIFECYCLE,
                         ids=[c[0] for c in LIFECYCLE])
def test_lifecycle_state(name: str, events: list[dict], expected: tuple, comments: list) -> None:
    states = AlertStates(max_comments=5)
    for e in events:
        states.apply(normalize_alert_event(e))
    st_ = states.get("f")
    assert st_ is not None
    assert (st_["state"], st_["acked_by"], st_["owner"]) == expected
    assert [(c["actor"], c["comment"]) for c in st_["comments"]] == comments
    assert st_["labels"] == {"building": "b1"} and st_["last"]["event_id"] == \
        max(events, key=lambda e: (e["occurrence"], e["seq"]))["event_id"]


def test_forget_removes_and_redelivery_changes_nothing() -> None:
    states = AlertStates()
    assert states.apply(normalize_alert_event(FIRE))[0] is True
    assert states.apply(normalize_alert_event(FIRE))[0] is False
    resolved = ev("f", 1, 2, "resolve", "resolved", "detector:limit")
    states.apply(normalize_alert_event(resolved))
    assert states.apply(normalize_alert_event(ev("f", 1, 3, "forget", "resolved"))) == \
        (True, None)
    assert states.get("f") is None and len(states) == 0


def test_states_are_bounded_resolved_first() -> None:
    states = AlertStates(max_states=2)
    states.apply(normalize_alert_event(ev("a", 1, 1, "fire", "firing")))
    states.apply(normalize_alert_event(ev("b", 1, 1, "fire", "firing")))
    states.apply(normalize_alert_event(ev("b", 1, 2, "resolve", "resolved")))
    states.apply(normalize_alert_event(ev("a", 1, 2, "ack", "acknowledged", "x")))
    states.apply(normalize_alert_event(ev("c", 1, 1, "fire", "firing")))
    assert [s["fingerprint"] for s in states.states()] == ["c", "a"]
    assert states.counts() == {"firing": 1, "acknowledged": 1, "resolved": 0}


BAD_EVENTS = [("not an object", [1]), ("no fingerprint", {**FIRE, "fingerprint": ""}),
              ("seq a string", {**FIRE, "seq": "1"}), ("seq a bool", {**FIRE, "seq": True}),
              ("unknown state", {**FIRE, "to_state": "exploded"}),
              ("no action", {k: v for k, v in FIRE.items() if k != "action"})]


@pytest.mark.parametrize("name,obj", BAD_EVENTS, ids=[c[0] for c in BAD_EVENTS])
def test_malformed_alert_event(name: str, obj: object) -> None:
    with pytest.raises(MalformedMessage):
        normalize_alert_event(obj)


# --- parity with alerting.lifecycle.AlertBook ----------------------------------------------
def detector(fp: str, status: str, t: int, n: int) -> dict[str, Any]:
    return make_alert(detector="limit", kind="gas_concentration_high", status=status,
                      severity="major", stream="lifeline", entity_id=f"GAS-{fp}",
                      district="furong", district_zh="芙蓉区", district_en="Furong", lat=28.2,
                      lon=112.98, event_time=format_event_time(t), value=1.0, threshold=0.5,
                      unit="%LEL", title_zh="燃气浓度超限", title_en="Gas", evidence=[f"e{n}"],
                      detected_at=format_event_time(t))


OPS = st.lists(st.tuples(st.sampled_from(["fp1", "fp2"]),
                         st.sampled_from(["firing", "resolved", "ack", "unack", "claim",
                                          "unclaim", "resolve", "comment", "tick"]),
                         st.sampled_from(["张伟", "李娜"])), max_size=40)


@hsettings(max_examples=150, deadline=None)
@given(OPS)
def test_states_agree_with_the_alert_book(ops: list[tuple[str, str, str]]) -> None:
    book = AlertBook(LifecycleConfig(ack_timeout_ms=5 * MIN, resolved_ttl_ms=30 * MIN))
    states = AlertStates()
    fps = {name: detector(name, "firing", T0, 0)["fingerprint"] for name in ("fp1", "fp2")}
    for n, (name, op, who) in enumerate(ops):
        now, fp = T0 + n * 2 * MIN, fps[name]
        try:
            if op in ("firing", "resolved"):
                events = book.apply(detector(name, op, now, n), now)
            elif op == "tick":
                events = book.tick(now)
            else:
                events = book.apply({"action": op, "fingerprint": fp, "actor": who,
                                     "comment": "备注" if op == "comment" else ""}, now)
        except CommandError:
            continue
        for e in events:  # over the wire and back, as the cockpit gets them
            states.apply(normalize_alert_event(orjson.loads(orjson.dumps(e.to_dict()))))
    for fp in fps.values():
        want, got = book.get(fp), states.get(fp)
        assert (want is None) == (got is None)
        if want is not None and got is not None:
            assert (got["state"], got["acked_by"], got["owner"], got["occurrence"],
                    got["flapping"]) == (want["state"], want["acked_by"], want["owner"],
                                         want["occurrence"], want["flapping"])


# --- incidents, checked against the correlator that emits the events ------------------------
def gas(name: str, dn_km: float, t_min: float, status: str = "firing",
        severity: str = "major", stream: str = "lifeline") -> dict[str, Any]:
    t = T0 + int(t_min * MIN)
    return make_alert(detector="limit", kind="gas_concentration_high", status=status,
                      severity=severity, stream=stream, entity_id=name, district="furong",
                      district_zh="芙蓉区", district_en="Furong", lat=28.2 + dn_km / 111.2,
                      lon=112.98, event_time=format_event_time(t), value=1.0, threshold=0.5,
                      unit="%LEL", title_zh=f"{name}燃气", title_en=f"{name} gas",
                      evidence=[f"ev-{name}-{status}"], detected_at=format_event_time(t))


def wire(events: list[Any]) -> list[dict[str, Any]]:
    """Incident events as the worker puts them on the topic (``to_row``)."""
    return [orjson.loads(orjson.dumps(e.to_row())) for e in events]


def fold(board: IncidentBoard, events: list[Any]) -> None:
    for e in wire(events):
        board.apply(normalize_incident_event(e))


def assert_same(board: IncidentBoard, c: Correlator) -> None:
    want = {i.incident_id: i for i in c.open_incidents()}
    got = {v["incident_id"]: v for v in board.incidents()}
    assert set(got) == set(want)
    for iid, inc in want.items():
        v = got[iid]
        assert {m["fingerprint"] for m in v["members"]} == set(inc.members)
        assert {m["fingerprint"]: m["status"] for m in v["members"]} == \
            {fp: m.status for fp, m in inc.members.items()}
        assert (v["category"], v["severity"], v["district"], v["notes"], v["alerts"]) == \
            (inc.category, inc.severity, inc.district, inc.notes, len(inc.members))
        assert set(v["calls"]) == set(inc.calls) and v["status"] == "open"
        assert v["seq"] == inc.seq and not v["partial"]


def test_incident_board_follows_the_correlator() -> None:
    c, board = Correlator(), IncidentBoard(timeline=50)
    fold(board, c.observe(gas("A", 0, 0), T0))
    fold(board, c.observe(gas("B", 0.3, 1, severity="critical"), T0 + MIN))
    fold(board, c.observe(gas("C", 8, 2), T0 + 2 * MIN))           # far: its own incident
    assert_same(board, c)
    first, second = sorted(c.open_incidents(), key=lambda i: len(i.members), reverse=True)
    fold(board, c.link_call(first.incident_id, "EMS-9", stream="ems", actor="张伟",
                            at_ms=T0 + 3 * MIN))
    fold(board, c.add_note(first.incident_id, "消防已到场", actor="张伟", at_ms=T0 + 4 * MIN))
    assert_same(board, c)
    assert board.get(first.incident_id)["streams"] == ["ems", "lifeline"]
    fold(board, c.link_call(second.incident_id, "EMS-9", stream="ems", actor="李娜",
                            at_ms=T0 + 4 * MIN))   # moved: off the first incident's view
    assert_same(board, c)
    assert board.get(first.incident_id)["streams"] == ["lifeline"]
    assert board.get(first.incident_id)["timeline"][-1]["kind"] == "call_unlinked"
    fold(board, c.merge(first.incident_id, second.incident_id, actor="李娜", at_ms=T0 + 5 * MIN))
    assert_same(board, c)
    assert len(board) == 1
    fps = sorted(c.get(first.incident_id).members)
    fold(board, c.split(first.incident_id, fps[:1], actor="李娜", at_ms=T0 + 6 * MIN))
    assert_same(board, c)
    assert len(board) == 2
    fold(board, c.resolve(first.incident_id, actor="张伟", at_ms=T0 + 7 * MIN))
    assert_same(board, c)
    kinds = [e["kind"] for e in board.incidents()[0]["timeline"]]
    assert kinds[0] == "opened"


def test_incident_view_timeline_entries() -> None:
    c, board = Correlator(), IncidentBoard(timeline=3)
    events = c.observe(gas("A", 0, 0), T0)
    for i in range(5):
        events += c.add_note(events[0].incident_id, f"note {i}", actor="张伟",
                             at_ms=T0 + (i + 1) * MIN)
    fold(board, events)
    view = board.incidents()[0]
    assert [(e["kind"], e["detail"].get("text")) for e in view["timeline"]] == \
        [("note_added", "note 2"), ("note_added", "note 3"), ("note_added", "note 4")]
    assert view["notes"] == 5 and view["timeline"][-1]["actor"] == "张伟"


def test_redelivered_and_late_events_change_nothing() -> None:
    c, board = Correlator(), IncidentBoard()
    events = wire(c.observe(gas("A", 0, 0), T0))
    iid = events[0]["incident_id"]
    events += wire(c.resolve(iid, actor="x", at_ms=T0 + MIN))
    for e in events:
        assert board.apply(normalize_incident_event(e)) is not None
    for e in events:  # the whole log again
        assert board.apply(normalize_incident_event(e)) is None
    late = wire(c.add_note(iid, "after closing", actor="x", at_ms=T0 + 2 * MIN))
    assert board.apply(normalize_incident_event(late[0])) is None
    assert len(board) == 0


def test_events_without_their_opening_make_a_partial_incident() -> None:
    c, board = Correlator(), IncidentBoard()
    events = wire(c.observe(gas("A", 0, 0), T0) + c.observe(gas("B", 0.2, 1, "firing",
                                                                "critical"), T0 + MIN))
    later = [e for e in events if e["kind"] != "opened"]
    assert later, "the second alert attaches"
    for e in later:
        board.apply(normalize_incident_event(e))
    view = board.incidents()[0]
    assert view["partial"] and view["category"] == "" and view["alerts"] >= 1
    assert view["severity"] == "critical"
    closing = {**events[0], "kind": "resolved", "seq": 9, "incident_id": "INC-unknown",
               "payload_json": "{}"}
    assert board.apply(normalize_incident_event(closing)) is None


def test_board_keeps_the_most_recently_changed() -> None:
    c, board = Correlator(), IncidentBoard(max_open=2)
    for i in range(3):
        fold(board, c.observe(gas(f"S{i}", 10 * i, i), T0 + i * MIN))
    assert len(board) == 2 and board.evicted == 1


BAD_INCIDENT = [("not an object", "x"), ("no incident id", {"event_id": "e", "kind": "opened",
                                                             "seq": 1, "at_ms": 1}),
                ("payload not JSON", {"event_id": "e", "incident_id": "i", "kind": "opened",
                                      "seq": 1, "at_ms": 1, "payload_json": "{nope"}),
                ("payload a list", {"event_id": "e", "incident_id": "i", "kind": "opened",
                                    "seq": 1, "at_ms": 1, "payload_json": "[1]"}),
                ("seq a float", {"event_id": "e", "incident_id": "i", "kind": "opened",
                                 "seq": 1.5, "at_ms": 1, "payload_json": "{}"})]


@pytest.mark.parametrize("name,obj", BAD_INCIDENT, ids=[c[0] for c in BAD_INCIDENT])
def test_malformed_incident_event(name: str, obj: object) -> None:
    with pytest.raises(MalformedMessage):
        normalize_incident_event(obj)


# --- the hub: snapshot and broadcast -------------------------------------------------------
def drain(queue: asyncio.Queue) -> list[dict[str, Any]]:
    out = []
    while not queue.empty():
        out.append(orjson.loads(queue.get_nowait()))
    return out


def test_snapshot_holds_the_current_picture() -> None:
    hub, c = AlertHub(), Correlator()
    for e in wire(c.observe(gas("A", 0, 0), T0)):
        assert hub.publish_incident_event(e)
    hub.publish_alert_event(FIRE)
    hub.publish_alert_event(ev("f", 1, 2, "ack", "acknowledged", "张伟"))
    hub.publish_notification({"key": "n1", "receiver": "gas-company", "fingerprint": "f",
                              "status": "firing", "severity": "major", "summary": "s",
                              "at_ms": T0})
    hub.publish_command_result({"command_id": "c1", "ok": True, "events": ["e1"]})
    snap = hub.snapshot()
    assert [s["state"] for s in snap["alert_states"]] == ["acknowledged"]
    assert snap["alert_states"][0]["acked_by"] == "张伟"
    assert [i["category"] for i in snap["incidents"]] == ["gas"]
    assert snap["incidents"][0]["members"][0]["title_zh"] == "A燃气"
    assert [n["key"] for n in snap["notifications"]] == ["n1"]
    assert "command_results" not in snap  # news, not state
    stats = hub.stats()
    assert stats["incidents"] == 1 and stats["alert_states"]["acknowledged"] == 1
    assert stats["received"]["command result"] == 1


def test_broadcasts_changes_once_and_counts_malformed() -> None:
    hub = AlertHub()
    sub = hub.subscribe()
    assert [m["type"] for m in drain(sub.queue)] == ["snapshot", "stats"]
    hub.publish_alert_event(FIRE)
    hub.publish_alert_event(FIRE)          # redelivery: nothing sent
    hub.publish_alert_event({"fingerprint": "f"}, "t[0]@7")
    hub.publish_incident_event({"event_id": "x"})
    hub.publish_command_result({"command_id": "c1", "ok": "yes"})
    hub.publish_command_result({"command_id": "c2", "ok": False, "code": "unknown_alert",
                                "field": "fingerprint", "reason": "no alert"})
    hub.publish_notification({"key": "n1"})
    msgs = drain(sub.queue)
    assert [m["type"] for m in msgs] == ["alert_state", "command_result"]
    assert msgs[0]["state"]["state"] == "firing" and msgs[0]["event"]["action"] == "fire"
    assert msgs[1]["result"]["code"] == "unknown_alert"
    assert hub.counters.malformed == 4


def test_incident_messages_say_when_an_incident_closes() -> None:
    hub, c = AlertHub(), Correlator()
    sub = hub.subscribe()
    drain(sub.queue)
    events = c.observe(gas("A", 0, 0), T0)
    events += c.resolve(events[0].incident_id, actor="张伟", at_ms=T0 + MIN)
    for e in wire(events):
        hub.publish_incident_event(e)
    msgs = drain(sub.queue)
    assert [(m["incident"]["status"], m["event"]["kind"]) for m in msgs] == \
        [("open", "opened"), ("resolved", "resolved")]
    assert hub.snapshot()["incidents"] == []
    assert json.loads(json.dumps(msgs))  # plain JSON all the way


def test_reply_goes_to_one_client_and_overflow_drops_it() -> None:
    hub = AlertHub(queue_size=3)
    a, b = hub.subscribe(), hub.subscribe()
    drain(a.queue), drain(b.queue)
    hub.reply(a, {"type": "command_queued", "command_id": "c1"})
    assert drain(a.queue) == [{"type": "command_queued", "command_id": "c1"}]
    assert drain(b.queue) == []
    for i in range(4):
        hub.reply(a, {"type": "command_error", "command_id": f"c{i}"})
    assert a.dropped.is_set() and hub.client_count == 1
    hub.reply(a, {"type": "command_queued", "command_id": "late"})  # a closed client: ignored
    assert drain(a.queue) == []


def test_a_delivery_record_of_the_worker_is_shown_as_its_notification() -> None:
    from cockpit_api.hub import normalize_notification
    record = {"notification": {"key": "k1", "receiver": "gas_utility", "status": "firing",
                               "summary": "1 firing, 0 resolved"},
              "outcome": "delivered", "channel": "cockpit,webhook", "attempts": 1,
              "reason": "", "at_ms": 1}
    note = normalize_notification(record)
    assert note["key"] == "k1" and note["receiver"] == "gas_utility"
    assert note["outcome"] == "delivered" and note["summary"] == "1 firing, 0 resolved"


def test_every_incident_event_kind_has_a_chinese_and_an_english_name_in_the_cockpit() -> None:
    from alerting.incident_model import EVENT_KINDS
    # the page's vocabulary (I18N) is in its own script
    html = (ROOT / "cockpit_api" / "static" / "words.js").read_text(encoding="utf-8")
    missing = [k for k in EVENT_KINDS if html.count(f"k_{k}:") != 2]   # zh and en tables
    assert missing == []
