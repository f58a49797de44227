"""Training the multivariate models from a real ClickHouse (18.16 from Debian, or newer).

Simulated traffic and hazmat events go in through :class:`warehouse.sink.Warehouse` (some
twice, as after a restart); :func:`warehouse.history.training_frame` reads them back with
FINAL and samples them; a model trained on what it returns detects an injected accident in
the next day's events, replayed from the warehouse into the event detector.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any, Iterator, Sequence

import numpy as np
import orjson
import pytest

from city.profile import load_profile
from citycc.settings import Settings
from detectors.findings import FIRING
from detectors.multivariate import (HAZMAT_TANK, SPECS, TRAFFIC_SEGMENT, AssetModel,
                                    MultivariateAnomaly, TankMultivariateAnomaly)
from schemas.records import Origin
from schemas.validate import parse_event_time
from simulator.generate import Simulation
from warehouse import queries
from warehouse.client import connect
from warehouse.history import count_rows, training_frame
from warehouse.rows import event_columns
from warehouse.sink import Warehouse

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

PROFILE = load_profile("changsha")
H, MIN = 3_600_000, 60_000
DAY1 = 1_768_428_000_000  # 2026-01-15 06:00 in Changsha
DAY2 = DAY1 + 24 * H
HOURS = 3


def simulate(start_ms: int, inject: Sequence[dict[str, Any]] = ()
             ) -> tuple[dict[str, list[dict[str, Any]]], list[Any]]:
    """Every traffic and hazmat event of ``HOURS`` from ``start_ms`` (scale 0.05)."""
    sim = Simulation(PROFILE, scale=0.05, seed=7, start_ms=start_ms, incidents=0)
    incidents = [sim.inject(**kw) for kw in inject]
    out: dict[str, list[dict[str, Any]]] = {"traffic": [], "hazmat": []}
    t = start_ms
    while t < start_ms + HOURS * H:
        t += 10 * MIN
        got = sim.tick(t)
        for stream in out:
            out[stream].extend(got[stream])
    return out, incidents


@pytest.fixture(scope="module")
def db_settings(fresh_database: Any) -> Iterator[Settings]:
    """The shared server with a fresh database of this module's own (dropped afterwards)."""
    with fresh_database("mv_test") as settings:
        yield settings


async def _insert(settings: Settings, streams: dict[str, list[dict[str, Any]]],
                  offset: int) -> int:
    wh = Warehouse(settings)
    await wh.start()
    n = 0
    try:
        for stream, events in streams.items():
            for k in range(0, len(events), 10_000):
                part = events[k:k + 10_000]
                items = [(e, parse_event_time(e["event_time"]),
                          Origin(f"citycc.{stream}", 0, offset + k + i, -1), DAY2)
                         for i, e in enumerate(part)]
                n += await wh.insert(f"events_{stream}", event_columns(stream, items))
    finally:
        await wh.close()
    return n


@pytest.fixture(scope="module")
def loaded(db_settings: Settings) -> dict[str, Any]:
    train, _ = simulate(DAY1)
    test, incidents = simulate(DAY2, [
        {"kind": "traffic_accident", "at_ms": DAY2 + 50 * MIN, "district": "kaifu",
         "duration_s": 1800},
        {"kind": "hazmat_leak", "at_ms": DAY2 + 70 * MIN, "duration_s": 1800}])
    asyncio.run(_insert(db_settings, train, 0))
    asyncio.run(_insert(db_settings, test, 1_000_000))
    # a replay after a restart: the first rows again, at other offsets (FINAL collapses them)
    asyncio.run(_insert(db_settings, {s: e[:5000] for s, e in train.items()}, 2_000_000))
    return {"train": train, "test": test, "accident": incidents[0], "leak": incidents[1]}


@pytest.fixture()
def client(db_settings: Settings, loaded: dict[str, Any]) -> Iterator[Any]:
    c = connect(db_settings)
    try:
        yield c
    finally:
        c.disconnect()


def segments(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if e["type"] == "segment"]


def test_training_frame_reads_every_segment_reading_once(client: Any, db_settings: Settings,
                                                         loaded: dict[str, Any]) -> None:
    db = db_settings.clickhouse.database
    want = segments(loaded["train"]["traffic"])
    assert len(loaded["train"]["traffic"]) > len(want)  # accident/fault reports are skipped
    end = DAY1 + HOURS * H + 1
    assert count_rows(client, db, TRAFFIC_SEGMENT, DAY1, end) == len(want)
    frame = training_frame(client, db, start_ms=DAY1, end_ms=end, limit=1_000_000)
    assert len(frame) == frame.available == len(want) and not frame.sampled
    assert frame.columns == SPECS[TRAFFIC_SEGMENT].measures
    assert frame.values.shape == (len(want), 3) and frame.ts_ms.dtype == np.int64
    assert np.all(np.diff(frame.ts_ms) >= 0)
    key = sorted((parse_event_time(e["event_time"]), e["entity_id"], e["speed_kmh"],
                  e["flow_vph"], e["occupancy"]) for e in want)
    got = sorted(zip(frame.ts_ms.tolist(), frame.entity_ids.tolist(),
                     *frame.values.T.tolist()))
    assert got == key
    # the window is half-open and in event time
    first = int(frame.ts_ms[0])
    part = training_frame(client, db, start_ms=first + 1, end_ms=first + 10 * MIN)
    assert part.ts_ms.min() > first and part.ts_ms.max() < first + 10 * MIN
    assert len(training_frame(client, db, start_ms=DAY2 + 5 * H, end_ms=DAY2 + 6 * H)) == 0


def test_sampling_is_even_exact_and_repeatable(client: Any, db_settings: Settings,
                                              loaded: dict[str, Any]) -> None:
    db = db_settings.clickhouse.database
    end = DAY1 + HOURS * H + 1
    total = len(segments(loaded["train"]["traffic"]))
    t0 = time.perf_counter()
    frame = training_frame(client, db, start_ms=DAY1, end_ms=end, limit=6000)
    hashed_s = time.perf_counter() - t0
    assert len(frame) == 6000 and frame.available == total and frame.sampled
    again = training_frame(client, db, start_ms=DAY1, end_ms=end, limit=6000)
    np.testing.assert_array_equal(frame.values, again.values)
    assert frame.entity_ids.tolist() == again.entity_ids.tolist()
    # even over segments (60 expected each) and over the hours (2000 each)
    per_segment = Counter(frame.entity_ids.tolist())
    assert len(per_segment) == 100 and min(per_segment.values()) >= 35
    hours = np.bincount((frame.ts_ms - DAY1) // H, minlength=HOURS)
    assert hours.min() > 1700 and hours.max() < 2300, hours
    # measured against the other even sample: ORDER BY rand() sorts the whole window
    t0 = time.perf_counter()
    rows = client.execute(
        f"SELECT entity_id, event_ms, speed_kmh, flow_vph, occupancy FROM {db}.events_traffic "
        f"FINAL WHERE type = 'segment' AND event_ms >= {DAY1} AND event_ms < {end} "
        f"ORDER BY rand() LIMIT 6000")
    rand_s = time.perf_counter() - t0
    assert len(rows) == 6000
    print(f"\nsampling 6000 of {total}: cityHash64 bottom-k {hashed_s * 1000:.0f} ms, "
          f"ORDER BY rand() {rand_s * 1000:.0f} ms")


def test_a_model_trained_from_the_warehouse_detects_the_accident(
        client: Any, db_settings: Settings, loaded: dict[str, Any]) -> None:
    db = db_settings.clickhouse.database
    frame = training_frame(client, db, TRAFFIC_SEGMENT, start_ms=DAY1,
                           end_ms=DAY1 + HOURS * H + 1, limit=20_000)
    t0 = time.perf_counter()
    model = AssetModel().fit(frame.values, frame.ts_ms, frame.entity_ids,
                             trained_at_ms=DAY1 + HOURS * H)
    print(f"\nfit on {len(frame)} rows: {time.perf_counter() - t0:.2f} s")
    assert model.meta["n_rows"] == 20_000 and model.meta["n_entities"] == 100
    # score the next day as stored, in one vectorised call
    inc = loaded["accident"]
    hit = [e for e in inc.entities if ":" in e]
    day2 = training_frame(client, db, start_ms=DAY2, end_ms=DAY2 + HOURS * H + 1,
                          limit=1_000_000)
    s = model.score(day2.values, day2.ts_ms, day2.entity_ids)
    during = (np.isin(day2.entity_ids, hit) & (day2.ts_ms > inc.start_ms + 3 * MIN)
              & (day2.ts_ms < inc.end_ms - 3 * MIN))
    normal = ~np.isin(day2.entity_ids, hit)
    assert np.mean(s[during] > model.threshold) > 0.9
    assert np.mean(s[normal] > model.threshold) < 0.003
    # replay the stored events (FINAL, event-time order) through the detector
    det = MultivariateAnomaly(model)
    findings = []
    bodies = queries.events_between(client, "traffic", DAY2, DAY2 + HOURS * H + 1)
    for k in range(0, len(bodies), 500):
        events = [orjson.loads(b) for b in bodies[k:k + 500]]
        findings += det.update("traffic", events,
                               [parse_event_time(e["event_time"]) for e in events])
    firing = {f.entity_id: f for f in findings if f.status == FIRING}
    assert hit[0] in firing and len(set(firing) - set(hit)) <= 1
    f = firing[hit[0]]
    assert inc.start_ms < f.event_ms < inc.start_ms + 5 * MIN
    assert f.explanation["top"] == "speed_kmh"
    assert f.explanation["training_window"]["n_rows"] == 20_000


def test_tank_readings_are_joined_per_tank_and_time(client: Any, db_settings: Settings,
                                                    loaded: dict[str, Any]) -> None:
    db = db_settings.clickhouse.database
    readings = [e for e in loaded["train"]["hazmat"] if e["type"] == "tank_reading"]
    sets: dict[tuple[str, int], dict[str, float]] = {}
    for e in readings:
        sets.setdefault((e["entity_id"], parse_event_time(e["event_time"])), {})[e["kind"]] = \
            e["value"]
    kinds = SPECS[HAZMAT_TANK].measures
    want = sorted((t, tank, *[v[k] for k in kinds]) for (tank, t), v in sets.items()
                  if len(v) == 3)
    frame = training_frame(client, db, HAZMAT_TANK, start_ms=DAY1,
                           end_ms=DAY1 + HOURS * H + 1)
    assert frame.columns == kinds and len(frame) == len(want) > 1000
    got = sorted(zip(frame.ts_ms.tolist(), frame.entity_ids.tolist(), *frame.values.T.tolist()))
    assert got == want
    sampled = training_frame(client, db, HAZMAT_TANK, start_ms=DAY1,
                             end_ms=DAY1 + HOURS * H + 1, limit=1000)
    assert len(sampled) == 1000 and sampled.available == len(want)
    # and the model from it finds the leaking tank in the next day's readings
    model = AssetModel(HAZMAT_TANK).fit(frame.values, frame.ts_ms, frame.entity_ids)
    det = TankMultivariateAnomaly(model)
    events = [e for e in loaded["test"]["hazmat"] if e["type"] == "tank_reading"]
    findings = det.update("hazmat", events, [parse_event_time(e["event_time"]) for e in events])
    tank = loaded["leak"].entities[1]
    assert [f.entity_id for f in findings if f.status == FIRING] == [tank]
