"""The KPI cases of a dashboard range in SQL, with the received time the cockpit gives them.

As :func:`warehouse.kpi_queries.responses`: a case is a 120 call or a 119 incident's first
``open`` in the range (:data:`warehouse.kpi_queries._STREAMS`); a 119 call moves the received
time of the 119 incident it reported earlier. Which incident a call reported comes from the
alerting incidents' call links (``incident_events`` ``call_linked``/``call_unlinked``, the
last of each (incident, call) by log order deciding, up to the horizon after the range):
the calls linked to an alerting incident that has exactly one 119 incident of the range
among its links reported that one (:func:`warehouse.kpi_queries._report_cases`).
A call linked to two such incidents is attributed to either (the cockpit: the later one).
ClickHouse 18.16 and current: no CTE, every joined subquery aliased.
"""

from __future__ import annotations

# the one table of the KPI streams' cases (private there: the warehouse's KPI queries own it)
from warehouse.kpi_queries import HORIZON_MS, _STREAMS

# stream -> the events that report one of its cases (warehouse.kpi_queries.fire_calls)
REPORTS = {"fire": "type = 'call'"}
LINK_KINDS = "('call_linked', 'call_unlinked')"


def _ids(db: str, agency: str, where: str) -> str:
    table = _STREAMS[agency][0]
    return (f"SELECT entity_id FROM {db}.{table} FINAL WHERE $__timeFilter(event_time) "
            f"AND {where}")


def linked(db: str) -> str:
    """(incident_id, call_id) pairs linked at the end of the range plus the horizon."""
    return (f"SELECT incident_id, visitParamExtractString(payload, 'call_id') AS call_id "
            f"FROM {db}.incident_events FINAL WHERE at >= $__fromTime AND at <= $__toTime + "
            f"{HORIZON_MS // 1000} AND kind IN {LINK_KINDS} GROUP BY incident_id, call_id "
            f"HAVING argMax(kind, (lsn, seq)) = 'call_linked' AND call_id != ''")


def reported(db: str, agency: str) -> str:
    """(case_id, reported_ms): the earliest call of the range reporting each case."""
    table, case_where, _, _ = _STREAMS[agency]
    report_where = REPORTS[agency]
    one_case = (f"SELECT incident_id, any(call_id) AS case_id FROM ({linked(db)}) "
                f"WHERE call_id IN ({_ids(db, agency, case_where)}) GROUP BY incident_id "
                f"HAVING count() = 1")
    calls = (f"SELECT call_id, incident_id FROM ({linked(db)}) "
             f"WHERE call_id IN ({_ids(db, agency, report_where)})")
    call_case = (f"SELECT call_id, any(case_id) AS case_id FROM ({calls}) AS l "
                 f"ALL INNER JOIN ({one_case}) AS i USING incident_id GROUP BY call_id")
    call_ms = (f"SELECT entity_id AS call_id, min(event_ms) AS called_ms FROM {db}.{table} "
               f"FINAL WHERE $__timeFilter(event_time) AND {report_where} GROUP BY entity_id")
    return (f"SELECT case_id, min(called_ms) AS reported_ms FROM ({call_ms}) AS k "
            f"ALL INNER JOIN ({call_case}) AS r USING call_id GROUP BY case_id")


def cases(db: str, agency: str) -> str:
    """(case_id, received_ms, district) of the agency's cases received in the range."""
    table, case_where, _, _ = _STREAMS[agency]
    first = "first_ms" if agency in REPORTS else "received_ms"
    own = (f"SELECT entity_id AS case_id, min(event_ms) AS {first}, "
           f"argMin(district, event_ms) AS district FROM {db}.{table} FINAL "
           f"WHERE $__timeFilter(event_time) AND {case_where} GROUP BY entity_id")
    if agency not in REPORTS:
        return own
    return (f"SELECT case_id, if(reported_ms > 0 AND reported_ms < first_ms, reported_ms, "
            f"first_ms) AS received_ms, district FROM ({own}) AS o "
            f"ALL LEFT JOIN ({reported(db, agency)}) AS e USING case_id")
