"""Inhibition: a firing alert that explains others mutes them.

A confirmed structure fire makes the smoke-detector alerts of the same building noise; a
sensor's limit alert makes its stuck/NoData alerts noise. A rule says which alerts are
sources, which are targets, and which labels (``equal``) must be the same on both.

Alertmanager's semantics: a label absent from both sides counts as equal (guard with a
``label=~.+`` target matcher where that matters); an alert never inhibits itself, and an
alert that matches both sides of a rule can only be inhibited by a source that does not
(so two such alerts cannot mute each other). The firing sources are indexed by rule and
equal-label values, so :meth:`Inhibitor.mutes` costs O(rules), not O(alerts).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from alerting.labels import LabelMemo, Matcher, matches_all

FIRING, RESOLVED = "firing", "resolved"
_Key = tuple[str, ...]


@dataclass(frozen=True)
class InhibitRule:
    source_matchers: tuple[Matcher, ...]
    target_matchers: tuple[Matcher, ...]
    equal: tuple[str, ...] = ()
    name: str = ""

    def key(self, labels: Mapping[str, str]) -> _Key:
        return tuple(labels.get(n, "") for n in self.equal)


class _Sources:
    """The firing sources of one rule with one equal-key, split by whether they also match
    the rule's targets (two-sided sources cannot inhibit two-sided targets)."""

    __slots__ = ("one", "two")

    def __init__(self) -> None:
        self.one: set[str] = set()
        self.two: set[str] = set()

    def other_than(self, fingerprint: str, two_sided_target: bool) -> str | None:
        pools = (self.one,) if two_sided_target else (self.one, self.two)
        for pool in pools:
            for fp in pool:  # at most two looks: only ``fingerprint`` itself is skipped
                if fp != fingerprint:
                    return fp
        return None


class Inhibitor:
    """The current firing sources of every rule; fed alert state changes by the pipeline."""

    def __init__(self, rules: Sequence[InhibitRule]) -> None:
        self.rules = tuple(rules)
        # the rules an alert is a source of and a target of, each with whether it is also
        # the other side: decided once per kind of alert
        self._sides = LabelMemo((m.name for r in self.rules for m in
                                 (*r.source_matchers, *r.target_matchers)), self._decide)
        self._reset()

    def _decide(self, labels: Mapping[str, str]
                ) -> tuple[tuple[tuple[int, bool], ...], tuple[tuple[int, bool], ...]]:
        sides = [(matches_all(r.source_matchers, labels),
                  matches_all(r.target_matchers, labels)) for r in self.rules]
        return (tuple((i, t) for i, (s, t) in enumerate(sides) if s),
                tuple((i, s) for i, (s, t) in enumerate(sides) if t))

    def _reset(self) -> None:
        self._index: list[dict[_Key, _Sources]] = [{} for _ in self.rules]
        self._entries: dict[str, list[tuple[int, _Key]]] = {}  # fp -> where it is a source
        self._labels: dict[str, Mapping[str, str]] = {}

    def __len__(self) -> int:
        """How many firing alerts are sources of some rule."""
        return len(self._entries)

    def observe(self, labels: Mapping[str, str], fingerprint: str, status: str) -> None:
        """Record an alert state change (only alerts that are sources are kept)."""
        if status not in (FIRING, RESOLVED):
            raise ValueError(f"status: {status!r} is not 'firing' or 'resolved'")
        self._remove(fingerprint)
        if status != FIRING:
            return
        entries = []
        for i, target in self._sides(labels)[0]:
            key = self.rules[i].key(labels)
            bucket = self._index[i].setdefault(key, _Sources())
            (bucket.two if target else bucket.one).add(fingerprint)
            entries.append((i, key))
        if entries:
            self._entries[fingerprint] = entries
            self._labels[fingerprint] = dict(labels)

    def inhibited_by(self, labels: Mapping[str, str], fingerprint: str = ""
                     ) -> tuple[str, str] | None:
        """``(rule name, source fingerprint)`` of a firing source that mutes this alert."""
        for i, source in self._sides(labels)[1]:
            rule = self.rules[i]
            bucket = self._index[i].get(rule.key(labels))
            if bucket is None:
                continue
            src = bucket.other_than(fingerprint, source)
            if src is not None:
                return rule.name, src
        return None

    def mutes(self, labels: Mapping[str, str], fingerprint: str = "") -> bool:
        """Whether a firing source mutes the alert (``fingerprint``: never itself)."""
        return self.inhibited_by(labels, fingerprint) is not None

    def _remove(self, fingerprint: str) -> None:
        for i, key in self._entries.pop(fingerprint, ()):
            bucket = self._index[i][key]
            bucket.one.discard(fingerprint)
            bucket.two.discard(fingerprint)
            if not bucket.one and not bucket.two:
                del self._index[i][key]
        self._labels.pop(fingerprint, None)

    # -- checkpoint ----------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """JSON-serialisable state: the firing sources and their labels."""
        return {"version": 1, "sources": {fp: dict(lb) for fp, lb in self._labels.items()}}

    def restore(self, state: Mapping[str, Any]) -> None:
        """Replace the state with a :meth:`snapshot` (rules come from the configuration, so
        a changed rule set re-indexes the same sources)."""
        self._reset()
        for fp, labels in state.get("sources", {}).items():
            self.observe({str(k): str(v) for k, v in labels.items()}, str(fp), FIRING)
