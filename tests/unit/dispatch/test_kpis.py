"""dispatch.kpis: every interval, percentile and standard figure on hand-computed examples."""

from __future__ import annotations

import json
from typing import Any, Iterable

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from dispatch.kpis import (AGENCIES, INTERVALS, TIMESTAMPS, Call, UnitStatus, assemble,
                           compute, dispatch_statuses, interval_values, labelled, local_hours,
                           merge_reports, stats)

S = 1000
H0 = 1_717_200_000_000   # 2024-06-01T00:00:00Z = 08:00 in Changsha (UTC+8)


def unit(uid: str, cid: str, agency: str = "ems", **at_s: float) -> list[UnitStatus]:
    """One unit's statuses on a case at the given seconds after H0."""
    return [UnitStatus(uid, cid, status, H0 + int(s * S), agency) for status, s in at_s.items()]


def one_call(agency: str = "ems", ring: float | None = None, **at_s: float) -> dict[str, Any]:
    call = Call("C1", agency, "yuelu", H0, None if ring is None else H0 + int(ring * S))
    return compute(assemble([call], unit("U1", "C1", agency, **at_s)), 8.0)


# --- each interval: its span, absent (never zero) and out of order ------------------------

FULL = dict(dispatched=20, en_route=70, on_scene=370, transporting=1270, at_hospital=1870,
            available=2500)


@pytest.mark.parametrize("key,expected", [
    ("processing", 20.0),        # call received -> first dispatched
    ("turnout", 50.0),           # dispatched -> en route
    ("travel", 300.0),           # en route -> on scene
    ("on_scene", 900.0),         # on scene -> transporting (left the scene)
    ("transport", 600.0),        # transporting -> at hospital
    ("depart", 70.0),            # call -> first en route
    ("response", 370.0),         # call -> first on scene
])
def test_interval_spans_its_two_timestamps(key: str, expected: float) -> None:
    got = one_call(**FULL)["intervals"][key]
    assert got["all"] == {"n": 1, "p50": expected, "p90": expected, "mean": expected}
    assert got["out_of_order"] == 0


def test_answer_needs_a_ring_time() -> None:
    assert one_call(ring=-12, **FULL)["intervals"]["answer"]["all"]["p50"] == 12.0
    assert one_call(**FULL)["intervals"]["answer"]["all"]["n"] == 0


def test_on_scene_without_transport_ends_when_the_unit_clears() -> None:
    got = one_call(agency="fire", dispatched=10, en_route=60, on_scene=200, returning=1400)
    assert got["intervals"]["on_scene"]["all"]["p50"] == 1200.0
    assert got["intervals"]["transport"]["all"]["n"] == 0


@pytest.mark.parametrize("missing,absent", [
    ("en_route", {"turnout", "travel", "depart"}),
    ("on_scene", {"travel", "on_scene", "response"}),
    ("dispatched", {"processing", "turnout"}),
    ("transporting", {"transport"}),
])
def test_a_missing_timestamp_makes_its_intervals_absent_not_zero(missing: str,
                                                                 absent: set[str]) -> None:
    got = one_call(**{k: v for k, v in FULL.items() if k != missing})["intervals"]
    assert {k for k, v in got.items() if v["all"]["n"] == 0} == absent | {"answer"}
    assert all(v["out_of_order"] == 0 for v in got.values())


def test_a_zero_interval_is_present_and_zero() -> None:
    got = one_call(dispatched=0, en_route=0, on_scene=100)["intervals"]
    assert got["processing"]["all"] == {"n": 1, "p50": 0.0, "p90": 0.0, "mean": 0.0}
    assert got["turnout"]["all"]["p50"] == 0.0


def test_out_of_order_timestamps_are_excluded_and_counted() -> None:
    got = one_call(dispatched=20, en_route=400, on_scene=300)["intervals"]
    assert got["travel"]["all"]["n"] == 0 and got["travel"]["out_of_order"] == 1
    assert got["turnout"]["all"]["p50"] == 380.0          # its own pair is in order
    early = one_call(dispatched=-5, en_route=30)["intervals"]
    assert early["processing"]["out_of_order"] == 1 and early["processing"]["all"]["n"] == 0


def test_first_occurrence_of_a_status_counts() -> None:
    statuses = unit("U1", "C1", dispatched=20, en_route=60) + unit("U1", "C1", en_route=90)
    r = assemble([Call("C1", "ems", "yuelu", H0)], statuses)
    assert interval_values(r, "turnout")[0].tolist() == [40.0]


def test_call_level_intervals_use_the_first_unit() -> None:
    statuses = (unit("A", "C1", dispatched=30, en_route=100, on_scene=500)
                + unit("B", "C1", dispatched=10, en_route=150, on_scene=400))
    got = compute(assemble([Call("C1", "ems", "yuelu", H0)], statuses), 8.0)["intervals"]
    assert got["processing"]["all"]["p50"] == 10.0         # B dispatched first
    assert got["depart"]["all"]["p50"] == 100.0            # A left first
    assert got["response"]["all"]["p50"] == 400.0          # B arrived first
    assert got["turnout"]["all"]["n"] == 2                 # unit level: both units


def test_a_unit_without_a_timestamp_does_not_hide_another_units() -> None:
    statuses = (unit("A", "C1", dispatched=10)                      # cancelled: never left
                + unit("B", "C1", dispatched=20, en_route=90, on_scene=400))
    got = compute(assemble([Call("C1", "ems", "yuelu", H0)], statuses), 8.0)["intervals"]
    assert (got["depart"]["all"]["p50"], got["response"]["all"]["p50"]) == (90.0, 400.0)
    assert got["processing"]["all"]["p50"] == 10.0


def test_a_status_naming_no_known_call_is_counted_not_used() -> None:
    r = assemble([Call("C1", "ems", "yuelu", H0)],
                 unit("U1", "C9", dispatched=5) + unit("U1", "C1", out_of_service=3))
    assert r.unknown_call == 1 and len(r.case) == 0


# --- percentiles and groups ----------------------------------------------------------------

@pytest.mark.parametrize("values,p50,p90", [
    ([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 5, 9),       # nearest rank: ceil(.5n), ceil(.9n)
    ([10, 20, 30], 20, 30),
    ([42], 42, 42),
    ([5, 1, 4, 2, 3], 3, 5),
])
def test_percentiles_are_nearest_rank(values: list[float], p50: float, p90: float) -> None:
    got = stats(np.array(values + [np.nan], float))
    assert (got["n"], got["p50"], got["p90"]) == (len(values), p50, p90)
    assert got["mean"] == pytest.approx(sum(values) / len(values))


def test_stats_of_nothing_are_none() -> None:
    assert stats(np.array([np.nan])) == {"n": 0, "p50": None, "p90": None, "mean": None}


@pytest.mark.parametrize("utc_ms,offset,hour", [
    (H0, 8.0, 8), (H0 - 1, 8.0, 7), (H0 + 16 * 3_600_000, 8.0, 0), (H0, 0.0, 0),
    (H0, -5.0, 19), (H0, 5.5, 5),
])
def test_local_hour_uses_the_profile_offset(utc_ms: int, offset: float, hour: int) -> None:
    assert local_hours(np.array([utc_ms], float), offset).tolist() == [hour]


def _cases(spec: Iterable[tuple[str, str, str, int, float]]) -> Any:
    """(call id, agency, district, hour after H0, turnout s) -> calls and statuses."""
    calls, statuses = [], []
    for cid, agency, district, h, turnout in spec:
        calls.append(Call(cid, agency, district, H0 + h * 3_600_000))
        statuses += [UnitStatus("U" + cid, cid, "dispatched", H0 + h * 3_600_000, agency),
                     UnitStatus("U" + cid, cid, "en_route",
                                H0 + h * 3_600_000 + int(turnout * S), agency)]
    return calls, statuses


def test_p50_p90_by_district_agency_and_local_hour() -> None:
    calls, statuses = _cases([("1", "ems", "yuelu", 0, 10), ("2", "ems", "yuelu", 0, 30),
                              ("3", "ems", "furong", 1, 50), ("4", "fire", "yuelu", 1, 70),
                              ("5", "fire", "furong", 17, 90)])
    got = compute(assemble(calls, statuses), 8.0)["intervals"]["turnout"]
    assert got["by_district"] == {
        "furong": {"n": 2, "p50": 50.0, "p90": 90.0, "mean": 70.0},
        "yuelu": {"n": 3, "p50": 30.0, "p90": 70.0, "mean": pytest.approx(36.667)}}
    assert {k: v["p90"] for k, v in got["by_agency"].items()} == {"ems": 50.0, "fire": 90.0}
    assert {k: v["n"] for k, v in got["by_hour"].items()} == {1: 1, 8: 2, 9: 2}


# --- China 120 and NFPA 1710 ---------------------------------------------------------------

def test_china_120_depart_rate_and_mean_response() -> None:
    calls = [Call(f"C{i}", "ems", "yuelu", H0) for i in range(4)] + \
        [Call("F", "fire", "yuelu", H0)]
    statuses = (unit("A0", "C0", en_route=60, on_scene=300)
                + unit("A1", "C1", en_route=180, on_scene=600)     # exactly 3 min: within
                + unit("A2", "C2", en_route=181, on_scene=900)
                + unit("A3", "C3", dispatched=10)                  # never left: absent
                + unit("E", "F", "fire", en_route=500, on_scene=800))   # fire: not 120
    got = compute(assemble(calls, statuses), 8.0)["china_120"]
    assert got["depart_rate"] == {"n": 3, "within": 2, "share": pytest.approx(0.6667)}
    assert got["mean_response"]["mean"] == 600.0 and got["mean_response"]["n"] == 3


def test_nfpa_1710_turnout_and_first_arriving_travel() -> None:
    ems_turnout = [30, 40, 45, 50, 55, 58, 59, 60, 61, 90]        # 8 of 10 within 60 s
    fire_turnout = [20, 30, 40, 50, 60, 70, 75, 79, 80, 200]      # 9 of 10 within 80 s
    calls, statuses = [], []
    for i, (te, tf) in enumerate(zip(ems_turnout, fire_turnout)):
        calls += [Call(f"E{i}", "ems", "yuelu", H0), Call(f"F{i}", "fire", "yuelu", H0)]
        statuses += unit(f"A{i}", f"E{i}", dispatched=0, en_route=te, on_scene=te + 200 + i)
        statuses += unit(f"G{i}", f"F{i}", "fire", dispatched=0, en_route=tf,
                         on_scene=tf + 230 + 2 * i)
        # a second engine arrives later with a long travel: not the first-arriving one
        statuses += unit(f"H{i}", f"F{i}", "fire", dispatched=0, en_route=tf, on_scene=tf + 900)
    got = compute(assemble(calls, statuses), 8.0)["nfpa_1710"]
    assert got["turnout"]["ems"] == {"n": 10, "within": 8, "share": 0.8, "limit_s": 60.0,
                                     "p90": 61.0, "meets": False}
    assert got["turnout"]["fire"] == {"n": 20, "within": 18, "share": 0.9, "limit_s": 80.0,
                                      "p90": 80.0, "meets": True}
    # ems travel 200..209 s; fire first-arriving travel 230, 232, ..., 248 (6 of 10 <= 240)
    assert got["travel"]["ems"] == {"n": 10, "within": 10, "share": 1.0, "limit_s": 240.0,
                                    "p90": 208.0, "meets": True}
    assert got["travel"]["fire"] == {"n": 10, "within": 6, "share": 0.6, "limit_s": 240.0,
                                     "p90": 246.0, "meets": False}


def test_first_arriving_is_per_agency() -> None:
    statuses = (unit("AMB", "F", "ems", dispatched=0, en_route=10, on_scene=100)
                + unit("ENG-B", "F", "fire", dispatched=0, en_route=20, on_scene=300)
                + unit("ENG-A", "F", "fire", dispatched=0, en_route=60, on_scene=300)
                + unit("ENG-C", "F", "fire", dispatched=0, en_route=30, on_scene=900))
    got = compute(assemble([Call("F", "fire", "yuelu", H0)], statuses), 8.0)["nfpa_1710"]
    assert (got["travel"]["fire"]["n"], got["travel"]["fire"]["p90"]) == (1, 240.0)  # ENG-A
    assert (got["travel"]["ems"]["n"], got["travel"]["ems"]["p90"]) == (1, 90.0)


def test_no_responses_give_no_verdict() -> None:
    got = compute(assemble([Call("C1", "ems", "yuelu", H0)], []), 8.0)
    assert got["nfpa_1710"]["turnout"]["ems"]["meets"] is None
    assert got["china_120"]["depart_rate"] == {"n": 0, "within": 0, "share": None}


# --- inputs from the dispatch log and linked calls ----------------------------------------

def test_dispatch_records_give_dispatched_times_on_the_incident_cases() -> None:
    records = [
        {"kind": "unit_assigned", "at_ms": H0 + 40 * S, "incident_id": "INC-1",
         "unit_id": "ENG-1", "payload": {"agency": "fire"}},
        {"kind": "package_confirmed", "at_ms": H0 + 35 * S, "incident_id": "INC-1",
         "unit_id": "", "payload": {"items": [{"unit_id": "ENG-1", "agency": "fire"},
                                              {"unit_id": "AMB-1", "agency": "ems"}]}},
        {"kind": "package_recommended", "at_ms": H0, "incident_id": "INC-1", "unit_id": "",
         "payload": {"items": [{"unit_id": "ENG-9"}]}},          # only a proposal
        {"kind": "unit_assigned", "at_ms": H0 + 50 * S, "incident_id": "FI-7",
         "unit_id": "ENG-2", "payload": {}},                      # unmapped: its own case
    ]
    got = dispatch_statuses(records, {"INC-1": ["FI-1"]})
    assert sorted((s.unit_id, s.call_id, s.at_ms - H0, s.agency) for s in got) == [
        ("AMB-1", "FI-1", 35_000, "ems"), ("ENG-1", "FI-1", 35_000, "fire"),
        ("ENG-1", "FI-1", 40_000, "fire"), ("ENG-2", "FI-7", 50_000, "")]
    calls = [Call("FI-1", "fire", "yuelu", H0), Call("FI-7", "fire", "yuelu", H0)]
    r = compute(assemble(calls, got + unit("ENG-1", "FI-1", "fire", en_route=95)), 8.0)
    assert r["intervals"]["turnout"]["by_agency"]["fire"]["p50"] == 60.0   # 35 s -> 95 s
    assert r["intervals"]["processing"]["all"]["n"] == 2


def test_a_dispatchers_status_record_is_a_timestamp_too() -> None:
    records = [{"kind": "unit_status", "at_ms": H0 + 70 * S, "incident_id": "C1",
                "unit_id": "AMB-1", "payload": {"status": "on_scene", "reason": "radio"}},
               {"kind": "unit_status", "at_ms": H0 + 90 * S, "incident_id": "C1",
                "unit_id": "AMB-1", "payload": {"status": "out_of_service"}}]
    got = dispatch_statuses(records, {})
    r = compute(assemble([Call("C1", "ems", "yuelu", H0)],
                         got + unit("AMB-1", "C1", dispatched=5, en_route=20)), 8.0)
    assert r["intervals"]["travel"]["all"]["p50"] == 50.0
    assert r["unknown_call"] == 0


def test_a_unit_assigned_to_a_many_call_incident_goes_to_the_calls_it_names() -> None:
    records = [{"kind": "unit_assigned", "at_ms": H0, "incident_id": "INC-1",
                "unit_id": "AMB-1", "payload": {}},
               {"kind": "unit_assigned", "at_ms": H0, "incident_id": "INC-1",
                "unit_id": "AMB-2", "payload": {}}]
    stream = unit("AMB-1", "C2", en_route=30)
    got = dispatch_statuses(records, {"INC-1": ["C1", "C2"]}, stream)
    assert sorted((s.unit_id, s.call_id) for s in got) == [
        ("AMB-1", "C2"), ("AMB-2", "C1"), ("AMB-2", "C2")]


def test_a_linked_call_moves_its_case_received_time_earlier() -> None:
    cases = [Call("FI-1", "fire", "yuelu", H0 + 30 * S), Call("FI-2", "fire", "tianxin", H0)]
    reports = [Call("C119-1", "fire", "yuelu", H0 + 5 * S, H0), Call("C119-x", "fire", "", 0)]
    got = merge_reports(cases, reports, {"C119-1": "FI-1"})
    assert got == [Call("FI-1", "fire", "yuelu", H0 + 5 * S, H0), cases[1]]


# --- labels ------------------------------------------------------------------------------

def _labels(obj: Any) -> Iterable[Any]:
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k in ("label", "unit_label"):
                yield v
            else:
                yield from _labels(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _labels(v)


def test_labelled_summary_is_json_and_every_label_is_bilingual() -> None:
    calls, statuses = _cases([("1", "ems", "yuelu", 0, 10), ("2", "fire", "nowhere", 3, 70)])
    out = labelled(compute(assemble(calls, statuses), 8.0),
                   {"yuelu": {"zh": "岳麓区", "en": "Yuelu"}})
    json.dumps(out)
    labels = list(_labels(out))
    assert labels and all(set(lab) == {"zh", "en"} and all(lab.values()) for lab in labels)
    turnout = next(i for i in out["intervals"] if i["key"] == "turnout")
    districts = {g["key"]: g["label"] for g in turnout["by_district"]["groups"]}
    assert districts["yuelu"] == {"zh": "岳麓区", "en": "Yuelu"}
    assert districts["nowhere"]["en"] != "nowhere"       # an unknown key is never the label
    assert [i["key"] for i in out["intervals"]] == [i.key for i in INTERVALS]
    assert {i.start for i in INTERVALS} | {i.end for i in INTERVALS} <= set(TIMESTAMPS)
    assert {"ems", "fire"} <= set(AGENCIES)


# --- invariants ----------------------------------------------------------------------------


_STATUS = st.sampled_from(["dispatched", "en_route", "on_scene", "transporting",
                           "at_hospital", "available", "returning", "out_of_service"])


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["U1", "U2", "U3"]), st.sampled_from(["C1", "C2"]),
                          _STATUS, st.integers(-600, 3600)), max_size=40))
def test_intervals_are_never_negative_and_every_pair_is_counted_once(
        rows: list[tuple[str, str, str, int]]) -> None:
    calls = [Call("C1", "ems", "yuelu", H0), Call("C2", "fire", "furong", H0 + 60 * S)]
    r = assemble(calls, [UnitStatus(u, c, s, H0 + t * S) for u, c, s, t in rows])
    for iv in INTERVALS:
        v, excluded = interval_values(r, iv.key)
        ts = r.call_ts if iv.level == "call" else r.unit_ts
        both = ~np.isnan(ts[iv.start]) & ~np.isnan(ts[iv.end])
        assert (v[~np.isnan(v)] >= 0).all()
        assert int((~np.isnan(v)).sum()) + excluded == int(both.sum())


def test_every_fleet_agency_has_a_label_and_statuses_follow_dispatch_status() -> None:
    """The agencies of the fleet configuration all have labels (the police and environment
    crews fell back to a '(key)' label before), and a stream's status marks the timestamp of
    the APCO status dispatch.status maps it to, for every status of every stream."""
    from city.dispatch_config import load_dispatch_yaml
    from dispatch.kpi_defs import status_timestamp
    from dispatch.status import STREAM_CATALOGUE, from_stream
    from dispatch.units import parse_fleet

    fleet = parse_fleet(load_dispatch_yaml("changsha_fleet"))
    assert {k.agency for k in fleet.kinds.values()} <= set(AGENCIES)
    for stream, statuses in STREAM_CATALOGUE.items():
        for status in statuses:
            assert status_timestamp(stream, status) == status_timestamp("", from_stream(
                stream, status))
    assert status_timestamp("ems", "out_of_service") is None
    assert status_timestamp("ems", "no_such_status") is None
