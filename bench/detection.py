"""Detection benchmark: the simulator's labelled incidents through the pipeline's own code.

Runs a simulated city (default city-1x, one hour of event time, incidents from the seed)
through exactly the processing the Faust agents run (``streams.pipeline.StreamStep`` per
stream: decode, validate, enrich, detect; plus the detectors' wall-clock ``tick``), then
scores the alerts against the ground truth:

  * recall per incident type: an incident counts as detected when a firing alert lies
    within ``--radius-km`` of it, or is about one of its entities, between its start
    (minus 60 s) and its end;
  * time from incident start to its first alert (median, p90), in event time;
  * false alerts per hour city-wide: firing alerts that match no incident, counted for
    severity minor and above (what reaches the command hall; the target) and separately
    for ``info`` notices (compliance findings such as a service-level miss, routed to the
    agency concerned rather than shown as alerts).

Usage: python bench/detection.py [--scale 1] [--hours 1] [--incidents-per-hour 12]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from city.profile import haversine_km, load_profile  # noqa: E402
from detectors.plan import build_event_detectors, build_partition_detectors  # noqa: E402
from schemas.catalog import INPUT_STREAMS  # noqa: E402
from schemas.validate import Policy, parse_event_time  # noqa: E402
from schemas.wire import encode_batch  # noqa: E402
from simulator.generate import Simulation  # noqa: E402
from simulator.incidents import KINDS  # noqa: E402
from alerting.incident_calls import DISPATCH_TYPES  # noqa: E402
from streams.alerting_bridge import finding_alert  # noqa: E402
from streams.pipeline import RawMessage, StreamStep  # noqa: E402

START_MS = 1_795_600_800_000  # 2026-11-25T08:00:00Z (16:00 in Changsha)
STEP_MS = 1_000
BATCH = 500


def run(scale: float, hours: float, per_hour: float, seed: int) -> tuple[list[dict[str, Any]],
                                                                         list[dict[str, Any]],
                                                                         dict[str, Any]]:
    """Simulate and detect; return (firing alerts, ground truth, stats); ``stats["alerts"]``
    holds every alert message in order (firing and resolved) and ``stats["dispatch"]`` the
    calls and unit status changes the worker forwards to the alerting stage, as (tick,
    number of alerts before it, record), for bench/alerting.py."""
    profile = load_profile()
    sim = Simulation(profile, scale=scale, seed=seed, start_ms=START_MS, incidents=per_hour)
    policy = Policy.for_city(profile, max_lateness_s=24 * 3600)
    detectors = build_event_detectors(profile)
    per_partition = build_partition_detectors(profile)
    steps = {s: StreamStep(s, profile, policy, event_detectors=detectors,
                           partition_detectors=per_partition) for s in INPUT_STREAMS}
    alerts: list[dict[str, Any]] = []
    dispatch: list[tuple[int, int, dict[str, Any]]] = []  # (tick ms, alerts before it, record)
    n_events = 0
    offsets: dict[str, int] = defaultdict(int)
    t_sim = t_detect = 0.0
    end = START_MS + int(hours * 3600_000)
    for t in range(START_MS + STEP_MS, end + 1, STEP_MS):
        c0 = time.perf_counter()
        by_stream = sim.tick(t)
        c1 = time.perf_counter()
        for stream, events in by_stream.items():
            if not events:
                continue
            msgs = []
            for i in range(0, len(events), BATCH):
                msgs.append(RawMessage(stream, 0, offsets[stream],
                                       encode_batch(events[i:i + BATCH])))
                offsets[stream] += 1
            result = steps[stream].process(msgs, t)
            n_events += len(result.events)
            if result.dead:
                raise AssertionError(f"simulated events rejected: {result.dead[:2]}")
            alerts.extend(result.alerts)
            dispatch.extend((t, len(alerts), {"stream": stream, "event": e})
                            for e, _, _ in result.events if (stream, e["type"]) in DISPATCH_TYPES)
        ticked = [f for det in detectors for f in det.tick(t)]
        ticked += [f for step in steps.values() for f in step.detection.tick(t)]
        alerts.extend(finding_alert(f, profile, t) for f in ticked)
        t_sim += c1 - c0
        t_detect += time.perf_counter() - c1
    firing = [a for a in alerts if a["status"] == "firing"]
    stats = {"events": n_events, "sim_s": t_sim, "pipeline_s": t_detect, "alerts": alerts,
             "dispatch": dispatch,
             "late_for_detection": sum(s.detection.counters["late_for_detection"]
                                       for s in steps.values())}
    return firing, sim.truth, stats


def score(firing: list[dict[str, Any]], truth: list[dict[str, Any]], radius_km: float,
          hours: float) -> tuple[dict[str, dict[str, Any]], int, dict[str, int]]:
    """Match alerts to incidents; return per-type figures, false alerts, false by kind."""
    a_ms = np.array([parse_event_time(a["event_time"]) for a in firing], dtype=np.int64)
    a_lat = np.array([a["lat"] if a["lat"] is not None else np.nan for a in firing])
    a_lon = np.array([a["lon"] if a["lon"] is not None else np.nan for a in firing])
    a_ent = np.array([a["entity_id"] for a in firing], dtype=object)
    matched = np.zeros(len(firing), dtype=bool)
    per_type: dict[str, dict[str, Any]] = {k: {"n": 0, "hit": 0, "delays": []} for k in KINDS}
    for inc in truth:
        row = per_type[inc["type"]]
        row["n"] += 1
        if not len(firing):
            continue
        # Near the spot, or on one of the incident's own entities (the segments jammed
        # behind an accident can lie farther than the radius in a sparse district).
        near = (haversine_km(a_lat, a_lon, inc["lat"], inc["lon"]) <= radius_km) | \
            np.isin(a_ent, inc["entities"])
        when = (a_ms >= inc["start_ms"] - 60_000) & (a_ms <= inc["end_ms"])
        hits = np.flatnonzero(near & when)
        matched[hits] = True
        if len(hits):
            row["hit"] += 1
            row["delays"].append(max(0, int(a_ms[hits].min()) - inc["start_ms"]) / 1000)
    false_kinds: dict[str, int] = defaultdict(int)
    for i in np.flatnonzero(~matched):
        false_kinds[f"{firing[i]['kind']}/{firing[i]['severity']}"] += 1
    return per_type, int((~matched).sum()), dict(false_kinds)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--hours", type=float, default=1.0)
    ap.add_argument("--incidents-per-hour", type=float, default=12.0)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--radius-km", type=float, default=2.0)
    args = ap.parse_args()
    firing, truth, stats = run(args.scale, args.hours, args.incidents_per_hour, args.seed)
    per_type, false, false_kinds = score(firing, truth, args.radius_km, args.hours)
    print(f"citycc detection benchmark — city-{args.scale:g}x, {args.hours:g} h of event time, "
          f"seed {args.seed}, {len(truth)} incidents, {stats['events']:,} events")
    print(f"  pipeline {stats['events'] / max(stats['pipeline_s'], 1e-9):,.0f} events/s "
          f"(simulator {stats['sim_s']:.0f} s, pipeline {stats['pipeline_s']:.0f} s); "
          f"late for detection: {stats['late_for_detection']}")
    print(f"  {'incident type':<18} {'n':>3} {'recall':>7} {'median s':>9} {'p90 s':>7}")
    for kind, row in per_type.items():
        d = np.array(row["delays"])
        recall = row["hit"] / row["n"] if row["n"] else float("nan")
        med, p90 = (np.median(d), np.percentile(d, 90)) if len(d) else (np.nan, np.nan)
        print(f"  {kind:<18} {row['n']:>3} {recall:>7.0%} {med:>9.0f} {p90:>7.0f}")
    serious = sum(n for k, n in false_kinds.items() if not k.endswith("/info"))
    print(f"  false alerts (severity minor and above): {serious} = "
          f"{serious / args.hours:.1f} per hour city-wide (target < 5)")
    print(f"  unmatched info notices: {false - serious} = "
          f"{(false - serious) / args.hours:.1f} per hour")
    print(f"  unmatched by kind/severity: "
          f"{dict(sorted(false_kinds.items(), key=lambda kv: -kv[1]))}")
    print(f"  firing alerts in all: {len(firing)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
