"use strict";
// The header (language, who, connection) and the system panel.
function renderStatic() {
  document.documentElement.lang = state.lang === "en" ? "en" : "zh-CN";
  document.title = t("docTitle");
  for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
  for (const node of document.querySelectorAll("[data-i18n-ph]")) node.placeholder = t(node.dataset.i18nPh);
  const city = state.places.city ? state.places.city[state.lang === "en" ? "en" : "zh"] : t("city");
  $("subtitle").textContent = t("subtitle", { city });
  renderWho();
  $("lang-toggle").textContent = t("toggle");
}
function renderConn() {
  $("conn").dataset.state = state.conn;
  const secs = Math.max(0, Math.ceil((state.retryAt - Date.now()) / 1000));
  $("conn-text").textContent = t(state.conn, { s: secs });
}
function renderSys() {
  const s = state.stats ?? {};
  const rows = [["published", s.published ?? 0], ["malformed", s.malformed ?? 0],
    ["clients", s.clients ?? 0], ["dropped", s.dropped_clients ?? 0],
    ["feed", t(`feed_${s.feed ?? "idle"}`) + ((s.feed_missing ?? []).length
      ? ` ${t("missingTopics", { n: s.feed_missing.length })}` : "")]];
  const procs = s.processes ?? {};
  const known = PROCESSES.filter((p) => procs[p]);
  if (known.length) rows.push(["restarts", known.reduce((n, p) => n + (procs[p].restarts ?? 0), 0)]);
  const sysRows = rows.map(([k, v]) => [t(k), v]);
  for (const p of known) sysRows.push(["· " + t("proc_" + p), restartText(procs[p])]);
  $("sys").replaceChildren(...sysRows.map(([k, v]) => {
    const d = el("div"); d.append(el("span", null, k), el("span", null, v)); return d; }));
}
// a signal in words ("SIGKILL" is the supervisor's name for it, never shown)
const signalText = (sig) => t(str(sig) && ("sig_" + sig) in I18N.zh ? "sig_" + sig : "sig_other");
// one supervised process: "2 restarts · 16:05:03 · force-killed" (from the supervisor)
function restartText(p) {
  const parts = [tn("restartsN", p.restarts ?? 0)];
  if (p.restarts) parts.push(clockMs(p.last_restart_ms));
  const why = p.last_reason;
  if (why && ["signal", "exit", "operator", "unknown"].includes(why.kind)) {
    parts.push(t("why_" + why.kind, { sig: signalText(why.signal), code: why.code ?? "?" }));
  }
  if (typeof p.next_start_ms === "number") {
    parts.push(t("restartIn", { s: Math.max(0, Math.ceil((p.next_start_ms - Date.now()) / 1000)) }));
  }
  return parts.join(" · ");
}
