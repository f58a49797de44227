"""Alert labels: the one vocabulary of routing, inhibition and silences.

An alert's labels are the fields that say *what* is wrong *where* (kind, detector, severity,
stream, entity, district) plus any extra ``labels`` the alert carries (building, segment,
agency, ...). Matchers over them (Alertmanager's grammar) live in ``alerting.matchers`` and
are re-exported here.
"""

from __future__ import annotations

from typing import Any, Callable, Generic, Iterable, Mapping, TypeVar

from alerting.matchers import (OPS, LabelError, Matcher, matches_all, parse_matcher,
                               parse_matchers, render)
from schemas.memo import remember

__all__ = ["LABEL_FIELDS", "OPS", "LabelError", "LabelMemo", "Matcher", "label_set",
           "labels_of", "matches_all", "parse_matcher", "parse_matchers", "render"]

LABEL_FIELDS = ("kind", "detector", "severity", "stream", "entity_id", "district")
_T = TypeVar("_T")


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
