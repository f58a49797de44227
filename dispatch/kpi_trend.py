"""Hourly KPI trends: the last hours in buckets, with the definitions of :mod:`dispatch.kpis`.

A case counts in the hour its call was received (its ``received`` timestamp), as the daily
figures count it: the 120 calls (EMS cases), the response time p90 (call to first unit on
scene, every case of the scope; nearest rank) and the share of 120 cases whose first unit
was en route within 3 minutes (:data:`~dispatch.kpi_defs.CHINA_120_DEPART_S`, inclusive).
Alerts and opened incidents are counted by the warehouse per hour and only placed here.
Every series carries its label and unit in both languages (:data:`SERIES`). Pure: no I/O,
no clock (the buckets' start is given).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from dispatch.kpi_defs import CHINA_120_DEPART_S, FIGURES, INTERVAL, SECONDS, Label
from dispatch.kpis import Responses, _share, interval_values, stats

HOUR_MS = 3_600_000
MAX_HOURS = 72
PERCENT: Label = {"zh": "%", "en": "%"}
SERIES: Mapping[str, tuple[Label, Label]] = {
    "alerts": ({"zh": "告警", "en": "Alerts"}, {"zh": "条", "en": "alerts"}),
    "calls_120": ({"zh": "120 急救来电", "en": "120 calls"}, {"zh": "次", "en": "calls"}),
    "response_p90_s": ({"zh": f"{INTERVAL['response'].zh} P90",
                        "en": f"{INTERVAL['response'].en} p90"}, SECONDS),
    "depart_3min_rate": (FIGURES["depart_rate"], PERCENT),
}
INCIDENTS_UNIT: Label = {"zh": "起", "en": "incidents"}
INCIDENT_PREFIX = "incidents."


def bucket_starts(end_ms: int, hours: int) -> list[int]:
    """The starts of ``hours`` whole-hour buckets, the last one holding ``end_ms``."""
    if not 1 <= hours <= MAX_HOURS:
        raise ValueError(f"hours must be 1..{MAX_HOURS}, got {hours}")
    last = end_ms // HOUR_MS * HOUR_MS
    return [last - (hours - 1 - i) * HOUR_MS for i in range(hours)]


def _index(ms: np.ndarray, first_ms: int, n: int) -> np.ndarray:
    """Bucket of each time (-1: outside the buckets)."""
    k = np.floor((ms - first_ms) / HOUR_MS)
    k[np.isnan(k) | (k < 0) | (k >= n)] = -1
    return k.astype(np.int64)


def response_series(r: Responses, starts: Sequence[int], ems: bool = True
                    ) -> dict[str, list[Any]]:
    """``calls_120``, ``response_p90_s`` and (``ems``) ``depart_3min_rate`` per bucket;
    None where an hour has no case to measure."""
    n = len(starts)
    bucket = _index(r.call_ts["received"], starts[0], n) if n else np.array([], np.int64)
    is_ems = np.array([c.agency == "ems" for c in r.calls], bool)
    response, _ = interval_values(r, "response")
    depart, _ = interval_values(r, "depart")
    out: dict[str, list[Any]] = {"calls_120": [], "response_p90_s": []}
    if ems:
        out["depart_3min_rate"] = []
    for k in range(n):
        mine = bucket == k
        out["response_p90_s"].append(stats(response[mine])["p90"])
        if ems:
            out["calls_120"].append(int((mine & is_ems).sum()))
            share = _share(np.where(is_ems & mine, depart, np.nan)[mine],
                           CHINA_120_DEPART_S)["share"]
            out["depart_3min_rate"].append(None if share is None else round(share * 100, 1))
    if not ems:
        del out["calls_120"]
    return out


def count_series(times_ms: Sequence[int], starts: Sequence[int]) -> list[int]:
    """How many of ``times_ms`` fall in each bucket."""
    counts = [0] * len(starts)
    for t in times_ms:
        k = (t - starts[0]) // HOUR_MS if starts else -1
        if 0 <= k < len(starts):
            counts[k] += 1
    return counts


def assemble(starts: Sequence[int], values: Mapping[str, list[Any]],
             incidents: Mapping[str, tuple[Label, list[int]]]) -> dict[str, Any]:
    """``{"series": {name: {"label", "unit", "values"}}}``: the named series of
    :data:`SERIES` in ``values``, then one ``incidents.<category>`` series per category
    (``incidents``: category -> (its label, counts))."""
    series: dict[str, Any] = {}
    for name, (label, unit) in SERIES.items():
        if name in values:
            series[name] = {"label": dict(label), "unit": dict(unit), "values": values[name]}
    for category, (label, counts) in sorted(incidents.items()):
        series[INCIDENT_PREFIX + category] = {
            "label": {"zh": f"{label['zh']}事件", "en": f"{label['en']} incidents"},
            "unit": dict(INCIDENTS_UNIT), "values": list(counts)}
    return {"series": series}
