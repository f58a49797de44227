"use strict";
// The big screen's KPI tiles and its ticker (screen.js: state, words, helpers). Every figure
// is shown with its unit and the precision the reading has; a missing figure says "no data".
const nameIn = (x, zh, en) => str(state.lang === "en" ? x?.[en] : x?.[zh]) ?? str(x?.[zh]) ?? null;
const districtName = (x) => nameIn(x, "district_zh", "district_en") ?? placeName(x?.district) ?? t("unknown");
function rowsOf(box, rows, empty) {
  box.replaceChildren(...(rows.length ? rows : [el("div", "empty", empty)]));
}
function row(label, value, share, cls) {
  const r = el("div", "row" + (cls ? ` ${cls}` : ""));
  r.append(el("span", "k", label), el("span", "v", value));
  if (typeof share === "number") {
    const bar = el("span", "bar"), fill = el("i");
    fill.style.width = `${Math.round(Math.max(0, Math.min(1, share)) * 100)}%`;
    bar.append(fill); r.append(bar);
  }
  return r;
}
// the KPI scope to show: the drilled district's when computed, else the city's
function kpiScope() {
  const scopes = state.kpis?.scopes ?? [];
  const city = scopes.find((s) => !s.agency && !s.district) ?? scopes.find((s) => !s.district) ?? null;
  if (!state.district) return { scope: city, cityOnly: false };
  const own = scopes.find((s) => s.district === state.district && s.figures);
  return own ? { scope: own, cityOnly: false } : { scope: city, cityOnly: !!city };
}
function renderKpiTiles() {
  const { scope, cityOnly } = kpiScope();
  const f = scope?.figures;
  const pending = !state.kpis || (scope && !f);
  const note = (extra) => [state.kpis?.stale ? t("scrKpiStale") : null, cityOnly ? t("scrKpiCityOnly") : null, extra]
    .filter(Boolean).join(" · ");
  const dr = f?.china_120?.depart_rate;
  $("t-depart-value").textContent = typeof dr?.share === "number"
    ? t("scrPct", { p: (dr.share * 100).toFixed(1) }) : pending ? t("scrKpiPending") : t("scrNoData");
  $("t-depart-note").textContent = note(dr?.n ? t("scrShareOf", { k: dr.within ?? 0, n: dr.n }) : null);
  const resp = (f?.intervals ?? []).find((i) => i.key === "response");
  $("t-p90-value").textContent = typeof resp?.p90 === "number"
    ? t("scrMin", { m: (resp.p90 / 60).toFixed(1) }) : pending ? t("scrKpiPending") : t("scrNoData");
  $("t-p90-note").textContent = note(typeof f?.counts?.calls === "number" ? t("scrCases", { n: f.counts.calls }) : null);
  $("t-depart-value").classList.toggle("muted", typeof dr?.share !== "number");
  $("t-p90-value").classList.toggle("muted", typeof resp?.p90 !== "number");
}
function renderIncidentTile() {
  const open = [...state.incidents.values()].filter(inScope);
  $("t-inc-total").textContent = t("scrIncidentsN", { n: open.length });
  const byType = new Map();
  for (const i of open) {
    const name = nameIn(i, "category_zh", "category_en") ?? t("catUnknown");
    const e = byType.get(name) ?? { n: 0, sev: 3 };
    e.n++; e.sev = Math.min(e.sev, SEVERITIES.indexOf(sevOf(i)));
    byType.set(name, e);
  }
  const rows = [...byType].sort((a, b) => b[1].n - a[1].n || a[1].sev - b[1].sev).slice(0, 6)
    .map(([name, e]) => row(name, t("scrIncidentsN", { n: e.n }), open.length ? e.n / open.length : 0, `sev-${SEVERITIES[e.sev]}`));
  rowsOf($("t-inc-rows"), rows, t("scrNoIncidents"));
}
// Sensor health: the cockpit's counts of lifeline sensors in alarm, silent, stuck or sending
// bad data (the sensor_health message, cockpit_api/sensor_health.py) when it sends them;
// otherwise counted here from the firing lifeline alerts it holds, by what they say.
const HEALTH = ["alarm", "silent", "stuck", "bad_data"];
function renderSensorTile() {
  const firing = [...state.alerts.values()].filter((a) => a.stream === "lifeline" && a.status !== "resolved" && inScope(a));
  const h = state.health && typeof state.health === "object"
    ? (state.district ? state.health.districts?.[state.district] ?? {} : state.health.city ?? {}) : null;
  const alarm = h ? Number(h.alarm) || 0 : new Set(firing.map((a) => a.entity_id ?? a.fingerprint)).size;
  $("t-sensor-value").textContent = alarm ? t("scrSensorsAlarm", { n: alarm }) : t("scrSensorsOk");
  $("t-sensor-value").classList.toggle("alarm", alarm > 0);
  let rows;
  if (h) {
    rows = HEALTH.slice(1).map((c) => row(t("sh_" + c), t("sensorsN", { n: Number(h[c]) || 0 }), null, Number(h[c]) ? "warn" : ""));
  } else {
    const byKind = new Map();
    for (const a of firing) {
      const name = nameIn(a, "title_zh", "title_en") ?? t("unknown");
      byKind.set(name, (byKind.get(name) ?? 0) + 1);
    }
    rows = [...byKind].sort((a, b) => b[1] - a[1]).slice(0, 3).map(([k, n]) => row(k, t("sensorsN", { n })));
  }
  const feed = state.stats?.feed;
  if (feed) rows.push(row(t("feed"), word("feed_", feed), null, feed === "connected" ? "ok" : "warn"));
  rowsOf($("t-sensor-rows"), rows, t("scrSensorsOk"));
}
function renderUnitTile() {
  const groups = new Map();  // district (or, drilled, agency) -> {a, n}
  for (const u of state.units.values()) {
    if (!inScope(u) || !str(u.unit_id) || u.status === undefined) continue;
    const key = state.district ? u.agency ?? "" : u.district ?? "";
    const g = groups.get(key) ?? { a: 0, n: 0 };
    g.n++; if (u.status === "available") g.a++;
    groups.set(key, g);
  }
  const label = (key) => (state.district ? word("ua_", key) : placeName(key) ?? t("unknown"));
  const rows = [...groups].sort((a, b) => label(a[0]).localeCompare(label(b[0]), state.lang === "en" ? "en" : "zh-CN"))
    .map(([key, g]) => {
      const r = row(label(key), t("scrUnitsN", { a: g.a, n: g.n }), g.n ? g.a / g.n : 0, g.a ? "" : "sev-critical");
      if (!state.district && str(key)) { r.dataset.code = key; r.classList.add("drill"); }
      return r;
    });
  rowsOf($("t-unit-rows"), rows, t("scrNoData"));
}
// a district's row drills into it, as its outline on the map does
$("t-unit-rows").addEventListener("click", (ev) => {
  const code = ev.target.closest(".row[data-code]")?.dataset.code;
  if (code) drill(code);
});
function renderTiles() { renderIncidentTile(); renderKpiTiles(); renderSensorTile(); renderUnitTile(); }

// --- the ticker: the latest alerts and incidents, newest first --------------------------------
const MAX_TICKER = 8;
function renderTicker() {
  const items = [];
  for (const i of state.incidents.values()) {
    if (!inScope(i)) continue;
    items.push({ at: i.opened_ms ?? 0, tag: "tk_incident", sev: sevOf(i), id: i.incident_id,
      title: nameIn(i, "category_zh", "category_en") ?? t("catUnknown"), where: districtName(i) });
  }
  for (const a of state.alerts.values()) {
    if (!inScope(a) || a.status === "resolved") continue;
    const at = Date.parse(a.event_time ?? a.detected_at);
    items.push({ at: isNaN(at) ? 0 : at, tag: "tk_alert", sev: sevOf(a), id: a.fingerprint,
      title: nameIn(a, "title_zh", "title_en") ?? t("unknown"), where: districtName(a) });
  }
  items.sort((a, b) => b.at - a.at);
  const out = items.slice(0, MAX_TICKER).map((x) => {
    const d = el("div", `item sev-${x.sev}`);
    d.dataset.id = x.id;
    d.append(el("span", "time", x.at ? shanghai(new Date(x.at)).hm : "—"), el("span", "tag", t(x.tag)),
      el("span", "sev", t("sev_" + x.sev)), el("span", "title", x.title), el("span", "where", x.where));
    return d;
  });
  rowsOf($("ticker"), out, t("scrNoAlerts"));
}
