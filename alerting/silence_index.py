"""Which silences could mute an alert, found by a few dict looks instead of a scan.

A silence is indexed under its first non-empty equality matcher (``entity_id="GAS-17"``);
one without such a matcher (only regexes or negations) is a candidate for every alert. A
lookup reads only the label names some silence is indexed under (usually one or two), not
every label of the alert. The candidates still have to match in full (the silencer checks).
"""

from __future__ import annotations

from typing import Mapping

from alerting.silence_model import Silence


def index_key(s: Silence) -> tuple[str, str] | None:
    """The (label, value) a silence is indexed under: its first non-empty equality."""
    return next(((m.name, m.value) for m in s.matchers if m.op == "=" and m.value), None)


class SilenceIndex:
    """Silence ids by (label, value), and those with no equality to index by."""

    __slots__ = ("_index", "_unindexed", "_names")

    def __init__(self) -> None:
        self._index: dict[tuple[str, str], set[str]] = {}
        self._unindexed: set[str] = set()
        self._names: dict[str, int] = {}   # label name -> index keys under it

    def add(self, s: Silence) -> None:
        key = index_key(s)
        if key is None:
            self._unindexed.add(s.id)
            return
        ids = self._index.get(key)
        if ids is None:
            ids = self._index[key] = set()
            self._names[key[0]] = self._names.get(key[0], 0) + 1
        ids.add(s.id)

    def remove(self, s: Silence) -> None:
        key = index_key(s)
        if key is None:
            self._unindexed.discard(s.id)
            return
        self._index[key].discard(s.id)
        if not self._index[key]:
            del self._index[key]
            self._names[key[0]] -= 1
            if not self._names[key[0]]:
                del self._names[key[0]]

    def candidates(self, labels: Mapping[str, str]) -> set[str] | None:
        """The ids that could mute ``labels`` (None: none, without making a set)."""
        index, get, hits = self._index, labels.get, None
        for n in self._names:
            v = get(n)
            ids = index.get((n, v)) if v is not None else None
            if ids:
                hits = [ids] if hits is None else hits + [ids]
        if hits is None:
            return set(self._unindexed) if self._unindexed else None
        return set(self._unindexed).union(*hits)
