"""alerting.routing: the route tree walk (Alertmanager semantics), table-driven from YAML."""

from __future__ import annotations

import pytest

from alerting.config import ConfigError, default_config, load_config
from alerting.routing import DEFAULT_GROUP_INTERVAL_MS, DEFAULT_GROUP_WAIT_MS, \
    DEFAULT_REPEAT_INTERVAL_MS, Route, RoutingError

TREE = """
route:
  receiver: default
  group_by: [kind]
  routes:
    - receiver: a
      matchers: ['kind="x"']
      group_wait: 1s
      routes:
        - receiver: a-critical
          matchers: ['severity="critical"']
          repeat_interval: 10m
    - receiver: "dd:{district}"
      matchers: ['severity=~"critical|major"']
      continue: true
    - receiver: b
      matchers: {stream: s}
    - receiver: c          # shadowed by b: b matches the same alerts and does not continue
      matchers: ['stream="s"']
    - matchers: ['stream="t"']   # inherits the receiver
      group_by: ['...']
"""


def tree(text: str = TREE) -> Route:
    return Route.build(load_config(text).route)


@pytest.mark.parametrize("labels, expected", [
    ({"kind": "x"}, ["a"]),
    ({"kind": "x", "severity": "critical"}, ["a-critical"]),   # the deepest match wins
    ({"kind": "x", "severity": "minor"}, ["a"]),              # no child matches: the node
    ({"severity": "major", "district": "d1"}, ["dd:d1"]),     # continue, nothing after it
    ({"severity": "major"}, ["default"]),                     # template needs its label
    ({"severity": "major", "district": ""}, ["default"]),
    ({"severity": "major", "district": "d1", "stream": "s"}, ["dd:d1", "b"]),
    ({"stream": "s"}, ["b"]),
    ({"stream": "t"}, ["default"]),
    ({}, ["default"]),
    ({"kind": "y", "stream": "u"}, ["default"]),
])
def test_match(labels: dict[str, str], expected: list[str]) -> None:
    assert [r.receiver_for(labels) for r in tree().match(labels)] == expected


def test_the_matched_routes_are_identified_by_their_config_path() -> None:
    routes = tree().match({"kind": "x", "severity": "critical", "district": "d1"})
    assert [r.path for r in routes] == ["route.routes[0].routes[0]"]
    routes = tree().match({"severity": "critical", "district": "d1", "stream": "s"})
    assert [r.path for r in routes] == ["route.routes[1]", "route.routes[2]"]


def test_children_inherit_what_they_leave_unset() -> None:
    root = tree()
    assert (root.group_wait_ms, root.group_interval_ms, root.repeat_interval_ms) == (
        DEFAULT_GROUP_WAIT_MS, DEFAULT_GROUP_INTERVAL_MS, DEFAULT_REPEAT_INTERVAL_MS)
    a, crit = root.find("route.routes[0]"), root.find("route.routes[0].routes[0]")
    assert a is not None and crit is not None
    assert (a.group_wait_ms, a.repeat_interval_ms, a.group_by) == (
        1000, DEFAULT_REPEAT_INTERVAL_MS, ("kind",))
    assert (crit.receiver, crit.group_wait_ms, crit.repeat_interval_ms, crit.group_by) == (
        "a-critical", 1000, 600_000, ("kind",))
    t = root.find("route.routes[4]")
    assert t is not None and t.receiver == "default" and t.groups_by_all


def test_group_labels() -> None:
    root = tree()
    labels = {"kind": "x", "district": "d1", "entity_id": "E1"}
    assert root.group_labels(labels) == {"kind": "x"}
    assert root.group_labels({"district": "d1"}) == {}      # absent labels are left out
    t = root.find("route.routes[4]")
    assert t is not None and t.group_labels(labels) == labels
    assert root.receivers() == ("default", "a", "a-critical", "dd:{district}", "b", "c")


CHANGSHA_FIRE = "route.routes[3]"


@pytest.mark.parametrize("labels, expected", [
    ({"kind": "fire_alarm", "severity": "minor", "stream": "fire", "district": "yuelu"},
     ["fire119"]),
    ({"kind": "fire_alarm", "severity": "critical", "stream": "fire", "district": "yuelu"},
     ["district_duty:yuelu", "fire119"]),
    ({"kind": "gas_explosion_risk", "severity": "critical", "stream": "lifeline",
      "district": "yuhua"}, ["district_duty:yuhua", "fire119", "gas_utility"]),
    ({"kind": "gas_explosion_risk", "severity": "critical", "stream": "lifeline"},
     ["fire119", "gas_utility"]),
    ({"kind": "gas_concentration_high", "detector": "limit", "severity": "critical",
      "stream": "lifeline", "district": "furong"}, ["district_duty:furong", "gas_utility"]),
    ({"kind": "gas_pressure_low", "detector": "limit", "severity": "minor",
      "stream": "lifeline"}, ["gas_utility"]),
    ({"kind": "water_pressure_low", "detector": "limit", "severity": "major",
      "stream": "lifeline", "district": "kaifu"}, ["district_duty:kaifu", "water_utility"]),
    ({"kind": "drainage_level_high", "severity": "minor", "stream": "lifeline"},
     ["water_utility"]),
    ({"kind": "sensor_nodata", "detector": "data_quality", "severity": "major",
      "stream": "lifeline", "district": "kaifu"}, ["iot_ops"]),
    ({"kind": "hazmat_geofence", "severity": "major", "stream": "hazmat",
      "district": "wangcheng"}, ["district_duty:wangcheng", "traffic_police", "hazmat"]),
    ({"kind": "tank_pressure_high", "detector": "limit", "severity": "critical",
      "stream": "hazmat", "district": "liuyang"}, ["district_duty:liuyang", "hazmat"]),
    ({"kind": "traffic_accident", "severity": "major", "stream": "traffic",
      "district": "tianxin"}, ["district_duty:tianxin", "traffic_police"]),
    ({"kind": "traffic_multivariate_anomaly", "severity": "minor", "stream": "traffic"},
     ["traffic_police"]),
    ({"kind": "call_pending", "severity": "minor", "stream": "ems"}, ["ems120"]),
    ({"kind": "fire_travel_delay", "severity": "info", "stream": "fire"}, ["fire119"]),
    ({"kind": "ems_calls", "severity": "major", "stream": "ems", "district": "yuelu"},
     ["district_duty:yuelu", "ems120"]),
    ({"kind": "bridge_strain_high", "detector": "limit", "severity": "critical",
      "stream": "lifeline", "district": "yuelu"}, ["district_duty:yuelu", "city_duty"]),
    ({"kind": "pm25_high", "detector": "limit", "severity": "minor", "stream": "lifeline"},
     ["city_duty"]),
])
def test_changsha_routes(labels: dict[str, str], expected: list[str]) -> None:
    root = Route.build(default_config().route)
    assert [r.receiver_for(labels) for r in root.match(labels)] == expected


def test_changsha_critical_fire_takes_the_no_wait_child() -> None:
    root = Route.build(default_config().route)
    labels = {"kind": "fire_alarm", "severity": "critical", "stream": "fire"}
    (fire,) = root.match(labels)
    assert fire.path == CHANGSHA_FIRE + ".routes[0]" and fire.group_wait_ms == 0
    assert fire.receiver == "fire119" and fire.repeat_interval_ms == 30 * 60_000


@pytest.mark.parametrize("text, path, reason", [
    ("route: {group_by: [kind]}", "route.receiver", "required"),
    ("route: {receiver: '{district}'}", "route.receiver", "cannot be a template"),
    ("route: {receiver: r, matchers: ['a=b']}", "route", "no matchers"),
    ("route: {receiver: r, routes: [{receiver: x, matchers: ['kind=~(']}]}",
     "route.routes[0].matchers[0]", "bad regex"),
    ("route: {receiver: r, routes: [{receiver: x}, {receiver: y, matchers: ['kind']}]}",
     "route.routes[1].matchers[0]", "bad matcher"),
    ("route: {receiver: r, routes: [{receiver: x, matchers: 'kind=a'}]}",
     "route.routes[0].matchers", "must be a list"),
    ("route: {receiver: r, routes: [{receiver: x, group_wait: soon}]}",
     "route.routes[0].group_wait", "bad duration"),
    ("route: {receiver: r, group_interval: 0s}", "route.group_interval", "longer than 0"),
    ("route: {receiver: r, repeat_interval: 30}", "route.repeat_interval", "bad duration"),
    ("route: {receiver: r, routes: [{routes: [{receiver: 'd:{district!r}'}]}]}",
     "route.routes[0].routes[0].receiver", "placeholders are label names"),
    ("route: {receiver: r, routes: [{receiver: 'd:{'}]}", "route.routes[0].receiver",
     "bad receiver template"),
    ("route: {receiver: r, routes: [{receiver: ''}]}", "route.routes[0].receiver",
     "non-empty"),
    ("route: {receiver: r, group_by: ['...', kind]}", "route.group_by", "cannot be combined"),
    ("route: {receiver: r, group_by: [kind, kind]}", "route.group_by[1]", "duplicate"),
    ("route: {receiver: r, group_by: [1]}", "route.group_by[0]", "not a label name"),
    ("route: {receiver: r, routes: [{recevier: x}]}", "route.routes[0].recevier",
     "unknown key"),
    ("route: {receiver: r, routes: [{receiver: x, continue: 'yes'}]}",
     "route.routes[0].continue", "true or false"),
    ("route: {receiver: r, routes: {receiver: x}}", "route.routes", "must be a list"),
    ("route: {receiver: r, routes: [[]]}", "route.routes[0]", "must be a mapping"),
    ("route: [receiver]", "route", "must be a mapping"),
    ("inhibit_rules: []", "route", "required"),
])
def test_bad_route_config_names_the_path(text: str, path: str, reason: str) -> None:
    with pytest.raises(RoutingError) as err:
        load_config(text)
    assert err.value.path == path
    assert reason in err.value.reason
    assert str(err.value).startswith(f"{path}: ")
    assert isinstance(err.value, ConfigError)
