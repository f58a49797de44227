"""alerting.records.maker: the fast constructor makes the very record the class does."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alerting.incident_model import IncidentEvent
from alerting.lifecycle import AlertEvent
from alerting.records import maker


@given(st.text(max_size=8), st.integers(), st.text(max_size=8), st.booleans())
def test_made_records_equal_constructed_ones(text: str, n: int, other: str, flag: bool) -> None:
    vals = (text, other, n, text, n, "firing", "resolved", "resolve", other, text, n, "minor",
            "k", "e", "d", (("kind", text),), other, text, flag)
    made, built = maker(AlertEvent)(*vals), AlertEvent(*vals)
    assert made == built and hash(made) == hash(built) and made.to_dict() == built.to_dict()
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.seq = 2  # type: ignore[misc]
    ev = maker(IncidentEvent)(text, other, n, n, "opened", n, other, "{}")
    assert ev == IncidentEvent(text, other, n, n, "opened", n, other, "{}")


def test_a_wrong_number_of_values_or_an_unfit_class_is_refused() -> None:
    with pytest.raises(TypeError, match="takes 8 values"):
        maker(IncidentEvent)("a", "b")

    @dataclasses.dataclass(frozen=True)
    class Checked:
        x: int

        def __post_init__(self) -> None:
            assert self.x >= 0

    with pytest.raises(TypeError, match="plain frozen dataclass"):
        maker(Checked)
