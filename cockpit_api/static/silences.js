"use strict";
// The silences panel.
function untilOf(s) {
  const end = typeof s.ends_ms === "number" ? fmtMs(s.ends_ms)
    : str(s.ends_at) ? fmtTime(s.ends_at) : null;
  if (end) return t(s.until_resolved ? "untilOrResolved" : "until", { t: end });
  return t(s.until_resolved ? "untilResolved" : "untilExpired");
}
function renderSilence(s, muting) {
  const item = el("div", "sil");
  item.dataset.silence = s.silence_id;
  const who = el("div", "who");
  who.append(el("span", "author", s.author), `${t("whySep")}${s.reason}`);
  const until = el("div", "until", untilOf(s) + (muting ? ` · ${tn("mutesN", muting)}` : ""));
  const acts = el("div", "acts");
  acts.append(...[actButton("extend_silence", true, "btn_extend_silence"),
    actButton("expire_silence", true, "btn_expire_silence")].filter(Boolean));
  item.append(el("div", "meta", (s.matchers ?? []).join(", ")), acts, who, until);
  return item;
}
$("silences").addEventListener("click", (ev) => {
  const button = ev.target.closest("button[data-act]"), item = ev.target.closest(".sil");
  if (!button || !item) return;
  const id = item.dataset.silence, s = state.silences.get(id);
  const what = s ? (s.matchers ?? []).join(", ") : id, args = { silence_id: id };
  if (button.dataset.act === "extend_silence") {
    if (s) openDialog("extendOn", what, "extend_silence", null, args, false, extendForm(s, what));
  } else if (button.dataset.act === "expire_silence") sendCommand("expire_silence", args, what);
});
