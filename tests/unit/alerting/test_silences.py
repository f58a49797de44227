"""alerting.silences: silences and maintenance windows with an injected clock; a muted
alert's resolve is still recorded and sent; mutes that end re-notify what still fires."""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from alerting.config import load_config
from alerting.grouping import Grouper
from alerting.labels import parse_matchers
from alerting.routing import Route
from alerting.silences import MaintenanceWindow, Silence, SilenceEnded, SilenceError, \
    Silencer, silence_id
from citycc import native
from unit_helpers import NOW_MS

M, H = 60_000, 3_600_000
SHANGHAI = ZoneInfo("Asia/Shanghai")


def silence(sid: str, *matchers: str, start: int = 0, end: int | None = 60,
            until_resolved: bool = False, author: str = "王工",
            reason: str = "检修") -> Silence:
    """A silence from ``NOW_MS + start`` to ``NOW_MS + end`` minutes."""
    return Silence(sid, parse_matchers(list(matchers)), NOW_MS + start * M,
                   None if end is None else NOW_MS + end * M, author, reason, until_resolved)


def at(minutes: float) -> int:
    return NOW_MS + int(minutes * M)


SILENCES = yaml.safe_load("""
- [s-entity, ['entity_id="S1"'], 0, 60]
- [s-quality, ['kind=~"sensor_.*"', 'district!="kaifu"'], 0, null]
- [s-later, ['stream="fire"'], 30, 90]
- [s-empty-eq, ['building=""', 'stream="fire"'], 0, 60]
""")
S1 = {"entity_id": "S1", "kind": "gas_pressure_low", "stream": "lifeline", "district": "yuelu"}
STUCK = {"entity_id": "S2", "kind": "sensor_stuck", "stream": "lifeline", "district": "yuelu"}
FIRE = {"entity_id": "B1", "kind": "fire_alarm", "stream": "fire", "building": "B1"}


@pytest.mark.parametrize("labels, minute, expected", [
    (S1, 0, ("s-entity",)),
    (S1, 59.99, ("s-entity",)),
    (S1, 60, ()),                                          # ends_ms is exclusive
    ({**S1, "entity_id": "S9"}, 10, ()),
    (STUCK, 10, ("s-quality",)),
    ({**STUCK, "district": "kaifu"}, 10, ()),
    ({**STUCK, "entity_id": "S1"}, 10, ("s-entity", "s-quality")),
    (FIRE, 10, ()),
    (FIRE, 30, ("s-later",)),
    ({**FIRE, "building": ""}, 40, ("s-empty-eq", "s-later")),
    (FIRE, 90, ()),
])
def test_mutes(labels: dict[str, str], minute: float, expected: tuple[str, ...]) -> None:
    s = Silencer()
    for sid, matchers, start, end in SILENCES:
        s.add(silence(sid, *matchers, start=start, end=end), NOW_MS)
    assert s.mutes(labels, at(minute)) == expected


@pytest.mark.parametrize("kwargs, field", [
    ({"author": ""}, "author"), ({"author": "  "}, "author"), ({"reason": ""}, "reason"),
    ({"author": None}, "author"), ({"end": -1}, "ends_ms")])
def test_a_silence_needs_who_and_why(kwargs: dict[str, Any], field: str) -> None:
    if kwargs.get("author", "") is None and native.active():
        # a compiled Silence enforces its field types itself (citycc.native); commands are
        # checked before one is made (test_engine: a silence without an actor is refused)
        with pytest.raises(TypeError, match="str object expected; got None"):
            silence("x", "kind=a", **kwargs)
        return
    with pytest.raises(SilenceError) as err:
        silence("x", "kind=a", **kwargs)
    assert err.value.field == field and str(err.value).startswith(f"{field}: ")


def test_a_silence_needs_matchers_an_id_and_a_future() -> None:
    with pytest.raises(SilenceError, match="matchers: required"):
        silence("x")
    with pytest.raises(SilenceError, match="id: required"):
        silence("", "kind=a")
    s = Silencer()
    s.add(silence("x", "kind=a"), NOW_MS)
    with pytest.raises(SilenceError, match="exists"):
        s.add(silence("x", "kind=a"), NOW_MS)
    with pytest.raises(SilenceError, match="already over"):
        s.add(silence("y", "kind=a", start=-60, end=-1), NOW_MS)


def test_silence_ids_are_deterministic() -> None:
    ms = parse_matchers(["kind=a", "district=yuelu"])
    assert silence_id("王工", ms, NOW_MS) == silence_id("王工", ms[::-1], NOW_MS)
    assert silence_id("王工", ms, NOW_MS) != silence_id("李工", ms, NOW_MS)


def test_a_resolve_while_muted_is_answered_with_the_silence_never_dropped() -> None:
    s = Silencer()
    s.add(silence("s", "entity_id=S1"), NOW_MS)
    assert s.observe(S1, "F1", "firing", at(1)) == ("s",)
    assert s.observe(S1, "F1", "resolved", at(2)) == ("s",)
    assert s.observe(S1, "F1", "resolved", at(61)) == ()


def test_an_unknown_status_is_refused() -> None:
    with pytest.raises(SilenceError, match="status: 'acknowledged'"):
        Silencer().observe(S1, "F1", "acknowledged", NOW_MS)


def test_when_a_silence_ends_it_reports_what_still_fires_and_is_not_muted_otherwise() -> None:
    s = Silencer()
    s.add(silence("short", "stream=lifeline", end=10), NOW_MS)
    s.add(silence("long", "entity_id=S2", end=120), NOW_MS)
    s.observe(S1, "F1", "firing", at(1))
    s.observe(STUCK, "F2", "firing", at(1))
    s.observe({**S1, "entity_id": "S3"}, "F3", "firing", at(2))
    s.observe({**S1, "entity_id": "S3"}, "F3", "resolved", at(3))
    assert s.ended(at(9)) == []
    (done,) = s.ended(at(10))
    assert (done.silence.id, done.reason, done.still_firing) == ("short", "expired", ("F1",))
    assert done.silence.ends_ms == at(10) and s.get("short") is None
    assert s.ended(at(11)) == []                          # reported once
    assert [(e.silence.id, e.still_firing) for e in s.ended(at(200))] == [("long", ("F2",))]


def test_until_resolved_ends_when_everything_it_muted_has_resolved() -> None:
    s = Silencer()
    s.add(silence("u", "kind=gas_pressure_low", end=None, until_resolved=True), NOW_MS)
    s.observe(S1, "A", "firing", at(1))        # before: it has matched nothing, so it waits
    s.observe({**S1, "entity_id": "S4"}, "B", "firing", at(2))
    assert s.observe(S1, "A", "resolved", at(3)) == ("u",)
    assert s.ended(at(3)) == []
    assert s.observe({**S1, "entity_id": "S4"}, "B", "resolved", at(4)) == ("u",)
    assert s.mutes(S1, at(4)) == ()
    assert s.ended(at(4)) == [SilenceEnded(silence("u", "kind=gas_pressure_low", end=4,
                                                   until_resolved=True), "resolved", ())]


def test_until_resolved_does_not_end_when_an_alert_only_stops_matching() -> None:
    s = Silencer()
    s.add(silence("u", "kind=gas_pressure_low", "severity=major", end=None,
                  until_resolved=True), NOW_MS)
    s.observe({**S1, "severity": "major"}, "A", "firing", at(1))
    assert s.observe({**S1, "severity": "critical"}, "A", "firing", at(2)) == ()
    assert s.ended(at(3)) == [] and s.mutes({**S1, "severity": "major"}, at(3)) == ("u",)
    assert s.observe({**S1, "severity": "critical"}, "A", "resolved", at(4)) == ()
    assert s.ended(at(5)) == []


def test_until_resolved_waits_for_a_first_match() -> None:
    s = Silencer()
    s.add(silence("u", "kind=gas_pressure_low", end=None, until_resolved=True), NOW_MS)
    assert s.ended(at(600)) == [] and s.mutes(S1, at(600)) == ("u",)


def test_unused_silences_expire() -> None:
    s = Silencer(expire_unused_ms=H)
    s.add(silence("idle", "entity_id=S9", end=None), NOW_MS)
    s.add(silence("busy", "entity_id=S1", end=None), NOW_MS)
    s.observe(S1, "F1", "firing", at(5))
    assert s.mutes({"entity_id": "S9"}, at(59)) == ("idle",)
    assert s.mutes({"entity_id": "S9"}, at(60)) == ()      # unused for an hour: gone
    assert [(e.silence.id, e.reason, e.silence.ends_ms) for e in s.ended(at(60))] == [
        ("idle", "unused", at(60))]
    assert s.ended(at(600)) == []                         # busy mutes a firing alert
    s.observe(S1, "F1", "resolved", at(600))
    assert s.ended(at(659)) == []
    assert [(e.silence.id, e.reason) for e in s.ended(at(660))] == [("busy", "unused")]


def test_a_silence_used_on_and_off_expires_an_idle_period_after_its_last_use() -> None:
    # each time it stops muting anything its idle clock restarts; one deadline per silence
    # is queued (not one per idle spell), and the one that counts is the last spell's
    s = Silencer(expire_unused_ms=H)
    s.add(silence("x", "entity_id=S1", end=None), NOW_MS)
    for k in range(100):
        s.observe(S1, "F1", "firing", at(k))
        s.observe(S1, "F1", "resolved", at(k + 0.5))
        assert s.ended(at(k + 0.5)) == []
    assert len(s._idle) <= 2
    assert s.ended(at(99.5 + 59)) == []
    assert [e.reason for e in s.ended(at(99.5 + 60))] == ["unused"]


def test_extending_an_idle_silence_counts_as_use() -> None:
    s = Silencer(expire_unused_ms=H)
    s.add(silence("x", "entity_id=S9", end=None), NOW_MS)
    s.extend("x", at(300), at(50))
    assert s.ended(at(100)) == [] and s.mutes({"entity_id": "S9"}, at(100)) == ("x",)
    assert [e.reason for e in s.ended(at(110))] == ["unused"]


def test_expire_and_extend_by_command() -> None:
    s = Silencer()
    s.add(silence("a", "entity_id=S1", end=60), NOW_MS)
    s.add(silence("later", "entity_id=S1", start=30, end=60), NOW_MS)
    s.observe(S1, "F1", "firing", at(1))
    assert s.extend("a", at(120), at(10)).ends_ms == at(120)
    s.expire("later", at(20))                             # never started: never mutes
    assert s.mutes(S1, at(40)) == ("a",)
    assert s.expire("a", at(45)).ends_ms == at(45)
    ended = s.ended(at(45))
    assert [(e.silence.id, e.reason, e.still_firing) for e in ended] == [
        ("later", "expired_by_command", ()), ("a", "expired_by_command", ("F1",))]
    with pytest.raises(SilenceError, match="no current silence"):
        s.expire("a", at(46))
    s.add(silence("b", "kind=x", end=60), NOW_MS)
    with pytest.raises(SilenceError, match="later than now"):
        s.extend("b", at(10), at(20))


def test_a_silence_that_starts_later_tracks_what_already_fires() -> None:
    s = Silencer()
    s.observe(S1, "F1", "firing", at(0))
    s.add(silence("later", "entity_id=S1", start=30, end=60), NOW_MS)
    assert s.next_change_ms() == at(30)
    assert s.mutes(S1, at(29)) == () and s.mutes(S1, at(30)) == ("later",)
    assert [e.still_firing for e in s.ended(at(60))] == [("F1",)]


def shanghai_ms(y: int, mo: int, d: int, h: int, mi: int = 0) -> int:
    return int(datetime(y, mo, d, h, mi, tzinfo=SHANGHAI).timestamp() * 1000)


NIGHTLY = """
route: {receiver: r}
maintenance_windows:
  - name: night-flush
    matchers: ['kind="water_pressure_low"']
    start: "01:00"
    end: "05:00"
    timezone: Asia/Shanghai
    author: 供水调度
    reason: 夜间管网冲洗
  - name: tuesday-late
    matchers: ['kind="sensor_nodata"']
    start: "23:00"
    end: "02:00"
    timezone: Asia/Shanghai
    days: [tue]
    author: 运维
    reason: 网关升级
"""
WATER = {"kind": "water_pressure_low", "entity_id": "W1"}
NODATA = {"kind": "sensor_nodata", "entity_id": "S1"}


def test_a_daily_window_in_shanghai_time() -> None:
    cfg = load_config(NIGHTLY)
    s = Silencer(cfg.maintenance_windows)
    start = shanghai_ms(2025, 6, 2, 1)
    assert start == int(datetime(2025, 6, 1, 17, tzinfo=timezone.utc).timestamp() * 1000)
    assert s.mutes(WATER, start - 1) == ()
    assert s.next_change_ms() == start
    assert s.mutes(WATER, start) == (f"maintenance:night-flush:{start}",)
    s.observe(WATER, "W", "firing", start + H)
    assert s.mutes(WATER, shanghai_ms(2025, 6, 2, 4, 59)) != ()
    assert s.mutes(WATER, shanghai_ms(2025, 6, 2, 5)) == ()
    (done,) = s.ended(shanghai_ms(2025, 6, 2, 5))
    assert (done.silence.author, done.silence.reason, done.still_firing) == (
        "供水调度", "夜间管网冲洗", ("W",))
    nxt = shanghai_ms(2025, 6, 3, 1)
    assert s.mutes(WATER, nxt + M) == (f"maintenance:night-flush:{nxt}",)


def test_a_window_is_never_expired_as_unused_nor_shadowed_by_hand() -> None:
    s = Silencer(load_config(NIGHTLY).maintenance_windows, expire_unused_ms=H)
    start = shanghai_ms(2025, 6, 2, 1)
    assert s.mutes(WATER, start + 3 * H) == (f"maintenance:night-flush:{start}",)
    assert s.ended(start + 3 * H) == []
    with pytest.raises(SilenceError, match="maintenance windows"):
        s.add(silence("maintenance:x", "kind=a"), NOW_MS)


def test_a_window_across_midnight_on_one_weekday() -> None:
    s = Silencer(load_config(NIGHTLY).maintenance_windows)
    # 2025-06-03 is a Tuesday: 23:00 Tue -> 02:00 Wed
    assert s.mutes(NODATA, shanghai_ms(2025, 6, 2, 23, 30)) == ()        # Monday
    assert s.mutes(NODATA, shanghai_ms(2025, 6, 3, 23, 30)) != ()
    assert s.mutes(NODATA, shanghai_ms(2025, 6, 4, 1, 59)) != ()
    assert s.mutes(NODATA, shanghai_ms(2025, 6, 4, 2)) == ()
    assert s.mutes(NODATA, shanghai_ms(2025, 6, 4, 23, 30)) == ()        # Wednesday
    fresh = Silencer(load_config(NIGHTLY).maintenance_windows)        # restarted mid-window
    assert fresh.mutes(NODATA, shanghai_ms(2025, 6, 4, 1, 59)) == (
        f"maintenance:tuesday-late:{shanghai_ms(2025, 6, 3, 23)}",)


def test_a_window_follows_wall_clock_time_across_dst() -> None:
    w = MaintenanceWindow("ny", parse_matchers(["kind=x"]), 60, 180, "America/New_York",
                          "ops", "backup")
    spring = int(datetime(2025, 3, 9, 12, tzinfo=timezone.utc).timestamp() * 1000)
    occ = w.occurrence_at(int(datetime(2025, 3, 9, 6, 30, tzinfo=timezone.utc).timestamp()
                              * 1000))            # 01:30 EST
    assert occ is not None and occ[1] - occ[0] == H      # 01:00-03:00 is one hour that night
    assert w.next_start_ms(spring) - occ[0] == 23 * H    # next night: 01:00 EDT


def test_the_silencer_answers_quickly_with_a_thousand_silences() -> None:
    s = Silencer()
    for i in range(1000):
        s.add(silence(f"s{i}", f"entity_id=S{i}", "kind=~gas_.*", end=None), NOW_MS)
    s.add(silence("re", "entity_id=~S99.", end=None), NOW_MS)
    started = time.perf_counter()
    hits = [s.mutes({"entity_id": f"S{i}", "kind": "gas_pressure_low"}, at(1))
            for i in range(10_000)]
    assert time.perf_counter() - started < 0.5
    assert hits[5] == ("s5",) and hits[995] == ("re", "s995") and hits[5000] == ()


def test_snapshot_restore_continues() -> None:
    windows = load_config(NIGHTLY).maintenance_windows
    s = Silencer(windows, expire_unused_ms=H)
    s.add(silence("a", "entity_id=S1", end=120), NOW_MS)
    s.add(silence("u", "entity_id=S2", end=None, until_resolved=True), NOW_MS)
    s.add(silence("later", "entity_id=S1", start=200, end=300), NOW_MS)
    s.observe(S1, "F1", "firing", at(1))
    s.observe(STUCK, "F2", "firing", at(1))
    s.expire("later", at(2))
    again = Silencer(windows, expire_unused_ms=H)
    again.restore(json.loads(json.dumps(s.snapshot())))
    assert again.snapshot() == s.snapshot()
    for x in (s, again):
        assert x.observe(STUCK, "F2", "resolved", at(3)) == ("u",)
    assert [(e.silence.id, e.reason) for e in again.ended(at(3))] == [
        ("later", "expired_by_command"), ("u", "resolved")]
    assert [(e.silence.id, e.still_firing) for e in again.ended(at(120))] == [("a", ("F1",))]


# -- property: a resolve after a silence is still reported ----------------------------------
TREE = Route.build(load_config("""
route: {receiver: ops, group_by: [district], group_wait: 10s, group_interval: 1m,
        repeat_interval: 10m}
""").route)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 40), st.integers(1, 40), st.booleans()),
                min_size=1, max_size=8),
       st.integers(0, 30), st.one_of(st.none(), st.integers(1, 60)), st.booleans())
def test_a_resolve_after_a_silence_is_still_reported(
        plans: list[tuple[int, int, bool]], silence_at: int, silence_for: int | None,
        until_resolved: bool) -> None:
    """Alerts fire (told or not), a silence covers all of them for a while; every resolve is
    answered with the silences muting it, and reaches a receiver that was told it fired."""
    silencer, grouper, told, sent_resolved = Silencer(), Grouper(TREE), set(), set()
    events = []
    for i, (fire_min, dur, same_district) in enumerate(plans):
        labels = {"kind": "water_pressure_low", "district": "yuelu" if same_district else "kaifu"}
        events += [(at(fire_min), 0, f"A{i}", "firing", labels),
                   (at(fire_min + dur), 1, f"A{i}", "resolved", labels)]
    events.append((at(silence_at), -1, "", "silence", {}))
    end = None if silence_for is None else silence_at + silence_for
    for now, _, fp, status, labels in sorted(events):
        if status == "silence":
            silencer.add(silence("s", "kind=water_pressure_low", start=silence_at, end=end,
                                 until_resolved=until_resolved), now)
            continue
        for n in grouper.due(now, lambda lb, f: bool(silencer.mutes(lb, now))):
            told |= set(n.firing)
            sent_resolved |= set(n.resolved)
        live = silencer.mutes(labels, now)
        assert silencer.observe(labels, fp, status, now) == live
        if status == "resolved" and now >= at(silence_at) and (end is None or now < at(end)):
            assert live == ("s",) or until_resolved  # an until_resolved silence may be over
        grouper.add(labels, fp, status, now)
        for e in silencer.ended(now):
            grouper.renotify(e.still_firing, now)
    last = max(t for t, *_ in events) + 10 * M
    while (nxt := grouper.next_due_ms()) is not None and nxt <= last:
        for n in grouper.due(nxt, lambda lb, f: bool(silencer.mutes(lb, nxt))):
            told |= set(n.firing)
            sent_resolved |= set(n.resolved)
    assert told <= sent_resolved          # every alert a receiver saw fire, it saw resolve
    assert len(grouper) == 0


def test_the_silence_index_offers_the_indexed_and_the_unindexed_candidates() -> None:
    from alerting.silence_index import SilenceIndex
    idx = SilenceIndex()
    a, b = silence("a", 'entity_id="GAS-1"', 'kind=~"gas_.*"'), silence("b", 'kind=~"gas_.*"')
    c = silence("c", 'district="furong"')
    for s in (a, b, c):
        idx.add(s)
    gas1 = {"entity_id": "GAS-1", "district": "yuhua"}
    assert idx.candidates(gas1) == {"a", "b"}   # b has no equality: always a candidate
    assert idx.candidates({"district": "furong"}) == {"b", "c"}
    idx.remove(b)
    assert idx.candidates({"entity_id": "GAS-2"}) is None
    idx.remove(a)
    idx.remove(c)
    assert idx.candidates(gas1) is None and idx._names == {}  # noqa: SLF001
