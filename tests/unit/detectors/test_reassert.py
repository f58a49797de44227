"""detectors.reassert: firing findings by unit, due on a schedule, restored due at once."""

from __future__ import annotations

import json

import pytest

from detectors.findings import FIRING, RESOLVED, Finding
from detectors.reassert import Reasserter, ReassertError

T0 = 1_748_764_800_000


def f(entity: str, status: str = FIRING, severity: str = "major") -> Finding:
    return Finding("quality", "sensor_stuck", entity, status, severity, T0, "卡滞", "stuck",
                   stream="lifeline", evidence=("e1",), explanation={"window_s": 600})


def test_due_is_oldest_first_and_each_assertion_restarts_the_interval() -> None:
    r = Reasserter(60_000)
    r.observe("u", [f("A")], T0)
    r.observe("u", [f("B")], T0 + 10_000)
    assert r.due(T0 + 59_999) == []
    assert [x.entity_id for x in r.due(T0 + 70_000)] == ["A", "B"]
    r.observe("u", [f("A", severity="critical")], T0 + 100_000)   # an update, kept
    assert [x.entity_id for x in r.due(T0 + 130_000)] == ["B"]
    assert [(x.entity_id, x.severity) for x in r.due(T0 + 160_000)] == [("A", "critical")]
    r.observe("u", [f("A", RESOLVED)], T0 + 170_000)
    assert [x.entity_id for x in r.due(T0 + 10**7)] == ["B"] and len(r) == 1


def test_snapshot_restore_and_forget_by_unit() -> None:
    r = Reasserter(60_000)
    r.observe("lifeline/limits:0", [f("A"), f("B")], T0)
    r.observe("lifeline/limits:1", [f("C")], T0)
    snap = json.loads(json.dumps(r.snapshot("lifeline/limits:0")))
    again = Reasserter(60_000)
    again.observe("lifeline/limits:1", [f("C")], T0 + 5000)
    again.restore("lifeline/limits:0", snap)
    assert [x.entity_id for x in again.due(T0 + 5001)] == ["A", "B"]   # at once
    assert again.active("lifeline/limits:0") == [f("A"), f("B")]
    again.forget("lifeline/limits:0")
    assert [x.entity_id for x in again.due(T0 + 10**7)] == ["C"]
    with pytest.raises(ReassertError):
        again.restore("u", {"a": 1})
    with pytest.raises(ReassertError):
        again.restore("u", [{"detector": "x"}])
    with pytest.raises(ValueError):
        Reasserter(0)


def test_a_finding_that_moves_unit_is_held_once() -> None:
    r = Reasserter(1000)
    r.observe("a", [f("A")], T0)
    r.observe("b", [f("A")], T0)
    assert r.active("a") == [] and len(r.due(T0 + 1000)) == 1
