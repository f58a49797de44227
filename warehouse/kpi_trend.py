"""The hourly KPI trend of the last hours from ClickHouse (``GET /api/kpi/trend``).

Per whole hour: the alerts that began (``alert_events``, actions ``fire``/``refire``: a
new occurrence), the incidents opened by category (``incident_events`` kind ``opened``),
and the response figures of the cases received (:func:`warehouse.kpi_queries.responses`,
bucketed by :mod:`dispatch.kpi_trend`). What a user may see is cut with its
:class:`~cockpit_api.auth.roles.View` rules, passed in as ``sees`` (alerts by their stream
and district, incidents by their members' streams and district).

SQL runs on ClickHouse 18.16 and current releases: no window functions, no DateTime64, no
JSONExtract (the opened payloads are decoded here); FINAL on every ReplacingMergeTree.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from clickhouse_driver import Client

from dispatch import kpi_trend as trend
from dispatch.kpi_defs import Label
from schemas.validate import format_event_time

from .kpi_queries import responses
from .queries import _where

HOUR_MS = trend.HOUR_MS
# (agency-of-stream names, district) -> visible
SeesAlert = Callable[[str, str], bool]
SeesIncident = Callable[[dict[str, Any]], bool]


def alert_starts(client: Client, start_ms: int, end_ms: int
                 ) -> list[tuple[int, str, str, int]]:
    """(hour index since the epoch, stream, district, alerts begun) of the range."""
    where, params = _where(start_ms, end_ms, None, "at", "at_ms")
    rows = client.execute(
        "SELECT intDiv(at_ms, 3600000) AS h, label_values[indexOf(label_keys, 'stream')] "
        f"AS stream, district, count() FROM alert_events FINAL{where} "
        "AND action IN ('fire', 'refire') GROUP BY h, stream, district ORDER BY h", params)
    return [(int(h), str(s), str(d), int(n)) for h, s, d, n in rows]


def opened_incidents(client: Client, start_ms: int, end_ms: int) -> list[dict[str, Any]]:
    """The incidents opened in the range: time, category (with its labels), district and
    the streams of their first members and calls."""
    where, params = _where(start_ms, end_ms, None, "at", "at_ms")
    rows = client.execute(f"SELECT at_ms, payload FROM incident_events FINAL{where} "
                          "AND kind = 'opened' ORDER BY at_ms, incident_id", params)
    out = []
    for at_ms, payload in rows:
        try:
            p = orjson.loads(payload)
        except orjson.JSONDecodeError:
            continue
        if not isinstance(p, dict):
            continue
        members = [m for m in p.get("members") or () if isinstance(m, dict)]
        raw_calls = p.get("calls")
        calls: dict[str, Any] = raw_calls if isinstance(raw_calls, dict) else {}
        streams = {str(m.get("stream")) for m in members if m.get("stream")}
        streams |= {str(c.get("stream")) for c in calls.values()
                    if isinstance(c, dict) and c.get("stream")}
        category = str(p.get("category") or "")
        out.append({"at_ms": int(at_ms), "category": category,
                    "label": {"zh": str(p.get("category_zh") or category),
                              "en": str(p.get("category_en") or category)},
                    "district": str(p.get("district") or ""), "streams": sorted(streams)})
    return out


def kpi_trend(client: Client, end_ms: int, hours: int, *, district: str | None = None,
              agency: str | None = None, kpi_streams: tuple[str, ...] = ("ems", "fire"),
              sees_alert: SeesAlert = lambda stream, district: True,
              sees_incident: SeesIncident = lambda incident: True) -> dict[str, Any]:
    """``{"hours": [iso...], "series": {...}}`` (:func:`dispatch.kpi_trend.assemble`) for
    the ``hours`` whole hours up to the one holding ``end_ms``. ``agency``: the response
    figures of that KPI stream only (``ems``/``fire``); ``kpi_streams``: the streams whose
    response figures the caller may see (none: those series are left out)."""
    starts = trend.bucket_starts(end_ms, hours)
    start_ms, stop_ms = starts[0], end_ms
    first_hour = start_ms // HOUR_MS
    alerts = [0] * hours
    for h, stream, d, n in alert_starts(client, start_ms, stop_ms):
        if 0 <= h - first_hour < hours and (district is None or d == district) \
                and sees_alert(stream, d):
            alerts[h - first_hour] += n
    values: dict[str, list[Any]] = {"alerts": alerts}
    if kpi_streams:
        r = responses(client, start_ms, stop_ms, district=district, agency=agency)
        values.update(trend.response_series(r, starts, ems="ems" in kpi_streams))
    by_category: dict[str, tuple[Label, list[int]]] = {}
    for inc in opened_incidents(client, start_ms, stop_ms):
        if (district is None or inc["district"] == district) and sees_incident(inc):
            label, times = by_category.setdefault(inc["category"], (inc["label"], []))
            times.append(inc["at_ms"])
    incidents = {c: (label, trend.count_series(times, starts))
                 for c, (label, times) in by_category.items()}
    return {"hours": [format_event_time(s) for s in starts],
            "range": {"start": format_event_time(start_ms), "end": format_event_time(end_ms)},
            "filters": {"district": district, "agency": agency},
            **trend.assemble(starts, values, incidents)}
