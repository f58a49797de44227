"""Issue 13, item 2: user regexes are RE2 (linear time), anchored as Alertmanager anchors
them, and bounded in length; what RE2 refuses is refused with a code, and a silence restored
with a pattern refused now is ended, not a hang or a crash of the worker or the cockpit.

``entity_id=~"(.|.|.)*!"`` cost 4.9 s per alert on a 16-character id with Python's
backtracking ``re``, tripling per character; the silence was checkpointed, so the hang came
back after every restart.
"""

from __future__ import annotations

import time
from typing import Any

import orjson
import pytest

from alerting.config import ConfigError, default_config, load_config
from alerting.engine import Engine
from alerting.labels import LabelError, Matcher, parse_matchers
from alerting.regex import MAX_PATTERN_CHARS, Regex, RegexError
from alerting.rebuild import rebuild
from alerting.silence_model import END_REASONS, REFUSED_PATTERN
from cockpit_api.errors import MalformedMessage
from cockpit_api.silence_view import SilenceBoard, normalize_silence_event
from schemas.records import make_alert
from schemas.validate import format_event_time
from unit_helpers import NOW_MS, PROFILE

EVIL = "(.|.|.)*!"
S = 1000


def _cost(m: Matcher, n: int, count: int) -> float:
    """Seconds to match ``count`` distinct ids of ``n`` characters (none ends in '!')."""
    ids = [f"{i:04d}" + "a" * (n - 4) for i in range(count)]
    started = time.perf_counter()
    for text in ids:
        assert not m.matches({"entity_id": text})
    return time.perf_counter() - started


def test_the_issues_pattern_takes_linear_time() -> None:
    m = parse_matchers([f'entity_id=~"{EVIL}"'])[0]
    started = time.perf_counter()
    assert not m.matches({"entity_id": "a" * 16})       # backtracking re: 4.9 s
    assert time.perf_counter() - started < 0.5
    short, long = _cost(m, 16, 300), _cost(m, 32, 300)  # re: 3**16 times longer
    assert long < 2.0 and long < 8 * max(short, 0.002)
    assert m.matches({"entity_id": "a" * 31 + "!"})


@pytest.mark.parametrize("pattern, value, matches", [
    ("yuelu", "yuelu", True),
    ("yuelu", "yuelu-north", False),        # anchored at the end: ^(?:yuelu)$
    ("yuelu", "old-yuelu", False),          # and at the start
    ("yuelu|kaifu", "kaifu", True),         # the alternation is inside the group
    ("yuelu|kaifu", "kaifu2", False),
    ("GASC-\\d+", "GASC-0183", True),
    ("GASC-\\d+", "GASC-٣", False),          # \d is ASCII, as in Go and Alertmanager
    ("a.c", "a\nc", False),                 # . does not match a line feed
    ("abc", "abc\n", False),                # $ is the end of the text (not before a \n)
    (".*", "", True),
    ("(?i)GAS_.*", "gas_leak", True),
    ("开福.*", "开福区", True),
    ("a.b", "a\ud800b", True),              # a lone surrogate is matched as U+FFFD
    ("a\ufffdb", "a\ud800b", True),
])
def test_anchoring_is_alertmanagers(pattern: str, value: str, matches: bool) -> None:
    assert Regex(pattern).matches(value) is matches
    assert Regex(pattern).matches(value) is matches   # (remembered: the same answer)


@pytest.mark.parametrize("pattern, code", [
    ("(?=GASC).*", "bad_regex"),             # lookahead
    ("(?<!x)y", "bad_regex"),                # lookbehind
    ("(a)\\1", "bad_regex"),                 # backreference
    ("a++", "bad_regex"),                    # possessive
    ("(", "bad_regex"),
    ("a)|(b", "bad_regex"),                  # would close the anchoring group early
    ("\ud800", "bad_regex"),                 # not UTF-8
    ("((a{1000}){1000}){1000}", "bad_regex"),   # beyond RE2's memory budget
    ("a" * (MAX_PATTERN_CHARS + 1), "too_long"),
])
def test_what_re2_cannot_match_in_linear_time_is_refused_with_a_code(pattern: str,
                                                                       code: str) -> None:
    with pytest.raises(RegexError) as err:
        Regex(pattern)
    assert err.value.code == code and err.value.reason
    with pytest.raises(LabelError) as bad:
        Matcher("entity_id", "=~", pattern)
    assert bad.value.code == code and "entity_id" in str(bad.value)
    Regex("a" * MAX_PATTERN_CHARS)   # the bound itself is accepted


def silence(matchers: list[str], cid: str = "c1") -> dict[str, Any]:
    return {"command_id": cid, "action": "silence", "actor": "值班长", "reason": "检修",
            "matchers": matchers, "ends_at": format_event_time(NOW_MS + 3600 * S)}


@pytest.mark.parametrize("pattern, code", [("(?=GASC).*", "bad_regex"),
                                           ("x" * (MAX_PATTERN_CHARS + 1), "too_long")])
def test_the_engine_refuses_such_a_silence_with_the_code(pattern: str, code: str) -> None:
    e = Engine(default_config(), PROFILE)
    out = e.command(silence([f'entity_id=~"{pattern}"']), NOW_MS)
    assert [(r.code, r.field) for r in out.rejected] == [(code, "matchers")]
    assert out.silence_events == [] and e.silencer.silences() == []


@pytest.mark.parametrize("section", [
    "route: {receiver: r, routes: [{receiver: x, match_re: {kind: '(?=gas)'}}]}",
    "route: {receiver: r, routes: [{receiver: x, matchers: ['kind=~\"(a)\\\\1\"']}]}",
    "route: {receiver: r}\ninhibit_rules: [{source_match_re: {kind: '(?!x)'}, "
    "target_matchers: ['kind=y']}]",
])
def test_a_configuration_with_such_a_regex_is_refused_at_start(section: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(section)
    assert "RE2" in str(err.value)


def gas(entity: str, t: int = NOW_MS) -> dict[str, Any]:
    return make_alert(detector="limit", kind="gas_concentration_high", status="firing",
                      severity="major", stream="lifeline", entity_id=entity,
                      district="furong", district_zh="芙蓉区", district_en="Furong", lat=28.19,
                      lon=112.99, event_time=format_event_time(t), value=1.0, threshold=1.0,
                      unit="", title_zh="测试", title_en="test", evidence=["e1"],
                      detected_at=format_event_time(t))


def _checkpoint_with(pattern: str) -> tuple[dict[str, Any], str]:
    """A checkpoint whose silence (muting a firing alert) holds ``pattern``: written as the
    engine before issue 13 wrote it, when Python's re accepted lookaround."""
    e = Engine(default_config(), PROFILE)
    e.alerts([gas("GASC-1")], NOW_MS)
    (made,) = e.command(silence(['entity_id="GASC-1"', 'kind=~"gas_.*"']),
                        NOW_MS + S).silence_events
    e.tick(NOW_MS + 2 * S)
    state = orjson.loads(orjson.dumps(e.snapshot()))
    (s,) = state["silencer"]["silences"]
    s["matchers"][1][2] = pattern
    return state, made["silence_id"]


def test_a_checkpointed_silence_whose_regex_is_refused_now_is_ended_with_a_reason() -> None:
    state, sid = _checkpoint_with("(?=gas)gas_.*")
    e = Engine(default_config(), PROFILE)
    e.restore(state)                        # no crash: the rest of the state is there
    assert e.book.active() and e.silencer.get(sid) is not None
    assert e.silencer.mutes(dict(gas("GASC-1"), entity_id="GASC-1"), NOW_MS + 3 * S) == ()
    out = e.tick(NOW_MS + 3 * S)
    ended = [(r["silence_id"], r["action"], r["end_reason"]) for r in out.silence_events]
    assert ended == [(sid, "ended", REFUSED_PATTERN)] and REFUSED_PATTERN in END_REASONS
    assert out.silence_events[0]["matchers"][1] == 'kind=~"(?=gas)gas_.*"'   # as it was
    assert e.silencer.get(sid) is None and e.tick(NOW_MS + 4 * S).silence_events == []
    # the alert it muted is firing and unmuted: its group is told again
    assert e.outbox.due(NOW_MS + 60 * S)


def test_an_older_checkpoint_with_a_too_long_regex_restores_too() -> None:
    state, sid = _checkpoint_with("gas_" + "x?" * MAX_PATTERN_CHARS)
    e = Engine(default_config(), PROFILE)
    e.restore(state)
    assert [r["end_reason"] for r in e.tick(NOW_MS + 3 * S).silence_events] == [
        REFUSED_PATTERN]


def test_a_silence_rebuilt_from_the_log_with_a_refused_regex_is_ended() -> None:
    e = Engine(default_config(), PROFILE)
    (created,) = e.command(silence(['kind="gas_leak"']), NOW_MS).silence_events
    old = {**created, "matchers": ['kind="gas_leak"', 'entity_id=~"(?!x).*"']}
    fresh = Engine(default_config(), PROFILE)
    counts = rebuild(fresh, [], [], [old], NOW_MS + S)
    assert counts["silences"] == 1
    assert fresh.silencer.mutes({"kind": "gas_leak", "entity_id": "y"}, NOW_MS + S) == ()
    assert [(r["silence_id"], r["end_reason"]) for r in fresh.tick(NOW_MS + 2 * S)
            .silence_events] == [(created["silence_id"], REFUSED_PATTERN)]


def test_the_cockpit_neither_hangs_on_the_pattern_nor_crashes_on_a_refused_one() -> None:
    e = Engine(default_config(), PROFILE)
    (created,) = e.command(silence([f'entity_id=~"{EVIL}"', 'kind="gas_leak"']),
                           NOW_MS).silence_events
    board = SilenceBoard()
    board.apply(normalize_silence_event(created))
    started = time.perf_counter()
    assert board.matching({"entity_id": "a" * 16, "kind": "gas_leak"}) == ()   # re: 2.4 s
    assert time.perf_counter() - started < 0.5
    for i in range(200):
        assert board.matching({"entity_id": f"{i:04d}" + "a" * 28, "kind": "gas_leak"}) == ()
    assert time.perf_counter() - started < 2.0
    refused = {**created, "silence_id": "s-old", "event_id": "e-old",
               "matchers": ['entity_id=~"(?=a).*"']}
    with pytest.raises(MalformedMessage) as err:   # counted, not applied: the engine's
        normalize_silence_event(refused)            # "ended" record closes it
    assert "RE2" in str(err.value)
