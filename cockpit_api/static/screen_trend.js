"use strict";
// The big screen's trend charts (window.echarts from /dist/charts.js): hourly buckets of the
// last hours from GET /api/kpi/trend (the signed-in token as a Bearer credential), the
// series grouped by unit - counts in one chart, times in the other. Until the endpoint
// answers, the panel says so honestly instead of drawing an empty chart.
const TREND_HOURS = 6, TREND_EVERY_MS = 60_000;
const trend = { data: null, status: "trendLoading", timer: null, charts: {} };
function trendRefresh() {
  clearTimeout(trend.timer);
  trend.timer = setTimeout(trendRefresh, TREND_EVERY_MS);
  const tok = (() => { try { return sessionStorage.getItem("citycc.token"); } catch (e) { return null; } })();
  if (!tok) return;
  const q = `hours=${TREND_HOURS}` + (state.district ? `&district=${encodeURIComponent(state.district)}` : "");
  fetch(`/api/kpi/trend?${q}`, { headers: { Authorization: `Bearer ${tok}` } })
    .then(async (r) => {
      if (r.ok) { const body = await r.json(); trend.data = body; trend.status = trendHasData(body) ? null : "trendNone"; }
      else { trend.data = null; trend.status = r.status === 403 || r.status === 401 ? "trendForbidden" : "trendUnavailable"; }
    })
    .catch(() => { trend.data = null; trend.status = "trendUnavailable"; })
    .finally(trendRender);
}
function trendHasData(body) {
  return Array.isArray(body?.hours) && body.hours.length > 0 && body.series && typeof body.series === "object" &&
    Object.values(body.series).some((s) => Array.isArray(s?.values) && s.values.some((v) => typeof v === "number"));
}
const rem = () => parseFloat(getComputedStyle(document.documentElement).fontSize) || 16;
const cssVar = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();
const pick = (x) => (x && typeof x === "object" ? str(x[state.lang]) ?? str(x.zh) : null);
function trendGroups() {
  const groups = new Map();  // unit word -> series
  for (const s of Object.values(trend.data?.series ?? {})) {
    if (!Array.isArray(s?.values)) continue;
    const unit = pick(s.unit) ?? "";
    if (!groups.has(unit)) groups.set(unit, []);
    groups.get(unit).push(s);
  }
  return [...groups].slice(0, 2);
}
function trendRender() {
  const msg = $("trend-msg");
  msg.hidden = !trend.status;
  msg.textContent = trend.status ? t(trend.status) : "";
  msg.dataset.key = trend.status ?? "";
  const boxes = [$("chart-counts"), $("chart-times")];
  const groups = trend.status || !window.echarts ? [] : trendGroups();
  // every box shown or hidden first: a chart sized while its neighbour was still hidden
  // would keep the whole panel's height and overlap it
  boxes.forEach((box, n) => { box.hidden = !groups[n]; });
  boxes.forEach((box, n) => {
    if (!groups[n]) { trend.charts[n]?.dispose(); delete trend.charts[n]; return; }
    const chart = trend.charts[n] ?? (trend.charts[n] = window.echarts.init(box, null, { renderer: "canvas" }));
    chart.setOption(trendOption(groups[n][0], groups[n][1]), true);
    chart.resize();
  });
}
function trendOption(unit, series) {
  const f = rem() * 0.85, text = cssVar("--text") || "#dfe8f5", grid = cssVar("--line") || "#24405f";
  const hours = (trend.data.hours ?? []).map((h) => { const d = new Date(h); return isNaN(d) ? "—" : shanghai(d).hm; });
  return {
    textStyle: { fontSize: f, color: text }, animation: false,
    legend: { top: 0, textStyle: { fontSize: f, color: text }, itemWidth: f * 1.2, itemHeight: f * 0.7 },
    grid: { left: f * 3.4, right: f, top: f * 2.4, bottom: f * 1.8 },
    xAxis: { type: "category", data: hours, axisLabel: { fontSize: f, color: text }, axisLine: { lineStyle: { color: grid } } },
    yAxis: { type: "value", name: unit, nameTextStyle: { fontSize: f, color: text }, minInterval: 1,
      axisLabel: { fontSize: f, color: text }, splitLine: { lineStyle: { color: grid } } },
    series: series.map((s) => ({ type: "line", name: pick(s.label) ?? t("unknown"), smooth: false, showSymbol: true, symbolSize: f * 0.4,
      lineStyle: { width: f / 6 }, data: s.values.map((v) => (typeof v === "number" ? v : null)) })),
  };
}
window.addEventListener("resize", () => { for (const c of Object.values(trend.charts)) c.resize(); trendRender(); });
trendRender();
