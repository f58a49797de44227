// Builds citycc's front-end bundles into build/web/ (make web): esbuild bundles each entry
// of src/ into one minified classic script the cockpit serves as /dist/<name>, and copies
// the two files MapLibre needs beside its code (its stylesheet and its worker module, which
// the map loads from /dist/ itself: same-origin, so the page's CSP needs no blob: worker).
// Writes build/web/manifest.json: every file with its size, so the server serves only these.
import { build } from "esbuild";
import { copyFileSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = resolve(process.argv[2] ?? join(here, "..", "build", "web"));
const started = Date.now();
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });

await build({
  entryPoints: { citymap: join(here, "src", "citymap.js"), charts: join(here, "src", "charts.js") },
  outdir: out, bundle: true, minify: true, format: "iife", target: ["chrome110", "firefox110"],
  legalComments: "eof", logLevel: "warning",
  // MapLibre's bundle asks import.meta.url where its worker is; the map module sets the
  // worker's URL itself (/dist/maplibre-gl-worker.js), so this stays empty in the IIFE
  define: { "import.meta.url": "\"\"" },
});
const mapDist = join(here, "node_modules", "maplibre-gl", "dist");
copyFileSync(join(mapDist, "maplibre-gl.css"), join(out, "maplibre-gl.css"));
copyFileSync(join(mapDist, "maplibre-gl-worker.mjs"), join(out, "maplibre-gl-worker.js"));

const files = Object.fromEntries(readdirSync(out).sort().map((f) => [f, statSync(join(out, f)).size]));
writeFileSync(join(out, "manifest.json"), JSON.stringify({ files, built_ms: Date.now() - started }, null, 1) + "\n");
const kb = (n) => `${(n / 1024).toFixed(0)} KiB`;
console.log(`web: built ${Object.keys(files).length} files into ${out} in ${Date.now() - started} ms: ` +
  Object.entries(files).map(([f, n]) => `${f} ${kb(n)}`).join(", "));
