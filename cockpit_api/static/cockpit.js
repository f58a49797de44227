"use strict";
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

// --- the model: detector alerts and lifecycle states by fingerprint, open incidents ---------
function upsert(alert, live) {
  if (!alert || typeof alert !== "object" || !str(alert.fingerprint)) return;
  state.alerts.set(alert.fingerprint, { ...alert, _seq: ++state.seq });
  if (live && alert.status !== "resolved") state.fresh.add(alert.fingerprint);
  while (state.alerts.size > MAX_ALERTS) {
    let victim = null;
    for (const [k, a] of state.alerts) { if (a.status === "resolved") { victim = k; break; } }
    state.alerts.delete(victim ?? state.alerts.keys().next().value);
  }
}
function setLife(fp, life) {
  if (!str(fp)) return;
  if (life && typeof life === "object") state.life.set(fp, life); else state.life.delete(fp);
}
function setIncident(inc) {
  if (!inc || !str(inc.incident_id)) return;
  if (inc.status === "open") state.incidents.set(inc.incident_id, inc);
  else state.incidents.delete(inc.incident_id);
}
// The current silences (hub: cockpit_api/silence_view.py) and which alerts each mutes: the
// hub matches them (alerting/labels.py) and sends every alert's marks, the page only shows them.
function setSilence(id, s) {
  if (!str(id)) return;
  if (s && typeof s === "object") state.silences.set(id, s); else state.silences.delete(id);
}
function setMarks(fp, ids) {
  if (!str(fp) || !Array.isArray(ids)) return;
  if (ids.length) state.silenced.set(fp, ids); else state.silenced.delete(fp);
}
const silencesOf = (fp) => (state.silenced.get(fp) ?? []).map((id) => state.silences.get(id))
  .filter(Boolean);
const silencesSorted = () => [...state.silences.values()]
  .sort((a, b) => (b.updated_ms ?? 0) - (a.updated_ms ?? 0));
const silenceSig = (fp) => silencesOf(fp).map((s) => `${s.silence_id}@${s.updated_ms}`).join(",");
const whoWhy = (s) => `${s.author}${t("whySep")}${s.reason}`;
const incidentsSorted = () => [...state.incidents.values()].sort((a, b) =>
  SEVERITIES.indexOf(sevOf(a)) - SEVERITIES.indexOf(sevOf(b)) || (b.opened_ms ?? 0) - (a.opened_ms ?? 0));
// The labels the alerting engine matches silences against (alerting/labels.py labels_of):
// the lifecycle state carries the engine's own; without one, the same rule on the alert.
const LABEL_FIELDS = ["kind", "detector", "severity", "stream", "entity_id", "district"];
function labelsOf(a) {
  const own = a.life?.labels;
  if (own && typeof own === "object" && Object.keys(own).length) return own;
  const out = {};
  for (const k of LABEL_FIELDS) if (a[k] != null && a[k] !== "") out[k] = String(a[k]);
  if (a.labels && typeof a.labels === "object") {
    for (const [k, v] of Object.entries(a.labels)) if (v != null && v !== "") out[k] = String(v);
  }
  return out;
}
// One equality matcher as the engine renders it (alerting/matchers.py render): the value in
// double quotes, its backslashes, quotes and line feeds escaped, so it parses back to itself.
function matcherText(name, value) {
  const v = String(value).replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
  return `${name}="${v}"`;
}
// Matchers that pin one alert: the labels its fingerprint is made of (schemas/records.py:
// detector, kind, entity_id; an absent label matches as ""). The fingerprint is no label, so
// fingerprint="..." would mute nothing. null: nothing to pin it by (the button is disabled).
function pinOf(a) {
  const labels = labelsOf(a);
  if (!str(labels.kind) && !str(labels.entity_id)) return null;
  return ["detector", "kind", "entity_id"].map((k) => matcherText(k, labels[k] ?? ""));
}
// One row per fingerprint: the detector's alert, with its lifecycle state when known.
function rows() {
  const out = [];
  for (const fp of new Set([...state.alerts.keys(), ...state.life.keys()])) {
    const a = state.alerts.get(fp), life = state.life.get(fp);
    const base = a ?? { fingerprint: fp, severity: life.severity, kind: life.kind,
      entity_id: life.entity_id, district: life.district, since_ms: life.since_ms, _seq: 0 };
    const lstate = life ? life.state : (a.status === "resolved" ? "resolved" : "firing");
    out.push({ ...base, life, lstate, status: lstate === "resolved" ? "resolved" : "firing" });
  }
  return out.sort((a, b) => (a.status === "resolved") - (b.status === "resolved") ||
    timeOf(b) - timeOf(a) || b._seq - a._seq);
}

// --- rendering --------------------------------------------------------------------------------
// a command's button, or null when the signed-in role may not give that command
function actButton(act, enabled, labelKey) {
  if (!may(act)) return null;
  const b = el("button", null, t(labelKey ?? `act_${act}`));
  b.type = "button"; b.dataset.act = act; b.disabled = !enabled;
  return b;
}
function renderRow(a) {
  const sev = sevOf(a), life = a.life, me = operator();
  const row = el("div", `row sev-${sev}`);
  row.dataset.fingerprint = a.fingerprint;
  row.dataset.status = a.status;
  row.dataset.state = a.lstate;
  if (state.fresh.has(a.fingerprint)) row.classList.add("fresh");
  row.append(el("span", "badge", t(`sev_${sev}`)));
  const what = el("div");
  what.append(el("div", "title", titleOf(a)),
    el("div", "meta", [a.entity_id, a.kind].filter(str).join(" · ") || "—"));
  const why = whyOf(a);
  if (why) {
    what.append(el("div", "meta why", why));
    what.title = JSON.stringify(a.explanation);
  }
  const said = life && life.comments && life.comments.length ? life.comments[life.comments.length - 1] : null;
  if (said) what.append(el("div", "note", `▸ ${said.actor}：${said.comment}`));
  const value = el("div", "value");
  if (a.value !== undefined || a.threshold !== undefined) {
    const unit = str(a.unit) ?? "";
    value.append(el("b", null, `${fmtNum(a.value)} ${unit}`.trim()),
      el("span", "thr", ` / ${fmtNum(a.threshold)} ${unit}`.trimEnd()));
  } else value.textContent = "—";
  const when = el("div", "time", fmtTime(a.event_time ?? a.detected_at));
  if (when.textContent === "—" && life) when.textContent = fmtMs(life.since_ms);
  const lifeCell = el("div", "life");
  // why the engine resolved it itself (alerting/alert_model.py NOT_REASSERTED): a code, said in words
  const expired = a.lstate === "resolved" && life?.last?.action === "resolve" &&
    life.last.comment === "not_reasserted";
  const label = a.lstate === "acknowledged" && str(life?.acked_by) ? t("ackedBy", { who: life.acked_by })
    : expired ? `${t("resolved")} · ${t("why_not_reasserted")}` : t(a.lstate);
  const badge = el("span", "state", label + (life?.flapping ? ` · ${t("flapping")}` : ""));
  badge.title = badge.textContent;
  lifeCell.append(badge);
  const muting = silencesOf(a.fingerprint);
  if (muting.length) {
    const muted = el("span", "muted", t("silenced"));
    muted.title = muting.map((s) => `${t("silenced")} · ${whoWhy(s)}`).join("\n");
    lifeCell.append(muted);
  }
  if (str(life?.owner)) lifeCell.append(el("span", "owner", t("claimedBy", { who: life.owner })));
  const acts = el("div", "acts"), active = a.lstate !== "resolved";
  acts.append(...[a.lstate === "acknowledged" ? actButton("unack", true) : actButton("ack", active),
    str(life?.owner) && life.owner === me ? actButton("unclaim", active)
      : actButton("claim", active && !str(life?.owner)),
    actButton("comment", true), actButton("silence", active && pinOf(a) !== null)].filter(Boolean));
  lifeCell.append(acts);
  row.append(what, el("div", "district", districtOf(a)), value, when, lifeCell);
  return row;
}
const incName = (i) => str(state.lang === "en" ? i.category_en : i.category_zh) ?? str(i.category) ?? t("unknownCategory");
function entryText(e) {
  const d = e.detail ?? {};
  switch (e.kind) {
    case "opened": return `${incName(d)} · ${tn("alertsN", d.alerts ?? 0)}`;
    case "alert_attached": case "alert_resolved":
      return [titleOf(d), d.entity_id].filter(str).join(" · ");
    case "severity_changed": return `${t("sev_" + d.from)} → ${t("sev_" + d.to)}`;
    case "call_linked": return `${d.call_id ?? ""} (${t("s_" + d.stream)})`;
    case "call_unlinked": return `${d.call_id ?? ""} → ${d.moved_to ?? ""}`;
    case "note_added": return d.text ?? "";
    case "merged": return `${d.source ?? ""} · ${tn("alertsN", d.alerts ?? 0)}`;
    case "merged_into": return d.target ?? "";
    case "split": return `${(d.fingerprints ?? []).length} → ${d.new_incident ?? ""}`;
    case "resolved": return d.reason ?? "";
    case "enriched": return (d.keys ?? []).join(", ");
    default: return Object.entries(d).map(([k, v]) => `${k}=${v}`).join(" ");
  }
}
function renderIncident(inc) {
  const sev = sevOf(inc), open = state.openIncident === inc.incident_id;
  const card = el("div", `inc sev-${sev}`);
  card.dataset.incident = inc.incident_id;
  card.setAttribute("aria-expanded", open ? "true" : "false");
  const top = el("div", "top");
  top.append(el("span", "badge", t(`sev_${sev}`)),
    el("span", "cat", incName(inc) + (inc.partial ? t("partial") : "")),
    el("span", "dist", placeName(inc.district) ?? str(inc.district) ?? t("unknown")));
  const facts = el("div", "facts"), counts = el("span");
  counts.append(el("b", null, tn("alertsN", inc.alerts ?? 0)), " · ",
    el("b", null, tn("streamsN", (inc.streams ?? []).length)));
  facts.append(counts, el("span", "started", t("started", { t: fmtMs(inc.opened_ms) })));
  const streams = (inc.streams ?? []).map((s) => t("s_" + s)).join(t("listSep"));
  card.append(top, facts, el("div", "streams", streams));
  const pkg = packageSummary(inc.incident_id);  // dispatch.js
  if (pkg) card.append(pkg);
  if (open) {
    const ul = el("ul", "timeline");
    const entries = [...(inc.timeline ?? []), ...dispatchEntries(inc.incident_id)]
      .sort((a, b) => (b.at_ms ?? 0) - (a.at_ms ?? 0));
    for (const e of entries) {
      const li = el("li", e.dispatch ? "dispatch" : null);
      li.append(el("span", "when", clockMs(e.at_ms)),
        el("span", "what", e.dispatch ? word("dk_", e.kind === "unit_stale" && e.detail?.stale === false ? "unit_fresh" : e.kind) : t("k_" + e.kind)),
        el("span", "who", actorName(e.actor)), el("span", "detail", e.dispatch ? dispatchEntryText(e) : entryText(e)));
      ul.append(li);
    }
    const acts = el("div", "acts inc-acts");
    acts.append(...[actButton("add_note", true), actButton("link_call", true),
      actButton("merge_incidents", state.incidents.size > 1, "btn_merge_incidents"),
      actButton("split_incident", (inc.members ?? []).length > 1),
      actButton("resolve_incident", true)].filter(Boolean));
    card.append(el("div", "meta", inc.incident_id), acts, packagePanel(inc), ul);
  }
  return card;
}
function untilOf(s) {
  const end = typeof s.ends_ms === "number" ? fmtMs(s.ends_ms)
    : str(s.ends_at) ? fmtTime(s.ends_at) : null;
  if (end) return t(s.until_resolved ? "untilOrResolved" : "until", { t: end });
  return t(s.until_resolved ? "untilResolved" : "untilExpired");
}
function renderSilence(s, muting) {
  const item = el("div", "sil");
  item.dataset.silence = s.silence_id;
  const who = el("div", "who");
  who.append(el("span", "author", s.author), `${t("whySep")}${s.reason}`);
  const until = el("div", "until", untilOf(s) + (muting ? ` · ${tn("mutesN", muting)}` : ""));
  const acts = el("div", "acts");
  acts.append(...[actButton("extend_silence", true, "btn_extend_silence"),
    actButton("expire_silence", true, "btn_expire_silence")].filter(Boolean));
  item.append(el("div", "meta", (s.matchers ?? []).join(", ")), acts, who, until);
  return item;
}
// an escalation page names its alert: shown by the alert's own title where the cockpit has it;
// a group's flush is counted in the cockpit's language (its summary is the worker's English)
function noteText(n) {
  const d = n.details ?? {};
  if (Array.isArray(d.firing) && Array.isArray(d.resolved)) {
    const labels = n.labels ?? {};
    const what = [placeName(labels.district), labels.kind].filter(Boolean).join(" ");
    return t("noteGroup", { what: what ? `${what} · ` : "", firing: d.firing.length,
      resolved: d.resolved.length });
  }
  if (n.status !== "escalation") return n.summary ?? "";
  const a = state.alerts.get(n.fingerprint);
  const labels = n.labels ?? {};
  const what = a ? `${districtOf(a)} ${titleOf(a)}`
    : [placeName(labels.district), labels.entity_id, labels.kind].filter(Boolean).join(" ");
  return t("noteEscalation", { level: n.level ?? "", what: what || (n.summary ?? "") });
}
function renderNotes() {
  const list = state.notes.slice(0, 30);
  $("notes").replaceChildren(...(list.length ? list.map((n) => {
    const d = el("div", "n-item");
    d.append(el("span", "when", clockMs(n.at_ms)), el("span", "rcv", n.receiver),
      el("span", null, `[${t("n_" + n.status)}] ${noteText(n)}`));
    return d;
  }) : [el("div", "empty", t("noNotifications"))]));
}
function renderStatic() {
  document.documentElement.lang = state.lang === "en" ? "en" : "zh-CN";
  document.title = t("docTitle");
  for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
  for (const node of document.querySelectorAll("[data-i18n-ph]")) node.placeholder = t(node.dataset.i18nPh);
  const city = state.places.city ? state.places.city[state.lang === "en" ? "en" : "zh"] : t("city");
  $("subtitle").textContent = t("subtitle", { city });
  renderWho();
  $("lang-toggle").textContent = t("toggle");
}
function renderConn() {
  $("conn").dataset.state = state.conn;
  const secs = Math.max(0, Math.ceil((state.retryAt - Date.now()) / 1000));
  $("conn-text").textContent = t(state.conn, { s: secs });
}
function renderSys() {
  const s = state.stats ?? {};
  const rows = [["published", s.published ?? 0], ["malformed", s.malformed ?? 0],
    ["clients", s.clients ?? 0], ["dropped", s.dropped_clients ?? 0],
    ["feed", t(`feed_${s.feed ?? "idle"}`) + ((s.feed_missing ?? []).length
      ? ` ${t("missingTopics", { n: s.feed_missing.length })}` : "")]];
  const procs = s.processes ?? {};
  const known = PROCESSES.filter((p) => procs[p]);
  if (known.length) rows.push(["restarts", known.reduce((n, p) => n + (procs[p].restarts ?? 0), 0)]);
  const sysRows = rows.map(([k, v]) => [t(k), v]);
  for (const p of known) sysRows.push(["· " + t("proc_" + p), restartText(procs[p])]);
  $("sys").replaceChildren(...sysRows.map(([k, v]) => {
    const d = el("div"); d.append(el("span", null, k), el("span", null, v)); return d; }));
}
// one supervised process: "2 restarts · 16:05:03 · killed by SIGKILL" (from the supervisor)
function restartText(p) {
  const parts = [tn("restartsN", p.restarts ?? 0)];
  if (p.restarts) parts.push(clockMs(p.last_restart_ms));
  const why = p.last_reason;
  if (why && ["signal", "exit", "operator", "unknown"].includes(why.kind)) {
    parts.push(t("why_" + why.kind, { sig: why.signal ?? "?", code: why.code ?? "?" }));
  }
  if (typeof p.next_start_ms === "number") {
    parts.push(t("restartIn", { s: Math.max(0, Math.ceil((p.next_start_ms - Date.now()) / 1000)) }));
  }
  return parts.join(" · ");
}
function render() {
  renderStatic(); renderConn(); renderSys(); renderNotes(); renderUnitBoard(); renderKpis();
  const list = rows();
  const active = list.filter((a) => a.status !== "resolved");
  const counts = Object.fromEntries(SEVERITIES.map((s) => [s, 0]));
  const byDistrict = new Map();
  for (const a of active) {
    counts[sevOf(a)]++;
    const d = districtOf(a); byDistrict.set(d, (byDistrict.get(d) ?? 0) + 1);
  }
  $("k-total").textContent = active.length;
  for (const s of SEVERITIES) $(`k-${s}`).textContent = counts[s];
  $("k-resolved").textContent = list.length - active.length;
  $("k-incidents").textContent = state.incidents.size;
  $("list-count").textContent = `${active.length} / ${list.length} ${t("items")}`.trim();
  const me = operator(), role = state.session?.role ?? "";
  reconcile($("alerts"), rowCache, list.map((a) => [a.fingerprint,
    `${state.lang}|${me}|${role}|${a._seq}|${a.life?.occurrence}|${a.life?.seq}|${silenceSig(a.fingerprint)}`,
    () => renderRow(a)]), t("empty"));
  const incs = incidentsSorted();
  $("inc-count").textContent = `${incs.length}`;
  reconcile($("incidents"), incCache, incs.map((i) => [i.incident_id,
    `${state.lang}|${role}|${i.seq}|${state.openIncident === i.incident_id}|${incs.length > 1}|${dispatchSig(i.incident_id)}`,
    () => renderIncident(i)]),
    t("noIncidents"));
  const muting = new Map();  // silence id -> active alerts on the screen it mutes
  for (const a of active) {
    for (const id of state.silenced.get(a.fingerprint) ?? []) muting.set(id, (muting.get(id) ?? 0) + 1);
  }
  const sils = silencesSorted();
  $("sil-count").textContent = `${sils.length}`;
  reconcile($("silences"), silCache, sils.map((s) => [s.silence_id,
    `${state.lang}|${role}|${s.updated_ms}|${s.action}|${s.ends_ms}|${muting.get(s.silence_id) ?? 0}`,
    () => renderSilence(s, muting.get(s.silence_id) ?? 0)]), t("noSilences"));
  const top = [...byDistrict].sort((a, b) => b[1] - a[1]);
  const max = top.length ? top[0][1] : 1;
  $("districts").replaceChildren(...(top.length ? top.map(([name, n]) => {
    const bar = el("div", "bar"), track = el("div", "track"), fill = el("div", "fill");
    fill.style.width = `${(100 * n) / max}%`; track.append(fill);
    bar.append(el("span", null, name), track, el("span", "n", n)); return bar;
  }) : [el("div", "empty", t("noDistrict"))]));
  state.fresh.clear();
}
// Lists keep the nodes of unchanged items in place, so a click is not lost to a re-render.
const rowCache = new Map(), incCache = new Map(), silCache = new Map();
function reconcile(box, cache, items, emptyText) {
  const nodes = items.map(([key, sig, make]) => {
    const hit = cache.get(key);
    if (hit && hit.sig === sig) return hit.node;
    const node = make(); cache.set(key, { sig, node }); return node;
  });
  const keep = new Set(items.map(([key]) => key));
  for (const key of [...cache.keys()]) if (!keep.has(key)) cache.delete(key);
  if (!nodes.length) nodes.push(el("div", "empty", emptyText));
  nodes.forEach((n, i) => { if (box.children[i] !== n) box.insertBefore(n, box.children[i] ?? null); });
  while (box.children.length > nodes.length) box.lastElementChild.remove();
}
let pendingRender = false;
function schedule() {
  if (pendingRender) return;
  pendingRender = true;
  requestAnimationFrame(() => { pendingRender = false; render(); });
}

// --- commands: the signed-in user gives them; sending, feedback ------------------------------
const operator = () => state.session?.user ?? "";
const may = (act) => Array.isArray(state.session?.actions) && state.session.actions.includes(act);
function newId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 15) | 64; b[8] = (b[8] & 63) | 128;
  const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
function toast(id, status, text, why) {
  let node = id ? document.querySelector(`.toast[data-command-id="${CSS.escape(id)}"]`) : null;
  if (!node) {
    node = el("div", "toast");
    if (id) node.dataset.commandId = id;
    $("toasts").append(node);
    while ($("toasts").children.length > MAX_TOASTS) $("toasts").firstElementChild.remove();
  }
  node.dataset.state = status;
  node.replaceChildren(el("span", null, text));
  if (why) node.append(el("span", "why", why));
  clearTimeout(node._timer);
  node._timer = setTimeout(() => node.remove(), TOAST_MS);
}
function needSignIn() {
  toast(null, "refused", t("needSignIn"));
  showLogin();
}
let ws = null;
function sendCommand(action, args, what) {
  if (!state.session) { needSignIn(); return false; }
  if (!ws || ws.readyState !== WebSocket.OPEN) { toast(null, "refused", t("notConnected")); return false; }
  const id = newId(), label = `${t("act_" + action)} · ${what}`;
  state.pending.set(id, { action, label });
  ws.send(JSON.stringify({ type: "command", command: { command_id: id, action, ...args } }));
  toast(id, "sending", `${label}：${t("sending")}`);
  return true;
}
function onFeedback(msg) {
  const id = msg.type === "command_result" ? msg.result.command_id : msg.command_id;
  const p = state.pending.get(id);
  if (!p) return;  // another screen's command
  if (msg.type === "command_queued") { toast(id, "queued", `${p.label}：${t("queued")}`); return; }
  state.pending.delete(id);
  const r = msg.type === "command_result" ? msg.result : msg;
  if (msg.type === "command_result" && r.ok) toast(id, "applied", `${p.label}：${t("applied")}`);
  else toast(id, "refused", `${p.label}：${t("refused")}`, whyRefused(r));
}
// Why a command was refused: in the page's language where the vocabulary knows the code
// (why_<code>), else the server's reason and code as they came.
function whyRefused(r) {
  const key = `why_${r.code}`;
  return key in I18N.zh ? t(key) : [r.reason, r.code].filter(str).join(" · ");
}
// One dialog for every command that needs more than a click. Its text fills the argument
// `field` (no field: the text box is hidden; `optional`: it may stay empty). A `form` adds
// controls of its own: build(box) fills #dlg-form, collect() answers {args, what} or
// {error: key} -- refused here, said in the dialog, nothing sent. Its labels carry data-i18n
// like the page's own (renderStatic translates them).
let dialog = null;
function openDialog(titleKey, what, action, field, args, optional, form) {
  if (!state.session) { needSignIn(); return; }
  dialog = { what, action, field, args, optional, form };
  $("dlg-title").textContent = t(titleKey, { what });
  const text = $("dlg-text");
  text.value = ""; text.hidden = !field;
  if (form?.placeholder) text.dataset.i18nPh = form.placeholder; else delete text.dataset.i18nPh;
  text.placeholder = form?.placeholder ? t(form.placeholder) : "";
  $("dlg-form").replaceChildren();
  form?.build?.($("dlg-form"));
  dlgError(null);
  $("comment-dlg").hidden = false;
  (field ? text : $("dlg-form").querySelector("input, select") ?? $("dlg-send")).focus();
}
function closeDialog() { $("comment-dlg").hidden = true; $("dlg-form").replaceChildren(); dialog = null; }
function dlgError(key) {
  const e = $("dlg-error");
  e.hidden = !key;
  if (key) { e.dataset.i18n = key; e.textContent = t(key); }
  else { delete e.dataset.i18n; e.textContent = ""; }
}
$("dlg-cancel").addEventListener("click", closeDialog);
document.addEventListener("keydown", (ev) => { if (ev.key === "Escape" && dialog) closeDialog(); });
$("dlg-send").addEventListener("click", () => {
  if (!dialog) return;
  const text = $("dlg-text").value.trim();
  if (dialog.field && !text && !dialog.optional) {
    dlgError(dialog.form?.need ?? "needText"); $("dlg-text").focus(); return;
  }
  const got = dialog.form?.collect ? dialog.form.collect() : {};
  if (got.error) { dlgError(got.error); return; }
  const args = { ...dialog.args, ...got.args, ...(dialog.field && text ? { [dialog.field]: text } : {}) };
  if (sendCommand(dialog.action, args, got.what ?? dialog.what)) closeDialog();
});
// form controls; a label's text is a data-i18n span or label, never the control's parent
function i18nEl(tag, cls, key) { const e = el(tag, cls, t(key)); e.dataset.i18n = key; return e; }
function formRow(labelKey, forId, ...controls) {
  const row = el("div", "field"), label = i18nEl(forId ? "label" : "span", null, labelKey);
  if (forId) label.htmlFor = forId;
  row.append(label, ...controls);
  return row;
}
function selectOf(id, options) {  // options: [value, text, i18n key of the text or none]
  const s = el("select");
  s.id = id;
  for (const [value, text, key] of options) {
    const o = el("option", null, text);
    o.value = value;
    if (key) o.dataset.i18n = key;
    s.append(o);
  }
  return s;
}
function radio(name, value, key) {
  const label = el("label", "choice"), input = el("input");
  input.type = "radio"; input.name = name; input.value = value;
  label.append(input, i18nEl("span", null, key));
  return label;
}
const SILENCE_FOR = [["30m", 30], ["1h", 60], ["4h", 240], ["resolved", null]];  // minutes
function silenceForm(matchers) {
  return {
    placeholder: "reasonPh", need: "needReason",
    build(box) {
      const dur = selectOf("dlg-duration", SILENCE_FOR.map(([v]) => [v, t(`dur_${v}`), `dur_${v}`]));
      dur.value = "1h";
      box.append(formRow("silenceMatch", null, el("span", "meta pins", matchers.join(", "))),
        formRow("silenceFor", "dlg-duration", dur));
    },
    collect() {
      const minutes = new Map(SILENCE_FOR).get($("dlg-duration").value);
      const ends_at = minutes == null ? null : new Date(Date.now() + minutes * 60_000).toISOString();
      return { args: { matchers, ends_at, until_resolved: minutes == null } };
    },
  };
}
// A silence's new end: the chosen time added to its current end, or to now when that has
// passed or there is none (the engine takes only a future end); minutes null: until expired.
const EXTEND_BY = [["30m", 30], ["1h", 60], ["4h", 240], ["expired", null]];
function silenceEndMs(s) {
  if (typeof s.ends_ms === "number") return s.ends_ms;
  const ms = str(s.ends_at) ? Date.parse(s.ends_at) : NaN;
  return isNaN(ms) ? null : ms;
}
function extendedEnd(s, minutes, now) {
  return minutes == null ? null : Math.max(silenceEndMs(s) ?? now, now) + minutes * 60_000;
}
function extendForm(s, what) {
  const minutes = () => new Map(EXTEND_BY).get($("dlg-extend").value);
  const untilAfter = (ms) => untilOf({ ...s, ends_ms: ms, ends_at: null });
  return {
    build(box) {
      const by = selectOf("dlg-extend", EXTEND_BY.map(([v]) => [v, t(`ext_${v}`), `ext_${v}`]));
      by.value = "1h";
      const next = el("span", "meta");
      next.id = "dlg-new-end";
      const show = () => { next.textContent = untilAfter(extendedEnd(s, minutes(), Date.now())); };
      by.addEventListener("change", show);
      box.append(formRow("extendNow", null, el("span", "meta", untilOf(s))),
        formRow("extendBy", "dlg-extend", by), formRow("extendTo", null, next));
      show();
    },
    collect() {  // from the end as it is when sent: it may have passed while the dialog was open
      const ms = extendedEnd(s, minutes(), Date.now());
      return { args: { ends_at: ms == null ? null : new Date(ms).toISOString() },
        what: `${what} · ${untilAfter(ms)}` };
    },
  };
}
const incLabel = (i) => [incName(i), placeName(i.district) ?? str(i.district),
  tn("alertsN", i.alerts ?? 0), i.incident_id].filter(str).join(" · ");
function mergeForm(source) {
  const others = incidentsSorted().filter((i) => i.incident_id !== source.incident_id);
  return {
    build(box) {
      box.append(formRow("mergeTarget", "dlg-target", selectOf("dlg-target",
        [["", t("choose"), "choose"], ...others.map((i) => [i.incident_id, incLabel(i)])])));
    },
    collect() {
      const target = $("dlg-target").value, inc = state.incidents.get(target);
      if (!target) return { error: "needTarget" };
      return { args: { target }, what: `${incName(source)} → ${inc ? incName(inc) : target}` };
    },
  };
}
function splitForm(inc) {
  const members = inc.members ?? [];
  return {
    build(box) {
      const picks = el("div", "picks");
      for (const m of members) {
        const label = el("label", "pick"), tick = el("input"), where = el("span", "meta");
        tick.type = "checkbox"; tick.value = m.fingerprint;
        if (str(m.entity_id)) where.append(`${m.entity_id} · `);
        where.append(i18nEl("span", null, m.status === "resolved" ? "resolved" : "firing"));
        label.append(tick, el("span", null, titleOf(m)), where);
        picks.append(label);
      }
      box.append(picks);
    },
    collect() {
      const fps = [...$("dlg-form").querySelectorAll("input[type=checkbox]:checked")].map((x) => x.value);
      if (!fps.length) return { error: "splitNone" };
      // the worker refuses it too (an incident cannot be left empty): say so before sending
      if (fps.length >= Math.max(inc.alerts ?? 0, members.length)) return { error: "splitAll" };
      return { args: { fingerprints: fps }, what: `${incName(inc)} · ${tn("alertsN", fps.length)}` };
    },
  };
}
function linkForm(what) {
  return {
    build(box) {
      const id = el("input");
      id.type = "text"; id.id = "dlg-call"; id.maxLength = 128; id.autocomplete = "off";
      id.dataset.i18nPh = "callIdPh"; id.placeholder = t("callIdPh");
      box.append(formRow("callId", "dlg-call", id),
        formRow("callLine", null, radio("dlg-stream", "ems", "s_ems"), radio("dlg-stream", "fire", "s_fire")));
    },
    collect() {
      const call_id = $("dlg-call").value.trim();
      const stream = $("dlg-form").querySelector("input[name=dlg-stream]:checked")?.value;
      if (!call_id) return { error: "needCallId" };
      if (!stream) return { error: "needStream" };
      return { args: { call_id, stream }, what: `${what} · ${call_id}` };
    },
  };
}
$("alerts").addEventListener("click", (ev) => {
  const button = ev.target.closest("button[data-act]"), row = ev.target.closest(".row");
  if (!button || !row) return;
  const fp = row.dataset.fingerprint, a = rows().find((x) => x.fingerprint === fp);
  const what = a ? titleOf(a) : fp;
  if (button.dataset.act === "comment") {
    openDialog("commentOn", what, "comment", "comment", { fingerprint: fp }, false); return;
  }
  if (button.dataset.act === "silence") {
    const matchers = a ? pinOf(a) : null;
    if (matchers) openDialog("silenceOn", what, "silence", "reason", {}, false, silenceForm(matchers));
    return;
  }
  const args = { fingerprint: fp };
  if (a?.life?.occurrence) args.occurrence = a.life.occurrence;
  sendCommand(button.dataset.act, args, what);
});
$("incidents").addEventListener("click", (ev) => {
  const card = ev.target.closest(".inc");
  if (!card) return;
  const button = ev.target.closest("button[data-act]");
  if (button) {
    const id = card.dataset.incident, inc = state.incidents.get(id), what = inc ? incName(inc) : id;
    const args = { incident_id: id };
    switch (button.dataset.act) {
      case "add_note": openDialog("noteOn", what, "add_note", "text", args, false); break;
      case "link_call": openDialog("linkOn", what, "link_call", null, args, false, linkForm(what)); break;
      case "merge_incidents":
        if (inc) openDialog("mergeOn", what, "merge_incidents", null, { source: id }, false, mergeForm(inc));
        break;
      case "split_incident":
        if (inc) openDialog("splitOn", what, "split_incident", null, args, false, splitForm(inc));
        break;
      default:
        openDialog("closeOn", what, "resolve_incident", "comment", args, true, { placeholder: "closePh" });
    }
    return;
  }
  state.openIncident = state.openIncident === card.dataset.incident ? null : card.dataset.incident;
  render();
});
$("silences").addEventListener("click", (ev) => {
  const button = ev.target.closest("button[data-act]"), item = ev.target.closest(".sil");
  if (!button || !item) return;
  const id = item.dataset.silence, s = state.silences.get(id);
  const what = s ? (s.matchers ?? []).join(", ") : id, args = { silence_id: id };
  if (button.dataset.act === "extend_silence") {
    if (s) openDialog("extendOn", what, "extend_silence", null, args, false, extendForm(s, what));
  } else if (button.dataset.act === "expire_silence") sendCommand("expire_silence", args, what);
});

// --- the socket -------------------------------------------------------------------------------
function onMessage(ev) {
  let msg;
  try { msg = JSON.parse(ev.data); } catch (e) { console.warn("bad message", e); return; }
  switch (msg.type) {
    case "snapshot":
      state.alerts.clear(); state.life.clear(); state.incidents.clear();
      state.silences.clear(); state.silenced.clear();
      for (const a of [...(msg.alerts ?? [])].reverse()) upsert(a, false);
      for (const l of msg.alert_states ?? []) setLife(l.fingerprint, l);
      for (const i of msg.incidents ?? []) setIncident(i);
      state.notes = [...(msg.notifications ?? [])];
      state.places = msg.places ?? {};
      for (const s of msg.silences ?? []) setSilence(s.silence_id, s);
      for (const [fp, ids] of Object.entries(msg.silenced ?? {})) setMarks(fp, ids);
      dispatchSnapshot(msg.dispatch); kpiSet(msg.kpis);
      break;
    case "dispatch": onDispatch(msg); break;
    case "kpis": kpiSet(msg.kpis); renderKpis(); return;
    case "alert": upsert(msg.alert, msg.alert?.reasserted !== true); setMarks(msg.alert?.fingerprint, msg.silenced_by); break;
    case "alert_state":
      setLife(msg.fingerprint, msg.state); setMarks(msg.fingerprint, msg.silenced_by); break;
    case "silence":
      setSilence(msg.silence_id, msg.silence);
      for (const [fp, ids] of Object.entries(msg.silenced ?? {})) setMarks(fp, ids);
      break;
    case "incident": setIncident(msg.incident); break;
    case "notification":
      state.notes = [msg.notification, ...state.notes.filter((n) => n.key !== msg.notification.key)].slice(0, 50);
      break;
    case "command_queued": case "command_error": case "command_result": onFeedback(msg); return;
    case "stats": state.stats = msg; renderSys(); return;
    case "session": onSession(msg); break;
    case "auth_error": onAuthError(msg); return;
    default: return;
  }
  schedule();
}
function tick() {
  const s = shanghai(new Date());
  $("clock").textContent = s.time;
  $("date").textContent = `${s.date} ${t("timeZone")}`;
  if (state.conn === "closed") renderConn();
}
$("lang-toggle").addEventListener("click", () => {
  state.lang = state.lang === "zh" ? "en" : "zh";
  stored("citycc.lang", state.lang);
  render(); tick();
});
