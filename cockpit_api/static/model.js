"use strict";
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

