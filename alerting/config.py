"""The alerting configuration: YAML -> frozen dataclasses, with the path of every mistake.

Operators edit it the way they edit Alertmanager's, so it reads like one: a ``route`` tree,
``inhibit_rules``, plus ``maintenance_windows`` and the ``silences`` policy. Bad input is a
:class:`ConfigError` naming the path (``route.routes[2].matchers[0]``) and the reason —
never a crash, never a silent default. ``escalation`` belongs to ``alerting.escalation``
and is passed through untouched. The route tree is kept as written (:class:`RouteConfig`);
``alerting.routing.Route.build`` resolves what children inherit, as Alertmanager does.
Matchers are Alertmanager's (``alerting.matchers``), and so are its older keys: ``match``
(equality) and ``match_re`` (regex) in routes, ``source_match[_re]`` and
``target_match[_re]`` in inhibit rules. Alertmanager's sections citycc has no use for
(``global``, ``receivers``, ``templates``...) are read past, each with a warning in
``AlertingConfig.warnings``; a key neither knows is an error, as it is for Alertmanager.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

import yaml

from alerting.config_yaml import YamlRefused, safe_load_bounded
from alerting.inhibit import InhibitRule
from alerting.labels import LabelError, Matcher, parse_matchers
from alerting.matchers import check_silence_matchers, mapping_matchers
from alerting.silences import DAYS, MaintenanceWindow, SilenceError

_UNITS_MS = {"w": 604_800_000, "d": 86_400_000, "h": 3_600_000, "m": 60_000, "s": 1000,
             "ms": 1}
_DURATION = re.compile(r"(\d+)(ms|w|d|h|m|s)")
_DURATION_DIGITS = 12   # a number of a duration (999,999,999,999 weeks is plenty)
_LABEL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_CLOCK = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")
GROUP_ALL = "..."  # group_by: ['...'] groups by every label (Alertmanager's spelling)
ROUTE_KEYS = ("receiver", "matchers", "match", "match_re", "group_by", "group_wait",
              "group_interval", "repeat_interval", "continue", "routes")
TOP_KEYS = ("route", "inhibit_rules", "maintenance_windows", "silences", "escalation")
# Alertmanager's top-level sections that mean nothing here: its receivers are e-mail and
# pager integrations, ours the agencies named in the route tree
IGNORED_KEYS = ("global", "templates", "receivers", "time_intervals", "mute_time_intervals",
                "tracing")


class ConfigError(ValueError):
    """A configuration that cannot be used: ``path`` says where, ``reason`` says why."""

    def __init__(self, path: str, reason: str) -> None:
        self.path, self.reason = path, reason
        super().__init__(f"{path}: {reason}")


class RoutingError(ConfigError):
    """A mistake in the route tree (re-exported by ``alerting.routing``)."""


@dataclass(frozen=True)
class RouteConfig:
    """One node of the route tree as written; ``None`` means "inherit from the parent"."""

    path: str
    receiver: str | None
    matchers: tuple[Matcher, ...] = ()
    group_by: tuple[str, ...] | None = None
    group_wait_ms: int | None = None
    group_interval_ms: int | None = None
    repeat_interval_ms: int | None = None
    continue_: bool = False
    routes: tuple["RouteConfig", ...] = ()


@dataclass(frozen=True)
class AlertingConfig:
    route: RouteConfig
    inhibit_rules: tuple[InhibitRule, ...] = ()
    maintenance_windows: tuple[MaintenanceWindow, ...] = ()
    # silences that matched nothing for this long expire; None: they never do
    silence_expire_unused_ms: int | None = None
    escalation: dict[str, Any] = field(default_factory=dict, hash=False)
    warnings: tuple[str, ...] = field(default=(), compare=False)   # what was read past


def load_config(text: str, source: str = "config") -> AlertingConfig:
    """Parse YAML text; errors name ``source`` for YAML syntax and the key path otherwise."""
    try:
        data = safe_load_bounded(text)
    except yaml.YAMLError as exc:
        raise ConfigError(source, f"not valid YAML: {exc}") from exc
    except YamlRefused as refused:
        raise ConfigError(source, f"refused: {refused}") from refused
    return parse_config(data)


def read_config(path: str | Path) -> AlertingConfig:
    """Load a configuration file (an entry point reads it once and passes it down)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(p), f"cannot read: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as undecodable:
        raise ConfigError(str(p), f"not UTF-8 text: {undecodable}") from undecodable
    return load_config(text, str(p))


def default_config(city: str = "changsha") -> AlertingConfig:
    """The configuration shipped for ``city`` (``alerting/<city>.yaml``)."""
    res = resources.files("alerting").joinpath(f"{city}.yaml")
    if not res.is_file():
        raise ConfigError(f"alerting/{city}.yaml", "no alerting configuration for this city")
    return load_config(res.read_text(encoding="utf-8"), f"alerting/{city}.yaml")


def parse_config(data: Any) -> AlertingConfig:
    top = _mapping(data, "config", TOP_KEYS + IGNORED_KEYS)
    ignored = tuple(f"{k}: Alertmanager's section, not used by citycc: ignored" for k in top
                    if k in IGNORED_KEYS)
    if "route" not in top:
        raise RoutingError("route", "required: the root route (with at least a receiver)")
    silences = _mapping(top.get("silences") or {}, "silences", ("expire_unused_after",))
    unused = silences.get("expire_unused_after")
    escalation = top.get("escalation")
    if escalation is None:
        escalation = {}
    elif not isinstance(escalation, dict):
        raise ConfigError("escalation", f"must be a mapping, not {_kind(escalation)}")
    return AlertingConfig(
        route=_route(top["route"], "route", root=True),
        inhibit_rules=tuple(_inhibit_rule(r, f"inhibit_rules[{i}]") for i, r in
                            enumerate(_list(top.get("inhibit_rules") or [], "inhibit_rules"))),
        maintenance_windows=_windows(top.get("maintenance_windows") or []),
        silence_expire_unused_ms=None if unused is None else
        duration_ms(unused, "silences.expire_unused_after", positive=True),
        escalation=escalation, warnings=ignored)


def duration_ms(value: Any, path: str, *, positive: bool = False,
                error: type[ConfigError] = ConfigError) -> int:
    """``'30s'``, ``'5m'``, ``'1h30m'``, ``'500ms'``, ``'7d'``, ``'2w'`` -> milliseconds."""
    text = value if isinstance(value, str) else ""
    parts = _DURATION.findall(text)
    if not text or "".join(n + u for n, u in parts) != text or \
            any(len(n) > _DURATION_DIGITS for n, _ in parts):
        shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
        raise error(path, f"bad duration {shown}: write e.g. '30s', '5m', '4h', '1h30m'")
    ms = sum(int(n) * _UNITS_MS[u] for n, u in parts)
    if positive and ms <= 0:
        raise error(path, f"must be longer than 0, got {value!r}")
    return ms


def receiver_fields(template: str, path: str) -> tuple[str, ...]:
    """The label names a receiver template like ``'district_duty:{district}'`` needs."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise RoutingError(path, f"bad receiver template {template!r}: {exc}") from exc
    names = []
    for _, name, spec, conv in parsed:
        if name is None:
            continue
        if not _LABEL_NAME.match(name) or spec or conv:
            raise RoutingError(path, f"bad receiver template {template!r}: placeholders are "
                                     f"label names like {{district}}, got {{{name}}}")
        names.append(name)
    return tuple(dict.fromkeys(names))


# -- sections ------------------------------------------------------------------------------
def _route(raw: Any, path: str, *, root: bool = False) -> RouteConfig:
    r = _mapping(raw, path, ROUTE_KEYS, error=RoutingError)
    receiver = r.get("receiver")
    if receiver is not None:
        if not isinstance(receiver, str) or not receiver.strip():
            raise RoutingError(f"{path}.receiver", "must be a non-empty string")
        fields = receiver_fields(receiver, f"{path}.receiver")
        if root and fields:
            raise RoutingError(f"{path}.receiver", "the root receiver takes every alert no "
                                                   "other route does; it cannot be a template")
    elif root:
        raise RoutingError(f"{path}.receiver", "required on the root route")
    if root and any(k in r for k in ("matchers", "match", "match_re", "continue")):
        raise RoutingError(path, "the root route matches every alert: no matchers, no continue")
    cont = r.get("continue", False)
    if not isinstance(cont, bool):
        raise RoutingError(f"{path}.continue", f"must be true or false, not {cont!r}")
    timers = {k: None if r.get(k) is None else
              duration_ms(r[k], f"{path}.{k}", positive=k != "group_wait", error=RoutingError)
              for k in ("group_wait", "group_interval", "repeat_interval")}
    children = _list(r.get("routes") or [], f"{path}.routes", error=RoutingError)
    return RouteConfig(
        path=path, receiver=receiver,
        matchers=_all_matchers(r, path, "", RoutingError),
        group_by=None if r.get("group_by") is None else _group_by(r["group_by"], path),
        group_wait_ms=timers["group_wait"], group_interval_ms=timers["group_interval"],
        repeat_interval_ms=timers["repeat_interval"], continue_=cont,
        routes=tuple(_route(c, f"{path}.routes[{i}]") for i, c in enumerate(children)))


def _group_by(raw: Any, path: str) -> tuple[str, ...]:
    names = _label_names(raw, f"{path}.group_by", error=RoutingError, allow_all=True)
    if GROUP_ALL in names and len(names) > 1:
        raise RoutingError(f"{path}.group_by", f"{GROUP_ALL!r} means every label; it cannot "
                                               f"be combined with other names")
    return names


def _inhibit_rule(raw: Any, path: str) -> InhibitRule:
    r = _mapping(raw, path, ("name", "equal") + tuple(
        f"{side}_{k}" for side in ("source", "target") for k in ("matchers", "match", "match_re")))
    sides = {side: _all_matchers(r, path, f"{side}_") for side in ("source", "target")}
    for side, ms in sides.items():
        if not ms:
            raise ConfigError(f"{path}.{side}_matchers", "required: at least one matcher (an "
                                                        "empty list would match every alert)")
    name = r.get("name", "")
    if not isinstance(name, str):
        raise ConfigError(f"{path}.name", "must be a string")
    return InhibitRule(source_matchers=sides["source"], target_matchers=sides["target"],
                       equal=_label_names(r.get("equal") or [], f"{path}.equal"),
                       name=name or path)


def _windows(raw: Any) -> tuple[MaintenanceWindow, ...]:
    out: list[MaintenanceWindow] = []
    keys = ("name", "matchers", "start", "end", "timezone", "days", "author", "reason")
    for i, item in enumerate(_list(raw, "maintenance_windows")):
        path = f"maintenance_windows[{i}]"
        w = _mapping(item, path, keys)
        for k in ("name", "matchers", "start", "end", "timezone", "author", "reason"):
            if w.get(k) in (None, "", []):
                raise ConfigError(f"{path}.{k}", "required")
        for k in ("name", "timezone", "author", "reason"):
            if not isinstance(w[k], str) or not w[k].strip():
                raise ConfigError(f"{path}.{k}", f"must be a non-empty string, not {w[k]!r}")
        if any(o.name == w["name"] for o in out):
            raise ConfigError(f"{path}.name", f"duplicate window name {w['name']!r}")
        days = list(DAYS) if w.get("days") is None else _list(w["days"], f"{path}.days")
        if not days:
            raise ConfigError(f"{path}.days", "empty: list the days, or leave it out for "
                                              "every day")
        for j, d in enumerate(days):
            if d not in DAYS:
                raise ConfigError(f"{path}.days[{j}]", f"unknown day {d!r}; use {DAYS}")
        matchers = _matchers(w["matchers"], f"{path}.matchers")
        try:
            check_silence_matchers(matchers)   # a window is a silence: as commands are checked
        except LabelError as unsafe:   # its own name: mypyc types one name by its first use
            raise ConfigError(f"{path}.matchers", unsafe.reason) from unsafe
        try:
            out.append(MaintenanceWindow(
                name=w["name"], matchers=matchers,
                start_minute=_clock(w["start"], f"{path}.start"),
                end_minute=_clock(w["end"], f"{path}.end"), timezone=w["timezone"],
                author=w["author"], reason=w["reason"],
                days=frozenset(DAYS.index(d) for d in days)))
        except SilenceError as exc:
            raise ConfigError(f"{path}.{exc.field}" if exc.field else path, exc.reason) from exc
    return tuple(out)


# -- primitives ----------------------------------------------------------------------------
def _clock(raw: Any, path: str) -> int:
    if isinstance(raw, int) and not isinstance(raw, bool):
        raise ConfigError(path, f"YAML read this time as the number {raw}: quote it, "
                                f"e.g. '01:00'")
    m = _CLOCK.match(raw) if isinstance(raw, str) else None
    if not m:
        raise ConfigError(path, f"bad time of day {raw!r}: write 'HH:MM' (24 h), e.g. '01:00'")
    return int(m.group(1)) * 60 + int(m.group(2))


def _all_matchers(r: Mapping[str, Any], path: str, prefix: str,
                  error: type[ConfigError] = ConfigError) -> tuple[Matcher, ...]:
    """``<prefix>matchers`` and Alertmanager's older ``<prefix>match`` (equality) and
    ``<prefix>match_re`` (regex) mappings: all of them must match."""
    out = list(_matchers(r.get(prefix + "matchers"), f"{path}.{prefix}matchers", error))
    for key, op in (("match", "="), ("match_re", "=~")):
        raw = r.get(prefix + key)
        if raw is not None:
            out.extend(_matchers(raw, f"{path}.{prefix}{key}", error, op, mapping_only=True))
    return tuple(out)


def _matchers(raw: Any, path: str, error: type[ConfigError] = ConfigError, op: str = "=",
              mapping_only: bool = False) -> tuple[Matcher, ...]:
    if raw is None:
        return ()
    if isinstance(raw, Mapping) or mapping_only:
        if not isinstance(raw, Mapping):
            raise error(path, f"must be a mapping of label names to values, not {_kind(raw)}")
        try:
            return mapping_matchers(raw, op)
        except LabelError as exc:
            raise error(path, exc.reason) from exc
    out: list[Matcher] = []
    for i, item in enumerate(_list(raw, path, error=error)):
        try:
            out.extend(parse_matchers([item]))
        except LabelError as exc:
            raise error(f"{path}[{i}]", str(exc)) from exc
    return tuple(out)


def _label_names(raw: Any, path: str, *, error: type[ConfigError] = ConfigError,
                 allow_all: bool = False) -> tuple[str, ...]:
    names = _list(raw, path, error=error)
    for i, n in enumerate(names):
        if not (isinstance(n, str) and (_LABEL_NAME.match(n) or (allow_all and n == GROUP_ALL))):
            raise error(f"{path}[{i}]", f"not a label name: {n!r}")
        if n in names[:i]:
            raise error(f"{path}[{i}]", f"duplicate label name {n!r}")
    return tuple(names)


def _mapping(raw: Any, path: str, keys: tuple[str, ...],
             error: type[ConfigError] = ConfigError) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise error(path, f"must be a mapping, not {_kind(raw)}")
    for k in raw:
        if k not in keys:
            raise error(f"{path}.{k}", f"unknown key; expected one of {', '.join(keys)}")
    return raw


def _list(raw: Any, path: str, error: type[ConfigError] = ConfigError) -> list[Any]:
    if not isinstance(raw, list):
        raise error(path, f"must be a list, not {_kind(raw)}")
    return raw


def _kind(raw: Any) -> str:
    return "nothing" if raw is None else f"{type(raw).__name__} {raw!r}"[:80]
