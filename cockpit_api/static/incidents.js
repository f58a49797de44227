"use strict";
// The incident list: cards with the pending timer; the open card's detail (timeline,
// guidance, package, controls).
const incName = (i) => str(state.lang === "en" ? i.category_en : i.category_zh) ?? t("unknownCategory");  // (its category is a code)
// An incident's timeline entry in words (cockpit_api/incident_view.py's details): ids stay
// ids, codes go through the vocabulary, and a kind the page does not know shows no detail.
function entryText(e) {
  const d = e.detail ?? {};
  switch (e.kind) {
    case "opened": return `${incName(d)} · ${tn("alertsN", d.alerts ?? 0)}`;
    case "alert_attached": case "alert_resolved":
      return [titleOf(d), d.entity_id].filter(str).join(" · ");
    case "severity_changed": return `${wordOf("sev_", d.from)} → ${wordOf("sev_", d.to)}`;
    case "call_linked": return `${d.call_id ?? ""} (${wordOf("s_", d.stream)})`;
    case "call_unlinked": return `${d.call_id ?? ""} → ${d.moved_to ?? ""}`;
    case "unit_status": return str(d.call_id)
      ? t("unitOnCall", { unit: d.unit ?? "—", st: wordOf("st_", d.status), call: d.call_id })
      : t("unitOn", { unit: d.unit ?? "—", st: wordOf("st_", d.status) });
    case "note_added": return d.text ?? "";
    case "merged": return `${d.source ?? ""} · ${tn("alertsN", d.alerts ?? 0)}`;
    case "merged_into": return d.target ?? "";
    case "split": return `${tn("alertsN", d.count ?? (d.fingerprints ?? []).length)} → ${d.new_incident ?? ""}`;
    // the correlator's own closing reason is its English: said in words; a person's comment as given
    case "resolved": return e.actor === "correlator" ? t("resolvedQuiet") : (d.reason ?? "");
    case "enriched": return guidanceSummary(d.guidance);
    default: return "";
  }
}
// How long an incident has waited: since its package was recommended (awaiting a decision)
// or, with none yet, since it opened; amber past half the target, red past it. The target is
// the package's run card's (card.decide_s: dispatch/changsha_runcards.yaml says where each
// comes from), else the default.
function pendingOf(inc) {
  const p = disp.packages.get(inc.incident_id);
  const own = p?.card?.decide_s;
  const target = (typeof own === "number" && own > 0 ? own : DECIDE_TARGET_S) * 1000;
  if (p && p.open && typeof p.at_ms === "number") return { key: "tm_decide", since: p.at_ms, target };
  if (!p && typeof inc.opened_ms === "number") return { key: "tm_open", since: inc.opened_ms, target };
  return null;
}
const DECIDE_TARGET_S = 180;  // dispatch/runcards.py DEFAULT_DECIDE_S: where no card names one
function pendingText(node, now) {
  const since = Number(node.dataset.since), target = Number(node.dataset.target);
  const waited = Math.max(0, now - since);
  node.textContent = t(node.dataset.key, { d: duration(waited) });
  node.dataset.level = waited >= target ? "late" : waited >= target / 2 ? "warn" : "ok";
}
function pendingTimer(inc) {
  const p = pendingOf(inc);
  if (!p) return null;
  const node = el("span", "pending");
  node.dataset.key = p.key; node.dataset.since = String(p.since); node.dataset.target = String(p.target);
  node.title = t("tm_target", { m: Math.round(p.target / 60000) });
  pendingText(node, eventNow());
  return node;
}
setInterval(() => {
  const now = eventNow();
  for (const n of document.querySelectorAll("#incidents .pending")) pendingText(n, now);
}, 1000);
// The open incident's map (/dist/citymap.js: window.CityMap, built by `make web`): the
// incident, the units its package recommends (where the unit board places them) and their
// routes (item.route: [[lon, lat], ...] from the unit's nearest road node to the incident's,
// dispatch/route_line.py), on the basemap (GET /basemap.json, fetched once) where the cockpit
// serves it, else on a plain background, said so under the map. One map for the page: its box
// moves into whichever incident is open (a WebGL map per render would use up the browser's
// contexts). Without the bundle there is no map and the rest of the card is as it was.
const routeView = { box: null, map: null, note: null, basemap: undefined, points: [] };
function routeMapStart() {
  const box = el("div", "route-map"), canvas = el("div", "rm-canvas"), note = el("div", "rm-note");
  box.append(canvas, note);
  const m = window.CityMap.create(canvas, { theme: "night", lang: state.lang });
  window.consoleMap = m;  // for the browser tests and a curious operator's console
  Object.assign(routeView, { box, map: m, note });
  fetch("/basemap.json", { credentials: "same-origin" })
    .then((r) => (r.ok ? r.json() : Promise.reject(new Error(`basemap: HTTP ${r.status}`))))
    .then((g) => { m.setBasemap(g); routeView.basemap = true; })
    .catch((e) => { console.warn(e); routeView.basemap = false; })
    .finally(() => routeNote());
}
function routeNote() {
  const lines = routeView.map?.layerFeatures("route").length ?? 0, p = routeView.package;
  const keys = [];
  if (p && (p.items ?? []).length && !lines) keys.push(p.method === "straight_line" ? "rm_noGraph" : "rm_noRoute");
  if (routeView.basemap === false) keys.push("rm_noBasemap");
  routeView.note.textContent = keys.map((k) => t(k)).join(t("listSep"));
  routeView.note.hidden = !keys.length;
}
function routeMap(inc) {
  if (!window.CityMap || typeof window.CityMap.create !== "function") return null;
  const p = disp.packages.get(inc.incident_id);
  const at = typeof inc.lat === "number" && typeof inc.lon === "number" ? inc
    : (p?.location && typeof p.location.lat === "number" ? p.location : null);
  const items = p?.items ?? [];
  if (!at && !items.length) return null;  // nowhere to show
  try {
    if (!routeView.map) routeMapStart();
  } catch (e) { console.warn("route map", e); return null; }
  const m = routeView.map, units = {}, routes = {}, points = [];
  if (at) points.push([at.lon, at.lat]);
  for (const it of items) {
    const u = disp.units.get(it.unit_id);
    if (u && typeof u.lat === "number" && typeof u.lon === "number") {
      units[it.unit_id] = { lat: u.lat, lon: u.lon, status: u.status ?? it.status ?? "", agency: u.agency ?? "" };
      points.push([u.lon, u.lat]);
    }
    if (Array.isArray(it.route)) { routes[it.unit_id] = it.route; points.push(...it.route); }
  }
  m.setLang(state.lang);
  m.setLayer("incidents", at ? { [inc.incident_id]: { lat: at.lat, lon: at.lon, severity: sevOf(inc) } } : {});
  m.setLayer("units", units);
  m.showRoute(routes);
  Object.assign(routeView, { points, package: p });
  routeNote();
  routeView.box.dataset.incident = inc.incident_id;
  // (sized once it is in the card: the map measures its box then)
  requestAnimationFrame(() => { m.resize(); m.fitTo(routeView.points); });
  return routeView.box;
}
function renderIncident(inc) {
  const sev = sevOf(inc), open = state.openIncident === inc.incident_id;
  const card = el("div", `inc sev-${sev}`);
  card.dataset.incident = inc.incident_id;
  card.setAttribute("aria-expanded", open ? "true" : "false");
  const top = el("div", "top");
  top.append(el("span", "badge", t(`sev_${sev}`)),
    el("span", "cat", incName(inc) + (inc.partial ? t("partial") : "")),
    el("span", "dist", placeName(inc.district) ?? t("unknown")));
  const facts = el("div", "facts"), counts = el("span");
  counts.append(el("b", null, tn("alertsN", inc.alerts ?? 0)), " · ",
    el("b", null, tn("streamsN", (inc.streams ?? []).length)));
  facts.append(counts, el("span", "started", t("started", { t: fmtMs(inc.opened_ms) })));
  const timer = pendingTimer(inc);
  if (timer) facts.append(timer);
  const streams = (inc.streams ?? []).map((s) => wordOf("s_", s)).join(t("listSep"));
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
        el("span", "what", e.dispatch ? word("dk_", e.kind === "unit_stale" && e.detail?.stale === false ? "unit_fresh" : e.kind) : wordOf("k_", e.kind)),
        el("span", "who", actorName(e.actor)), el("span", "detail", e.dispatch ? dispatchEntryText(e) : entryText(e)));
      ul.append(li);
    }
    const acts = el("div", "acts inc-acts");
    acts.append(...[actButton("add_note", true), actButton("link_call", true),
      actButton("merge_incidents", state.incidents.size > 1, "btn_merge_incidents"),
      actButton("split_incident", (inc.members ?? []).length > 1),
      actButton("resolve_incident", true)].filter(Boolean));
    card.append(...[el("div", "meta", inc.incident_id), acts, guidancePanel(inc.guidance),
      packagePanel(inc), routeMap(inc), ul].filter(Boolean));
  }
  return card;
}
$("incidents").addEventListener("click", (ev) => {
  const card = ev.target.closest(".inc");
  if (!card || ev.target.closest(".guidance, .route-map")) return;  // (reading: no toggle)
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
