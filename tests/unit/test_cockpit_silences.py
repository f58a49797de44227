"""The cockpit's current silences (``cockpit_api.silence_view``) folded from silence events,
and the hub's marks: each alert carries the ids of the current silences muting it, as the
engine's own Silencer mutes it."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import orjson
import pytest

from alerting.labels import labels_of, parse_matchers
from alerting.silence_log import silence_event
from alerting.silences import Silence, Silencer
from cockpit_api.errors import MalformedMessage
from cockpit_api.hub import AlertHub
from cockpit_api.silence_view import SilenceBoard, normalize_silence_event
from schemas.validate import format_event_time

T0 = 1_764_576_000_000
MIN = 60_000
GAS = ["entity_id=GASC-1"]


def rec(sid: str, action: str, at_ms: int, matchers: list[str] | None = None,
        **extra: Any) -> dict[str, Any]:
    """A silence record as ``alerting.silence_log.silence_event`` makes it."""
    return {"event_id": f"se-{sid}-{action}-{at_ms}", "silence_id": sid, "action": action,
            "at": format_event_time(at_ms), "at_ms": at_ms, "actor": "张伟", "author": "张伟",
            "reason": "燃气抢修", "matchers": GAS if matchers is None else matchers,
            "starts_at": format_event_time(T0), "ends_at": format_event_time(T0 + 60 * MIN),
            "until_resolved": False, "end_reason": "", **extra}


def drain(queue: asyncio.Queue) -> list[Any]:
    out = []
    while not queue.empty():
        out.append(orjson.loads(queue.get_nowait()))
    return out


CREATED, LATER = rec("s1", "created", T0), rec("s1", "extended", T0 + MIN,
                                               ends_at=format_event_time(T0 + 120 * MIN))
EXPIRED = rec("s1", "expired", T0 + 2 * MIN, actor="李娜")
ENDED = rec("s1", "ended", T0 + 2 * MIN, actor="system", end_reason="expired_by_command")
# (name, records in the order read, expected current (id, ends_ms, partial), changes)
BOARD = [
    ("created is current", [CREATED], [("s1", T0 + 60 * MIN, False)], 1),
    ("extended moves the end", [CREATED, LATER], [("s1", T0 + 120 * MIN, False)], 2),
    ("expired is gone", [CREATED, EXPIRED], [], 2),
    ("ended is gone", [CREATED, ENDED], [], 2),
    ("expired then ended: gone once", [CREATED, EXPIRED, ENDED], [], 2),
    ("redelivered created changes nothing", [CREATED, CREATED], [("s1", T0 + 60 * MIN, False)],
     1),
    ("late created after an extension changes nothing", [CREATED, LATER, CREATED],
     [("s1", T0 + 120 * MIN, False)], 2),
    ("an older extension changes nothing", [CREATED, LATER, rec("s1", "extended", T0 + 30_000)],
     [("s1", T0 + 120 * MIN, False)], 2),
    ("ended before its created: no resurrection", [ENDED, CREATED], [], 1),
    ("redelivered created after the end: stays gone", [CREATED, ENDED, CREATED, LATER], [], 2),
    ("extension without its created: partial", [LATER], [("s1", T0 + 120 * MIN, True)], 1),
    ("until ended", [rec("s2", "created", T0, ends_at=None)], [("s2", None, False)], 1),
    ("two silences, newest change first",
     [CREATED, rec("s2", "created", T0 + MIN), LATER],
     [("s1", T0 + 120 * MIN, False), ("s2", T0 + 60 * MIN, False)], 3),
    ("one ends, the other stays", [CREATED, rec("s2", "created", T0 + MIN), ENDED],
     [("s2", T0 + 60 * MIN, False)], 3),
]


@pytest.mark.parametrize("name,records,expected,changes", BOARD, ids=[c[0] for c in BOARD])
def test_board(name: str, records: list[dict], expected: list[tuple], changes: int) -> None:
    board = SilenceBoard()
    applied = [board.apply(normalize_silence_event(r)) for r in records]
    assert [(s["silence_id"], s["ends_ms"], s["partial"]) for s in board.silences()] == expected
    assert sum(c is not None for c in applied) == changes
    assert len(board) == len(expected)


def test_view_and_entry_say_what_is_muted_by_whom_why_and_until_when() -> None:
    board = SilenceBoard()
    change = board.apply(normalize_silence_event(rec(
        "s1", "created", T0, ["entity_id=GASC-1", "severity=~critical|major"],
        until_resolved=True, ends_at=None, reason="管网抢修中")))
    assert change is not None and change.view == board.get("s1")
    assert change.view == {
        "silence_id": "s1", "matchers": ["entity_id=GASC-1", "severity=~critical|major"],
        "author": "张伟", "reason": "管网抢修中", "starts_at": format_event_time(T0),
        "starts_ms": T0, "ends_at": None, "ends_ms": None, "until_resolved": True,
        "action": "created", "actor": "张伟", "updated_ms": T0, "partial": False}
    assert change.entry == {"event_id": f"se-s1-created-{T0}", "silence_id": "s1",
                            "action": "created", "at_ms": T0, "actor": "张伟", "end_reason": ""}
    gone = board.apply(normalize_silence_event(ENDED))
    assert gone is not None and gone.view is None and gone.entry["end_reason"] == \
        "expired_by_command"
    assert json.loads(json.dumps([change.view, gone.entry]))  # plain JSON


# (labels, matchers, muted?) -- quoted or not, as alerting.labels.parse_matcher reads them
MATCHING = [
    ({"entity_id": "GASC-1"}, ["entity_id=GASC-1"], True),
    ({"entity_id": "GASC-1"}, ['entity_id="GASC-1"'], True),
    ({"entity_id": "GASC-2"}, ["entity_id=GASC-1"], False),
    ({"entity_id": "GASC-1", "severity": "major"}, ["entity_id=GASC-1", "severity=~critical|major"],
     True),
    ({"entity_id": "GASC-1", "severity": "minor"}, ["entity_id=GASC-1", "severity=~critical|major"],
     False),
    ({"kind": "gas_concentration_high"}, ["kind!=water_level_high"], True),
    ({"kind": "gas"}, ['district=""'], True),        # an absent label matches as ""
    ({"kind": "gas"}, ["kind=~gas.*", "stream!~traffic"], True),
]


@pytest.mark.parametrize("labels,matchers,muted", MATCHING)
def test_matching_is_the_engines(labels: dict, matchers: list[str], muted: bool) -> None:
    board = SilenceBoard()
    board.apply(normalize_silence_event(rec("s1", "created", T0, matchers)))
    assert board.matching(labels) == (("s1",) if muted else ())
    silencer = Silencer()  # the engine's own answer for the same silence
    silencer.add(Silence("s1", parse_matchers(matchers), T0, None, "张伟", "r"), T0)
    assert bool(silencer.mutes(labels, T0)) is muted


def test_records_of_the_engine_fold() -> None:
    s = Silence("s-9", parse_matchers(['entity_id="GASC-1"', "severity=~critical|major"]), T0,
                T0 + 30 * MIN, "张伟", "抢修")
    board = SilenceBoard()
    for action, at in (("created", T0), ("expired", T0 + MIN), ("ended", T0 + MIN)):
        board.apply(normalize_silence_event(json.loads(json.dumps(
            silence_event(s, action, at, "张伟")))))
        if action == "created":
            assert board.matching({"entity_id": "GASC-1", "severity": "critical"}) == ("s-9",)
            assert board.get("s-9")["ends_ms"] == T0 + 30 * MIN
    assert len(board) == 0


MALFORMED = [
    ("not an object", ["s1"]),
    ("no event id", {k: v for k, v in CREATED.items() if k != "event_id"}),
    ("empty silence id", {**CREATED, "silence_id": ""}),
    ("unknown action", {**CREATED, "action": "paused"}),
    ("at_ms a string", {**CREATED, "at_ms": "1"}),
    ("at_ms a boolean", {**CREATED, "at_ms": True}),
    ("no matchers", {**CREATED, "matchers": []}),
    ("matchers a string", {**CREATED, "matchers": "entity_id=GASC-1"}),
    ("a matcher not a string", {**CREATED, "matchers": [["entity_id", "=", "x"]]}),
    ("a bad matcher", {**CREATED, "matchers": ["entity id GASC-1"]}),
    ("a bad regex", {**CREATED, "matchers": ["entity_id=~(GASC"]}),
    ("ends_at naive", {**CREATED, "ends_at": "2026-01-01T00:00:00"}),
    ("ends_at a number", {**LATER, "ends_at": T0}),
]


@pytest.mark.parametrize("name,obj", MALFORMED, ids=[c[0] for c in MALFORMED])
def test_malformed_record(name: str, obj: object) -> None:
    with pytest.raises(MalformedMessage):
        normalize_silence_event(obj)


def test_a_closing_record_closes_whatever_else_is_wrong_with_it() -> None:
    board = SilenceBoard()
    board.apply(normalize_silence_event(CREATED))
    ev = normalize_silence_event({**ENDED, "matchers": "garbage", "ends_at": 5, "author": 3})
    change = board.apply(ev)
    assert change is not None and change.before and len(board) == 0


def test_board_is_bounded() -> None:
    board = SilenceBoard(max_current=2, keep_closed=1)
    for i in range(3):
        board.apply(normalize_silence_event(rec(f"s{i}", "created", T0 + i)))
    assert [s["silence_id"] for s in board.silences()] == ["s2", "s1"]
    assert board.evicted == 1
    for sid in ("s1", "s2"):
        board.apply(normalize_silence_event(rec(sid, "ended", T0 + 10)))
    # only the last closed id is remembered: the board stays bounded, never wrong for it
    assert board.apply(normalize_silence_event(rec("s2", "created", T0 + 1))) is None
    with pytest.raises(ValueError):
        SilenceBoard(max_current=0)


# --- the hub: panel state and marks -------------------------------------------------------
def alert(fp: str, entity: str, severity: str = "major", **extra: Any) -> dict[str, Any]:
    return {"alert_id": f"id-{fp}", "fingerprint": fp, "status": "firing",
            "severity": severity, "detector": "limit", "kind": "gas_concentration_high",
            "stream": "lifeline", "entity_id": entity, "district": "furong", **extra}


def state_event(fp: str, seq: int, labels: dict[str, str]) -> dict[str, Any]:
    return {"event_id": f"ae-{fp}-{seq}", "fingerprint": fp, "occurrence": 1, "seq": seq,
            "action": "fire", "to_state": "firing", "at_ms": T0 + seq, "actor": "detector:x",
            "labels": labels}


def test_hub_marks_the_alerts_a_silence_mutes() -> None:
    hub = AlertHub()
    for a in (alert("fa", "GASC-1"), alert("fb", "GASC-2"),
              alert("fc", "GASC-1", severity="minor")):
        hub.publish(a)
    sub = hub.subscribe()
    drain(sub.queue)
    assert hub.snapshot()["silences"] == [] and hub.snapshot()["silenced"] == {}

    hub.publish_silence_event(rec("s1", "created", T0, ["entity_id=GASC-1"]))
    hub.publish_silence_event(rec("s2", "created", T0 + 1,
                                  ["entity_id=GASC-1", "severity=~critical|major"]))
    hub.publish_silence_event(rec("s2", "created", T0 + 1))   # redelivery: nothing sent
    msgs = drain(sub.queue)
    assert [(m["type"], m["silence_id"], m["silence"]["author"]) for m in msgs] == \
        [("silence", "s1", "张伟"), ("silence", "s2", "张伟")]
    assert msgs[0]["silenced"] == {"fa": ["s1"], "fc": ["s1"]}
    assert msgs[1]["silenced"] == {"fa": ["s1", "s2"]}        # only the alerts it touches
    snap = hub.snapshot()
    assert [s["silence_id"] for s in snap["silences"]] == ["s2", "s1"]
    assert snap["silenced"] == {"fa": ["s1", "s2"], "fc": ["s1"]}
    assert hub.stats()["silences"] == 2

    # a new alert, or an alert that changes, carries its marks
    hub.publish(alert("fd", "GASC-1", severity="critical"))
    hub.publish(alert("fc", "GASC-1", severity="major"))
    hub.publish(alert("fb", "GASC-2"))
    assert [m["silenced_by"] for m in drain(sub.queue)] == [["s1", "s2"], ["s1", "s2"], []]

    # the end of a silence unmarks what it muted, and says so
    hub.publish_silence_event(rec("s1", "expired", T0 + MIN, actor="李娜"))
    (gone,) = drain(sub.queue)
    assert gone["silence"] is None and gone["event"]["action"] == "expired"
    assert gone["silenced"] == {"fa": ["s2"], "fc": ["s2"], "fd": ["s2"]}
    hub.publish_silence_event(rec("s1", "ended", T0 + MIN))     # the engine's own end: no news
    hub.publish_silence_event(rec("s1", "created", T0))         # late: stays gone
    assert drain(sub.queue) == []
    hub.publish_silence_event(rec("s2", "ended", T0 + MIN))
    assert drain(sub.queue)[0]["silenced"] == {"fa": [], "fc": [], "fd": []}
    assert hub.snapshot()["silenced"] == {} and hub.snapshot()["silences"] == []


def test_marks_use_the_engines_labels_of_the_lifecycle_state() -> None:
    hub = AlertHub()
    hub.publish_silence_event(rec("s1", "created", T0, ['building="B-7"']))
    sub = hub.subscribe()
    drain(sub.queue)
    # known by its lifecycle state only; its labels are the engine's (extra labels included)
    hub.publish_alert_event(state_event("fx", 1, {"kind": "k", "building": "B-7"}))
    hub.publish_alert_event(state_event("fy", 1, {"kind": "k", "building": "B-8"}))
    assert [(m["fingerprint"], m["silenced_by"]) for m in drain(sub.queue)] == \
        [("fx", ["s1"]), ("fy", [])]
    # a detector alert carrying the label in ``labels``: alerting.labels.labels_of's rule
    a = alert("fz", "GASC-3", labels={"building": "B-7"})
    assert labels_of(a)["building"] == "B-7"
    hub.publish(a)
    assert drain(sub.queue)[0]["silenced_by"] == ["s1"]
    assert hub.snapshot()["silenced"] == {"fx": ["s1"], "fz": ["s1"]}


def test_malformed_silence_records_are_counted_and_change_nothing() -> None:
    hub = AlertHub()
    hub.publish(alert("fa", "GASC-1"))
    sub = hub.subscribe()
    drain(sub.queue)
    for _, bad in MALFORMED:
        assert hub.publish_silence_event(bad, "cc.silence_events[0]@1") is False
    assert hub.counters.malformed == len(MALFORMED)
    assert drain(sub.queue) == [] and len(hub.silences) == 0
    assert hub.publish_silence_event(CREATED)
    assert hub.counters.received["silence event"] == 1
