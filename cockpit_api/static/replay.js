"use strict";
// A replay or an exercise (cockpit_api/replay): the server names the session in its snapshot
// ("replay") and in "replay" messages; live, there is none and the bar stays hidden. The bar
// shows the mark (回放 / 演练), the window and the session's time in Asia/Shanghai, a slider
// over the window (drag: seek), play/pause, speeds and end. Controls go as "replay" frames;
// a refused one is said like a refused command (its code's words, refusal toasts).
state.replay = null;               // the server's last word on the session (null: live)
let replaySeenAt = 0;              // when it came (the time shown runs on from it at its speed)
let replayDragging = false;
function replayState(msg) {
  if (msg && msg.answers) state.pending.delete(msg.answers);
  state.replay = msg && typeof msg.start_ms === "number" ? msg : null;
  replaySeenAt = Date.now();
  renderReplay();
}
// the session's time now: the last word, run on at its speed while it plays
function replayNow() {
  const r = state.replay;
  if (!r) return null;
  if (r.paused || r.stopped || typeof r.speed !== "number") return r.at_ms;
  return Math.min(r.end_ms, r.at_ms + (Date.now() - replaySeenAt) * r.speed);
}
function renderReplay() {
  const r = state.replay, bar = $("replay");
  document.body.classList.toggle("replaying", !!r);
  bar.hidden = !r;
  if (!r) return;
  const drill = r.mode === "exercise";
  bar.classList.toggle("exercise", drill);
  bar.dataset.mode = drill ? "exercise" : "replay";
  $("replay-mark").textContent = t(drill ? "exerciseMark" : "replayMark");
  $("replay-window").textContent = t("replayWindow", { from: fmtMs(r.start_ms), to: fmtMs(r.end_ms), tz: t("timeZone") });
  const slider = $("replay-slider");
  slider.min = String(r.start_ms); slider.max = String(r.end_ms);
  slider.disabled = !!r.stopped;
  slider.setAttribute("aria-label", t("replaySlider"));
  const now = replayNow();
  if (!replayDragging) slider.value = String(now);
  const shown = replayDragging ? Number(slider.value) : now;
  const note = r.stopped ? t("replayStopped") : r.ended ? t("replayEnded") : r.paused ? t("replayPaused") : "";
  $("replay-at").textContent = `${t(drill ? "exerciseAt" : "replayAt", { t: fmtMs(shown) })} ${note}`.trim();
  $("replay-toggle").textContent = t(r.paused ? "replayPlay" : "replayPause");
  $("replay-toggle").disabled = $("replay-stop").disabled = !!r.stopped;
  for (const b of $("replay-speeds").querySelectorAll("button")) {
    const mine = b.dataset.speed === "max" ? r.speed === null : Number(b.dataset.speed) === r.speed;
    b.setAttribute("aria-pressed", String(mine));
    b.disabled = !!r.stopped;
  }
}
function replaySend(op, args) {
  if (!state.session) { needSignIn(); return; }
  if (!ws || ws.readyState !== WebSocket.OPEN) { toast(null, "refused", t("notConnected")); return; }
  const id = newId();
  state.pending.set(id, { action: "replay", label: t("act_replay") });
  ws.send(JSON.stringify({ type: "replay", op, command_id: id, ...(args ?? {}) }));
}
$("replay-slider").addEventListener("input", () => { replayDragging = true; renderReplay(); });
$("replay-slider").addEventListener("change", () => {
  replayDragging = false;
  replaySend("seek", { at_ms: Math.round(Number($("replay-slider").value)) });
});
$("replay-toggle").addEventListener("click", () => replaySend(state.replay?.paused ? "play" : "pause"));
$("replay-stop").addEventListener("click", () => replaySend("stop"));
$("replay-speeds").addEventListener("click", (ev) => {
  const b = ev.target.closest("button[data-speed]");
  if (b) replaySend("speed", { speed: b.dataset.speed === "max" ? "max" : Number(b.dataset.speed) });
});
setInterval(() => { if (state.replay && !state.replay.paused) renderReplay(); }, 250);
