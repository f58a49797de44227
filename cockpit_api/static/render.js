"use strict";
// One render of the whole page, batched per animation frame; lists reconciled in place.
function render() {
  renderStatic(); renderConn(); renderSys(); renderNotes(); renderUnitBoard(); renderKpis(); renderReplay();
  const list = rows();
  const active = list.filter((a) => a.status !== "resolved");
  const counts = Object.fromEntries(SEVERITIES.map((s) => [s, 0]));
  const byDistrict = new Map();
  for (const a of active) {
    counts[sevOf(a)]++;
    const d = districtOf(a); byDistrict.set(d, (byDistrict.get(d) ?? 0) + 1);
  }
  $("k-total").textContent = active.length;
  for (const s of SEVERITIES) $(`k-${s}`).textContent = counts[s];
  $("k-resolved").textContent = list.length - active.length;
  $("k-incidents").textContent = state.incidents.size;
  $("list-count").textContent = `${active.length} / ${list.length} ${t("items")}`.trim();
  const me = operator(), role = state.session?.role ?? "";
  reconcile($("alerts"), rowCache, list.map((a) => [a.fingerprint,
    `${state.lang}|${me}|${role}|${a._seq}|${a.life?.occurrence}|${a.life?.seq}|${silenceSig(a.fingerprint)}`,
    () => renderRow(a)]), t("empty"));
  const incs = incidentsSorted();
  $("inc-count").textContent = `${incs.length}`;
  reconcile($("incidents"), incCache, incs.map((i) => [i.incident_id,
    `${state.lang}|${role}|${i.seq}|${state.openIncident === i.incident_id}|${incs.length > 1}|${dispatchSig(i.incident_id)}`,
    () => renderIncident(i)]),
    t("noIncidents"));
  const muting = new Map();  // silence id -> active alerts on the screen it mutes
  for (const a of active) {
    for (const id of state.silenced.get(a.fingerprint) ?? []) muting.set(id, (muting.get(id) ?? 0) + 1);
  }
  const sils = silencesSorted();
  $("sil-count").textContent = `${sils.length}`;
  reconcile($("silences"), silCache, sils.map((s) => [s.silence_id,
    `${state.lang}|${role}|${s.updated_ms}|${s.action}|${s.ends_ms}|${muting.get(s.silence_id) ?? 0}`,
    () => renderSilence(s, muting.get(s.silence_id) ?? 0)]), t("noSilences"));
  const top = [...byDistrict].sort((a, b) => b[1] - a[1]);
  const max = top.length ? top[0][1] : 1;
  $("districts").replaceChildren(...(top.length ? top.map(([name, n]) => {
    const bar = el("div", "bar"), track = el("div", "track"), fill = el("div", "fill");
    fill.style.width = `${(100 * n) / max}%`; track.append(fill);
    bar.append(el("span", null, name), track, el("span", "n", n)); return bar;
  }) : [el("div", "empty", t("noDistrict"))]));
  state.fresh.clear();
}
// Lists keep the nodes of unchanged items in place, so a click is not lost to a re-render.
const rowCache = new Map(), incCache = new Map(), silCache = new Map();
function reconcile(box, cache, items, emptyText) {
  const nodes = items.map(([key, sig, make]) => {
    const hit = cache.get(key);
    if (hit && hit.sig === sig) return hit.node;
    const node = make(); cache.set(key, { sig, node }); return node;
  });
  const keep = new Set(items.map(([key]) => key));
  for (const key of [...cache.keys()]) if (!keep.has(key)) cache.delete(key);
  if (!nodes.length) nodes.push(el("div", "empty", emptyText));
  nodes.forEach((n, i) => { if (box.children[i] !== n) box.insertBefore(n, box.children[i] ?? null); });
  while (box.children.length > nodes.length) box.lastElementChild.remove();
}
let pendingRender = false;
function schedule() {
  if (pendingRender) return;
  pendingRender = true;
  requestAnimationFrame(() => { pendingRender = false; render(); });
}

