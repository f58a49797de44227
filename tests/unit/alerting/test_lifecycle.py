"""alerting.lifecycle: the transition table, detector alerts, duplicates, ack timeouts,
flapping, forgetting, checkpoints, and replay of the event log (property-based)."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alerting.lifecycle import (ACKNOWLEDGED, FIRING, RESOLVED, TRANSITIONS, AlertBook,
                                AlertEvent, Command, CommandError, LifecycleConfig)
from schemas.records import make_alert, stable_id
from schemas.validate import format_event_time

T0 = 1_748_764_800_000  # 2025-06-01T08:00:00Z
MIN = 60_000
CFG = LifecycleConfig(ack_timeout_ms=10 * MIN, flap_changes=3, flap_window_ms=10 * MIN,
                      flap_quiet_ms=5 * MIN, resolved_ttl_ms=60 * MIN)


def alert(status: str = "firing", entity: str = "GAS-1", t: int = T0, ev: str = "ev-1",
          severity: str = "major", **kw: Any) -> dict[str, Any]:
    return make_alert(detector="limit", kind="gas_concentration_high", status=status,
                      severity=severity, stream="lifeline", entity_id=entity, district="yuelu",
                      district_zh="岳麓区", district_en="Yuelu", lat=28.2, lon=112.9,
                      event_time=format_event_time(t), value=25.0, threshold=20.0, unit="%LEL",
                      title_zh="燃气浓度超限", title_en="Gas high",
                      evidence=[ev] if ev else [], detected_at=format_event_time(t), **kw)


FP = alert()["fingerprint"]


def cmd(action: str, actor: str = "op-zhang", fp: str = FP, **kw: Any) -> Command:
    return Command(action, fp, actor, **kw)


def book_in(state: str, owner: str = "") -> AlertBook:
    """A book whose alert FP is in ``state`` (and claimed by ``owner``)."""
    b = AlertBook(CFG)
    b.apply(alert(), T0)
    if owner:
        b.apply(cmd("claim", owner), T0 + 1)
    if state == ACKNOWLEDGED:
        b.apply(cmd("ack"), T0 + 2)
    elif state == RESOLVED:
        b.apply(alert("resolved", ev="ev-2"), T0 + 2)
    return b


# --- the transition table: state x command -> state or error code ------------------------
TABLE = [
    (FIRING, "ack", ACKNOWLEDGED), (FIRING, "unack", "illegal_transition"),
    (FIRING, "claim", FIRING), (FIRING, "unclaim", "not_claimed"),
    (FIRING, "resolve", RESOLVED), (FIRING, "comment", FIRING),
    (ACKNOWLEDGED, "ack", "illegal_transition"), (ACKNOWLEDGED, "unack", FIRING),
    (ACKNOWLEDGED, "claim", ACKNOWLEDGED), (ACKNOWLEDGED, "unclaim", "not_claimed"),
    (ACKNOWLEDGED, "resolve", RESOLVED), (ACKNOWLEDGED, "comment", ACKNOWLEDGED),
    (RESOLVED, "ack", "illegal_transition"), (RESOLVED, "unack", "illegal_transition"),
    (RESOLVED, "claim", "illegal_transition"), (RESOLVED, "unclaim", "illegal_transition"),
    (RESOLVED, "resolve", "illegal_transition"), (RESOLVED, "comment", RESOLVED),
]


@pytest.mark.parametrize("state,action,expected", TABLE)
def test_transition_table(state: str, action: str, expected: str) -> None:
    b = book_in(state)
    before = b.snapshot()
    c = cmd(action, comment="checked on site")
    if expected in (FIRING, ACKNOWLEDGED, RESOLVED):
        [ev] = b.apply(c, T0 + MIN)
        assert (ev.from_state, ev.to_state, ev.action, ev.actor) == \
            (state, expected, action, "op-zhang")
        assert b.get(FP)["state"] == expected and ev.comment == "checked on site"
        assert not ev.notify or action == "resolve"
    else:
        with pytest.raises(CommandError) as exc:
            b.apply(c, T0 + MIN)
        assert exc.value.code == expected
        assert b.snapshot() == before  # a refused command changes nothing


def test_the_table_covers_every_state_and_command() -> None:
    # unclaim is legal in the state table; it is refused only because nobody claimed it
    legal = {(s, a) for s, a, e in TABLE if e in (FIRING, ACKNOWLEDGED, RESOLVED,
                                                   "not_claimed")}
    assert legal == set(TRANSITIONS)
    assert {(s, a) for s, a, _ in TABLE} == {(s, a) for s in (FIRING, ACKNOWLEDGED, RESOLVED)
                                             for a in ("ack", "unack", "claim", "unclaim",
                                                       "resolve", "comment")}


@pytest.mark.parametrize("state,action,expected", [
    (FIRING, "claim", "already_claimed"), (FIRING, "unclaim", FIRING),
    (ACKNOWLEDGED, "claim", "already_claimed"), (ACKNOWLEDGED, "unclaim", ACKNOWLEDGED),
])
def test_claims_of_a_claimed_alert(state: str, action: str, expected: str) -> None:
    b = book_in(state, owner="op-li")
    if expected.endswith("claimed"):
        with pytest.raises(CommandError) as exc:
            b.apply(cmd(action), T0 + MIN)
        assert exc.value.code == expected and "op-li" in exc.value.reason
    else:
        [ev] = b.apply(cmd(action), T0 + MIN)
        assert ev.to_state == expected and b.get(FP)["owner"] == ""


def test_claim_sets_the_owner_and_ack_the_acker() -> None:
    b = book_in(FIRING)
    b.apply(cmd("claim", "op-li"), T0 + 1)
    b.apply(cmd("ack", "op-wang", comment="en route"), T0 + 2)
    st_ = b.get(FP)
    assert (st_["owner"], st_["acked_by"], st_["ack_deadline"]) == \
        ("op-li", "op-wang", T0 + 2 + 10 * MIN)


# --- refused input: always CommandError with a code and a field ---------------------------
@pytest.mark.parametrize("item,code,field", [
    (Command("ack", "nope", "op"), "unknown_alert", "fingerprint"),
    (Command("ack", FP, ""), "missing_actor", "actor"),
    (Command("ack", FP, "   "), "missing_actor", "actor"),
    ({"action": "ack", "fingerprint": FP}, "missing_actor", "actor"),
    ({"action": "ack", "fingerprint": FP, "actor": None}, "missing_actor", "actor"),
    ({"action": "explode", "fingerprint": FP, "actor": "op"}, "unknown_action", "action"),
    ({"fingerprint": FP, "actor": "op", "action": 3}, "unknown_action", "action"),
    ({"action": "ack", "fingerprint": FP, "actor": "op", "who": 1}, "bad_command", "who"),
    ({"action": "ack", "fingerprint": 7, "actor": "op"}, "bad_command", "fingerprint"),
    ({"action": "ack", "fingerprint": FP, "actor": "op", "comment": None}, "bad_command",
     "comment"),
    ({"action": "ack", "fingerprint": FP, "actor": "x" * 129}, "bad_command", "actor"),
    ({"action": "ack", "fingerprint": FP, "actor": "op", "occurrence": "1"}, "bad_command",
     "occurrence"),
    ({"action": "ack", "fingerprint": FP, "actor": "op", "occurrence": 5}, "stale_occurrence",
     "occurrence"),
    (Command("comment", FP, "op"), "missing_comment", "comment"),
    ({**alert(), "fingerprint": ""}, "bad_alert", "fingerprint"),
    ({**alert(), "status": "burning"}, "bad_alert", "status"),
    ({**alert(), "severity": "huge"}, "bad_alert", "severity"),
    ({**alert(), "event_time": "2025-06-01T08:00:00"}, "bad_alert", "event_time"),
    ({**alert(), "event_time": None}, "bad_alert", "event_time"),
    ({k: v for k, v in alert().items() if k != "alert_id"}, "bad_alert", "alert_id"),
    ([1, 2], "bad_input", ""),
    (None, "bad_input", ""),
])
def test_refused_input_names_code_and_field(item: Any, code: str, field: str) -> None:
    b = book_in(FIRING)
    before = b.snapshot()
    with pytest.raises(CommandError) as exc:
        b.apply(item, T0 + MIN)
    assert (exc.value.code, exc.value.field) == (code, field)
    assert exc.value.reason and b.snapshot() == before


def test_an_unforeseen_failure_is_still_a_command_error() -> None:
    class Unprintable:
        def __str__(self) -> str:
            raise RuntimeError("no")
    b = AlertBook(CFG)
    with pytest.raises(CommandError) as exc:
        b.apply({**alert(), "labels": {"building": Unprintable()}}, T0)
    assert exc.value.code == "internal" and "RuntimeError" in exc.value.reason
    assert len(b) == 0


def test_now_must_be_epoch_ms() -> None:
    with pytest.raises(CommandError) as exc:
        AlertBook().apply(alert(), 1.5)  # type: ignore[arg-type]
    assert exc.value.code == "bad_time"


def test_a_command_dict_works_like_a_command() -> None:
    b = book_in(FIRING)
    [ev] = b.apply({"action": "ack", "fingerprint": FP, "actor": "op", "occurrence": 1}, T0 + 5)
    assert ev.to_state == ACKNOWLEDGED


# --- detector alerts ----------------------------------------------------------------------
def test_fire_update_resolve_refire() -> None:
    b = AlertBook(CFG)
    [e1] = b.apply(alert(), T0)
    assert (e1.action, e1.from_state, e1.to_state, e1.occurrence, e1.seq, e1.notify) == \
        ("fire", "", FIRING, 1, 1, True)
    assert e1.event_id == stable_id("alert-event", e1.occurrence_id, 1)
    assert (e1.kind, e1.entity_id, e1.district, e1.severity, e1.actor) == \
        ("gas_concentration_high", "GAS-1", "yuelu", "major", "detector:limit")
    assert dict(e1.labels)["stream"] == "lifeline" and e1.alert_id == alert()["alert_id"]
    [e2] = b.apply(alert(ev="ev-2", t=T0 + 1000), T0 + 1)      # a repeat: same alert
    assert (e2.action, e2.to_state, e2.occurrence, e2.seq, e2.notify) == \
        ("update", FIRING, 1, 2, False)
    [e3] = b.apply(alert(ev="ev-3", severity="critical"), T0 + 2)  # worse: tell receivers
    assert (e3.action, e3.severity, e3.notify) == ("update", "critical", True)
    [e4] = b.apply(alert("resolved", ev="ev-4"), T0 + 3)
    assert (e4.action, e4.from_state, e4.to_state, e4.notify) == \
        ("resolve", FIRING, RESOLVED, True)
    assert b.apply(alert("resolved", ev="ev-5"), T0 + 4) == []  # already resolved
    b.apply(cmd("comment", comment="valve closed"), T0 + 5)
    [e5] = b.apply(alert(ev="ev-6"), T0 + 6)
    assert (e5.action, e5.from_state, e5.occurrence, e5.seq) == ("refire", RESOLVED, 2, 1)
    assert e5.occurrence_id != e1.occurrence_id and b.get(FP)["owner"] == ""
    assert len(b) == 1 and b.active() == [FP]


def test_resolved_for_an_unknown_alert_is_nothing() -> None:
    b = AlertBook(CFG)
    assert b.apply(alert("resolved"), T0) == [] and len(b) == 0


def test_a_duplicate_delivery_is_a_no_op() -> None:
    b = AlertBook(CFG)
    msgs = [alert(), alert(ev="ev-2"), alert("resolved", ev="ev-3"), alert(ev="ev-4")]
    first = [e for m in msgs for e in b.apply(m, T0)]
    assert [e.action for e in first] == ["fire", "update", "resolve", "refire"]
    snap = b.snapshot()
    for m in msgs:  # the whole batch redelivered after a restart
        assert b.apply(m, T0 + MIN) == []
    assert b.snapshot() == snap


def test_evidence_less_alerts_are_told_apart_by_event_time() -> None:
    """NoData alerts carry no evidence, so their alert_id repeats; the event time differs."""
    b = AlertBook(CFG)
    b.apply(alert(ev=""), T0)
    b.apply(alert("resolved", ev=""), T0 + MIN)
    [ev] = b.apply(alert(ev="", t=T0 + 2 * MIN), T0 + 2 * MIN)
    assert (ev.action, ev.occurrence) == ("refire", 2)
    assert b.apply(alert(ev="", t=T0 + 2 * MIN), T0 + 3 * MIN) == []


def test_a_command_id_makes_a_redelivered_command_a_no_op() -> None:
    b = book_in(FIRING)
    assert len(b.apply(cmd("ack", command_id="c-1"), T0 + 1)) == 1
    assert b.apply(cmd("ack", command_id="c-1"), T0 + 2) == []  # not illegal_transition
    with pytest.raises(CommandError):
        b.apply(cmd("ack", command_id="c-2"), T0 + 3)


def test_a_replay_from_an_older_checkpoint_yields_the_same_event_ids() -> None:
    b = book_in(FIRING)
    snap = b.snapshot()
    live = b.apply(cmd("ack", command_id="c-1"), T0 + MIN) + b.apply(
        alert("resolved", ev="ev-9"), T0 + 2 * MIN)
    again = AlertBook(CFG)
    again.restore(snap)
    replayed = again.apply(cmd("ack", command_id="c-1"), T0 + 7 * MIN) + again.apply(
        alert("resolved", ev="ev-9"), T0 + 8 * MIN)
    assert [e.event_id for e in replayed] == [e.event_id for e in live]


# --- ack timeouts (injected clock) --------------------------------------------------------
# (steps after the alert fired at T0: (minute, command or "tick")), expected (minute, action)
ACK_CASES = [
    ("ack times out", [(1, "ack"), (10, "tick"), (11, "tick")], [(11, "retrigger")]),
    ("un-ack cancels it", [(1, "ack"), (5, "unack"), (20, "tick")], []),
    ("resolve cancels it", [(1, "ack"), (5, "resolve"), (20, "tick")], []),
    ("re-ack restarts the clock", [(1, "ack"), (5, "unack"), (6, "ack"), (12, "tick"),
                                   (16, "tick")], [(16, "retrigger")]),
    ("a late tick fires once", [(1, "ack"), (90, "tick"), (91, "tick")], [(90, "retrigger")]),
    ("ack after re-trigger times out again", [(1, "ack"), (11, "tick"), (12, "ack"),
                                              (22, "tick")], [(11, "retrigger"),
                                                              (22, "retrigger")]),
]


@pytest.mark.parametrize("name,steps,expected", ACK_CASES, ids=[c[0] for c in ACK_CASES])
def test_ack_timeouts(name: str, steps: list[tuple[int, str]],
                      expected: list[tuple[int, str]]) -> None:
    b = book_in(FIRING)
    got = []
    for minute, what in steps:
        now = T0 + minute * MIN
        evs = b.tick(now) if what == "tick" else b.apply(cmd(what), now)
        got += [(minute, e.action) for e in evs if e.action == "retrigger"]
        for e in evs:
            if e.action == "retrigger":
                assert (e.from_state, e.to_state, e.notify, e.actor) == \
                    (ACKNOWLEDGED, FIRING, True, "system")
    assert got == expected


def test_no_ack_timeout_when_disabled() -> None:
    b = AlertBook(LifecycleConfig(ack_timeout_ms=None))
    b.apply(alert(), T0)
    b.apply(cmd("ack"), T0)
    assert b.tick(T0 + 10**10) == []
    assert b.get(FP)["state"] == ACKNOWLEDGED


# --- flapping: more than 3 changes within 10 minutes, quiet after 5 -----------------------
def test_flapping_holds_notifications_and_settles_after_a_quiet_period() -> None:
    b = AlertBook(CFG)
    seq = ["firing", "resolved", "firing", "resolved", "firing"]
    out = []
    for i, status in enumerate(seq):
        out += [(i, e.action, e.notify) for e in
                b.apply(alert(status, ev=f"ev-{i}"), T0 + i * MIN)]
    assert out == [(0, "fire", True), (1, "resolve", True), (2, "refire", True),
                   (3, "resolve", False), (3, "flapping", False), (4, "refire", False)]
    assert b.get(FP)["flapping"] is True
    assert b.tick(T0 + 8 * MIN) == []          # last change at 4 min; quiet until 9
    [ev] = b.tick(T0 + 9 * MIN)
    # receivers last heard "firing" (at 2), the alert is firing: nothing new to tell
    assert (ev.action, ev.to_state, ev.notify) == ("unflapping", FIRING, False)
    assert b.get(FP)["flapping"] is False


def test_flapping_ends_with_the_held_back_state_when_it_changed() -> None:
    b = AlertBook(CFG)
    for i, status in enumerate(["firing", "resolved", "firing", "resolved"]):
        b.apply(alert(status, ev=f"ev-{i}"), T0 + i * MIN)
    [ev] = b.tick(T0 + 8 * MIN)
    assert (ev.action, ev.to_state, ev.notify) == ("unflapping", RESOLVED, True)


def test_changes_spread_wider_than_the_window_do_not_flap() -> None:
    b = AlertBook(CFG)
    for i, status in enumerate(["firing", "resolved"] * 4):
        evs = b.apply(alert(status, ev=f"ev-{i}"), T0 + i * 4 * MIN)
        assert [e.notify for e in evs] == [True]
    assert b.get(FP)["flapping"] is False


# --- forgetting resolved alerts -----------------------------------------------------------
def test_resolved_alerts_are_forgotten_after_the_ttl() -> None:
    b = book_in(RESOLVED)
    first = b.get(FP)["occurrence_id"]
    assert b.tick(T0 + 59 * MIN) == []
    [ev] = b.tick(T0 + 61 * MIN)
    assert ev.action == "forget" and len(b) == 0 and b.get(FP) is None
    [again] = b.apply(alert(ev="ev-7", t=T0 + 70 * MIN), T0 + 70 * MIN)
    assert (again.action, again.occurrence) == ("fire", 1)
    assert again.occurrence_id != first  # so its event ids differ from the first life's


def test_a_refired_alert_is_not_forgotten_on_the_old_deadline() -> None:
    b = book_in(RESOLVED)
    b.apply(alert(ev="ev-8"), T0 + 30 * MIN)
    assert [e.action for e in b.tick(T0 + 61 * MIN)] == [] and len(b) == 1


def test_a_resolved_alert_resolved_again_is_forgotten_after_its_last_resolve() -> None:
    # every resolve moves the forget deadline; the book queues one entry per alert and
    # kind (not one per resolve), and the deadline that counts is the last resolve's
    b = AlertBook(LifecycleConfig(flap_changes=1000, resolved_ttl_ms=60 * MIN))
    for i in range(200):
        t = T0 + i * 20_000
        b.apply(alert("firing" if i % 2 == 0 else "resolved", ev=f"ev-{i}", t=t), t)
        assert b.tick(t) == []
    last_resolve = T0 + 199 * 20_000
    assert len(b._heap) <= 3
    assert b.tick(last_resolve + 60 * MIN - 1) == [] and len(b) == 1
    [ev] = b.tick(last_resolve + 60 * MIN)
    assert ev.action == "forget" and len(b) == 0


# --- checkpoints and replay ---------------------------------------------------------------
def test_snapshot_is_json_and_restore_keeps_the_deadlines() -> None:
    b = book_in(FIRING, owner="op-li")
    b.apply(cmd("ack"), T0 + MIN)
    snap = json.loads(json.dumps(b.snapshot()))
    r = AlertBook(CFG)
    r.restore(snap)
    assert r == b
    [ev] = r.tick(T0 + 11 * MIN)
    assert ev.action == "retrigger" and r.get(FP)["owner"] == "op-li"


def test_restore_refuses_a_foreign_snapshot() -> None:
    with pytest.raises(ValueError):
        AlertBook().restore({"version": 99})


def test_event_dicts_round_trip_and_a_log_with_duplicates_replays() -> None:
    b = AlertBook(CFG)
    log = b.apply(alert(), T0) + b.apply(cmd("ack", comment="ok"), T0 + 1)
    log += b.apply(alert("resolved", ev="ev-2"), T0 + 2)
    rows = [json.loads(json.dumps(e.to_dict())) for e in log]
    assert [AlertEvent.from_dict(r) for r in rows] == log
    assert AlertBook.from_events(rows + rows, CFG) == b  # at-least-once sink: no harm


ENTITIES = ["GAS-1", "GAS-2", "BR-3"]
steps = st.lists(st.one_of(
    st.tuples(st.just("alert"), st.sampled_from(["firing", "resolved"]),
              st.sampled_from(ENTITIES), st.integers(0, 6),
              st.sampled_from(["critical", "major", "minor"])),
    st.tuples(st.just("cmd"), st.sampled_from(["ack", "unack", "claim", "unclaim", "resolve",
                                               "comment"]),
              st.sampled_from(ENTITIES), st.sampled_from(["", "op-a", "op-b"]),
              st.integers(0, 5)),
    st.tuples(st.just("tick"), st.integers(0, 30))), max_size=60)
FPS = {e: alert(entity=e)["fingerprint"] for e in ENTITIES}


def run(book: AlertBook, plan: list[tuple[Any, ...]], dup: bool = False) -> list[AlertEvent]:
    """Play ``plan`` a minute apart; ``dup``: deliver every alert and every command with a
    command_id a second time at once, and insist that the copy does nothing."""
    now, out = T0, []
    for step in plan:
        now += MIN
        if step[0] == "tick":
            now += step[1] * MIN
            out += book.tick(now)
            continue
        if step[0] == "alert":
            _, status, ent, ev, sev = step
            item: Any = alert(status, entity=ent, ev=f"ev-{ev}", t=now, severity=sev)
        else:
            _, action, ent, actor, cid = step
            item = Command(action, FPS[ent], actor, comment="note",
                           command_id=f"c-{cid}" if cid else "")
        try:
            out += book.apply(item, now)
        except CommandError:
            pass  # refused: must change nothing (checked by the replay equality)
        if dup and (step[0] == "alert" or item.command_id):
            before = book.snapshot()
            try:
                assert book.apply(item, now) == []
            except CommandError:
                pass
            assert book.snapshot() == before
    return out


@settings(max_examples=300, deadline=None)
@given(steps)
def test_replaying_the_events_rebuilds_the_book(plan: list[tuple[Any, ...]]) -> None:
    live = AlertBook(CFG)
    log = run(live, plan)
    assert AlertBook.from_events(log, CFG) == live
    restored = AlertBook(CFG)
    restored.restore(json.loads(json.dumps(live.snapshot())))
    assert restored == live
    assert len({e.event_id for e in log}) == len(log)  # ids never collide
    for e in log:
        assert e.seq >= 1 and e.occurrence >= 1 and e.to_state in (FIRING, ACKNOWLEDGED,
                                                                    RESOLVED)


@settings(max_examples=300, deadline=None)
@given(steps)
def test_duplicate_delivery_is_idempotent(plan: list[tuple[Any, ...]]) -> None:
    """Every input delivered twice gives exactly the events and the book of once."""
    once, twice = AlertBook(CFG), AlertBook(CFG)
    assert run(twice, plan, dup=True) == run(once, plan)
    assert twice == once


def test_ten_thousand_active_alerts_tick_without_scanning() -> None:
    b = AlertBook(LifecycleConfig(ack_timeout_ms=60 * MIN))
    for i in range(10_000):
        b.apply(alert(entity=f"S-{i}", ev=f"e-{i}"), T0 + i)
        b.apply(Command("ack", alert(entity=f"S-{i}")["fingerprint"], "op"), T0 + i)
    start = time.perf_counter()
    for k in range(5_000):
        assert b.tick(T0 + 10_000 + k) == []
    took = time.perf_counter() - start
    assert took < 1.0, f"5000 idle ticks over 10k alerts took {took:.2f}s: a scan?"
    due = b.tick(T0 + 60 * MIN + 10_000)
    assert len(due) == 10_000 and {e.action for e in due} == {"retrigger"}


# --- expiry: an alert carries its own end (Alertmanager's endsAt), refreshed by its detector
def test_an_alert_not_reasserted_by_its_ends_at_resolves_with_the_reason() -> None:
    """Issue 12, item 3: a firing alert that nobody re-asserts resolves at its ends_at."""
    b = AlertBook(CFG)
    fire = b.apply(alert(ends_at=format_event_time(T0 + 5 * MIN)), T0)
    assert fire[0].ends_ms == T0 + 5 * MIN
    # re-asserted at +3 min (same alert id, the time of the re-assertion): the end moves
    again = alert(t=T0 + 3 * MIN, ends_at=format_event_time(T0 + 8 * MIN), reasserted=True)
    upd = b.apply(again, T0 + 3 * MIN)
    assert [(e.action, e.ends_ms, e.notify) for e in upd] == [("update", T0 + 8 * MIN, False)]
    assert b.apply(again, T0 + 3 * MIN + 5) == []          # a redelivery collapses
    assert b.tick(T0 + 8 * MIN - 1) == []                   # the old end passed: nothing
    b.apply(cmd("ack"), T0 + 4 * MIN)                       # acknowledged ones expire too
    out = b.tick(T0 + 9 * MIN)
    assert [(e.action, e.to_state, e.actor, e.comment, e.at_ms, e.ends_ms) for e in out] == \
        [("resolve", RESOLVED, "system", "not_reasserted", T0 + 8 * MIN, 0)]
    assert b.get(FP)["state"] == RESOLVED and b.tick(T0 + 20 * MIN) == []
    # the firing receivers heard of is resolved for them too
    assert out[0].notify is True


def test_the_expiry_survives_a_checkpoint_and_a_rebuild_from_the_log() -> None:
    b = AlertBook(CFG)
    log = b.apply(alert(ends_at=format_event_time(T0 + 5 * MIN)), T0)
    log += b.apply(alert(t=T0 + MIN, ends_at=format_event_time(T0 + 6 * MIN),
                         reasserted=True), T0 + MIN)
    restored = AlertBook(CFG)
    restored.restore(json.loads(json.dumps(b.snapshot())))
    rebuilt = AlertBook.from_events(json.loads(json.dumps([e.to_dict() for e in log])), CFG)
    for book in (restored, rebuilt):
        assert book == b
        assert book.tick(T0 + 6 * MIN - 1) == []
        assert [e.comment for e in book.tick(T0 + 6 * MIN)] == ["not_reasserted"]


def test_an_alert_without_an_end_never_expires_and_a_bad_end_is_refused() -> None:
    b = AlertBook(CFG)
    b.apply(alert(), T0)
    assert not [e for e in b.tick(T0 + 10**9) if e.action == "resolve"]
    assert b.get(FP)["state"] != RESOLVED
    with pytest.raises(CommandError) as exc:
        AlertBook(CFG).apply(alert(ends_at="tomorrow"), T0)
    assert (exc.value.code, exc.value.field) == ("bad_alert", "ends_at")
    # an older log without ends_ms still rebuilds
    d = b.apply(alert("resolved", ev="ev-9"), T0 + MIN)[0].to_dict()
    del d["ends_ms"]
    assert AlertEvent.from_dict(d).ends_ms == 0


def test_the_current_events_are_the_last_of_each_alert_not_resolved() -> None:
    """What a starting worker publishes again: every alert it holds, as last published."""
    b = AlertBook(CFG)
    b.apply(alert(entity="A"), T0)
    acked = b.apply(Command("ack", alert(entity="A")["fingerprint"], "op"), T0 + 1)
    b.apply(alert(entity="B"), T0)
    b.apply(alert("resolved", entity="B", ev="ev-2"), T0 + 2)
    assert b.current() == acked
    again = AlertBook(CFG)
    again.restore(json.loads(json.dumps(b.snapshot())))
    assert again.current() == acked
    assert AlertBook.from_events([e for e in acked], CFG).current() == acked
