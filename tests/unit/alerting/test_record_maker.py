"""alerting.records.maker: the fast constructor makes the very record the class does."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alerting.incident_model import IncidentEvent
from alerting.lifecycle import AlertEvent
from alerting.records import maker
from citycc import native


@given(st.text(max_size=8), st.integers(), st.text(max_size=8), st.booleans())
def test_made_records_equal_constructed_ones(text: str, n: int, other: str, flag: bool) -> None:
    vals = (text, other, n, text, n, "firing", "resolved", "resolve", other, text, n, "minor",
            "k", "e", "d", (("kind", text),), other, text, flag, n)
    made, built = maker(AlertEvent)(*vals), AlertEvent(*vals)
    assert made == built and hash(made) == hash(built) and made.to_dict() == built.to_dict()
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.seq = 2  # type: ignore[misc]
    ev = maker(IncidentEvent)(text, other, n, n, "opened", n, other, "{}")
    assert ev == IncidentEvent(text, other, n, n, "opened", n, other, "{}")


def test_a_wrong_number_of_values_or_an_unfit_class_is_refused() -> None:
    if native.active():   # a compiled class is its own fast constructor
        assert maker(IncidentEvent) is IncidentEvent
    with pytest.raises(TypeError, match=None if native.active() else "takes 8 values"):
        maker(IncidentEvent)("a", "b")

    @dataclasses.dataclass(frozen=True)
    class Checked:
        x: int

        def __post_init__(self) -> None:
            assert self.x >= 0

    with pytest.raises(TypeError, match="plain frozen dataclass"):
        maker(Checked)


@given(st.text(max_size=8), st.integers(), st.none() | st.floats(-90, 90))
def test_made_members_equal_constructed_ones_and_stay_mutable(text: str, n: int,
                                                              lat: float | None) -> None:
    from alerting.incident_model import Member
    vals = (text, text, "fire_alarm", "d", "fire", "major", "firing", text, lat, lat, text, n,
            n, text, text, (text,), (), {"un_number": text}, (), (), (text,))
    made, built = maker(Member)(*vals), Member(*vals)
    assert made == built and made.to_dict() == built.to_dict()
    made.status = "resolved"   # members are updated in place by the correlator's merge
    assert made.status == "resolved" and built.status == "firing"


def test_a_members_dict_names_every_field_in_order_and_copies_its_attrs() -> None:
    from alerting.incident_model import Member
    m = Member("fp", "a1", "fire_alarm", "d", "fire", "major", "firing", "P1", 28.2, 112.9,
               "430102", 1, 2, "火警", "Fire", ("ev1",), ("t",), {"un_number": "1203"},
               (("C1", "fire"),), ("S1",), ("a1",))
    names = [f.name for f in dataclasses.fields(Member)]
    d = m.to_dict()
    assert list(d) == names and all(d[n] == getattr(m, n) for n in names)
    assert len(set(map(repr, d.values()))) == len(names)   # each field its own value
    d["attrs"]["un_number"] = "x"
    assert m.attrs == {"un_number": "1203"}
