"use strict";
// The page's core: its state, the vocabulary lookup (t, tn), element and time helpers.
// Classic scripts share one global scope; this file loads first after the words.
const SEVERITIES = ["critical", "major", "minor", "info"];
const PROCESSES = ["worker", "cockpit", "simulator"];  // the supervisor's, in start order
const MAX_ALERTS = 500, MAX_TOASTS = 5, TOAST_MS = 8000;
function stored(key, value) {
  try { return value === undefined ? localStorage.getItem(key) : localStorage.setItem(key, value); }
  catch (e) { return null; }
}
const state = { lang: stored("citycc.lang") === "en" ? "en" : "zh",
  alerts: new Map(), life: new Map(), incidents: new Map(), notes: [], places: {},
  silences: new Map(), silenced: new Map(),  // silence id -> silence; fingerprint -> its ids
  stats: null, conn: "connecting", retryAt: 0, seq: 0, fresh: new Set(), openIncident: null,
  pending: new Map(), session: null };  // session: who signed in (the server's session message)

const $ = (id) => document.getElementById(id);
// A key the vocabulary lacks is said as "unknown" (and logged), never shown as the key.
const t = (key, vars) => {
  let s = I18N[state.lang][key] ?? I18N.zh[key];
  if (s === undefined) { console.warn("no words for", key); s = I18N[state.lang].unknown ?? I18N.zh.unknown; }
  for (const [k, v] of Object.entries(vars ?? {})) s = s.replace(`{${k}}`, v);
  return s;
};
// a count: "{n} alert" for one where the language has a singular form
const tn = (key, n) => t(n === 1 && I18N[state.lang][key + "_one"] ? key + "_one" : key, { n });
const str = (v) => (typeof v === "string" && v.trim() ? v : null);
// who did it: a person's name as given; the system's own actors through the vocabulary
const actorName = (a) => (str(a) && I18N.zh["actor_" + a] ? t("actor_" + a) : (a ?? ""));
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
  return { date: `${p.year}-${p.month}-${p.day}`, time: `${p.hour}:${p.minute}:${p.second}` };
}
function fmtDate(d) {
  if (isNaN(d)) return "—";
  const s = shanghai(d);
  return `${s.date} ${s.time}`;
}
const fmtTime = (iso) => (typeof iso === "string" ? fmtDate(new Date(iso)) : "—");
const fmtMs = (ms) => (typeof ms === "number" ? fmtDate(new Date(ms)) : "—");
// The time event ages are measured against: the wall clock live; a replay's or an
// exercise's own time when the page shows one (replay.js), so a timer says how long the
// incident had waited at that moment of the session, not how old the window is.
const eventNow = () => (typeof replayNow === "function" ? replayNow() : null) ?? Date.now();
const clockMs = (ms) => (typeof ms === "number" && !isNaN(new Date(ms)) ? shanghai(new Date(ms)).time : "—");
function fmtNum(v) {
  if (typeof v !== "number" || !isFinite(v)) return "—";
  return Number.isInteger(v) ? String(v) : String(Math.round(v * 100) / 100);
}
// A word for a code (prefix + code) or the neutral "unknown": a code never reaches the page.
const known = (key) => key in I18N.zh;
const wordOf = (prefix, code) => (str(code) && known(prefix + code) ? t(prefix + code) : t("unknown"));
// A quantity with its unit in the page's words: a unit the vocabulary knows (u_count, u_s, ...)
// by its template; a physical unit (MPa, %LEL, km/h, µg/m³) as it is; a code-like one: none.
function withUnit(text, unit) {
  const u = str(unit) ?? "";
  if (known("u_" + u)) return t("u_" + u, { v: text });
  return /^[a-z]+(_[a-z0-9]+)+$/.test(u) ? text : `${text} ${u}`.trim();
}
const fixed = (v, places) => (typeof v === "number" && isFinite(v) ? v.toFixed(places ?? 0) : "—");
// "芙蓉区 芙蓉区火灾报警": a title that already names its place is shown without it again
const withPlace = (place, title) => (!str(place) || (str(title) && title.includes(place)) ? title
  : [place, title].filter(str).join(" "));
const sevOf = (a) => (SEVERITIES.includes(a.severity) ? a.severity : "info");
const timeOf = (a) => { const x = Date.parse(a.event_time ?? a.detected_at); return isNaN(x) ? (a.since_ms ?? 0) : x; };
// an alert known by its lifecycle state only has no title: named by its entity, not its kind code
const titleOf = (a) => str(state.lang === "en" ? a.title_en : a.title_zh) ?? str(a.title_zh) ?? str(a.title_en)
  ?? (str(a.entity_id) ? t("alertOn", { e: a.entity_id }) : t("unknown"));
const WHY_KEYS = ["baseline", "spread", "deviation", "alarm_level", "recover_level", "window", "count"];
function whyOf(a) {
  const x = a.explanation;
  if (!x || typeof x !== "object") return null;
  // numbers only: a detector's text values (its rule, a complaint code) are its own English
  const parts = WHY_KEYS.filter((k) => typeof x[k] === "number" && isFinite(x[k]))
    .map((k) => `${t("x_" + k)} ${withUnit(fmtNum(x[k]), k === "count" || k === "window" ? "" : a.unit)}`);
  return parts.length ? parts.join(" · ") : null;
}
function placeName(code) {
  const d = (state.places.districts ?? {})[code];
  return d ? (state.lang === "en" ? d.en : d.zh) : null;
}
const districtOf = (a) => str(state.lang === "en" ? a.district_en : a.district_zh) ?? placeName(a.district) ?? t("unknown");

