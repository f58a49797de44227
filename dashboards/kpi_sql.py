"""The response-time KPIs of :mod:`dispatch.kpis` as ClickHouse SQL for Grafana panels.

Generated from the one set of definitions: the cases and the columns naming them come from
:data:`warehouse.kpi_queries._STREAMS` (120 calls, 119 incidents' first ``open``), which
stream status marks which timestamp from :func:`dispatch.kpi_defs.status_timestamp`, the
intervals (start, end, call or unit level) from :data:`dispatch.kpi_defs.INTERVALS`, the
limits from its China 120 / NFPA 1710 constants. As in :mod:`dispatch.kpis`: a timestamp is
the first occurrence of its status (a case's ``first_*`` the earliest of its units'), an
interval whose start or end is missing is absent, one that ends before it starts is
excluded, percentiles are nearest rank (``ceil(p * n)``-th smallest, exact integer
arithmetic), unit statuses are followed up to ``HORIZON_MS`` after the range, NFPA travel
is the first-arriving unit's of each agency (ties: lowest unit id).

The cases and their received times (a 119 call moving its incident's earlier) are
:mod:`dashboards.cases_sql`'s. What the SQL does not do that the cockpit figure does
(:func:`warehouse.kpi_queries.responses`): it reads the units' own status reports only, not
the dispatch log's assignments (``unit_assigned``, ``package_confirmed`` items, board status
changes; their JSON arrays are beyond 18.16's JSON functions); the ``answer`` (ring time),
``on_scene`` and ``transport`` intervals are not on the dashboards. Runs on ClickHouse 18.16 and current: no CTE, no window function, no DateTime64;
time comes from the macros of :mod:`dashboards.macros`.
"""

from __future__ import annotations

from collections.abc import Sequence

from dispatch.kpi_defs import (CHINA_120_DEPART_S, INTERVAL, NFPA_SHARE, NFPA_TRAVEL_S,
                               NFPA_TURNOUT_S, status_timestamp)
from dispatch.status import STREAM_STATUS
# the one table of the KPI streams' cases (private there: the warehouse's KPI queries own it)
from warehouse.kpi_queries import HORIZON_MS, _STREAMS

from .cases_sql import cases

AGENCIES = tuple(_STREAMS)                        # ("ems", "fire")
UNIT_TS = ("dispatched", "en_route", "on_scene")  # the unit timestamps the panels need
PANEL_INTERVALS = ("processing", "turnout", "travel", "depart", "response")
# a timestamp of dispatch.kpi_defs -> the column holding it (call rows: the first of the
# case's units; unit rows: the unit's own)
COLUMN = {"received": "received_ms", "first_dispatched": "t_dispatched",
          "first_en_route": "t_en_route", "first_on_scene": "t_on_scene",
          "dispatched": "t_dispatched", "en_route": "t_en_route", "on_scene": "t_on_scene"}


def quote(text: str) -> str:
    """A ClickHouse string literal."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def quoted(items: Sequence[str]) -> str:
    return ", ".join(quote(i) for i in items)


def marking(agency: str, timestamp: str) -> list[str]:
    """The statuses of ``agency``'s stream that mark ``timestamp``."""
    return [s for s in STREAM_STATUS[agency] if status_timestamp(agency, s) == timestamp]


def bucket(ms_column: str) -> str:
    """The panel-interval bucket of an epoch-ms column, as ``DateTime`` (no
    ``toStartOfInterval`` on 18.16)."""
    return f"toDateTime(intDiv(intDiv({ms_column}, 1000), $__interval_s) * $__interval_s)"


def nearest_rank(percent: int, column: str = "v") -> str:
    """The ``percent`` percentile by nearest rank; NULL when there is no value."""
    return (f"if(count() = 0, NULL, arrayElement(arraySort(groupArray({column})), "
            f"intDiv(count() * {percent} + 99, 100)))")


def marks(db: str, agency: str, per_unit: bool) -> str:
    """The first time of each unit timestamp per case (per case and unit: ``per_unit``),
    0 where none, from the status reports up to the horizon after the range."""
    table, _, status_type, ref = _STREAMS[agency]
    cols = ", ".join(f"minIf(event_ms, status IN ({quoted(marking(agency, ts))})) AS t_{ts}"
                     for ts in UNIT_TS)
    keys = "case_id, unit" if per_unit else "case_id"
    unit = ", entity_id AS unit" if per_unit else ""
    return (f"SELECT {ref} AS case_id{unit}, {cols} FROM {db}.{table} FINAL "
            f"WHERE event_time >= $__fromTime AND event_time <= $__toTime + "
            f"{HORIZON_MS // 1000} AND type = {quote(status_type)} GROUP BY {keys}")


def call_rows(db: str, agency: str) -> str:
    """One row per case: agency, case_id, received_ms, district, t_* (0: absent)."""
    ts = ", ".join(f"t_{t}" for t in UNIT_TS)
    return (f"SELECT {quote(agency)} AS agency, case_id, received_ms, district, {ts} "
            f"FROM ({cases(db, agency)}) AS c ALL LEFT JOIN ({marks(db, agency, False)}) AS m "
            f"USING case_id")


def unit_rows(db: str, agency: str) -> str:
    """One row per (case, unit) response: as :func:`call_rows` plus ``unit``."""
    ts = ", ".join(f"t_{t}" for t in UNIT_TS)
    return (f"SELECT {quote(agency)} AS agency, case_id, unit, received_ms, district, {ts} "
            f"FROM ({cases(db, agency)}) AS c ALL INNER JOIN ({marks(db, agency, True)}) AS m "
            f"USING case_id")


def interval_values(db: str, key: str, agencies: Sequence[str] = AGENCIES) -> str:
    """Rows (agency, case_id, district, received_ms, v): ``v`` the interval in seconds,
    present and in order only."""
    iv = INTERVAL[key]
    rows = call_rows if iv.level == "call" else unit_rows
    s, e = COLUMN[iv.start], COLUMN[iv.end]
    union = " UNION ALL ".join(rows(db, a) for a in agencies)
    return (f"SELECT agency, case_id, district, received_ms, "
            f"(toInt64({e}) - toInt64({s})) / 1000 AS v FROM ({union}) "
            f"WHERE {s} > 0 AND {e} >= {s}")


def first_arriving_travel(db: str, agency: str) -> str:
    """Rows as :func:`interval_values`: the travel of the first of the agency's units on
    each case's scene (NFPA 1710's first-arriving unit; ties: lowest unit id)."""
    inner = (f"SELECT case_id, any(district) AS district, any(received_ms) AS received_ms, "
             f"min(t_on_scene) AS e, argMin(t_en_route, (t_on_scene, unit)) AS s "
             f"FROM ({unit_rows(db, agency)}) WHERE t_on_scene > 0 GROUP BY case_id")
    return (f"SELECT {quote(agency)} AS agency, case_id, district, received_ms, "
            f"(toInt64(e) - toInt64(s)) / 1000 AS v FROM ({inner}) WHERE s > 0 AND e >= s")


def _stats(values: str, label: str, order: int) -> str:
    return (f"SELECT {quote(label)} AS measure, {order} AS k, count() AS n, "
            f"{nearest_rank(50)} AS p50_s, {nearest_rank(90)} AS p90_s, "
            f"if(count() = 0, NULL, round(avg(v), 1)) AS mean_s FROM ({values})")


def interval_summary(db: str, keys: Sequence[str] = PANEL_INTERVALS) -> str:
    """Table: per interval (its zh label) n, p50, p90 and mean, in seconds."""
    parts = " UNION ALL ".join(_stats(interval_values(db, k), INTERVAL[k].zh, i)
                               for i, k in enumerate(keys))
    return f"SELECT measure, n, p50_s, p90_s, mean_s FROM ({parts}) ORDER BY k"


def interval_trend(db: str, key: str) -> str:
    """Time series: the interval's p90 per bucket of received time (column ``<key>_p90_s``)."""
    return (f"SELECT {bucket('received_ms')} AS time, {nearest_rank(90)} AS {key}_p90_s "
            f"FROM ({interval_values(db, key)}) GROUP BY time ORDER BY time")


def _depart_120(db: str) -> str:
    return interval_values(db, "depart", ("ems",))


def _rate(limit_s: float) -> str:
    return f"if(count() = 0, NULL, round(100 * countIf(v <= {limit_s}) / count(), 1))"


def china_120(db: str) -> str:
    """One row: the share (%) of 120 cases whose first unit was en route within 3 minutes,
    their number, and the 120 cases' mean response (call to first unit on scene)."""
    response = interval_values(db, "response", ("ems",))
    return (f"SELECT depart_3min_rate, cases, mean_response_s FROM "
            f"(SELECT 1 AS one, {_rate(CHINA_120_DEPART_S)} AS depart_3min_rate, "
            f"count() AS cases FROM ({_depart_120(db)})) AS d ALL INNER JOIN "
            f"(SELECT 1 AS one, if(count() = 0, NULL, round(avg(v), 1)) AS mean_response_s "
            f"FROM ({response})) AS r USING one")


def china_120_trend(db: str) -> str:
    """Time series: the 3-minute departure rate (%) per bucket of received time."""
    return (f"SELECT {bucket('received_ms')} AS time, {_rate(CHINA_120_DEPART_S)} "
            f"AS depart_3min_rate FROM ({_depart_120(db)}) GROUP BY time ORDER BY time")


def _nfpa_row(values: str, figure: str, agency: str, limit_s: float, order: int) -> str:
    share = f"if(count() = 0, NULL, round(100 * countIf(v <= {limit_s}) / count(), 1))"
    return (f"SELECT {order} AS k, {quote(figure)} AS figure, {quote(agency)} AS agency, "
            f"{limit_s} AS limit_s, count() AS n, countIf(v <= {limit_s}) AS within, "
            f"{share} AS share_pct, {nearest_rank(90)} AS p90_s, "
            f"if(count() = 0, NULL, toUInt8(countIf(v <= {limit_s}) >= "
            f"{NFPA_SHARE} * count())) AS meets FROM ({values})")


def nfpa_1710(db: str, figures: dict[str, str], agency_labels: dict[str, str]) -> str:
    """Table: per figure (turnout, first-arriving travel) and agency: limit, n, within,
    share (%), p90 and whether 90 % comply (``meets`` 1/0). ``figures`` / ``agency_labels``:
    the zh labels of the figures and agencies."""
    turnout = [f"SELECT * FROM ({interval_values(db, 'turnout', (a,))})" for a in AGENCIES]
    rows = [_nfpa_row(turnout[i], figures["turnout"], agency_labels[a], NFPA_TURNOUT_S[a], i)
            for i, a in enumerate(AGENCIES)]
    rows += [_nfpa_row(first_arriving_travel(db, a), figures["travel"], agency_labels[a],
                       NFPA_TRAVEL_S, len(AGENCIES) + i) for i, a in enumerate(AGENCIES)]
    return (f"SELECT figure, agency, limit_s, n, within, share_pct, p90_s, meets FROM "
            f"({' UNION ALL '.join(rows)}) ORDER BY k")
