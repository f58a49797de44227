"""The inputs of the response-time KPIs from ClickHouse, fed to :mod:`dispatch.kpis`.

Cases received in ``[start_ms, end_ms)``: 120 calls (``events_ems``, type ``call``) and
119 incidents (``events_fire``, type ``incident``, status ``open``); the unit statuses that
name them (ems ``unit_status.call_id``, fire ``engine_status.incident_id``) and the dispatch
records (``dispatch_log``) up to ``horizon_ms`` after the range; the alerting incidents'
call links (``incident_events`` ``call_linked``/``call_unlinked``), which tie a board
incident to its cases and a 119 call to the 119 incident it reported.

SQL runs on ClickHouse 18.16 and current releases: no window functions, no JSONExtract
(``visitParamExtractString``, or JSON decoded here), FINAL on every ReplacingMergeTree.
"""

from __future__ import annotations

from typing import Any, Mapping

import orjson
from clickhouse_driver import Client

from city.profile import CityProfile
from dispatch import kpis
from schemas.errors import ValidationError
from schemas.validate import format_event_time, parse_event_time

from .client import WarehouseError
from .queries import _where

HORIZON_MS = 6 * 3_600_000     # how long after the range a case's units are still followed
DISPATCH_KINDS = ("unit_assigned", "package_confirmed", "unit_status")
# stream -> (table, its case event, the status event naming a case, the naming column)
_STREAMS: Mapping[str, tuple[str, str, str, str]] = {
    "ems": ("events_ems", "type = 'call'", "unit_status", "call_id"),
    "fire": ("events_fire", "type = 'incident' AND status = 'open'", "engine_status",
             "incident_id"),
}


def _ring(body_field: str) -> int | None:
    """An optional ring time (ISO 8601) a call carries; unreadable -> absent."""
    try:
        return parse_event_time(body_field) if body_field else None
    except ValidationError:
        return None


def cases(client: Client, stream: str, start_ms: int, end_ms: int,
          district: str | None = None) -> list[kpis.Call]:
    """The stream's cases received in the range (a 119 incident: its first ``open``)."""
    table, case_where, _, _ = _STREAMS[stream]
    where, params = _where(start_ms, end_ms, district)
    rows = client.execute(
        f"SELECT entity_id, argMin(district, event_ms), min(event_ms), "
        f"argMin(visitParamExtractString(body, 'ring_time'), event_ms) FROM {table} FINAL"
        f"{where} AND {case_where} GROUP BY entity_id ORDER BY entity_id", params)
    return [kpis.Call(cid, stream, dist, int(ms), _ring(ring)) for cid, dist, ms, ring in rows]


def fire_calls(client: Client, start_ms: int, end_ms: int) -> list[kpis.Call]:
    """119 calls in the range (they only move their incident's received time earlier)."""
    where, params = _where(start_ms, end_ms)
    rows = client.execute(
        f"SELECT entity_id, district, event_ms, visitParamExtractString(body, 'ring_time') "
        f"FROM events_fire FINAL{where} AND type = 'call' ORDER BY entity_id", params)
    return [kpis.Call(cid, "fire", dist, int(ms), _ring(ring)) for cid, dist, ms, ring in rows]


def unit_statuses(client: Client, stream: str, start_ms: int, end_ms: int,
                  district: str | None = None, horizon_ms: int = HORIZON_MS
                  ) -> list[kpis.UnitStatus]:
    """Status changes naming a case of the range, up to ``horizon_ms`` after it."""
    table, case_where, status_type, ref = _STREAMS[stream]
    where, params = _where(start_ms, end_ms + horizon_ms)
    sub, sub_params = _where(start_ms, end_ms, district)
    params.update({f"c_{k}": v for k, v in sub_params.items()})
    for k in sub_params:
        sub = sub.replace(f"%({k})s", f"%(c_{k})s")
    rows = client.execute(
        f"SELECT entity_id, {ref}, status, event_ms FROM {table} FINAL{where} "
        f"AND type = '{status_type}' AND {ref} IN "
        f"(SELECT entity_id FROM {table} FINAL{sub} AND {case_where}) "
        f"ORDER BY event_ms, entity_id", params)
    return [kpis.UnitStatus(uid, cid, status, int(ms), stream) for uid, cid, status, ms in rows]


def dispatch_records(client: Client, start_ms: int, end_ms: int) -> list[dict[str, Any]]:
    """``dispatch_log`` rows of the kinds that assign units, payload decoded."""
    where, params = _where(start_ms, end_ms, None, "at", "at_ms")
    kinds = ", ".join(f"'{k}'" for k in DISPATCH_KINDS)
    rows = client.execute(
        f"SELECT kind, at_ms, incident_id, unit_id, payload FROM dispatch_log FINAL{where} "
        f"AND kind IN ({kinds}) ORDER BY at_ms, record_id", params)
    return [{"kind": k, "at_ms": int(ms), "incident_id": iid, "unit_id": uid,
             "payload": _json(p)} for k, ms, iid, uid, p in rows]


def call_links(client: Client, start_ms: int, end_ms: int) -> dict[str, list[str]]:
    """Alerting incident -> its linked call ids (120/119 calls, 119 incidents), in the
    order linked, unlinks applied (``incident_events`` in log order)."""
    where, params = _where(start_ms, end_ms, None, "at", "at_ms")
    rows = client.execute(
        f"SELECT incident_id, kind, payload FROM incident_events FINAL{where} "
        f"AND kind IN ('call_linked', 'call_unlinked') ORDER BY lsn, incident_id, seq", params)
    links: dict[str, list[str]] = {}
    for iid, kind, payload in rows:
        cid = _json(payload).get("call_id")
        if not isinstance(cid, str):
            continue
        mine = links.setdefault(iid, [])
        if kind == "call_linked" and cid not in mine:
            mine.append(cid)
        elif kind == "call_unlinked" and cid in mine:
            mine.remove(cid)
    return links


def _json(text: Any) -> dict[str, Any]:
    try:
        value = orjson.loads(text)
    except (orjson.JSONDecodeError, TypeError):
        return {}
    return value if isinstance(value, dict) else {}


def responses(client: Client, start_ms: int, end_ms: int, *, district: str | None = None,
              agency: str | None = None, horizon_ms: int = HORIZON_MS) -> kpis.Responses:
    """Everything :func:`dispatch.kpis.compute` needs for the cases of the range
    (:class:`WarehouseError` for an agency that has no cases: not ``ems`` or ``fire``)."""
    if agency is not None and agency not in _STREAMS:
        raise WarehouseError(f"no KPIs for agency {agency!r}; agencies: {sorted(_STREAMS)}")
    streams = [s for s in _STREAMS if agency in (None, s)]
    links = call_links(client, start_ms, end_ms + horizon_ms)
    calls: list[kpis.Call] = []
    stream: list[kpis.UnitStatus] = []
    for s in streams:
        calls += cases(client, s, start_ms, end_ms, district)
        stream += unit_statuses(client, s, start_ms, end_ms, district, horizon_ms)
    known = {c.call_id for c in calls}
    reports = fire_calls(client, start_ms, end_ms) if "fire" in streams else []
    case_of = _report_cases(links, {c.call_id for c in calls if c.agency == "fire"},
                            {c.call_id for c in reports})
    calls = kpis.merge_reports(calls, reports, case_of)
    incident_calls = {iid: list(dict.fromkeys(c for c in (case_of.get(x, x) for x in linked)
                                              if c in known))
                      for iid, linked in links.items()}
    records = [r for r in dispatch_records(client, start_ms, end_ms + horizon_ms)
               if r["incident_id"] in known or incident_calls.get(r["incident_id"])]
    return kpis.assemble(calls, stream + kpis.dispatch_statuses(records, incident_calls, stream))


def _report_cases(links: Mapping[str, list[str]], fire_cases: set[str],
                  fire_calls: set[str]) -> dict[str, str]:
    """119 call -> the 119 incident it reported: the one fire case linked to the same
    alerting incident (none, or several: the call stays unattributed)."""
    out: dict[str, str] = {}
    for linked in links.values():
        incidents = [c for c in linked if c in fire_cases]
        if len(incidents) == 1:
            out.update({c: incidents[0] for c in linked if c in fire_calls})
    return out


def kpi_summary(client: Client, start_ms: int, end_ms: int, profile: CityProfile, *,
                district: str | None = None, agency: str | None = None,
                horizon_ms: int = HORIZON_MS) -> dict[str, Any]:
    """The cockpit's KPI panel: :func:`dispatch.kpis.labelled` of the range, JSON-able."""
    r = responses(client, start_ms, end_ms, district=district, agency=agency,
                  horizon_ms=horizon_ms)
    out = kpis.labelled(kpis.compute(r, profile.utc_offset_hours),
                        {d.code: {"zh": d.zh, "en": d.en} for d in profile.districts})
    out["range"] = {"start": format_event_time(start_ms), "end": format_event_time(end_ms),
                    "start_ms": start_ms, "end_ms": end_ms,
                    "utc_offset_hours": profile.utc_offset_hours}
    out["filters"] = {"district": district, "agency": agency}
    return out
