"""The KPI vocabulary: cases, timestamps, intervals, standards and their bilingual labels.

One definition each (issue 14): :mod:`dispatch.kpis` computes with these, the warehouse
queries and the cockpit panel show them. Which stream or APCO status marks which timestamp
comes from :mod:`dispatch.status` (the one mapping of stream statuses), not a table of ours.
Pure: no I/O, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from dispatch.status import BASE_STATUSES, STREAM_STATUS, from_stream
from schemas.catalog import STREAMS

Label = Mapping[str, str]


@dataclass(frozen=True)
class Call:
    """A case: id, agency (``ems``/``fire``), district, received time (event time, ms) and
    the ring time when the call carries one (the answer interval needs it)."""

    call_id: str
    agency: str
    district: str
    received_ms: int
    ring_ms: int | None = None


@dataclass(frozen=True)
class UnitStatus:
    """A unit's status naming a case, from its stream or from a dispatch record."""

    unit_id: str
    call_id: str
    status: str
    at_ms: int
    agency: str = ""


@dataclass(frozen=True)
class Interval:
    key: str
    zh: str
    en: str
    start: str       # a timestamp key (TIMESTAMPS)
    end: str
    level: str       # "call": one per case (first unit); "unit": one per unit response


# The timestamps. Unit-level ones are per (case, unit); "first_*" are the earliest over a
# case's units; "left_scene" is transporting if the unit transports, else clear.
TIMESTAMPS: Mapping[str, Label] = {
    "ring": {"zh": "来电振铃", "en": "Call ringing"},
    "received": {"zh": "接警", "en": "Call received"},
    "dispatched": {"zh": "派车", "en": "Unit dispatched"},
    "en_route": {"zh": "出车", "en": "Unit en route"},
    "on_scene": {"zh": "到达现场", "en": "Unit on scene"},
    "transporting": {"zh": "转运患者", "en": "Transporting"},
    "at_hospital": {"zh": "到达医院", "en": "At hospital"},
    "clear": {"zh": "任务结束", "en": "Clear / available"},
    "left_scene": {"zh": "离开现场", "en": "Left scene"},
    "first_dispatched": {"zh": "首车派出", "en": "First unit dispatched"},
    "first_en_route": {"zh": "首车出车", "en": "First unit en route"},
    "first_on_scene": {"zh": "首车到达", "en": "First unit on scene"},
}
UNIT_TIMESTAMPS = ("dispatched", "en_route", "on_scene", "transporting", "at_hospital", "clear")
# APCO base status (dispatch.status.BASE_STATUSES) -> the unit timestamp it marks
STATUS_TIMESTAMP: Mapping[str, str] = {
    "dispatched": "dispatched", "en_route": "en_route", "on_scene": "on_scene",
    "transporting": "transporting", "at_hospital": "at_hospital", "returning": "clear",
    "available": "clear"}

INTERVALS: tuple[Interval, ...] = (
    Interval("answer", "接听时长", "Answer", "ring", "received", "call"),
    Interval("processing", "受理派车时长", "Call processing", "received", "first_dispatched",
             "call"),
    Interval("turnout", "出车准备时长", "Turnout", "dispatched", "en_route", "unit"),
    Interval("travel", "途中行驶时长", "Travel", "en_route", "on_scene", "unit"),
    Interval("on_scene", "现场处置时长", "On scene", "on_scene", "left_scene", "unit"),
    Interval("transport", "转运时长", "Transport", "transporting", "at_hospital", "unit"),
    Interval("depart", "接警至出车时长", "Call to first unit en route", "received",
             "first_en_route", "call"),
    Interval("response", "反应时间", "Response (call to first on scene)", "received",
             "first_on_scene", "call"),
)
INTERVAL = {i.key: i for i in INTERVALS}
SECONDS: Label = {"zh": "秒", "en": "s"}

CHINA_120_DEPART_S = 180.0                                  # 3-minute departure
NFPA_TURNOUT_S: Mapping[str, float] = {"ems": 60.0, "fire": 80.0}
NFPA_TRAVEL_S = 240.0                                       # first-arriving unit
NFPA_SHARE = 0.9                                            # "90 % of the time"

AGENCIES: Mapping[str, Label] = {
    "ems": {"zh": STREAMS["ems"].zh, "en": STREAMS["ems"].en},
    "fire": {"zh": STREAMS["fire"].zh, "en": STREAMS["fire"].en},
    "police": {"zh": "交警", "en": "Traffic police"},
    "gas": {"zh": "燃气抢修", "en": "Gas utility"},
    "water": {"zh": "供水抢修", "en": "Water utility"},
    "environment": {"zh": "环境监测", "en": "Environmental monitoring"},
    "": {"zh": "未知单位", "en": "Unknown agency"},
}
REASONS: Mapping[str, Label] = {
    "out_of_order": {"zh": "时间先后颠倒", "en": "End before start"},
    "unknown_call": {"zh": "状态未对应时段内的警情", "en": "Status names no call in range"},
}
GROUPS: Mapping[str, Label] = {
    "district": {"zh": "区县", "en": "District"}, "agency": {"zh": "部门", "en": "Agency"},
    "hour": {"zh": "时段", "en": "Hour of day"}}
FIGURES: Mapping[str, Label] = {
    "china_120": {"zh": "120 急救指标", "en": "China 120 EMS"},
    "depart_rate": {"zh": "3 分钟出车率", "en": "Departed within 3 min"},
    "mean_response": {"zh": "平均反应时间", "en": "Average response time"},
    "nfpa_1710": {"zh": "NFPA 1710", "en": "NFPA 1710"},
    "turnout": {"zh": "出车准备达标率", "en": "Turnout compliance"},
    "travel": {"zh": "首车行驶达标率", "en": "First-arriving travel compliance"},
}


def status_timestamp(agency: str, status: str) -> str | None:
    """The unit timestamp a status marks: a stream's own status (``agency`` names the stream
    that reported it) goes through :func:`dispatch.status.from_stream`; an APCO base status
    (a dispatch record) is taken as it is; anything else (or out of service) marks none."""
    if status in STREAM_STATUS.get(agency, {}):
        return STATUS_TIMESTAMP.get(from_stream(agency, status))
    return STATUS_TIMESTAMP.get(status) if status in BASE_STATUSES else None


def _label(vocab: Mapping[str, Label], key: str, fallback: str) -> Label:
    return vocab.get(key) or {"zh": f"{fallback}（{key}）", "en": f"{fallback} ({key})"}


def labelled(report: Mapping[str, Any], districts: Mapping[str, Label]) -> dict[str, Any]:
    """:func:`compute`'s report with every key beside its bilingual label (lists in the
    vocabulary's order), ready for the cockpit: JSON-able, no raw key shown as a label."""
    group_vocab: Mapping[str, Mapping[str, Label]] = {
        "district": districts, "agency": AGENCIES,
        "hour": {str(h): {"zh": f"{h:02d}时", "en": f"{h:02d}:00"} for h in range(24)}}
    intervals = []
    for iv in INTERVALS:
        got = report["intervals"][iv.key]
        item: dict[str, Any] = {
            "key": iv.key, "label": {"zh": iv.zh, "en": iv.en}, "level": iv.level,
            "unit": "s", "unit_label": SECONDS,
            "from": {"key": iv.start, "label": TIMESTAMPS[iv.start]},
            "to": {"key": iv.end, "label": TIMESTAMPS[iv.end]}, **got["all"],
            "excluded": [{"reason": "out_of_order", "label": REASONS["out_of_order"],
                          "count": got["out_of_order"]}] if got["out_of_order"] else []}
        for g, vocab in group_vocab.items():
            item["by_" + g] = {"label": GROUPS[g], "groups": [
                {"key": str(k), "label": _label(vocab, str(k), GROUPS[g]["en"]), **v}
                for k, v in got["by_" + g].items()]}
        intervals.append(item)
    nfpa = report["nfpa_1710"]
    return {
        "counts": {"calls": report["calls"], "unit_responses": report["unit_responses"]},
        "excluded": [{"reason": "unknown_call", "label": REASONS["unknown_call"],
                      "count": report["unknown_call"]}] if report["unknown_call"] else [],
        "intervals": intervals,
        "china_120": {"label": FIGURES["china_120"], "depart_rate": {
            "label": FIGURES["depart_rate"], "limit_s": report["china_120"]["depart_limit_s"],
            **report["china_120"]["depart_rate"]}, "mean_response": {
            "label": FIGURES["mean_response"], "unit_label": SECONDS,
            **report["china_120"]["mean_response"]}},
        "nfpa_1710": {"label": FIGURES["nfpa_1710"], "share_target": nfpa["share_target"], **{
            name: {"label": FIGURES[name], "by_agency": [
                {"key": a, "label": AGENCIES[a], **fig} for a, fig in nfpa[name].items()]}
            for name in ("turnout", "travel")}},
    }
