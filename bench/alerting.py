"""Alerting benchmark: throughput of the assembled pipeline, and compression on the simulator.

1. Throughput (``--active 10000 --silences 1000``): the Changsha configuration (routing
   tree, inhibit rules, escalation) plus ``--silences`` operator silences on random
   entities; ``--active`` alerts are made to fire, then a stream of resolves and re-fires
   of them goes through ``Engine.alerts`` (lifecycle, silences, inhibition, grouping,
   escalation, incident correlation) with a ``tick`` every simulated second, and the due
   notifications reported delivered (as the worker's notifier does). Prints alerts/s on
   one core. ``--layout city`` (the default) puts each alert on an entity of
   the simulated city that raises that kind (gas and water sensors, road segments, alarm
   panels, hazmat vehicles; dispatch delays on calls placed like the city's population),
   so alerts spread over the districts as the city's assets do. ``--layout centres`` is
   the first version's layout, kept to compare against: alert ``i`` at N(0, 0.03°) (~3 km)
   around district ``i % 9``'s centre whatever the district's size (the first version also
   moved an alert to a new random place on each of its updates; here it keeps its place).
   With 10,000 alerts firing at once, both layouts make incidents of 100-200 alerts.
2. Compression (``--hours``, ``--scale``, ``--seed``): the simulator's labelled incidents go
   through the detection pipeline (bench/detection.py) and the alerts through the engine.
   Prints detector firings : incidents, and for each injected incident whether its alerts
   ended in exactly one incident (all attached), several, or none; an alert near several
   injected incidents counts as one of its own entity's, else the nearest. Also prints
   the incidents that hold alerts of several injected incidents (over-merging).

``--stages`` also prints the time per update of each stage (lifecycle; muting, grouping and
escalation, with their parts; incidents; ticks), measured inside the same run. It runs the
Python sources (it wraps methods, which the compiled core's classes do not allow); without
it the run uses the compiled core if it is current (``make native``, ``citycc.native``),
and says which it used.

Usage: python bench/alerting.py [--active 10000] [--silences 1000] [--layout city|centres]
                                [--hours 1] [--skip-sim] [--stages]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

# This file is named like the package it measures: take bench/ off the path so that
# ``import alerting`` finds the package; bench/detection.py is loaded by its path.
BENCH = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != BENCH]
sys.path.insert(0, str(BENCH.parent))
if "--stages" in sys.argv:   # (before alerting is imported: see the docstring)
    os.environ["CITYCC_NATIVE"] = "0"

from alerting.config import default_config  # noqa: E402
from alerting.engine import Engine  # noqa: E402
from city.profile import CityProfile, load_profile  # noqa: E402
from citycc import native  # noqa: E402
from citycc.runtime import freeze_long_lived, tune_gc  # noqa: E402
from schemas.records import make_alert  # noqa: E402
from schemas.validate import format_event_time  # noqa: E402
from simulator.world import COUNTS_1X, SENSOR_KINDS, build_world, scatter  # noqa: E402

T0 = 1_795_600_800_000
KINDS = [("gas_concentration_high", "lifeline", "limit", "critical"),
         ("water_pressure_low", "lifeline", "limit", "major"),
         ("gas_pressure_drop", "lifeline", "sensor_deviation", "minor"),
         ("sensor_nodata", "lifeline", "data_quality", "minor"),
         ("traffic_congestion", "traffic", "traffic_incident", "minor"),
         ("fire_alarm", "fire", "cluster", "major"),
         ("hazmat_stopped", "hazmat", "hazmat_rules", "major"),
         ("ems_dispatch_delay", "ems", "service_level", "info")]


# The simulated entities that raise each kind (simulator.world): sensors by measurement,
# road segments, fire-alarm panels, hazmat vehicles; None: calls, placed like the population.
SOURCES = {"gas_concentration_high": ("sensors", "gas_concentration"),
           "water_pressure_low": ("sensors", "water_pressure"),
           "gas_pressure_drop": ("sensors", "gas_pressure"), "sensor_nodata": ("sensors", None),
           "traffic_congestion": ("segments", None), "fire_alarm": ("panels", None),
           "hazmat_stopped": ("hazmat", None), "ems_dispatch_delay": None}
Place = tuple[str, str, float, float]  # entity id, district code, lat, lon


def city_places(profile: CityProfile, active: int, seed: int) -> list[Place]:
    """Alert ``i``'s entity and place: a distinct entity of the simulated city for each
    alert of a kind (the city is scaled up if it has too few of that kind)."""
    need = -(-active // len(KINDS))
    share = {k[0]: k[2] for k in SENSOR_KINDS}
    pool_1x = {kind: COUNTS_1X[src[0]] * (share[src[1]] if src[1] else 1.0)
               for kind, src in SOURCES.items() if src}
    world = build_world(profile, max(1.0, 1.05 * need / min(pool_1x.values())), seed)
    rng = np.random.default_rng([seed, 1])
    picks: dict[str, list[Place]] = {}
    for kind, src in SOURCES.items():
        if src is None:
            lat, lon = scatter(profile, rng, need)
            dist = profile.nearest_districts(lat, lon)
            picks[kind] = [(f"CALL-{j:06d}", dist[j], float(lat[j]), float(lon[j]))
                           for j in range(need)]
            continue
        pts = getattr(world, src[0])
        idx = np.arange(len(pts.ids)) if src[1] is None else \
            np.flatnonzero(pts.p["kind_s"] == src[1])
        idx = rng.permutation(idx)[:need]
        picks[kind] = [(str(pts.ids[j]), str(pts.district[j]), float(pts.lat[j]),
                        float(pts.lon[j])) for j in idx]
    return [picks[KINDS[i % len(KINDS)][0]][i // len(KINDS)] for i in range(active)]


def centre_places(profile: CityProfile, active: int, seed: int) -> list[Place]:
    """The first layout: alert ``i`` at N(0, 0.03°) around district ``i % 9``'s centre."""
    rng = np.random.default_rng(seed)
    ds = [profile.districts[i % len(profile.districts)] for i in range(active)]
    return [(f"E{i:06d}", d.code, d.lat + float(rng.normal(0, 0.03)),
             d.lon + float(rng.normal(0, 0.03))) for i, d in enumerate(ds)]


def synthetic_alert(i: int, status: str, t: int, place: Place,
                    profile: CityProfile) -> dict[str, Any]:
    kind, stream, det, sev = KINDS[i % len(KINDS)]
    entity, code, lat, lon = place
    d = profile.district(code)
    return make_alert(detector=det, kind=kind, status=status, severity=sev, stream=stream,
                      entity_id=entity, district=d.code, district_zh=d.zh,
                      district_en=d.en, lat=lat, lon=lon, event_time=format_event_time(t),
                      value=1.0, threshold=1.0, unit="", title_zh="压测", title_en="bench",
                      evidence=[f"ev{i}.{t}"], detected_at=format_event_time(t))


def _timed(spent: dict[str, float], name: str, fn: Any) -> Any:
    """``fn``, adding the time of each call to ``spent[name]``."""
    def call(*args: Any, **kw: Any) -> Any:
        c0 = time.perf_counter()
        try:
            return fn(*args, **kw)
        finally:
            spent[name] = spent.get(name, 0.0) + time.perf_counter() - c0
    return call


STAGES = (("lifecycle", ("book", "apply")), ("mute/group/escalate", ("_after",)),
          ("  silences", ("silencer", "observe")), ("  grouping", ("grouper", "add")),
          ("  inhibition", ("inhibitor", "observe")), ("  escalation", ("escalator", "observe")),
          ("  pages", ("page",)), ("incidents", ("correlator", "observe")),
          ("ticks", ("tick",)))


def throughput(active: int, silences: int, updates: int, seed: int, layout: str,
               stages: bool = False) -> None:
    profile = load_profile()
    places = (city_places if layout == "city" else centre_places)(profile, active, seed)
    rng = np.random.default_rng(seed)
    engine = Engine(default_config(), profile)
    # one silence per entity (alerts of two kinds may be on one sensor)
    entities = list(dict.fromkeys(places[int(i)][0] for i in rng.permutation(active)))
    for k, entity in enumerate(entities[:silences]):
        out = engine.command({"command_id": f"s{k}", "action": "silence", "actor": "bench",
                              "matchers": [f'entity_id="{entity}"'],
                              "reason": "bench", "ends_at": format_event_time(T0 + 86_400_000)},
                             T0)
        assert not out.rejected, out.rejected
    # Each batch's messages are made just before it goes in (untimed), as a worker holds
    # only the batch it decodes: 100,000 messages made up front are more objects than the
    # whole engine state, and every garbage collection during the timed run walked them.
    tune_gc()   # as the worker runs (citycc.runtime)
    t_fire = 0.0
    for i in range(0, active, 500):
        batch = [synthetic_alert(j, "firing", T0 + j, places[j], profile)
                 for j in range(i, min(i + 500, active))]
        c0 = time.perf_counter()
        engine.alerts(batch, T0 + i + 500)
        t_fire += time.perf_counter() - c0
    freeze_long_lived()   # as the worker does after a checkpoint of this state
    spent: dict[str, float] = {}
    if stages:   # time each stage of the state changes below (adds ~1 us per update)
        for name, path in STAGES:
            owner = engine
            for attr in path[:-1]:
                owner = getattr(owner, attr)
            setattr(owner, path[-1], _timed(spent, name, getattr(owner, path[-1])))
    # then a stream of state changes: resolve / re-fire of random active alerts
    status = ["firing"] * active
    plan, now = [], T0 + active
    for k in range(updates):
        i = int(rng.integers(0, active))
        status[i] = "resolved" if status[i] == "firing" else "firing"
        plan.append((i, status[i], now + k * 2))
    n_events = n_inc = 0
    el, batch_s = 0.0, []
    per_tick = 2000   # alerts per simulated second
    for j in range(0, updates, per_tick):
        t = now + (j // per_tick + 1) * 1000 + 2 * per_tick
        batch = [synthetic_alert(i, st, at, places[i], profile)
                 for i, st, at in plan[j:j + per_tick]]
        c0 = time.perf_counter()
        out = engine.alerts(batch, t)
        out.extend(engine.tick(t))
        for attempt in engine.outbox.due(t):   # delivered, as the worker's notifier reports
            engine.outbox.result(attempt, "ok", t)
        batch_s.append(time.perf_counter() - c0)
        el += batch_s[-1]
        n_events += len(out.alert_events)
        n_inc += len(out.incident_events)
    sizes = sorted((len(i.members) for i in engine.correlator.open_incidents()), reverse=True)
    print(f"throughput — {active:,} active alerts ({layout} layout), {silences:,} silences + "
          f"the Changsha routing tree, inhibit rules and escalation, incident correlation:")
    print(f"  alerting core: {'compiled (mypyc)' if native.active() else 'Python sources'} "
          f"(citycc.native: {native.status()})")
    print(f"  initial firing: {active / t_fire:,.0f} alerts/s")
    print(f"  state changes:  {updates / el:,.0f} alerts/s ({updates:,} in {el:.2f} s; "
          f"{n_events:,} alert events, {n_inc:,} incident events, "
          f"{len(engine.book.active()):,} active at the end)")
    # a shared VM's speed varies from one 100 ms slice to the next (up to 2.5x here): the
    # median batch is the robust figure, the mean above includes every slow slice
    batch_s.sort()
    print(f"  per batch of {per_tick:,}: median {per_tick / batch_s[len(batch_s) // 2]:,.0f} "
          f"alerts/s, fastest {per_tick / batch_s[0]:,.0f}, slowest {per_tick / batch_s[-1]:,.0f}")
    print(f"  incidents open at the end: {len(sizes):,}, largest {sizes[:3]} alerts")
    if stages:
        print("  per update (us): " + ", ".join(
            f"{name.strip()} {1e6 * spent.get(name, 0.0) / updates:.1f}" for name, _ in STAGES))


def compression(scale: float, hours: float, per_hour: float, seed: int, radius_km: float
                ) -> None:
    import importlib.util   # bench/detection.py: the simulator through the pipeline
    spec = importlib.util.spec_from_file_location("bench_detection", BENCH / "detection.py")
    D = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(D)  # type: ignore[union-attr]
    firing, truth, stats = D.run(scale, hours, per_hour, seed)
    score(firing, truth, stats, D, scale=scale, hours=hours, seed=seed, radius_km=radius_km)


def score(firing: list[dict[str, Any]], truth: list[dict[str, Any]], stats: dict[str, Any],
          D: Any, *, scale: float, hours: float, seed: int, radius_km: float) -> None:
    """The detection run's alerts through the engine, scored against the injected
    incidents (``D``: bench/detection.py)."""
    alerts, dispatch = stats["alerts"], stats.get("dispatch", [])
    engine = Engine(default_config(), load_profile())
    events = []
    k = 0
    for i, a in enumerate(alerts):   # in order; ticks at each alert's detection time
        t = D.parse_event_time(a["detected_at"])
        while k < len(dispatch) and dispatch[k][1] <= i:   # calls and units seen before it
            out = engine.dispatch([dispatch[k][2]], dispatch[k][0])
            events += out.incident_events
            k += 1
        out = engine.alerts([a], t)
        out.extend(engine.tick(t))
        events += out.incident_events
    end = D.START_MS + int(hours * 3_600_000) + 3_600_000
    events += engine.tick(end).incident_events
    home: dict[str, str] = {}      # fingerprint -> incident (following merges)
    merged: dict[str, str] = {}
    opened = set()
    for ev in events:
        if ev.kind == "opened":
            opened.add(ev.incident_id)
        p = ev.payload
        fps = p.get("fingerprints") or ([p["fingerprint"]] if "fingerprint" in p else [])
        members = p.get("members", []) + ([p["member"]] if "member" in p else [])
        for m in members:
            fps.append(m["fingerprint"] if isinstance(m, dict) else m)
        if ev.kind in ("opened", "alert_attached"):
            for fp in fps:
                home[fp] = ev.incident_id
        if ev.kind == "merged_into":
            merged[ev.incident_id] = p.get("target") or p.get("into", "")

    def root(iid: str) -> str:
        while iid in merged and merged[iid]:
            iid = merged[iid]
        return iid

    # per type: n, one incident with all its alerts, one incident with some left out,
    # several incidents, none; and the kinds of matched alerts left out of every incident
    per_type: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
    left_out: dict[str, int] = defaultdict(int)
    matched_fps: set[str] = set()
    holds: dict[str, set[int]] = defaultdict(set)   # incident -> injected ones it holds
    owner = _owners(firing, truth, radius_km, D)
    for n, inc in enumerate(truth):
        mine = {a["fingerprint"]: a for i, a in enumerate(firing) if owner[i] == n}
        matched_fps |= set(mine)
        homes = {root(home[fp]) for fp in mine if fp in home}
        for h in homes:
            holds[h].add(n)
        for fp, a in mine.items():
            if fp not in home:
                left_out[f"{a['kind']}/{a['severity']}"] += 1
        row = per_type[inc["type"]]
        row[0] += 1
        complete = all(fp in home for fp in mine)
        row[(1 if complete else 2) if len(homes) == 1 else 3 if len(homes) > 1 else 4] += 1
    incidents = {root(i) for i in opened}
    noise = {root(home[a["fingerprint"]]) for a in firing
             if a["fingerprint"] not in matched_fps and a["fingerprint"] in home}
    print(f"compression — city-{scale:g}x, {hours:g} h, seed {seed}, {len(truth)} injected "
          f"incidents, {stats['events']:,} events")
    print(f"  detector firings : incidents = {len(firing)} : {len(incidents)} "
          f"({len(firing) / max(len(incidents), 1):.1f} : 1); "
          f"{len(noise)} incidents from unmatched alerts")
    print(f"  {'incident type':<18} {'n':>3} {'one, all alerts':>16} {'one, some':>10} "
          f"{'several':>8} {'none':>5}")
    for kind, (n, one, part, many, none) in per_type.items():
        print(f"  {kind:<18} {n:>3} {one:>16} {part:>10} {many:>8} {none:>5}")
    print(f"  matched alerts in no incident, by kind: {dict(left_out)}")
    # the other way to fail: one incident lumping separate events together (an alert near
    # two injected incidents in space and time counts for both, so some overlap is real)
    mixed = sorted((len(v) for v in holds.values() if len(v) > 1), reverse=True)
    print(f"  incidents holding alerts of several injected incidents: {len(mixed)} "
          f"(injected per such incident: {mixed[:8]})")


# The streams each injected incident type raises alerts on (simulator/incidents.py's
# plans: a gas leak moves lifeline sensors and may bring a 119 hazmat call, an accident
# jams road segments and may bring a 120 trauma call, ...). An alert near the incident on
# another stream is some other event (a hazmat vehicle in a protected zone near a burst
# main), not one of the incident's.
TYPE_STREAMS = {"gas_leak": {"lifeline", "fire"}, "water_main_burst": {"lifeline"},
                "structure_fire": {"fire", "ems"}, "traffic_accident": {"traffic", "ems"},
                "hazmat_leak": {"hazmat", "fire", "ems"}}


def _owners(firing: list[dict[str, Any]], truth: list[dict[str, Any]], radius_km: float,
            D: Any) -> list[int | None]:
    """Which injected incident each alert is one of (None: none). Where several overlap in
    space and time (24 an hour in the city centre), the one whose entity it is, else the
    nearest: counting it for all would fault the engine for keeping two events apart."""
    owner: list[int | None] = []
    for a in firing:
        best: tuple[float, int] | None = None
        for n, inc in enumerate(truth):
            if not _matches(a, inc, radius_km, D):
                continue
            d = -1.0 if a["entity_id"] in inc["entities"] else D.haversine_km(
                a["lat"], a["lon"], inc["lat"], inc["lon"])
            best = (d, n) if best is None or (d, n) < best else best
        owner.append(best[1] if best else None)
    return owner


def _matches(a: dict[str, Any], inc: dict[str, Any], radius_km: float, D: Any) -> bool:
    """Whether ``a`` is one of the injected incident's alerts: in its time, and on one of
    its entities, or near it on a stream its type raises alerts on."""
    t = D.parse_event_time(a["event_time"])
    if not inc["start_ms"] - 60_000 <= t <= inc["end_ms"]:
        return False
    if a["entity_id"] in inc["entities"]:
        return True
    return a["lat"] is not None and a["stream"] in TYPE_STREAMS[inc["type"]] and \
        D.haversine_km(a["lat"], a["lon"], inc["lat"], inc["lon"]) <= radius_km


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--active", type=int, default=10_000)
    ap.add_argument("--silences", type=int, default=1_000)
    ap.add_argument("--updates", type=int, default=100_000)
    ap.add_argument("--layout", choices=("city", "centres"), default="city",
                    help="where the throughput alerts are (see above)")
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--hours", type=float, default=1.0)
    ap.add_argument("--incidents-per-hour", type=float, default=12.0)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--radius-km", type=float, default=2.0)
    ap.add_argument("--skip-sim", action="store_true", help="throughput only")
    ap.add_argument("--stages", action="store_true",
                    help="also time each stage of the state changes (lifecycle, muting, "
                         "grouping, escalation, incidents)")
    args = ap.parse_args()
    throughput(args.active, args.silences, args.updates, args.seed, args.layout, args.stages)
    if not args.skip_sim:
        compression(args.scale, args.hours, args.incidents_per_hour, args.seed, args.radius_km)
    return 0


if __name__ == "__main__":
    sys.exit(main())
