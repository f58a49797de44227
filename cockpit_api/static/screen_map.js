"use strict";
// The big screen's map (window.CityMap from /dist/citymap.js, built by `make web`): the
// basemap from /basemap.json once, then the live layers from the screen's model on every
// render - incidents by severity, units by status, lifeline sensors in alarm, hazmat
// vehicles, congestion - and the open incidents per district as the districts' fill.
// Clicking a district drills into it (screen.js drill).
let cityMap = null;
function mapMessage(key) {
  $("map-msg").hidden = !key;
  $("map-msg").textContent = key ? t(key) : "";
  $("map-msg").dataset.key = key ?? "";
}
function mapStart() {
  if (!window.CityMap) { mapMessage("mapBuildMissing"); return; }
  cityMap = window.CityMap.create($("map"), { theme: state.theme, lang: state.lang, onDistrict: drill,
    countText: (n) => t("scrIncidentsN", { n }) });
  window.screenMap = cityMap;  // for the browser tests and a curious operator's console
  fetch("/basemap.json", { credentials: "same-origin" })
    .then((r) => (r.ok ? r.json() : Promise.reject(new Error(`basemap: HTTP ${r.status}`))))
    .then((fc) => { cityMap.setBasemap(fc); renderMap(); })
    .catch((e) => { console.warn(e); mapMessage("basemapMissing"); });
  new ResizeObserver(() => cityMap.resize()).observe($("map"));
}
function mapFocus(code) { cityMap?.focusDistrict(code); }
function mapTheme() { cityMap?.setTheme(state.theme); }
function renderLegend() {
  const groups = [["lg_incident", SEVERITIES.map((s) => [`sev-${s}`, t("sev_" + s)])],
    ["lg_unit", ["available", "en_route", "on_scene", "transporting"].map((s) => [`st-${s}`, word("st_", s)])],
    ["lg_congestion", [1, 2, 3].map((n) => [`cg-${n}`, t("cg_" + n)])],
    [null, [["lg-sensor", t("lg_sensor")], ["lg-hazmat", t("lg_hazmat")], ["lg-geofence", t("lg_geofence")]]]];
  const out = [];
  for (const [title, items] of groups) {
    const g = el("div", "lg-group");
    if (title) g.append(el("span", "lg-title", t(title)));
    for (const [cls, label] of items) {
      const i = el("span", `lg-item ${cls}`);
      i.append(el("i"), el("span", null, label));
      g.append(i);
    }
    out.push(g);
  }
  $("legend").replaceChildren(...out);
}
function renderMap() {
  renderLegend();
  if (!cityMap) return;
  cityMap.setLang(state.lang);
  const incidents = {}, perDistrict = {};
  for (const [id, i] of state.incidents) {
    incidents[id] = { lat: i.lat, lon: i.lon, severity: sevOf(i), district: i.district ?? "" };
    if (str(i.district)) perDistrict[i.district] = (perDistrict[i.district] ?? 0) + 1;
  }
  cityMap.setLayer("incidents", incidents);
  cityMap.setDistrictCounts(perDistrict);
  const units = {};
  for (const [id, u] of state.units) units[id] = { lat: u.lat, lon: u.lon, status: u.status ?? "", agency: u.agency ?? "" };
  cityMap.setLayer("units", units);
  const sensors = {};
  for (const a of state.alerts.values()) {
    if (a.stream === "lifeline" && a.status !== "resolved") sensors[a.fingerprint] = { lat: a.lat, lon: a.lon, severity: sevOf(a) };
  }
  cityMap.setLayer("sensors", sensors);
  cityMap.setLayer("hazmat", state.layers.hazmat);
  cityMap.setLayer("congestion", state.layers.congestion);
}
mapStart();
