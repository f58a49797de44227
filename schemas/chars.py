"""The characters an id, a label, a name or a free text may hold: the one checker.

Refused (``bad_characters``) in ids, label values, actor and user names: control
characters (C0 including NUL, DEL, C1), the Unicode bidi controls (U+202A-U+202E embeddings
and overrides, U+2066-U+2069 isolates, U+200E/U+200F marks, U+061C), and the characters
that are invisible or break a line (U+200B-U+200D zero widths, U+2060 word joiner, U+FEFF,
U+2028/U+2029): with them an audit trail can show ``admin`` for a name that is not, or a
right-to-left override can reverse what an operator reads. A blank id is ``empty``.
Free text (comments, notes, reasons) may keep newlines and tabs, and nothing else of that.

Fast: ``str.isprintable()`` (C) is true for every string free of all of these, i.e. nearly
every string; only the rest is searched.
"""

from __future__ import annotations

import re

from . import errors as E
from .errors import ValidationError

_BIDI = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
_FORBIDDEN_IN_ID = re.compile(f"[\x00-\x1f\x7f-\x9f{_BIDI}\u200b-\u200d\u2060\ufeff"
                              "\u2028\u2029]")
_FORBIDDEN_IN_TEXT = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f{_BIDI}]")


def bad_character(value: str, *, text: bool = False) -> str | None:
    """The first character of ``value`` it may not hold, as ``U+XXXX``, or None
    (``text``: free text, where newlines and tabs are fine)."""
    if value.isprintable():
        return None
    m = (_FORBIDDEN_IN_TEXT if text else _FORBIDDEN_IN_ID).search(value)
    return None if m is None else f"U+{ord(m.group()):04X}"


def check_id(value: str, field: str) -> str:
    """``value`` (an id, a label value, a name) unless it is blank (``empty``) or holds a
    character of the module docstring (``bad_characters``); ValidationError names ``field``."""
    bad = bad_character(value)
    if bad is not None:
        raise ValidationError(E.BAD_CHARACTERS, field, f"holds {bad}: no control, "
                              "invisible or bidi characters")
    if not value.strip():
        raise ValidationError(E.EMPTY, field, "must not be blank")
    return value


def check_text(value: str, field: str) -> str:
    """``value`` (free text) unless it holds a control character other than a newline or a
    tab, or a bidi control (``bad_characters``)."""
    bad = bad_character(value, text=True)
    if bad is not None:
        raise ValidationError(E.BAD_CHARACTERS, field, f"holds {bad}: no control or bidi "
                              "characters (newlines and tabs are fine)")
    return value
