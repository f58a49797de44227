"use strict";
// The notifications panel: what the receivers were told, in the page's words.
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
