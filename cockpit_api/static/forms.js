"use strict";
// The command dialogs' forms (silence, extend, merge, split, link call): build(box) fills
// #dlg-form, collect() answers {args, what} or {error: key}.
function i18nEl(tag, cls, key) { const e = el(tag, cls, t(key)); e.dataset.i18n = key; return e; }
function formRow(labelKey, forId, ...controls) {
  const row = el("div", "field"), label = i18nEl(forId ? "label" : "span", null, labelKey);
  if (forId) label.htmlFor = forId;
  row.append(label, ...controls);
  return row;
}
function selectOf(id, options) {  // options: [value, text, i18n key of the text or none]
  const s = el("select");
  s.id = id;
  for (const [value, text, key] of options) {
    const o = el("option", null, text);
    o.value = value;
    if (key) o.dataset.i18n = key;
    s.append(o);
  }
  return s;
}
function radio(name, value, key) {
  const label = el("label", "choice"), input = el("input");
  input.type = "radio"; input.name = name; input.value = value;
  label.append(input, i18nEl("span", null, key));
  return label;
}
function pinsOf(matchers, titles) {  // what it mutes in words; the matchers as written on hover
  const pins = el("span", "meta pins", matchersText(matchers, titles));
  pins.title = matchers.join(", ");
  return pins;
}
const SILENCE_FOR = [["30m", 30], ["1h", 60], ["4h", 240], ["resolved", null]];  // minutes
function silenceForm(matchers, titles) {
  return {
    placeholder: "reasonPh", need: "needReason",
    build(box) {
      const dur = selectOf("dlg-duration", SILENCE_FOR.map(([v]) => [v, t(`dur_${v}`), `dur_${v}`]));
      dur.value = "1h";
      box.append(formRow("silenceMatch", null, pinsOf(matchers, titles)),
        formRow("silenceFor", "dlg-duration", dur));
    },
    collect() {
      const minutes = new Map(SILENCE_FOR).get($("dlg-duration").value);
      const ends_at = minutes == null ? null : new Date(Date.now() + minutes * 60_000).toISOString();
      return { args: { matchers, ends_at, until_resolved: minutes == null } };
    },
  };
}
// A silence's new end: the chosen time added to its current end, or to now when that has
// passed or there is none (the engine takes only a future end); minutes null: until expired.
const EXTEND_BY = [["30m", 30], ["1h", 60], ["4h", 240], ["expired", null]];
function silenceEndMs(s) {
  if (typeof s.ends_ms === "number") return s.ends_ms;
  const ms = str(s.ends_at) ? Date.parse(s.ends_at) : NaN;
  return isNaN(ms) ? null : ms;
}
function extendedEnd(s, minutes, now) {
  return minutes == null ? null : Math.max(silenceEndMs(s) ?? now, now) + minutes * 60_000;
}
function extendForm(s, what) {
  const minutes = () => new Map(EXTEND_BY).get($("dlg-extend").value);
  const untilAfter = (ms) => untilOf({ ...s, ends_ms: ms, ends_at: null });
  return {
    build(box) {
      const by = selectOf("dlg-extend", EXTEND_BY.map(([v]) => [v, t(`ext_${v}`), `ext_${v}`]));
      by.value = "1h";
      const next = el("span", "meta");
      next.id = "dlg-new-end";
      const show = () => { next.textContent = untilAfter(extendedEnd(s, minutes(), Date.now())); };
      by.addEventListener("change", show);
      box.append(formRow("extendNow", null, el("span", "meta", untilOf(s))),
        formRow("extendBy", "dlg-extend", by), formRow("extendTo", null, next));
      show();
    },
    collect() {  // from the end as it is when sent: it may have passed while the dialog was open
      const ms = extendedEnd(s, minutes(), Date.now());
      return { args: { ends_at: ms == null ? null : new Date(ms).toISOString() },
        what: `${what} · ${untilAfter(ms)}` };
    },
  };
}
const incLabel = (i) => [incName(i), placeName(i.district) ?? t("unknown"),
  tn("alertsN", i.alerts ?? 0), i.incident_id].filter(str).join(" · ");
function mergeForm(source) {
  const others = incidentsSorted().filter((i) => i.incident_id !== source.incident_id);
  return {
    build(box) {
      box.append(formRow("mergeTarget", "dlg-target", selectOf("dlg-target",
        [["", t("choose"), "choose"], ...others.map((i) => [i.incident_id, incLabel(i)])])));
    },
    collect() {
      const target = $("dlg-target").value, inc = state.incidents.get(target);
      if (!target) return { error: "needTarget" };
      return { args: { target }, what: `${incName(source)} → ${inc ? incName(inc) : target}` };
    },
  };
}
function splitForm(inc) {
  const members = inc.members ?? [];
  return {
    build(box) {
      const picks = el("div", "picks");
      for (const m of members) {
        const label = el("label", "pick"), tick = el("input"), where = el("span", "meta");
        tick.type = "checkbox"; tick.value = m.fingerprint;
        if (str(m.entity_id)) where.append(`${m.entity_id} · `);
        where.append(i18nEl("span", null, m.status === "resolved" ? "resolved" : "firing"));
        label.append(tick, el("span", null, titleOf(m)), where);
        picks.append(label);
      }
      box.append(picks);
    },
    collect() {
      const fps = [...$("dlg-form").querySelectorAll("input[type=checkbox]:checked")].map((x) => x.value);
      if (!fps.length) return { error: "splitNone" };
      // the worker refuses it too (an incident cannot be left empty): say so before sending
      if (fps.length >= Math.max(inc.alerts ?? 0, members.length)) return { error: "splitAll" };
      return { args: { fingerprints: fps }, what: `${incName(inc)} · ${tn("alertsN", fps.length)}` };
    },
  };
}
function linkForm(what) {
  return {
    build(box) {
      const id = el("input");
      id.type = "text"; id.id = "dlg-call"; id.maxLength = 128; id.autocomplete = "off";
      id.dataset.i18nPh = "callIdPh"; id.placeholder = t("callIdPh");
      box.append(formRow("callId", "dlg-call", id),
        formRow("callLine", null, radio("dlg-stream", "ems", "s_ems"), radio("dlg-stream", "fire", "s_fire")));
    },
    collect() {
      const call_id = $("dlg-call").value.trim();
      const stream = $("dlg-form").querySelector("input[name=dlg-stream]:checked")?.value;
      if (!call_id) return { error: "needCallId" };
      if (!stream) return { error: "needStream" };
      return { args: { call_id, stream }, what: `${what} · ${call_id}` };
    },
  };
}
