"""JSON from outside, decoded through one door: :func:`decode`.

orjson parses (fast, strict: no NaN, no bad UTF-8); then two checks it does not make:

* nesting deeper than :data:`~schemas.limits.MAX_DEPTH` is refused (``too_deep``): a value
  that got in must be writable, printable and copyable again, and a 255-deep batch item
  once made a whole Kafka batch fail;
* an object with the same key twice is refused (``duplicate_key``): orjson keeps the last
  silently, so two readers of the same bytes could disagree about what was sent.

Both run on the decoded value, not on the text byte by byte: the depth walk visits one
level of containers at a time with C iterators (``map``, ``chain``, ``set``), and the
duplicate check compares the count of ``:`` in the text with the count in orjson's
re-encoding of the value (each key of the text has its ``:``; a duplicate's is lost in the
decoded object). Only when they differ, or when the text spells a ``:`` as an escape that
could hide the difference, does the exact (slower) check with the ``json`` module run. On
the simulator's batches the two checks cost about 0.6 us per event (decoding ~1-2 us).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from itertools import chain
from typing import Any, Iterator, Union

import orjson

from . import errors as E
from .errors import ValidationError
from .limits import MAX_DEPTH

Raw = Union[bytes, bytearray, memoryview, str]
_WIDE_BYTES = 4096   # a document longer than this is walked level by level at once

__all__ = ["MAX_DEPTH", "decode", "check_depth", "too_deep", "duplicate_key"]


def decode(raw: Raw, *, max_depth: int = MAX_DEPTH, field: str = "") -> Any:
    """One JSON document from outside -> its value, or :class:`ValidationError` with code
    ``malformed_json``, ``too_deep`` or ``duplicate_key`` (``field``: what it was)."""
    if isinstance(raw, memoryview):
        raw = raw.tobytes()
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        if "depth limit" in str(exc):   # orjson's own bound (1024): far over ours
            raise _too_deep(max_depth, field) from None
        raise ValidationError(E.MALFORMED_JSON, field, f"not valid UTF-8 JSON: {exc}") from None
    check_depth(doc, max_depth, field, wide=len(raw) > _WIDE_BYTES)
    dup = duplicate_key(raw, doc)
    if dup is not None:
        raise ValidationError(E.DUPLICATE_KEY, field, f"an object has the key {dup[:64]!r} "
                              "more than once")
    return doc


def check_depth(value: Any, max_depth: int = MAX_DEPTH, field: str = "", *,
                wide: bool = False) -> None:
    """:class:`ValidationError` ``too_deep`` if ``value`` nests deeper than ``max_depth``."""
    if too_deep(value, max_depth, wide=wide):
        raise _too_deep(max_depth, field)


def _too_deep(max_depth: int, field: str) -> ValidationError:
    return ValidationError(E.TOO_DEEP, field, f"nested deeper than {max_depth} levels of "
                           "arrays and objects")


def too_deep(value: Any, limit: int = MAX_DEPTH, *, wide: bool = False) -> bool:
    """Whether arrays/objects (lists, tuples, mappings) nest more than ``limit`` levels in
    ``value`` (a scalar is 0 deep, ``[]`` 1, ``{"a": [1]}`` 2). Iterative: any depth, even a
    list that holds itself, is answered without recursion. A small value (an alert, a
    command) is walked container by container; a wide one (``wide``, or found so on the
    way: a batch of events) level by level, with C iterators over each whole level."""
    if not wide:
        small = _walk(value, limit, _BUDGET)
        if small is not None:
            return small
    return _by_level(value, limit)


_BUDGET = 256   # containers and values the small walk visits before it hands over
_PLAIN = frozenset((dict, list, tuple))
_LEAVES = frozenset((str, int, float, bool, type(None), bytes))


def _walk(value: Any, limit: int, budget: int) -> bool | None:
    """Depth-first with an explicit stack; None when ``value`` is bigger than ``budget``."""
    if not _container(type(value)):
        return False
    stack = [(value, 1)]
    pop, push = stack.pop, stack.append
    while stack:
        v, depth = pop()
        if depth > limit:
            return True
        items = v.values() if type(v) is dict or isinstance(v, Mapping) else v
        budget -= len(items)
        if budget < 0:
            return None
        for c in items:
            t = type(c)
            if t is dict or t is list or (t not in _LEAVES and _container(t)):
                push((c, depth + 1))
    return False


def _by_level(value: Any, limit: int) -> bool:
    kinds = _containers({type(value)})
    if not kinds:
        return False
    level: list[Any] = [value]
    depth = 1
    while depth <= limit:
        types = set(map(type, _children(level, kinds)))
        found = _containers(types)
        if not found:
            return False
        depth += 1
        kids = _children(level, kinds)
        # (all children containers, e.g. a batch's events: no filtering pass)
        level = list(kids) if len(found) == len(types) else [v for v in kids
                                                              if type(v) in found]
        kinds = found
    return True


def _container(t: type) -> bool:
    return t is dict or t is list or t is tuple or (
        t not in _LEAVES and issubclass(t, (Mapping, list, tuple)))


def _containers(types: set[type]) -> set[type]:
    found = types & _PLAIN
    odd = types - _PLAIN - _LEAVES   # (rare: a subclass, a Mapping that is not a dict)
    if odd:
        found |= {t for t in odd if issubclass(t, (Mapping, list, tuple))}
    return found


def _children(level: list[Any], kinds: set[type]) -> Iterator[Any]:
    if len(kinds) == 1:
        kind = next(iter(kinds))
        if kind is dict:
            return chain.from_iterable(map(dict.values, level))
        if kind is list:
            return chain.from_iterable(level)
    return chain.from_iterable([c.values() if isinstance(c, Mapping) else c for c in level])


def duplicate_key(raw: Raw, doc: Any) -> str | None:
    """A key that an object of the JSON text ``raw`` (decoded: ``doc``) holds twice, or None.
    ``doc`` must be orjson's decoding of ``raw`` (within orjson's depth for writing)."""
    if isinstance(raw, memoryview):
        raw = raw.tobytes()
    if not isinstance(doc, (dict, list)):
        return None
    again = orjson.dumps(doc)
    if again == raw:   # orjson's own encoding (our producers'): nothing was dropped
        return None
    if isinstance(raw, str):
        same = raw.count(":") == again.count(b":") and not ("\\" in raw and "\\u003" in raw)
    else:
        same = raw.count(b":") == again.count(b":") and not (b"\\" in raw and
                                                              b"\\u003" in raw)
    return None if same else _first_duplicate(raw)


class _Duplicate(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _no_duplicates(pairs: list[tuple[str, Any]]) -> None:
    seen: set[str] = set()
    for k, _ in pairs:
        if k in seen:
            raise _Duplicate(k)
        seen.add(k)


def _first_duplicate(raw: bytes | bytearray | str) -> str | None:
    """The exact check (the ``json`` module hands every object's pairs over, in order)."""
    try:
        json.loads(raw, object_pairs_hook=_no_duplicates)
    except _Duplicate as dup:
        return dup.key
    return None
