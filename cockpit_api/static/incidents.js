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
// or, with none yet, since it opened; amber past half the target, red past it.
function pendingOf(inc) {
  const p = disp.packages.get(inc.incident_id);
  const target = (typeof p?.target_s === "number" ? p.target_s : DECIDE_TARGET_S) * 1000;
  if (p && p.open && typeof p.at_ms === "number") return { key: "tm_decide", since: p.at_ms, target };
  if (!p && typeof inc.opened_ms === "number") return { key: "tm_open", since: inc.opened_ms, target };
  return null;
}
const DECIDE_TARGET_S = 180;  // the 120 three-minute departure, where the package names none
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
  pendingText(node, Date.now());
  return node;
}
setInterval(() => {
  const now = Date.now();
  for (const n of document.querySelectorAll("#incidents .pending")) pendingText(n, now);
}, 1000);
// Routes on the map (SCREEN's /dist/citymap.js: window.CityMap.create(el, {theme, lang})
// answers a map with setBasemap and showRoute([[lon, lat], ...])): a container in the open
// incident, drawn only where the map module is loaded and the package's units carry a route
// line (item.route); the basemap is fetched once.
let basemapOnce = null;
function routeMap(inc) {
  const box = el("div", "route-map");
  box.dataset.incident = inc.incident_id;
  const p = disp.packages.get(inc.incident_id);
  const line = (p?.items ?? []).map((i) => i.route).find((r) => Array.isArray(r) && r.length > 1);
  box.hidden = true;
  if (!window.CityMap || typeof window.CityMap.create !== "function" || !line) return box;
  box.hidden = false;
  requestAnimationFrame(() => {
    try {
      const m = window.CityMap.create(box, { theme: "night", lang: state.lang });
      basemapOnce ??= fetch("/basemap.json").then((r) => (r.ok ? r.json() : null)).catch(() => null);
      basemapOnce.then((g) => { if (g) m.setBasemap?.(g); });
      m.showRoute?.(line);
    } catch (e) { console.warn("route map", e); box.hidden = true; }
  });
  return box;
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
