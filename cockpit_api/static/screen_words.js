"use strict";
// The big screen's own words (screen*.js), zh-CN and en, added to the one vocabulary
// (words.js; the unit statuses st_ and agencies ua_ come from dispatch_words.js).
Object.assign(I18N.zh, {
  scrCity: "全市", scrOpenByType: "处置中事件（按类型）", scrDepart: "120 三分钟出车率（今日）",
  scrP90: "反应时间 90% 分位（今日）", scrSensors: "城市生命线监测", scrUnitsAvail: "各区县可用力量",
  scrTrend: "近 6 小时趋势", scrLatest: "最新告警与事件", scrNoIncidents: "暂无处置中事件",
  scrNoAlerts: "暂无告警", scrIncidentsN: "{n} 起", scrUnitsN: "{a} / {n} 辆", scrSensorsAlarm: "{n} 个监测点报警",
  scrSensorsOk: "监测点均正常", scrSec: "{s} 秒", scrMin: "{m} 分钟", scrPct: "{p}%",
  scrShareOf: "{k} / {n} 起警情", scrNoData: "暂无数据", scrKpiPending: "指标计算中…",
  scrKpiStale: "指标未更新（数据仓库不可用）", scrKpiCityOnly: "区县指标暂缺，显示全市",
  scrCases: "今日 {n} 起", scrAgo: "{s} 秒前", scrAgoMin: "{m} 分钟前", scrNoMessage: "尚无消息",
  scrLastMsg: "最后消息 {ago}", scrStaleAmber: "数据延迟", scrStaleRed: "数据中断",
  theme_day: "日间", theme_night: "夜间", scrThemeTo: "切换到{name}模式",
  trendLoading: "趋势数据加载中…", trendNone: "暂无趋势数据", trendUnavailable: "趋势数据暂不可用",
  trendForbidden: "当前账号无权查看趋势", basemapMissing: "底图暂不可用，地图仅显示实时图层",
  mapBuildMissing: "地图组件未构建（请运行 make web）", lg_incident: "事件", lg_unit: "力量",
  lg_sensor: "报警监测点", lg_hazmat: "危化品车辆", lg_congestion: "拥堵", lg_geofence: "危化品管控区", sensorsN: "{n} 个",
  tk_incident: "事件", tk_alert: "告警", catUnknown: "其他事件",
  cg_1: "缓行", cg_2: "拥堵", cg_3: "严重拥堵", sh_silent: "无数据（静默）", sh_stuck: "读数卡滞", sh_bad_data: "数据异常",
});
Object.assign(I18N.en, {
  scrCity: "Whole city", scrOpenByType: "Open incidents by type", scrDepart: "120 departures within 3 min (today)",
  scrP90: "Response time, 90th percentile (today)", scrSensors: "Lifeline sensors", scrUnitsAvail: "Units available by district",
  scrTrend: "Last 6 hours", scrLatest: "Latest alerts and incidents", scrNoIncidents: "No open incidents",
  scrNoAlerts: "No alerts", scrIncidentsN: "{n}", scrUnitsN: "{a} / {n} units", scrSensorsAlarm: "Sensors in alarm: {n}",
  scrSensorsOk: "All sensors normal", scrSec: "{s} s", scrMin: "{m} min", scrPct: "{p}%",
  scrShareOf: "{k} of {n} calls", scrNoData: "no data", scrKpiPending: "Computing KPIs…",
  scrKpiStale: "KPIs not refreshed (warehouse unavailable)", scrKpiCityOnly: "No district figures: whole city shown",
  scrCases: "{n} cases today", scrAgo: "{s} s ago", scrAgoMin: "{m} min ago", scrNoMessage: "no message yet",
  scrLastMsg: "last message {ago}", scrStaleAmber: "data delayed", scrStaleRed: "data stopped",
  theme_day: "Day", theme_night: "Night", scrThemeTo: "Switch to {name} mode",
  trendLoading: "Loading trends…", trendNone: "No trend data yet", trendUnavailable: "Trends unavailable",
  trendForbidden: "This account may not see trends", basemapMissing: "Basemap unavailable: live layers only",
  mapBuildMissing: "Map component not built (run make web)", lg_incident: "Incident", lg_unit: "Unit",
  lg_sensor: "Sensor in alarm", lg_hazmat: "Hazmat vehicle", lg_congestion: "Congestion", lg_geofence: "Hazmat geofence", sensorsN: "{n}",
  tk_incident: "Incident", tk_alert: "Alert", catUnknown: "Other incident",
  cg_1: "Slow", cg_2: "Congested", cg_3: "Jammed", sh_silent: "Silent (no data)", sh_stuck: "Stuck readings", sh_bad_data: "Bad data",
});
