"use strict";
// The big screen (/screen): a 16:9 kiosk page - the city map in the centre, KPI tiles, trend
// charts, the latest alerts and incidents - fed by the cockpit's websocket. It signs in with
// session.js (the console's sign-in and socket code), so this file provides what session.js
// calls: state, $, t, ws, onMessage, render, renderConn, renderWho, tick, dispatchClear.
// Unknown message types and fields are ignored. Panels: screen_tiles.js, screen_map.js,
// screen_trend.js; words: words.js, dispatch_words.js, screen_words.js.
const SEVERITIES = ["critical", "major", "minor", "info"];
const STALE_AMBER_S = 10, STALE_RED_S = 30, MAX_ALERTS = 300;
function stored(key, value) {
  try { return value === undefined ? localStorage.getItem(key) : localStorage.setItem(key, value); }
  catch (e) { return null; }
}
const state = { lang: stored("citycc.lang") === "en" ? "en" : "zh",
  theme: stored("citycc.theme") === "day" ? "day" : "night",
  alerts: new Map(), life: new Map(), incidents: new Map(), notes: [], places: {},
  silences: new Map(), silenced: new Map(), pending: new Map(),  // (cleared by session.js)
  units: new Map(), layers: { hazmat: {}, congestion: {} }, health: null, kpis: null, stats: null,
  district: null, session: null, conn: "connecting", retryAt: 0, lastMsgMs: 0 };
let ws = null;

const $ = (id) => document.getElementById(id);
const t = (key, vars) => {
  let s = I18N[state.lang][key] ?? I18N.zh[key] ?? I18N[state.lang].unknown;
  for (const [k, v] of Object.entries(vars ?? {})) s = s.replace(`{${k}}`, v);
  return s;
};
// a word for a code with a prefix (st_available), or "unknown": never the code itself
const word = (prefix, code) => (typeof code === "string" && (prefix + code) in I18N.zh ? t(prefix + code) : t("unknown"));
const str = (v) => (typeof v === "string" && v.trim() ? v : null);
function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text != null) e.textContent = String(text);
  return e;
}
const TIME_FMT = new Intl.DateTimeFormat("en-GB", { timeZone: "Asia/Shanghai", year: "numeric",
  month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" });
function shanghai(date) {
  const p = Object.fromEntries(TIME_FMT.formatToParts(date).map((x) => [x.type, x.value]));
  return { date: `${p.year}-${p.month}-${p.day}`, time: `${p.hour}:${p.minute}:${p.second}`,
    hm: `${p.hour}:${p.minute}` };
}
function placeName(code) {
  const d = (state.places.districts ?? {})[code];
  return d ? (state.lang === "en" ? d.en : d.zh) : null;
}
const sevOf = (x) => (SEVERITIES.includes(x?.severity) ? x.severity : "info");
const inScope = (x) => !state.district || x?.district === state.district;

// --- the model ---------------------------------------------------------------------------
function upsertAlert(a) {
  if (!a || typeof a !== "object" || !str(a.fingerprint)) return;
  state.alerts.delete(a.fingerprint);
  state.alerts.set(a.fingerprint, a);  // newest last
  while (state.alerts.size > MAX_ALERTS) state.alerts.delete(state.alerts.keys().next().value);
}
function setIncident(inc) {
  if (!inc || !str(inc.incident_id)) return;
  if (inc.status === "open") state.incidents.set(inc.incident_id, inc);
  else state.incidents.delete(inc.incident_id);
}
function setUnit(u) { if (u && str(u.unit_id)) state.units.set(u.unit_id, { ...state.units.get(u.unit_id), ...u }); }
// a positions or congestion message's items: {id: {lat, lon, at_ms, ...}} (newest wins; an
// item null left the layer - a unit stays on the board, only its position is not news)
function setPositions(layer, items) {
  if (!items || typeof items !== "object") return;
  for (const [id, p] of Object.entries(items)) {
    if (layer === "units") { if (p && typeof p === "object") setUnit({ unit_id: id, ...p }); continue; }
    const held = state.layers[layer];
    if (!held) return;
    if (p && typeof p === "object") held[id] = { ...held[id], ...p }; else delete held[id];
  }
}
function dispatchClear() { state.units.clear(); state.layers = { hazmat: {}, congestion: {} }; state.health = null; }
function onSnapshot(msg) {
  state.alerts.clear(); state.incidents.clear(); dispatchClear();
  for (const a of [...(msg.alerts ?? [])].reverse()) upsertAlert(a);
  for (const i of msg.incidents ?? []) setIncident(i);
  state.places = msg.places && typeof msg.places === "object" ? msg.places : {};
  for (const u of msg.dispatch?.units ?? []) setUnit(u);
  const layers = msg.layers ?? {};
  for (const name of ["units", "hazmat", "congestion"]) setPositions(name, layers[name]);
  state.health = layers.sensor_health ?? null;
  state.kpis = msg.kpis ?? null;
  state.replay = msg.replay ?? null;
}
// a replay or an exercise (cockpit_api/replay): marked in the header with the session's time
function renderReplayBadge() {
  const r = state.replay, badge = $("replay-badge");
  badge.hidden = !r;
  if (!r) return;
  const drill = r.mode === "exercise";
  badge.dataset.mode = drill ? "exercise" : "replay";
  const at = shanghai(new Date(r.at_ms));
  badge.textContent = `${t(drill ? "exerciseMark" : "replayMark")} · ${at.date} ${at.time}`;
}
function onMessage(ev) {
  let msg;
  try { msg = JSON.parse(ev.data); } catch (e) { console.warn("bad message", e); return; }
  if (!msg || typeof msg !== "object") return;
  state.lastMsgMs = Date.now();
  switch (msg.type) {
    case "snapshot": onSnapshot(msg); break;
    case "alert": upsertAlert(msg.alert); break;
    case "incident": setIncident(msg.incident); break;
    case "dispatch": setUnit(msg.unit); break;
    case "positions": setPositions(msg.layer, msg.items); break;
    case "congestion": setPositions("congestion", msg.items); break;
    case "sensor_health": state.health = msg.health ?? null; break;
    case "kpis": state.kpis = msg.kpis ?? null; break;
    case "replay": state.replay = msg; break;
    case "stats": state.stats = msg; renderConn(); return;
    case "session": onSession(msg); trendRefresh(); break;
    case "auth_error": onAuthError(msg); return;
    default: renderConn(); return;  // a message this page does not show: still a sign of life
  }
  schedule();
}

// --- rendering ---------------------------------------------------------------------------
let scheduled = false;
function schedule() {
  if (scheduled) return;
  scheduled = true;
  requestAnimationFrame(() => { scheduled = false; render(); });
}
function renderStatic() {
  document.documentElement.lang = state.lang === "en" ? "en" : "zh-CN";
  document.documentElement.dataset.theme = state.theme;
  document.title = t("docTitle");
  for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
  const city = state.places.city ? state.places.city[state.lang] ?? state.places.city.zh : t("city");
  $("subtitle").textContent = t("subtitle", { city });
  $("lang-toggle").textContent = t("toggle");
  const other = state.theme === "night" ? "day" : "night";
  $("theme-toggle").textContent = t("theme_" + other);
  $("theme-toggle").title = t("scrThemeTo", { name: t("theme_" + other) });
  const d = state.district;
  $("crumb-city").classList.toggle("here", !d);
  $("crumb-sep").hidden = !d;
  $("crumb-district").textContent = d ? placeName(d) ?? t("unknown") : "";
}
function ageText(s) { return s < 60 ? t("scrAgo", { s }) : t("scrAgoMin", { m: Math.floor(s / 60) }); }
function renderConn() {
  const c = $("conn");
  c.dataset.state = state.conn;
  const secs = Math.max(0, Math.ceil((state.retryAt - Date.now()) / 1000));
  $("conn-text").textContent = t(state.conn, { s: secs });
  const age = state.lastMsgMs ? Math.floor((Date.now() - state.lastMsgMs) / 1000) : null;
  const stale = state.conn !== "open" || age === null || age >= STALE_RED_S ? "red" : age >= STALE_AMBER_S ? "amber" : "fresh";
  c.dataset.stale = state.conn === "signedOut" ? "fresh" : stale;
  $("conn-age").textContent = state.conn === "signedOut" ? ""
    : age === null ? t("scrNoMessage")
    : t("scrLastMsg", { ago: ageText(age) }) + (stale === "amber" ? ` · ${t("scrStaleAmber")}` : stale === "red" ? ` · ${t("scrStaleRed")}` : "");
}
function renderWho() {
  const s = state.session;
  $("who").hidden = !s;
  if (!s) return;
  $("who-name").textContent = s.display || s.user;
  const where = (s.districts ?? []).length ? s.districts.map((d) => placeName(d) ?? t("unknown")).join(t("listSep")) : t("wholeCity");
  $("who-role").textContent = [word("role_", s.role), where].join(" · ");
}
function render() {
  renderStatic(); renderConn(); renderWho(); renderReplayBadge();
  renderTiles(); renderTicker(); renderMap();
}
function tick() {
  const s = shanghai(new Date());
  $("clock").textContent = s.time;
  $("date").textContent = `${s.date} ${t("timeZone")}`;
  renderConn();
}
// drill: null = the whole city
function drill(code) {
  state.district = code && (state.places.districts ?? {})[code] ? code : null;
  mapFocus(state.district);
  trendRefresh();
  render();
}
$("crumb-city").addEventListener("click", () => drill(null));
$("lang-toggle").addEventListener("click", () => {
  state.lang = state.lang === "zh" ? "en" : "zh";
  stored("citycc.lang", state.lang);
  render(); tick(); trendRender();
});
$("theme-toggle").addEventListener("click", () => {
  state.theme = state.theme === "night" ? "day" : "night";
  stored("citycc.theme", state.theme);
  render(); mapTheme(); trendRender();
});
