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
const t = (key, vars) => {
  let s = I18N[state.lang][key] ?? I18N.zh[key] ?? key;
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
const clockMs = (ms) => (typeof ms === "number" && !isNaN(new Date(ms)) ? shanghai(new Date(ms)).time : "—");
function fmtNum(v) {
  if (typeof v !== "number" || !isFinite(v)) return str(v) ?? "—";
  return Number.isInteger(v) ? String(v) : String(Math.round(v * 100) / 100);
}
const sevOf = (a) => (SEVERITIES.includes(a.severity) ? a.severity : "info");
const timeOf = (a) => { const x = Date.parse(a.event_time ?? a.detected_at); return isNaN(x) ? (a.since_ms ?? 0) : x; };
const titleOf = (a) => str(state.lang === "en" ? a.title_en : a.title_zh) ?? str(a.title_zh) ?? str(a.title_en) ?? str(a.kind) ?? t("unknown");
const WHY_KEYS = ["baseline", "spread", "deviation", "alarm_level", "recover_level", "window", "count"];
function whyOf(a) {
  const x = a.explanation;
  if (!x || typeof x !== "object") return null;
  const parts = WHY_KEYS.filter((k) => x[k] != null && typeof x[k] !== "object")
    .map((k) => `${t("x_" + k)} ${typeof x[k] === "number" ? fmtNum(x[k]) : x[k]}`);
  return parts.length ? parts.join(" · ") : null;
}
function placeName(code) {
  const d = (state.places.districts ?? {})[code];
  return d ? (state.lang === "en" ? d.en : d.zh) : null;
}
const districtOf = (a) => str(state.lang === "en" ? a.district_en : a.district_zh) ?? placeName(a.district) ?? str(a.district) ?? t("unknown");

