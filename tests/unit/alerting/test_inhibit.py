"""alerting.inhibit: inhibition rules, table-driven from YAML (the Changsha defaults too)."""

from __future__ import annotations

import json
import time

import pytest

from alerting.config import default_config, load_config
from alerting.inhibit import Inhibitor

CHANGSHA = Inhibitor(default_config().inhibit_rules)

INCIDENT_B1 = {"kind": "fire_incident", "detector": "clusters", "stream": "fire",
               "entity_id": "FI-1", "building": "B1", "severity": "critical"}
LIMIT_S1 = {"kind": "gas_concentration_high", "detector": "limit", "stream": "lifeline",
            "entity_id": "S1", "severity": "critical"}
RISK_S1 = {"kind": "gas_explosion_risk", "detector": "clusters", "stream": "lifeline",
           "entity_id": "S1", "severity": "critical"}


def alarm(building: str | None) -> dict[str, str]:
    out = {"kind": "fire_alarm", "detector": "clusters", "stream": "fire",
           "entity_id": building or "P-9", "severity": "major"}
    return out if building is None else {**out, "building": building}


def quality(kind: str, sensor: str) -> dict[str, str]:
    return {"kind": kind, "detector": "data_quality", "stream": "lifeline",
            "entity_id": sensor, "severity": "minor"}


@pytest.mark.parametrize("firing, target, expected", [
    ([INCIDENT_B1], alarm("B1"), "structure-fire-mutes-building-alarms"),
    ([INCIDENT_B1], alarm("B2"), None),
    ([INCIDENT_B1], alarm(None), None),                       # the guard: no building label
    ([{**INCIDENT_B1, "kind": "fire_calls"}], alarm("B1"), "structure-fire-mutes-building-alarms"),
    ([alarm("B1")], alarm("B1"), None),                       # an alarm mutes no alarm
    ([LIMIT_S1], quality("sensor_stuck", "S1"), "limit-mutes-sensor-data-quality"),
    ([LIMIT_S1], quality("sensor_nodata", "S1"), "limit-mutes-sensor-data-quality"),
    ([LIMIT_S1], quality("sensor_nodata", "S2"), None),
    ([quality("sensor_nodata", "S1")], LIMIT_S1, None),       # not the other way round
    ([RISK_S1], LIMIT_S1, "explosion-risk-mutes-gas-reading"),
    ([RISK_S1], {**LIMIT_S1, "entity_id": "S2"}, None),
    ([], alarm("B1"), None),
])
def test_changsha_rules(firing: list[dict[str, str]], target: dict[str, str],
                        expected: str | None) -> None:
    inh = Inhibitor(CHANGSHA.rules)
    for i, labels in enumerate(firing):
        inh.observe(labels, f"src{i}", "firing")
    hit = inh.inhibited_by(target, "target")
    assert (hit[0] if hit else None) == expected
    assert inh.mutes(target, "target") is (expected is not None)
    if hit:
        assert hit[1] == "src0"


def test_a_resolved_source_stops_muting() -> None:
    inh = Inhibitor(CHANGSHA.rules)
    inh.observe(INCIDENT_B1, "I", "firing")
    assert inh.mutes(alarm("B1"), "A")
    inh.observe(INCIDENT_B1, "I", "resolved")
    assert not inh.mutes(alarm("B1"), "A") and len(inh) == 0


def test_a_source_whose_labels_change_is_reindexed() -> None:
    inh = Inhibitor(CHANGSHA.rules)
    inh.observe(INCIDENT_B1, "I", "firing")
    inh.observe({**INCIDENT_B1, "building": "B2"}, "I", "firing")
    assert not inh.mutes(alarm("B1"), "A") and inh.mutes(alarm("B2"), "A")
    inh.observe({**INCIDENT_B1, "kind": "fire_alarm"}, "I", "firing")   # no longer a source
    assert len(inh) == 0


SYMMETRIC = """
route: {receiver: r}
inhibit_rules:
  - name: same-kind-family
    source_matchers: ['kind=~"a|b"']
    target_matchers: ['kind=~"b|c"']
    equal: [zone]
  - name: global
    source_matchers: ['kind="outage"']
    target_matchers: ['kind="ping"']
"""


def test_an_alert_never_inhibits_itself_and_two_sided_alerts_do_not_mute_each_other() -> None:
    inh = Inhibitor(load_config(SYMMETRIC).inhibit_rules)
    b1, b2 = {"kind": "b", "zone": "z"}, {"kind": "b", "zone": "z"}
    inh.observe(b1, "B1", "firing")
    assert not inh.mutes(b1, "B1")                  # itself
    inh.observe(b2, "B2", "firing")
    assert not inh.mutes(b1, "B1") and not inh.mutes(b2, "B2")   # both sides: no mutual mute
    assert inh.mutes({"kind": "c", "zone": "z"}, "C")            # a one-sided target is muted
    inh.observe({"kind": "a", "zone": "z"}, "A", "firing")       # a one-sided source...
    assert inh.inhibited_by(b1, "B1") == ("same-kind-family", "A")  # ...mutes two-sided ones


def test_an_alert_is_not_inhibited_by_its_own_older_state() -> None:
    rules = load_config("""
route: {receiver: r}
inhibit_rules:
  - {source_matchers: ['kind="a"'], target_matchers: ['severity="minor"']}
""").inhibit_rules
    inh = Inhibitor(rules)
    inh.observe({"kind": "a", "severity": "major"}, "X", "firing")
    assert not inh.mutes({"kind": "a", "severity": "minor"}, "X")   # asked before observed
    assert inh.mutes({"kind": "b", "severity": "minor"}, "Y")


def test_absent_equal_labels_count_as_equal_and_no_equal_means_global() -> None:
    inh = Inhibitor(load_config(SYMMETRIC).inhibit_rules)
    inh.observe({"kind": "a"}, "A", "firing")
    assert inh.mutes({"kind": "c"}, "C")                     # zone absent on both
    assert not inh.mutes({"kind": "c", "zone": "z"}, "C")
    inh.observe({"kind": "outage", "zone": "x"}, "O", "firing")
    assert inh.mutes({"kind": "ping", "zone": "anything"}, "P")


def test_snapshot_restore() -> None:
    inh = Inhibitor(CHANGSHA.rules)
    inh.observe(INCIDENT_B1, "I", "firing")
    inh.observe(alarm("B1"), "A", "firing")     # not a source: not kept
    state = json.loads(json.dumps(inh.snapshot()))
    assert list(state["sources"]) == ["I"]
    again = Inhibitor(CHANGSHA.rules)
    again.restore(state)
    assert again.mutes(alarm("B1"), "A") and len(again) == 1


def test_mutes_costs_rules_not_alerts() -> None:
    inh = Inhibitor(CHANGSHA.rules)
    for i in range(10_000):
        inh.observe({**LIMIT_S1, "entity_id": f"S{i}"}, f"L{i}", "firing")
        inh.observe({**INCIDENT_B1, "building": f"B{i}"}, f"I{i}", "firing")
    started = time.perf_counter()
    muted = sum(inh.mutes(quality("sensor_stuck", f"S{i}"), f"Q{i}") for i in range(0, 20_000, 2))
    assert time.perf_counter() - started < 0.5
    assert muted == 5000          # S0, S2, ... S9998 have a firing limit alert


def test_an_unknown_status_is_refused() -> None:
    with pytest.raises(ValueError, match="status: 'acknowledged'"):
        Inhibitor(CHANGSHA.rules).observe(INCIDENT_B1, "I", "acknowledged")
