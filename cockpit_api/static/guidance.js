"use strict";
// An incident's emergency guidance (cockpit_api/guidance_view.py, from the enrichment the
// correlator stores): per cargo its name, class, ERG guide, isolation distances and the fire,
// spill and first-aid advice; the protected places within reach; the nearest stations and
// hospitals. Shown as guidance in the open incident, summed up in its timeline.
const words2 = (w) => (w && typeof w === "object" ? str(w[state.lang]) ?? str(w.zh) ?? str(w.en) : null);
const kmText = (v) => (typeof v === "number" ? v.toFixed(1) : "—");
function cargoName(c) {
  return t("g_cargo", { name: words2(c.name) ?? t("unknown"), un: c.un_number ?? "—",
    cls: words2(c.hazard_class_name) ?? t("unknown") });
}
function guidanceSummary(g) {  // one line for the timeline
  if (!g || typeof g !== "object") return "";
  const parts = (g.hazmat ?? []).map((c) => t("g_summary", { cargo: words2(c.name) ?? t("unknown"),
    g: c.guide ?? "—", m: c.isolation_m ?? "—" }));
  const n = Object.values(g.nearby ?? {}).reduce((k, rows) => k + (rows ?? []).length, 0);
  if (n) parts.push(t("g_places", { n }));
  return parts.join(t("listSep"));
}
function placeList(key, rows) {
  const li = el("li", "g-places");
  li.append(el("b", null, t(key)), " ",
    rows.length ? rows.map((r) => {
      const line = t("g_place", { name: words2(r.name) ?? t("unknown"), km: kmText(r.distance_km) });
      return r.inside ? t("g_inside", { name: line }) : line;
    }).join(t("listSep")) : t("g_none"));
  return li;
}
function guidancePanel(g) {
  if (!g || typeof g !== "object") return null;
  const box = el("div", "guidance");
  box.append(el("div", "g-head", t("g_title")));
  for (const c of g.hazmat ?? []) {
    const cargo = el("div", "g-cargo");
    cargo.append(el("div", "g-name", cargoName(c)));
    if (!c.known) cargo.append(el("div", "g-warn", t("g_unknown_cargo")));
    const dist = [t("g_guide", { g: c.guide ?? "—" })];
    if (typeof c.isolation_m === "number") dist.push(t("g_isolation", { m: c.isolation_m }));
    dist.push(typeof c.large_spill_m === "number" ? t("g_large_spill", { m: c.large_spill_m })
      : t("g_large_spill_table"));
    if (typeof c.fire_isolation_m === "number") dist.push(t("g_fire_isolation", { m: c.fire_isolation_m }));
    cargo.append(el("div", "g-dist", dist.join(" · ")));
    const advice = el("ul", "g-advice");
    for (const k of ["first_aid", "spill", "fire"]) {
      const text = words2(c[k]);
      if (!text) continue;
      const li = el("li");
      li.append(el("b", null, t("g_" + k)), " ", text);
      advice.append(li);
    }
    cargo.append(advice);
    box.append(cargo);
  }
  const near = el("ul", "g-near");
  const nearby = g.nearby ?? {};
  const kinds = ["schools", "hospitals", "water_sources", "tunnels"].filter((k) => (nearby[k] ?? []).length);
  // the radius heads the protected places it applies to (not the nearest stations below)
  if (kinds.length && typeof g.radius_km === "number") near.append(el("li", "sub", t("g_within", { km: kmText(g.radius_km) })));
  for (const k of kinds) near.append(placeList("g_" + k, nearby[k]));
  const nearest = g.nearest ?? {};
  if ((nearest.fire_stations ?? []).length) near.append(placeList("g_fire_stations", nearest.fire_stations));
  if ((nearest.hospitals ?? []).length) near.append(placeList("g_nearest_hospitals", nearest.hospitals));
  if (near.children.length) {
    box.append(near);
  }
  return box;
}
