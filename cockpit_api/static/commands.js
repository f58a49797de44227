"use strict";
// --- commands: the signed-in user gives them; sending, feedback ------------------------------
const operator = () => state.session?.user ?? "";
const may = (act) => Array.isArray(state.session?.actions) && state.session.actions.includes(act);
function newId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 15) | 64; b[8] = (b[8] & 63) | 128;
  const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
function toast(id, status, text, why) {
  let node = id ? document.querySelector(`.toast[data-command-id="${CSS.escape(id)}"]`) : null;
  if (!node) {
    node = el("div", "toast");
    if (id) node.dataset.commandId = id;
    $("toasts").append(node);
    while ($("toasts").children.length > MAX_TOASTS) $("toasts").firstElementChild.remove();
  }
  node.dataset.state = status;
  node.replaceChildren(el("span", null, text));
  if (why) node.append(el("span", "why", why));
  clearTimeout(node._timer);
  node._timer = setTimeout(() => node.remove(), TOAST_MS);
}
function needSignIn() {
  toast(null, "refused", t("needSignIn"));
  showLogin();
}
let ws = null;
function sendCommand(action, args, what) {
  if (!state.session) { needSignIn(); return false; }
  if (!ws || ws.readyState !== WebSocket.OPEN) { toast(null, "refused", t("notConnected")); return false; }
  const id = newId(), label = `${t("act_" + action)} · ${what}`;
  state.pending.set(id, { action, label });
  ws.send(JSON.stringify({ type: "command", command: { command_id: id, action, ...args } }));
  toast(id, "sending", `${label}：${t("sending")}`);
  return true;
}
function onFeedback(msg) {
  const id = msg.type === "command_result" ? msg.result.command_id : msg.command_id;
  const p = state.pending.get(id);
  if (!p) return;  // another screen's command
  if (msg.type === "command_queued") { toast(id, "queued", `${p.label}：${t("queued")}`); return; }
  state.pending.delete(id);
  const r = msg.type === "command_result" ? msg.result : msg;
  if (msg.type === "command_result" && r.ok) toast(id, "applied", `${p.label}：${t("applied")}`);
  else toast(id, "refused", `${p.label}：${t("refused")}`, whyRefused(r));
}
// Why a command was refused: by its code, in the page's language (why_<code>, refusal_words.js);
// a code the vocabulary does not know is said as "no reason given", never shown raw (the
// server's English reason stays in the console log and the audit record).
function whyRefused(r) {
  const key = `why_${r.code}`;
  if (key in I18N.zh) return t(key);
  console.warn("refusal code without words:", r.code, r.reason);
  return t("refusedUnknown");
}
// One dialog for every command that needs more than a click. Its text fills the argument
// `field` (no field: the text box is hidden; `optional`: it may stay empty). A `form` adds
// controls of its own: build(box) fills #dlg-form, collect() answers {args, what} or
// {error: key} -- refused here, said in the dialog, nothing sent. Its labels carry data-i18n
// like the page's own (renderStatic translates them).
let dialog = null;
function openDialog(titleKey, what, action, field, args, optional, form) {
  if (!state.session) { needSignIn(); return; }
  dialog = { what, action, field, args, optional, form };
  $("dlg-title").textContent = t(titleKey, { what });
  const text = $("dlg-text");
  text.value = ""; text.hidden = !field;
  if (form?.placeholder) text.dataset.i18nPh = form.placeholder; else delete text.dataset.i18nPh;
  text.placeholder = form?.placeholder ? t(form.placeholder) : "";
  $("dlg-form").replaceChildren();
  form?.build?.($("dlg-form"));
  dlgError(null);
  $("comment-dlg").hidden = false;
  (field ? text : $("dlg-form").querySelector("input, select") ?? $("dlg-send")).focus();
}
function closeDialog() { $("comment-dlg").hidden = true; $("dlg-form").replaceChildren(); dialog = null; }
function dlgError(key) {
  const e = $("dlg-error");
  e.hidden = !key;
  if (key) { e.dataset.i18n = key; e.textContent = t(key); }
  else { delete e.dataset.i18n; e.textContent = ""; }
}
$("dlg-cancel").addEventListener("click", closeDialog);
document.addEventListener("keydown", (ev) => { if (ev.key === "Escape" && dialog) closeDialog(); });
$("dlg-send").addEventListener("click", () => {
  if (!dialog) return;
  const text = $("dlg-text").value.trim();
  if (dialog.field && !text && !dialog.optional) {
    dlgError(dialog.form?.need ?? "needText"); $("dlg-text").focus(); return;
  }
  const got = dialog.form?.collect ? dialog.form.collect() : {};
  if (got.error) { dlgError(got.error); return; }
  const args = { ...dialog.args, ...got.args, ...(dialog.field && text ? { [dialog.field]: text } : {}) };
  if (sendCommand(dialog.action, args, got.what ?? dialog.what)) closeDialog();
});
// form controls; a label's text is a data-i18n span or label, never the control's parent
