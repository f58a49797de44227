"""What-if overrides: a YAML file of changes -> the changed configuration a replay runs with.

Pure: the text and the configuration in force come in, the changed configuration goes out;
the CLI reads the files. Format (every section optional, every key checked)::

    version: 1
    limits:                    # the city profile's alarm limits (city/<city>.json "limits")
      gas_concentration: {high_alarm: 10.0, high_recover: 5.0}   # null removes a level
    detectors:                 # detector parameters: keyword arguments of the detectors of
      clusters: {ems_min: 2}   # detectors/plan.py, by the detector's name
    alerting:                  # sections of the alerting configuration (alerting/<city>.yaml)
      route: {...}             # that replace the shipped ones: route, inhibit_rules,
                               # maintenance_windows, silences, escalation
    runcards:                  # run cards (dispatch/<city>_runcards.yaml)
      cards: [{id: gas.leak, ...}]   # whole cards: replace the card of that id, or are added
      remove: [traffic.minor]        # card ids left out
    dispatch:                  # the board's settings (dispatch/config.py) and the fleet
      scale: 0.5               # the fleet's scale (CITYCC_DISPATCH_SCALE)
      coverage: false
      max_packages_per_incident: 10
      priority_severities: [critical]
      eta: {detour_factor: 1.6, straight_kmh: 30}

A key that is not known, or a value that is not right, is an :class:`OverridesError` with a
stable ``code`` (``overrides_unknown_key``, ``overrides_bad_value``, ``overrides_not_yaml``)
and the ``path`` of the key (``limits.gas_concentration.high_alarm``). What the checked
overrides change is applied by :mod:`replay.variant`.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
from dataclasses import dataclass, field
from typing import Any, Mapping

import yaml

from alerting.config import AlertingConfig, ConfigError, TOP_KEYS, parse_config
from alerting.config_yaml import YamlRefused, safe_load_bounded
from city.profile import CityProfile, Limit
from detectors.clusters import ClusterDetector
from detectors.deviation import SensorDeviation
from detectors.hazmat import HazmatDetector
from detectors.quality import OutOfRangeBurst
from detectors.service import ServiceLevelDetector
from detectors.traffic import TrafficDetector
from schemas.records import SEVERITIES

NOT_YAML, UNKNOWN_KEY, BAD_VALUE = "overrides_not_yaml", "overrides_unknown_key", \
    "overrides_bad_value"
SECTIONS = ("version", "limits", "detectors", "alerting", "runcards", "dispatch")
LIMIT_KEYS = ("high_alarm", "high_recover", "low_alarm", "low_recover", "severity")
# The detectors whose parameters a what-if may change, by their names (detectors/plan.py).
DETECTORS: dict[str, type] = {c.name: c for c in (
    ClusterDetector, TrafficDetector, HazmatDetector, ServiceLevelDetector, SensorDeviation,
    OutOfRangeBurst)}
DISPATCH_KEYS = ("scale", "coverage", "max_packages_per_incident", "priority_severities", "eta")
ETA_KEYS = ("detour_factor", "straight_kmh")


class OverridesError(ValueError):
    """An overrides file that cannot be used: ``code`` (stable), ``path`` (where), why."""

    def __init__(self, code: str, path: str, reason: str) -> None:
        super().__init__(f"{code}: {path or '(top)'}: {reason}")
        self.code, self.path, self.reason = code, path, reason


@dataclass(frozen=True)
class Overrides:
    """The checked overrides; empty sections change nothing."""

    limits: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    detectors: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    alerting: Mapping[str, Any] = field(default_factory=dict)
    runcards: Mapping[str, Any] = field(default_factory=dict)
    dispatch: Mapping[str, Any] = field(default_factory=dict)


def load_overrides(text: str, profile: CityProfile, source: str = "overrides") -> Overrides:
    """Parse and check an overrides file against the city ``profile``."""
    try:
        raw = safe_load_bounded(text)
    except (yaml.YAMLError, YamlRefused) as exc:
        raise OverridesError(NOT_YAML, source, f"not a YAML document: {exc}") from exc
    top = _mapping(raw if raw is not None else {}, "", SECTIONS)
    if top.get("version", 1) != 1:
        raise OverridesError(BAD_VALUE, "version", f"must be 1, got {top.get('version')!r}")
    ov = Overrides(
        limits=_limits(top.get("limits") or {}, profile),
        detectors=_detectors(top.get("detectors") or {}),
        alerting=_mapping(top.get("alerting") or {}, "alerting", TOP_KEYS),
        runcards=_runcards(top.get("runcards") or {}),
        dispatch=_dispatch(top.get("dispatch") or {}))
    for name, params in ov.detectors.items():   # the detector checks its own arguments
        try:
            cls = DETECTORS[name]
            cls(profile, **params) if "profile" in inspect.signature(cls).parameters else \
                cls(**params)
        except (ValueError, TypeError) as exc:
            raise OverridesError(BAD_VALUE, f"detectors.{name}", str(exc)) from exc
    if ov.alerting:
        apply_alerting(parse_config({"route": {"receiver": "-"}}), ov)   # checked now
    return ov


# -- checking ------------------------------------------------------------------------------
def _mapping(raw: Any, path: str, keys: tuple[str, ...] | None) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise OverridesError(BAD_VALUE, path, f"must be a mapping, not {type(raw).__name__}")
    for k in raw:
        if not isinstance(k, str) or (keys is not None and k not in keys):
            where = f"{path}.{k}" if path else str(k)
            raise OverridesError(UNKNOWN_KEY, where, f"unknown key; expected one of "
                                                     f"{', '.join(keys or ())}")
    return raw


def _number(v: Any, path: str, *, positive: bool = False) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise OverridesError(BAD_VALUE, path, f"must be a finite number, not {v!r}")
    if positive and v <= 0:
        raise OverridesError(BAD_VALUE, path, f"must be > 0, not {v!r}")
    return float(v)


def _limits(raw: Any, profile: CityProfile) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for kind, spec in _mapping(raw, "limits", tuple(sorted(profile.limits))).items():
        path = f"limits.{kind}"
        changes = dict(_mapping(spec, path, LIMIT_KEYS))
        for k, v in changes.items():
            if k == "severity":
                if v not in SEVERITIES:
                    raise OverridesError(BAD_VALUE, f"{path}.{k}", f"must be one of "
                                                                  f"{SEVERITIES}, not {v!r}")
            elif v is not None:
                changes[k] = _number(v, f"{path}.{k}")
        lim = dataclasses.replace(profile.limits[kind], **changes)
        _check_limit(lim, path)
        out[kind] = changes
    return out


def _check_limit(lim: Limit, path: str) -> None:
    """An alarm level needs its recover level on the safe side (hysteresis), and a high
    alarm above a low one."""
    for side, worse in (("high", lambda a, r: r < a), ("low", lambda a, r: r > a)):
        a, r = getattr(lim, f"{side}_alarm"), getattr(lim, f"{side}_recover")
        if (a is None) != (r is None):
            raise OverridesError(BAD_VALUE, f"{path}.{side}_recover", f"{side}_alarm and "
                                 f"{side}_recover are set or removed together")
        if a is not None and not worse(a, r):
            raise OverridesError(BAD_VALUE, f"{path}.{side}_recover", f"{r:g} must lie on the "
                                 f"safe side of {side}_alarm {a:g}")
    if lim.high_alarm is not None and lim.low_alarm is not None and \
            not lim.low_alarm < lim.high_alarm:
        raise OverridesError(BAD_VALUE, f"{path}.low_alarm", "must be below high_alarm")


def _detectors(raw: Any) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for name, params in _mapping(raw, "detectors", tuple(sorted(DETECTORS))).items():
        path = f"detectors.{name}"
        tunable = _tunable(DETECTORS[name])
        checked: dict[str, Any] = {}
        for k, v in _mapping(params, path, tuple(sorted(tunable))).items():
            default = tunable[k]
            if isinstance(default, bool):
                if not isinstance(v, bool):
                    raise OverridesError(BAD_VALUE, f"{path}.{k}", f"must be true or false, "
                                                                  f"not {v!r}")
                checked[k] = v
            elif isinstance(default, int) and not (isinstance(v, int) and
                                                   not isinstance(v, bool)):
                raise OverridesError(BAD_VALUE, f"{path}.{k}", f"must be an integer, not {v!r}")
            else:
                checked[k] = type(default)(_number(v, f"{path}.{k}"))
        out[name] = checked
    return out


def _tunable(cls: type) -> dict[str, Any]:
    """A detector's numeric and boolean keyword arguments with their defaults."""
    sig = inspect.signature(cls)
    return {p.name: p.default for p in sig.parameters.values()
            if p.default is not inspect.Parameter.empty and
            isinstance(p.default, (int, float, bool)) and p.name != "max_entities"}


def _runcards(raw: Any) -> dict[str, Any]:
    r = _mapping(raw, "runcards", ("cards", "remove"))
    cards, remove = r.get("cards") or [], r.get("remove") or []
    if not isinstance(cards, list):
        raise OverridesError(BAD_VALUE, "runcards.cards", "must be a list of cards")
    if not isinstance(remove, list) or not all(isinstance(x, str) for x in remove):
        raise OverridesError(BAD_VALUE, "runcards.remove", "must be a list of card ids")
    for i, c in enumerate(cards):
        if not isinstance(c, dict) or not isinstance(c.get("id"), str):
            raise OverridesError(BAD_VALUE, f"runcards.cards[{i}].id", "every card needs its id")
    return {"cards": cards, "remove": remove}


def _dispatch(raw: Any) -> dict[str, Any]:
    d = dict(_mapping(raw, "dispatch", DISPATCH_KEYS))
    if "scale" in d:
        d["scale"] = _number(d["scale"], "dispatch.scale", positive=True)
    if "coverage" in d and not isinstance(d["coverage"], bool):
        raise OverridesError(BAD_VALUE, "dispatch.coverage", "must be true or false")
    if "max_packages_per_incident" in d:
        m = d["max_packages_per_incident"]
        if isinstance(m, bool) or not isinstance(m, int) or m < 1:
            raise OverridesError(BAD_VALUE, "dispatch.max_packages_per_incident",
                                 f"must be an integer >= 1, not {m!r}")
    if "priority_severities" in d:
        ps = d["priority_severities"]
        if not isinstance(ps, list) or not all(s in SEVERITIES for s in ps):
            raise OverridesError(BAD_VALUE, "dispatch.priority_severities",
                                 f"must be a list of {SEVERITIES}, not {ps!r}")
        d["priority_severities"] = tuple(ps)
    if "eta" in d:
        d["eta"] = {k: _number(v, f"dispatch.eta.{k}", positive=True)
                    for k, v in _mapping(d["eta"], "dispatch.eta", ETA_KEYS).items()}
    return d


def apply_alerting(config: AlertingConfig, ov: Overrides) -> AlertingConfig:
    """``config`` with the sections the overrides give, parsed like the shipped file
    (a mistake: its path under ``alerting.``)."""
    if not ov.alerting:
        return config
    doc = dict(ov.alerting)
    doc.setdefault("route", {"receiver": "-"})   # (parsed only when given)
    try:
        parsed = parse_config(doc)
    except ConfigError as exc:
        raise OverridesError(BAD_VALUE, f"alerting.{exc.path}", exc.reason) from exc
    changes: dict[str, Any] = {}
    for section, attr in (("route", "route"), ("inhibit_rules", "inhibit_rules"),
                          ("maintenance_windows", "maintenance_windows"),
                          ("silences", "silence_expire_unused_ms"),
                          ("escalation", "escalation")):
        if section in ov.alerting:
            changes[attr] = getattr(parsed, attr)
    return dataclasses.replace(config, **changes)
