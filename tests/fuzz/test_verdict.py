"""The fuzz oracle's own bookkeeping: a crash, a hang and a refusal are each seen as such
(if ``Tally.attempt`` swallowed one, every target would pass whatever the code does)."""

from __future__ import annotations

import time

import pytest

from .verdict import CRASH, Tally

pytestmark = pytest.mark.fuzz


def test_a_value_comes_back_and_counts_nothing() -> None:
    tally = Tally()
    got = tally.attempt(1, "x", lambda: 42)
    assert (got.ran, got.value, got.refused) == (True, 42, None)
    assert tally.inputs == 0 and not tally.findings


def test_a_crash_is_one_input_and_one_finding_where_it_was() -> None:
    tally = Tally()
    got = tally.attempt(1, "x", lambda: {}["missing"], crash_where="x (why)")
    assert not got.ran and got.refused is None
    assert tally.inputs == 1
    assert [(f.kind, f.where) for f in tally.findings] == [(CRASH, "x (why)")]
    assert "KeyError" in tally.findings[0].detail


def test_a_refusal_comes_back_for_the_caller_to_judge() -> None:
    tally = Tally()
    got = tally.attempt(1, "x", lambda: int("no"), ValueError)
    assert not got.ran and isinstance(got.refused, ValueError)
    assert tally.inputs == 0 and not tally.findings


def test_a_hang_is_interrupted_and_counted_as_a_crash() -> None:
    tally = Tally()

    def spin() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            pass

    started = time.monotonic()
    got = tally.attempt(0.2, "spin", spin)
    assert time.monotonic() - started < 5
    assert not got.ran and tally.inputs == 1
    assert tally.findings[0].kind == CRASH and "Hung" in tally.findings[0].detail
