"""The cockpit's plain HTTP side and the websocket handshake's gate.

* ``GET /`` (or ``/index.html``), every script of ``static/`` (``/words.js``, ``/core.js``, ...),
  ``/cockpit.css`` -- the page
  and its files, with the security headers of :func:`~cockpit_api.auth.origins.page_headers`
  (no inline script or style, no framing, no sniffing, no referrer).
* ``GET /screen`` and ``/screen.js``, ``/screen_words.js``, ``/screen.css`` -- the big screen;
  ``GET /dist/<name>`` -- the built map and chart bundles (:mod:`cockpit_api.web_dist`).
* ``GET /healthz`` -- ``{"ok": true, ...hub stats}`` (counts only; see README "Security").
* ``GET /basemap.json`` -- the city's base map (:func:`city.basemap.basemap`; public
  geography, no sign-in), bytes built once at start; 503 when they could not be built.
* ``/ws`` -- the handshake goes on only from an allowed ``Origin`` (else 403) and while the
  cockpit is under its connection cap (else 503); nothing else is read before sign-in.

Other routes are added to the :class:`Routes` table by their owners (``server.serve``:
``/metrics``, :mod:`cockpit_api.metrics`; ``/api/...``, :mod:`cockpit_api.api`).
"""

from __future__ import annotations

import http
import inspect
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from .auth.limits import ConnectionCap
from .auth.origins import allowed_origins, origin_allowed, page_headers
from .web_dist import PREFIX as DIST_PREFIX
from .web_dist import Dist

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"
WS_PATH = "/ws"
FILES = {"/": ("index.html", "text/html; charset=utf-8"),
         "/index.html": ("index.html", "text/html; charset=utf-8"),
         "/words.js": ("words.js", "text/javascript; charset=utf-8"),
         "/session.js": ("session.js", "text/javascript; charset=utf-8"),
         "/dispatch.js": ("dispatch.js", "text/javascript; charset=utf-8"),
         "/dispatch_units.js": ("dispatch_units.js", "text/javascript; charset=utf-8"),
         "/dispatch_words.js": ("dispatch_words.js", "text/javascript; charset=utf-8"),
         "/kpis.js": ("kpis.js", "text/javascript; charset=utf-8"),
         "/cockpit.css": ("cockpit.css", "text/css; charset=utf-8")}
# the console's modules (one concept each, classic scripts): every script in static/
FILES.update({f"/{p.name}": (p.name, "text/javascript; charset=utf-8")
              for p in STATIC_DIR.glob("*.js")})
MAX_LOGGED_ORIGINS = 100
BASEMAP_MISSING = orjson.dumps({"error": {"code": "basemap_unavailable",
                                          "zh": "底图不可用（见服务器日志）",
                                          "en": "base map unavailable (see the server log)"}})

ProcessRequest = Callable[[ServerConnection, Request], Awaitable["Response | None"]]


class Gate:
    """What the handshake checks: the allowed origins (set once the port is bound) and the
    connection cap; counts what it refused."""

    def __init__(self, cap: ConnectionCap, extra_origins: str = "") -> None:
        self.cap, self.extra_origins = cap, extra_origins
        self.allowed: frozenset[str] = frozenset()
        self.headers: list[tuple[str, str]] = page_headers(())
        self.refused = {"origin": 0, "full": 0}
        self._logged: set[str] = set()

    def bind(self, host: str, port: int) -> None:
        self.allowed = allowed_origins(host, port, self.extra_origins)
        self.headers = page_headers(self.allowed)

    def check(self, request: Request) -> Response | None:
        """None: the websocket handshake may go on."""
        origins = request.headers.get_all("Origin")
        if not origin_allowed(origins, self.allowed):
            self.refused["origin"] += 1
            shown = ", ".join(origins) or "none"
            if shown not in self._logged and len(self._logged) < MAX_LOGGED_ORIGINS:
                self._logged.add(shown)
                log.warning("websocket from origin %s refused (allowed: %s)", shown,
                            ", ".join(sorted(self.allowed)))
            return self.response(http.HTTPStatus.FORBIDDEN, "text/plain; charset=utf-8",
                                 b"origin not allowed\n")
        if self.cap.full():
            self.refused["full"] += 1
            return self.response(http.HTTPStatus.SERVICE_UNAVAILABLE,
                                 "text/plain; charset=utf-8", b"too many connections\n",
                                 [("Retry-After", "5")])
        return None

    def response(self, status: http.HTTPStatus, content_type: str, body: bytes,
                 extra: list[tuple[str, str]] | None = None) -> Response:
        return self.secure(respond(status, content_type, body, extra))

    def secure(self, response: Response) -> Response:
        """``response`` with the page's security headers (CSP, no framing, no sniffing)."""
        for name, value in self.headers:
            if name not in response.headers:
                response.headers[name] = value
        return response


def respond(status: http.HTTPStatus, content_type: str, body: bytes,
            extra: list[tuple[str, str]] | None = None) -> Response:
    """A response with the headers every answer of the cockpit carries (no caching, the
    connection closed after it); the page's security headers are added by :class:`Gate`."""
    headers = Headers([("Content-Type", content_type), ("Content-Length", str(len(body))),
                       ("Cache-Control", "no-store"), ("Connection", "close"),
                       *(extra or [])])
    return Response(status.value, status.phrase, headers, body)


# the big screen: its page, scripts and stylesheet
FILES.update({"/screen": ("screen.html", "text/html; charset=utf-8"),
              "/screen.css": ("screen.css", "text/css; charset=utf-8"),
              **{f"/{n}.js": (f"{n}.js", "text/javascript; charset=utf-8")
                 for n in ("screen", "screen_words", "screen_tiles", "screen_map",
                           "screen_trend")}})


Handler = Callable[[Request], "Response | Awaitable[Response]"]


@dataclass
class Routes:
    """What answers which path: exact paths, then prefixes (longest first). Adding a route
    is one line: ``routes.add("/basemap.json", handler)`` or ``routes.add_prefix("/dist/",
    handler)``; a handler takes the request and returns a response, or a coroutine of one
    (blocking work goes to a thread: the event loop serves every client)."""

    exact: dict[str, Handler] = field(default_factory=dict)
    prefixes: list[tuple[str, Handler]] = field(default_factory=list)

    def add(self, path: str, handler: Handler) -> None:
        self.exact[path] = handler

    def add_prefix(self, prefix: str, handler: Handler) -> None:
        self.prefixes.append((prefix, handler))
        self.prefixes.sort(key=lambda p: -len(p[0]))

    def find(self, path: str) -> Handler | None:
        found = self.exact.get(path)
        if found is not None:
            return found
        return next((h for prefix, h in self.prefixes if path.startswith(prefix)), None)


def static_file(name: str, content_type: str) -> Handler:
    def handler(request: Request) -> Response:
        return respond(http.HTTPStatus.OK, content_type, (STATIC_DIR / name).read_bytes())
    return handler


def page_routes(stats: Callable[[], dict[str, Any]], dist: Dist | None = None,
                basemap: bytes = b"") -> Routes:
    """The page, its files, the built bundles (``/dist/``), ``/basemap.json`` (``basemap``;
    empty: 503 with a coded error) and ``/healthz``."""
    routes = Routes()
    bundles = dist or Dist()

    def built(request: Request) -> Response:
        status, content_type, body = bundles.get(request.path.split("?", 1)[0])
        return respond(http.HTTPStatus(status), content_type, body)

    routes.add_prefix(DIST_PREFIX, built)
    for path, (name, content_type) in FILES.items():
        routes.add(path, static_file(name, content_type))
    routes.add("/basemap.json", lambda request: respond(
        http.HTTPStatus.OK, "application/json", basemap) if basemap else respond(
        http.HTTPStatus.SERVICE_UNAVAILABLE, "application/json", BASEMAP_MISSING))
    routes.add("/healthz", lambda request: respond(
        http.HTTPStatus.OK, "application/json", orjson.dumps({"ok": True, **stats()})))
    # more public routes: one line each here (``routes.add(path, handler)``,
    # ``routes.add_prefix("/dist/", handler)``); signed-in ones live in cockpit_api.api
    return routes


def make_process_request(gate: Gate, routes: Routes | Callable[[], dict[str, Any]]
                         ) -> ProcessRequest:
    """Route plain HTTP requests (``routes``; given the ``stats`` function instead: the
    page's routes only); ``None`` lets an allowed websocket handshake proceed. A handler
    that fails is logged and answered 500 with no detail (never a traceback)."""
    table = routes if isinstance(routes, Routes) else page_routes(routes)

    async def process_request(connection: ServerConnection, request: Request
                              ) -> Response | None:
        path = request.path.split("?", 1)[0]
        if path == WS_PATH:
            return gate.check(request)
        handler = table.find(path)
        if handler is None:
            return gate.secure(respond(http.HTTPStatus.NOT_FOUND, "text/plain; charset=utf-8",
                                       b"not found\n"))
        try:
            answer = handler(request)
            response = await answer if inspect.isawaitable(answer) else answer
        except Exception:   # noqa: BLE001 - a bug: logged, the client gets no traceback
            log.exception("%s failed", path)
            response = respond(http.HTTPStatus.INTERNAL_SERVER_ERROR,
                               "text/plain; charset=utf-8", b"internal error\n")
        return gate.secure(response)

    return process_request
