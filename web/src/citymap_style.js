// The map's layers as data (MapLibre style layers), coloured by a palette per theme. Point
// layers are circles (no glyphs needed); a feature's colour comes from its own property
// (severity, status, level) through a match expression, unknown values in a neutral grey.
export const LIVE_LAYERS = ["incidents", "units", "sensors", "congestion", "hazmat", "route"];

const SEVERITY = { critical: "#ff3b3b", major: "#ff8c1a", minor: "#f5c518", info: "#3fa9f5" };
const UNIT = { available: "#2ecc71", dispatched: "#ffb020", en_route: "#ffb020", on_scene: "#ff4d4f",
  transporting: "#b37feb", at_hospital: "#b37feb", returning: "#36cfc9", out_of_service: "#8c8c8c" };
// congestion level: 0 free .. 3 jammed (cockpit_api/layers.py LEVELS), or its name
const CONGESTION = { 0: "#2ecc71", 1: "#f5c518", 2: "#ff8c1a", 3: "#ff3b3b",
  free: "#2ecc71", slow: "#f5c518", congested: "#ff8c1a", jammed: "#ff3b3b" };

export const PALETTES = {
  night: { background: "#07111f", district: "#103058", districtHot: "#7a1f2b", districtLine: "#5fb0ff",
    focus: "#ffe066", expressway: "#c9a54b", ring: "#b08d3c", arterial: "#50627d", river: "#1e74c0",
    station: "#9fb4d0", geofence: "#ff8c1a", route: "#00e5ff", halo: "#07111f", neutral: "#8c8c8c" },
  day: { background: "#eef2f7", district: "#d6e4f5", districtHot: "#f2a3a3", districtLine: "#2c64aa",
    focus: "#d48806", expressway: "#b7862c", ring: "#a07a30", arterial: "#95a3b8", river: "#5a9fd8",
    station: "#52657f", geofence: "#d46b08", route: "#0050b3", halo: "#ffffff", neutral: "#8c8c8c" },
};

const match = (prop, table, fallback) => ["match", ["to-string", ["get", prop]],
  ...Object.entries(table).flat(), fallback];
const z = (a, b) => ["interpolate", ["linear"], ["zoom"], 8, a, 14, b];
const point = (id, color, radius, p) => ({ id, type: "circle", source: id, paint: {
  "circle-color": color, "circle-radius": z(radius, radius * 2), "circle-stroke-color": p.halo,
  "circle-stroke-width": z(1.5, 2.5) } });

export function layerDefs(p) {
  const road = (cls, color, w) => ({ id: `road-${cls}`, type: "line", source: "road",
    filter: cls === "arterial" ? ["!", ["in", ["get", "class"], ["literal", ["expressway", "ring"]]]]
      : ["==", ["get", "class"], cls],
    layout: { "line-cap": "round", "line-join": "round" },
    paint: { "line-color": color, "line-width": z(w, w * 4) } });
  return [
    { id: "background", type: "background", paint: { "background-color": p.background } },
    { id: "district-fill", type: "fill", source: "district", paint: {
      "fill-color": ["interpolate", ["linear"], ["coalesce", ["feature-state", "open"], 0], 0, p.district, 5, p.districtHot],
      "fill-opacity": 0.75 } },
    { id: "river", type: "line", source: "river", paint: { "line-color": p.river, "line-width": z(2, 8) } },
    road("arterial", p.arterial, 0.8), road("ring", p.ring, 1.2), road("expressway", p.expressway, 1.4),
    { id: "district-line", type: "line", source: "district", paint: { "line-color": p.districtLine, "line-width": z(1.2, 3) } },
    { id: "district-focus", type: "line", source: "district", filter: ["==", ["get", "code"], ""],
      paint: { "line-color": p.focus, "line-width": z(3, 6) } },
    { id: "geofence-fill", type: "fill", source: "geofence", paint: { "fill-color": p.geofence, "fill-opacity": 0.15 } },
    { id: "geofence-line", type: "line", source: "geofence", paint: { "line-color": p.geofence, "line-width": 1.5, "line-dasharray": [2, 2] } },
    { id: "station", type: "circle", source: "station", paint: { "circle-color": p.station, "circle-radius": z(2, 4) } },
    { ...point("congestion", match("level", CONGESTION, p.neutral), 3, p), paint: {
      "circle-color": match("level", CONGESTION, p.neutral), "circle-radius": z(3, 6), "circle-opacity": 0.85 } },
    { id: "route", type: "line", source: "route", layout: { "line-cap": "round", "line-join": "round" },
      paint: { "line-color": p.route, "line-width": z(3, 7) } },
    point("sensors", "#ff3b3b", 4, p),
    point("hazmat", p.geofence, 4, p),
    point("units", match("status", UNIT, p.neutral), 3.5, p),
    point("incidents", match("severity", SEVERITY, SEVERITY.info), 6, p),
  ];
}
