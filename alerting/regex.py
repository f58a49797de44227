"""User-supplied regexes: RE2, anchored as Alertmanager anchors them, of bounded length (pure).

Why RE2: a silence, a route or an inhibit rule holds a regex someone typed, and Python's
``re`` backtracks: ``entity_id=~"(.|.|.)*!"`` took seconds per alert on a 16-character id,
tripling per character, in the worker and in the cockpit's event loop alike, and a
checkpointed silence brought the hang back after every restart. RE2 (the ``google-re2``
bindings; Alertmanager uses Go's RE2-derived ``regexp``) matches in time linear in the
text, whatever the pattern. What RE2 cannot do in linear time it refuses to compile:
backreferences (``\\1``), lookaround (``(?=``, ``(?<!``), possessive quantifiers; such a
pattern is refused with the code ``bad_regex``, and one longer than
:data:`MAX_PATTERN_CHARS` with ``too_long``.

Anchoring is Alertmanager's: the pattern is compiled as ``^(?:pattern)$``, so ``yuelu``
matches the value ``yuelu`` and not ``yuelu-north``. The pattern is compiled on its own
first, so that one which closes the group early (``a)|(b``) is refused instead of escaping
the anchors. ``$`` is the end of the text (RE2, like Go: not before a final line feed), ``.``
does not match a line feed, and ``\\d``/``\\w`` are ASCII, as in Alertmanager.
"""

from __future__ import annotations

from typing import Any

import re2

from schemas.memo import remember

# Bound on a pattern, in characters: the longest in the shipped configuration is under 100;
# a list of a city's districts or kinds fits many times over. RE2 is linear in the text
# whatever the pattern, but compiling and storing (every silence is checkpointed and
# recorded) is linear in the pattern, and the cockpit shows it.
MAX_PATTERN_CHARS = 1024
BAD_REGEX, TOO_LONG = "bad_regex", "too_long"
REGEX_CODES = (BAD_REGEX, TOO_LONG)
# RE2's memory budget per compiled pattern (its default is 8 MiB): a pattern within the
# length bound that needs more (``(x{1000}){1000}``) is refused as bad_regex
_MAX_MEM = 2 << 20
_MEMO = 256   # label values remembered per pattern (the same districts and kinds recur)


class RegexError(ValueError):
    """A pattern that is refused; ``code`` is ``bad_regex`` or ``too_long``."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code, self.reason = code, reason


def _options() -> Any:
    opts = re2.Options()
    opts.log_errors = False       # (the reason is in the exception; no stderr per refusal)
    opts.never_capture = True     # only whether it matches is asked
    opts.max_mem = _MAX_MEM
    return opts


_OPTIONS = _options()


class Regex:
    """A fully anchored RE2 pattern; :meth:`matches` answers for a whole label value."""

    def __init__(self, pattern: str) -> None:
        if not isinstance(pattern, str):
            raise RegexError(BAD_REGEX, f"a regex is text, not {type(pattern).__name__}")
        if len(pattern) > MAX_PATTERN_CHARS:
            raise RegexError(TOO_LONG, f"the regex has {len(pattern)} characters; at most "
                                       f"{MAX_PATTERN_CHARS}")
        try:
            re2.compile(pattern, _OPTIONS)   # on its own: "a)|(b" must not escape ^(?:...)$
            self._rx: Any = re2.compile(f"^(?:{pattern})$", _OPTIONS)
        except re2.error as exc:
            raise RegexError(BAD_REGEX, f"not a regex RE2 can match in linear time "
                                        f"(no backreferences or lookaround): "
                                        f"{_text(exc)}") from None
        except UnicodeEncodeError:
            raise RegexError(BAD_REGEX, "the regex is not valid UTF-8") from None
        self.pattern = pattern
        self._memo: dict[str, bool] = {}

    def matches(self, value: str) -> bool:
        """Whether the whole of ``value`` matches (a lone surrogate, which is no UTF-8, is
        matched as U+FFFD)."""
        hit = self._memo.get(value)
        if hit is None:
            try:
                text = value.encode("utf-8")
            except UnicodeEncodeError:
                text = "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c
                               for c in value).encode("utf-8")
            hit = remember(self._memo, value, self._rx.search(text) is not None, _MEMO)
        return hit


def _text(exc: BaseException) -> str:
    arg = exc.args[0] if exc.args else ""
    return arg.decode("utf-8", "replace") if isinstance(arg, bytes) else str(arg)
