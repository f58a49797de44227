"""The dashboards as data: which panel shows which SQL, with which words (pure).

Language: Grafana shows a dashboard's text the same to every viewer (it has no per-viewer
translation of dashboard content), so the dashboards speak the project's default language,
zh-CN, in titles, row names and column headers; each panel's description carries the
English title and explanation after ``EN:``. Labels come from the vocabularies the cockpit
uses (:mod:`dispatch.kpi_defs`, :mod:`dispatch.kpi_trend`, :data:`alerting.exports.SEVERITY_WORDS`);
no internal code is a title.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from dispatch.kpi_defs import (AGENCIES, FIGURES, INTERVAL, NFPA_SHARE, NFPA_TRAVEL_S,
                               NFPA_TURNOUT_S, SECONDS)

from . import kpi_sql, ops_sql

S_ZH = SECONDS["zh"]


@dataclass(frozen=True)
class Context:
    """What the SQL needs to know of the installation: the ClickHouse database, the
    district labels (code -> zh) and the roads' free-flow speeds (road id -> km/h)."""

    database: str
    districts: Mapping[str, str] = field(default_factory=dict)
    free_kmh: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Query:
    ref_id: str
    sql: str
    time_series: bool          # the plugin's query type: time series, else table


@dataclass(frozen=True)
class Panel:
    kind: str                  # "timeseries" | "stat" | "table"
    title: str                 # zh-CN
    title_en: str
    about: str                 # zh-CN
    about_en: str
    queries: tuple[Query, ...]
    unit: str = ""             # a Grafana unit id ("s", "percent", "none", ...)
    names: Mapping[str, str] = field(default_factory=dict)   # column -> zh header
    width: int = 12
    height: int = 8
    units: Mapping[str, str] = field(default_factory=dict)   # column -> its own unit
    words: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # column -> value -> zh


@dataclass(frozen=True)
class Row:
    title: str
    panels: tuple[Panel, ...]


@dataclass(frozen=True)
class Board:
    uid: str
    title: str
    title_en: str
    about: str
    about_en: str
    rows: tuple[Row, ...]


STATS = {"n": "样本数", "p50_s": f"P50（{S_ZH}）", "p90_s": f"P90（{S_ZH}）",
         "mean_s": f"平均（{S_ZH}）", "measure": "时段"}
TREND_KEYS = ("processing", "turnout", "travel")


def _q(sql: str, ts: bool, ref: str = "A") -> tuple[Query, ...]:
    return (Query(ref, sql, ts),)


def response_board(c: Context) -> Board:
    db = c.database
    trend = tuple(Query(chr(65 + i), kpi_sql.interval_trend(db, k), True)
                  for i, k in enumerate(TREND_KEYS))
    agencies = {a: AGENCIES[a]["zh"] for a in kpi_sql.AGENCIES}
    figures = {k: FIGURES[k]["zh"] for k in ("turnout", "travel")}
    intervals = "、".join(INTERVAL[k].zh for k in kpi_sql.PANEL_INTERVALS)
    return Board("citycc-response", "城市应急 · 响应时间与达标率",
                 "City emergency response: intervals and compliance",
                 "120 急救与 119 消防的响应时段、120 三分钟出车率与 NFPA 1710 达标率"
                 "（与指挥舱同一套定义）。",
                 "Response intervals of 120 EMS and 119 fire cases, the 120 3-minute "
                 "departure rate and NFPA 1710 compliance, by the cockpit's KPI definitions.", (
        Row("响应时段", (
            Panel("table", "响应时段 P50 / P90", "Response intervals p50 / p90",
                  f"本时段接警的警情：{intervals}（最近秩百分位，单位秒）。",
                  "Cases received in the range: call processing, turnout, travel, call to "
                  "first unit en route, response (nearest-rank percentiles, seconds).",
                  _q(kpi_sql.interval_summary(db), False), "s", STATS, 12, 9,
                  {"n": "none"}),
            Panel("timeseries", "响应时段 P90 走势", "Response interval p90 trend",
                  "按接警时间分段的 " + "、".join(INTERVAL[k].zh for k in TREND_KEYS) + " P90。",
                  "p90 of call processing (call to dispatch), turnout (dispatch to en route) "
                  "and travel (en route to on scene), by time of call.", trend, "s",
                  {f"{k}_p90_s": f"{INTERVAL[k].zh} P90" for k in TREND_KEYS}, 12, 9),
        )),
        Row(f"{FIGURES['china_120']['zh']}与 NFPA 1710", (
            Panel("stat", FIGURES["china_120"]["zh"], FIGURES["china_120"]["en"],
                  "120 警情中首车 3 分钟内出车的比例、警情数与平均反应时间。",
                  "Share of 120 cases whose first unit was en route within 3 minutes, the "
                  "cases measured and their mean response time.",
                  _q(kpi_sql.china_120(db), False), "none",
                  {"depart_3min_rate": f"{FIGURES['depart_rate']['zh']}（%）",
                   "cases": "警情数", "mean_response_s": FIGURES["mean_response"]["zh"]}, 8, 6,
                  {"depart_3min_rate": "percent", "mean_response_s": "s"}),
            Panel("timeseries", f"{FIGURES['depart_rate']['zh']}走势",
                  f"{FIGURES['depart_rate']['en']} trend",
                  "按接警时间分段的 120 三分钟出车率。",
                  "The 120 3-minute departure rate by time of call.",
                  _q(kpi_sql.china_120_trend(db), True), "percent",
                  {"depart_3min_rate": FIGURES["depart_rate"]["zh"]}, 16, 6),
            Panel("table", "NFPA 1710 达标率", "NFPA 1710 compliance",
                  f"出车准备（急救 {NFPA_TURNOUT_S['ems']:g} 秒、消防 {NFPA_TURNOUT_S['fire']:g} 秒）"
                  f"与首车行驶（{NFPA_TRAVEL_S:g} 秒）在限值内的比例；{NFPA_SHARE:.0%} 为达标。",
                  f"Turnout (EMS {NFPA_TURNOUT_S['ems']:g} s, fire {NFPA_TURNOUT_S['fire']:g} s)"
                  f" and first-arriving travel ({NFPA_TRAVEL_S:g} s) within the limit; "
                  f"compliant when {NFPA_SHARE:.0%} are.",
                  _q(kpi_sql.nfpa_1710(db, figures, agencies), False), "none",
                  {"figure": "指标", "agency": "部门", "limit_s": f"限值（{S_ZH}）",
                   "n": "样本数", "within": "限值内", "share_pct": "达标比例（%）",
                   "p90_s": f"P90（{S_ZH}）", "meets": "是否达标"}, 24, 7,
                  {"limit_s": "s", "p90_s": "s", "share_pct": "percent"},
                  {"meets": {"1": "达标", "0": "未达标"}}),
        )),
    ))


def operations_board(c: Context) -> Board:
    db, d = c.database, c.districts
    return Board("citycc-operations", "城市运行 · 告警、传感器与道路",
                 "City operations: alerts, sensors and roads",
                 "告警量、确认与处置时长、生命线传感器健康、"
                 "道路拥堵与危化品车辆暴露。",
                 "Alert volumes, time to acknowledge and to resolve, lifeline sensor "
                 "health, road congestion and hazardous-goods exposure.", (
        Row("告警", (
            Panel("timeseries", "告警量（按级别）", "Alerts begun by severity",
                  "各时段新发生的告警（首次触发与再次触发），按级别。",
                  "Alerts begun (fire and refire) per interval, by severity.",
                  _q(ops_sql.alerts_by_severity(db), True), "none",
                  {"alerts": "${__field.labels.severity_label}"}, 12, 8),
            Panel("table", "告警量（按类型）", "Alerts begun by kind",
                  "本时段新发生的告警，按类型与级别。",
                  "Alerts begun in the range by kind and severity.",
                  _q(ops_sql.alerts_by_kind(db), False), "none",
                  {"kind_label": "告警类型", "severity_label": "级别", "alerts": "告警"}, 12, 8),
            Panel("stat", "平均确认与处置时长", "MTTA and MTTR",
                  "本时段发生的告警从触发到首次确认（MTTA）、到解决（MTTR）的平均时长，"
                  "事件从建立到解决的平均时长。",
                  "Alerts begun in the range: mean time from firing to the first "
                  "acknowledgement (MTTA) and to resolution (MTTR); incidents opened in "
                  "the range: mean time to resolve.",
                  (Query("A", ops_sql.alert_mtta_mttr(db), False),
                   Query("B", ops_sql.incident_mttr(db), False)), "s",
                  {"occurrences": "告警数", "mtta_s": "告警平均确认时长",
                   "mttr_s": "告警平均解决时长",
                   "incidents": "事件数", "incident_mttr_s": "事件平均处置时长"}, 24, 5,
                  {"occurrences": "none", "incidents": "none"}),
        )),
        Row("传感器与道路", (
            Panel("table", "生命线传感器健康", "Lifeline sensor health",
                  "各区县本时段上报的传感器数，以及发生告警的传感器数"
                  "（报警、无数据、数值卡滞、数据异常）。",
                  "Per district: sensors heard of in the range, and sensors with an alert "
                  "begun, by condition (alarm, silent, stuck, bad data).",
                  _q(ops_sql.sensor_health(db, d), False), "none",
                  {"district_label": "区县", "sensors": "上报传感器", "alarm": "报警",
                   "silent": "无数据", "stuck": "数值卡滞", "bad_data": "数据异常"}, 12, 8),
            Panel("timeseries", "拥堵路段占比", "Congested road segments",
                  "各时段上报的路段中出现拥堵或严重拥堵的比例。",
                  "Share of the road segments heard of that were congested or jammed.",
                  _q(ops_sql.congestion_trend(db, c.free_kmh), True), "percent",
                  {"congested_pct": "拥堵路段占比"}, 12, 8),
            Panel("table", "各区县道路拥堵", "Congestion by district",
                  "各区县路段数、平均车速与出现拥堵、严重拥堵的路段数。",
                  "Per district: segments, mean speed, segments congested and jammed.",
                  _q(ops_sql.congestion_by_district(db, c.free_kmh, d), False), "none",
                  {"district_label": "区县", "segments": "路段",
                   "mean_speed_kmh": "平均车速（km/h）",
                   "congested": "拥堵路段", "jammed": "严重拥堵路段"}, 24, 8),
        )),
        Row("危化品", (
            Panel("table", "危化品车辆暴露", "Hazardous-goods exposure",
                  "各区县、各危险类别的危化品车辆数与车辆·分钟数。",
                  "Per district and hazard class: hazardous-goods vehicles and "
                  "vehicle-minutes present.",
                  _q(ops_sql.hazmat_exposure(db, d), False), "none",
                  {"district_label": "区县", "hazard_class": "危险类别", "vehicles": "车辆",
                   "vehicle_minutes": "车辆·分钟"}, 12, 8),
            Panel("timeseries", "在途危化品车辆", "Hazardous-goods vehicles on the road",
                  "各时段有定位的危化品车辆数。",
                  "Hazardous-goods vehicles with a position fix.",
                  _q(ops_sql.hazmat_trend(db), True), "none", {"vehicles": "车辆"}, 12, 8),
        )),
    ))


def boards(c: Context) -> list[Board]:
    return [response_board(c), operations_board(c)]
