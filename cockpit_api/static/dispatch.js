"use strict";
// Dispatch (cockpit_api/dispatch_view.py): the unit board panel, the package of an incident
// on its card (recommended units and why, unfilled slots, skipped units, coverage, move-ups)
// with Confirm / Edit / Reject for the roles that may, and the dispatch records in the
// incident's timeline. Loaded after cockpit.js (its state, vocabulary and helpers); every
// status, capability, reason and run card reaches the screen through the vocabulary below.
Object.assign(I18N.zh, {
  unitBoard: "力量调度", availableN: "可用 {n}", committedN: "执勤 {n}", staleN: "定位超时 {n}",
  availByDistrict: "各区县可用力量", busyUnits: "执勤中力量", noBusy: "暂无执勤力量",
  stale: "定位超时", since: "已 {d}", pkgTitle: "推荐调派方案", pkgState_recommended: "待确认",
  pkgState_confirmed: "已确认调派", pkgState_edited: "已调整", pkgState_rejected: "已驳回",
  m_road_graph: "按实时路况行车时间排序", m_straight_line: "无路网：按直线距离×绕行系数估算",
  runCard: "调派预案", etaMin: "{m} 分钟", routeKm: "{km} 公里", unfilled: "未满足",
  skippedN: "未选力量 {n}（原因）", coverage: "调派后覆盖率", moveups: "建议移防",
  moveupTo: "{unit} → {station}", pkgBy: "{who}", pkgReason: "原因：{why}",
  act_dispatch_confirm: "确认调派", act_dispatch_edit: "调整方案", act_dispatch_reject: "驳回方案",
  act_unit_status: "更改力量状态", act_moveup_confirm: "确认移防",
  editOn: "调整调派方案：{what}", editRemove: "移出力量", editAdd: "增派力量",
  editReasonPh: "调整原因（必填），如：一号车更熟悉该小区", needEdit: "请至少增派或移出一个力量",
  rejectOn: "驳回调派方案：{what}", rejectPh: "驳回原因（必填）", needWhy: "请填写原因",
  noPackage: "暂无调派方案", pkgUnits: "调派 {n} 个力量",
  st_available: "可用", st_dispatched: "已派出", st_en_route: "途中", st_on_scene: "到场",
  st_transporting: "转运中", st_at_hospital: "在医院", st_returning: "返回中",
  st_out_of_service: "停用",
  cap_als: "高级生命支持", cap_bls: "基础生命支持", cap_negative_pressure: "负压救护",
  cap_engine: "水罐消防车", cap_ladder: "云梯车", cap_rescue: "抢险救援", cap_hazmat: "危化品处置",
  cap_traffic_control: "交通管制", cap_gas_repair: "燃气抢修", cap_water_repair: "供水抢修",
  cap_env_monitoring: "环境监测",
  ua_ems: "120 急救", ua_fire: "119 消防", ua_police: "交警", ua_gas: "燃气", ua_water: "供水",
  ua_environment: "生态环境",
  dk_package_recommended: "推荐调派方案", dk_package_confirmed: "确认调派", dk_package_edited: "调整方案",
  dk_package_rejected: "驳回方案", dk_unit_assigned: "力量派出", dk_unit_status: "力量状态",
  dk_unit_stale: "定位超时", dk_unit_fresh: "定位恢复", dk_timer_escalated: "超时升级", dk_moveup_suggested: "建议移防",
  dk_moveup_confirmed: "确认移防", dk_preemption_request: "信号优先请求",
  preemptionsN: "信号优先请求 {n} 个路口", reasonUnknown: "（原因未说明）",
  dr_none_available: "无可用力量", btn_unit_status: "改状态", statusOn: "更改力量状态：{what}",
  newStatus: "新状态", statusReasonPh: "原因（选填），如：车辆故障", needStatus: "请选择新状态", dr_no_unit: "无具备该能力的可用力量", dr_superseded: "已被新方案取代",
  dr_withdrawn: "方案已撤回", dr_assigned: "调派", dr_incident_resolved: "事件已结案，力量归队",
  dr_merged: "事件合并", dr_excluded: "调度员已移除", dr_unavailable: "状态不可派",
  dr_in_package: "已在本方案中", dr_station_cap: "该站已达派出上限", dr_unreachable: "道路不可达",
  covTarget: "{cap} {m} 分钟可达",
  why_unknown_incident: "事件不存在或已结束", why_unknown_package: "调派方案不存在",
  why_stale_package: "方案已更新，请按最新方案操作", why_incident_closed: "事件已结案",
  why_unknown_unit: "力量不存在", why_unit_unavailable: "该力量当前不可派（已被调派或停用）",
  why_not_capable: "该力量不具备预案所需能力", why_not_in_package: "该力量不在本方案中",
  why_unknown_status: "未知的力量状态", why_bad_transition: "不允许的状态变更",
  why_unknown_moveup: "移防建议不存在", why_stale_moveup: "移防建议已过时",
  why_nothing_to_do: "没有需要变更的内容", why_reused_command_id: "指令编号重复",
  why_dispatch_internal: "调度服务内部错误",
});
Object.assign(I18N.en, {
  unitBoard: "Units", availableN: "{n} available", committedN: "{n} committed",
  staleN: "{n} stale", availByDistrict: "Available by district", busyUnits: "Committed units",
  noBusy: "No committed units", stale: "Location stale", since: "for {d}",
  pkgTitle: "Recommended response", pkgState_recommended: "Awaiting decision",
  pkgState_confirmed: "Dispatched", pkgState_edited: "Edited", pkgState_rejected: "Rejected",
  m_road_graph: "Ranked by drive time under live traffic",
  m_straight_line: "No road graph: straight line × detour factor",
  runCard: "Run card", etaMin: "{m} min", routeKm: "{km} km", unfilled: "Unfilled",
  skippedN: "{n} units not chosen (why)", skippedN_one: "{n} unit not chosen (why)", coverage: "Coverage after dispatch",
  moveups: "Suggested move-ups", moveupTo: "{unit} → {station}", pkgBy: "{who}",
  pkgReason: "Reason: {why}",
  act_dispatch_confirm: "Confirm", act_dispatch_edit: "Edit", act_dispatch_reject: "Reject",
  act_unit_status: "Change unit status", act_moveup_confirm: "Confirm move-up",
  editOn: "Edit the response: {what}", editRemove: "Remove units", editAdd: "Add units",
  editReasonPh: "Reason (required), e.g. engine 1 knows the estate", needEdit: "Add or remove at least one unit",
  rejectOn: "Reject the response: {what}", rejectPh: "Reason (required)", needWhy: "Give a reason",
  noPackage: "No response yet", pkgUnits: "{n} units", pkgUnits_one: "{n} unit",
  st_available: "Available", st_dispatched: "Dispatched", st_en_route: "En route",
  st_on_scene: "On scene", st_transporting: "Transporting", st_at_hospital: "At hospital",
  st_returning: "Returning", st_out_of_service: "Out of service",
  cap_als: "ALS", cap_bls: "BLS", cap_negative_pressure: "Negative pressure", cap_engine: "Engine",
  cap_ladder: "Ladder", cap_rescue: "Rescue", cap_hazmat: "Hazmat team",
  cap_traffic_control: "Traffic control", cap_gas_repair: "Gas repair",
  cap_water_repair: "Water repair", cap_env_monitoring: "Environmental monitoring",
  ua_ems: "120 EMS", ua_fire: "119 Fire", ua_police: "Traffic police", ua_gas: "Gas",
  ua_water: "Water", ua_environment: "Environment",
  dk_package_recommended: "Response recommended", dk_package_confirmed: "Response confirmed",
  dk_package_edited: "Response edited", dk_package_rejected: "Response rejected",
  dk_unit_assigned: "Unit assigned", dk_unit_status: "Unit status", dk_unit_stale: "Location stale", dk_unit_fresh: "Location back",
  dk_timer_escalated: "Timer escalated", dk_moveup_suggested: "Move-up suggested",
  dk_moveup_confirmed: "Move-up confirmed", dk_preemption_request: "Signal pre-emption",
  preemptionsN: "Signal pre-emption at {n} intersections", reasonUnknown: "(no reason given)",
  dr_none_available: "no unit available", btn_unit_status: "Status", statusOn: "Change unit status: {what}",
  newStatus: "New status", statusReasonPh: "Reason (optional), e.g. vehicle fault", needStatus: "Choose the new status", dr_no_unit: "no available unit with this capability",
  dr_superseded: "superseded by a new package", dr_withdrawn: "withdrawn", dr_assigned: "assigned",
  dr_incident_resolved: "incident closed, unit released", dr_merged: "incidents merged",
  dr_excluded: "removed by the dispatcher", dr_unavailable: "not available",
  dr_in_package: "already in this package", dr_station_cap: "its station already sends its share",
  dr_unreachable: "no open road to the incident", covTarget: "{cap} within {m} min",
  why_unknown_incident: "No such open incident", why_unknown_package: "No such package",
  why_stale_package: "The package changed: act on the current one", why_incident_closed: "The incident is closed",
  why_unknown_unit: "No such unit", why_unit_unavailable: "The unit cannot be sent now (assigned or out of service)",
  why_not_capable: "The unit has none of the capabilities the run card needs", why_not_in_package: "The unit is not in this package",
  why_unknown_status: "Unknown unit status", why_bad_transition: "This status change is not allowed",
  why_unknown_moveup: "No such move-up", why_stale_moveup: "The move-up is out of date",
  why_nothing_to_do: "Nothing to change", why_reused_command_id: "This command id was already used",
  why_dispatch_internal: "Internal dispatch error",
});
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

// --- the unit board panel -------------------------------------------------------------------
let boardSig = "";
function renderUnitBoard() {  // rebuilt when the units change; the timers tick in place
  const box = $("units"), sig = `${disp.seq}|${state.lang}|${state.session?.role ?? ""}`;
  if (!box || sig === boardSig) return;
  boardSig = sig;
  const now = Date.now(), byAgency = new Map(), byDistrict = new Map(), busy = [];
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
  if (str(p.actor) && p.state !== "recommended") head.append(el("span", "who", t("pkgBy", { who: p.actor })));
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
  if (p.open) {
    const acts = el("div", "acts pkg-acts");
    acts.append(...[actButton("dispatch_confirm", true), actButton("dispatch_edit", true),
      actButton("dispatch_reject", true)].filter(Boolean));
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
    for (const [d, v] of Object.entries(tg.districts ?? {}).slice(0, 8)) {
      out.push(`${placeName(d) ?? t("unknown")} ${pct(v?.before)} → ${pct(v?.after)}`);
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
setInterval(() => {
  const now = Date.now();
  for (const e of document.querySelectorAll("#units .timer[data-since]")) {
    e.textContent = t("since", { d: duration(now - Number(e.dataset.since)) });
  }
}, 1000);
