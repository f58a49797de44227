"""What the API reads from ClickHouse: blocking calls, each on a client of its own.

Run in a worker thread (:meth:`cockpit_api.api.service.Api.blocking`), never on the event
loop. Each client asks the server to stop a query after ``max_execution_time`` seconds, so
a query the API has given up on does not keep running.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from clickhouse_driver import Client

from city.profile import CityProfile
from citycc.settings import Settings
from warehouse import queries
from warehouse.client import connect
from warehouse.kpi_queries import kpi_summary
from warehouse.kpi_trend import SeesAlert, SeesIncident, kpi_trend

T = TypeVar("T")


class WarehouseReader:
    """The API's queries against ``settings``' ClickHouse."""

    def __init__(self, settings: Settings, profile: CityProfile, timeout_s: float) -> None:
        self.settings, self.profile, self.timeout_s = settings, profile, timeout_s

    def _with_client(self, fn: Callable[[Client], T]) -> T:
        client = connect(self.settings)
        client.settings["max_execution_time"] = max(1, int(self.timeout_s))
        try:
            return fn(client)
        finally:
            client.disconnect()

    def summary(self, start_ms: int, end_ms: int, district: str | None, agency: str | None
                ) -> dict[str, Any]:
        return self._with_client(lambda c: kpi_summary(c, start_ms, end_ms, self.profile,
                                                       district=district, agency=agency))

    def trend(self, end_ms: int, hours: int, district: str | None, agency: str | None,
              kpi_streams: tuple[str, ...], sees_alert: SeesAlert,
              sees_incident: SeesIncident) -> dict[str, Any]:
        return self._with_client(lambda c: kpi_trend(
            c, end_ms, hours, district=district, agency=agency, kpi_streams=kpi_streams,
            sees_alert=sees_alert, sees_incident=sees_incident))

    def incident_events(self, incident_id: str) -> list[dict[str, Any]]:
        return self._with_client(lambda c: queries.incident_events(c, incident_id=incident_id))
