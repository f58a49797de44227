"""alerting.labels.LabelMemo: routing, inhibition and escalation decided once per kind of
alert give the same answers as deciding for every alert."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from alerting.config import default_config
from alerting.escalation import parse_escalation
from alerting.labels import LabelMemo
from alerting.routing import Route

CFG = default_config()
ROOT = Route.build(CFG.route)
ESCALATION = parse_escalation(CFG.escalation)
VALUES = {"kind": ["fire_alarm", "fire_calls", "gas_explosion_risk", "gas_pressure_drop",
                   "water_pressure_low", "hazmat_stopped", "ems_calls", "sensor_nodata", ""],
          "severity": ["critical", "major", "minor", "info", ""],
          "stream": ["fire", "ems", "hazmat", "traffic", "lifeline", ""],
          "detector": ["limit", "data_quality", "cluster", ""],
          "district": ["yuelu", "furong", ""], "building": ["B-1", ""],
          "entity_id": ["E1", "E2", "E3"]}
label_sets = st.fixed_dictionaries({}, optional={k: st.sampled_from(v)
                                                 for k, v in VALUES.items()})


@settings(max_examples=400, deadline=None)
@given(st.lists(label_sets, min_size=1, max_size=30))
def test_memoised_decisions_equal_direct_ones(labels: list[dict[str, str]]) -> None:
    route = LabelMemo(ROOT.label_names(), lambda lb: tuple(ROOT.match(lb)), limit=8)
    policy = LabelMemo((m.name for p in ESCALATION.policies for m in p.matchers),
                       ESCALATION.policy_for, limit=8)
    for lb in labels + labels:   # the second pass is answered from the memo
        assert route(lb) == tuple(ROOT.match(lb))
        assert policy(lb) == ESCALATION.policy_for(lb)


def test_the_memo_keys_on_the_labels_read_only_and_stays_bounded() -> None:
    calls: list[Any] = []

    def fn(lb: dict[str, str]) -> str:
        calls.append(lb)
        return lb.get("kind", "")

    memo = LabelMemo(["kind"], fn, limit=2)
    assert memo({"kind": "a", "entity_id": "E1"}) == memo({"kind": "a", "entity_id": "E2"})
    assert len(calls) == 1                       # the entity is not part of the decision
    assert memo({}) == memo({"kind": ""}) == ""  # absent counts as ""
    memo({"kind": "b"})
    memo({"kind": "c"})
    assert len(memo._cache) <= 2
    assert memo({"kind": ["unhashable"]}) == ["unhashable"]  # decided without the memo


@settings(max_examples=200, deadline=None)
@given(names=st.lists(st.sampled_from(sorted(VALUES)), min_size=1, max_size=6, unique=True),
       labels=label_sets)
def test_the_memo_tells_apart_label_sets_by_each_name_it_reads(names: list[str],
                                                                labels: dict[str, str]) -> None:
    # keys are written out for up to three names and built in a loop beyond: either way
    # the answer is fn's for the values of exactly those names
    memo = LabelMemo(names, lambda lb: tuple(lb.get(n, "") for n in names))
    assert memo(labels) == tuple(labels.get(n, "") for n in names)
    other = {**labels, names[-1]: "changed"}
    assert memo(other)[-1] == "changed"
