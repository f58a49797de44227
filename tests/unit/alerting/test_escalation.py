"""alerting.escalation: config errors with their path, escalation timing tables driven by
the lifecycle's own events, restarts and stops, checkpoints, and incident severity."""

from __future__ import annotations

import json
import tracemalloc
from collections import Counter
from typing import Any

import pytest
import yaml

from alerting.config import default_config
from alerting.escalation_config import MAX_LEVELS, MAX_REPEAT
from alerting.escalation import (EscalationConfig, EscalationError, Escalator, Page,
                                 SeverityRule, incident_severity, parse_escalation,
                                 severity_policy)
from alerting.lifecycle import AlertBook, Command, LifecycleConfig
from schemas.records import make_alert
from schemas.validate import format_event_time

T0 = 1_748_764_800_000
S = 1000
CONFIG_YAML = """
policies:
  - name: critical-gas
    matchers: ['severity=critical', 'kind=~gas_.*']
    levels:
      - {after_s: 60, notify: [dispatcher]}
      - {after_s: 300, notify: [shift_leader]}
      - {after_s: 600, notify: [district_duty_officer]}
      - {after_s: 900, notify: [city_command, mayor_office]}
    repeat: 1
  - name: default
    levels:
      - {after_s: 120, notify: [dispatcher]}
      - {after_s: 120, notify: [shift_leader]}
severity:
  - {min_alerts: 5, severity: major}
  - {min_alerts: 3, min_streams: 3, severity: critical}
"""
CONFIG = parse_escalation(yaml.safe_load(CONFIG_YAML))
# critical-gas pages at 0, 60, 360, 960 s; the round is 1860 s long; 8 pages in all
CRIT = [(0, 0, 1), (60, 0, 2), (360, 0, 3), (960, 0, 4),
        (1860, 1, 1), (1920, 1, 2), (2220, 1, 3), (2820, 1, 4)]


def alert(status: str = "firing", ev: str = "ev-1", severity: str = "critical",
          kind: str = "gas_concentration_high", entity: str = "GAS-1") -> dict[str, Any]:
    return make_alert(detector="limit", kind=kind, status=status, severity=severity,
                      stream="lifeline", entity_id=entity, district="yuelu",
                      district_zh="岳麓区",
                      district_en="Yuelu", lat=None, lon=None, event_time=format_event_time(T0),
                      value=1.0, threshold=1.0, unit="%LEL", title_zh="燃气", title_en="Gas",
                      evidence=[ev], detected_at=format_event_time(T0))


FP = alert()["fingerprint"]


class Rig:
    """A lifecycle book feeding an escalator, on an injected clock (seconds after T0)."""

    def __init__(self, config: EscalationConfig = CONFIG, flap: int = 50) -> None:
        self.book = AlertBook(LifecycleConfig(ack_timeout_ms=10**9, flap_changes=flap,
                                              flap_window_ms=3_600_000, flap_quiet_ms=600_000))
        self.esc = Escalator(config)
        self.pages: list[Page] = []
        self.n = 0

    def do(self, sec: int, what: str, **kw: Any) -> None:
        now = T0 + sec * S
        if what == "tick":
            self.pages += self.esc.tick(now)
            self.pages += [p for e in self.book.tick(now) for p in self.esc.observe(e)]
            return
        self.n += 1
        if what in ("firing", "resolved"):
            item: Any = alert(what, ev=f"ev-{self.n}", **kw)
        else:
            item = Command(what, FP, "op-zhang", comment="x")
        for e in self.book.apply(item, now):
            self.pages += self.esc.observe(e)

    def got(self) -> list[tuple[int, int, int]]:
        return [((p.due_ms - T0) // S, p.round, p.level) for p in self.pages]


def ticks(*secs: int) -> list[tuple[int, str]]:
    return [(s, "tick") for s in secs]


# (name, steps (second, what), expected pages (due second, round, level))
CASES = [
    ("unacknowledged: every level, then one more round",
     [(0, "firing")] + ticks(59, 60, 359, 360, 960, 1860, 1920, 2220, 2820, 9999),
     CRIT),
    # issue 13: a tick after a pause (the worker was down) sent every missed page at once;
    # now it sends the one due, and the next keeps its spacing from then
    ("a late tick sends one page; the next keeps its spacing from then",
     [(0, "firing")] + ticks(1000, 1299, 1300), [(0, 0, 1), (60, 0, 2), (1300, 0, 3)]),
    ("an ack stops it", [(0, "firing")] + ticks(60) + [(100, "ack")] + ticks(9999),
     CRIT[:2]),
    ("a resolve stops it", [(0, "firing")] + ticks(60) + [(100, "resolved")] + ticks(9999),
     CRIT[:2]),
    ("an un-ack starts over at level 1",
     [(0, "firing"), (10, "ack"), (100, "unack")] + ticks(159, 160, 460),
     [(0, 0, 1), (100, 0, 1), (160, 0, 2), (460, 0, 3)]),
    ("a re-fire (new occurrence) starts over",
     [(0, "firing")] + ticks(60) + [(70, "resolved"), (80, "firing")] + ticks(140),
     [(0, 0, 1), (60, 0, 2), (80, 0, 1), (140, 0, 2)]),
    ("claim and comment do not restart or stop it",
     [(0, "firing"), (30, "claim"), (40, "comment")] + ticks(60, 360),
     CRIT[:3]),
    ("a manual resolve stops it", [(0, "firing"), (30, "resolve")] + ticks(9999), CRIT[:1]),
]


@pytest.mark.parametrize("name,steps,expected", CASES, ids=[c[0] for c in CASES])
def test_escalation_timing(name: str, steps: list[tuple[int, str]],
                           expected: list[tuple[int, int, int]]) -> None:
    rig = Rig()
    for sec, what in steps:
        rig.do(sec, what)
    assert rig.got() == expected


def test_pages_carry_their_targets_and_policy() -> None:
    rig = Rig()
    rig.do(0, "firing")
    for sec in (60, 360, 960):
        rig.do(sec, "tick")
    assert [p.targets for p in rig.pages] == [("dispatcher",), ("shift_leader",),
                                              ("district_duty_officer",),
                                              ("city_command", "mayor_office")]
    assert {p.policy for p in rig.pages} == {"critical-gas"}
    assert {p.occurrence for p in rig.pages} == {1} and rig.pages[0].fingerprint == FP


def test_an_exhausted_escalation_stays_finished() -> None:
    rig = Rig()
    rig.do(0, "firing")
    for sec, _, _ in CRIT[1:]:
        rig.do(sec, "tick")
    rig.do(9999, "tick")
    rig.do(10_000, "claim")
    rig.do(10_001, "firing")  # a repeat from the detector (update)
    rig.do(20_000, "tick")
    assert rig.got() == CRIT


def test_the_first_matching_policy_wins_and_no_match_means_no_pages() -> None:
    rig = Rig()
    rig.do(0, "firing", severity="minor")
    rig.do(10_000, "tick")
    assert rig.got() == [(0, 0, 1), (120, 0, 2)] and rig.pages[0].policy == "default"
    only = Rig(parse_escalation({"policies": [{"name": "x", "matchers": ["severity=critical"],
                                               "levels": [{"after_s": 5, "notify": ["a"]}]}]}))
    only.do(0, "firing", severity="minor")
    only.do(10_000, "tick")
    assert only.pages == []


def test_a_severity_rise_moves_it_to_the_stricter_policy() -> None:
    rig = Rig()
    rig.do(0, "firing", severity="major")
    rig.do(50, "firing", severity="critical")   # update: now critical-gas matches
    rig.do(110, "tick")
    # level 1 was paged under the old policy: the new one goes on at level 2, on its own
    # timing from when the alert started (issue 12, item 4: not level 1 a second time)
    assert [(s, lvl, p.policy) for (s, _, lvl), p in zip(rig.got(), rig.pages)] == \
        [(0, 1, "default"), (60, 2, "critical-gas")]


CHANGSHA = parse_escalation(default_config().escalation)


def test_a_severity_change_runs_one_policy_and_never_pages_a_level_twice() -> None:
    """Issue 12, item 4: a major alert re-raised as critical in the same second paged the
    duty dispatcher twice (once per policy). The run moves to the new policy, keeps its
    start and its place (round, level), and goes on from there."""
    rig = Rig(CHANGSHA)
    rig.do(0, "firing", severity="major")
    rig.do(0, "firing", severity="critical")     # the same second, now critical
    rig.do(119, "tick")
    assert [(p.policy, p.level, p.targets) for p in rig.pages] == \
        [("major", 1, ("duty_dispatcher",))]
    rig.do(120, "tick")                          # critical: level 2 after 120 s
    rig.do(130, "firing", severity="major")      # down again: major's level 3 at 1200 s
    rig.do(1199, "tick")
    rig.do(1200, "tick")
    assert [((p.due_ms - T0) // S, p.policy, p.round, p.level) for p in rig.pages] == [
        (0, "major", 0, 1), (120, "critical", 0, 2), (1200, "major", 0, 3)]
    assert len({p.key for p in rig.pages}) == len(rig.pages)
    paged = Counter((p.round, p.level) for p in rig.pages)
    assert max(paged.values()) == 1, "a level was paged twice in one round"
    rig.do(2000, "tick")          # major has one more round, from 3000 s on
    rig.do(3000, "tick")
    assert [(p.policy, p.round, p.level) for p in rig.pages[3:]] == [("major", 1, 1)]


def test_a_moved_run_survives_a_checkpoint() -> None:
    rig = Rig(CHANGSHA)
    rig.do(0, "firing", severity="major")
    rig.do(10, "firing", severity="critical")
    again = Escalator(CHANGSHA)
    again.restore(json.loads(json.dumps(rig.esc.snapshot())))
    assert [((p.due_ms - T0) // S, p.policy, p.level) for p in again.tick(T0 + 120 * S)] == \
        [(120, "critical", 2)]
    assert [((p.due_ms - T0) // S, p.policy, p.level) for p in again.tick(T0 + 420 * S)] == \
        [(420, "critical", 3)]


def test_flapping_stops_it_and_settling_firing_restarts_it() -> None:
    rig = Rig(flap=2)
    rig.do(0, "firing")
    rig.do(10, "resolved")
    rig.do(20, "firing")           # third change: flapping, notification held -> no page
    rig.do(100, "tick")
    assert rig.got() == [(0, 0, 1)]
    rig.do(620, "tick")            # quiet for 600 s: settles firing -> level 1 again
    assert rig.got() == [(0, 0, 1), (620, 0, 1)]


def test_page_keys_are_deterministic_and_distinct() -> None:
    a, b = Rig(), Rig()
    for r in (a, b):
        r.do(0, "firing")
        r.do(2000, "tick")
    assert [p.key for p in a.pages] == [p.key for p in b.pages]
    assert len({p.key for p in a.pages}) == len(a.pages)


def test_snapshot_restore_continues_on_time() -> None:
    rig = Rig()
    rig.do(0, "firing")
    rig.do(60, "tick")
    snap = json.loads(json.dumps(rig.esc.snapshot()))
    again = Escalator(CONFIG)
    again.restore(snap)
    assert again.snapshot() == rig.esc.snapshot()
    assert [((p.due_ms - T0) // S, p.level) for p in again.tick(T0 + 400 * S)] == [(360, 3)]
    gone = Escalator(parse_escalation({"policies": [{"name": "other", "levels": [
        {"after_s": 1, "notify": ["a"]}]}]}))
    gone.restore(snap)                 # its policy was removed from the config
    assert gone.tick(T0 + 10**7) == []
    with pytest.raises(ValueError):
        Escalator(CONFIG).restore({"version": 0})


def test_ten_thousand_escalations_tick_by_heap() -> None:
    esc = Escalator(CONFIG)
    book = AlertBook()
    for i in range(10_000):
        for e in book.apply(alert(entity=f"G-{i}", ev=f"e{i}"), T0):
            assert len(esc.observe(e)) == 1
    assert esc.tick(T0 + 59 * S) == []
    assert len(esc.tick(T0 + 60 * S)) == 10_000


# --- configuration errors: the path and the reason ----------------------------------------
def lv(**kw: Any) -> dict[str, Any]:
    return {"after_s": 60, "notify": ["a"], **kw}


def pol(**kw: Any) -> dict[str, Any]:
    return {"name": "p", "levels": [lv()], **kw}


@pytest.mark.parametrize("config,path,reason", [
    ([1], "escalation", "must be a mapping"),
    ({"polices": []}, "polices", "unknown key"),
    ({"policies": {"name": "p"}}, "policies", "must be a list"),
    ({"policies": [pol(name="")]}, "policies[0].name", "non-empty string"),
    ({"policies": [{"levels": [lv()]}]}, "policies[0].name", "is required"),
    ({"policies": [pol(), pol()]}, "policies[1].name", "duplicate policy name"),
    ({"policies": [pol(matchers=["severity=~(["])]}, "policies[0].matchers", "bad regex"),
    ({"policies": [pol(matchers="severity=critical")]}, "policies[0].matchers", "list"),
    ({"policies": [pol(levels=[])]}, "policies[0].levels", "non-empty list"),
    ({"policies": [pol(levels=[lv(), lv(after_s=0)])]}, "policies[0].levels[1].after_s",
     "seconds > 0"),
    ({"policies": [pol(levels=[lv(after_s="5m")])]}, "policies[0].levels[0].after_s",
     "seconds > 0"),
    ({"policies": [pol(levels=[lv(after_s=True)])]}, "policies[0].levels[0].after_s",
     "seconds > 0"),
    ({"policies": [pol(levels=[lv(notify=[])])]}, "policies[0].levels[0].notify",
     "non-empty list"),
    ({"policies": [pol(levels=[lv(notify=["a", ""])])]}, "policies[0].levels[0].notify",
     "non-empty strings"),
    ({"policies": [pol(levels=[{"after_s": 1}])]}, "policies[0].levels[0].notify",
     "is required"),
    ({"policies": [pol(levels=[lv(after=3)])]}, "policies[0].levels[0].after", "unknown key"),
    ({"policies": [pol(repeat=-1)]}, "policies[0].repeat", "integer >= 0"),
    ({"policies": [pol(repeat="2")]}, "policies[0].repeat", "integer >= 0"),
    ({"severity": [{"severity": "huge", "min_alerts": 1}]}, "severity[0].severity", "one of"),
    ({"severity": [{"severity": "major"}]}, "severity[0]", "needs min_alerts or min_streams"),
    ({"severity": [{"severity": "major", "min_alerts": 1.5}]}, "severity[0].min_alerts",
     "integer"),
])
def test_bad_config_names_the_path(config: Any, path: str, reason: str) -> None:
    with pytest.raises(EscalationError) as exc:
        parse_escalation(config)
    assert exc.value.path == path and reason in exc.value.reason


# A 400-digit ``repeat`` (found by bench/fuzz.py, seed 14) made the Escalator build a table
# of every page of every round: the worker grew to 11.6 GB and the kernel killed it.
@pytest.mark.parametrize("config,path", [
    ({"policies": [pol(repeat=10 ** 400)]}, "policies[0].repeat"),
    ({"policies": [pol(repeat=MAX_REPEAT + 1)]}, "policies[0].repeat"),
    ({"policies": [pol(levels=[lv()] * (MAX_LEVELS + 1))]}, "policies[0].levels"),
])
def test_a_count_past_its_bound_is_refused_out_of_range(config: Any, path: str) -> None:
    with pytest.raises(EscalationError) as exc:
        parse_escalation(config)
    assert (exc.value.path, exc.value.code) == (path, "out_of_range")
    assert "at most" in exc.value.reason and len(str(exc.value)) < 200


def test_a_huge_number_is_named_by_its_size_not_printed() -> None:
    """Python cannot print an int of more than 4,300 digits (ValueError): the message
    must still be made."""
    with pytest.raises(EscalationError) as exc:
        parse_escalation({"policies": [pol(levels=[lv(after_s=10 ** 5000)])]})
    assert exc.value.path == "policies[0].levels[0].after_s"
    assert "digits" in exc.value.reason and exc.value.code == "bad_config"


def test_the_escalator_holds_one_entry_per_level_not_per_page() -> None:
    """The largest policy allowed (MAX_LEVELS levels, MAX_REPEAT more rounds) costs the
    Escalator what its levels cost, and pages at the times Policy.offset_ms says."""
    config = parse_escalation({"policies": [pol(levels=[lv(after_s=60 + i) for i in
                                                        range(MAX_LEVELS)],
                                                repeat=MAX_REPEAT)]})
    (policy,) = config.policies
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        esc = Escalator(config)
        grew = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert policy.steps == MAX_LEVELS * (MAX_REPEAT + 1)
    assert grew < 200_000, f"the Escalator took {grew:,} bytes for one policy"
    for step in (0, 1, MAX_LEVELS - 1, MAX_LEVELS, policy.steps - 1):
        assert esc._offset("p", step) == policy.offset_ms(step)


def test_the_config_parses_into_policies() -> None:
    p = CONFIG.policies[0]
    assert (p.name, p.repeat, p.steps) == ("critical-gas", 1, 8)
    assert [str(m) for m in p.matchers] == ['severity="critical"', 'kind=~"gas_.*"']
    assert [p.offset_ms(i) // S for i in range(8)] == [s for s, _, _ in CRIT]
    assert parse_escalation(None) == EscalationConfig() == parse_escalation({})


# --- incident severity --------------------------------------------------------------------
@pytest.mark.parametrize("base,alerts,streams,expected", [
    ("minor", 1, 1, "minor"), ("minor", 4, 2, "minor"), ("minor", 5, 1, "major"),
    ("minor", 3, 3, "critical"), ("critical", 1, 1, "critical"),
    ("info", 2, 3, "info"), ("major", 9, 1, "major"),
])
def test_incident_severity_grows_with_the_incident(base: str, alerts: int, streams: int,
                                                   expected: str) -> None:
    assert incident_severity(base, alerts, streams, CONFIG.severity) == expected


def test_severity_policy_reads_an_incident_context() -> None:
    class Ctx:
        base, alerts, streams = "minor", 6, 1
    assert severity_policy(CONFIG.severity)(Ctx()) == "major"
    assert severity_policy([SeverityRule("critical", min_streams=2)])(Ctx()) == "minor"


def test_a_move_pages_at_most_one_overdue_level_then_keeps_the_new_spacing() -> None:
    rig = Rig(CHANGSHA)
    rig.do(0, "firing", severity="major")
    for sec in (300, 1200, 2000):                # major's round 0: 0, 300, 1200 s
        rig.do(sec, "tick")
    rig.do(2500, "firing", severity="critical")  # critical's round 1 began at 1920 s:
    rig.do(2500 + 119, "tick")                   # its level 1 now, not a burst of levels
    rig.do(2500 + 120, "tick")
    assert [((p.due_ms - T0) // S, p.policy, p.round, p.level) for p in rig.pages] == [
        (0, "major", 0, 1), (300, "major", 0, 2), (1200, "major", 0, 3),
        (2500, "critical", 1, 1), (2620, "critical", 1, 2)]
