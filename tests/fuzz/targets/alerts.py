"""Detector alert messages (``schemas.records.make_alert``): valid ones, and one mutation of a
valid one with the code the alerting engine must refuse it with. Used by the engine target
(the ``alerts`` topic) and the hub target (what the cockpit reads)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from hypothesis import strategies as st

from schemas.chars import bad_character
from schemas.records import SEVERITIES, make_alert

from ..strategies import (BAD_TIMES, DAY_MS, Deep, NOW_MS, POLICY, PROFILE, YEAR_MS, blanks, deep,
                          free_text, future_times, ids, iso, json_non_objects, json_objects,
                          old_times, tainted)
from ..verdict import Expect, either, refuse
from .events import BAD_CHARACTERS, EMPTY, TOO_DEEP

OUT_OF_WINDOW = "out_of_window"
BAD_ALERT = "bad_alert"
KINDS = ("gas_concentration_high", "gas_pressure_drop", "water_pressure_low", "fire_alarm",
         "fire_calls", "ems_calls", "traffic_congestion", "hazmat_stopped", "sensor_nodata",
         "gas_explosion_risk", "signal_fault", "tank_pressure_high")
DETECTORS = ("limit", "sensor_deviation", "data_quality", "cluster", "traffic", "hazmat",
             "service_level")
STREAMS = ("lifeline", "ems", "fire", "traffic", "hazmat")
LABEL_NAMES = ("building", "segment", "agency", "zone")
# A deep value reaches the engine already decoded (by the agent, which may refuse it with
# too_deep there): the engine may refuse it too (too_deep, or the field's own code) or take
# it -- harmlessly: it never raises, and its outputs and checkpoint still encode.
# An alert this old (or this far ahead) is outside any window the engine may keep.
OLD_MS, AHEAD_MS = YEAR_MS, 30 * DAY_MS


@st.composite
def _spec(draw: st.DrawFn) -> dict[str, Any]:
    """The arguments of make_alert, except the entity's serial (see :func:`alert`)."""
    district = draw(st.sampled_from(PROFILE.districts))
    placed = draw(st.booleans())
    event_ms = draw(st.integers(NOW_MS - 1_800_000, NOW_MS - 10_000))
    detected_ms = event_ms + draw(st.integers(0, 10_000))
    evidence = draw(st.lists(ids(24), min_size=0, max_size=3))
    return dict(
        detector=draw(st.sampled_from(DETECTORS)), kind=draw(st.sampled_from(KINDS)),
        status="firing", severity=draw(st.sampled_from(SEVERITIES)),
        stream=draw(st.sampled_from(STREAMS)), entity_id=draw(ids(30)),
        district=district.code, district_zh=district.zh, district_en=district.en,
        lat=draw(st.floats(POLICY.lat_min, POLICY.lat_max)) if placed else None,
        lon=draw(st.floats(POLICY.lon_min, POLICY.lon_max)) if placed else None,
        event_time=iso(event_ms), value=draw(st.floats(-1e6, 1e6)),
        threshold=draw(st.floats(-1e6, 1e6)), unit=draw(st.sampled_from(("", "kPa", "%LEL"))),
        title_zh=draw(free_text(30)), title_en=draw(free_text(30)), evidence=evidence,
        detected_at=iso(detected_ms),
        explanation=draw(st.dictionaries(st.sampled_from(("baseline", "window_s", "count",
                                                          "note")),
                                         st.integers(0, 10 ** 6) | free_text(20), max_size=3)),
        # (a detector's alert lives alert_ttl after it was sent, i.e. from about now)
        ends_at=iso(NOW_MS + 300_000) if draw(st.booleans()) else None)


@dataclass(frozen=True)
class AlertSpec:
    """A valid alert before its entity gets the case's serial (unique fingerprints)."""

    kwargs: tuple[tuple[str, Any], ...]
    labels: tuple[tuple[str, str], ...] = ()


@lru_cache(maxsize=None)
def alert_specs() -> st.SearchStrategy[AlertSpec]:
    labels = st.dictionaries(st.sampled_from(LABEL_NAMES), ids(20), max_size=2)
    return st.builds(lambda kw, lb: AlertSpec(tuple(kw.items()), tuple(sorted(lb.items()))),
                     _spec(), labels)


def alert(spec: AlertSpec, serial: int, status: str = "firing") -> dict[str, Any]:
    """The valid alert of ``spec`` for entity ``<entity>-<serial>``."""
    kw = dict(spec.kwargs)
    kw["entity_id"] = f"{kw['entity_id']}-{serial}"
    kw["status"] = status
    msg = make_alert(**kw)
    if spec.labels:
        msg["labels"] = dict(spec.labels)
    return msg


_T = iso(NOW_MS - 1000)
# one plain valid alert's make_alert arguments (for explicit examples)
FIXED = AlertSpec(tuple(dict(
    detector="limit", kind="gas_concentration_high", status="firing", severity="major",
    stream="lifeline", entity_id="GASC-YL", district="yuelu", district_zh="岳麓区",
    district_en="Yuelu", lat=28.19, lon=112.99, event_time=_T, value=25.0, threshold=20.0,
    unit="%LEL", title_zh="燃气浓度高", title_en="gas concentration high", evidence=["e-1"],
    detected_at=_T).items()))


def fixed_alert(serial: int = 1, **overrides: Any) -> dict[str, Any]:
    """The plain valid alert of entity ``GASC-YL-<serial>``, with ``overrides``."""
    return {**alert(FIXED, serial), **overrides}


@dataclass(frozen=True)
class Mutation:
    """How a valid alert is spoilt: ``field`` set to ``value`` (``DROP``: removed), or the
    whole message replaced (``field`` ""), and what must become of it."""

    field: str
    value: Any
    expect: Expect

    def apply(self, msg: dict[str, Any]) -> Any:
        if not self.field:
            return self.value
        out = {k: v for k, v in msg.items() if k != self.field}
        if self.value is not DROP:
            out[self.field] = self.value
        return out


DROP = "<drop>"


# the mutations of an alert by class of mistake (see events.MUTATIONS)
HOWS = {"schema": ("id", "status", "time", "not_object"), "characters": ("blank_id", "taint"),
        "window": ("old", "future"), "decode": ("deep",), "arbitrary": ("arbitrary",)}
HOWS["all"] = tuple(h for hs in HOWS.values() for h in hs)


@st.composite
def _alert_mutation(draw: st.DrawFn, group: str) -> Mutation:
    how = draw(st.sampled_from(HOWS[group]))
    value: Any
    if how == "id":
        f = draw(st.sampled_from(("fingerprint", "alert_id")))
        value = draw(st.sampled_from((DROP, None)) | st.integers() | st.lists(st.integers(),
                                                                              max_size=2))
        return Mutation(f, value, refuse(BAD_ALERT, why=f"{f} not a string"))
    if how == "blank_id":
        f = draw(st.sampled_from(("fingerprint", "alert_id", "entity_id")))
        codes = (BAD_ALERT, EMPTY) if f != "entity_id" else (EMPTY,)
        return Mutation(f, draw(blanks()), refuse(*codes, why=f"blank {f}"))
    if how == "taint":
        f = draw(st.sampled_from(("fingerprint", "alert_id", "entity_id", "labels")))
        value = draw(tainted())
        if f == "labels":
            value = {draw(st.sampled_from(LABEL_NAMES)): value}
        return Mutation(f, value, refuse(BAD_CHARACTERS, why=f"control/bidi character in {f}"))
    if how == "status":
        f = draw(st.sampled_from(("status", "severity")))
        value = draw(st.text(max_size=10).filter(lambda v: v not in ("firing", "resolved")
                                                 + SEVERITIES) | st.integers())
        # a label's characters are checked before its meaning (schemas.chars)
        tainted_label = isinstance(value, str) and bad_character(value) is not None
        codes = (BAD_ALERT, BAD_CHARACTERS) if tainted_label else (BAD_ALERT,)
        return Mutation(f, value, refuse(*codes, why=f"bad {f}"))
    if how == "time":
        return Mutation("event_time", draw(st.sampled_from(BAD_TIMES) | st.integers()),
                        refuse(BAD_ALERT, why="bad event_time"))
    if how in ("old", "future"):
        t = draw(old_times(OLD_MS) if how == "old" else future_times(AHEAD_MS))
        return Mutation("@times", t, refuse(OUT_OF_WINDOW, why=f"{how} alert ({t})"))
    if how == "deep":
        f = draw(st.sampled_from(("explanation", "evidence", "labels", "extra")))
        d: Deep = draw(deep(1020))   # (see the note above OLD_MS)
        return Mutation(f, d, either(f"{d} in {f}", TOO_DEEP, BAD_ALERT))
    if how == "not_object":
        return Mutation("", draw(json_non_objects()),
                        refuse(why="not an object"))
    return Mutation("", draw(json_objects(6)), either())


@lru_cache(maxsize=None)
def alert_mutations(group: str = "all") -> st.SearchStrategy[Mutation]:
    return _alert_mutation(group)


def spoil(msg: dict[str, Any], m: Mutation) -> Any:
    """``msg`` with ``m`` applied (a :class:`Deep` stays a marker until the check makes it
    real: hypothesis could not print a falsifying example holding it)."""
    if m.field == "@times":   # an old (or future) alert: both of its times
        return {**msg, "event_time": m.value, "detected_at": m.value}
    return m.apply(msg)
