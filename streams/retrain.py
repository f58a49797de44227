"""Retrain the multivariate detectors from warehouse history on a schedule (I/O edge).

Every minute it checks each detector's :class:`RetrainPolicy`; when due (enough rows, the
interval passed) it samples the training window from ClickHouse on the warehouse thread,
fits on a worker thread (the event loop keeps streaming) and swaps the model in atomically.
A failed round is logged and retried next minute; detection goes on with the old model.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Callable

from detectors.multivariate import AssetModel, RetrainPolicy
from warehouse.history import count_rows, training_frame

log = logging.getLogger(__name__)
CHECK_EVERY_S = 60.0


async def retrain_once(warehouse: Any, database: str, detector: Any, policy: RetrainPolicy,
                       now_ms: int, last_trained_ms: int | None) -> int | None:
    """One check; returns the new ``last_trained_ms`` (unchanged when nothing was due)."""
    start, end = policy.window(now_ms)
    asset = detector.asset_class
    available = await warehouse.run(count_rows, database, asset, start, end)
    if not policy.due(now_ms, last_trained_ms, available):
        return last_trained_ms
    frame = await warehouse.run(training_frame, database, asset, start_ms=start, end_ms=end)
    model = AssetModel(asset)
    await asyncio.to_thread(model.fit, frame.values, frame.ts_ms, frame.entity_ids,
                            trained_at_ms=now_ms)
    detector.set_model(model)
    log.info("retrained %s on %d of %d rows", detector.name, len(frame.values), available)
    return now_ms


async def retrain_loop(warehouse: Any, database: str, detectors: list[Any],
                       policy: RetrainPolicy, clock: Callable[[], int]) -> None:
    last: dict[str, int | None] = {d.name: None for d in detectors}
    while True:
        for det in detectors:
            try:
                last[det.name] = await retrain_once(warehouse, database, det, policy,
                                                    clock(), last[det.name])
            except asyncio.CancelledError:
                raise
            except Exception:  # keep detecting with the old model; try again later
                log.exception("retraining %s failed", det.name)
        await asyncio.sleep(CHECK_EVERY_S)
