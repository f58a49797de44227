// The city map of the cockpit (window.CityMap): MapLibre GL JS on GeoJSON sources only - no
// tile server, no remote glyphs or sprites, so it works offline. The basemap (GET
// /basemap.json: districts, roads, rivers, stations, geofences) is drawn once; the live layers
// (incidents, units, sensors in alarm, congestion, hazmat vehicles, a route) are replaced by
// setLayer as the websocket reports. Names are HTML labels (a style with text would need a
// glyph server); district names follow the page's language.
//   const m = CityMap.create(element, {theme: "night", lang: "zh", onDistrict: (code) => ...,
//                                      countText: (n) => `${n} 起`});
//   m.setBasemap(geojson); m.setLayer("incidents", {id: {lat, lon, severity}}); m.focusDistrict("furong");
//   m.showRoute({unitId: [[lon, lat], ...]}); m.fitTo([[lon, lat], ...]);
import { Map as MapLibre, Marker, setWorkerUrl } from "maplibre-gl";
import { PALETTES, LIVE_LAYERS, layerDefs } from "./citymap_style.js";
import { bboxOf, labelPoint, toFeatures, toLines } from "./citymap_geo.js";

// the worker module is served beside this bundle (build.mjs copies it): same origin, so the
// page's CSP (worker-src falls back to script-src 'self') allows it without blob: URLs
setWorkerUrl(new URL("/dist/maplibre-gl-worker.js", location.href).href);

const BASE_LAYERS = ["district", "road", "river", "station", "geofence"];
const EMPTY = { type: "FeatureCollection", features: [] };

function style(theme) {
  const sources = {};
  for (const name of [...BASE_LAYERS, ...LIVE_LAYERS]) {
    sources[name] = { type: "geojson", data: EMPTY, ...(name === "district" ? { promoteId: "code" } : {}) };
  }
  return { version: 8, sources, layers: layerDefs(PALETTES[theme] ?? PALETTES.night) };
}

function create(container, options = {}) {
  let theme = PALETTES[options.theme] ? options.theme : "night";
  let lang = options.lang === "en" ? "en" : "zh";
  let basemap = null, focused = null, cityBounds = null, fitted = null;
  const labels = new Map();  // district code -> {marker, el, name}
  const counts = new Map();  // district code -> open incidents
  const data = {};           // live layer -> FeatureCollection (kept to answer loadedFeatures)
  const map = new MapLibre({
    container, style: style(theme), center: options.center ?? [112.97, 28.2], zoom: options.zoom ?? 9,
    attributionControl: false, dragRotate: false, pitchWithRotate: false, fadeDuration: 0,
    preserveDrawingBuffer: !!options.preserveDrawingBuffer,
  });
  map.touchZoomRotate.disableRotation();
  const ready = new Promise((resolve) => map.once("load", resolve));
  const whenReady = (fn) => (map.loaded() || map.isStyleLoaded() ? fn() : ready.then(fn));

  map.on("click", "district-fill", (ev) => {
    const code = ev.features?.[0]?.properties?.code;
    if (code && typeof options.onDistrict === "function") options.onDistrict(code);
  });
  map.on("mouseenter", "district-fill", () => { map.getCanvas().style.cursor = "pointer"; });
  map.on("mouseleave", "district-fill", () => { map.getCanvas().style.cursor = ""; });

  function nameOf(props) {
    return (lang === "en" ? props.name_en : props.name_zh) || props.name_zh || props.name_en || "";
  }
  function renderLabels() {
    for (const [code, l] of labels) {
      l.name.textContent = nameOf(l.props);
      const n = counts.get(code) ?? 0;
      l.count.hidden = !n;
      l.count.textContent = typeof options.countText === "function" ? options.countText(n) : String(n);
      l.el.classList.toggle("cm-focused", focused === code);
    }
  }
  function setBasemap(fc) {
    basemap = fc && Array.isArray(fc.features) ? fc : EMPTY;
    whenReady(() => {
      for (const name of BASE_LAYERS) {
        map.getSource(name).setData({ type: "FeatureCollection",
          features: basemap.features.filter((f) => f?.properties?.layer === name) });
      }
      for (const l of labels.values()) l.marker.remove();
      labels.clear();
      for (const f of basemap.features) {
        const p = f?.properties;
        if (p?.layer !== "district" || !p.code) continue;
        const el = document.createElement("div");
        el.className = "cm-label";
        el.dataset.code = p.code;
        const name = document.createElement("span"), count = document.createElement("b");
        name.className = "cm-name"; count.className = "cm-count";
        el.append(name, count);
        // (stopped here: the map under the label would report a click on its district too)
        el.addEventListener("click", (ev) => { ev.stopPropagation(); options.onDistrict?.(p.code); });
        const marker = new Marker({ element: el, anchor: "center" })
          .setLngLat(p.label_point ?? labelPoint(f.geometry)).addTo(map);
        labels.set(p.code, { marker, el, name, count, props: p });
      }
      renderLabels();
      cityBounds = Array.isArray(basemap.bounds) ? basemap.bounds : bboxOf(basemap.features);
      refit();
    });
  }
  // name: one of LIVE_LAYERS; items: {id: {lat, lon, ...}} or a list of such objects
  function setLayer(name, items) {
    if (!LIVE_LAYERS.includes(name)) throw new Error(`CityMap: no layer ${name}`);
    data[name] = { type: "FeatureCollection", features: toFeatures(items) };
    whenReady(() => map.getSource(name).setData(data[name]));
  }
  // open incidents per district code: the district's fill and the count on its label
  function setDistrictCounts(byCode) {
    counts.clear();
    for (const [code, n] of Object.entries(byCode ?? {})) counts.set(code, n);
    whenReady(() => {
      for (const code of labels.keys()) {
        map.setFeatureState({ source: "district", id: code }, { open: counts.get(code) ?? 0 });
      }
      renderLabels();
    });
  }
  // lines: one line [[lon, lat], ...], a list of lines, or {id: line} (a package's units:
  // each feature keeps its id); null clears them. A line of fewer than two points is left out.
  function showRoute(lines) {
    data.route = { type: "FeatureCollection", features: toLines(lines) };
    whenReady(() => map.getSource("route").setData(data.route));
  }
  // the view around these [lon, lat] points (a route and its ends), at most zoom 15; kept
  // through a resize and a basemap arriving, until focusDistrict
  function fitTo(points) {
    const b = bboxOf([{ geometry: { type: "MultiPoint", coordinates: (points ?? []).filter(
      (c) => Array.isArray(c) && Number.isFinite(c[0]) && Number.isFinite(c[1])) } }]);
    if (!b) return;
    fitted = b;
    refit();
  }
  // the view again: the points fitTo was given, else the focused district or the city
  function refit() {
    if (!fitted) { if (cityBounds) focusDistrict(focused, false); return; }
    const b = fitted;
    whenReady(() => {
      const padding = Math.round(map.getContainer().clientWidth * 0.06);
      map.fitBounds([[b[0], b[1]], [b[2], b[3]]], { padding, maxZoom: 15, animate: false });
    });
  }
  // code null: the whole city
  function focusDistrict(code, animate = true) {
    focused = code && labels.has(code) ? code : null;
    fitted = null;
    whenReady(() => {
      map.setFilter("district-focus", ["==", ["get", "code"], focused ?? ""]);
      const f = focused && basemap.features.find((x) => x?.properties?.layer === "district" && x.properties.code === focused);
      const b = f ? bboxOf([f]) : cityBounds;
      // padding a share of the map's width: the same view at any size
      const padding = Math.round(map.getContainer().clientWidth * 0.02);
      if (b) map.fitBounds([[b[0], b[1]], [b[2], b[3]]], { padding, animate, duration: animate ? 600 : 0 });
      renderLabels();
    });
  }
  function setTheme(name) {
    if (!PALETTES[name] || name === theme) return;
    theme = name;
    whenReady(() => {
      for (const def of layerDefs(PALETTES[theme])) {
        for (const [k, v] of Object.entries(def.paint ?? {})) map.setPaintProperty(def.id, k, v);
      }
    });
  }
  // the container changed size (a kiosk going from 1080p to 4K): the same view, refitted
  function resize() {
    map.resize();
    refit();
  }
  function setLang(value) { lang = value === "en" ? "en" : "zh"; renderLabels(); }
  // what the map holds, for tests and the screen's own checks: features per source
  function loadedFeatures() {
    const out = {};
    for (const name of [...BASE_LAYERS, ...LIVE_LAYERS]) {
      out[name] = BASE_LAYERS.includes(name)
        ? (basemap?.features ?? []).filter((f) => f?.properties?.layer === name).length
        : (data[name]?.features ?? []).length;
    }
    out.rendered_districts = map.loaded() ? map.queryRenderedFeatures({ layers: ["district-line"] }).length : 0;
    return out;
  }
  // a live layer's features as last set
  const layerFeatures = (name) => (data[name]?.features ?? []).map((f) => ({ ...f.properties, at: f.geometry.coordinates }));
  return { map, ready, setBasemap, setLayer, setDistrictCounts, showRoute, fitTo, focusDistrict,
    setTheme, setLang, loadedFeatures, layerFeatures, resize };
}

window.CityMap = { create, layers: LIVE_LAYERS };
