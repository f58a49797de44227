"""schemas.chars: the one checker of the characters of ids, labels, names and free text."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import errors as E
from schemas.chars import bad_character, check_id, check_text
from schemas.errors import ValidationError

BIDI = ["\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068",
        "\u2069", "\u200e", "\u200f", "\u061c"]
CONTROLS = ["\x00", "\x01", "\x07", "\x1b", "\x7f", "\x80", "\x85", "\x9f"]
INVISIBLE = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u2028", "\u2029"]


@pytest.mark.parametrize("ch", BIDI + CONTROLS + INVISIBLE + ["\n", "\t", "\r"])
def test_an_id_refuses_the_character_wherever_it_is(ch: str) -> None:
    for s in (ch + "op", "op" + ch, "o" + ch + "p"):
        with pytest.raises(ValidationError) as info:
            check_id(s, "actor")
        assert (info.value.code, info.value.field) == (E.BAD_CHARACTERS, "actor")
        assert f"U+{ord(ch):04X}" in info.value.reason


@pytest.mark.parametrize("ch", BIDI + CONTROLS + ["\r"])
def test_free_text_refuses_controls_and_bidi(ch: str) -> None:
    with pytest.raises(ValidationError) as info:
        check_text(f"line{ch}more", "comment")
    assert info.value.code == E.BAD_CHARACTERS


def test_free_text_keeps_newlines_tabs_and_invisible_joiners() -> None:
    for s in ("two\nlines", "a\tb", "👨\u200d👩\u200d👧", "no\u00a0break", ""):
        assert check_text(s, "comment") == s


@pytest.mark.parametrize("s", ["", " ", "\u3000", "  \u00a0 "])
def test_a_blank_id_is_empty(s: str) -> None:
    with pytest.raises(ValidationError) as info:
        check_id(s, "fingerprint")
    assert info.value.code == E.EMPTY


@pytest.mark.parametrize("s", ["GAS-1", "张三", "op 1", "ﺍﻟﻌﺮﺑﻴﺔ", "x" * 5000, "a\u00a0b",
                               "Ελληνικά", "e\u0301"])
def test_ordinary_ids_pass(s: str) -> None:
    assert check_id(s, "id") == s


@settings(max_examples=500, deadline=None)
@given(st.text())
def test_the_fast_path_agrees_with_the_character_classes(s: str) -> None:
    """Whatever the string: refused exactly when it holds a listed character (the fast
    ``isprintable`` path must never let one through)."""
    listed = set(BIDI + CONTROLS + INVISIBLE) | {chr(c) for c in range(0x20)} | \
        {chr(c) for c in range(0x7f, 0xa0)}
    assert (bad_character(s) is not None) == any(c in listed for c in s)
    in_text = listed - set(INVISIBLE) - {"\n", "\t"}
    assert (bad_character(s, text=True) is not None) == any(c in in_text for c in s)
    for c in s:   # every listed character is a control or format character
        if c in listed:
            assert unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp")
