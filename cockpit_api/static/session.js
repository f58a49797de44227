"use strict";
// Signing in and the socket (cockpit_api/client.py): the first frame is the credentials, a
// password from the form or the token of an earlier sign-in (kept in sessionStorage, so a
// reload or a reconnect signs in again; a kiosk screen gets one in its URL: #token=...).
// Nothing is sent before the session message; the page offers only the session's actions.
const TOKEN_KEY = "citycc.token";
function token(value) {
  try {
    if (value === undefined) return sessionStorage.getItem(TOKEN_KEY);
    if (value === null) sessionStorage.removeItem(TOKEN_KEY); else sessionStorage.setItem(TOKEN_KEY, value);
  } catch (e) { /* storage disabled: sign in again after a reload */ }
  return null;
}
// Where the picture is (cockpit_api/protocol.py): the seq of the last delta (or snapshot) it
// holds and the hub's epoch. A reconnect sends them ("resume") and is sent only what it
// missed; a delta whose "prev" is not that seq means one was missed: ask for a snapshot and
// skip deltas until it comes.
const feed = { seq: null, epoch: null, resyncing: false };
function resetFeed() { feed.seq = null; feed.epoch = null; feed.resyncing = false; }
function inSequence(sock, data) {
  let msg;
  try { msg = JSON.parse(data); } catch (e) { return true; }  // (onMessage says so)
  if (msg.type === "snapshot") {
    feed.seq = typeof msg.seq === "number" ? msg.seq : null;
    feed.epoch = typeof msg.epoch === "string" ? msg.epoch : null;
    feed.resyncing = false;
    return true;
  }
  if (msg.type === "resumed") { feed.seq = msg.from; return true; }
  if (typeof msg.seq !== "number" || typeof msg.prev !== "number") return true;
  if (feed.resyncing) return false;
  if (msg.prev !== feed.seq) {
    console.warn("missed deltas between", feed.seq, "and", msg.prev, ": asking for a snapshot");
    feed.resyncing = true;
    sock.send(JSON.stringify({ type: "snapshot" }));
    return false;
  }
  feed.seq = msg.seq;
  return true;
}
// (a page that was waiting for a snapshot asks for a whole new one)
function resumeFrom() {
  const ok = feed.seq !== null && feed.epoch && !feed.resyncing;
  feed.resyncing = false;
  return ok ? { resume: feed.seq, epoch: feed.epoch } : {};
}
let attempt = 0;
function connect(first) {
  state.conn = "connecting"; renderConn();
  const sock = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`);
  ws = sock;
  sock.onopen = () => sock.send(JSON.stringify(first));
  sock.onmessage = (ev) => { if (inSequence(sock, ev.data)) onMessage(ev); };
  sock.onclose = (ev) => {
    if (ws !== sock) return;  // signed out, or replaced by a new sign-in
    ws = null;
    if (ev.reason) console.warn("websocket closed:", ev.code, ev.reason);
    if (!$("login").hidden) {  // refused at sign-in: the form says why (or that it got no answer)
      if ($("login-error").hidden) showLogin("login_no_connection"); else showLogin(undefined);
      return;
    }
    if (ev.code === 1008 && ev.reason !== "rate_limited") {  // ended by the server
      endSession(ev.reason === "session expired" ? "login_expired"
        : ev.reason === "unauthenticated" ? "login_user_changed" : null);
      return;
    }
    if (!token()) { endSession(null); return; }
    const delay = Math.min(10000, 500 * 2 ** attempt++) * (0.8 + Math.random() * 0.4);
    state.conn = "closed"; state.retryAt = Date.now() + delay; renderConn();
    setTimeout(() => { if (!ws && token()) connect({ type: "auth", token: token(), ...resumeFrom() }); }, delay);
  };
}
function onSession(msg) {
  attempt = 0;
  state.session = msg;
  token(msg.token);
  state.conn = "open";
  $("login").hidden = true;
  $("login-password").value = "";
  loginError(null);
  render();
}
function onAuthError(msg) {
  token(null);
  state.session = null;
  showLogin(msg.detail ? `login_${msg.detail}` : null, msg.reason);
}
// back to the sign-in form: the picture of the last user is not left on the screen
function endSession(key) {
  token(null);
  resetFeed();
  state.session = null;
  state.alerts.clear(); state.life.clear(); state.incidents.clear(); state.notes = [];
  state.silences.clear(); state.silenced.clear(); state.pending.clear(); dispatchClear();
  if (ws) { const sock = ws; ws = null; sock.close(1000, "signed out"); }
  showLogin(key);
  render();
}
// key undefined: the message shown stays
function showLogin(key, reason) {
  state.conn = "signedOut"; renderConn();
  $("login").hidden = false;
  if (key !== undefined) loginError(key, reason);
  $("login-submit").disabled = false;
  $("login-submit").textContent = t("signIn");
  ($("login-user").value ? $("login-password") : $("login-user")).focus();
}
function loginError(key, reason) {
  const e = $("login-error");
  const known = key && key in I18N.zh;
  e.hidden = !key && !reason;
  if (known) e.dataset.i18n = key; else delete e.dataset.i18n;
  e.textContent = known ? t(key) : (reason ?? "");
}
function renderWho() {
  const s = state.session;
  $("who").hidden = !s;
  if (!s) return;
  $("who-name").textContent = s.display || s.user;
  const where = (s.districts ?? []).length ? s.districts.map((d) => placeName(d) ?? d).join(t("listSep"))
    : t("wholeCity");
  $("who-role").textContent = [t(`role_${s.role}`), s.agency ? t(`ag_${s.agency}`) : null, where]
    .filter(Boolean).join(" · ");
}
$("login-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const user = $("login-user").value.trim(), password = $("login-password").value;
  if (!user || !password) { loginError("login_bad_credentials"); return; }
  loginError(null);
  $("login-submit").disabled = true;
  $("login-submit").textContent = t("signingIn");
  if (ws) { const sock = ws; ws = null; sock.close(1000); }
  resetFeed();
  connect({ type: "login", user, password });
});
$("sign-out").addEventListener("click", () => endSession(null));
// a kiosk URL carries its token after the # (never sent to a server); taken, then removed
if (location.hash.startsWith("#token=")) {
  token(decodeURIComponent(location.hash.slice(7)));
  history.replaceState(null, "", location.pathname + location.search);
}
render(); tick(); setInterval(tick, 1000);
if (token()) connect({ type: "auth", token: token() }); else showLogin(null);
