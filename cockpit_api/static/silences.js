"use strict";
// The silences panel. A silence's matchers are said in words (matcherWords): the label by
// its name, a district, level or stream by its word, a detector by its family, an alert kind by
// the title of an alert of that kind on the screen; the matchers as written are its tooltip.
const MATCHER = /^([A-Za-z_][A-Za-z0-9_]*)(=~|!~|!=|=)"((?:[^"\\]|\\.)*)"$/;
const MATCH_KEY = { "=": "matchEq", "!=": "matchNe", "=~": "matchRe", "!~": "matchNre" };
function labelValue(name, value, titles) {
  if (name === "district") return placeName(value) ?? value;
  if (name === "severity") return known("sev_" + value) ? t("sev_" + value) : value;
  if (name === "stream") return known("s_" + value) ? t("s_" + value) : value;
  if (name === "detector") return known("det_" + value) ? t("det_" + value) : t("unknown");
  if (name === "kind") {
    if (str(titles?.[value])) return titles[value];
    const a = [...state.alerts.values()].find((x) => x.kind === value && str(x.title_zh ?? x.title_en));
    return a ? titleOf(a) : (/^[a-z0-9]+(_[a-z0-9]+)*$/.test(value) ? t("unknown") : value);
  }
  return value;
}
function matcherWords(m, titles) {
  const x = MATCHER.exec(String(m));
  if (!x) return String(m);
  const [, name, op, raw] = x, value = raw.replace(/\\(.)/g, (_, c) => (c === "n" ? "\n" : c));
  const label = known("lbl_" + name) ? t("lbl_" + name) : name;
  // a regex that is a plain alternation (minor|info) is said value by value
  const v = op === "=" || op === "!=" ? labelValue(name, value, titles)
    : /^[\w-]+(\|[\w-]+)*$/.test(value) ? value.split("|").map((x) => labelValue(name, x, titles)).join("/")
      : value;
  return t(MATCH_KEY[op], { k: label, v });
}
// titles: {kind: title} of an alert the caller knows (the one a silence is being made for)
const matchersText = (ms, titles) => (ms ?? []).map((m) => matcherWords(m, titles)).join(t("listSep"));
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
  const what = el("div", "meta", matchersText(s.matchers));
  what.title = (s.matchers ?? []).join(", ");
  item.append(what, acts, who, until);
  return item;
}
$("silences").addEventListener("click", (ev) => {
  const button = ev.target.closest("button[data-act]"), item = ev.target.closest(".sil");
  if (!button || !item) return;
  const id = item.dataset.silence, s = state.silences.get(id);
  const what = s ? matchersText(s.matchers) : id, args = { silence_id: id };
  if (button.dataset.act === "extend_silence") {
    if (s) openDialog("extendOn", what, "extend_silence", null, args, false, extendForm(s, what));
  } else if (button.dataset.act === "expire_silence") sendCommand("expire_silence", args, what);
});
