"""Operator YAML that would hang, recurse or crash the worker is refused with ConfigError
(found by the importers' fuzz target; issue 13)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from alerting.config import ConfigError, load_config, read_config
from city.profile import PROFILE_DIR, ProfileError, load_profile

RECURSIVE = "route: &r\n  receiver: city_duty\n  routes:\n    - *r\n"
# 10 aliases per level, 8 levels: 10^8 routes in a few hundred bytes
BOMB = "global:\n  a0: &a0 {receiver: x}\n" + "".join(
    f"  a{i}: &a{i} {{receiver: x, routes: [{', '.join([f'*a{i - 1}'] * 10)}]}}\n"
    for i in range(1, 9)) + "route:\n  receiver: city_duty\n  routes: [*a8]\n"
SHARED = ("route:\n  receiver: city_duty\n  group_wait: &wait 10s\n  routes:\n"
          "    - {receiver: a, matchers: ['kind=\"gas\"'], group_wait: *wait}\n"
          "    - {receiver: b, matchers: ['kind=\"water\"'], group_wait: *wait}\n")


@pytest.mark.parametrize("text, why", [
    (RECURSIVE, "cycle"), (BOMB, "nodes"), ("route: " + "[" * 600 + "]" * 600, "deep")])
def test_yaml_that_would_hang_or_recurse_is_refused(text: str, why: str) -> None:
    started = time.monotonic()
    with pytest.raises(ConfigError, match="refused|deep"):
        load_config(text, "probe.yaml")
    assert time.monotonic() - started < 5.0   # the bomb took minutes and gigabytes


def test_anchors_and_merge_keys_that_alertmanager_users_write_still_load() -> None:
    cfg = load_config(SHARED, "shared.yaml")
    assert [r.receiver for r in cfg.route.routes] == ["a", "b"]


def test_a_configuration_file_that_is_not_utf8_is_a_config_error(tmp_path: Path) -> None:
    p = tmp_path / "latin1.yaml"
    p.write_bytes("route:\n  receiver: café\n".encode("latin-1"))
    with pytest.raises(ConfigError, match="not UTF-8"):
        read_config(p)


def test_a_profile_with_a_number_no_float_can_hold_is_a_profile_error(
        tmp_path: Path) -> None:
    tree = json.loads((PROFILE_DIR / "changsha.json").read_text(encoding="utf-8"))
    tree["center"] = [10 ** 400, 28.2]
    p = tmp_path / "huge.json"
    p.write_text(json.dumps(tree), encoding="utf-8")
    with pytest.raises(ProfileError):
        load_profile(str(p))


def test_a_profile_nested_past_the_decoder_is_a_profile_error(tmp_path: Path) -> None:
    p = tmp_path / "deep.json"
    p.write_text('{"name": ' + "[" * 100_000 + "]" * 100_000 + "}", encoding="utf-8")
    with pytest.raises(ProfileError):
        load_profile(str(p))


# A number Python will not read or print (more than 4,300 digits) or a date no calendar has
# made a plain ValueError escape the importer (not a ConfigError): a crash at start-up.
@pytest.mark.parametrize("text", [
    "route: {receiver: x, group_wait: '" + "9" * 5000 + "s'}",
    "route: {receiver: x, repeat_interval: '" + "1" * 13 + "w'}",
    "route: {receiver: x}\nescalation: {severity: [{severity: major, min_alerts: "
    + "9" * 5000 + "}]}",
    "route: {receiver: x}\nglobal: {resolve_timeout: 2025-13-45}",
])
def test_a_value_python_cannot_read_is_a_config_error(text: str) -> None:
    with pytest.raises(ConfigError) as exc:
        load_config(text, "alerting.yaml")
    assert len(str(exc.value)) < 300
