"use strict";
// The notifications panel: what the receivers were told, in the page's words.
// An alert notification names its alert by the alert's own title where the cockpit has it,
// else by its place and entity; a group's flush is counted in the page's language. The
// worker's summary is its English and the labels' kind a code: neither is shown.
function noteWhat(n, withEntity) {
  const labels = n.labels ?? {}, a = state.alerts.get(n.fingerprint);
  if (a) {
    const title = titleOf(a);
    return withPlace(districtOf(a), [withEntity && !title.includes(a.entity_id ?? "\u0000")
      ? a.entity_id : null, title].filter(str).join(" "));
  }
  return [placeName(labels.district), labels.entity_id].filter(str).join(" ") || t("unknown");
}
function noteText(n) {
  const d = n.details ?? {};
  if (Array.isArray(d.firing) && Array.isArray(d.resolved)) {
    const where = placeName((n.labels ?? {}).district);
    return t("noteGroup", { what: where ? `${where} · ` : "", firing: d.firing.length,
      resolved: d.resolved.length });
  }
  if (n.status !== "escalation") return noteWhat(n, true);
  return t("noteEscalation", { level: n.level ?? "", what: noteWhat(n, false) });
}
// who was told: a receiver of the routing tree by its name (rcv_<name>, a district duty desk
// "district_duty:<code>" by its district's); a name given in words as it is; a code: unknown
function receiverName(r) {
  if (!str(r)) return t("unknown");
  const [name, arg] = r.split(":", 2);
  if (known("rcv_" + name)) return t("rcv_" + name, { d: placeName(arg) ?? "" }).trim();
  return /^[\x00-\x7f]*$/.test(r) ? t("unknown") : r;
}
function renderNotes() {
  const list = state.notes.slice(0, 30);
  $("notes").replaceChildren(...(list.length ? list.map((n) => {
    const d = el("div", "n-item");
    d.append(el("span", "when", clockMs(n.at_ms)), el("span", "rcv", receiverName(n.receiver)),
      el("span", null, `[${wordOf("n_", n.status)}] ${noteText(n)}`));
    return d;
  }) : [el("div", "empty", t("noNotifications"))]));
}
