"""alerting.config reads Alertmanager's configuration as Alertmanager does: its own example
``doc/examples/simple.yml`` loads into a routing tree (what citycc has no use for is
reported, not fatal), and its older matcher keys (``match``, ``match_re``,
``source_match[_re]``, ``target_match[_re]``) stand beside ``matchers``."""

from __future__ import annotations

from pathlib import Path

import pytest

from alerting.config import ConfigError, load_config, read_config
from alerting.labels import Matcher
from alerting.routing import Route

SIMPLE = Path(__file__).resolve().parents[2] / "fixtures" / "alertmanager" / "simple.yml"


def test_alertmanagers_example_loads_and_says_what_it_ignored() -> None:
    cfg = read_config(SIMPLE)
    assert [w.split(":")[0] for w in cfg.warnings] == ["global", "templates", "receivers"]
    assert all("ignored" in w for w in cfg.warnings)
    root = Route.build(cfg.route)
    assert (root.receiver, root.group_by) == ("team-X-mails", ("alertname", "cluster", "service"))
    (rule,) = cfg.inhibit_rules
    assert rule.source_matchers == (Matcher("severity", "=", "critical"),)
    assert rule.target_matchers == (Matcher("severity", "=", "warning"),)
    assert rule.equal == ("alertname", "cluster", "service")


# labels -> the receivers Alertmanager's documented tree sends them to
ROUTED = [
    ({"service": "foo1", "severity": "critical"}, ["team-X-pager"]),
    ({"service": "baz"}, ["team-X-mails"]),
    ({"service": "foo1x"}, ["team-X-mails"]),          # match_re is anchored: the root's
    ({"service": "files", "severity": "critical"}, ["team-Y-pager"]),
    ({"service": "files"}, ["team-Y-mails"]),
    ({"service": "database", "owner": "team-X"}, ["team-X-pager"]),   # continue: no sibling
    ({"service": "database", "owner": "team-Y"}, ["team-Y-pager"]),
    ({"service": "database"}, ["team-DB-pager"]),
    ({"alertname": "x"}, ["team-X-mails"]),
]


@pytest.mark.parametrize("labels, receivers", ROUTED)
def test_alertmanagers_example_routes_as_documented(labels: dict[str, str],
                                                     receivers: list[str]) -> None:
    root = Route.build(read_config(SIMPLE).route)
    assert [r.receiver_for(labels) for r in root.match(labels)] == receivers


def test_the_older_keys_stand_beside_matchers() -> None:
    cfg = load_config("""
route:
  receiver: r
  routes:
    - receiver: a
      match: {kind: gas_leak, code: 500}
      match_re: {district: "kaifu|yuelu"}
      matchers: ['severity!="info"']
inhibit_rules:
  - source_match_re: {kind: "fire_.*"}
    source_matchers: ['severity="critical"']
    target_match: {kind: fire_alarm}
    equal: [building]
""")
    assert set(cfg.route.routes[0].matchers) == {
        Matcher("kind", "=", "gas_leak"), Matcher("code", "=", "500"),
        Matcher("district", "=~", "kaifu|yuelu"), Matcher("severity", "!=", "info")}
    (rule,) = cfg.inhibit_rules
    assert set(rule.source_matchers) == {Matcher("kind", "=~", "fire_.*"),
                                         Matcher("severity", "=", "critical")}
    assert rule.target_matchers == (Matcher("kind", "=", "fire_alarm"),)
    assert cfg.warnings == ()


ROOT = "route:\n  receiver: r\n"
# config -> (path, words of the reason)
REFUSED = [
    (ROOT + "  match: {a: b}\n", "route", "no matchers"),
    (ROOT + "  match_re: {a: b}\n", "route", "no matchers"),
    (ROOT + "  routes: [{receiver: a, match: [a=b]}]\n", "route.routes[0].match",
     "must be a mapping"),
    (ROOT + "  routes: [{receiver: a, match_re: {a: '('}}]\n", "route.routes[0].match_re",
     "bad regex"),
    (ROOT + "  routes: [{receiver: a, match: {1a: b}}]\n", "route.routes[0].match",
     "label name"),
    (ROOT + "  routes: [{receiver: a, match: {a: [b]}}]\n", "route.routes[0].match",
     "must be text"),
    (ROOT + "  routes: [{receiver: a, matchers: ['kind!=x district=y']}]\n",
     "route.routes[0].matchers[0]", "expected a comma"),
    (ROOT + "inhibit_rules: [{source_match: {a: b}}]\n", "inhibit_rules[0].target_matchers",
     "at least one matcher"),
    (ROOT + "inhibit_rules: [{source_match: {a: b}, target_match_re: {c: '['}}]\n",
     "inhibit_rules[0].target_match_re", "bad regex"),
    (ROOT + "inhibit_rules: [{source_matchers: [a=b], target_matchers: [c=d], "
            "target_match_regex: {e: f}}]\n", "inhibit_rules[0].target_match_regex",
     "unknown key"),
    (ROOT + "recievers: []\n", "config.recievers", "unknown key"),   # Alertmanager's neither
    (ROOT + """maintenance_windows:
  - {name: w, matchers: ['kind!=fire_alarm'], start: '01:00', end: '02:00',
     timezone: Asia/Shanghai, author: a, reason: r}
""", "maintenance_windows[0].matchers", "mute nearly every alert"),
]


@pytest.mark.parametrize("text, path, reason", REFUSED)
def test_mistakes_name_their_path(text: str, path: str, reason: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(text)
    assert (err.value.path, reason in err.value.reason) == (path, True), err.value


def test_the_worker_logs_what_the_config_read_past(caplog: pytest.LogCaptureFixture) -> None:
    from citycc.settings import load_settings
    from streams.alerting_agent import load_alerting_config
    with caplog.at_level("WARNING", logger="streams.alerting_agent"):
        cfg = load_alerting_config(load_settings({}, alerting_config=str(SIMPLE)))
    assert cfg.route.receiver == "team-X-mails"
    assert [r.getMessage().split(": ")[1] for r in caplog.records] == \
        ["global", "templates", "receivers"]
