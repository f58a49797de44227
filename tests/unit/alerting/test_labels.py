"""alerting.labels: label sets of alert messages and Alertmanager-style matchers."""

from __future__ import annotations

import pytest

from alerting.labels import LABEL_FIELDS, LabelError, Matcher, label_set, labels_of, \
    matches_all, parse_matcher, parse_matchers
from schemas.records import make_alert

LABELS = {"kind": "fire_alarm", "severity": "major", "district": "yuelu", "building": "B-7"}


def alert(**extra: object) -> dict[str, object]:
    a = make_alert(detector="clusters", kind="fire_alarm", status="firing", severity="major",
                   stream="fire", entity_id="B-7", district="yuelu", district_zh="岳麓区",
                   district_en="Yuelu", lat=28.2, lon=112.9, event_time="2025-06-01T08:00:00Z",
                   value=1.0, threshold=0.0, unit="", title_zh="火警", title_en="Fire alarm",
                   evidence=["e1"], detected_at="2025-06-01T08:00:01Z")
    a.update(extra)
    return a


def test_labels_of_an_alert_are_its_identity_fields_plus_extra_labels() -> None:
    assert labels_of(alert(labels={"building": "B-7", "floor": 3, "empty": ""})) == {
        "kind": "fire_alarm", "detector": "clusters", "severity": "major", "stream": "fire",
        "entity_id": "B-7", "district": "yuelu", "building": "B-7", "floor": "3"}


def test_labels_of_drops_empty_fields() -> None:
    assert "district" not in labels_of(alert(district=""))


@pytest.mark.parametrize("extra", [
    {}, {"district": ""}, {"entity_id": 7}, {"entity_id": "7"}, {"entity_id": 7.0},
    {"entity_id": True}, {"entity_id": ["B-7"]}, {"labels": {"floor": 3}}, {"labels": None}])
def test_label_set_is_the_sorted_label_set_every_time(extra: dict[str, object]) -> None:
    # remembered by the label values: a number and its text must not share an entry
    for _ in range(2):
        for e in ({"entity_id": "7"}, extra):
            assert label_set(alert(**e)) == tuple(sorted(labels_of(alert(**e)).items()))


@pytest.mark.parametrize("text, labels, expected", [
    ("kind=fire_alarm", LABELS, True),
    ("kind=fire", LABELS, False),
    ("kind!=fire_alarm", LABELS, False),
    ("kind!=gas_concentration_high", LABELS, True),
    ('severity=~"critical|major"', LABELS, True),
    ("severity=~critical|major", LABELS, True),
    ("severity=~crit", LABELS, False),          # regexes are fully anchored
    ("kind=~fire", LABELS, False),
    ("kind=~fire.*", LABELS, True),
    ("kind!~fire.*", LABELS, False),
    ('floor=""', LABELS, True),                 # an absent label matches the empty string
    ('floor!=""', LABELS, False),
    ("floor=~.+", LABELS, False),
    ("building=~.+", LABELS, True),
    ('reason="under repair"', {"reason": "under repair"}, True),
    ("  kind = fire_alarm  ", LABELS, True),
])
def test_matchers(text: str, labels: dict[str, str], expected: bool) -> None:
    assert parse_matcher(text).matches(labels) is expected


@pytest.mark.parametrize("text", ["", "kind", "=x", "1kind=x", "kind=~(", 42])
def test_bad_matchers_are_refused_with_the_text(text: object) -> None:
    with pytest.raises(LabelError) as err:
        parse_matcher(text)  # type: ignore[arg-type]
    assert repr(text) in str(err.value) or "kind" in str(err.value)


def test_a_value_may_start_with_an_operator_character_when_quoted() -> None:
    assert parse_matcher('kind="=x"') == Matcher("kind", "=", "=x")
    with pytest.raises(LabelError, match="expected a value"):
        parse_matcher("kind==x")       # (the classic parser read "=x"; the UTF-8 one refuses)


def test_unknown_operator() -> None:
    with pytest.raises(LabelError, match="unknown operator"):
        Matcher("kind", "~=", "x")


def test_parse_matchers_forms() -> None:
    assert parse_matchers(None) == ()
    assert parse_matchers({"kind": "fire_alarm"}) == (Matcher("kind", "=", "fire_alarm"),)
    assert [str(m) for m in parse_matchers(["a=1", "b!~x.*"])] == ['a="1"', 'b!~"x.*"']
    with pytest.raises(LabelError, match="must be a list"):
        parse_matchers("kind=fire_alarm")


def test_matches_all_is_a_conjunction() -> None:
    ms = parse_matchers(["kind=fire_alarm", "district=yuelu"])
    assert matches_all(ms, LABELS)
    assert not matches_all(ms, {**LABELS, "district": "kaifu"})
    assert matches_all((), LABELS)


@pytest.mark.parametrize("value", ["GASC-1", "", " padded ", 'with "quotes"', "a=b", "中文"])
def test_a_matchers_text_parses_back_to_it(value: str) -> None:
    for op in ("=", "!=", "=~", "!~"):
        m = Matcher("entity_id", op, value if "~" not in op else "GASC-.*")
        assert parse_matcher(m.text()) == m


@pytest.mark.parametrize("name", LABEL_FIELDS)
def test_label_set_tells_apart_alerts_differing_in_any_label_field(name: str) -> None:
    a, b = alert(), alert(**{name: "other-value"})
    assert label_set(a) != label_set(b) and dict(label_set(b))[name] == "other-value"
    assert label_set(a) == tuple(sorted(labels_of(a).items()))
