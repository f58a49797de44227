"""Shared strategies of the fuzz suite, used by every target and by ``bench/fuzz.py``:
JSON values, ids and text (clean, tainted with control or bidi characters, blank), deep
nesting, JSON text written by hand (duplicate keys, raw tokens such as ``NaN``), corrupt
bytes, and event times around a fixed ``NOW_MS``."""

from __future__ import annotations

import importlib
import string
from dataclasses import dataclass
from functools import lru_cache
from datetime import datetime, timedelta, timezone
from typing import Any

import orjson
from hypothesis import strategies as st

from city.profile import load_profile
from schemas.validate import Policy, format_event_time

# The unit tests' fixed "now": 2025-06-01T08:00:00.000Z.
NOW_MS = int(datetime(2025, 6, 1, 8, 0, tzinfo=timezone.utc).timestamp() * 1000)
PROFILE = load_profile("changsha")
POLICY = Policy.for_city(PROFILE)
DAY_MS = 86_400_000
YEAR_MS = 365 * DAY_MS


def max_depth() -> int:
    """The one nesting limit (issue 13: ``MAX_DEPTH`` in ``schemas``), 16 until it exists."""
    for name in ("schemas.limits", "schemas.errors", "schemas.wire"):
        try:
            value = getattr(importlib.import_module(name), "MAX_DEPTH", None)
        except ImportError:
            continue
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return 16


MAX_DEPTH = max_depth()
# orjson refuses to parse deeper than this itself (malformed_json is then a fair code too)
ORJSON_MAX_DEPTH = 1024

# -- text ----------------------------------------------------------------------------------
CONTROL = tuple(chr(c) for c in (*range(0x20), 0x7F, *range(0x80, 0xA0)))
BIDI = ("\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068",
        "\u2069", "\u200e", "\u200f", "\u061c")
BAD_CHARS = CONTROL + BIDI
BLANKS = ("", " ", "   ")
# Letters of several scripts (Arabic is right-to-left, yet no bidi *control*), digits, -_.:
# as fixed alphabets: hypothesis checks a character category per drawn character, slowly.
_LETTERS = (string.ascii_letters + string.digits + "长沙岳麓芙蓉天心开福雨花望城燃气管网消防"
            + "ÅéßñøžΩλжЯئبت")
_ID_CHARS = _LETTERS + "-_.:"
_TEXT_CHARS = _LETTERS + " ,.;:!?()[]{}<>'\"/\\@#%&*+=~^|`$，。：；！？（）“”、—…°µ€¥😀🚒"


@lru_cache(maxsize=None)
def ids(max_size: int = 40) -> st.SearchStrategy[str]:
    """Ids any entry point must take: letters (any script), digits and ``-_.:``."""
    return st.text(_ID_CHARS, min_size=1, max_size=max_size)


@lru_cache(maxsize=None)
def names() -> st.SearchStrategy[str]:
    """Operator names: words of id characters with single spaces (not a reserved actor)."""
    return st.lists(ids(12), min_size=1, max_size=3).map(" ".join).filter(
        lambda n: n != "system" and not n.startswith("detector:"))


@lru_cache(maxsize=None)
def free_text(max_size: int = 80, min_size: int = 0) -> st.SearchStrategy[str]:
    """Comments, reasons, notes: printable text of any script (no control or format
    characters), not blank when ``min_size``."""
    text = st.text(_TEXT_CHARS, min_size=min_size, max_size=max_size)
    return text.filter(lambda t: t.strip()) if min_size else text


@st.composite
def tainted(draw: st.DrawFn, base: st.SearchStrategy[str] | None = None) -> str:
    """An id with a control or bidi character inside it (never at either end)."""
    s = draw(base if base is not None else ids(30))
    c = draw(st.sampled_from(BAD_CHARS))
    k = draw(st.integers(1, len(s)))
    return s[:k] + c + s[k:] + ("" if k < len(s) else "z")


@lru_cache(maxsize=None)
def blanks() -> st.SearchStrategy[str]:
    return st.sampled_from(BLANKS)


# -- JSON values ---------------------------------------------------------------------------
SCALARS = (st.none() | st.booleans() | st.integers(-(2 ** 63), 2 ** 64 - 1)
           | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20))


@lru_cache(maxsize=None)
def json_values(max_leaves: int = 10) -> st.SearchStrategy[Any]:
    """Any JSON value orjson writes (shallow enough for every limit)."""
    return st.recursive(SCALARS, lambda c: st.lists(c, max_size=4)
                        | st.dictionaries(st.text(max_size=8), c, max_size=4),
                        max_leaves=max_leaves)


@lru_cache(maxsize=None)
def json_objects(max_leaves: int = 10) -> st.SearchStrategy[dict[str, Any]]:
    """Any JSON object (drawn as one: a filter on json_values would retry and give up)."""
    return st.dictionaries(st.text(max_size=12), json_values(max_leaves), max_size=8)


@lru_cache(maxsize=None)
def json_non_objects(max_leaves: int = 4) -> st.SearchStrategy[Any]:
    """Any JSON value but an object: a scalar or a list."""
    return SCALARS | st.lists(json_values(max_leaves), max_size=4)


@dataclass(frozen=True)
class Deep:
    """A value nested ``depth`` containers deep (printed short in falsifying examples)."""

    depth: int
    shape: str = "list"    # list | object | mixed

    def text(self) -> bytes:
        if self.shape == "list":
            return b"[" * self.depth + b"]" * self.depth
        opens = [b'{"k":' if self._is_object(i) else b"[" for i in range(self.depth)]
        closes = [b"}" if self._is_object(i) else b"]" for i in range(self.depth)]
        inner = b"1" if self._is_object(self.depth - 1) else b""
        return b"".join(opens) + inner + b"".join(reversed(closes))

    def value(self) -> Any:
        last = self.depth - 1
        v: Any = {"k": 1} if self._is_object(last) else []
        for i in reversed(range(last)):
            v = {"k": v} if self._is_object(i) else [v]
        return v

    def _is_object(self, i: int) -> bool:
        return self.shape == "object" or (self.shape == "mixed" and i % 2 == 1)


@lru_cache(maxsize=None)
def deep(max_depth: int = 1000) -> st.SearchStrategy[Deep]:
    """Nesting past :data:`MAX_DEPTH`: near it, at the depths where encoders and Python's
    own recursion give up (254 for orjson, ~1000 for ``repr``), and anywhere between."""
    lo = MAX_DEPTH + 1
    edges = [d for d in (lo, 64, 252, 253, 254, 255, 256, 999, 1000, 1020, 1023, 1024, 1025)
             if lo <= d <= max_depth]
    depth = st.one_of(st.integers(lo, lo + 40), st.sampled_from(edges),
                      st.integers(lo, max_depth), st.integers(max(lo, max_depth - 100),
                                                              max_depth))
    return st.builds(Deep, depth, st.sampled_from(("list", "object", "mixed")))


@dataclass(frozen=True)
class Raw:
    """A JSON token written as it is (``NaN``, ``1e400``): not what orjson would write."""

    text: bytes


@dataclass(frozen=True)
class Pairs:
    """A JSON object written pair by pair, so a key can repeat."""

    items: tuple[tuple[str, Any], ...]


def write(value: Any) -> bytes:
    """JSON text of ``value``, which may hold :class:`Deep`, :class:`Raw` and :class:`Pairs`."""
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, Deep):
        return value.text()
    if isinstance(value, (dict, Pairs)):
        items = value.items if isinstance(value, Pairs) else value.items()
        return b"{" + b",".join(orjson.dumps(k) + b":" + write(v) for k, v in items) + b"}"
    if isinstance(value, (list, tuple)):
        return b"[" + b",".join(write(v) for v in value) + b"]"
    if isinstance(value, int) and not isinstance(value, bool) and \
            not -(2 ** 63) <= value < 2 ** 64:
        return str(value).encode()
    return orjson.dumps(value)


def materialise(value: Any) -> Any:
    """The Python value a JSON decoder would give for ``value`` (last duplicate wins)."""
    if isinstance(value, Deep):
        return value.value()
    if isinstance(value, Raw):
        return orjson.loads(value.text)
    if isinstance(value, (dict, Pairs)):
        items = value.items if isinstance(value, Pairs) else value.items()
        return {k: materialise(v) for k, v in items}
    if isinstance(value, (list, tuple)):
        return [materialise(v) for v in value]
    return value


NON_FINITE = (b"NaN", b"Infinity", b"-Infinity", b"1e400", b"-1e999")

# -- bytes ---------------------------------------------------------------------------------
BAD_UTF8 = (b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xc0\x80", b"\xf8\x88\x80\x80\x80", b"\x80")


@st.composite
def corrupt(draw: st.DrawFn, raw: bytes) -> tuple[bytes, str]:
    """``raw`` (JSON text of an object) made unreadable: (bytes, what was done). Every
    result is malformed JSON."""
    how = draw(st.sampled_from(("truncated", "bad_utf8")))
    if how == "truncated":
        return raw[:draw(st.integers(0, len(raw) - 1))], how
    quotes = [i for i, b in enumerate(raw) if b == 0x22] or [0]
    at = draw(st.sampled_from(quotes)) + 1
    return raw[:at] + draw(st.sampled_from(BAD_UTF8)) + raw[at:], how


# -- time ----------------------------------------------------------------------------------
OFFSETS_MIN = (0, 480, -300, 330, 840, -720)


def iso(ms: int, offset_min: int = 0) -> str:
    """``ms`` as ISO 8601 with the given offset (canonical ``...Z`` for UTC)."""
    if offset_min == 0:
        return format_event_time(ms)
    tz = timezone(timedelta(minutes=offset_min))
    return datetime.fromtimestamp(ms / 1000, tz=tz).isoformat(timespec="milliseconds")


@lru_cache(maxsize=None)
def times(lo_ms: int, hi_ms: int) -> st.SearchStrategy[str]:
    return st.builds(iso, st.integers(lo_ms, hi_ms), st.sampled_from(OFFSETS_MIN))


@lru_cache(maxsize=None)
def recent_times(max_age_ms: int = 3_000_000) -> st.SearchStrategy[str]:
    return times(NOW_MS - max_age_ms, NOW_MS)


@lru_cache(maxsize=None)
def old_times(min_age_ms: int) -> st.SearchStrategy[str]:
    return times(NOW_MS - 30 * YEAR_MS, NOW_MS - min_age_ms) | st.just(
        "0001-01-01T00:00:00Z")


@lru_cache(maxsize=None)
def future_times(min_ahead_ms: int) -> st.SearchStrategy[str]:
    return times(NOW_MS + min_ahead_ms, NOW_MS + 30 * YEAR_MS) | st.just(
        "9999-12-31T23:59:59.999Z")


BAD_TIMES = ("yesterday", "2025-13-01T00:00:00Z", "2025-06-01T25:00:00Z", "1748764800000",
             "2025-06-01T08:00:00+24:00", "2025-06-01T07:59:00", "2025-06-01 07:59:00")
