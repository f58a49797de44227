"""Exercises: scenario files are checked like live input (code, path, line), a drill is
shifted to start now with its relative timing exact, and its ids are never real ones."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from city.profile import load_profile
from replay.exercise import (BAD_VALUE, NOT_YAML, UNKNOWN_KEY, ScenarioError,
                             drill_events, exercise_event_id, parse_scenario, shift_events)
from schemas.validate import Policy, format_event_time, parse_event_time

ROOT = Path(__file__).resolve().parents[3]
SAMPLE = ROOT / "tests" / "fixtures" / "exercise" / "gas_leak_yuelu_school.yaml"
POLICY = Policy.for_city(load_profile("changsha"))
NOW = 1_800_000_000_123


def _text() -> str:
    return SAMPLE.read_text(encoding="utf-8")


def test_the_sample_drill_starts_now_in_offset_order() -> None:
    sc = parse_scenario(_text(), POLICY)
    events = drill_events(sc, "x1", NOW, POLICY)
    times = [parse_event_time(e["event_time"]) for _, e in events]
    assert times == sorted(times) and times[0] == NOW and times[-1] == NOW + 300_000
    call = next(e for s, e in events if s == "fire")
    assert parse_event_time(call["event_time"]) == NOW + 95_000
    assert call["event_id"] == exercise_event_id("x1", "drill-call-1")
    assert all(e["event_id"].startswith("EX-") and e["source"] == "exercise"
               for _, e in events)
    # entity ids are kept: the drill is about the city's own sensors
    assert {e["entity_id"] for _, e in events} == {"GASC-YL-00538", "GASP-YL-00284",
                                                   "CALL-DRILL-0001"}


def test_drill_ids_are_deterministic_and_differ_per_exercise() -> None:
    sc = parse_scenario(_text(), POLICY)
    a = [e["event_id"] for _, e in drill_events(sc, "x1", NOW, POLICY)]
    assert a == [e["event_id"] for _, e in drill_events(sc, "x1", NOW + 5, POLICY)]
    b = [e["event_id"] for _, e in drill_events(sc, "x2", NOW, POLICY)]
    assert len(set(a)) == len(a) and not set(a) & set(b)


def _line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


@pytest.mark.parametrize("old, new, code, path, marker", [
    ("value: 26.0", "value: 260.0", "out_of_range", "events[6].value", "value: 260.0"),
    ("category: hazmat", "categry: hazmat", "unknown_field", "events[8].categry", "categry"),
    ("category: hazmat", "category: volcano", "unknown_value", "events[8].category",
     "volcano"),
    ("    lat: 28.1862\n", "    lat: 38.1862\n", "outside_city", "events[8].lat", "38.1862"),
    ('at: "+95s"', 'at: "95 seconds"', BAD_VALUE, "events[8].at", "95 seconds"),
    ("stream: fire", "stream: fires", BAD_VALUE, "events[8].stream", "fires"),
    ("name_en:", "nam_en:", UNKNOWN_KEY, "nam_en", "nam_en"),
])
def test_a_bad_scenario_is_refused_with_line_path_and_code(old: str, new: str, code: str,
                                                          path: str, marker: str) -> None:
    text = _text()
    assert old in text
    bad = text.replace(old, new, 1)
    with pytest.raises(ScenarioError) as err:
        parse_scenario(bad, POLICY, "drill.yaml")
    assert (err.value.code, err.value.path) == (code, path)
    assert err.value.line == _line_of(bad, marker)
    assert f"line {err.value.line}" in str(err.value)


def test_a_missing_field_points_at_its_event() -> None:
    bad = _text().replace("    category: hazmat\n", "")
    with pytest.raises(ScenarioError) as err:
        parse_scenario(bad, POLICY)
    assert (err.value.code, err.value.path) == ("missing_field", "events[8].category")
    assert err.value.line == _line_of(bad, 'at: "+95s"')


@pytest.mark.parametrize("text, code", [
    ("events: [1, 2", NOT_YAML), ("name: x\nevents: []\n", BAD_VALUE),
    ("events: [{at: '+1s', stream: fire}]\n", BAD_VALUE),                   # no name
    ("name: x\nevents:\n  - {at: '+1s', stream: fire, event_time: '2026-01-01T00:00:00Z'}\n",
     UNKNOWN_KEY),
])
def test_structural_mistakes(text: str, code: str) -> None:
    with pytest.raises(ScenarioError) as err:
        parse_scenario(text, POLICY)
    assert err.value.code == code


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 7 * 86_400_000), min_size=1, max_size=30),
       st.integers(1_500_000_000_000, 2_500_000_000_000))
def test_time_shift_keeps_the_relative_timing_exactly(offsets: list[int], now: int) -> None:
    base = 1_700_000_000_000
    events = [("lifeline", {"event_id": f"e{i}", "event_time": format_event_time(base + o),
                            "entity_id": "S"}) for i, o in enumerate(offsets)]
    moved = shift_events(events, "x", now)
    got = [parse_event_time(e["event_time"]) for _, e in moved]
    first = min(base + o for o in offsets)
    assert got == [now + (base + o - first) for o in offsets]
    assert min(got) == now
    assert [e["event_id"] for _, e in moved] == [exercise_event_id("x", f"e{i}")
                                                 for i in range(len(offsets))]


def test_the_readme_scenario_is_a_working_scenario() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("#### Exercises (drills)"):]
    text = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    sc = parse_scenario(text, POLICY)
    assert [(e.offset_ms, e.stream) for e in sc.events] == [(90_000, "lifeline"),
                                                            (95_000, "fire")]
