"""Dispatch benchmark: the Board's packages scored against the simulator's ground truth.

Drives the simulated city (on its road graph) for ``--hours`` of event time per seed and
feeds its ems, fire and traffic events, offline and in event-time order, into
``dispatch.board.Board``. Every 120 call and every fire incident the simulator opens becomes
an alerting-style "opened" incident row (what the correlator would emit), so the Board
recommends a package for it. At that moment the simulator reports the TRUE drive time of
every ambulance and fire unit (its true position, the true edge speeds, the fastest route),
and the package is scored:

  1. first unit = true fastest: the package's first unit is the available capable unit
     with the smallest true travel time (ties within 1 s count) — target >= 95%;
  2. ETA gain over straight-line nearest-unit ranking: true travel time of the unit a
     straight-line CAD would send (nearest available capable unit as the crow flies, from
     the positions the Board knows) minus that of the package's unit; mean and p90,
     overall and for calls across the Xiang (that unit and the incident on opposite banks);
  3. coverage: each package's district coverage before the assignment, after it, and after
     it with the package's move-ups (the Board's own reach model), for the simulated calls
     and for a burst of incidents in the city core whose packages are confirmed one after
     another (stations empty, so move-ups are asked for);
  4. speed: package build time (``observe_incident``, run card to coverage and move-ups)
     per incident, p50/p99, on one core, for fleets of 0.5x, 1x, 2x and 4x city-1x.

Usage: python bench/dispatch.py [--hours 1] [--seeds 7,8,9] [--scale 1]
                                [--speed-scales 0.5,1,2,4] [--speed-incidents 200]
                                [--probes-per-hour 60] [--burst 24 --burst-scales 1,0.2]
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")   # one core, as the brief measures it

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections import defaultdict  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, Sequence  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from city.dispatch_config import load_runcards, registry_for  # noqa: E402
from city.profile import CityProfile, haversine_km, load_profile, load_roads  # noqa: E402
from dispatch.board import Board  # noqa: E402
from dispatch.graph import RoadGraph  # noqa: E402
from dispatch.roads import parse_roads, rivers  # noqa: E402
from dispatch.status import ASSIGNABLE  # noqa: E402
from dispatch.units import CAP_INDEX  # noqa: E402
from schemas.validate import format_event_time, parse_event_time  # noqa: E402
from simulator.generate import Simulation  # noqa: E402
from simulator.world import scatter  # noqa: E402

START_MS = 1_795_600_800_000   # 2026-11-25T10:00:00Z = 18:00 in Changsha, the evening rush
STEP_MS = 5_000
FED = {"ems": ("unit_status", "unit_gps", "call"),
       "fire": ("engine_status", "engine_gps", "call", "incident"),
       "traffic": ("segment", "accident")}
SEVERITY = {1: "critical", 2: "major", 3: "minor", 4: "minor"}
TIE_S = 1.0


def opened(iid: str, at_ms: int, category: str, severity: str, lat: float, lon: float,
           district: str, tags: Sequence[str] = (), calls: Sequence[str] = ()
           ) -> dict[str, Any]:
    """An alerting ``IncidentEvent.to_row()`` of kind "opened" for a simulated incident."""
    payload = {"category": category, "severity": severity, "lat": lat, "lon": lon,
               "district": district, "opened_ms": at_ms,
               "members": [{"kind": f"{category}_calls", "tags": list(tags)}],
               "calls": {c: {} for c in calls}}
    return {"event_id": f"bench-{iid}", "incident_id": iid, "seq": 0, "lsn": 0,
            "kind": "opened", "at_ms": at_ms, "actor": "bench",
            "payload_json": json.dumps(payload), "at": format_event_time(at_ms)}


class Banks:
    """Which bank of the Xiang a point is on (the river's centre line, interpolated)."""

    def __init__(self, roads: dict[str, Any]) -> None:
        xiang = [r for r in rivers(roads) if r.name_en == "Xiang River"]
        pts = sorted(xiang[0].points) if xiang else [(0.0, 0.0), (90.0, 0.0)]
        self.lat = np.array([p[0] for p in pts])
        self.lon = np.array([p[1] for p in pts])

    def east(self, lat: float, lon: float) -> bool:
        return bool(lon > np.interp(lat, self.lat, self.lon))

    def near(self, rng: np.random.Generator, n: int, lat_range: tuple[float, float],
             off_km: tuple[float, float] = (0.3, 2.5)) -> tuple[np.ndarray, np.ndarray]:
        """``n`` points 0.3-2.5 km east or west of the river, between the given latitudes."""
        lat = rng.uniform(*lat_range, n)
        off = rng.uniform(*off_km, n) * rng.choice([-1.0, 1.0], n)
        lon = np.interp(lat, self.lat, self.lon) + off / (111.32 * np.cos(np.radians(lat)))
        return lat, lon


class Truth:
    """The simulator's true drive times of all its units at each of its dispatches."""

    def __init__(self, sim: Simulation) -> None:
        self.sim = sim
        self.at: dict[str, dict[str, Any]] = {}
        sim.fleets.on_dispatch = self.record

    def record(self, t: int, stream: str, ref: str, lat: float, lon: float) -> None:
        f = self.sim.fleets
        eta: dict[str, float] = {}
        avail: set[str] = set()
        where: dict[str, tuple[float, float]] = {}
        for name in ("ems", "fire"):
            u = f.fleet(name)
            for uid, s, ok, la, lo in zip(u.pts.ids.tolist(), f.true_etas(name, t, lat, lon),
                                          (u.status == 0).tolist(), u.lat, u.lon):
                eta[uid] = float(s)
                where[uid] = (float(la), float(lo))
                if ok:
                    avail.add(uid)
        self.at[ref] = {"t": t, "eta": eta, "avail": avail, "where": where}


def straight_pick(board: Board, cap: str, lat: float, lon: float) -> str | None:
    """The unit a straight-line CAD sends: nearest available capable unit (Board's view)."""
    status, incident, ulat, ulon = board.fleet.arrays()
    reg = board.fleet.registry
    ok = np.array([s in ASSIGNABLE and not i for s, i in zip(status, incident)], bool)
    ok &= reg.caps[:, CAP_INDEX[cap]] & np.isfinite(ulat)
    if not ok.any():
        return None
    d = np.where(ok, haversine_km(ulat, ulon, lat, lon), np.inf)
    return reg.units[int(np.argmin(d))].id


def score(pkg: dict[str, Any], truth: dict[str, Any], board: Board, banks: Banks,
          lat: float, lon: float, reg_caps: dict[str, frozenset[str]], out: dict[str, Any]
          ) -> None:
    items = pkg.get("items") or []
    if not items:
        out["empty"] += 1
        return
    first = items[0]
    cap, uid = first["capability"], first["unit_id"]
    eta, avail = truth["eta"], truth["avail"]
    if uid not in eta:          # not a simulated unit (police, utilities): nothing to check
        out["unscored"] += 1
        return
    cand = [eta[u] for u in avail if cap in reg_caps.get(u, ())]
    if not cand:
        out["unscored"] += 1
        return
    best = min(cand)
    out["n"] += 1
    if eta[uid] > best + TIE_S:   # a miss: did the Board think the true fastest was busy?
        quick = min((u for u in avail if cap in reg_caps.get(u, ())), key=lambda u: eta[u])
        st = board.fleet.state.get(quick)
        free = st is not None and st.status in ASSIGNABLE and not st.incident_id
        out["miss_ranked" if free else "miss_busy"] += 1
    if first.get("eta_s") and eta[uid] > 0:
        out["eta_ratio"].append(first["eta_s"] / eta[uid])
    out["fastest"] += eta[uid] <= best + TIE_S
    out["excess"].append(eta[uid] - best)
    s = straight_pick(board, cap, lat, lon)
    if s is not None and s in eta and np.isfinite(eta[s]) and np.isfinite(eta[uid]):
        gain = eta[s] - eta[uid]
        out["gain"].append(gain)
        sl = truth["where"][s]
        if banks.east(*sl) != banks.east(lat, lon):
            out["gain_cross"].append(gain)
    for target, cov in (pkg.get("coverage") or {}).items():
        c = cov["city"]
        moves = [m for m in pkg.get("moveups") or () if m["target"] == target]
        gain = sum(m["gain"] for m in moves)
        out["cov"][target].append((c["before"], c["after"], min(c["before"], c["after"] + gain)))
        for code, d in cov["districts"].items():   # the districts the package weakens
            best = max([d["after"]] + [m["districts"][code]["with"] for m in moves
                                       if code in m["districts"]])
            out["cov_d"][target].append((d["before"], d["after"], best, bool(moves)))


def _bucket() -> dict[str, Any]:
    return {"n": 0, "fastest": 0, "empty": 0, "unscored": 0, "excess": [], "gain": [],
            "gain_cross": [], "cov": defaultdict(list), "cov_d": defaultdict(list),
            "build_ms": [], "packages": 0, "eta_ratio": [], "miss_ranked": 0, "miss_busy": 0}


def quality(profile: CityProfile, graph: RoadGraph, roads: dict[str, Any], scale: float,
            hours: float, seed: int, probes_per_hour: float
            ) -> tuple[dict[str, Any], dict[str, Any]]:
    sim = Simulation(profile, scale=scale, seed=seed, start_ms=START_MS, incidents=0)
    truth = Truth(sim)
    registry = registry_for(profile, scale)
    board = Board(profile, graph, registry, load_runcards(profile.name))
    caps = {u.id: u.capabilities for u in registry.units}
    banks = Banks(roads)
    out, probe = _bucket(), _bucket()
    rng = np.random.default_rng([seed, 0x9B])
    every = int(3_600_000 / probes_per_hour) if probes_per_hour > 0 else 0
    end, t = START_MS + int(hours * 3_600_000), START_MS
    while t < end:
        t = min(t + STEP_MS, end)
        batch = sim.tick(t)
        events = [(parse_event_time(e["event_time"]), k, s, e) for s in FED
                  for k, e in enumerate(batch[s]) if e["type"] in FED[s]]
        events.sort(key=lambda x: (x[0], list(FED).index(x[2]), x[1]))
        for at, _, stream, e in events:
            board.observe(stream, e)
            row = None
            if stream == "ems" and e["type"] == "call":
                row = opened(e["entity_id"], at, "ems", SEVERITY.get(e["priority"], "minor"),
                             e["lat"], e["lon"], e["district"], calls=[e["entity_id"]])
            elif stream == "fire" and e["type"] == "incident" and e["status"] == "open":
                row = opened(e["entity_id"], at, "fire", "major", e["lat"], e["lon"],
                             e["district"], tags=[e["category"]])
            if row is None:
                continue
            began = time.perf_counter()
            recs = board.observe_incident(row)
            out["build_ms"].append((time.perf_counter() - began) * 1000)
            for r in recs:
                if r["kind"] == "package_recommended" and e["entity_id"] in truth.at:
                    out["packages"] += 1
                    score(r["payload"], truth.at[e["entity_id"]], board, banks, e["lat"],
                          e["lon"], caps, out)
        board.tick(t)
        if every and t // every != (t - STEP_MS) // every:
            _probe(sim, truth, board, banks, caps, rng, t, probe)
    return out, probe


def _probe(sim: Simulation, truth: Truth, board: Board, banks: Banks,
           caps: dict[str, frozenset[str]], rng: np.random.Generator, t: int,
           out: dict[str, Any]) -> None:
    """A 120 call at a random point near the Xiang (within 2.5 km of either bank): the
    calls where straight-line ranking is most often wrong."""
    (lat,), (lon,) = banks.near(rng, 1, (28.08, 28.32))
    lat, lon = round(float(lat), 6), round(float(lon), 6)
    pid = f"PROBE-{t}"
    truth.record(t, "probe", pid, lat, lon)
    row = opened(pid, t, "ems", "critical", lat, lon, sim.profile.nearest_district(lat, lon))
    began = time.perf_counter()
    recs = board.observe_incident(row)
    out["build_ms"].append((time.perf_counter() - began) * 1000)
    for r in recs:
        if r["kind"] == "package_recommended":
            out["packages"] += 1
            score(r["payload"], truth.at.pop(pid), board, banks, lat, lon, caps, out)


def warm_board(profile: CityProfile, graph: RoadGraph, registry: Any, scale: float, seed: int
               ) -> tuple[Board, int]:
    """A Board fed 10 simulated minutes of a quiet city-``scale``x (positions, statuses,
    live traffic); with the simulated time it reached."""
    sim = Simulation(profile, scale=scale, seed=seed, start_ms=START_MS, incidents=0)
    board = Board(profile, graph, registry, load_runcards(profile.name))
    t = START_MS
    while t < START_MS + 600_000:
        t += 30_000
        batch = sim.tick(t)
        for s in FED:
            for e in batch[s]:
                if e["type"] in FED[s]:
                    board.observe(s, e)
    return board, t


def speed(profile: CityProfile, graph: RoadGraph, scale: float, n: int, seed: int
          ) -> tuple[int, list[float]]:
    """Package build times for ``n`` incidents on a Board warmed with 10 simulated minutes
    of a city-``scale``x fleet (positions, statuses, live traffic)."""
    registry = registry_for(profile, scale)
    board, t = warm_board(profile, graph, registry, scale, seed)
    rng = np.random.default_rng([seed, 0xBE])
    lat, lon = scatter(profile, rng, n)
    kinds = rng.choice(3, n, p=[0.7, 0.2, 0.1])
    times = []
    for k in range(n):
        cat, tags = [("ems", []), ("fire", ["structure_fire"]), ("hazmat", [])][kinds[k]]
        row = opened(f"BENCH-{k}", t + k, cat, "major", float(lat[k]), float(lon[k]),
                     profile.nearest_district(float(lat[k]), float(lon[k])), tags=tags)
        if cat == "hazmat":
            json_payload = json.loads(row["payload_json"])
            json_payload["members"] = [{"kind": "hazmat_stopped", "tags": []}]
            row["payload_json"] = json.dumps(json_payload)
        began = time.perf_counter()
        board.observe_incident(row)
        times.append((time.perf_counter() - began) * 1000)
    return len(registry), times


def burst(profile: CityProfile, graph: RoadGraph, scale: float, seed: int, n: int = 12
          ) -> tuple[dict[str, list[tuple[float, ...]]], int]:
    """Coverage under load: ``n`` structure fires and cardiac arrests, one after another,
    in the city core (Furong, Tianxin, Kaifu, Yuhua, Yuelu), each package confirmed, on a
    Board warmed with 10 simulated minutes. Rows per weakened district and target:
    (before, after, with the package's best move-up, has a move-up)."""
    board, t = warm_board(profile, graph, registry_for(profile, scale), scale, seed)
    rng = np.random.default_rng([seed, 0xB5])
    core = [d for d in profile.districts if d.code in
            ("furong", "tianxin", "kaifu", "yuhua", "yuelu")]
    rows: dict[str, list[tuple[float, ...]]] = defaultdict(list)
    confirmed = 0
    for k in range(n):
        d = core[k % len(core)]
        lat = d.lat + float(rng.normal(0, 0.01))
        lon = d.lon + float(rng.normal(0, 0.01))
        cat, tags = ("fire", ["structure_fire"]) if k % 2 == 0 else ("ems", [])
        at = t + k * 1000
        row = opened(f"BURST-{k}", at, cat, "critical", lat, lon, d.code, tags=tags)
        for r in board.observe_incident(row):
            if r["kind"] != "package_recommended":
                continue
            pkg = r["payload"]
            for target, cov in (pkg.get("coverage") or {}).items():
                moves = [m for m in pkg.get("moveups") or () if m["target"] == target]
                for code, dd in cov["districts"].items():
                    best = max([dd["after"]] + [m["districts"][code]["with"] for m in moves
                                                if code in m["districts"]])
                    rows[target].append((dd["before"], dd["after"], best, bool(moves)))
            res = board.command({"command_id": f"c{k}", "actor": "bench", "at": at,
                                 "action": "dispatch_confirm", "incident_id": f"BURST-{k}",
                                 "package_id": pkg["package_id"]}, at)
            confirmed += res.code == ""
    return rows, confirmed


def _add(total: dict[str, Any], r: dict[str, Any]) -> None:
    for k, v in r.items():
        if k in ("cov", "cov_d"):
            for tk, rows in v.items():
                total[k][tk] += rows
        else:
            total[k] += v


def _p(x: list[float], q: float) -> float:
    return float(np.percentile(x, q)) if x else float("nan")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--hours", type=float, default=1.0)
    ap.add_argument("--seeds", default="7,8,9")
    ap.add_argument("--speed-scales", default="0.5,1,2,4")
    ap.add_argument("--speed-incidents", type=int, default=200)
    ap.add_argument("--burst", type=int, default=24, help="incidents in the coverage burst")
    ap.add_argument("--burst-scales", default="1,0.2")
    ap.add_argument("--probes-per-hour", type=float, default=60.0,
                    help="extra 120 calls near the Xiang, scored the same way (0: none)")
    args = ap.parse_args()
    profile = load_profile()
    roads = load_roads(profile)
    if roads is None:
        print("this city has no road graph: nothing to benchmark")
        return 1
    graph = parse_roads(roads)
    seeds = [int(s) for s in args.seeds.split(",") if s]
    total, probes = _bucket(), _bucket()
    began = time.process_time()
    for seed in seeds:
        r, p = quality(profile, graph, roads, args.scale, args.hours, seed,
                       args.probes_per_hour)
        _add(total, r)
        _add(probes, p)
        print(f"  seed {seed}: {r['packages']} call packages ({r['n']} scored, first unit true "
              f"fastest {r['fastest'] / max(r['n'], 1):.1%}); {p['packages']} river probes "
              f"({p['fastest'] / max(p['n'], 1):.1%})")
    print(f"citycc dispatch benchmark — city-{args.scale:g}x, {args.hours:g} h x "
          f"{len(seeds)} seeds from {format_event_time(START_MS)} "
          f"({time.process_time() - began:.0f} s cpu)")
    print("  1. first unit = the true fastest available capable unit (target >= 95%):")
    print(f"     {'packages':<34} {'n':>5} {'fastest':>8} {'median s lost when not':>23}")
    for name, b in (("simulated 120/119 calls", total), ("river probes (120, near the Xiang)",
                                                          probes)):
        ex = np.array(b["excess"])
        print(f"     {name:<34} {b['n']:>5} {b['fastest'] / max(b['n'], 1):>8.1%} "
              f"{_p(list(ex[ex > TIE_S]), 50):>23.0f}")
    print(f"     misses where the Board saw the true fastest unit as busy: "
          f"{total['miss_busy'] + probes['miss_busy']}, ranked it slower: "
          f"{total['miss_ranked'] + probes['miss_ranked']}")
    print(f"     (packages {total['packages'] + probes['packages']}, empty "
          f"{total['empty'] + probes['empty']}, first unit not simulated "
          f"{total['unscored'] + probes['unscored']})")
    ratio = total["eta_ratio"] + probes["eta_ratio"]
    print(f"     the Board's ETA of its first unit / the true travel time: median "
          f"{_p(ratio, 50):.2f}, p10 {_p(ratio, 10):.2f}, p90 {_p(ratio, 90):.2f}")
    print("  2. ETA gain over straight-line nearest-unit ranking (true travel s saved):")
    print(f"     {'calls':<42} {'n':>5} {'mean':>7} {'p90':>7} {'differs':>8}")
    rows = (("simulated calls, all", total["gain"]),
            ("simulated calls, across the Xiang", total["gain_cross"]),
            ("river probes, all", probes["gain"]),
            ("river probes, across the Xiang", probes["gain_cross"]),
            ("all, across the Xiang", total["gain_cross"] + probes["gain_cross"]))
    for name, g in rows:
        a = np.array(g)
        print(f"     {name:<42} {len(a):>5} {a.mean() if len(a) else np.nan:>7.0f} "
              f"{_p(g, 90):>7.0f} {np.mean(a != 0) if len(a) else np.nan:>8.0%}")
    print("     (across: the unit a straight-line CAD would send is on the other bank)")
    _add(total, probes)
    print("  3. coverage (share of a district's demand points some available unit reaches in "
          "its target time: EMS 480 s, first engine 240 s), all packages:")
    print(f"     {'target':<6} {'packages':>8} {'city before':>12} {'after':>7} {'+move-ups':>10}"
          f" | {'weakened districts':>18} {'before':>7} {'after':>7} {'+move-ups':>10}"
          f" {'with a move-up':>15}")
    for target in sorted(total["cov"]):
        a = np.array(total["cov"][target])
        d = np.array(total["cov_d"][target]) if total["cov_d"][target] else np.zeros((0, 4))
        dm = (lambda j: f"{d[:, j].mean():.3f}") if len(d) else (lambda j: "-")
        print(f"     {target:<6} {len(a):>8} {a[:, 0].mean():>12.3f} {a[:, 1].mean():>7.3f} "
              f"{a[:, 2].mean():>10.3f} | {len(d):>18} {dm(0):>7} {dm(1):>7} {dm(2):>10} "
              f"{(d[:, 3].mean() if len(d) else 0):>15.0%}")
    for scale in [float(x) for x in args.burst_scales.split(",") if x]:
        burst_rows, confirmed = burst(profile, graph, scale, seeds[0], args.burst)
        print(f"     burst at city-{scale:g}x: {args.burst} incidents in the city core one "
              f"after another, {confirmed} packages confirmed; weakened districts:")
        for target in ("ems", "fire"):
            d = np.array(burst_rows[target]) if burst_rows.get(target) else np.zeros((0, 4))
            if len(d):
                print(f"       {target:<5} {len(d):>3} x before {d[:, 0].mean():.3f} after "
                      f"{d[:, 1].mean():.3f} with a move-up {d[:, 2].mean():.3f} "
                      f"(move-up offered for {d[:, 3].mean():.0%})")
            else:
                print(f"       {target:<5}   0 (no district lost coverage)")
    b = total["build_ms"]
    print(f"  4. package build (observe_incident) during the runs: p50 {_p(b, 50):.1f} ms, "
          f"p99 {_p(b, 99):.1f} ms over {len(b)}")
    print(f"     {'fleet':>6} {'units':>6} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for s in [float(x) for x in args.speed_scales.split(",") if x]:
        units, times = speed(profile, graph, s, args.speed_incidents, seeds[0])
        print(f"     {s:>5g}x {units:>6} {_p(times, 50):>8.1f} {_p(times, 99):>8.1f} "
              f"{max(times):>8.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
