"use strict";
// Dispatch (cockpit_api/dispatch_view.py): the unit board panel, the package of an incident
// on its card (recommended units and why, unfilled slots, skipped units, coverage, move-ups)
// with Confirm / Edit / Reject for the roles that may, and the dispatch records in the
// incident's timeline. Loaded after cockpit.js (its state, vocabulary and helpers) and
// dispatch_words.js (its words): every status, capability, reason and run card reaches the
// screen through the vocabulary.
const UNIT_AGENCIES = ["fire", "ems", "police", "gas", "water", "environment"];
const APCO = ["available", "dispatched", "en_route", "on_scene", "transporting", "at_hospital",
  "returning", "out_of_service"];
const MAX_BUSY_SHOWN = 60;
const disp = { units: new Map(), packages: new Map(), moveups: new Map(), timelines: new Map(),
  preemptions: new Map(), seq: 0 };

// --- the model ------------------------------------------------------------------------------
function dispatchSnapshot(part) {
  disp.units.clear(); disp.packages.clear(); disp.moveups.clear(); disp.timelines.clear();
  disp.preemptions.clear();
  if (!part || typeof part !== "object") return;
  for (const u of part.units ?? []) if (str(u.unit_id)) disp.units.set(u.unit_id, u);
  for (const p of part.packages ?? []) if (str(p.incident_id)) disp.packages.set(p.incident_id, p);
  for (const m of part.moveups ?? []) if (str(m.moveup_id)) disp.moveups.set(m.moveup_id, m);
  for (const [iid, entries] of Object.entries(part.timelines ?? {})) disp.timelines.set(iid, entries);
  for (const [iid, n] of Object.entries(part.preemptions ?? {})) disp.preemptions.set(iid, n);
  disp.seq++;
}
function onDispatch(msg) {
  if (msg.unit && str(msg.unit.unit_id)) disp.units.set(msg.unit.unit_id, msg.unit);
  const iid = msg.incident_id;
  if (msg.package && str(iid)) disp.packages.set(iid, msg.package);
  if (msg.moveup && str(msg.moveup.moveup_id)) {
    if (msg.moveup.state === "confirmed") disp.moveups.delete(msg.moveup.moveup_id);
    else disp.moveups.set(msg.moveup.moveup_id, msg.moveup);
  }
  if (msg.entry && str(iid)) disp.timelines.set(iid, [...(disp.timelines.get(iid) ?? []), msg.entry].slice(-30));
  if (typeof msg.preemptions === "number" && str(iid)) disp.preemptions.set(iid, msg.preemptions);
  disp.seq++;
}
function dispatchClear() { dispatchSnapshot(null); boardSig = ""; }
// what an incident card shows of dispatch changes when this does (cockpit.js's reconcile)
const dispatchSig = (iid) => {
  const p = disp.packages.get(iid);
  const units = p ? (p.items ?? []).map((i) => disp.units.get(i.unit_id)?.status ?? "").join(",") +
    (p.moveups ?? []).map((m) => disp.moveups.get(m.moveup_id)?.state ?? "").join(",") : "";
  return `${p ? `${p.package_id}@${p.state}@${p.at_ms}` : ""}|${units}|${(disp.timelines.get(iid) ?? []).length}|${disp.preemptions.get(iid) ?? 0}`;
};

// --- words: never a code on the screen --------------------------------------------------------
const CODE = /^[A-Za-z0-9_.:-]+$/;
function word(prefix, value) {  // a vocabulary word for a code, or a neutral "unknown"
  if (!str(value)) return t("unknown");
  const key = prefix + value;
  return key in I18N.zh ? t(key) : t("unknown");
}
function reasonText(why) {  // a board's reason: {zh, en[, reason]}, a vocabulary code, or words
  if (why && typeof why === "object") {
    return str(why[state.lang]) ?? str(why.zh) ?? str(why.en) ?? reasonText(why.reason);
  }
  if (!str(why)) return t("reasonUnknown");
  if (("dr_" + why) in I18N.zh) return t("dr_" + why);
  return CODE.test(why) ? t("reasonUnknown") : why;
}
function stationName(id, unit) {
  const s = (state.places.stations ?? {})[id];
  if (s) return state.lang === "en" ? s.en : s.zh;
  const d = unit ? placeName(unit.district) : null;
  return d ? `${d} ${word("ua_", unit.agency)}` : t("unknown");
}
function cardName(card) {
  if (!card || typeof card !== "object") return t("unknown");
  return str(state.lang === "en" ? card.en : card.zh) ?? str(card.zh) ?? str(card.en) ?? t("unknown");
}
function duration(ms) {
  const s = Math.max(0, Math.floor(ms / 1000)), h = Math.floor(s / 3600);
  const mm = String(Math.floor((s % 3600) / 60)).padStart(2, "0"), ss = String(s % 60).padStart(2, "0");
  return h ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
}
const minutes = (s) => (typeof s === "number" ? (Math.round(s / 6) / 10).toFixed(1) : "—");
const km = (m) => (typeof m === "number" ? (Math.round(m / 100) / 10).toFixed(1) : "—");

// --- the package on an incident card ----------------------------------------------------------
function packageSummary(iid) {
  const p = disp.packages.get(iid);
  if (!p) return null;
  const line = el("div", `pkg-summary pkg-${p.state}`);
  line.append(el("span", "pkg-state", t("pkgState_" + p.state)), " · ",
    el("span", null, tn("pkgUnits", (p.items ?? []).length)));
  return line;
}
function packagePanel(inc) {
  const p = disp.packages.get(inc.incident_id);
  const box = el("div", "pkg");
  box.dataset.package = p?.package_id ?? "";
  if (!p) { box.append(el("div", "empty", t("noPackage"))); return box; }
  const head = el("div", "pkg-head");
  head.append(el("b", null, t("pkgTitle")), el("span", `pkg-state pkg-${p.state}`, t("pkgState_" + p.state)));
  if (str(p.actor) && p.state !== "recommended") head.append(el("span", "who", t("pkgBy", { who: actorName(p.actor) })));
  box.append(head, el("div", "pkg-card", `${t("runCard")}${t("whySep")}${cardName(p.card)} · ${word("m_", p.method)}`));
  if (str(p.reason)) box.append(el("div", "pkg-reason", t("pkgReason", { why: p.reason })));
  // one slot: what and who, then how far (ETA, route, from where), then why
  const slots = el("div", "pkg-items");
  for (const it of p.items ?? []) {
    const unit = disp.units.get(it.unit_id);
    const slot = el("div", "slot"), l1 = el("div", "l1"), l2 = el("div", "l2");
    slot.dataset.unit = it.unit_id ?? "";
    l1.append(el("span", "cap", word("cap_", it.capability)), el("span", "uid", it.unit_id ?? "—"),
      el("span", "st", word("st_", unit?.status ?? it.status)));
    const b = p.state === "confirmed" ? actButton("unit_status", true, "btn_unit_status") : null;
    if (b) l1.append(b);
    l2.append(el("span", "eta", t("etaMin", { m: minutes(it.eta_s) })),
      el("span", "km", t("routeKm", { km: km(it.route_m) })), el("span", "stn", stationName(it.station_id, unit)));
    slot.append(l1, l2, el("div", "why", reasonText(it.why)));
    slots.append(slot);
  }
  for (const u of p.unfilled ?? []) {
    const slot = el("div", "slot unfilled"), l1 = el("div", "l1");
    l1.append(el("span", "cap", word("cap_", u.capability)), el("span", "uid", t("unfilled")));
    slot.append(l1, el("div", "why", reasonText(u)));
    slots.append(slot);
  }
  box.append(slots);
  if ((p.skipped ?? []).length) {
    const det = el("details", "pkg-skipped");
    det.append(el("summary", null, tn("skippedN", p.skipped.length)));
    const ul = el("ul");
    for (const s of p.skipped) {
      const li = el("li");
      li.append(el("span", "uid", s.unit_id ?? "—"), el("span", "why", reasonText(s)));
      ul.append(li);
    }
    det.append(ul);
    box.append(det);
  }
  const cov = coverageLines(p.coverage);
  if (cov.length) {
    const c = el("div", "pkg-coverage");
    c.append(el("span", "sub", t("coverage")), ...cov.map((line) => el("span", "cov", line)));
    box.append(c);
  }
  if ((p.moveups ?? []).length) {
    const m = el("div", "pkg-moveups");
    for (const mu of p.moveups) {
      const item = el("span", "mu", t("moveupTo", { unit: mu.unit_id ?? "—", station: stationName(mu.to_station, null) }));
      item.dataset.moveup = mu.moveup_id ?? "";
      const held = disp.moveups.get(mu.moveup_id);   // suggested once the package is confirmed
      const b = held && held.state === "suggested" ? actButton("moveup_confirm", true) : null;
      if (b) item.append(" ", b);
      m.append(item);
    }
    m.prepend(el("span", "sub", t("moveups")));
    box.append(m);
  }
  if (p.open) {  // a dispatcher decides the packages its agency leads (cockpit_api/authorize.py)
    const decides = state.session?.role !== "dispatcher" || state.session?.agency === p.lead;
    const acts = el("div", "acts pkg-acts");
    acts.append(...[decides ? actButton("dispatch_confirm", true) : null, actButton("dispatch_edit", true),
      decides ? actButton("dispatch_reject", true) : null].filter(Boolean));
    if (acts.children.length) box.append(acts);
  }
  return box;
}
const pct = (x) => (typeof x === "number" ? `${Math.round(x * 100)}%` : "—");
function coverageLines(cov) {  // per target: the city's and each district's share, before → after
  if (!cov || typeof cov !== "object") return [];
  const out = [];
  for (const tg of Object.values(cov)) {
    if (!tg || typeof tg !== "object") continue;
    const head = t("covTarget", { cap: word("cap_", tg.capability), m: minutes(tg.target_s) });
    out.push(`${head}${t("whySep")}${t("wholeCity")} ${pct(tg.city?.before)} → ${pct(tg.city?.after)}`);
    // the districts the assignment leaves less covered, the largest drop first
    const drops = Object.entries(tg.districts ?? {}).filter(([, v]) => typeof v?.before === "number"
      && typeof v?.after === "number" && v.before - v.after >= 0.005)
      .sort((x, y) => (y[1].before - y[1].after) - (x[1].before - x[1].after));
    for (const [d, v] of drops.slice(0, 6)) {
      out.push(`${placeName(d) ?? t("unknown")} ${pct(v.before)} → ${pct(v.after)}`);
    }
  }
  return out;
}
function dispatchEntries(iid) {  // the incident timeline's dispatch records, in its form
  return (disp.timelines.get(iid) ?? []).map((e) => ({ ...e, dispatch: true }));
}
function dispatchEntryText(e) {
  const d = e.detail ?? {}, parts = [];
  if (str(e.unit_id)) parts.push(e.unit_id);
  if (Array.isArray(d.units) && d.units.length) parts.push(d.units.join(t("listSep")));
  if (str(d.status)) parts.push(str(d.from) ? `${word("st_", d.from)} → ${word("st_", d.status)}` : word("st_", d.status));
  if (str(d.to_station)) parts.push(stationName(d.to_station, null));
  if (str(d.zh) || str(d.en)) parts.push(reasonText(d));
  if (Array.isArray(d.add) && d.add.length) parts.push(`+${d.add.join(t("listSep"))}`);
  if (Array.isArray(d.remove) && d.remove.length) parts.push(`−${d.remove.join(t("listSep"))}`);
  if (str(d.reason) && !str(d.zh)) parts.push(reasonText(d.reason));
  return parts.join(" · ");
}

// --- the commands ------------------------------------------------------------------------------
function editForm(inc, p) {
  const inPkg = new Set((p.items ?? []).map((i) => i.unit_id));
  const needed = new Set((p.card?.needs ?? []).map((n) => n.capability));  // the board adds only these
  return {
    placeholder: "editReasonPh", need: "needWhy",
    build(box) {
      const rm = el("div", "checks edit-remove");
      for (const uid of inPkg) {
        const label = el("label"), box1 = el("input");
        box1.type = "checkbox"; box1.value = uid; box1.name = "remove";
        label.append(box1, ` ${uid}`); rm.append(label);
      }
      const add = el("select");
      add.id = "edit-add"; add.multiple = true; add.size = 6;
      for (const u of [...disp.units.values()].filter((u) => u.status === "available" && !inPkg.has(u.unit_id)
        && (!needed.size || (u.capabilities ?? []).some((c) => needed.has(c))))
        .sort((a, b) => (a.agency + a.unit_id).localeCompare(b.agency + b.unit_id)).slice(0, 400)) {
        const o = el("option", null, `${u.unit_id} · ${(u.capabilities ?? []).map((c) => word("cap_", c)).join(t("listSep"))}`);
        o.value = u.unit_id; add.append(o);
      }
      box.append(formRow("editRemove", null, rm), formRow("editAdd", "edit-add", add));
    },
    collect() {
      const remove = [...document.querySelectorAll(".edit-remove input:checked")].map((x) => x.value);
      const addSel = [...$("edit-add").selectedOptions].map((o) => o.value);
      if (!remove.length && !addSel.length) return { error: "needEdit" };
      return { args: { add: addSel, remove } };
    },
  };
}
$("incidents").addEventListener("click", (ev) => {
  const button = ev.target.closest("button[data-act]"), card = ev.target.closest(".inc");
  if (button && card && button.dataset.act === "unit_status") {
    ev.stopImmediatePropagation();
    openStatus(button.closest("[data-unit]")?.dataset.unit);
    return;
  }
  if (button && card && button.dataset.act === "moveup_confirm") {
    ev.stopImmediatePropagation();
    const mu = disp.moveups.get(button.closest("[data-moveup]")?.dataset.moveup);
    if (mu) sendCommand("moveup_confirm", { moveup_id: mu.moveup_id },
      t("moveupTo", { unit: mu.unit_id ?? "—", station: stationName(mu.to_station, null) }));
    return;
  }
  if (!button || !card || !button.dataset.act.startsWith("dispatch_")) {
    if (ev.target.closest(".pkg")) ev.stopPropagation();  // (the panel's own controls: no toggle)
    return;
  }
  ev.stopImmediatePropagation();
  const id = card.dataset.incident, inc = state.incidents.get(id), p = disp.packages.get(id);
  if (!inc || !p) return;
  const what = incName(inc), args = { incident_id: id, package_id: p.package_id };
  switch (button.dataset.act) {
    case "dispatch_confirm": sendCommand("dispatch_confirm", args, what); break;
    case "dispatch_edit": openDialog("editOn", what, "dispatch_edit", "reason", args, false, editForm(inc, p)); break;
    case "dispatch_reject": openDialog("rejectOn", what, "dispatch_reject", "reason", args, false,
      { placeholder: "rejectPh", need: "needWhy" }); break;
  }
}, true);
