"""Escalation policies as configured: levels, rounds, severity rules, parsed with paths (pure).

The ``escalation`` section of the alerting YAML: ``{policies: [{name, matchers, levels:
[{after_s, notify}], repeat}], severity: [{severity, min_alerts, min_streams}]}``. Apart
from :mod:`alerting.escalation` (the Escalator that follows alerts through them) because
reading a configuration and running it are two concepts; that module re-exports these names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from alerting.labels import LabelError, Matcher, matches_all, parse_matchers
from schemas.records import SEVERITIES

# Bounds on what one policy may ask for. Nothing is ever built per step (a page's time is
# computed from its round and level), yet a policy is a promise to page people: past these
# it is a mistake in the file (a 400-digit ``repeat`` once made the worker build a table of
# every page and grow until the kernel killed it), refused with code ``out_of_range``.
MAX_LEVELS = 100
MAX_REPEAT = 1000
BAD_CONFIG = "bad_config"        # the stable codes of an EscalationError
OUT_OF_RANGE = "out_of_range"


class EscalationError(ValueError):
    """Escalation configuration that cannot be used; ``path`` says where (``policies[1].
    levels[0].after_s``), ``reason`` what is wrong, ``code`` is stable (``bad_config``, or
    ``out_of_range`` for a count past its bound)."""

    def __init__(self, path: str, reason: str, code: str = BAD_CONFIG) -> None:
        super().__init__(f"{path}: {reason} [{code}]")
        self.path, self.reason, self.code = path, reason, code


@dataclass(frozen=True)
class Level:
    after_s: float
    notify: tuple[str, ...]


@dataclass(frozen=True)
class Policy:
    name: str
    matchers: tuple[Matcher, ...]
    levels: tuple[Level, ...]
    repeat: int = 0

    @property
    def steps(self) -> int:
        """Pages one escalation can send: every level, in every round."""
        return len(self.levels) * (self.repeat + 1)

    def offset_ms(self, step: int) -> int:
        """When page ``step`` (0-based, across rounds) is due, after the escalation started
        (from its round and level: nothing is built per step)."""
        rnd, lvl = divmod(step, len(self.levels))
        round_ms = sum(_ms(x.after_s) for x in self.levels)
        return rnd * round_ms + sum(_ms(x.after_s) for x in self.levels[:lvl])


@dataclass(frozen=True)
class SeverityRule:
    """An incident with at least ``min_alerts`` alerts and ``min_streams`` streams is at
    least ``severity``."""

    severity: str
    min_alerts: int = 0
    min_streams: int = 0


@dataclass(frozen=True)
class EscalationConfig:
    policies: tuple[Policy, ...] = ()
    severity: tuple[SeverityRule, ...] = ()

    def policy_for(self, labels: Mapping[str, str]) -> Policy | None:
        """The first policy whose matchers all match (config order decides)."""
        return next((p for p in self.policies if matches_all(p.matchers, labels)), None)

    def policy(self, name: str) -> Policy | None:
        return next((p for p in self.policies if p.name == name), None)


def _ms(seconds: float) -> int:
    return int(round(seconds * 1000))


def _keys(d: Any, path: str, allowed: Sequence[str], required: Sequence[str] = ()) -> None:
    if not isinstance(d, Mapping):
        raise EscalationError(path or "escalation", f"must be a mapping, not {type(d).__name__}")
    for k in d:
        if k not in allowed:
            raise EscalationError(f"{path}.{k}" if path else str(k),
                                  f"unknown key; expected one of {list(allowed)}")
    for k in required:
        if k not in d:
            raise EscalationError(f"{path}.{k}" if path else k, "is required")


def _int(v: Any, path: str, lo: int = 0, hi: int | None = None) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < lo:
        raise EscalationError(path, f"must be an integer >= {lo}, got {_short(v)}")
    if hi is not None and v > hi:
        raise EscalationError(path, f"must be at most {hi}, got {_short(v)}", OUT_OF_RANGE)
    return v


def _short(v: Any) -> str:
    """``repr(v)``, cut: a number of thousands of digits is no message (nor can it be
    printed past Python's 4,300 digits)."""
    if isinstance(v, int) and not isinstance(v, bool) and abs(v) > 10 ** 30:
        return f"a number of about {int(v.bit_length() * 0.30103) + 1} digits"
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


def _list(v: Any, path: str, empty: bool = False) -> list[Any]:
    if v is None and empty:
        return []
    if not isinstance(v, list) or not (v or empty):
        raise EscalationError(path, f"must be a {'' if empty else 'non-empty '}list, "
                                    f"not {type(v).__name__}")
    return v


def parse_escalation(config: Mapping[str, Any] | None) -> EscalationConfig:
    """``{policies: [{name, matchers, levels: [{after_s, notify}], repeat}], severity:
    [{severity, min_alerts, min_streams}]}`` (the YAML section) -> EscalationConfig."""
    if config is None:
        return EscalationConfig()
    _keys(config, "", ("policies", "severity"))
    policies, names = [], set()
    for i, p in enumerate(_list(config.get("policies"), "policies", empty=True)):
        at = f"policies[{i}]"
        _keys(p, at, ("name", "matchers", "levels", "repeat"), ("name", "levels"))
        name = p["name"]
        if not isinstance(name, str) or not name.strip():
            raise EscalationError(f"{at}.name", "must be a non-empty string")
        if name in names:
            raise EscalationError(f"{at}.name", f"duplicate policy name {name!r}")
        names.add(name)
        try:
            matchers = parse_matchers(p.get("matchers"))
        except LabelError as exc:
            raise EscalationError(f"{at}.matchers", str(exc)) from exc
        levels = []
        raw_levels = _list(p["levels"], f"{at}.levels")
        if len(raw_levels) > MAX_LEVELS:
            raise EscalationError(f"{at}.levels", f"at most {MAX_LEVELS} levels, got "
                                                  f"{len(raw_levels)}", OUT_OF_RANGE)
        for j, lv in enumerate(raw_levels):
            lat = f"{at}.levels[{j}]"
            _keys(lv, lat, ("after_s", "notify"), ("after_s", "notify"))
            after = lv["after_s"]
            if isinstance(after, bool) or not isinstance(after, (int, float)) \
                    or not 0 < after < 10 ** 7:
                raise EscalationError(f"{lat}.after_s", f"must be seconds > 0, got {_short(after)}")
            targets = _list(lv["notify"], f"{lat}.notify")
            if not all(isinstance(t, str) and t.strip() for t in targets):
                raise EscalationError(f"{lat}.notify", "targets must be non-empty strings")
            levels.append(Level(float(after), tuple(targets)))
        policies.append(Policy(name, matchers, tuple(levels),
                               _int(p.get("repeat", 0), f"{at}.repeat", hi=MAX_REPEAT)))
    rules = []
    for i, r in enumerate(_list(config.get("severity"), "severity", empty=True)):
        at = f"severity[{i}]"
        _keys(r, at, ("severity", "min_alerts", "min_streams"), ("severity",))
        if r["severity"] not in SEVERITIES:
            raise EscalationError(f"{at}.severity", f"must be one of {SEVERITIES}")
        rule = SeverityRule(r["severity"], _int(r.get("min_alerts", 0), f"{at}.min_alerts"),
                            _int(r.get("min_streams", 0), f"{at}.min_streams"))
        if not rule.min_alerts and not rule.min_streams:
            raise EscalationError(at, "needs min_alerts or min_streams (else it always applies)")
        rules.append(rule)
    return EscalationConfig(tuple(policies), tuple(rules))
