"""Build ``city/<name>_roads.geojson`` from the readable ``city/roads_src/<name>.yaml``.

    python -m city.roads_build [name]          # writes the GeoJSON (refuses if checks fail)
    python -m city.roads_build [name] --check  # exit 1 if the committed file is not current

What it does to the hand-drawn polylines (see the YAML's header for the rules): joins at-grade
roads where they cross (a shared vertex), joins expressways and tunnels only at shared
waypoints or declared interchanges, extends dangling ends onto a road within ``snap_m``, cuts a
bridge out of a road where it declares it ``crosses`` a river, puts a vertex every
``densify_m`` metres, and writes [lon, lat] rounded to 6 decimals. Pure function
:func:`build` (dict -> dict); only :func:`main` touches files.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml

from city.gcj02 import gcj02_to_wgs84
from city.roads_geom import Point, arc_lengths, crossings, densify, dist_m, lerp, nearest_on

SRC_DIR = Path(__file__).resolve().parent / "roads_src"
OUT_DIR = Path(__file__).resolve().parent
SEPARATED = "expressway"       # a class that meets others only where declared
NEAR_M = 25.0                  # a crossing this close to a vertex uses the vertex


class BuildError(ValueError):
    """The road source cannot be built (names the road and why)."""


def _line(raw: Any, where: str, crs: str) -> list[Point]:
    if not isinstance(raw, list) or len(raw) < 2:
        raise BuildError(f"{where}: 'line' needs at least two [lat, lon] points")
    pts = [(float(p[0]), float(p[1])) for p in raw]
    return [gcj02_to_wgs84(*p) for p in pts] if crs == "gcj02" else pts


def _separated(road: dict[str, Any]) -> bool:
    return road["class"] == SEPARATED or road.get("crossing") == "tunnel"


def _insert(line: list[Point], adds: list[tuple[int, float, Point]]) -> list[Point]:
    """``line`` with each point inserted in segment i at parameter t (unless already there)."""
    have = set(line)
    by_seg: dict[int, list[tuple[float, Point]]] = {}
    for i, t, p in adds:
        if p not in have:
            have.add(p)
            by_seg.setdefault(i, []).append((t, p))
    out = [line[0]]
    for i in range(len(line) - 1):
        out.extend(p for _, p in sorted(by_seg.get(i, [])))
        out.append(line[i + 1])
    return out


def _junction(a: list[Point], i: int, t: float, b: list[Point], j: int, u: float) -> Point:
    for line, k, s in ((a, i, t), (b, j, u)):
        for v in (line[k], line[k + 1]):
            if dist_m(v, lerp(line[k], line[k + 1], s)) < NEAR_M:
                return v
    return lerp(a[i], a[i + 1], t)


def _join_crossings(roads: list[dict[str, Any]], allowed: Any) -> None:
    adds: dict[str, list[tuple[int, float, Point]]] = {r["id"]: [] for r in roads}
    for x, a in enumerate(roads):
        for b in roads[x + 1:]:
            if not allowed(a, b):
                continue
            for i, t, j, u in crossings(a["line"], b["line"]):
                p = _junction(a["line"], i, t, b["line"], j, u)
                adds[a["id"]].append((i, t, p))
                adds[b["id"]].append((j, u, p))
    for r in roads:
        r["line"] = _insert(r["line"], adds[r["id"]])


def _snap_ends(roads: list[dict[str, Any]], allowed: Any, snap_m: float) -> None:
    owners: dict[Point, set[str]] = {}
    for r in roads:
        for p in r["line"]:
            owners.setdefault(p, set()).add(r["id"])
    for r in roads:
        for end in (0, -1):
            p = r["line"][end]
            if len(owners[p]) > 1 or r["line"][0] == r["line"][-1]:
                continue
            best = min(((nearest_on(o["line"], p), o) for o in roads
                        if o is not r and allowed(r, o)), key=lambda c: c[0][0], default=None)
            if best is None or best[0][0] > snap_m:
                continue
            (_, k, t), other = best
            q = lerp(other["line"][k], other["line"][k + 1], t)
            for v in (other["line"][k], other["line"][k + 1]):
                q = v if dist_m(v, q) < NEAR_M else q
            other["line"] = _insert(other["line"], [(k, t, q)])
            r["line"] = [q] + r["line"] if end == 0 else r["line"] + [q]
            owners.setdefault(q, set()).update({r["id"], other["id"]})


def _cut(line: list[Point], s: float) -> tuple[list[Point], list[Point]]:
    """Split ``line`` at ``s`` metres along it into (before, after), sharing the cut point."""
    acc = arc_lengths(line)
    k = max(0, min(len(line) - 2, int((acc <= s).sum()) - 1))
    seg = acc[k + 1] - acc[k]
    p = lerp(line[k], line[k + 1], (s - acc[k]) / seg if seg > 0 else 0.0)
    if dist_m(p, line[k]) < 1.0:
        return line[:k + 1], line[k:]
    if dist_m(p, line[k + 1]) < 1.0:
        return line[:k + 2], line[k + 1:]
    return line[:k + 1] + [p], [p] + line[k + 1:]


def _bridges(road: dict[str, Any], rivers: dict[str, dict[str, Any]],
             half_m: dict[str, float]) -> list[dict[str, Any]]:
    """The road as pieces: plain stretches and a bridge over each declared river crossing."""
    spans: list[tuple[float, float, str]] = []
    acc = arc_lengths(road["line"])
    for rid in road["crosses"]:
        if rid not in rivers:
            raise BuildError(f"road {road['id']!r}: crosses unknown river {rid!r}")
        hits = crossings(road["line"], rivers[rid]["line"])
        if not hits:
            raise BuildError(f"road {road['id']!r}: declares it crosses {rid!r} but does not")
        for i, t, _, _ in hits:
            s = acc[i] + (acc[i + 1] - acc[i]) * t
            h = half_m.get(rid, 150.0)
            spans.append((max(s - h, 1.0), min(s + h, acc[-1] - 1.0), rid))
    pieces, rest, done, nb = [], road["line"], 0.0, 0
    for lo, hi, rid in sorted(spans):
        before, tail = _cut(rest, lo - done)
        bridge, rest = _cut(tail, hi - lo)
        done = hi
        nb += 1
        if len(before) > 1:
            pieces.append({**road, "line": before})
        names = road["crosses"][rid] or [f"{road['name_zh']}{rivers[rid]['name_zh']}桥",
                                         f"{road['name_en']} bridge over the "
                                         f"{rivers[rid]['name_en']}"]
        pieces.append({**road, "line": bridge, "crossing": "bridge", "bridge_no": nb,
                       "name_zh": names[0], "name_en": names[1]})
    if len(rest) > 1:
        pieces.append({**road, "line": rest})
    n = 0
    for p in pieces:
        if "bridge_no" in p:
            p["id"] = f"{road['id']}.b{p.pop('bridge_no')}"
        else:
            n += 1
            p["id"] = road["id"] if n == 1 else f"{road['id']}.{n}"
    return pieces


def _road(raw: dict[str, Any], defaults: dict[str, Any], crs: str) -> dict[str, Any]:
    where = f"road {raw.get('id', '?')!r}"
    cls = raw.get("class")
    if cls not in defaults:
        raise BuildError(f"{where}: class {cls!r} has no defaults")
    crosses = raw.get("crosses") or {}
    if isinstance(crosses, list):
        crosses = {c: None for c in crosses}
    return {"id": raw["id"], "name_zh": raw["name_zh"], "name_en": raw["name_en"], "class": cls,
            "lanes": int(raw.get("lanes", defaults[cls]["lanes"])),
            "speed_kmh": raw.get("speed_kmh", defaults[cls]["speed_kmh"]),
            "oneway": bool(raw.get("oneway", False)), "crossing": raw.get("crossing"),
            "crosses": crosses, "line": _line(raw.get("line"), where, crs)}


def _feature(props: dict[str, Any], line: list[Point]) -> dict[str, Any]:
    coords: list[list[float]] = []
    for lat, lon in line:
        c = [round(lon, 6), round(lat, 6)]
        if not coords or c != coords[-1]:
            coords.append(c)
    return {"type": "Feature", "properties": props,
            "geometry": {"type": "LineString", "coordinates": coords}}


def build(src: dict[str, Any]) -> dict[str, Any]:
    """The GeoJSON FeatureCollection for a parsed road source."""
    crs = src.get("crs", "wgs84")
    if crs not in ("wgs84", "gcj02"):
        raise BuildError(f"crs must be wgs84 or gcj02, got {crs!r}")
    rivers = {r["id"]: {**r, "line": _line(r["line"], f"river {r['id']!r}", crs)}
              for r in src["rivers"]}
    roads = [_road(r, src["defaults"], crs) for r in src["roads"]]
    ids = [r["id"] for r in roads]
    if len(set(ids)) != len(ids):
        raise BuildError("road ids must be unique")
    inter = {frozenset(p) for p in src.get("interchanges", ())}
    for pair in inter:
        if not pair <= set(ids):
            raise BuildError(f"interchange {sorted(pair)} names an unknown road")

    def allowed(a: dict[str, Any], b: dict[str, Any]) -> bool:
        return ((not _separated(a) and not _separated(b))
                or frozenset((a["id"], b["id"])) in inter)

    _join_crossings(roads, allowed)
    _snap_ends(roads, allowed, float(src.get("snap_m", 250)))
    by_id = {r["id"]: set(r["line"]) for r in roads}
    for names in sorted(sorted(p) for p in inter):
        if not by_id[names[0]] & by_id[names[-1]]:
            raise BuildError(f"interchange {names} is declared but the roads never meet")
    half = {k: float(v) for k, v in src.get("bridge_half_m", {}).items()}
    step = float(src.get("densify_m", 400))
    features = [_feature({"id": r["id"], "kind": "river", "name_zh": r["name_zh"],
                          "name_en": r["name_en"]}, r["line"]) for r in rivers.values()]
    for road in roads:
        for piece in (_bridges(road, rivers, half) if road["crosses"] else [road]):
            props = {k: piece[k] for k in ("id", "name_zh", "name_en", "class", "lanes",
                                           "speed_kmh", "oneway", "crossing")}
            props["kind"] = "road"
            features.append(_feature(props, densify(piece["line"], step)))
    return {"type": "FeatureCollection",
            "citycc": {"source": " ".join(str(src.get("source", "")).split()),
                       "method": ("hand-placed [lat, lon] waypoints (crs " + crs + "), joined "
                                  "at crossings and interchanges, densified to ~"
                                  f"{step:g} m by city/roads_build.py; alignments approximate "
                                  "(~100-300 m)"),
                       "license": str(src.get("license", "")),
                       "generated_by": f"python -m city.roads_build {src.get('name', '')}".strip()},
            "features": features}


def dumps(fc: dict[str, Any]) -> str:
    """One feature per line: small diffs when the source changes."""
    head = {k: v for k, v in fc.items() if k != "features"}
    body = ",\n".join(json.dumps(f, ensure_ascii=False, separators=(",", ":"))
                      for f in fc["features"])
    return json.dumps(head, ensure_ascii=False)[:-1] + ',\n"features":[\n' + body + "\n]}\n"


def main(argv: list[str] | None = None) -> int:
    from city.profile import load_profile
    from city.roads_check import check_all
    args = list(sys.argv[1:] if argv is None else argv)
    check = "--check" in args
    names = [a for a in args if not a.startswith("--")] or ["changsha"]
    try:
        src = yaml.safe_load((SRC_DIR / f"{names[0]}.yaml").read_text(encoding="utf-8"))
        text = dumps(build(src))
    except (OSError, yaml.YAMLError, BuildError, KeyError, TypeError, ValueError) as exc:
        print(f"cannot build the {names[0]} road network: {exc}", file=sys.stderr)
        return 2
    out = OUT_DIR / f"{names[0]}_roads.geojson"
    if check:
        current = out.is_file() and out.read_text(encoding="utf-8") == text
        print(f"{out}: {'current' if current else 'STALE: run python -m city.roads_build'}")
        return 0 if current else 1
    problems = check_all(json.loads(text), load_profile(names[0]))
    for p in problems:
        print("problem:", p, file=sys.stderr)
    if problems:
        return 1
    out.write_text(text, encoding="utf-8")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
