"""APCO base statuses: every stream status maps (table-driven), transitions, assignment."""

from __future__ import annotations

import pytest

from dispatch.status import (BASE_STATUSES, STATUS_ZH, STREAM_CATALOGUE, STREAM_STATUS,
                             TRANSITIONS, StaleRule, StatusError, allowed, check_manual,
                             from_stream, on_assignment)

MAPPING = [
    ("ems", "available", "available"), ("ems", "dispatched", "dispatched"),
    ("ems", "en_route", "en_route"), ("ems", "on_scene", "on_scene"),
    ("ems", "transporting", "transporting"), ("ems", "at_hospital", "at_hospital"),
    ("ems", "out_of_service", "out_of_service"),
    ("fire", "available", "available"), ("fire", "dispatched", "dispatched"),
    ("fire", "en_route", "en_route"), ("fire", "on_scene", "on_scene"),
    ("fire", "returning", "returning"), ("fire", "out_of_service", "out_of_service"),
]


@pytest.mark.parametrize("stream, status, base", MAPPING)
def test_stream_statuses_map_to_base_statuses(stream: str, status: str, base: str) -> None:
    assert from_stream(stream, status) == base


@pytest.mark.parametrize("stream", sorted(STREAM_CATALOGUE))
def test_every_catalogue_status_has_a_row(stream: str) -> None:
    assert set(STREAM_STATUS[stream]) == set(STREAM_CATALOGUE[stream])
    assert {(stream, s) for s in STREAM_CATALOGUE[stream]} == \
        {(st, s) for st, s, _ in MAPPING if st == stream}


def test_every_base_status_has_transitions_and_a_label() -> None:
    assert set(TRANSITIONS) == set(BASE_STATUSES) == set(STATUS_ZH)
    for targets in TRANSITIONS.values():
        assert targets <= set(BASE_STATUSES)


@pytest.mark.parametrize("stream, status", [("ems", "returning"), ("fire", "transporting"),
                                            ("police", "available"), ("ems", "asleep")])
def test_unknown_stream_statuses_are_refused(stream: str, status: str) -> None:
    with pytest.raises(StatusError) as err:
        from_stream(stream, status)
    assert err.value.code == "unknown_status"


@pytest.mark.parametrize("current, new, code", [
    ("available", "transporting", "bad_transition"),
    ("out_of_service", "on_scene", "bad_transition"),
    ("transporting", "en_route", "bad_transition"),
    ("available", "sleeping", "unknown_status"),
])
def test_manual_changes_follow_the_table(current: str, new: str, code: str) -> None:
    with pytest.raises(StatusError) as err:
        check_manual(current, new)
    assert err.value.code == code


def test_allowed_changes_and_assignment() -> None:
    check_manual("on_scene", "transporting")
    assert allowed("en_route", "en_route")
    assert on_assignment("available") == "dispatched"
    for s in set(BASE_STATUSES) - {"available"}:
        with pytest.raises(StatusError) as err:
            on_assignment(s)
        assert err.value.code == "unit_unavailable"


def test_stale_rule() -> None:
    rule = StaleRule(after_s=60)
    assert rule.is_stale(None, 0)
    assert not rule.is_stale(1_000, 61_000)
    assert rule.is_stale(1_000, 61_001)
