"""Today's KPI figures from ClickHouse, refreshed in a worker thread for the hub.

Every ``interval_s`` (and at once when a client needs a scope nobody needed before) the
figures of every wanted scope (:mod:`cockpit_api.kpi_view`) are computed by
:func:`warehouse.kpi_queries.kpi_summary` over the current local day of the city (its
``timezone``, from local midnight to now) in a thread, never on the event loop. A failure is
logged and the last figures are kept, marked stale.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

from city.profile import CityProfile
from citycc.settings import Settings
from schemas.validate import format_event_time
from warehouse.client import connect
from warehouse.kpi_queries import kpi_summary

from .hub import AlertHub
from .kpi_view import Scope

log = logging.getLogger(__name__)

REFRESH_S = 60.0


def local_day(now_ms: int, tz_name: str) -> tuple[int, int]:
    """(local midnight, now) in epoch ms, for the day ``now_ms`` falls on in ``tz_name``."""
    local = datetime.fromtimestamp(now_ms / 1000, timezone.utc).astimezone(ZoneInfo(tz_name))
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    return int(midnight.timestamp() * 1000), now_ms


def read_kpis(settings: Settings, profile: CityProfile, scopes: Iterable[Scope],
              now_ms: int) -> dict[Scope, dict[str, Any]]:
    """The figures of each scope for today (blocking: run it in a thread)."""
    start, end = local_day(now_ms, profile.timezone)
    client = connect(settings)
    try:
        return {(a, d): kpi_summary(client, start, end, profile, district=d, agency=a)
                for a, d in scopes}
    finally:
        client.disconnect()


async def refresh_once(settings: Settings, profile: CityProfile, hub: AlertHub,
                       now_ms: int) -> bool:
    """One refresh of every wanted scope; False (logged, figures stale) if it failed."""
    scopes = sorted(hub.kpis.wanted, key=lambda s: (s[0] or "", s[1] or ""))
    try:
        figures = await asyncio.to_thread(read_kpis, settings, profile, scopes, now_ms)
    except Exception as exc:  # noqa: BLE001 - the warehouse is down: keep the last figures
        log.warning("cockpit: cannot compute the KPI figures (%r); the last ones are shown "
                    "as stale", exc)
        hub.kpis_failed(f"{type(exc).__name__}: {exc}"[:300])
        return False
    hub.publish_kpis(figures, format_event_time(now_ms))
    return True


async def run_kpis(settings: Settings, profile: CityProfile, hub: AlertHub,
                   interval_s: float = REFRESH_S,
                   clock: Callable[[], float] = time.time) -> None:
    """Refresh the hub's KPI figures until cancelled."""
    while True:
        hub.kpi_wanted.clear()
        await refresh_once(settings, profile, hub, int(clock() * 1000))
        try:
            await asyncio.wait_for(hub.kpi_wanted.wait(), interval_s)
        except TimeoutError:
            pass
