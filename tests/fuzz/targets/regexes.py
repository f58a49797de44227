"""User regexes in label matchers (``entity_id=~"..."``): in a silence command through the
cockpit's validation and the engine, and in ``alerting.matchers`` where every matcher is
parsed and evaluated (routes, inhibit rules, silences, the cockpit's silence view).

The oracle: a pattern RE2 cannot compile is refused (``bad_regex``, or ``too_long``); a
short one it can compile is taken; a matcher evaluates in bounded time on any label value,
and matches as RE2 (Alertmanager's engine) does.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import re2
from hypothesis import strategies as st

from alerting.labels import LabelError, parse_matchers
from alerting.matchers import Matcher, render
from cockpit_api.commands import validate_command
from schemas.chars import bad_character
from cockpit_api.errors import CommandRejected

from ..strategies import NOW_MS
from ..verdict import BROKEN, Expect, Hung, Tally, bounded, either, ok, refuse
from .alerts import fixed_alert
from .engine import CONFIG, PROFILE, Engine
from .frames import BAD_REGEX
from .records import MATCHES_EVERYTHING

BAD_CHARACTERS = "bad_characters"

TOO_LONG = "too_long"
SHORT = 100   # a pattern RE2 takes, this short or shorter, must be taken everywhere
EVAL_S = 1.0  # far more than any linear-time match of these values needs
CATASTROPHIC = ("(a+)+b", "(a|a)*b", "(a|aa)+$", "(.*a){12}", "(.|.|.)*!", "(x+x+)+y",
                "(\\w+\\s?)+$", "^(([a-z])+.)+[A-Z]([a-z])+$", "(a*)*b", "((ab)*|(ab)*)*c",
                "(.*,)*x", "([a-zA-Z0-9]+)*@", "(a?){25}a{25}", "(\\d+)*[a-z]")
NOT_RE2 = ("(a)\\1", "(?=a)a", "(?<=a)b", "(?!a).", "a++", "(?>a)", "(?(1)a|b)", "a{1001}",
           "(a{100}){100}", "\\Z", "(?P<n>a)(?P=n)", "x*+")
INVALID = ("(", "[", "*a", "a{2,1}", "\\", "(?P<>a)", ")", "[z-a]")
ATOMS = (".", "a", "\\w", "[a-z]", "a?", "(a|b)", "\\s*", "[^!]")
QUANTS = ("*", "+", "{1,20}", "?", "{2,}")


@st.composite
def _generated(draw: st.DrawFn) -> str:
    atoms = draw(st.lists(st.sampled_from(ATOMS), min_size=1, max_size=3))
    q1, q2 = draw(st.sampled_from(QUANTS)), draw(st.sampled_from(QUANTS))
    tail = draw(st.sampled_from(("!", "b", "$", "@", "")))
    return draw(st.sampled_from((f"(({'|'.join(atoms)}){q1}){q2}{tail}",
                                 f"({''.join(atoms)}){q1}{tail}")))


@lru_cache(maxsize=None)
def patterns() -> st.SearchStrategy[str]:
    long = st.builds(lambda unit, n: unit * n, st.sampled_from(("a", "(a|b)", "[x-z]+")),
                     st.integers(50, 3000))
    return st.one_of(st.sampled_from(CATASTROPHIC), st.sampled_from(NOT_RE2),
                     st.sampled_from(INVALID), _generated(), long, st.text(max_size=20))


@lru_cache(maxsize=None)
def label_values() -> st.SearchStrategy[str]:
    nasty = st.builds(lambda unit, n, tail: unit * n + tail,
                      st.sampled_from(("a", "ab", "x", ",", "a ", "1")), st.integers(0, 60),
                      st.sampled_from(("", "!", "b", "c", "X", "@")))
    return nasty | st.text(max_size=40)


@dataclass(frozen=True)
class RegexCase:
    pattern: str
    values: tuple[str, ...]


@st.composite
def regex_cases(draw: st.DrawFn) -> RegexCase:
    return RegexCase(draw(patterns()), tuple(draw(st.lists(label_values(), min_size=1,
                                                           max_size=4))))


_QUIET = re2.Options()
_QUIET.log_errors = False   # (RE2 logs each refused pattern to stderr otherwise)


def re2_takes(pattern: str) -> bool:
    try:
        re2.compile(pattern, _QUIET)
    except Exception:   # re2.error, and "pattern too large" as a plain error
        return False
    return True


def expectation(pattern: str) -> Expect:
    if not re2_takes(pattern):
        return refuse(BAD_REGEX, TOO_LONG, why=f"{pattern[:60]!r} is no RE2 regex")
    if len(pattern) <= SHORT:
        return ok(f"RE2 regex {pattern[:60]!r}")
    return either(f"RE2 regex of {len(pattern)} characters", TOO_LONG)


def silence_expectation(pattern: str) -> Expect:
    """A silence of only this matcher: refused if the regex matches the empty label too, or
    if it holds a control or bidi character (a command's text may hold a newline or a tab
    only: schemas.chars), whatever RE2 makes of it."""
    if bad_character(pattern, text=True) is not None:
        return refuse(BAD_CHARACTERS, BAD_REGEX, TOO_LONG, MATCHES_EVERYTHING,
                      why=f"{pattern[:60]!r} holds a control or bidi character")
    if re2_takes(pattern) and re2.compile(pattern, _QUIET).fullmatch("") is not None:
        return refuse(MATCHES_EVERYTHING, TOO_LONG, why=f"{pattern[:60]!r} matches \"\"")
    return expectation(pattern)


def matcher_text(pattern: str) -> str:
    """``entity_id=~"<pattern>"``, escaped as Alertmanager writes it (the matcher itself
    cannot be made before the pattern is known to compile)."""
    # an equality matcher holds any value and renders it escaped as the regex would be
    # (a compiled render takes only a real Matcher)
    return "entity_id=~" + render(Matcher("entity_id", "=", pattern))[len("entity_id="):]


def check_regex(case: RegexCase) -> Tally:
    tally, expect = Tally(), expectation(case.pattern)
    text = matcher_text(case.pattern)
    _matchers(tally, expect, case, text)
    silence = silence_expectation(case.pattern)
    _cockpit(tally, silence, text)
    _engine(tally, silence, case, text)
    return tally


def _matchers(tally: Tally, expect: Expect, case: RegexCase, text: str) -> None:
    where = "alerting.matchers"
    parsed = tally.attempt(EVAL_S, f"parsing {text[:60]}", lambda: parse_matchers([text]),
                           LabelError, crash_where=where)
    if isinstance(parsed.refused, LabelError):
        tally.judge(expect, where, accepted=False, code=parsed.refused.code,
                    note=parsed.refused.reason)
    if not parsed.ran:
        return
    tally.judge(expect, where, accepted=True)
    (m,) = parsed.value
    rx = re2.compile(case.pattern, _QUIET) if re2_takes(case.pattern) else None
    for v in case.values:
        try:
            with bounded(EVAL_S, f"matching {text[:60]} against {v[:40]!r}"):
                got = m.matches({"entity_id": v})
        except (Exception, Hung) as exc:
            tally.crash(f"{where}: {text[:60]} on {v[:40]!r}", exc)
            continue
        if rx is not None and got != (rx.fullmatch(v) is not None):
            tally.add(BROKEN, f"{where}: {text[:60]} on {v[:40]!r}",
                      f"matches {got}, RE2 (Alertmanager) says {not got}")


def _cockpit(tally: Tally, expect: Expect, text: str) -> None:
    cmd = {"command_id": "c-1", "actor": "张伟", "action": "silence", "matchers": [text],
           "reason": "fuzz"}
    where = "cockpit silence command"
    got = tally.attempt(EVAL_S, where, lambda: validate_command(cmd, NOW_MS), CommandRejected)
    exc = got.refused
    if isinstance(exc, CommandRejected):
        if not (expect.accept and len(text) > 256):   # the cockpit's bound on a matcher's text
            tally.judge(expect, where, accepted=False, code=exc.code, note=exc.reason)
    elif got.ran:
        tally.judge(expect, where, accepted=True)


def _engine(tally: Tally, expect: Expect, case: RegexCase, text: str) -> None:
    """A silence with the matcher, then alerts whose entity is each nasty value: the engine
    mutes (or not) each in bounded time."""
    engine = Engine(CONFIG, PROFILE)
    cmd: dict[str, Any] = {"command_id": "c-1", "actor": "张伟", "action": "silence",
                           "matchers": [text], "reason": "fuzz"}
    try:
        with bounded(EVAL_S, "engine silence"):
            out = engine.command(cmd, NOW_MS)
        refused = out.rejected[0] if out.rejected else None
        tally.judge(Expect(expect.accept, frozenset(), expect.why), "engine silence",  # any code
                    accepted=refused is None, code=refused.code if refused else "")
        for k, v in enumerate(case.values):
            msg = {**_ALERT, "entity_id": v, "fingerprint": f"fp-{k}", "alert_id": f"a-{k}"}
            with bounded(EVAL_S, f"engine alert with entity {v[:40]!r}"):
                engine.alerts([msg], NOW_MS + 1000)
                engine.tick(NOW_MS + 60_000)
    except (Exception, Hung) as exc:
        tally.crash("engine", exc)


_ALERT = fixed_alert()   # the alert whose entity takes each nasty value
