"""What-if on simulator data: a small city with a gas leak, replayed with the limits in force
and with a manhole-gas alarm level moved down, then up. The alerts the report adds and
removes, and the change in time to alert, are checked against what the readings themselves
say (computed here from the simulated events, not copied from a report): a manhole-gas
alarm fires at the first reading at or above its level (``detectors.limits``)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pytest

from city.profile import load_profile
from citycc.settings import load_settings
from replay.engine import Replayer
from replay.merge import merge_runs
from replay.overrides import load_overrides
from replay.setup import ReplaySetup, setup_from_settings
from replay.timeline import OutRecord
from replay.variant import with_overrides
from replay.whatif import compare, to_json
from schemas.validate import parse_event_time
from simulator.generate import Simulation

T0 = 1_795_600_800_000          # 2026-11-25T10:00:00Z
MINUTES = 5
TICK_S = 1.0                    # the Replayer's tick: the resolution of "now"
KIND = "manhole_gas"
PROFILE = load_profile("changsha")


@pytest.fixture(scope="module")
def events() -> dict[str, list[dict[str, Any]]]:
    sim = Simulation(PROFILE, scale=0.05, seed=3, start_ms=T0, incidents=0)
    sim.inject("gas_leak", T0 + 20_000)
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for t in range(T0 + 1000, T0 + MINUTES * 60_000 + 1, 1000):
        for stream, evs in sim.tick(t).items():
            out[stream] += evs
    return dict(out)


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> ReplaySetup:
    return setup_from_settings(load_settings({}, run_dir=tmp_path_factory.mktemp("run")),
                               PROFILE)


def replay(setup: ReplaySetup, events: dict[str, list[dict[str, Any]]]) -> list[OutRecord]:
    r = Replayer(setup, T0)
    inputs = {s: ((parse_event_time(e["event_time"]), i, e) for i, e in
                  enumerate(sorted(evs, key=lambda e: parse_event_time(e["event_time"]))))
              for s, evs in events.items()}
    out: list[OutRecord] = []
    for stream, evs, times in merge_runs(inputs):
        out += r.feed(stream, evs, times)
    return out + r.advance(T0 + MINUTES * 60_000 + 5_000)


def same_tick(fired_ms: int, reading_ms: int) -> bool:
    """An alert fires at the replay's ``now`` for the batch that carried its reading: the
    end of the reading's tick interval (the Replayer takes a stream's events of one tick
    interval together, as the worker's agents take a batch; live, ``now`` is the wall clock
    a moment after the reading arrived)."""
    return reading_ms <= fired_ms <= (reading_ms // 1000 + 1) * 1000


def first_at_or_above(events: dict[str, list[dict[str, Any]]], level: float) -> dict[str, int]:
    """{sensor: the time of its first manhole-gas reading at or above ``level``}."""
    first: dict[str, int] = {}
    for e in events["lifeline"]:
        if e["kind"] == KIND and e["value"] >= level:
            t = parse_event_time(e["event_time"])
            first[e["entity_id"]] = min(t, first.get(e["entity_id"], t))
    return first


@pytest.fixture(scope="module")
def baseline(setup: ReplaySetup, events: dict[str, list[dict[str, Any]]]) -> list[OutRecord]:
    return replay(setup, events)


def variant(setup: ReplaySetup, events: dict[str, list[dict[str, Any]]], high: float,
            recover: float) -> list[OutRecord]:
    ov = load_overrides(f"limits:\n  {KIND}: {{high_alarm: {high}, high_recover: {recover}}}\n",
                        PROFILE)
    return replay(with_overrides(setup, ov), events)


def _keys(rows: list[dict[str, Any]]) -> set[tuple[str, str]]:
    return {(r["kind"], r["entity_id"]) for r in rows if r["kind"] == f"{KIND}_high"}


def test_a_lower_alarm_level_adds_the_sensors_between_and_alerts_earlier(
        setup: ReplaySetup, events: dict[str, list[dict[str, Any]]],
        baseline: list[OutRecord]) -> None:
    level = PROFILE.limits[KIND].high_alarm
    assert level is not None
    low = 3.25          # %LEL: into the top of the clean-air noise (0.3-2 %LEL, sd 0.35)
    before, after = first_at_or_above(events, level), first_at_or_above(events, low)
    assert len(after.keys() - before.keys()) >= 2, "a few sensors' noise reaches that level"
    rep = compare(baseline, variant(setup, events, low, low * 0.5), T0)
    assert _keys(rep["alerts"]["added"]) == \
        {(f"{KIND}_high", s) for s in after.keys() - before.keys()}
    assert _keys(rep["alerts"]["removed"]) == set()
    for row in rep["alerts"]["added"]:
        if row["kind"] == f"{KIND}_high":
            assert same_tick(row["first_firing_ms"], after[row["entity_id"]])
    # the sensors that alerted anyway alert earlier, by what their readings say
    matched = {m["entity_id"]: m for m in rep["time_to_alert"]["alerts"]
               if m["kind"] == f"{KIND}_high"}
    assert matched.keys() == before.keys()
    for sensor, m in matched.items():
        assert abs(m["delta_s"] - (after[sensor] - before[sensor]) / 1000) < TICK_S
        assert m["delta_s"] < 0
    kind = next(k for k in rep["time_to_alert"]["kinds"] if k["kind"] == f"{KIND}_high")
    assert abs(kind["first_delta_s"] - (min(after.values()) - min(before.values())) / 1000) \
        < TICK_S


def test_a_higher_alarm_level_removes_the_sensors_between(
        setup: ReplaySetup, events: dict[str, list[dict[str, Any]]],
        baseline: list[OutRecord]) -> None:
    level = PROFILE.limits[KIND].high_alarm
    assert level is not None
    high = 99.0
    before, after = first_at_or_above(events, level), first_at_or_above(events, high)
    assert before.keys() - after.keys()
    rep = compare(baseline, variant(setup, events, high, level), T0)
    assert _keys(rep["alerts"]["removed"]) == \
        {(f"{KIND}_high", s) for s in before.keys() - after.keys()}
    assert _keys(rep["alerts"]["added"]) == set()
    # fewer alerts, fewer notifications; the report is the same bytes when made again
    assert rep["notifications"]["variant"]["total"] < rep["notifications"]["baseline"]["total"]
    assert to_json(rep) == to_json(compare(baseline, variant(setup, events, high, level), T0))


def test_the_same_configuration_changes_nothing(
        setup: ReplaySetup, events: dict[str, list[dict[str, Any]]],
        baseline: list[OutRecord]) -> None:
    rep = compare(baseline, replay(with_overrides(setup, load_overrides("", PROFILE)), events),
                  T0)
    assert rep["alerts"]["added"] == rep["alerts"]["removed"] == []
    assert all(m["delta_s"] == 0 for m in rep["time_to_alert"]["alerts"])
    inc = rep["incidents"]
    assert inc["baseline"] >= 1 and len(inc["matched"]) == inc["baseline"] == inc["variant"]
    assert all(not m["units_changed"] and m["baseline"]["units"] for m in inc["matched"])
