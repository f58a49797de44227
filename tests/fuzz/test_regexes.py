"""User regexes in matchers (silences, routes, inhibit rules): refused unless RE2 takes
them, evaluated in bounded time on any label value, matching as Alertmanager's RE2."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import example, given

from .budget import fuzzed
from .targets.regexes import RegexCase, check_regex, regex_cases

pytestmark = pytest.mark.fuzz


@fuzzed(2.0, deadline=timedelta(seconds=1))
@given(case=regex_cases())
@example(case=RegexCase("(.|.|.)*!", ("a" * 40,)))
def test_silence_regexes_are_refused_or_evaluated_in_bounded_time(case: RegexCase) -> None:
    check_regex(case).assert_clean()
