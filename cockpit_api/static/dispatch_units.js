"use strict";
// The unit board panel (dispatch.js's model): units by agency and status, available units
// per district, the committed ones with their status timer and a stale-location badge, and
// a dispatcher's manual status change (a unit of the board or of a committed package).
// --- the unit board panel -------------------------------------------------------------------
let boardSig = "";
function renderUnitBoard() {  // rebuilt when the units change; the timers tick in place
  const box = $("units"), sig = `${disp.seq}|${state.lang}|${state.session?.role ?? ""}`;
  if (!box || sig === boardSig) return;
  boardSig = sig;
  const now = eventNow(), byAgency = new Map(), byDistrict = new Map(), busy = [];
  let stale = 0;
  for (const u of disp.units.values()) {
    const a = byAgency.get(u.agency) ?? { available: 0, committed: 0, statuses: new Map() };
    a.statuses.set(u.status, (a.statuses.get(u.status) ?? 0) + 1);
    if (u.status === "available") {
      a.available++;
      byDistrict.set(u.district, (byDistrict.get(u.district) ?? 0) + 1);
    } else { a.committed++; busy.push(u); }
    byAgency.set(u.agency, a);
    if (u.stale) stale++;
  }
  const agencies = el("div", "ub-agencies");
  for (const ag of [...UNIT_AGENCIES, ...[...byAgency.keys()].filter((k) => !UNIT_AGENCIES.includes(k))]) {
    const a = byAgency.get(ag);
    if (!a) continue;
    const row = el("div", "ub-agency");
    row.dataset.agency = ag;
    row.append(el("span", "name", word("ua_", ag)), el("span", "avail", t("availableN", { n: a.available })),
      el("span", "busy", t("committedN", { n: a.committed })));
    const split = APCO.filter((st) => st !== "available" && a.statuses.get(st))
      .map((st) => `${word("st_", st)} ${a.statuses.get(st)}`).join(" · ");
    agencies.append(row);
    if (split) agencies.append(el("div", "ub-split", split));
  }
  const head = el("div", "ub-head");
  if (stale) head.append(el("span", "badge stale", t("staleN", { n: stale })));
  const districts = el("div", "ub-districts");
  districts.append(i18nEl("div", "sub", "availByDistrict"));
  for (const [d, n] of [...byDistrict].sort((x, y) => y[1] - x[1])) {
    districts.append(el("span", "ub-district", `${placeName(d) ?? t("unknown")} ${n}`));
  }
  busy.sort((x, y) => (y.status_ms ?? 0) - (x.status_ms ?? 0));
  const list = el("ul", "ub-busy");
  for (const u of busy.slice(0, MAX_BUSY_SHOWN)) {
    const li = el("li", `st-${APCO.includes(u.status) ? u.status : "unknown"}`);
    li.dataset.unit = u.unit_id;
    const timer = el("span", "timer", typeof u.status_ms === "number" ? t("since", { d: duration(now - u.status_ms) }) : "");
    if (typeof u.status_ms === "number") timer.dataset.since = String(u.status_ms);
    li.append(el("span", "uid", u.unit_id), el("span", "st", word("st_", u.status)), timer);
    if (u.stale) li.append(el("span", "badge stale", t("stale")));
    const b = actButton("unit_status", true, "btn_unit_status");
    if (b) li.append(b);
    list.append(li);
  }
  if (!busy.length) list.append(el("li", "empty", t("noBusy")));
  box.replaceChildren(head, agencies, districts, i18nEl("div", "sub", "busyUnits"), list);
}

function statusForm(u) {  // a dispatcher's manual change: the new status (the reason: the text)
  return {
    placeholder: "statusReasonPh",
    build(box) {
      const sel = selectOf("unit-status", [["", t("choose"), "choose"],
        ...APCO.filter((st) => st !== u.status).map((st) => [st, t("st_" + st), "st_" + st])]);
      box.append(formRow("newStatus", "unit-status", sel));
    },
    collect() {
      const status = $("unit-status").value;
      return status ? { args: { status } } : { error: "needStatus" };
    },
  };
}
function openStatus(unitId) {
  const u = disp.units.get(unitId);
  if (!u) return;
  openDialog("statusOn", `${u.unit_id} · ${word("st_", u.status)}`, "unit_status", "reason",
    { unit_id: u.unit_id }, true, statusForm(u));
}
$("units").addEventListener("click", (ev) => {
  const button = ev.target.closest('button[data-act="unit_status"]'), li = ev.target.closest("[data-unit]");
  if (button && li) openStatus(li.dataset.unit);
});
setInterval(() => {
  const now = eventNow();
  for (const e of document.querySelectorAll("#units .timer[data-since]")) {
    e.textContent = t("since", { d: duration(now - Number(e.dataset.since)) });
  }
}, 1000);
