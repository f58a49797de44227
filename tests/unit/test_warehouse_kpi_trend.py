"""warehouse.kpi_trend with a stand-in client: the rows it reads are bucketed, cut to the
caller's view and district, and an opened payload that is not JSON is left out."""

from __future__ import annotations

from typing import Any

import orjson

from warehouse.kpi_trend import kpi_trend

H = 3_600_000
T0 = 1_714_521_600_000          # a whole hour
END = T0 + 2 * H + 60_000       # three buckets: T0, T0+H, T0+2H


def opened(at_ms: int, category: str, district: str, stream: str) -> tuple[int, str]:
    return at_ms, orjson.dumps({"category": category, "category_zh": "燃气泄漏",
                                "category_en": "Gas leak", "district": district,
                                "members": [{"stream": stream, "district": district}],
                                "calls": {}}).decode()


class Client:
    def __init__(self) -> None:
        self.sql: list[str] = []

    def execute(self, sql: str, params: Any = None, **_: Any) -> list[Any]:
        self.sql.append(sql)
        if "FROM alert_events" in sql:
            return [(T0 // H, "lifeline", "furong", 2), (T0 // H + 1, "ems", "yuelu", 3),
                    (T0 // H + 2, "lifeline", "yuelu", 1)]
        if "FROM incident_events" in sql and "'opened'" in sql:
            return [opened(T0 + 5, "gas", "furong", "lifeline"),
                    opened(T0 + H + 5, "gas", "yuelu", "lifeline"),
                    (T0 + H + 6, "{not json"), (T0 + H + 7, "[1]")]
        return []


def test_trend_buckets_and_cuts_what_it_reads() -> None:
    c = Client()
    out = kpi_trend(c, END, 3, kpi_streams=())     # no response figures: no case queries
    assert len(out["hours"]) == 3 and out["hours"][0] == "2024-05-01T00:00:00.000Z"
    assert out["series"]["alerts"]["values"] == [2, 3, 1]
    assert out["series"]["incidents.gas"]["values"] == [1, 1, 0]
    assert out["series"]["incidents.gas"]["label"]["en"] == "Gas leak incidents"
    assert "calls_120" not in out["series"]
    assert not any("events_ems" in sql for sql in c.sql)
    furong = kpi_trend(Client(), END, 3, district="furong", kpi_streams=())
    assert furong["series"]["alerts"]["values"] == [2, 0, 0]
    assert furong["series"]["incidents.gas"]["values"] == [1, 0, 0]
    ems_only = kpi_trend(Client(), END, 3, kpi_streams=(),
                         sees_alert=lambda stream, district: stream == "ems",
                         sees_incident=lambda inc: "ems" in inc["streams"])
    assert ems_only["series"]["alerts"]["values"] == [0, 3, 0]
    assert not any(k.startswith("incidents.") for k in ems_only["series"])
