"""The generated dashboards' structure: stable uids and JSON, every panel on the ClickHouse
data source with raw SQL, zh-CN titles with English in the descriptions, no internal code
as a title, SQL that ClickHouse 18.16 can run, the time macros and their expansion."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest

from dashboards import kpi_sql, macros
from dashboards.build import DATASOURCE_UID, PLUGIN_ID, dashboards
from dashboards.panels import Context
from dispatch.kpi_defs import INTERVAL

CONTEXT = Context("citycc", {"yuelu": "岳麓区", "furong": "芙蓉区"}, {"R1": 50.0})
BOARDS = dashboards(CONTEXT)
PANELS = [(b["uid"], p) for b in BOARDS for p in b["panels"] if p["type"] != "row"]
TARGETS = [(uid, p, t) for uid, p in PANELS for t in p["targets"]]
CJK = re.compile(r"[\u4e00-\u9fff]")
CODE = re.compile(r"\b[a-z]+_[a-z_0-9]+\b|\b(ems|fire|hazmat|lifeline|p90_s)\b")
# what ClickHouse 18.16 lacks (checked on the local 18.16.1 server)
NOT_ON_18_16 = re.compile(r"toStartOfInterval|DateTime64|JSONExtract|\bOVER\s*\(|"
                          r"\bWITH\s+\w+\s+AS\s*\(|fromUnixTimestamp64", re.I)


def test_the_dashboards_have_stable_uids_and_identical_json_when_rebuilt() -> None:
    assert [b["uid"] for b in BOARDS] == ["citycc-response", "citycc-operations"]
    assert dashboards(CONTEXT) == BOARDS
    for b in BOARDS:
        ids = [p["id"] for p in b["panels"]]
        assert ids == list(range(1, len(ids) + 1))


@pytest.mark.parametrize("uid, panel", PANELS, ids=[f"{u}:{p['id']}" for u, p in PANELS])
def test_every_panel_queries_the_clickhouse_datasource_with_raw_sql(uid: str,
                                                                    panel: dict[str, Any]
                                                                    ) -> None:
    ds = {"type": PLUGIN_ID, "uid": DATASOURCE_UID}
    assert panel["datasource"] == ds
    assert panel["targets"], panel["title"]
    refs = [t["refId"] for t in panel["targets"]]
    assert len(set(refs)) == len(refs)
    for t in panel["targets"]:
        assert t["datasource"] == ds and t["editorType"] == "sql"
        assert t["rawSql"].startswith("SELECT ")
        series = panel["type"] == "timeseries"
        assert (t["queryType"], t["format"]) == (("timeSeries", 0) if series else ("table", 1))
        if series:
            assert panel["interval"] == "1m"       # $__interval_s is never 0
            assert t["rawSql"].startswith("SELECT time, ") or \
                re.match(r"SELECT toDateTime\(.*?\) AS time, ", t["rawSql"])


@pytest.mark.parametrize("uid, panel", PANELS, ids=[f"{u}:{p['id']}" for u, p in PANELS])
def test_titles_are_zh_with_english_in_the_description_and_no_code(uid: str,
                                                                   panel: dict[str, Any]
                                                                   ) -> None:
    assert CJK.search(panel["title"]) and not CODE.search(panel["title"]), panel["title"]
    assert CJK.search(panel["description"].split("\n\nEN: ")[0])
    assert re.search(r"\n\nEN: [A-Z]", panel["description"])
    for o in panel["fieldConfig"]["overrides"]:
        for prop in o["properties"]:
            if prop["id"] == "displayName":
                # zh words, a percentile name, or the zh label of a long series
                assert CJK.search(prop["value"]) or prop["value"].startswith("P") or \
                    prop["value"] == "${__field.labels.severity_label}", prop


def test_rows_and_boards_are_titled_in_zh() -> None:
    for b in BOARDS:
        assert CJK.search(b["title"]) and "\n\nEN: " in b["description"]
        for p in b["panels"]:
            if p["type"] == "row":
                assert CJK.search(p["title"]) and not CODE.search(p["title"])


@pytest.mark.parametrize("uid, panel, target", TARGETS,
                         ids=[f"{u}:{p['id']}{t['refId']}" for u, p, t in TARGETS])
def test_the_sql_uses_only_supported_macros_and_runs_on_18_16(uid: str, panel: Any,
                                                              target: dict[str, Any]) -> None:
    sql = target["rawSql"]
    assert macros.used(sql) <= set(macros.MACROS)
    assert "$__timeFilter(" in sql or "$__fromTime" in sql       # the dashboard range applies
    assert not NOT_ON_18_16.search(sql)
    # current ClickHouse refuses a joined subquery without an alias (18.16 took it)
    assert sql.count(" JOIN (") == len(re.findall(r"\) AS \w+ USING ", sql))
    assert not re.search(r"\)\s+(ALL|ANY)\s+(LEFT|INNER)\s+JOIN", sql)
    assert "citycc." in sql and " FINAL" in sql                   # the database, deduplicated
    expanded = macros.expand(sql, 1_714_528_800_000, 1_714_615_200_000, 300)
    assert "$__" not in expanded


def test_the_interval_labels_are_the_kpi_vocabulary() -> None:
    sql = kpi_sql.interval_summary("citycc")
    for key in kpi_sql.PANEL_INTERVALS:
        assert f"'{INTERVAL[key].zh}'" in sql
    assert kpi_sql.marking("ems", "en_route") == ["en_route"]
    assert kpi_sql.marking("fire", "clear") == ["available", "returning"]


@pytest.mark.parametrize("sql, want", [
    ("WHERE $__timeFilter(at)", "WHERE at >= toDateTime(1000) AND at <= toDateTime(2000)"),
    ("WHERE $__timeFilter( t.event_time )",
     "WHERE t.event_time >= toDateTime(1000) AND t.event_time <= toDateTime(2000)"),
    ("x >= $__fromTime AND x <= $__toTime + 60",
     "x >= toDateTime(1000) AND x <= toDateTime(2000) + 60"),
    ("intDiv(s, $__interval_s) * $__interval_s", "intDiv(s, 30) * 30"),
    ("SELECT 1", "SELECT 1"),
])
def test_macros_expand_as_the_plugin_documents(sql: str, want: str) -> None:
    assert macros.expand(sql, 1_000_999, 2_000_500, 30) == want


@pytest.mark.parametrize("sql, code", [
    ("WHERE $__timeFilter_ms(t)", "unknown_macro"),
    ("SELECT $__timeInterval(t) AS time", "unknown_macro"),
    ("WHERE $__timeFilter(a, b)", "bad_macro"),
])
def test_macros_the_panels_may_not_use_are_refused(sql: str, code: str) -> None:
    with pytest.raises(macros.MacroError) as err:
        macros.expand(sql, 0, 1000, 1)
    assert err.value.code == code


def test_a_reversed_range_is_refused() -> None:
    with pytest.raises(macros.MacroError) as err:
        macros.expand("SELECT 1", 2000, 1000, 1)
    assert err.value.code == "bad_range"


@pytest.mark.parametrize("percent", [50, 90])
def test_the_sql_rank_is_numpys_nearest_rank(percent: int) -> None:
    """``intDiv(count() * p + 99, 100)`` (the 1-based rank the SQL takes) is the rank of
    :func:`numpy.percentile` ``inverted_cdf``, which dispatch.kpis uses, for every n."""
    assert f"intDiv(count() * {percent} + 99, 100)" in kpi_sql.nearest_rank(percent)
    for n in range(1, 2001):
        values = np.arange(n, dtype=float)
        rank = (n * percent + 99) // 100
        assert values[rank - 1] == np.percentile(values, percent, method="inverted_cdf"), n
