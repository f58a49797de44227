"""Replay windows: checked, refused with a stable code; an incident's window and area; the
event-time merge of streams; the pacer (event time against a given wall time)."""

from __future__ import annotations

import math

import orjson
import pytest
from hypothesis import given, strategies as st

from city.profile import load_profile
from replay.merge import merge_runs
from replay.pace import Pacer
from replay.window import (INCIDENT_AFTER_MS, INCIDENT_BEFORE_MS, MESSAGES, WindowError,
                           check_session, incident_window, make_window)
from schemas.catalog import INPUT_STREAMS

PROFILE = load_profile()
A, B = "2026-11-25T10:00:00Z", "2026-11-25T11:00:00+01:00"   # B: 10:00Z (the same moment)
T = 1_795_600_800_000   # 2026-11-25T10:00:00Z


@pytest.mark.parametrize("start,end,kw,code,field", [
    ("2026-11-25T10:00:00", "2026-11-25T11:00:00Z", {}, "bad_time", "from"),
    (A, "tomorrow", {}, "bad_time", "to"),
    (A, B, {}, "empty_window", "to"),
    ("2026-11-25T11:00:00Z", A, {}, "empty_window", "to"),
    (A, "2026-12-03T10:00:00Z", {}, "window_too_long", "to"),
    (A, "2026-11-25T11:00:00Z", {"districts": ["furong", "atlantis"]}, "unknown_district",
     "district"),
    (A, "2026-11-25T11:00:00Z", {"streams": ["ems", "weather"]}, "unknown_stream", "stream"),
    (A, "2026-11-25T11:00:00Z", {"bbox": "28.3,112.9,28.1,113.1"}, "bad_bbox", "bbox"),
    (A, "2026-11-25T11:00:00Z", {"bbox": "28.1,112.9"}, "bad_bbox", "bbox"),
])
def test_a_bad_window_is_refused_with_a_code(start, end, kw, code, field) -> None:
    with pytest.raises(WindowError) as exc:
        make_window(PROFILE, start, end, **kw)
    assert (exc.value.code, exc.value.field) == (code, field)
    assert code in MESSAGES and exc.value.message("zh") != exc.value.message("en")


def test_a_good_window_in_utc_ms_with_its_streams_in_catalogue_order() -> None:
    w = make_window(PROFILE, A, "2026-11-25T20:00:00+08:00", ["yuelu", "furong", "yuelu"],
                    "28.1,112.9,28.3,113.1", ["traffic", "ems"])
    assert (w.start_ms, w.end_ms) == (T, T + 2 * 3_600_000)   # 20:00+08:00 = 12:00Z
    assert w.districts == ("furong", "yuelu") and w.streams == ("ems", "traffic")
    assert w.bbox == (28.1, 112.9, 28.3, 113.1)
    assert make_window(PROFILE, A, "2026-11-25T11:00:00Z").streams == INPUT_STREAMS


def test_the_session_id_is_the_window_s() -> None:
    w1 = make_window(PROFILE, A, "2026-11-25T11:00:00Z", ["furong"])
    w2 = make_window(PROFILE, T, T + 3_600_000, ["furong"])
    w3 = make_window(PROFILE, A, "2026-11-25T11:00:00Z", ["yuelu"])
    assert w1.session_id() == w2.session_id() != w3.session_id()
    assert w1.session_id().isalnum() and len(w1.session_id()) == 12


@pytest.mark.parametrize("sid", ["", "a-b", "x" * 33, "a;DROP", "名字"])
def test_a_session_id_that_cannot_name_a_database_is_refused(sid: str) -> None:
    with pytest.raises(WindowError) as exc:
        check_session(sid)
    assert exc.value.code == "bad_session"
    assert check_session("drill_2026_11") == "drill_2026_11"


def attached(district: str, at: int) -> tuple[str, int, str]:
    return ("alert_attached", at, orjson.dumps({"member": {"district": district}}).decode())


def test_an_incident_s_window_and_area() -> None:
    rows = [("opened", T, "{}"), attached("kaifu", T + 5_000), attached("furong", T + 9_000),
            attached("atlantis", T + 9_500), ("resolved", T + 600_000, "not json")]
    w = incident_window(PROFILE, "INC-1", rows, ["fire"])
    assert (w.start_ms, w.end_ms) == (T - INCIDENT_BEFORE_MS, T + 600_000 + INCIDENT_AFTER_MS)
    assert w.districts == ("furong", "kaifu") and w.streams == ("fire",)
    assert w.incident_id == "INC-1"
    with pytest.raises(WindowError) as exc:
        incident_window(PROFILE, "INC-404", [])
    assert exc.value.code == "unknown_incident"


def test_merge_runs_gives_each_stream_s_events_tick_interval_by_interval() -> None:
    inputs = {"lifeline": [(100, (), "l1"), (900, (), "l2"), (1000, (), "l3"), (1500, (), "l4"),
                           (5200, (), "l5")],
              "ems": [(100, (), "e1"), (950, (), "e2"), (3100, (), "e3")], "fire": []}
    runs = list(merge_runs(inputs, tick_ms=1000, max_run=10))
    assert runs == [("ems", ["e1", "e2"], [100, 950]), ("lifeline", ["l1", "l2"], [100, 900]),
                    ("lifeline", ["l3", "l4"], [1000, 1500]), ("ems", ["e3"], [3100]),
                    ("lifeline", ["l5"], [5200])]
    assert [len(e) for _, e, _ in merge_runs(inputs, tick_ms=10_000, max_run=2)] == \
        [2, 1, 2, 2, 1]


def test_the_pacer_maps_event_time_to_wall_time() -> None:
    p = Pacer(4.0, T, 100.0)
    assert p.wait_s(T + 4_000, 100.0) == 1.0   # 4 s of event time at 4x: 1 s
    assert p.wait_s(T + 4_000, 101.5) == 0.0   # late: at once, no rush later
    p.pause(102.0)
    assert p.paused and math.isinf(p.wait_s(T + 8_000, 103.0))
    p.resume(112.0)                            # 10 s paused: not made up for
    assert p.wait_s(T + 8_000, 112.0) == pytest.approx(0.0)
    assert p.wait_s(T + 12_000, 112.0) == pytest.approx(1.0)
    p.seek(T + 3_600_000, 200.0)
    assert p.wait_s(T + 3_600_000 + 2_000, 200.0) == pytest.approx(0.5)
    p.set_speed(1.0, 200.0)
    assert p.wait_s(T + 3_600_000 + 4_000, 200.0) == pytest.approx(2.0)
    assert Pacer(None, T, 0.0).wait_s(T + 10**9, 0.0) == 0.0
    with pytest.raises(ValueError):
        Pacer(0, T, 0.0)


@given(st.dictionaries(st.sampled_from(INPUT_STREAMS),
                       st.lists(st.integers(0, 20_000), max_size=60), max_size=5),
       st.integers(1, 7))
def test_merge_runs_keeps_every_item_once_in_order(times: dict, max_run: int) -> None:
    """Every item comes out once; each stream's in its own order; batches never go back
    in tick intervals, hold one interval of one stream, at most max_run items."""
    inputs = {s: [(t, (), (s, i)) for i, t in enumerate(sorted(ts))] for s, ts in times.items()}
    runs = list(merge_runs(inputs, tick_ms=1000, max_run=max_run))
    for s, items in inputs.items():
        assert [e for r, evs, _ in runs if r == s for e in evs] == [e for _, _, e in items]
    last = -1
    for _, evs, ts in runs:
        assert 0 < len(evs) <= max_run and len({t // 1000 for t in ts}) == 1
        assert ts[0] // 1000 >= last
        last = ts[0] // 1000
