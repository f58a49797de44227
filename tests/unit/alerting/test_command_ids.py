"""Issue 13, item 7: every command is idempotent by ``command_id``, across a restart.

The cockpit tells a client to resend a command answered ``unavailable``, but a resent
``add_note`` added the note twice, a resent ``silence`` made a second silence (its id comes
from the time it is applied) and a resent ``extend_silence`` recorded a second change. The
engine remembers the ids it applied (bounded, checkpointed): a resend changes nothing and is
answered ok, as a duplicate; a command without an id is refused.
"""

from __future__ import annotations

from typing import Any, Callable

import orjson
import pytest

from alerting.command_ids import MAX_REMEMBERED, REMEMBER_MS, CommandIds
from alerting.config import default_config
from alerting.engine import Engine
from schemas.records import make_alert
from schemas.validate import format_event_time
from unit_helpers import NOW_MS, PROFILE

S = 1000


def gas(entity: str, t: int = NOW_MS, evidence: str = "e1") -> dict[str, Any]:
    return make_alert(detector="limit", kind="gas_concentration_high", status="firing",
                      severity="critical", stream="lifeline", entity_id=entity,
                      district="furong", district_zh="芙蓉区", district_en="Furong", lat=28.19,
                      lon=112.99, event_time=format_event_time(t), value=1.0, threshold=1.0,
                      unit="", title_zh="测试", title_en="test", evidence=[evidence],
                      detected_at=format_event_time(t))


def started() -> tuple[Engine, str, str, str]:
    """An engine with an incident (two gas alerts), a silence; (engine, fp, incident, sid)."""
    e = Engine(default_config(), PROFILE)
    out = e.alerts([gas("GASC-1"), gas("GASC-2", evidence="e2")], NOW_MS)
    fp = out.alert_events[0].fingerprint
    iid = next(ev.incident_id for ev in out.incident_events if ev.kind == "opened")
    made = e.command({"command_id": "s0", "action": "silence", "actor": "值班长",
                      "matchers": ['entity_id="GASC-9"'], "reason": "检修",
                      "ends_at": format_event_time(NOW_MS + 600 * S)}, NOW_MS)
    return e, fp, iid, made.silence_events[0]["silence_id"]


def restarted(e: Engine) -> Engine:
    again = Engine(default_config(), PROFILE)
    again.restore(orjson.loads(orjson.dumps(e.snapshot())))
    return again


# each command an operator can give: (name, make(fp, incident, silence) -> command)
COMMANDS: list[tuple[str, Callable[[str, str, str], dict[str, Any]]]] = [
    ("add_note", lambda fp, iid, sid: {"action": "add_note", "incident_id": iid,
                                       "text": "疏散半径 200 米"}),
    ("silence", lambda fp, iid, sid: {"action": "silence", "matchers": ['entity_id="GASC-1"'],
                                      "reason": "抢修", "ends_at":
                                      format_event_time(NOW_MS + 3600 * S)}),
    ("extend_silence", lambda fp, iid, sid: {"action": "extend_silence", "silence_id": sid,
                                             "ends_at": format_event_time(NOW_MS + 7200 * S)}),
    ("expire_silence", lambda fp, iid, sid: {"action": "expire_silence", "silence_id": sid}),
    ("ack", lambda fp, iid, sid: {"action": "ack", "fingerprint": fp, "comment": "已派员"}),
    ("comment", lambda fp, iid, sid: {"action": "comment", "fingerprint": fp,
                                      "comment": "现场确认"}),
    ("resolve_incident", lambda fp, iid, sid: {"action": "resolve_incident",
                                               "incident_id": iid}),
    ("link_call", lambda fp, iid, sid: {"action": "link_call", "incident_id": iid,
                                        "call_id": "CALL-1", "stream": "ems"}),
]


def changes(out: Any) -> tuple[int, int, int]:
    return len(out.alert_events), len(out.incident_events), len(out.silence_events)


@pytest.mark.parametrize("restart", [False, True], ids=["same worker", "after a restart"])
@pytest.mark.parametrize("name, make", COMMANDS, ids=[c[0] for c in COMMANDS])
def test_a_resent_command_is_answered_and_changes_nothing(
        name: str, make: Callable[[str, str, str], dict[str, Any]], restart: bool) -> None:
    e, fp, iid, sid = started()
    cmd = {"command_id": f"c-{name}", "actor": "指挥长", **make(fp, iid, sid)}
    first = e.command(cmd, NOW_MS + 10 * S)
    assert first.rejected == [] and first.applied == [cmd["command_id"]]
    assert first.duplicates == [] and sum(changes(first)) >= 1
    if restart:
        e = restarted(e)
    before = orjson.dumps(e.snapshot())
    # resent later, with the cockpit's new ``at`` (it stamps every send)
    again = e.command({**cmd, "at": format_event_time(NOW_MS + 30 * S)}, NOW_MS + 30 * S)
    assert again.rejected == [] and changes(again) == (0, 0, 0)
    assert again.applied == again.duplicates == [cmd["command_id"]]
    assert orjson.dumps(e.snapshot()) == before


def test_a_command_without_a_command_id_is_refused() -> None:
    e, fp, iid, sid = started()
    note = {"action": "add_note", "actor": "指挥长", "incident_id": iid, "text": "x"}
    for cmd, code in ((note, "missing_field"), ({**note, "command_id": ""}, "missing_field"),
                      ({**note, "command_id": "  "}, "empty"),
                      ({**note, "command_id": 7}, "bad_command"),
                      ({**note, "command_id": "c" * 129}, "bad_command")):
        before = orjson.dumps(e.snapshot())
        out = e.command(cmd, NOW_MS + S)
        assert [(r.code, r.field) for r in out.rejected] == [(code, "command_id")]
        assert out.applied == [] and orjson.dumps(e.snapshot()) == before


def test_an_id_reused_for_another_command_is_refused() -> None:
    e, fp, iid, sid = started()
    e.command({"command_id": "n1", "action": "add_note", "actor": "甲", "incident_id": iid,
               "text": "first"}, NOW_MS + S)
    out = e.command({"command_id": "n1", "action": "add_note", "actor": "甲",
                     "incident_id": iid, "text": "second"}, NOW_MS + 2 * S)
    assert [(r.code, r.field) for r in out.rejected] == [("reused_command_id", "command_id")]
    assert out.incident_events == []


def test_a_refused_command_is_not_remembered() -> None:
    """Only applied ids are: a resend after the state changed may apply."""
    e, fp, iid, sid = started()
    cmd = {"command_id": "u1", "action": "unack", "actor": "甲", "fingerprint": fp}
    assert [r.code for r in e.command(cmd, NOW_MS + S).rejected] == ["illegal_transition"]
    e.command({"command_id": "a1", "action": "ack", "actor": "甲", "fingerprint": fp},
              NOW_MS + 2 * S)
    assert e.command(cmd, NOW_MS + 3 * S).duplicates == []
    assert e.command(cmd, NOW_MS + 4 * S).duplicates == ["u1"]


def test_a_checkpoint_from_before_the_memory_loads() -> None:
    e, fp, iid, sid = started()
    state = orjson.loads(orjson.dumps(e.snapshot()))
    del state["command_ids"]
    again = Engine(default_config(), PROFILE)
    again.restore(state)
    assert len(again.command_ids) == 0 and again.book.active()


def test_the_memory_is_bounded_by_count_and_by_age() -> None:
    ids = CommandIds(max_remembered=3, remember_ms=10 * S)
    cmd = {"action": "x"}
    for i in range(5):
        ids.remember(f"c{i}", cmd, NOW_MS + i)
    assert len(ids) == 3 and not ids.seen("c1", cmd) and ids.seen("c4", cmd)
    ids.remember("late", cmd, NOW_MS + 11 * S)       # the others are older than 10 s
    assert len(ids) == 1 and ids.seen("late", cmd)
    again = CommandIds()
    again.restore(orjson.loads(orjson.dumps(ids.snapshot())))
    assert again.seen("late", cmd) and again.snapshot() == ids.snapshot()
    assert MAX_REMEMBERED >= 10_000 and REMEMBER_MS >= 3_600_000
