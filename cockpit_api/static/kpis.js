"use strict";
// The KPI panel (cockpit_api/kpi_view.py): today's response-time figures of the scopes this
// client may see (the city; a dispatcher's agency; a user's districts), as computed by
// warehouse.kpi_queries.kpi_summary from the dispatch.kpis definitions. Every figure carries
// its own {zh, en} label from that module; the panel's own words are here. Loaded after
// cockpit.js (its state, vocabulary and helpers) and dispatch_words.js (agency words ua_).
Object.assign(I18N.zh, {
  kpiTitle: "今日响应指标", kpiStale: "指标暂未更新（数据仓库不可用），显示上次结果",
  kpiPending: "指标计算中…", kpiNone: "本部门无响应时间指标", kpiCity: "全市",
  kpiCases: "警情", kpiUnits: "出动车次", kpiP90: "{what}（90% 分位）", kpiNoData: "暂无数据",
  kpiSec: "{s} 秒", kpiShareOf: "{p}（{k}/{n}）", kpiUpdated: "更新于 {t}",
});
Object.assign(I18N.en, {
  kpiTitle: "Today's response KPIs", kpiStale: "KPIs not refreshed (warehouse unavailable): last figures shown",
  kpiPending: "Computing KPIs…", kpiNone: "No response-time KPIs for your agency", kpiCity: "Whole city",
  kpiCases: "Cases", kpiUnits: "Unit responses", kpiP90: "{what} (90th percentile)", kpiNoData: "no data",
  kpiSec: "{s} s", kpiShareOf: "{p} ({k}/{n})", kpiUpdated: "updated {t}",
});
const kpi = { part: null };
function kpiSet(part) { kpi.part = part && typeof part === "object" ? part : null; }
const kpiLabel = (l) => (l && typeof l === "object" ? str(l[state.lang]) ?? str(l.zh) : null) ?? t("unknown");
const kpiSecs = (v) => (typeof v === "number" ? t("kpiSec", { s: Math.round(v) }) : t("kpiNoData"));
const kpiShare = (f) => (f && typeof f.share === "number"
  ? t("kpiShareOf", { p: `${(f.share * 100).toFixed(1)}%`, k: f.within, n: f.n }) : t("kpiNoData"));
function kpiScopeName(s) {
  const parts = [];
  if (str(s.agency)) parts.push(("ua_" + s.agency) in I18N.zh ? t("ua_" + s.agency) : t("unknown"));
  if (str(s.district)) parts.push(placeName(s.district) ?? t("unknown"));
  return parts.length ? parts.join(" · ") : t("kpiCity");
}
function kpiRow(label, value, cls) {
  const d = el("div", cls ?? null);
  d.append(el("span", null, label), el("span", null, value));
  return d;
}
function kpiFigures(f) {
  const rows = [kpiRow(t("kpiCases"), String(f.counts?.calls ?? 0)),
    kpiRow(t("kpiUnits"), String(f.counts?.unit_responses ?? 0))];
  const c = f.china_120 ?? {};
  rows.push(kpiRow(kpiLabel(c.depart_rate?.label), kpiShare(c.depart_rate), "k-depart"));
  rows.push(kpiRow(kpiLabel(c.mean_response?.label), kpiSecs(c.mean_response?.mean), "k-mean"));
  const resp = (f.intervals ?? []).find((i) => i.key === "response");
  if (resp) rows.push(kpiRow(t("kpiP90", { what: kpiLabel(resp.label) }), kpiSecs(resp.p90), "k-p90"));
  for (const name of ["turnout", "travel"]) {
    const part = f.nfpa_1710?.[name];
    for (const a of part?.by_agency ?? []) {
      rows.push(kpiRow(`${kpiLabel(f.nfpa_1710.label)} ${kpiLabel(part.label)} · ${kpiLabel(a.label)}`,
        `${kpiShare(a)} · P90 ${kpiSecs(a.p90)}`, "k-nfpa"));
    }
  }
  return rows;
}
function renderKpis() {
  const box = $("kpi-figures");
  if (!box) return;
  const p = kpi.part;
  const out = [];
  if (!p) out.push(el("div", "empty", t("kpiPending")));
  else {
    if (p.stale) out.push(el("div", "k-stale", t("kpiStale")));
    if (!(p.scopes ?? []).length) out.push(el("div", "empty", t("kpiNone")));
    for (const s of p.scopes ?? []) {
      out.push(el("div", "k-scope", kpiScopeName(s)));
      if (s.figures) out.push(...kpiFigures(s.figures));
      else out.push(el("div", "empty", t("kpiPending")));
    }
    if (str(p.updated)) out.push(el("div", "sub", t("kpiUpdated", { t: clockMs(Date.parse(p.updated)) })));
  }
  box.replaceChildren(...out);
}
