"""Issue 13, item 3: a pause costs one firing of each timer, and times far from now are refused.

One alert with ``detected_at`` in 2000 made the next tick queue 445,605 notifications (the
group re-sent every ``repeat_interval`` since 2000), year 1 exhausted memory; after ordinary
downtime one firing alert gave 12 notifications after 4 hours down and 340 after 7 days.
A repeat is one notification however many intervals were missed, the same holds for every
timer that steps by an interval (escalation, held-back groups), and the engine refuses
inputs whose times lie outside its window (``out_of_window``).
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any

import pytest

from alerting.config import default_config, load_config
from alerting.engine import Engine
from alerting.grouping import Grouper
from alerting.routing import Route
from alerting.timers import next_due
from alerting.window import MAX_AHEAD_MS, MAX_FUTURE_MS, MAX_PAST_MS, TimeWindow
from schemas.records import make_alert
from schemas.validate import format_event_time
from unit_helpers import NOW_MS, PROFILE

S, H, D = 1000, 3_600_000, 86_400_000
YEAR_2000 = int(datetime(2000, 1, 1, tzinfo=timezone.utc).timestamp() * 1000)
YEAR_1 = int((datetime(1, 1, 1, tzinfo=timezone.utc)
              - datetime(1970, 1, 1, tzinfo=timezone.utc)).total_seconds() * 1000)


def water(t: int, entity: str = "WP-1", **kw: Any) -> dict[str, Any]:
    """A minor water alert: routed to the water utility only (repeat_interval 4 h... its
    route's), no escalation policy pages it."""
    fields = dict(detector="limit", kind="water_pressure_low", status="firing",
                  severity="minor", stream="lifeline", entity_id=entity, district="furong",
                  district_zh="芙蓉区", district_en="Furong", lat=28.19, lon=112.99,
                  event_time=format_event_time(t), value=1.0, threshold=1.0, unit="",
                  title_zh="测试", title_en="test", evidence=["e1"],
                  detected_at=format_event_time(t))
    fields.update(kw)
    return make_alert(**fields)


def groups_sent(e: Engine, now: int) -> list[tuple[str, str]]:
    """(receiver, reason) of the group notifications due by ``now`` (taken)."""
    out = []
    for a in e.outbox.due(now):
        if "reason" in a.notification.details:
            out.append((a.notification.receiver, a.notification.details["reason"]))
        e.outbox.result(a, "ok", now)
    return out


@pytest.mark.parametrize("down_ms", [4 * H, 7 * D], ids=["4 h down", "7 days down"])
def test_one_firing_alert_after_downtime_gives_one_repeat(down_ms: int) -> None:
    e = Engine(default_config(), PROFILE)
    e.alerts([water(NOW_MS)], NOW_MS)
    e.tick(NOW_MS + 60 * S)
    first = groups_sent(e, NOW_MS + 60 * S)
    assert first and {why for _, why in first} == {"initial"}
    back = NOW_MS + 60 * S + down_ms             # the worker was down meanwhile
    e.tick(back)
    again = groups_sent(e, back)
    assert sorted(again) == sorted((r, "repeat") for r, _ in first)   # was 12 / 340
    e.tick(back + 60 * S)
    assert groups_sent(e, back + 60 * S) == []   # and the next one is a full interval on
    repeat = min(r.repeat_interval_ms for r in _routes(e) if r.receiver in
                 {x for x, _ in first})
    e.tick(back + repeat)
    assert sorted(groups_sent(e, back + repeat)) == sorted(again)


def _routes(e: Engine) -> list[Any]:
    out, todo = [], [e.grouper.root]
    while todo:
        r = todo.pop()
        out.append(r)
        todo += list(r.routes)
    return out


@pytest.mark.parametrize("when", [YEAR_2000, YEAR_1], ids=["year 2000", "year 1"])
def test_an_alert_dated_long_ago_is_refused_with_a_code(when: int) -> None:
    e = Engine(default_config(), PROFILE)
    msg = water(NOW_MS, detected_at=format_event_time(when) if when > 0 else
                "0001-01-01T00:00:00Z")
    out = e.alerts([msg, water(NOW_MS, "WP-2")], NOW_MS)
    assert [(r.code, r.field, r.index) for r in out.rejected] == [
        ("out_of_window", "detected_at", 0)]
    assert [ev.entity_id for ev in out.alert_events] == ["WP-2"]
    started = time.perf_counter()
    assert e.tick(NOW_MS + 60 * S).offered == 1 and len(e.outbox) == 1   # was 445,605
    assert time.perf_counter() - started < 1.0


def test_a_group_made_long_ago_flushes_once_and_repeats_from_now() -> None:
    """The same class one level down: the grouper alone, given a time in 2000."""
    root = Route.build(load_config("route: {receiver: r, group_by: [kind], group_wait: 30s,"
                                   " group_interval: 5m, repeat_interval: 4h}").route)
    g = Grouper(root)
    g.add({"kind": "k"}, "fp", "firing", YEAR_2000)
    started = time.perf_counter()
    flushes = g.due(NOW_MS)
    assert time.perf_counter() - started < 1.0
    assert [(f.reason, f.at_ms) for f in flushes] == [("initial", YEAR_2000 + 30 * S)]
    assert g.next_due_ms() == NOW_MS + 4 * H


def test_a_muted_group_does_not_replay_every_missed_look() -> None:
    """A held-back (muted) alert is looked at again each group_interval: after ten years
    away that was a million looks in one due() call."""
    root = Route.build(load_config("route: {receiver: r, group_wait: 30s, group_interval: "
                                   "5m, repeat_interval: 4h}").route)
    g = Grouper(root)
    g.add({"kind": "k"}, "fp", "firing", NOW_MS)
    assert g.due(NOW_MS + 30 * S, muted=lambda labels, fp: True) == []
    later = NOW_MS + 3650 * D
    started = time.perf_counter()
    assert g.due(later, muted=lambda labels, fp: True) == []
    assert time.perf_counter() - started < 0.5
    assert g.next_due_ms() == later + 5 * 60 * S
    (flush,) = g.due(later + 5 * 60 * S, muted=None)   # unmuted: told at the next look
    assert flush.firing == ("fp",)


def test_escalation_after_downtime_pages_once_then_keeps_its_spacing() -> None:
    e = Engine(default_config(), PROFILE)
    gas = water(NOW_MS, "GASC-9", kind="gas_concentration_high", severity="critical")
    out = e.alerts([gas], NOW_MS)
    fp = out.alert_events[0].fingerprint
    first = [n for n in _pages(e, NOW_MS)]
    assert [lvl for lvl, _ in first] == [1]
    back = NOW_MS + 7 * D
    e.tick(back)
    assert [lvl for lvl, _ in _pages(e, back)] == [2]    # not every level and round at once
    run = e.escalator.running(fp)
    assert run is not None and run["step"] == 2
    e.tick(back + 1000)
    assert _pages(e, back + 1000) == []


def _pages(e: Engine, now: int) -> list[tuple[int, str]]:
    out = []
    for a in e.outbox.due(now):
        if a.notification.level:
            out.append((a.notification.level, a.notification.receiver))
        e.outbox.result(a, "ok", now)
    return sorted(set(out))


@pytest.mark.parametrize("field, value, ok", [
    ("detected_at", NOW_MS - MAX_PAST_MS, True),            # a week late: replayed backlog
    ("detected_at", NOW_MS - MAX_PAST_MS - 1, False),
    ("detected_at", NOW_MS + MAX_FUTURE_MS, True),          # clock skew
    ("detected_at", NOW_MS + MAX_FUTURE_MS + 1, False),
    ("event_time", NOW_MS - MAX_PAST_MS - 1, False),
    ("event_time", NOW_MS + 2 * H, False),
    ("ends_at", NOW_MS + 30 * D, True),                     # a deadline may lie ahead
    ("ends_at", NOW_MS + MAX_AHEAD_MS + 1, False),
    ("ends_at", YEAR_2000, False),
])
def test_the_window_of_each_time_of_an_alert(field: str, value: int, ok: bool) -> None:
    e = Engine(default_config(), PROFILE)
    out = e.alerts([water(NOW_MS, **{field: format_event_time(value)})], NOW_MS)
    assert [(r.code, r.field) for r in out.rejected] == ([] if ok else
                                                           [("out_of_window", field)])


def test_a_dispatch_record_outside_the_window_is_refused() -> None:
    e = Engine(default_config(), PROFILE)
    call = {"stream": "ems", "event": {"event_id": "c1", "type": "call", "entity_id": "CALL-1",
                                       "event_time": format_event_time(YEAR_2000),
                                       "lat": 28.19, "lon": 112.99}}
    out = e.dispatch([call], NOW_MS)
    assert [(r.command_id, r.code, r.field, r.index) for r in out.rejected] == [
        ("c1", "out_of_window", "event_time", 0)]


def test_a_silence_ending_beyond_the_window_is_refused() -> None:
    e = Engine(default_config(), PROFILE)
    cmd = {"command_id": "s1", "action": "silence", "actor": "值班长", "reason": "检修",
           "matchers": ['entity_id="WP-1"'],
           "ends_at": format_event_time(NOW_MS + MAX_AHEAD_MS + D)}
    out = e.command(cmd, NOW_MS)
    assert [(r.code, r.field) for r in out.rejected] == [("out_of_window", "ends_at")]
    made = e.command({**cmd, "ends_at": format_event_time(NOW_MS + 30 * D)}, NOW_MS)
    assert made.applied == ["s1"] and e.silencer.silences()
    (sid,) = [s.id for s in e.silencer.silences()]
    far = {"command_id": "x1", "action": "extend_silence", "actor": "值班长", "silence_id": sid,
           "ends_at": format_event_time(NOW_MS + 400 * D)}
    assert [r.code for r in e.command(far, NOW_MS).rejected] == ["out_of_window"]


def test_next_due_resumes_from_now() -> None:
    assert next_due(100, 10, 105) == 110       # on schedule
    assert next_due(100, 10, 110) == 120       # due exactly now: the next one
    assert next_due(100, 10, 10_000) == 10_010  # behind: one interval from now
    with pytest.raises(ValueError):
        TimeWindow(past_ms=-1)
