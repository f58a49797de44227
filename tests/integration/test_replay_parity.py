"""Replaying archived events reproduces the alerts raised live (real Kafka, ClickHouse, worker).

The live side: a real ``citycc worker`` (own topics, own database) takes a simulated city in
real time (the simulator's producer at rate 1: event time = wall time) with seeded incidents
of every kind, begun before the window so their effects are under way; the alerts land in
ClickHouse. The replay side: the same window read back from the warehouse's ``events_*``
(:mod:`warehouse.replay_read`) through :class:`replay.engine.Replayer`, on event time.

Compared: the firing fingerprints (and the resolved ones), then each fingerprint's first
firing time (the alert's ``event_time``). What may differ, and why (each within
:data:`TOLERANCE_MS`, asserted):

* Tick-driven findings (NoData, a window closing, a keep-firing resolve, a cluster going
  quiet): the live worker ticks every second of *wall* clock (a Faust timer, its phase
  arbitrary) and takes batches with ``now`` = the wall clock, which runs ahead of event time
  by the producer's pacing step (0.5 s) plus the broker and batching delay; the replay takes
  each stream's events of a tick interval as one batch with ``now`` = the interval's end and
  ticks on every whole second of event time. Such a finding's ``event_time`` is that
  ``now``: each fires at its own first tick after the silence limit, so they differ by less
  than a second either way (the test's own silent sensor, in four runs: live 164, 553 and
  249 ms earlier than the replay, and 611 ms later); the tolerance is three. Event-driven
  findings carry the event's own time and evidence: they match exactly, alert id included.
* The window's edge: the live worker keeps ticking after the producer stops (every sensor
  then goes silent, and NoData fires ~a minute later); the replay stops at the window's end.
  Live alerts after the end are out of the comparison, and a tick-driven alert within
  :data:`TOLERANCE_MS` of the end may fall on either side of it.
* Live-only set-up: the worker is started by one garbage message (dead-lettered, touching no
  detector) and the end of its input is marked by a sentinel reading after the window (its
  limit alert is how the test knows the live alerts have landed); neither is in the window.
  Re-assertions are set to every 10 minutes so that none falls in the window (the alerts
  table keeps one row per alert id, the latest: a re-assertion would replace the firing).

Not seen here, but causes of difference on other windows: the live worker retrains its
multivariate detectors from the warehouse (``streams.retrain``, every minute once 10,000
rows of an asset class are there) while a replay's detectors start as the setup makes them;
a replayed window starts with empty detector state where the live worker had history
(baselines, silence timers): replay from before what you compare (an incident's window
starts 30 min early, :mod:`replay.window`). The Replayer feeds every stream as partition 0;
detector state is per entity within a partition, so this changes nothing today.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import orjson
import pytest

from city.profile import load_profile
from citycc.settings import Settings
from schemas.validate import format_event_time, parse_event_time
from simulator.generate import Simulation
from simulator.producer import run_producer
from streams.progress import processing_since, progress_path
from test_alerting_restart import rows, wait_for
from test_pipeline_e2e import produce

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

SCALE = 0.25              # ~600 events/s: the worker keeps up on 2 shared cores
SEED = 16
LEAD_S = 60               # the incidents begin this long before the window
WINDOW_S = 45             # produced in real time
TOLERANCE_MS = 3_000
KINDS = ("gas_leak", "water_main_burst", "structure_fire", "traffic_accident", "hazmat_leak")
SENTINEL = "GAS-PARITY-SENTINEL"
QUIET = "WP-PARITY-QUIET"


def start_worker(settings: Settings, citycc_proc: Any) -> Any:
    """A worker that is consuming: started, then fed one garbage message until it has taken
    a batch (its progress file says so)."""
    worker = citycc_proc(["worker"], "worker-parity", settings)
    path = progress_path(settings.run_dir, settings.worker_id)
    asyncio.run(produce(settings, "lifeline", [b"{not json: parity start"]))
    wait_for("the worker to take its first batch",
             lambda: worker.popen is not None and
             processing_since(path, worker.popen.pid) is not None, worker, 90)
    return worker


def run_live(settings: Settings, worker: Any) -> tuple[int, int, int]:
    """The city in real time for WINDOW_S; returns (window start, end, events produced)."""
    profile = load_profile(settings.city)
    now = int(time.time() * 1000)
    lead = now - LEAD_S * 1000
    sim = Simulation(profile, scale=SCALE, seed=SEED, start_ms=lead, incidents=[
        {"kind": k, "at_ms": lead + 1_000 + i * 2_000} for i, k in enumerate(KINDS)])
    sim.tick(now)                 # the lead-in is simulated, never sent
    start = sim.now_ms

    async def produce_window() -> int:
        city = asyncio.create_task(run_producer(settings, sim, rate=1.0, duration_s=WINDOW_S))
        await asyncio.sleep(5.0)
        quiet = await quiet_sensor(settings)
        return int((await city)["events"]) + quiet

    produced = asyncio.run(produce_window())
    end = sim.now_ms
    sentinel = {"event_id": f"parity-sentinel-{uuid.uuid4().hex[:6]}", "type": "reading",
                "event_time": format_event_time(end + 1_000), "source": "test-gw",
                "entity_id": SENTINEL, "lat": 28.19, "lon": 112.99,
                "kind": "gas_concentration", "value": 60.0, "unit": "%LEL"}
    asyncio.run(produce(settings, "lifeline", [orjson.dumps(sentinel)]))
    db = settings.clickhouse.database
    wait_for("the sentinel's alert in ClickHouse", lambda: rows(
        settings, f"SELECT count() FROM {db}.alerts WHERE entity_id = '{SENTINEL}'")[0][0],
        worker, 90)
    return start, end, produced


async def quiet_sensor(settings: Settings, readings: int = 8) -> int:
    """A water-pressure sensor of the test's that reports every second, then falls silent:
    NoData fires by tick about five intervals later (the tick-driven kind of finding)."""
    for k in range(readings):
        await produce(settings, "lifeline", [orjson.dumps({
            "event_id": f"parity-quiet-{k}", "type": "reading", "source": "test-gw",
            "event_time": format_event_time(int(time.time() * 1000)), "entity_id": QUIET,
            "lat": 28.2, "lon": 112.98, "kind": "water_pressure", "value": 0.3,
            "unit": "MPa"})])
        await asyncio.sleep(1.0)   # (pacing a producer in real time, not synchronisation)
    return readings


def landed_events(settings: Settings, start: int, end: int) -> int:
    db = settings.clickhouse.database
    return sum(rows(settings, f"SELECT count() FROM {db}.events_{s} FINAL WHERE event_ms >= "
                              f"{start} AND event_ms <= {end}")[0][0]
               for s in ("lifeline", "ems", "fire", "traffic", "hazmat"))


def live_alerts(settings: Settings, end: int) -> list[dict[str, Any]]:
    db = settings.clickhouse.database
    got = rows(settings, f"SELECT alert_id, fingerprint, status, event_ms, entity_id "
                         f"FROM {db}.alerts FINAL WHERE entity_id != '{SENTINEL}' AND "
                         f"event_ms <= {end + TOLERANCE_MS} ORDER BY event_ms")
    return [dict(zip(("alert_id", "fingerprint", "status", "event_ms", "entity_id"), r))
            for r in got]


def first_times(alerts: list[dict[str, Any]], status: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for a in alerts:
        if a["status"] == status:
            out[a["fingerprint"]] = min(out.get(a["fingerprint"], a["event_ms"]), a["event_ms"])
    return out



def replayed(settings: Settings, start: int, end: int) -> list[dict[str, Any]]:
    """The window replayed from the warehouse (:func:`warehouse.replay_read.read_window`,
    as ``citycc replay run`` reads it): the alert messages the Replayer published."""
    from replay.engine import Replayer
    from replay.setup import setup_from_settings
    from replay.window import Window
    from warehouse.client import connect
    from warehouse.replay_read import read_window
    window = Window(start, end + 1)           # (its end is exclusive)
    rp = Replayer(setup_from_settings(settings), start)
    client = connect(settings)
    try:
        out = [r for stream, events, times in read_window(client, settings.clickhouse.database,
                                                           window)
               for r in rp.feed(stream, events, times)]
    finally:
        client.disconnect()
    out += rp.advance(end)
    alerts = [(orjson.loads(r.value), r.at_ms) for r in out if r.topic == "alerts"]
    return [{"alert_id": a["alert_id"], "fingerprint": a["fingerprint"], "status": a["status"],
             "event_ms": parse_event_time(a["event_time"]), "entity_id": a["entity_id"],
             "at_ms": at} for a, at in alerts]


def compare(live: list[dict[str, Any]], rep: list[dict[str, Any]], start: int,
            end: int, tick_ms: int = 1000) -> dict[str, Any]:
    """Live vs replayed alerts. An alert the replay decided at a tick boundary (its time is
    the boundary) is tick-driven: matched by fingerprint and status, its time within
    :data:`TOLERANCE_MS`; any other is event-driven: matched by alert id (fingerprint,
    status and evidence) and exact event time. Near the end, see the module docstring."""
    ticked = {(a["fingerprint"], a["status"]) for a in rep
              if a["event_ms"] == a["at_ms"] and a["at_ms"] % tick_ms == 0}
    firsts: dict[str, dict[tuple[str, str], tuple[int, str]]] = {"live": {}, "replay": {}}
    for side, alerts in (("live", live), ("replay", rep)):
        for a in alerts:
            key = (a["fingerprint"], a["status"])
            if key in ticked:
                got = firsts[side].get(key)
                if got is None or a["event_ms"] < got[0]:
                    firsts[side][key] = (a["event_ms"], a["entity_id"])
            else:
                firsts[side][(a["alert_id"], a["status"])] = (a["event_ms"], a["entity_id"])
    L, R = firsts["live"], firsts["replay"]
    live_only = sorted(f"{k} {L[k]}" for k in set(L) - set(R)
                       if L[k][0] <= end - TOLERANCE_MS or k not in ticked)
    replay_only = sorted(f"{k} {R[k]}" for k in set(R) - set(L)
                         if R[k][0] <= end - TOLERANCE_MS or k not in ticked)
    skews = {k: L[k][0] - R[k][0] for k in set(L) & set(R)}
    exact = all(v == 0 for k, v in skews.items() if k not in ticked)
    if not exact:
        live_only += [f"{k} live {L[k]} replay {R[k]}" for k, v in skews.items()
                      if v and k not in ticked]
    tick_skews = [v for k, v in skews.items() if k in ticked]
    lines = [f"window {(end - start) / 1000:.1f} s; live {len(L)} alert states, replay "
             f"{len(R)}; event-driven matched exactly: {exact}; tick-driven "
             f"{sorted(R[k][1] for k in ticked if k in R)} skew live-replay (ms) "
             f"{sorted(tick_skews)}"]
    lines += [f"  {side} {k[1]:8} {(t - start) / 1000:7.3f} s {e}" for side, d in firsts.items()
              for k, (t, e) in sorted(d.items(), key=lambda x: x[1])]
    return {"live_only": live_only, "replay_only": replay_only,
            "firing": sum(1 for k in R if k[1] == "firing"),
            "tick_driven": {R[k][1] for k in ticked if k in R},
            "max_tick_skew_ms": max(map(abs, tick_skews), default=0),
            "text": "\n".join(lines + live_only + replay_only)}



def test_replaying_the_window_reproduces_the_live_alerts(
        fresh_database: Any, own_topics: Any, citycc_proc: Any, prepared: Settings) -> None:
    with fresh_database("parity") as base:
        # re-assertions every 10 min: none in the window, so the alerts table's one row per
        # alert id (ReplacingMergeTree) is the state change itself, not its latest repeat
        s = own_topics(base, "par").with_overrides(
            worker_id=f"par-{uuid.uuid4().hex[:6]}", reassert_interval_s=600.0,
            alert_ttl_s=1200.0)
        worker = start_worker(s, citycc_proc)
        start, end, produced = run_live(s, worker)
        assert landed_events(s, start, end) == produced     # every event is in the warehouse
        live = live_alerts(s, end)
        rep = replayed(s, start, end)
    report = compare(live, rep, start, end)
    print(report["text"])
    assert report["live_only"] == [] and report["replay_only"] == [], report["text"]
    assert report["firing"] >= 8, report["text"]        # the seeded incidents did fire
    assert QUIET in report["tick_driven"], report["text"]   # and so did a NoData (by tick)
    assert report["max_tick_skew_ms"] <= TOLERANCE_MS, report["text"]
