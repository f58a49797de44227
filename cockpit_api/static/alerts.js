"use strict";
// The live alert list: one row per fingerprint, its state and its commands.
// --- rendering --------------------------------------------------------------------------------
// a command's button, or null when the signed-in role may not give that command
function actButton(act, enabled, labelKey) {
  if (!may(act)) return null;
  const b = el("button", null, t(labelKey ?? `act_${act}`));
  b.type = "button"; b.dataset.act = act; b.disabled = !enabled;
  return b;
}
// The reading (cockpit_api/reading_view.py): the value with the places it has, and the
// threshold with its side ("≤ 0.14 MPa": alarm at or below), none where the detector has none.
function readingCell(r) {
  const cell = el("div", "value");
  if (!r || typeof r !== "object") { cell.textContent = "—"; return cell; }
  cell.append(el("b", null, withUnit(fixed(r.value, r.decimals), r.unit)));
  if (typeof r.threshold === "number") {
    const thr = withUnit(fixed(r.threshold, r.threshold_decimals), r.unit);
    cell.append(el("span", "thr", r.op === "ge" || r.op === "le" ? t("thr_" + r.op, { t: thr })
      : t("thr_any", { t: thr })));
  }
  return cell;
}
// an alert from a server without reading_view: its numbers as sent, no side (never invented)
function bareReading(a) {
  const places = (v) => (typeof v === "number" && isFinite(v) ? Math.min(3, (String(v).split(".")[1] ?? "").length) : 0);
  if (typeof a.value !== "number" && typeof a.threshold !== "number") return null;
  return { value: a.value, decimals: places(a.value), unit: a.unit,
    threshold: typeof a.threshold === "number" && a.threshold !== 0 ? a.threshold : null,
    threshold_decimals: places(a.threshold), op: null };
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
  // the entity (an id) and its stream in words; the kind is a code, its title says it
  what.append(el("div", "title", titleOf(a)), el("div", "meta",
    [a.entity_id, str(a.stream) ? wordOf("s_", a.stream) : null].filter(str).join(" · ") || "—"));
  const why = whyOf(a);
  if (why) what.append(el("div", "meta why", why));
  const said = life && life.comments && life.comments.length ? life.comments[life.comments.length - 1] : null;
  if (said) what.append(el("div", "note", `▸ ${said.actor}：${said.comment}`));
  const value = readingCell(a.reading ?? bareReading(a));
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
    if (matchers) openDialog("silenceOn", what, "silence", "reason", {}, false,
      silenceForm(matchers, { [labelsOf(a).kind]: what }));
    return;
  }
  const args = { fingerprint: fp };
  if (a?.life?.occurrence) args.occurrence = a.life.occurrence;
  sendCommand(button.dataset.act, args, what);
});
