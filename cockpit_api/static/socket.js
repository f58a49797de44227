"use strict";
// --- the socket -------------------------------------------------------------------------------
function onMessage(ev) {
  let msg;
  try { msg = JSON.parse(ev.data); } catch (e) { console.warn("bad message", e); return; }
  switch (msg.type) {
    case "snapshot":
      state.alerts.clear(); state.life.clear(); state.incidents.clear();
      state.silences.clear(); state.silenced.clear();
      for (const a of [...(msg.alerts ?? [])].reverse()) upsert(a, false);
      for (const l of msg.alert_states ?? []) setLife(l.fingerprint, l);
      for (const i of msg.incidents ?? []) setIncident(i);
      state.notes = [...(msg.notifications ?? [])];
      state.places = msg.places ?? {};
      for (const s of msg.silences ?? []) setSilence(s.silence_id, s);
      for (const [fp, ids] of Object.entries(msg.silenced ?? {})) setMarks(fp, ids);
      dispatchSnapshot(msg.dispatch); kpiSet(msg.kpis);
      replayState(msg.replay ?? null);
      break;
    case "replay": replayState(msg); return;
    case "dispatch": onDispatch(msg); break;
    case "kpis": kpiSet(msg.kpis); renderKpis(); return;
    case "alert": upsert(msg.alert, msg.alert?.reasserted !== true); setMarks(msg.alert?.fingerprint, msg.silenced_by); break;
    case "alert_state":
      setLife(msg.fingerprint, msg.state); setMarks(msg.fingerprint, msg.silenced_by); break;
    case "silence":
      setSilence(msg.silence_id, msg.silence);
      for (const [fp, ids] of Object.entries(msg.silenced ?? {})) setMarks(fp, ids);
      break;
    case "incident": setIncident(msg.incident); break;
    case "notification":
      state.notes = [msg.notification, ...state.notes.filter((n) => n.key !== msg.notification.key)].slice(0, 50);
      break;
    case "command_queued": case "command_error": case "command_result": onFeedback(msg); return;
    case "stats": state.stats = msg; renderSys(); return;
    case "session": onSession(msg); break;
    case "auth_error": onAuthError(msg); return;
    default: return;
  }
  schedule();
}
function tick() {
  const s = shanghai(new Date());
  $("clock").textContent = s.time;
  $("date").textContent = `${s.date} ${t("timeZone")}`;
  if (state.conn === "closed") renderConn();
}
$("lang-toggle").addEventListener("click", () => {
  state.lang = state.lang === "zh" ? "en" : "zh";
  stored("citycc.lang", state.lang);
  render(); tick();
});
