"""Who sees and may do what: roles x actions, views x alerts/incidents/notifications, the
hub's per-client fan-out and snapshot, and command authorization (table-driven)."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest

from cockpit_api.auth.roles import (AGENCIES, AGENCY_OF_STREAM, EVERY_ACTION, ROLE_ACTIONS,
                                    Principal, View)
from cockpit_api.authorize import HubBoard, authorize
from cockpit_api.commands import ACTIONS
from cockpit_api.errors import CommandRejected
from cockpit_api.hub import AlertHub
from cockpit_api.visibility import Audience
from schemas.catalog import INPUT_STREAMS

SUPERVISOR = Principal("张伟", "supervisor")
ADMIN = Principal("管理员", "admin")
VIEWER = Principal("大屏", "viewer")
EMS = Principal("急救调度", "dispatcher", "120")
FIRE = Principal("消防调度", "dispatcher", "119")
FURONG = Principal("芙蓉值班长", "supervisor", "", ("furong",))
EMS_YUELU = Principal("岳麓急救", "dispatcher", "120", ("yuelu",))


def test_every_stream_has_one_agency_and_every_action_a_place() -> None:
    assert set(AGENCY_OF_STREAM) == set(INPUT_STREAMS)
    assert sorted(s for streams in AGENCIES.values() for s in streams) == sorted(INPUT_STREAMS)
    assert EVERY_ACTION == set(ACTIONS)   # a new command must be given to roles


MAY = [   # (principal, action, may)
    (VIEWER, "ack", False), (VIEWER, "comment", False), (VIEWER, "silence", False),
    (EMS, "ack", True), (EMS, "claim", True), (EMS, "resolve", True), (EMS, "comment", True),
    (EMS, "add_note", True), (EMS, "link_call", True), (EMS, "resolve_incident", True),
    (EMS, "merge_incidents", False), (EMS, "split_incident", False), (EMS, "silence", False),
    (EMS, "expire_silence", False), (SUPERVISOR, "silence", True),
    (SUPERVISOR, "merge_incidents", True), (ADMIN, "extend_silence", True),
]


@pytest.mark.parametrize("who,action,may", MAY, ids=[f"{p.role}-{a}" for p, a, _ in MAY])
def test_roles_and_actions(who: Principal, action: str, may: bool) -> None:
    assert who.may(action) is may
    assert (action in who.actions) is may
    assert set(who.actions) == set(ROLE_ACTIONS[who.role])


def alert(fp: str, stream: str, district: str, **extra: Any) -> dict[str, Any]:
    return {"fingerprint": fp, "alert_id": fp, "status": "firing", "stream": stream,
            "district": district, "kind": f"{stream}_thing", "entity_id": f"E-{fp}",
            "detector": "limit", **extra}


def opened(iid: str, streams: list[str], district: str, seq: int = 1) -> dict[str, Any]:
    members = [{"fingerprint": f"{iid}-{s}", "stream": s, "kind": "k", "severity": "major",
                "status": "firing"} for s in streams]
    return {"event_id": f"{iid}-{seq}", "incident_id": iid, "seq": seq, "lsn": seq,
            "kind": "opened", "at_ms": 1000, "actor": "correlator",
            "payload_json": json.dumps({"category": "c", "severity": "major",
                                        "district": district, "members": members})}


def city() -> AlertHub:
    hub = AlertHub()
    for a in (alert("ems-fr", "ems", "furong"), alert("fire-fr", "fire", "furong"),
              alert("ems-yl", "ems", "yuelu"), alert("gas-fr", "lifeline", "furong")):
        assert hub.publish(a)
    for ev in (opened("INC-ems", ["ems"], "furong"), opened("INC-fire", ["fire"], "furong"),
               opened("INC-both", ["fire", "ems"], "yuelu")):
        assert hub.publish_incident_event(ev)
    return hub


SEES = [  # principal, alerts seen, incidents seen
    (SUPERVISOR, {"ems-fr", "fire-fr", "ems-yl", "gas-fr"}, {"INC-ems", "INC-fire", "INC-both"}),
    (VIEWER, {"ems-fr", "fire-fr", "ems-yl", "gas-fr"}, {"INC-ems", "INC-fire", "INC-both"}),
    (EMS, {"ems-fr", "ems-yl"}, {"INC-ems", "INC-both"}),
    (FIRE, {"fire-fr"}, {"INC-fire", "INC-both"}),
    (FURONG, {"ems-fr", "fire-fr", "gas-fr"}, {"INC-ems", "INC-fire"}),
    (EMS_YUELU, {"ems-yl"}, {"INC-both"}),
    (Principal("u", "dispatcher", "utilities"), {"gas-fr"}, set()),
]


@pytest.mark.parametrize("who,alerts,incidents", SEES, ids=[p.user for p, _, _ in SEES])
def test_a_client_is_sent_its_part_of_the_city(who: Principal, alerts: set[str],
                                               incidents: set[str]) -> None:
    hub = city()
    sub = hub.subscribe(Audience.of(who))
    snap = orjson.loads(sub.queue.get_nowait())
    assert {a["fingerprint"] for a in snap["alerts"]} == alerts
    assert {i["incident_id"] for i in snap["incidents"]} == incidents
    sub.queue.get_nowait()   # stats
    # live: every alert again, and a new incident of each; only its part arrives
    for a in (alert("ems-fr", "ems", "furong", value=1), alert("fire-fr", "fire", "furong",
                                                             value=1),
              alert("ems-yl", "ems", "yuelu", value=1), alert("gas-fr", "lifeline", "furong",
                                                            value=1)):
        hub.publish(a)
    for ev in (opened("INC-ems", ["ems"], "furong", 2), opened("INC-fire", ["fire"], "furong", 2),
               opened("INC-both", ["fire", "ems"], "yuelu", 2)):
        hub.publish_incident_event(ev)
    got = [orjson.loads(sub.queue.get_nowait()) for _ in range(sub.queue.qsize())]
    assert {m["alert"]["fingerprint"] for m in got if m["type"] == "alert"} == alerts
    assert {m["incident"]["incident_id"] for m in got if m["type"] == "incident"} == incidents


def lifecycle(fp: str, seq: int, labels: dict[str, str]) -> dict[str, Any]:
    return {"event_id": f"{fp}-{seq}", "fingerprint": fp, "occurrence": 1, "seq": seq,
            "action": "fire", "to_state": "firing", "at_ms": seq, "actor": "detector:limit",
            "labels": labels, "district": labels.get("district", "")}


def test_states_notifications_silences_and_results_are_cut_too() -> None:
    hub = city()
    ems, fire = hub.subscribe(Audience.of(EMS)), hub.subscribe(Audience.of(FIRE))
    boss = hub.subscribe(Audience.of(SUPERVISOR))
    for sub in (ems, fire, boss):
        sub.queue.get_nowait(), sub.queue.get_nowait()
    # a lifecycle state: by the engine's labels (or the detector alert's when it has none)
    hub.publish_alert_event(lifecycle("fire-fr", 1, {}))
    hub.publish_alert_event(lifecycle("new-ems", 1, {"stream": "ems", "district": "kaifu"}))
    hub.publish_notification({"key": "n1", "receiver": "fire119", "fingerprint": "fire-fr"})
    hub.publish_notification({"key": "n2", "receiver": "ems120", "labels": {"stream": "ems"}})
    hub.publish_silence_event({"event_id": "s1", "silence_id": "s1", "action": "created",
                               "at_ms": 5, "matchers": ["district=furong"],
                               "starts_at": "2026-01-01T00:00:00Z", "ends_at": None})
    hub.visibility.note_sender("c-ems", EMS.user)
    hub.publish_command_result({"command_id": "c-ems", "ok": True})
    hub.publish_command_result({"command_id": "c-other-cockpit", "ok": True})

    def got(sub: Any) -> list[dict[str, Any]]:
        return [orjson.loads(sub.queue.get_nowait()) for _ in range(sub.queue.qsize())]
    e, f, b = got(ems), got(fire), got(boss)

    def ids(msgs: list[dict[str, Any]], kind: str, key: Any) -> list[Any]:
        return [key(m) for m in msgs if m["type"] == kind]
    assert ids(e, "alert_state", lambda m: m["fingerprint"]) == ["new-ems"]
    assert ids(f, "alert_state", lambda m: m["fingerprint"]) == ["fire-fr"]
    assert ids(e, "notification", lambda m: m["notification"]["key"]) == ["n2"]
    assert ids(f, "notification", lambda m: m["notification"]["key"]) == ["n1"]
    # every client hears of the silence, with the marks of the alerts it sees only
    assert ids(e, "silence", lambda m: sorted(m["silenced"])) == [["ems-fr"]]
    assert ids(f, "silence", lambda m: sorted(m["silenced"])) == [["fire-fr"]]
    assert ids(b, "silence", lambda m: sorted(m["silenced"])) == [["ems-fr", "fire-fr", "gas-fr"]]
    # a command's result to its sender; one of unknown sender to supervisors and admins
    assert ids(e, "command_result", lambda m: m["result"]["command_id"]) == ["c-ems"]
    assert ids(f, "command_result", lambda m: m["result"]["command_id"]) == []
    assert ids(b, "command_result", lambda m: m["result"]["command_id"]) == ["c-other-cockpit"]


def test_clients_with_one_view_share_one_encoding() -> None:
    hub = AlertHub()
    subs = [hub.subscribe(Audience.of(p)) for p in (SUPERVISOR, ADMIN, VIEWER, EMS, EMS)]
    for s in subs:
        s.queue.get_nowait(), s.queue.get_nowait()
    hub.publish(alert("ems-1", "ems", "furong"))
    frames = [s.queue.get_nowait() for s in subs]
    assert frames[0] is frames[1] is frames[2] and frames[3] is frames[4]


def cmd(action: str, **args: Any) -> dict[str, Any]:
    return {"command_id": "c-1", "action": action, "actor": "x", "at": "t", **args}


SILENCE_FR = ["district=furong", "kind=gas_leak"]
AUTH = [  # principal, command, refused field (None: allowed)
    (VIEWER, cmd("ack", fingerprint="ems-fr"), "action"),
    (EMS, cmd("ack", fingerprint="ems-fr"), None),
    (EMS, cmd("ack", fingerprint="fire-fr"), "fingerprint"),
    (EMS, cmd("comment", fingerprint="unknown-fp", comment="c"), "fingerprint"),
    (FIRE, cmd("resolve", fingerprint="fire-fr"), None),
    (EMS, cmd("add_note", incident_id="INC-ems", text="t"), None),
    (EMS, cmd("add_note", incident_id="INC-fire", text="t"), "incident_id"),
    (EMS, cmd("resolve_incident", incident_id="INC-both"), None),
    (EMS, cmd("resolve_incident", incident_id="INC-gone"), "incident_id"),
    (EMS, cmd("link_call", incident_id="INC-both", call_id="C1", stream="ems"), None),
    (EMS, cmd("link_call", incident_id="INC-both", call_id="C1", stream="fire"), "stream"),
    (EMS, cmd("merge_incidents", target="INC-ems", source="INC-both"), "action"),
    (EMS_YUELU, cmd("ack", fingerprint="ems-fr"), "fingerprint"),
    (EMS_YUELU, cmd("ack", fingerprint="ems-yl"), None),
    (FURONG, cmd("ack", fingerprint="gas-fr"), None),
    (FURONG, cmd("merge_incidents", target="INC-ems", source="INC-fire"), None),
    (FURONG, cmd("merge_incidents", target="INC-ems", source="INC-both"), "source"),
    (FURONG, cmd("silence", matchers=SILENCE_FR, reason="r"), None),
    (FURONG, cmd("silence", matchers=["kind=gas_leak"], reason="r"), "matchers"),
    (FURONG, cmd("silence", matchers=["district=~furong|yuelu"], reason="r"), "matchers"),
    (FURONG, cmd("silence", matchers=["district=yuelu"], reason="r"), "matchers"),
    (FURONG, cmd("expire_silence", silence_id="s-fr"), None),
    (FURONG, cmd("extend_silence", silence_id="s-yl", ends_at=None), "silence_id"),
    (FURONG, cmd("expire_silence", silence_id="s-none"), "silence_id"),
    (SUPERVISOR, cmd("silence", matchers=["kind=gas_leak"], reason="r"), None),
    (SUPERVISOR, cmd("expire_silence", silence_id="s-none"), None),   # the worker says
    (ADMIN, cmd("split_incident", incident_id="INC-x", fingerprints=["a"]), None),
]


@pytest.mark.parametrize("who,command,field", AUTH,
                         ids=[f"{p.user}-{c['action']}-{f}" for p, c, f in AUTH])
def test_authorize(who: Principal, command: dict[str, Any], field: str | None) -> None:
    hub = city()
    for sid, district in (("s-fr", "furong"), ("s-yl", "yuelu")):
        hub.publish_silence_event({"event_id": sid, "silence_id": sid, "action": "created",
                                   "at_ms": 5, "matchers": [f"district={district}"],
                                   "starts_at": "2026-01-01T00:00:00Z", "ends_at": None})
    if field is None:
        authorize(who, command, HubBoard(hub))
        return
    with pytest.raises(CommandRejected) as err:
        authorize(who, command, HubBoard(hub))
    assert (err.value.code, err.value.field, err.value.command_id) == ("forbidden", field, "c-1")


def test_views() -> None:
    assert View().unrestricted and not View(frozenset({"120"})).unrestricted
    v = View(frozenset({"120"}), frozenset({"furong"}))
    assert v.sees({"120", "119"}, "furong") and not v.sees({"119"}, "furong")
    assert not v.sees({"120"}, "yuelu") and not v.sees({"120"}, "")
    assert v.sees_labels({"stream": "ems", "district": "furong"})
    assert not v.sees_labels({"district": "furong"}) and not v.sees_labels(None)
    assert View().sees_labels(None)
    assert v.sees_incident({"streams": ["ems"], "district": "furong"})
    assert not v.sees_incident({"streams": "ems", "district": "furong"})


def test_the_hub_fans_out_to_nobody_blocked() -> None:
    """A restricted client's queue only holds what it sees: a flood of 119 alerts cannot
    overflow (and drop) a 120 dispatcher."""
    hub = AlertHub(queue_size=4)
    ems = hub.subscribe(Audience.of(EMS))
    for i in range(50):
        hub.publish(alert(f"fire-{i}", "fire", "furong"))
    assert not ems.dropped.is_set() and ems.queue.qsize() == 2   # snapshot, stats
