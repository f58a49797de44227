"""dispatch.kpi_trend: hourly buckets of the KPI definitions (pure)."""

from __future__ import annotations

import pytest

from dispatch import kpi_trend as trend
from dispatch import kpis
from dispatch.kpi_defs import Call, UnitStatus

H = 3_600_000
T0 = 1_714_521_600_000   # a whole hour (2024-05-01T00:00:00Z)


def test_buckets_end_with_the_hour_holding_the_end() -> None:
    assert trend.bucket_starts(T0 + 90 * 60_000, 3) == [T0 - H, T0, T0 + H]
    assert trend.bucket_starts(T0, 1) == [T0]
    for bad in (0, trend.MAX_HOURS + 1):
        with pytest.raises(ValueError, match="hours"):
            trend.bucket_starts(T0, bad)


def test_count_series_places_times_in_their_hour() -> None:
    starts = [T0, T0 + H]
    assert trend.count_series([T0 - 1, T0, T0 + H - 1, T0 + H, T0 + 2 * H], starts) == [2, 1]


def test_response_series_use_the_kpi_definitions_per_hour() -> None:
    calls = [Call("C1", "ems", "furong", T0 + 60_000), Call("C2", "ems", "yuelu", T0 + H + 1),
             Call("F1", "fire", "tianxin", T0 + H + 2)]
    statuses = [UnitStatus("A1", "C1", "en_route", T0 + 60_000 + 180_000, "ems"),   # 180 s: in
                UnitStatus("A1", "C1", "on_scene", T0 + 60_000 + 400_000, "ems"),
                UnitStatus("A2", "C2", "en_route", T0 + H + 1 + 181_000, "ems"),     # 181 s
                UnitStatus("A2", "C2", "on_scene", T0 + H + 1 + 500_000, "ems"),
                UnitStatus("E1", "F1", "on_scene", T0 + H + 2 + 300_000, "fire")]
    r = kpis.assemble(calls, statuses)
    out = trend.response_series(r, [T0, T0 + H, T0 + 2 * H])
    assert out["calls_120"] == [1, 1, 0]
    assert out["response_p90_s"] == [400.0, 500.0, None]
    assert out["depart_3min_rate"] == [100.0, 0.0, None]
    fire_only = trend.response_series(r, [T0, T0 + H], ems=False)
    assert set(fire_only) == {"response_p90_s"}


def test_assemble_labels_every_series_in_both_languages() -> None:
    out = trend.assemble([T0], {"alerts": [3], "calls_120": [1]},
                         {"gas": ({"zh": "燃气泄漏", "en": "Gas leak"}, [2])})
    assert list(out["series"]) == ["alerts", "calls_120", "incidents.gas"]
    gas = out["series"]["incidents.gas"]
    assert gas["label"] == {"zh": "燃气泄漏事件", "en": "Gas leak incidents"}
    assert gas["values"] == [2] and gas["unit"]["zh"] == "起"
    assert all(s["label"]["zh"] and s["unit"]["en"] for s in out["series"].values())
