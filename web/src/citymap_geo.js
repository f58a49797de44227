// Small geometry helpers of the map (pure): items to GeoJSON points, bounding boxes, a point
// inside a district to put its name on.

// {id: {lat, lon, ...}} or [{lat, lon, ...}] -> point features (items without a position
// are left out: a unit with no fix is on the board, not on the map)
export function toFeatures(items) {
  const list = Array.isArray(items) ? items.map((v) => [v?.id, v])
    : Object.entries(items && typeof items === "object" ? items : {});
  const out = [];
  for (const [id, v] of list) {
    if (!v || typeof v !== "object") continue;
    const lat = Number(v.lat), lon = Number(v.lon);
    if (!Number.isFinite(lat) || !Number.isFinite(lon)) continue;
    const properties = { id: id ?? null };
    for (const [k, x] of Object.entries(v)) {
      if (x === null || ["string", "number", "boolean"].includes(typeof x)) properties[k] = x;
    }
    out.push({ type: "Feature", properties, geometry: { type: "Point", coordinates: [lon, lat] } });
  }
  return out;
}

// a line [[lon, lat], ...], a list of lines or {id: line} -> line features (ids kept; lines of
// fewer than two finite points are left out)
export function toLines(lines) {
  const isPoint = (c) => Array.isArray(c) && c.length === 2 && c.every((x) => typeof x === "number" && Number.isFinite(x));
  const isLine = (l) => Array.isArray(l) && l.length >= 2 && l.every(isPoint);
  const list = isLine(lines) ? [[null, lines]] : Array.isArray(lines) ? lines.map((l) => [null, l])
    : Object.entries(lines && typeof lines === "object" ? lines : {});
  return list.filter(([, l]) => isLine(l)).map(([id, l]) => ({ type: "Feature", properties: { id },
    geometry: { type: "LineString", coordinates: l } }));
}

function eachCoord(geom, fn) {
  const walk = (c) => { if (typeof c[0] === "number") fn(c); else for (const x of c) walk(x); };
  if (geom?.coordinates) walk(geom.coordinates);
}

export function bboxOf(features) {
  let b = null;
  for (const f of features) {
    eachCoord(f?.geometry, ([x, y]) => {
      b = b ? [Math.min(b[0], x), Math.min(b[1], y), Math.max(b[2], x), Math.max(b[3], y)] : [x, y, x, y];
    });
  }
  return b;
}

// the area-weighted centroid of the largest outer ring (a district's main body)
export function labelPoint(geom) {
  const polys = geom?.type === "Polygon" ? [geom.coordinates] : geom?.type === "MultiPolygon" ? geom.coordinates : [];
  let best = null, bestArea = -1;
  for (const poly of polys) {
    const ring = poly[0] ?? [];
    let a = 0, cx = 0, cy = 0;
    for (let i = 0; i < ring.length - 1; i++) {
      const [x0, y0] = ring[i], [x1, y1] = ring[i + 1], k = x0 * y1 - x1 * y0;
      a += k; cx += (x0 + x1) * k; cy += (y0 + y1) * k;
    }
    if (Math.abs(a) > bestArea && a !== 0) { bestArea = Math.abs(a); best = [cx / (3 * a), cy / (3 * a)]; }
  }
  if (best) return best;
  const b = bboxOf([{ geometry: geom }]);
  return b ? [(b[0] + b[2]) / 2, (b[1] + b[3]) / 2] : [0, 0];
}
