"""The API's frame around each endpoint: sign-in, rate, blocking work off the loop, errors.

Every endpoint runs through :meth:`Api.route`: the bearer token names a user
(:class:`~cockpit_api.api.access.Access`; 401), the user's bucket has a token (429), the
endpoint answers or refuses with an :class:`~cockpit_api.api.errors.ApiError`; anything
else is a bug, logged and answered 500 ``internal`` without detail. ClickHouse calls run in
a worker thread (:meth:`Api.blocking`), at most ``concurrency`` at a time and for at most
``timeout_s`` (under the websocket server's 10 s handshake limit, which bounds every plain
HTTP answer too); a warehouse that cannot be reached or answers too late is a 503.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, TypeVar

from clickhouse_driver.errors import Error as ClickHouseError
from prometheus_client import Counter
from websockets.http11 import Request, Response

from city.profile import CityProfile

from ..auth.roles import Principal
from ..hub import AlertHub
from ..pages import Handler
from .access import Access
from .errors import ApiError, unavailable

log = logging.getLogger(__name__)

T = TypeVar("T")
Endpoint = Callable[[Request, Principal], Awaitable[Response]]
TIMEOUT_S = 8.0
CONCURRENCY = 4


@dataclass
class Api:
    """What the endpoints share: ``reader`` (:class:`~cockpit_api.api.reader.
    WarehouseReader` or a stand-in), the city, the hub (open incidents not stored yet)."""

    access: Access
    reader: Any
    profile: CityProfile
    hub: AlertHub
    requests: Counter | None = None     # citycc_cockpit_http_requests_total
    clock: Callable[[], float] = time.time
    timeout_s: float = TIMEOUT_S
    concurrency: int = CONCURRENCY
    _slots: asyncio.Semaphore = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._slots = asyncio.Semaphore(self.concurrency)

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    def route(self, name: str, endpoint: Endpoint) -> Handler:
        """``endpoint`` behind sign-in, the rate limit and the error frame."""
        async def handler(request: Request) -> Response:
            try:
                principal = self.access.principal(request)
                self.access.take(principal)
                response = await endpoint(request, principal)
            except ApiError as exc:
                response = exc.response()
            except Exception:   # noqa: BLE001 - a bug: logged, no detail to the client
                log.exception("API %s failed", name)
                response = ApiError(HTTPStatus.INTERNAL_SERVER_ERROR, "internal",
                                    "服务器内部错误，已记录日志", "internal error; it is in "
                                    "the cockpit's log").response()
            if self.requests is not None:
                self.requests.labels(name, str(response.status_code)).inc()
            return response
        return handler

    async def blocking(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` in a worker thread, bounded in number and time (503 otherwise)."""
        try:
            async with asyncio.timeout(self.timeout_s):
                async with self._slots:
                    return await asyncio.to_thread(fn, *args)
        except TimeoutError:
            log.warning("API: the warehouse did not answer within %.0f s", self.timeout_s)
            raise unavailable("warehouse_timeout", "数据仓库响应超时，请稍后再试",
                              f"the warehouse did not answer within {self.timeout_s:g} s; "
                              "try again later") from None
        except (ClickHouseError, OSError, EOFError) as exc:
            log.warning("API: the warehouse cannot be read: %r", exc)
            raise unavailable("warehouse_unavailable", "数据仓库暂时无法访问，请稍后再试",
                              "the warehouse (ClickHouse) cannot be reached; try again "
                              "later") from None
