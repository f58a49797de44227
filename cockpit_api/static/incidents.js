"use strict";
// The incident list: cards with the pending timer; the open card's detail (timeline,
// guidance, package, controls).
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
