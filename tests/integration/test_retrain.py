"""The worker's retrain step on a real ClickHouse: history in, a fitted model swapped in."""

from __future__ import annotations

import asyncio
from typing import Any, Iterator

import pytest

from city.profile import load_profile
from citycc.settings import Settings
from detectors.multivariate import MultivariateAnomaly, RetrainPolicy
from schemas.records import Origin
from schemas.validate import parse_event_time
from simulator.generate import Simulation
from streams.retrain import retrain_once
from warehouse.rows import event_columns
from warehouse.sink import Warehouse

pytestmark = pytest.mark.integration
START = 1_795_600_800_000


@pytest.fixture()
def s(fresh_database: Any) -> Iterator[Settings]:
    with fresh_database("rt_test") as settings:
        yield settings


def test_retrain_once_fits_from_history_and_respects_the_policy(s: Settings) -> None:
    sim = Simulation(load_profile(), scale=0.05, seed=5, start_ms=START, incidents=0)
    rows = []
    for t in range(START + 60_000, START + 3 * 3_600_000 + 1, 60_000):
        rows += [(e, START, Origin("t", 0, 0), START) for e in sim.tick(t)["traffic"]]
    rows = [(e, parse_event_time(e["event_time"]), o, ing) for e, _, o, ing in rows]
    det = MultivariateAnomaly()
    now = START + 3 * 3_600_000 + 60_000

    async def scenario() -> tuple[int | None, int | None, int | None]:
        wh = Warehouse(s)
        await wh.start()
        try:
            await wh.insert("events_traffic", event_columns("traffic", rows))
            db = s.clickhouse.database
            too_strict = RetrainPolicy(interval_ms=3_600_000, min_rows=len(rows) + 1)
            skipped = await retrain_once(wh, db, det, too_strict, now, None)
            policy = RetrainPolicy(interval_ms=3_600_000, min_rows=1_000)
            trained = await retrain_once(wh, db, det, policy, now, None)
            again = await retrain_once(wh, db, det, policy, now + 60_000, trained)
            return skipped, trained, again
        finally:
            await wh.close()

    assert len(rows) > 1_000
    skipped, trained, again = asyncio.run(scenario())
    assert skipped is None                      # not enough rows: no model yet
    assert trained == now and det.model is not None
    segments = sum(1 for e, *_ in rows if e["type"] == "segment")  # accidents etc. are not
    assert det.model.meta["n_rows"] == segments                      # training rows
    assert again == now                         # interval not passed: kept the model
