"""Dashboard JSON from :mod:`dashboards.panels`, built with the Grafana Foundation SDK.

The SDK has no query type for the ClickHouse plugin, so :class:`ClickHouseQuery` is one: the
plugin's SQL query model (``editorType`` ``sql``, ``queryType`` ``table``/``timeSeries``,
``rawSql``; ``format`` 1 table / 0 time series, which its backend uses to turn a long
result with a label column into one series per label). Every panel and query names the
data source by uid (:data:`PLUGIN_ID`, ``datasource_uid``); panel ids are given in order,
so a rebuild gives the same JSON.
"""

from __future__ import annotations

import json
from typing import Any

from grafana_foundation_sdk.builders import common as cb
from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import stat, table, timeseries
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models.dashboard import DataSourceRef, DynamicConfigValue

from .panels import Board, Context, Panel, Query, boards

PLUGIN_ID = "grafana-clickhouse-datasource"
DATASOURCE_UID = "citycc-clickhouse"
FOLDER_UID = "citycc"
FOLDER_TITLE = "城市运行指挥中心"
TAGS = ["citycc"]
MIN_INTERVAL = "1m"


class ClickHouseQuery(variants.Dataquery):
    """A raw-SQL query of the ClickHouse data source plugin."""

    def __init__(self, query: Query, datasource: DataSourceRef) -> None:
        self.query, self.datasource = query, datasource

    def to_json(self) -> dict[str, Any]:
        return {"refId": self.query.ref_id, "datasource": self.datasource.to_json(),
                "editorType": "sql", "rawSql": self.query.sql,
                "queryType": "timeSeries" if self.query.time_series else "table",
                "format": 0 if self.query.time_series else 1}


class _QueryBuilder(cogbuilder.Builder[variants.Dataquery]):
    def __init__(self, query: ClickHouseQuery) -> None:
        self._query = query

    def build(self) -> variants.Dataquery:
        return self._query


def _description(title_en: str, about: str, about_en: str) -> str:
    return f"{about}\n\nEN: {title_en}. {about_en}"


def _panel(p: Panel, ds: DataSourceRef, panel_id: int) -> cogbuilder.Builder[Any]:
    if p.kind == "timeseries":
        # a floor on the panel interval: $__interval_s is whole seconds, and a short range
        # on a wide panel would make it 0 (the buckets divide by it)
        b: Any = (timeseries.Panel().interval(MIN_INTERVAL).line_width(1).fill_opacity(10)
                  .span_nulls(False)
                  .legend(cb.VizLegendOptions().show_legend(True)
                          .display_mode(common.LegendDisplayMode.LIST)
                          .placement(common.LegendPlacement.BOTTOM))
                  .tooltip(cb.VizTooltipOptions().mode(common.TooltipDisplayMode.MULTI)
                           .sort(common.SortOrder.NONE)))
    elif p.kind == "stat":
        b = (stat.Panel().graph_mode(common.BigValueGraphMode.NONE)
             .color_mode(common.BigValueColorMode.VALUE)
             .reduce_options(cb.ReduceDataOptions().values(False).calcs(["lastNotNull"])
                             .fields("")))
    elif p.kind == "table":
        b = table.Panel().show_header(True)
    else:
        raise ValueError(f"unknown panel kind {p.kind!r}")
    b = (b.id(panel_id).title(p.title).description(_description(p.title_en, p.about,
                                                                   p.about_en))
         .datasource(ds).span(p.width).height(p.height))
    if p.unit:
        b = b.unit(p.unit)
    for q in p.queries:
        b = b.with_target(_QueryBuilder(ClickHouseQuery(q, ds)))
    for column in sorted({*p.names, *p.units, *p.words}, key=_order(p)):
        props = [DynamicConfigValue("displayName", p.names[column])] if column in p.names \
            else []
        if column in p.units:
            props.append(DynamicConfigValue("unit", p.units[column]))
        if column in p.words:
            props.append(DynamicConfigValue("mappings", [{"type": "value", "options": {
                v: {"text": t, "index": i} for i, (v, t) in enumerate(
                    p.words[column].items())}}]))
        b = b.override_by_name(column, props)
    return b


def _order(p: Panel) -> Any:
    known = [*p.names, *p.units, *p.words]
    return known.index


def dashboard(board: Board, datasource_uid: str = DATASOURCE_UID) -> dict[str, Any]:
    """One board as Grafana dashboard JSON (a dict)."""
    ds = DataSourceRef(type_val=PLUGIN_ID, uid=datasource_uid)
    b = (db.Dashboard(board.title).uid(board.uid).tags(TAGS).editable()
         .description(_description(board.title_en, board.about, board.about_en))
         .time("now-24h", "now").timezone("browser").refresh("5m"))
    panel_id = 1
    for row in board.rows:
        b = b.with_row(db.Row(row.title).id(panel_id))
        panel_id += 1
        for p in row.panels:
            b = b.with_panel(_panel(p, ds, panel_id))
            panel_id += 1
    out: dict[str, Any] = json.loads(json.dumps(b.build(), cls=JSONEncoder))
    return out


def dashboards(context: Context, datasource_uid: str = DATASOURCE_UID) -> list[dict[str, Any]]:
    """Every citycc dashboard as JSON."""
    return [dashboard(b, datasource_uid) for b in boards(context)]
