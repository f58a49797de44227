"""The cockpit's small authenticated HTTP API (JSON; ``Authorization: Bearer <token>``).

:mod:`~cockpit_api.api.endpoints` lists the endpoints; :mod:`~cockpit_api.api.service` the
frame every one runs in (sign-in, rate, ClickHouse off the event loop, errors);
:mod:`~cockpit_api.api.access` the token check; :mod:`~cockpit_api.api.params` the
parameters and the user's scope; :mod:`~cockpit_api.api.errors` the refusals
(``{"error": {"code", "zh", "en"}}``); :mod:`~cockpit_api.api.reader` the queries.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import Counter

from city.profile import CityProfile
from citycc.settings import Settings

from ..auth.login import Authenticator
from ..hub import AlertHub
from ..pages import Routes
from .access import Access
from .endpoints import add_routes
from .errors import ApiError, not_found
from .reader import WarehouseReader
from .service import TIMEOUT_S, Api

__all__ = ["Access", "Api", "ApiError", "WarehouseReader", "add_routes", "install"]


def install(routes: Routes, settings: Settings, profile: CityProfile, auth: Authenticator,
            hub: AlertHub, requests: Counter | None = None, reader: Any = None) -> Api:
    """The API on ``routes``, reading ``settings``' ClickHouse (or ``reader``)."""
    api = Api(Access(auth, settings.command_rate_per_s, settings.command_burst),
              reader or WarehouseReader(settings, profile, TIMEOUT_S), profile, hub,
              requests)
    add_routes(routes, api)
    routes.add_prefix("/api/", lambda request: not_found(
        "没有该接口", "no such API endpoint").response())
    return api
