"""The API's query parameters, checked, and the scope a user may ask for (pure).

A parameter the endpoint does not know, or given twice, is refused (a typo must not
silently widen a query); each refusal names the parameter and what it takes. The scope:
a district the city has, within the user's districts (none asked: the user's one
district, or the whole city for a user not limited to districts); the KPI streams of the
user's view (:func:`cockpit_api.kpi_view.scopes_of`: a dispatcher its agency's).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

from schemas.errors import ValidationError
from schemas.validate import parse_event_time

from ..auth.roles import View
from ..kpi_view import KPI_STREAMS, scopes_of
from .errors import bad_param, forbidden

MAX_VALUE = 200
INCIDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")


def query(target: str, allowed: Collection[str]) -> dict[str, str]:
    """The query string of ``target`` (a request path) as one value per name."""
    out: dict[str, str] = {}
    raw = urlsplit(target).query
    try:
        pairs = parse_qsl(raw, keep_blank_values=True, strict_parsing=bool(raw),
                          max_num_fields=20)
    except ValueError:
        raise bad_param("?", "查询字符串格式错误", "the query string is malformed") from None
    for name, value in pairs:
        if name not in allowed:
            raise bad_param(name[:40], f"未知参数；可用参数：{', '.join(sorted(allowed))}",
                            f"unknown; this endpoint takes {', '.join(sorted(allowed))}")
        if name in out:
            raise bad_param(name, "只能出现一次", "given more than once")
        if len(value) > MAX_VALUE:
            raise bad_param(name, f"最长 {MAX_VALUE} 个字符", f"at most {MAX_VALUE} characters")
        out[name] = value
    return out


def time_ms(params: Mapping[str, str], name: str, default: int) -> int:
    """An ISO 8601 time with an offset (``2026-03-01T08:00:00+08:00``), as epoch ms."""
    if not params.get(name):
        return default
    try:
        return parse_event_time(params[name])
    except ValidationError:
        raise bad_param(name, "须为带时区的 ISO 8601 时间，例如 2026-03-01T08:00:00+08:00",
                        "an ISO 8601 time with an offset, e.g. 2026-03-01T08:00:00+08:00"
                        ) from None


def integer(params: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    text = params.get(name, "")
    if not text:
        return default
    if not text.isascii() or not text.isdigit() or not low <= int(text) <= high:
        raise bad_param(name, f"须为 {low} 到 {high} 的整数", f"a whole number {low}..{high}")
    return int(text)


def incident_id(text: str) -> str:
    if not INCIDENT_ID.match(text):
        raise bad_param("incident_id", "事件编号格式错误", "not an incident id (letters, "
                        "digits, '_', '.', ':', '-'; at most 128)")
    return text


@dataclass(frozen=True)
class Scope:
    """What one request covers: a district (None: every district the user sees), the KPI
    stream (None: all) and the KPI streams the user may see at all."""

    district: str | None
    agency: str | None
    kpi_streams: tuple[str, ...]


def scope(view: View, asked: str | None, districts: Collection[str]) -> Scope:
    """The scope of a request for district ``asked`` (None or "": none asked)."""
    if asked:
        if asked not in districts:
            raise bad_param("district", f"未知区县；可选：{', '.join(sorted(districts))}",
                            f"unknown district; one of {', '.join(sorted(districts))}")
        if view.districts is not None and asked not in view.districts:
            raise forbidden("无权查看该区县", "this district is outside your districts")
        district: str | None = asked
    elif view.districts is None:
        district = None
    elif len(view.districts) == 1:
        district = next(iter(view.districts))
    else:
        raise bad_param("district", f"请选择一个区县：{', '.join(sorted(view.districts))}",
                        f"choose one of your districts: {', '.join(sorted(view.districts))}")
    streams = tuple(dict.fromkeys(s for s, _ in scopes_of(view) if s is not None))
    if view.agencies is None:
        return Scope(district, None, KPI_STREAMS)
    return Scope(district, streams[0] if len(streams) == 1 else None, streams)
