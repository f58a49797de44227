"""deploy.supervision: the restart policy (backoff, cap, reset after a stable run, operator
restarts) and the status record the cockpit reads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from deploy.supervision import (Backoff, ExitReason, ProcessState, StatusError, parse_status,
                                status_record)

KILLED = ExitReason.from_returncode(-9)


@pytest.mark.parametrize("failures, delay", [(0, 0.0), (1, 1.0), (2, 2.0), (3, 4.0),
                                             (5, 16.0), (6, 30.0), (50, 30.0), (10**6, 30.0)])
def test_delay_doubles_from_1s_and_is_capped_at_30s(failures: int, delay: float) -> None:
    assert Backoff().delay(failures) == delay


@pytest.mark.parametrize("returncode, kind, text", [
    (-9, "signal", "killed by SIGKILL"), (-15, "signal", "killed by SIGTERM"),
    (1, "exit", "exited with code 1"), (0, "exit", "exited with code 0"),
    (None, "unknown", "exited")])
def test_exit_reason_from_returncode(returncode: int | None, kind: str, text: str) -> None:
    reason = ExitReason.from_returncode(returncode)
    assert (reason.kind, str(reason)) == (kind, text)


def test_crash_loop_backs_off_and_a_stable_run_resets_it() -> None:
    policy, state = Backoff(initial_s=1, max_s=8, stable_s=60), ProcessState("worker")
    assert state.due(0.0) and not state.started(100, 0.0, 0)  # the first start: no restart
    now, delays = 0.0, []
    for pid in range(101, 107):                  # dies 2 s after each start
        now += 2
        delays.append(state.exited(policy, KILLED, now, int(now * 1000)))
        assert not state.due(now + delays[-1] - 0.01) and state.due(now + delays[-1])
        now += delays[-1]
        assert state.started(pid, now, int(now * 1000))
    assert delays == [1, 2, 4, 8, 8, 8]
    assert state.restarts == 6 and state.last_reason == KILLED
    now += 61                                    # ran a stable minute, then died
    assert state.exited(policy, KILLED, now, 0) == 1


def test_operator_restart_is_immediate_and_no_failure() -> None:
    policy, state = Backoff(), ProcessState("cockpit")
    state.started(1, 0.0, 0)
    state.exited(policy, KILLED, 1.0, 1000)
    state.started(2, 2.0, 2000)
    assert state.exited(policy, ExitReason("operator"), 3.0, 3000) == 0.0
    assert state.due(3.0) and state.started(3, 3.0, 3000)
    assert state.failures == 1 and state.restarts == 2
    assert state.to_dict() == {"pid": 3, "restarts": 2, "last_restart_ms": 3000,
                               "last_reason": {"kind": "operator", "code": None,
                                               "signal": None},
                               "next_start_ms": None}


def test_status_record_round_trips_through_json() -> None:
    worker, cockpit = ProcessState("worker"), ProcessState("cockpit")
    worker.started(10, 0.0, 0)
    worker.exited(Backoff(), KILLED, 5.0, 5000)
    cockpit.started(11, 0.0, 0)
    record = status_record([worker, cockpit], 9, 6000)
    parsed = parse_status(json.loads(json.dumps(record)))
    assert parsed == {"processes": {"worker": worker.to_dict(), "cockpit": cockpit.to_dict()}}
    assert parsed["processes"]["worker"]["next_start_ms"] == 6000
    assert parsed["processes"]["worker"]["last_reason"]["signal"] == "SIGKILL"


@pytest.mark.parametrize("bad", [None, [], {"processes": []}, {"processes": {"w": 1}},
                                 {"processes": {"w": {"pid": "12"}}},
                                 {"processes": {"w": {"restarts": True}}},
                                 {"processes": {"w": {"last_reason": {"kind": "boom"}}}},
                                 {"processes": {"w": {"last_reason": {"kind": "signal",
                                                                      "signal": 9}}}}])
def test_a_bad_status_file_is_refused_with_a_code(bad: object) -> None:
    with pytest.raises(StatusError) as info:
        parse_status(bad)
    assert info.value.code == "bad_status"


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                    lambda kids: st.lists(kids, max_size=3)
                    | st.dictionaries(st.text(max_size=8), kids, max_size=4), max_leaves=12))
def test_parse_status_never_crashes(obj: object) -> None:
    try:
        parse_status({"processes": {"worker": obj}})
        parse_status(obj)
    except StatusError:
        pass


@given(st.lists(st.floats(min_value=0, max_value=1e6), min_size=1, max_size=30))
def test_delay_is_never_negative_nor_over_the_cap(uptimes: list[float]) -> None:
    policy, state, now = Backoff(), ProcessState("simulator"), 0.0
    state.started(1, now, 0)
    for up in uptimes:
        now += up
        delay = state.exited(policy, KILLED, now, 0)
        assert 0 < delay <= policy.max_s
        now += delay
        state.started(1, now, 0)


def test_the_cockpit_reads_no_processes_from_a_missing_or_unreadable_status(
        tmp_path: Path) -> None:
    from cockpit_api.server import read_processes
    assert read_processes(tmp_path / "missing.json") == {}
    assert read_processes(tmp_path) == {}            # a directory: logged, not a crash
    (tmp_path / "torn.json").write_bytes(b'{"processes": ')
    assert read_processes(tmp_path / "torn.json") == {}
