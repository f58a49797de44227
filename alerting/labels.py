"""Alert labels and label matchers: the one vocabulary of routing, inhibition and silences.

An alert's labels are the fields that say *what* is wrong *where* (kind, detector, severity,
stream, entity, district) plus any extra ``labels`` the alert carries (building, segment,
agency, ...). Matchers follow Alertmanager: ``=``, ``!=``, ``=~``, ``!~``; regexes are fully
anchored, and a label that is absent matches as the empty string.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Generic, Iterable, Mapping, TypeVar

from schemas.memo import remember

LABEL_FIELDS = ("kind", "detector", "severity", "stream", "entity_id", "district")
OPS = ("=", "!=", "=~", "!~")
_MATCHER = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*(.*?)\s*$")
_T = TypeVar("_T")


class LabelError(ValueError):
    """A matcher or label set that cannot be used (the message names what and why)."""


def labels_of(alert: Mapping[str, Any]) -> dict[str, str]:
    """The label set of an alert message (``schemas.records.make_alert`` plus ``labels``)."""
    out = {k: str(alert[k]) for k in LABEL_FIELDS if alert.get(k) not in (None, "")}
    extra = alert.get("labels")
    if extra is not None and (type(extra) is dict or isinstance(extra, Mapping)):
        out.update({str(k): str(v) for k, v in extra.items() if v not in (None, "")})
    return out


_SETS: dict[tuple[str | None, ...], tuple[tuple[str, str], ...]] = {}
_SETS_MAX = 65_536


def label_set(alert: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    """``labels_of(alert)`` as a sorted tuple of pairs, remembered by the label fields'
    values when they are all text (each alert repeats its labels on every update)."""
    get = alert.get
    key = (get("kind"), get("detector"), get("severity"), get("stream"), get("entity_id"),
           get("district"))   # LABEL_FIELDS
    extra = get("labels") is not None
    if not extra:
        try:
            hit = _SETS.get(key)   # (a hit equals a key of text: its values are text too)
        except TypeError:   # an unhashable value
            hit, extra = None, True
        if hit is not None:
            return hit
    value = tuple(sorted(labels_of(alert).items()))
    if not extra and all(type(v) is str or v is None for v in key):
        remember(_SETS, key, value, _SETS_MAX)
    return value


@dataclass(frozen=True)
class Matcher:
    name: str
    op: str
    value: str
    _regex: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.op not in OPS:
            raise LabelError(f"matcher {self.name!r}: unknown operator {self.op!r}; "
                             f"use one of {OPS}")
        if self.op in ("=~", "!~"):
            try:
                object.__setattr__(self, "_regex", re.compile(self.value))
            except re.error as exc:
                raise LabelError(f"matcher {self.name!r}: bad regex {self.value!r}: "
                                 f"{exc}") from exc

    def matches(self, labels: Mapping[str, str]) -> bool:
        v = labels.get(self.name, "")
        if self.op == "=":
            return v == self.value
        if self.op == "!=":
            return v != self.value
        hit = self._regex.fullmatch(v) is not None  # type: ignore[union-attr]
        return hit if self.op == "=~" else not hit

    def __str__(self) -> str:
        return f"{self.name}{self.op}{self.value}"

    def text(self) -> str:
        """``name op "value"``: what :func:`parse_matcher` reads back exactly."""
        return f'{self.name}{self.op}"{self.value}"'


def parse_matcher(text: Any) -> Matcher:
    """``'severity=~critical|major'`` -> Matcher; a clear LabelError otherwise (``text`` is
    whatever a command held: typed Any, checked here)."""
    m = _MATCHER.match(text if isinstance(text, str) else "")
    if not m:
        raise LabelError(f"bad matcher {text!r}: expected name=value, name!=value, "
                         f"name=~regex or name!~regex")
    value = m.group(3)
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
    return Matcher(m.group(1), m.group(2), value)


def parse_matchers(items: Any) -> tuple[Matcher, ...]:
    """Matchers from a list of strings or a ``{name: value}`` mapping (equality); a
    LabelError for anything else (``items`` is whatever a command held)."""
    if items is None:
        return ()
    if isinstance(items, Mapping):
        return tuple(Matcher(str(k), "=", str(v)) for k, v in items.items())
    if isinstance(items, str):
        raise LabelError(f"matchers must be a list, not the string {items!r}")
    if not isinstance(items, (list, tuple)):
        raise LabelError(f"matchers must be a list, not {type(items).__name__}")
    return tuple(parse_matcher(text) for text in items)


def matches_all(matchers: Iterable[Matcher], labels: Mapping[str, str]) -> bool:
    return all(m.matches(labels) for m in matchers)


def _key_of(names: tuple[str, ...]) -> Callable[[Callable[[str, str], Any]], tuple[Any, ...]]:
    """``get -> tuple(get(n, "") for n in names)``, written out for up to three names (the
    memos below are asked several times per alert update)."""
    if len(names) == 1:
        a, = names
        return lambda get: (get(a, ""),)
    if len(names) == 2:
        a, b = names
        return lambda get: (get(a, ""), get(b, ""))
    if len(names) == 3:
        a, b, c = names
        return lambda get: (get(a, ""), get(b, ""), get(c, ""))
    return lambda get: tuple([get(n, "") for n in names])


class LabelMemo(Generic[_T]):
    """``fn(labels)`` remembered by the values of the only labels it reads, ``names`` (an
    absent label counting as ""), so that routing, inhibition and escalation decide once
    per kind of alert instead of once per alert: their matchers name a few labels (kind,
    severity, stream), not the entity. ``fn`` must be pure and read no other label, and
    its result is shared, so it must not be changed. Bounded: cleared when full."""

    __slots__ = ("names", "fn", "_cache", "_limit", "_key")

    def __init__(self, names: Iterable[str], fn: Callable[[Mapping[str, str]], _T],
                 limit: int = 4096) -> None:
        self.names, self.fn = tuple(dict.fromkeys(names)), fn
        self._cache: dict[tuple[Any, ...], _T] = {}
        self._limit = limit
        self._key = _key_of(self.names)

    def __call__(self, labels: Mapping[str, str]) -> _T:
        key = self._key(labels.get)
        try:
            return self._cache[key]
        except KeyError:
            pass
        except TypeError:   # an unhashable label value: decide without the memo
            return self.fn(labels)
        return remember(self._cache, key, self.fn(labels), self._limit)
