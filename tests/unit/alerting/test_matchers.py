"""alerting.matchers: Alertmanager's matcher grammar, table-driven from its documented
behaviour (docs/configuration.md "<matcher>", matchers/parse tests), and rendering that
parses back to the same matchers."""

from __future__ import annotations

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from alerting.matchers import (MATCHES_EVERYTHING, OPS, LabelError, Matcher,
                               check_silence_matchers, compile_regex, matches_all, parse_matcher,
                               parse_matchers, parse_text, render, render_all)
from alerting.silences import silence_id


def m(name: str, op: str, value: str) -> Matcher:
    return Matcher(name, op, value)


# text -> the matchers it holds (Alertmanager's parse tests and documented examples)
PARSED = [
    ("", ()),
    ("{}", ()),
    ('{foo="bar"}', (m("foo", "=", "bar"),)),
    ("{foo=bar}", (m("foo", "=", "bar"),)),
    ("foo=bar", (m("foo", "=", "bar"),)),
    ('foo="bar"', (m("foo", "=", "bar"),)),
    ('{foo="bar",}', (m("foo", "=", "bar"),)),          # one trailing comma
    ("foo=bar,", (m("foo", "=", "bar"),)),
    ('{"foo"="bar"}', (m("foo", "=", "bar"),)),         # a quoted name
    ("{foo!=bar}", (m("foo", "!=", "bar"),)),
    ("{foo=~[a-z]+}", (m("foo", "=~", "[a-z]+"),)),
    ("foo!~[a-z]+", (m("foo", "!~", "[a-z]+"),)),
    ("{foo=🙂}", (m("foo", "=", "🙂"),)),
    ("{foo=🙂bar}", (m("foo", "=", "🙂bar"),)),
    ("district=开福区", (m("district", "=", "开福区"),)),   # UTF-8 unquoted literal
    ("name=Προμηθεύς", (m("name", "=", "Προμηθεύς"),)),
    ('{"foo"="\\xf0\\x9f\\x99\\x82"}', (m("foo", "=", "🙂"),)),   # bytes spelled out
    ('{"foo"="\\U0001f642"}', (m("foo", "=", "🙂"),)),
    ('{foo="bar\\n"}', (m("foo", "=", "bar\n"),)),
    ('{foo="bar\\t"}', (m("foo", "=", "bar\t"),)),
    ('{foo="\\"bar\\""}', (m("foo", "=", '"bar"'),)),
    ('{foo="bar\\\\"}', (m("foo", "=", "bar\\"),)),
    ('foo="bar,baz"', (m("foo", "=", "bar,baz"),)),      # a comma inside quotes is the value's
    ('foo="{x}"', (m("foo", "=", "{x}"),)),
    ('reason="under repair"', (m("reason", "=", "under repair"),)),
    ('floor=""', (m("floor", "=", ""),)),
    ("{foo=bar,bar!=baz}", (m("foo", "=", "bar"), m("bar", "!=", "baz"))),
    ('foo="bar",bar!="baz"', (m("foo", "=", "bar"), m("bar", "!=", "baz"))),
    ('{alertname="Watchdog", severity=~"warning|critical"}',
     (m("alertname", "=", "Watchdog"), m("severity", "=~", "warning|critical"))),
    ('{\n   alertname = "Watchdog",\n   severity =~ "warning|critical",\n}',
     (m("alertname", "=", "Watchdog"), m("severity", "=~", "warning|critical"))),
    ("alertname = Watchdog", (m("alertname", "=", "Watchdog"),)),
    ('{quote=~"She said: \\"Hi, all!( How\'re you…)?\\""}',
     (m("quote", "=~", "She said: \"Hi, all!( How're you…)?\""),)),
    ("kind!=fire_alarm,district=kaifu", (m("kind", "!=", "fire_alarm"),
                                         m("district", "=", "kaifu"))),
    ('severity=~"critical|major"', (m("severity", "=~", "critical|major"),)),
    ("entity_id=~GASC-.+", (m("entity_id", "=~", "GASC-.+"),)),
]


@pytest.mark.parametrize("text, expected", PARSED)
def test_the_grammar_reads(text: str, expected: tuple[Matcher, ...]) -> None:
    assert parse_text(text) == expected


# text -> a word of the error (Alertmanager refuses these too, except where noted)
REFUSED = [
    (",", "label name"),
    ("{,}", "label name"),
    ("{", "close brace"),
    ("}", "without an open brace"),
    ("foo=bar}", "without an open brace"),
    ("{foo=bar", "close brace"),
    ('{foo="bar"', "close brace"),
    ("{{foo=bar}}", "label name"),
    ('{foo=:"bar"}', "expected a comma"),
    ("{foo%=bar}", "label name"),              # foo% is a literal, but no label name
    ('{foo="bar\\w"}', "not an escape"),
    ("{foo=bar\\n}", "reserved"),               # no escapes outside quotes
    ('{"foo"="\\xf0\\x9f"}', "not valid UTF-8"),
    ('foo="bar', "closing quote"),
    ('foo="a\nb"', "line break"),
    ("foo=", "expected a value"),               # classic read "" (write foo="")
    ("foo==bar", "expected a value"),           # classic read "=bar"
    ("foo=bar baz", "expected a comma"),        # classic read "bar baz"
    ("kind!=fire_alarm district=kaifu", "expected a comma"),
    ("foo!bar", "'!' must be followed"),
    ("foo~bar", "reserved"),
    ("foo", "operator"),
    ("=bar", "label name"),
    ("foo=bar,,", "label name"),
    ("1kind=x", "label name"),                  # ours: Prometheus label names only
    ('"a b"=x', "label name"),
    ("foo=~(", "bad regex"),
    ("foo=bar{", "expected a comma"),
]


@pytest.mark.parametrize("text, word", REFUSED)
def test_the_grammar_refuses_with_a_clear_reason(text: str, word: str) -> None:
    with pytest.raises(LabelError) as err:
        parse_text(text)
    assert word in str(err.value) and repr(text) in str(err.value)
    assert err.value.code == ("bad_regex" if word == "bad regex" else "bad_matcher")


def test_one_matcher_is_exactly_one() -> None:
    assert parse_matcher("{foo=bar,}") == m("foo", "=", "bar")
    for text in ("", "{}", "foo=bar,bar=baz"):
        with pytest.raises(LabelError, match="expected one matcher"):
            parse_matcher(text)


def test_a_list_item_may_hold_several_matchers_and_must_hold_one() -> None:
    assert parse_matchers(["{a=b, c!=d}", 'e=~"f|g"']) == (
        m("a", "=", "b"), m("c", "!=", "d"), m("e", "=~", "f|g"))
    with pytest.raises(LabelError, match=r"matchers\[1\].*holds no matcher"):
        parse_matchers(["a=b", "{}"])
    with pytest.raises(LabelError, match="value must be text"):
        parse_matchers({"a": None})
    assert parse_matchers({"code": 500}) == (m("code", "=", "500"),)


def test_rendering_is_alertmanagers_form() -> None:
    assert render(m("kind", "!=", "fire_alarm")) == 'kind!="fire_alarm"'
    assert render(m("q", "=", 'say "hi"\\\n')) == 'q="say \\"hi\\"\\\\\\n"'
    assert str(m("d", "=~", "开福|岳麓")) == 'd=~"开福|岳麓"'
    assert render_all([m("a", "=", "b"), m("c", "=~", "d")]) == '{a="b",c=~"d"}'


NAMES = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,12}", fullmatch=True)
TRICKY = st.sampled_from(['"', "\\", "\n", ",", "{", "}", "=", "!", "~", " ", "'", "`", "\t",
                          "开福区", "岳麓", "🙂", "\\n", '\\"', "\r", "\x00"])
VALUES = st.lists(st.one_of(TRICKY, st.text(max_size=6)), max_size=8).map("".join)


@settings(max_examples=400, deadline=None)
@given(NAMES, st.sampled_from(OPS), VALUES)
def test_a_rendered_matcher_parses_back_to_itself(name: str, op: str, value: str) -> None:
    if op in ("=~", "!~"):
        try:
            compile_regex(value)   # (RE2: what the engine accepts)
        except LabelError:
            assume(False)
    matcher = m(name, op, value)
    assert parse_matcher(render(matcher)) == matcher
    assert parse_matcher(matcher.text()) == matcher


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(NAMES, st.sampled_from(("=", "!=")), VALUES), max_size=5))
def test_rendered_matchers_parse_back_together(items: list[tuple[str, str, str]]) -> None:
    ms = tuple(m(*i) for i in items)
    assert parse_text(render_all(ms)) == ms
    assert parse_matchers([render(x) for x in ms]) == ms


GRAMMAR = st.sampled_from(list('{}!=~,"\\\' `\n') + ["=~", "!~", "!=", "\\x", "\\u12", "a", "开"])


@settings(max_examples=500, deadline=None)
@given(st.one_of(st.text(alphabet=st.characters(blacklist_categories=())),
                 st.lists(st.one_of(GRAMMAR, NAMES), max_size=12).map("".join)))
def test_any_text_is_matchers_or_a_labelerror_never_a_crash(text: str) -> None:
    try:
        found = parse_text(text)
    except LabelError as err:
        assert repr(text) in str(err) or "UTF-8" in str(err) or "text" in str(err)
        return
    assert parse_text(render_all(found)) == found


# matchers -> does a silence of them mute everything without a label it excludes?
EVERYTHING = [
    (['district=""'], True),
    (["kind!=fire_alarm"], True),
    (['kind=~".*"'], True),
    (["kind!~gas_.*"], True),
    (['kind!=fire_alarm', 'district=~"kaifu|"'], True),
    (["kind!=fire_alarm,district=kaifu"], False),
    (["district=kaifu"], False),
    (['kind=~".+"'], False),
    (['district=""', "kind=gas_leak"], False),
]


@pytest.mark.parametrize("texts, refused", EVERYTHING)
def test_a_silence_matching_an_alert_without_labels_is_refused(texts: list[str],
                                                               refused: bool) -> None:
    ms = parse_matchers(texts)
    assert matches_all(ms, {}) is refused
    if refused:
        with pytest.raises(LabelError) as err:
            check_silence_matchers(ms)
        assert err.value.code == MATCHES_EVERYTHING
    else:
        check_silence_matchers(ms)
    with pytest.raises(LabelError):
        check_silence_matchers(())


def test_silence_ids_tell_a_regex_from_a_value_that_looks_like_one() -> None:
    regex, literal = parse_matchers(["a=~x"]), parse_matchers(['a="~x"'])
    assert regex != literal
    assert silence_id("张伟", regex, 1) != silence_id("张伟", literal, 1)
    assert silence_id("张伟", regex, 1) == silence_id("张伟", parse_matchers(['a=~"x"']), 1)
