"""Batched unit positions (dispatch.positions, the board's tick): at most one record per
``every_s`` of event time, only units that moved beyond ``min_move_m``, with status and
district; a periodic full batch; state kept across snapshot/restore."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

import dispatch.positions as positions
from board_helpers import T0, event, make_board
from dispatch.config import DispatchConfig
from dispatch.positions import PositionReporter, PositionRule, moved_m

HOME = {"A": (28.20, 112.95), "B": (28.20, 112.96), "C": (28.20, 112.97)}


@dataclass
class S:
    lat: float
    lon: float
    gps_ms: int | None = T0
    status: str = "available"
    incident_id: str = ""
    stale: bool = False


def _units(**moves: tuple[float, float]) -> dict[str, S]:
    return {u: S(*moves.get(u, HOME[u])) for u in HOME}


def _batch(rep: PositionReporter, units: dict[str, S], at: int) -> list[dict[str, Any]]:
    return rep.batch(units, HOME.get, lambda pts: ["yuelu"] * len(pts), at)


def _north(p: tuple[float, float], m: float) -> tuple[float, float]:
    return (p[0] + m / positions.M_PER_DEG, p[1])


def test_only_units_that_moved_beyond_the_distance_are_reported() -> None:
    rep = PositionReporter(PositionRule(every_s=5, min_move_m=25, full_every_s=3600))
    units = _units(A=_north(HOME["A"], 500), B=_north(HOME["B"], 10))     # B: GPS jitter
    [rec] = _batch(rep, units, T0)
    assert rec["kind"] == "unit_positions" and rec["at_ms"] == T0
    item = rec["payload"]["units"]["A"]
    assert set(rec["payload"]["units"]) == {"A"}
    assert item == {"lat": round(units["A"].lat, 6), "lon": 112.95, "at_ms": T0,
                    "status": "available", "district": "yuelu", "incident_id": "",
                    "stale": False}


def test_at_most_one_record_per_interval_of_event_time() -> None:
    rep = PositionReporter(PositionRule(every_s=5, min_move_m=25, full_every_s=3600))
    units = _units(A=_north(HOME["A"], 500))
    assert len(_batch(rep, units, T0)) == 1
    units["A"].lat, units["C"].lat = _north(HOME["A"], 900)[0], _north(HOME["C"], 300)[0]
    assert _batch(rep, units, T0 + 1_000) == []             # not due yet: folded, not sent
    assert _batch(rep, units, T0 + 4_999) == []
    [rec] = _batch(rep, units, T0 + 5_000)                   # both, in one record
    assert set(rec["payload"]["units"]) == {"A", "C"}
    assert _batch(rep, units, T0 + 10_000) == []             # nobody moved since


def test_a_full_batch_names_every_unit_reported_before() -> None:
    rep = PositionReporter(PositionRule(every_s=5, min_move_m=25, full_every_s=60))
    units = _units(A=_north(HOME["A"], 500))
    [first] = _batch(rep, units, T0)
    assert first["payload"]["full"] is True                  # the first is a full one
    assert _batch(rep, units, T0 + 30_000) == []
    [full] = _batch(rep, units, T0 + 60_000)                 # A stood still: named again
    assert full["payload"]["full"] is True and set(full["payload"]["units"]) == {"A"}


def test_no_fix_no_report_and_an_unknown_unit_is_reported_at_once() -> None:
    rep = PositionReporter(PositionRule(full_every_s=3600))
    units = _units(A=_north(HOME["A"], 500))
    units["A"].gps_ms = None                                 # never reported a fix
    units["X"] = S(28.3, 113.0)                              # not in the registry
    [rec] = _batch(rep, units, T0)
    assert set(rec["payload"]["units"]) == {"X"}


def test_a_big_batch_is_split_into_bounded_records(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(positions, "MAX_UNITS_PER_RECORD", 2)
    rep = PositionReporter()
    units = {f"U{i}": S(28.3, 113.0 + i / 1000) for i in range(5)}
    recs = rep.batch(units, lambda _: None, lambda pts: [""] * len(pts), T0)
    assert [len(r["payload"]["units"]) for r in recs] == [2, 2, 1]
    assert len({r["record_id"] for r in recs}) == 3


def test_moved_m_is_metres() -> None:
    assert moved_m((28.2, 113.0), _north((28.2, 113.0), 100)) == pytest.approx(100, abs=0.1)


# --- through the board ------------------------------------------------------------------------

def test_the_board_batches_gps_fixes_on_its_tick() -> None:
    b = make_board(config=DispatchConfig(positions=PositionRule(every_s=5, full_every_s=3600)))
    eng = next(u.id for u in b.fleet.registry if u.kind == "engine")
    spec = b.fleet.spec(eng)
    assert spec is not None
    assert [r for r in b.tick(T0) if r["kind"] == "unit_positions"] == []   # all at home
    path = [(spec.home_lat + 0.002 * k, spec.home_lon) for k in range(1, 6)]
    for k, (lat, lon) in enumerate(path):
        # a fix per second folds without a record
        assert b.observe("fire", event("fire", "engine_gps", eng, T0 + 1_000 * (k + 1),
                                       lat=lat, lon=lon)) == []
    [rec] = [r for r in b.tick(T0 + 5_000) if r["kind"] == "unit_positions"]
    item = rec["payload"]["units"][eng]
    assert (item["lat"], item["lon"], item["at_ms"]) == (round(path[-1][0], 6),
                                                       round(path[-1][1], 6), T0 + 5_000)
    assert item["status"] == "available"
    assert item["district"] == b.profile.nearest_district(*path[-1])
    assert [r for r in b.tick(T0 + 6_000) if r["kind"] == "unit_positions"] == []
    # the reporter's state survives a restart: nothing new to say after restore
    again = make_board(config=b.config)
    again.restore(b.snapshot())
    assert [r for r in again.tick(T0 + 11_000) if r["kind"] == "unit_positions"] == []


def test_same_inputs_same_position_records() -> None:
    def run() -> list[dict[str, Any]]:
        b = make_board()
        amb = next(u.id for u in b.fleet.registry if u.kind == "ambulance")
        b.observe("ems", event("ems", "unit_gps", amb, T0, lat=28.25, lon=112.99))
        return [r for r in b.tick(T0 + 5_000) if r["kind"] == "unit_positions"]
    assert run() == run() and len(run()) == 1
