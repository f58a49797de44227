"""The API's endpoints (JSON, or XML for the exports); each behind :meth:`Api.route`.

* ``GET /api/kpi/summary?from=&to=&district=`` -- the KPI figures of a range
  (:func:`warehouse.kpi_queries.kpi_summary`; default: today, local midnight to now; at
  most :data:`MAX_RANGE_DAYS` days).
* ``GET /api/kpi/trend?hours=N&district=`` -- hourly buckets of the last N hours
  (:func:`warehouse.kpi_trend.kpi_trend`; default 6, at most 72).
* ``GET /api/incidents/<id>/cap`` (and ``/gbt``) -- the incident as a CAP 1.2 alert
  (:func:`alerting.cap.incident_to_cap`), or as a GB/T 35965.1-style message
  (:func:`alerting.gbt.incident_to_gbt`), rebuilt from its events in ClickHouse.

What a user may see is its view's (:class:`~cockpit_api.auth.roles.View`): a district
outside its districts, an incident it could not see on the cockpit, or KPIs of an agency
that has none is 403.
"""

from __future__ import annotations

import http
from collections.abc import Callable, Mapping
from typing import Any

from websockets.http11 import Request, Response

from alerting.cap import incident_to_cap
from alerting.gbt import incident_to_gbt
from alerting.history import incidents_at
from alerting.incident_model import Incident

from ..auth.roles import Principal
from ..kpi_load import local_day
from ..pages import Routes, respond
from . import params
from .errors import bad_param, forbidden, json_ok, not_found, unavailable
from .service import Api

MAX_RANGE_DAYS = 31
DAY_MS = 86_400_000
INCIDENTS = "/api/incidents/"
EXPORTS: dict[str, Callable[[Incident, Mapping[str, Any], int, str], str]] = {
    "cap": incident_to_cap, "gbt": incident_to_gbt}


async def kpi_summary(api: Api, request: Request, principal: Principal) -> Response:
    p = params.query(request.path, {"from", "to", "district"})
    scope = params.scope(principal.view, p.get("district"), api.profile.district_codes)
    if not scope.kpi_streams:
        raise forbidden("您所在部门没有响应时间指标", "your agency has no response-time KPIs")
    now = api.now_ms()
    start = params.time_ms(p, "from", local_day(now, api.profile.timezone)[0])
    end = params.time_ms(p, "to", now)
    if end <= start:
        raise bad_param("to", "须晚于 from", "must be after 'from'")
    if end - start > MAX_RANGE_DAYS * DAY_MS:
        raise bad_param("from", f"时间范围最长 {MAX_RANGE_DAYS} 天",
                        f"the range spans at most {MAX_RANGE_DAYS} days")
    return json_ok(await api.blocking(api.reader.summary, start, end, scope.district,
                                      scope.agency))


async def kpi_trend(api: Api, request: Request, principal: Principal) -> Response:
    p = params.query(request.path, {"hours", "district"})
    hours = params.integer(p, "hours", 6, 1, 72)
    scope = params.scope(principal.view, p.get("district"), api.profile.district_codes)
    view = principal.view

    def sees_alert(stream: str, district: str) -> bool:
        return view.sees_labels({"stream": stream, "district": district})

    return json_ok(await api.blocking(api.reader.trend, api.now_ms(), hours, scope.district,
                                      scope.agency, scope.kpi_streams, sees_alert,
                                      view.sees_incident))


def incident_view(inc: Incident) -> dict[str, Any]:
    """What :meth:`View.sees_incident` reads of an incident: its streams and district."""
    streams = {m.stream for m in inc.members.values() if m.stream}
    streams |= {str(c.get("stream")) for c in inc.calls.values() if c.get("stream")}
    return {"streams": sorted(streams), "district": inc.district}


async def incident_export(api: Api, request: Request, principal: Principal) -> Response:
    rest = request.path.split("?", 1)[0][len(INCIDENTS):]
    raw_id, _, fmt = rest.rpartition("/")
    if fmt not in EXPORTS or not raw_id:
        raise not_found("没有该地址；可用 /api/incidents/<编号>/cap 或 /gbt",
                        "no such path; use /api/incidents/<id>/cap or /gbt")
    params.query(request.path, set())
    iid = params.incident_id(raw_id)
    events = await api.blocking(api.reader.incident_events, iid)
    inc = incidents_at(events).get(iid) if events else None
    if inc is None:
        if api.hub.incidents.get(iid) is not None:   # open, its events not stored yet
            raise unavailable("not_stored_yet", "该事件尚未写入数据仓库，请稍后再试",
                              "the incident is not in the warehouse yet; try again in a "
                              "few seconds", retry_s=2)
        raise not_found("没有该事件", f"no incident {iid!r}")
    if not principal.view.sees_incident(incident_view(inc)):
        raise forbidden("无权查看该事件", "this incident is outside what you may see")
    # a drill's cockpit (its hub fed by an exercise channel) exports drills, never warnings
    status = "Exercise" if api.hub.feed_state == "exercise" else "Actual"
    document = EXPORTS[fmt](inc, inc.enrichment, api.now_ms(), status)
    return respond(http.HTTPStatus.OK, "application/xml; charset=utf-8", document.encode())


def add_routes(routes: Routes, api: Api) -> None:
    """The endpoints on ``routes`` (one line each)."""
    routes.add("/api/kpi/summary", api.route("kpi_summary", lambda r, p: kpi_summary(api, r, p)))
    routes.add("/api/kpi/trend", api.route("kpi_trend", lambda r, p: kpi_trend(api, r, p)))
    routes.add_prefix(INCIDENTS, api.route("incident_export",
                                           lambda r, p: incident_export(api, r, p)))
