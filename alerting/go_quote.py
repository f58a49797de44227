"""Go string literals, as Alertmanager's matcher parser reads a quoted value (pure).

Apart from :mod:`alerting.matchers` because it is its own small grammar: ``strconv.Unquote``
of a double-quoted literal -- ``\\a \\b \\f \\n \\r \\t \\v \\\\ \\"``, ``\\xNN``, ``\\NNN``
(octal), ``\\uNNNN``, ``\\UNNNNNNNN`` -- whose bytes must be UTF-8.
"""

from __future__ import annotations

from string import hexdigits, octdigits

_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v",
            "\\": "\\", '"': '"'}
_WIDTH = {"x": 2, "u": 4, "U": 8}


class QuoteError(ValueError):
    """A literal that is not one; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def unquote(body: str) -> str:
    """The text between the quotes of a Go string literal (a QuoteError says what is wrong)."""
    if "\n" in body:
        raise QuoteError("a line break inside quotes: write it as \\n")
    if "\\" not in body:
        return body
    out, i = bytearray(), 0
    while i < len(body):
        c = body[i]
        if c != "\\":
            out += c.encode("utf-8")
            i += 1
            continue
        e = body[i + 1]   # (the lexer never ends a quoted token on a lone backslash)
        if e in _ESCAPES:
            out += _ESCAPES[e].encode("utf-8")
            i += 2
        elif e in _WIDTH or e in octdigits:
            width = _WIDTH.get(e, 3)
            digits = body[i + 2:i + 2 + width] if e in _WIDTH else body[i + 1:i + 4]
            valid = hexdigits if e in _WIDTH else octdigits
            if len(digits) != width or any(d not in valid for d in digits):
                raise QuoteError(f"bad escape \\{e}{digits}")
            v = int(digits, 16 if e in _WIDTH else 8)
            if e in ("u", "U"):
                if v > 0x10FFFF or 0xD800 <= v <= 0xDFFF:
                    raise QuoteError(f"\\{e}{digits} is not a character")
                out += chr(v).encode("utf-8")
            elif v > 255:
                raise QuoteError(f"\\{digits} is more than a byte")
            else:
                out.append(v)
            i += 2 + width if e in _WIDTH else 4
        else:
            raise QuoteError(f"\\{e} is not an escape: a backslash is written \\\\")
    try:
        return out.decode("utf-8")
    except UnicodeDecodeError:
        raise QuoteError("the escaped bytes are not valid UTF-8") from None
