"""alerting.config: the YAML configuration, its defaults for Changsha, and precise errors."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from alerting.config import AlertingConfig, ConfigError, default_config, duration_ms, \
    load_config, read_config
from alerting.routing import Route

WINDOW = """
    matchers: ['kind="x"']
    start: "01:00"
    end: "05:00"
    timezone: Asia/Shanghai
    author: ops
    reason: maintenance"""


def window(**override: str) -> str:
    lines = [ln for ln in WINDOW.splitlines() if ln.strip()]
    keys = {ln.split(":")[0].strip(): ln for ln in lines}
    for k, v in override.items():
        if v == "<drop>":
            keys.pop(k, None)
        else:
            keys[k] = f"    {k}: {v}"
    return "\n".join(keys.values())


def windows(*bodies: str) -> str:
    return "route: {receiver: r}\nmaintenance_windows:\n" + "\n".join(
        f"  - name: w{i}\n{b}" for i, b in enumerate(bodies))


@pytest.mark.parametrize("text, path, reason", [
    ("route: [", "config", "not valid YAML"),
    ("", "config", "must be a mapping, not nothing"),
    ("route: {receiver: r}\nroutes: []", "config.routes", "unknown key"),
    ("route: {receiver: r}\ninhibit_rules: {a: 1}", "inhibit_rules", "must be a list"),
    ("route: {receiver: r}\ninhibit_rules: [{target_matchers: ['a=b']}]",
     "inhibit_rules[0].source_matchers", "at least one matcher"),
    ("route: {receiver: r}\ninhibit_rules: [{source_matchers: ['a=b'], target_matchers: []}]",
     "inhibit_rules[0].target_matchers", "at least one matcher"),
    ("route: {receiver: r}\ninhibit_rules: [{source_matchers: ['a=b'], target_matchers: ['a=b']},"
     " {source_matchers: ['a=b'], target_matchers: ['b=~[']}]",
     "inhibit_rules[1].target_matchers[0]", "bad regex"),
    ("route: {receiver: r}\ninhibit_rules: [{source_matchers: ['a=b'], target_matchers: ['c=d'],"
     " equal: [building, 'entity id']}]", "inhibit_rules[0].equal[1]", "not a label name"),
    ("route: {receiver: r}\ninhibit_rules: [{source_matchers: ['a=b'], target_matchers: ['c=d'],"
     " eqaul: [x]}]", "inhibit_rules[0].eqaul", "unknown key"),
    (windows(window(start="10:30")), "maintenance_windows[0].start", "quote it"),  # 630
    (windows(window(end="'25:00'")), "maintenance_windows[0].end", "bad time of day"),
    (windows(window(end="'1:00'")), "maintenance_windows[0].end", "bad time of day"),
    (windows(window(end="'01:00'")), "maintenance_windows[0].end", "equals start"),
    (windows(window(timezone="Mars/Olympus")), "maintenance_windows[0].timezone",
     "unknown time zone"),
    (windows(window(author="<drop>")), "maintenance_windows[0].author", "required"),
    (windows(window(reason="'  '")), "maintenance_windows[0].reason", "non-empty"),
    (windows(window(matchers="[]")), "maintenance_windows[0].matchers", "required"),
    (windows(window(days="[mon, funday]")), "maintenance_windows[0].days[1]", "unknown day"),
    (windows(window(days="[]")), "maintenance_windows[0].days", "empty"),
    (windows(window(), window()).replace("name: w1", "name: w0"),
     "maintenance_windows[1].name", "duplicate"),
    ("route: {receiver: r}\nsilences: {expire_unused_after: forever}",
     "silences.expire_unused_after", "bad duration"),
    ("route: {receiver: r}\nsilences: {expire_unused_after: 0s}",
     "silences.expire_unused_after", "longer than 0"),
    ("route: {receiver: r}\nsilences: {expire_after: 1h}", "silences.expire_after",
     "unknown key"),
    ("route: {receiver: r}\nescalation: [a]", "escalation", "must be a mapping"),
])
def test_bad_config_names_the_path(text: str, path: str, reason: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(text)
    assert (err.value.path, reason in err.value.reason) == (path, True), str(err.value)
    assert str(err.value).startswith(f"{path}: ")


@pytest.mark.parametrize("text, ms", [
    ("0s", 0), ("500ms", 500), ("30s", 30_000), ("5m", 300_000), ("1h30m", 5_400_000),
    ("4h", 14_400_000), ("1d", 86_400_000), ("2w", 1_209_600_000), ("1m30s250ms", 90_250)])
def test_durations(text: str, ms: int) -> None:
    assert duration_ms(text, "x") == ms


@pytest.mark.parametrize("value", ["", "30", "1.5h", "m", "1h 30m", "-5s", "5M", 30, None])
def test_bad_durations(value: object) -> None:
    with pytest.raises(ConfigError, match=r"^here: bad duration"):
        duration_ms(value, "here")


def test_a_full_config_parses_into_frozen_dataclasses() -> None:
    cfg = load_config("""
route: {receiver: r}
inhibit_rules:
  - {source_matchers: ['kind="a"'], target_matchers: {kind: b}, equal: [zone]}
maintenance_windows:
  - name: w
""" + WINDOW + """
    days: [sat, sun]
silences: {expire_unused_after: 12h}
escalation:
  policies: [{name: p, steps: [{after: 5m, notify: [ems120]}]}]
""")
    assert isinstance(cfg, AlertingConfig)
    (rule,) = cfg.inhibit_rules
    assert [str(m) for m in rule.target_matchers] == ['kind="b"'] and rule.equal == ("zone",)
    assert rule.name == "inhibit_rules[0]"           # unnamed rules are named by their path
    (w,) = cfg.maintenance_windows
    assert (w.start_minute, w.end_minute, w.days) == (60, 300, frozenset({5, 6}))
    assert cfg.silence_expire_unused_ms == 12 * 3_600_000
    assert cfg.escalation == {"policies": [{"name": "p", "steps": [
        {"after": "5m", "notify": ["ems120"]}]}]}       # passed through untouched
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.route = cfg.route  # type: ignore[misc]


def test_optional_sections_are_empty_when_absent() -> None:
    cfg = load_config("route: {receiver: r}")
    assert (cfg.inhibit_rules, cfg.maintenance_windows, cfg.silence_expire_unused_ms,
            cfg.escalation) == ((), (), None, {})


def test_the_changsha_default() -> None:
    cfg = default_config("changsha")
    root = Route.build(cfg.route)
    assert set(root.receivers()) == {
        "city_duty", "iot_ops", "district_duty:{district}", "fire119", "ems120",
        "traffic_police", "hazmat", "gas_utility", "water_utility"}
    assert [r.name for r in cfg.inhibit_rules] == [
        "structure-fire-mutes-building-alarms", "limit-mutes-sensor-data-quality",
        "explosion-risk-mutes-gas-reading"]
    assert [w.name for w in cfg.maintenance_windows] == ["iot-gateway-firmware"]
    assert cfg.silence_expire_unused_ms == 86_400_000


def test_read_config_and_missing_files(tmp_path: Path) -> None:
    p = tmp_path / "a.yaml"
    p.write_text("route: {receiver: r, group_wait: x}", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"^route.group_wait: bad duration"):
        read_config(p)
    with pytest.raises(ConfigError, match="cannot read") as err:
        read_config(tmp_path / "missing.yaml")
    assert err.value.path.endswith("missing.yaml")
    with pytest.raises(ConfigError, match="^alerting/atlantis.yaml: no alerting"):
        default_config("atlantis")
