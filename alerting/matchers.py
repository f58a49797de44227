"""Label matchers in Alertmanager's grammar: parsed, checked, rendered back (pure).

A matcher is ``name op value``: ``=`` equal, ``!=`` not equal, ``=~`` matches the regex,
``!~`` does not; regexes are RE2, fully anchored (``alerting.regex``), and an absent label
matches as "". One text may hold several, comma-separated, optionally in braces, with one
trailing comma allowed: ``{kind="gas_leak", district=~"yuelu|kaifu",}``. Whitespace
outside quotes means nothing.

**Which of Alertmanager's two parsers.** We follow the UTF-8 parser (``matchers/parse``,
Alertmanager 0.27+: the only one in its ``utf8-strict-mode``, which its docs recommend for
new installations and will make the default), strictly: no fallback to the classic parser
(``pkg/labels/parse.go``). Where the two differ:

* Unquoted values. Classic takes everything up to trailing whitespace, so ``a=b c`` and
  ``a==b`` are one matcher each and ``a=`` is the empty value. The UTF-8 parser ends an
  unquoted literal at whitespace or a reserved character (``{ } ! = ~ , \\ " ' ```), so those
  are errors: quote the value (``a="b c"``, ``a="=b"``, ``a=""``). A forgotten comma is an
  error, not one broad matcher.
* Escapes. Classic knows ``\\"``, ``\\\\`` and ``\\n`` and keeps any other backslash as
  itself; a UTF-8 quoted string is a Go string literal (also ``\\t``, ``\\xNN``, ``\\u``...;
  ``\\d`` and a raw line break are errors: a regex's backslash is written ``"\\\\d+"``), and
  the bytes it spells must be UTF-8.
* Braces. Classic trims a leading ``{`` and a trailing ``}`` each on its own; the UTF-8
  parser wants both or neither.
* Names. The UTF-8 parser takes any UTF-8 name; ours must be Prometheus label names
  (``[A-Za-z_][A-Za-z0-9_]*``, quoted or not): the labels alerts carry, ``<labelname>`` in
  Alertmanager's configuration docs.

:func:`render` is Alertmanager's ``Matcher.String`` for such names: ``name op "value"`` with
``\\``, ``"`` and line feeds escaped, which parses back to the same matcher.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

from alerting.go_quote import QuoteError, unquote
from alerting.regex import REGEX_CODES, Regex, RegexError

OPS = ("=", "!=", "=~", "!~")
MATCHES_EVERYTHING = "matches_everything"   # the refusal code of a silence muting everything
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_RESERVED = frozenset('{}!=~,\\"\'`')
_NOT_SPACE = frozenset("\x1c\x1d\x1e\x1f")  # str.isspace() says yes, Go's unicode.IsSpace no


class LabelError(ValueError):
    """A matcher or label set that cannot be used (the message says what and why); ``code``
    is the stable name of the refusal."""

    def __init__(self, reason: str, code: str = "bad_matcher") -> None:
        super().__init__(reason)
        self.reason, self.code = reason, code


def compile_regex(pattern: str) -> Regex:
    """The one place a matcher's regex is compiled: RE2, anchored as Alertmanager does, of
    bounded length (:mod:`alerting.regex`); a LabelError coded ``bad_regex``/``too_long``."""
    try:
        return Regex(pattern)
    except RegexError as exc:
        raise LabelError(f"bad regex {pattern[:200]!r}: {exc.reason}", exc.code) from None


@dataclass(frozen=True)
class Matcher:
    name: str
    op: str
    value: str
    _regex: Regex | None = field(default=None, compare=False, repr=False)
    # why a regex restored from a checkpoint or a record is no longer accepted: such a
    # matcher matches nothing (see restored_matcher); "" for every matcher made from input
    refused: str = field(default="", compare=False, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise LabelError(f"matcher name {self.name!r}: a label name is letters, digits "
                             f"and '_', not starting with a digit")
        if self.op not in OPS:
            raise LabelError(f"matcher {self.name!r}: unknown operator {self.op!r}; "
                             f"use one of {OPS}")
        if not isinstance(self.value, str):
            raise LabelError(f"matcher {self.name!r}: the value must be text, not "
                             f"{type(self.value).__name__}")
        if self.op in ("=~", "!~") and not self.refused:
            try:
                object.__setattr__(self, "_regex", compile_regex(self.value))
            except LabelError as exc:
                raise LabelError(f"matcher {self.name!r}: {exc.reason}", exc.code) from None

    def matches(self, labels: Mapping[str, str]) -> bool:
        v = labels.get(self.name, "")
        rx = self._regex
        if rx is None:
            if self.refused:
                return False
            return v == self.value if self.op == "=" else v != self.value
        return rx.matches(v) is (self.op == "=~")

    def __str__(self) -> str:
        return render(self)

    def text(self) -> str:
        """``name op "value"``: what :func:`parse_matcher` reads back exactly."""
        return render(self)


def render(m: Matcher) -> str:
    """Alertmanager's form of one matcher, ``name op "value"`` (escaped)."""
    value = m.value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'{m.name}{m.op}"{value}"'


def render_all(matchers: Iterable[Matcher]) -> str:
    """``{a="b",c=~"d"}``: several matchers as one text that parses back to them."""
    return "{" + ",".join(render(m) for m in matchers) + "}"


def matches_all(matchers: Iterable[Matcher], labels: Mapping[str, str]) -> bool:
    return all(m.matches(labels) for m in matchers)


def check_silence_matchers(matchers: Sequence[Matcher]) -> None:
    """Refuse (code ``matches_everything``) matchers that, taken together, match an alert
    with no labels at all: such a silence mutes every alert that no negative matcher names
    -- ``kind!=fire_alarm`` mutes every other kind in every district. Alertmanager's API
    refuses a silence whose matchers all match the empty string, but counts only ``=`` and
    ``=~`` as able to; here ``!=`` and ``!~`` count too. The engine and the cockpit both ask
    this, so they refuse the same silences."""
    if not matchers:
        raise LabelError("a silence needs at least one matcher: without one it would mute "
                         "every alert", MATCHES_EVERYTHING)
    if matches_all(matchers, {}):
        raise LabelError(f"{render_all(matchers)} matches an alert without any labels, so "
                         f"it would mute nearly every alert in the city: add a matcher that "
                         f"needs a label, such as district=\"kaifu\"", MATCHES_EVERYTHING)


def parse_matcher(text: Any) -> Matcher:
    """Exactly one matcher (``'severity=~"critical|major"'``), else a LabelError."""
    found = parse_text(text)
    if len(found) != 1:
        raise LabelError(f"{text!r}: expected one matcher, found {len(found)}")
    return found[0]


def parse_matchers(items: Any) -> tuple[Matcher, ...]:
    """Matchers from a list of texts, each holding one or more (``["kind!=fire_alarm,
    district=kaifu"]`` is two), or from a ``{name: value}`` mapping (equality); a LabelError
    for anything else (``items`` is whatever a command or a config held)."""
    if items is None:
        return ()
    if isinstance(items, Mapping):
        return mapping_matchers(items, "=")
    if isinstance(items, str):
        raise LabelError(f"matchers must be a list, not the string {items!r}")
    if not isinstance(items, (list, tuple)):
        raise LabelError(f"matchers must be a list, not {type(items).__name__}")
    out: list[Matcher] = []
    for i, text in enumerate(items):
        found = parse_text(text)
        if not found:
            raise LabelError(f"matchers[{i}] {text!r} holds no matcher")
        out.extend(found)
    return tuple(out)


def mapping_matchers(items: Mapping[Any, Any], op: str) -> tuple[Matcher, ...]:
    """``{name: value}`` -> one ``name op value`` each (Alertmanager's ``match:`` is ``=``,
    ``match_re:`` is ``=~``); a value is text or a whole number (``code: 500``)."""
    out = []
    for k, v in items.items():
        if isinstance(v, int) and not isinstance(v, bool):
            v = str(v)
        if not isinstance(v, str):
            raise LabelError(f"matcher {k!r}: the value must be text, not {v!r}"[:200])
        out.append(Matcher(str(k), op, v))
    return tuple(out)


def restored_matcher(name: str, op: str, value: str) -> Matcher:
    """A matcher as a checkpoint or a record held it: one whose regex is no longer accepted
    (refused since, by RE2 or the length bound) comes back ``refused`` -- it matches nothing,
    so a silence holding it mutes nothing and is ended (``alerting.silencer``) -- instead of
    failing the whole restore."""
    try:
        return Matcher(name, op, value)
    except LabelError as exc:
        if exc.code not in REGEX_CODES:
            raise
        return Matcher(name, op, value, refused=exc.reason)


def parse_text(text: Any, restored: bool = False) -> tuple[Matcher, ...]:
    """All the matchers in one text (none in ``""`` or ``{}``); ``restored``: a text from a
    record, its refused regexes made with :func:`restored_matcher`."""
    if not isinstance(text, str):
        raise LabelError(f"a matcher is text, not {type(text).__name__} {text!r}"[:200])
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise LabelError(f"{text!r}: not valid UTF-8") from None
    toks = _lex(text)
    k, out = 0, []
    braced = bool(toks) and toks[0][0] == "{"
    if braced:
        k = 1
    while k < len(toks) and toks[k][0] != "}":
        out.append(_matcher(text, toks, k, restored))
        k += 3
        if k < len(toks) and toks[k][0] == ",":
            k += 1
        elif k < len(toks) and toks[k][0] != "}":
            raise _error(text, toks[k][2], f"unexpected {toks[k][1]!r}: expected a comma or "
                                           f"a close brace (quote a value that has spaces)")
    if braced:
        if k >= len(toks):
            raise _error(text, len(text), "missing the close brace '}'")
        k += 1
    elif k < len(toks):
        raise _error(text, toks[k][2], "a close brace '}' without an open brace '{'")
    if k < len(toks):
        raise _error(text, toks[k][2], f"unexpected {toks[k][1]!r} after the close brace")
    return tuple(out)


def _matcher(text: str, toks: list[tuple[str, str, int]], k: int, restored: bool) -> Matcher:
    parts = toks[k:k + 3]
    kinds = [t[0] for t in parts] + ["end"] * (3 - len(parts))
    end = len(text)
    if kinds[0] not in ("quoted", "literal"):
        raise _error(text, parts[0][2], f"unexpected {parts[0][1]!r}: expected a label name")
    if kinds[1] != "op":
        raise _error(text, parts[1][2] if len(parts) > 1 else end,
                     "expected an operator: '=', '!=', '=~' or '!~'")
    if kinds[2] not in ("quoted", "literal"):
        raise _error(text, parts[2][2] if len(parts) > 2 else end,
                     'expected a value (the empty value is written "")')
    name, value = (_unquote(text, t) if t[0] == "quoted" else t[1] for t in (parts[0], parts[2]))
    try:
        if restored:
            return restored_matcher(name, parts[1][1], value)
        return Matcher(name, parts[1][1], value)
    except LabelError as exc:
        raise _error(text, parts[0][2], exc.reason, exc.code) from None


def _lex(text: str) -> list[tuple[str, str, int]]:
    """Tokens ``(kind, text, column)``: ``{`` ``}`` ``,`` op, quoted, literal."""
    out: list[tuple[str, str, int]] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace() and c not in _NOT_SPACE:
            i += 1
        elif c in "{},":
            out.append((c, c, i))
            i += 1
        elif c in "=!":
            j = i + 1
            if j < n and (text[j] == "~" or (c == "!" and text[j] == "=")):
                j += 1
            elif c == "!":
                raise _error(text, i, "'!' must be followed by '=' or '~'")
            out.append(("op", text[i:j], i))
            i = j
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            if j >= n:
                raise _error(text, i, 'missing the closing quote \'"\'')
            out.append(("quoted", text[i:j + 1], i))
            i = j + 1
        elif c in _RESERVED:
            raise _error(text, i, f"{c!r} is reserved: put the value in double quotes")
        else:
            j = i
            while j < n and text[j] not in _RESERVED and not (text[j].isspace()
                                                              and text[j] not in _NOT_SPACE):
                j += 1
            out.append(("literal", text[i:j], i))
            i = j
    return out


def _unquote(text: str, tok: tuple[str, str, int]) -> str:
    """A quoted token's text, read as a Go string literal (Alertmanager's ``strconv.Unquote``)."""
    try:
        return unquote(tok[1][1:-1])
    except QuoteError as exc:
        raise _error(text, tok[2], exc.reason) from None


def _error(text: str, col: int, reason: str, code: str = "bad_matcher") -> LabelError:
    return LabelError(f"bad matcher {text[:300]!r} at column {col}: {reason}", code)
