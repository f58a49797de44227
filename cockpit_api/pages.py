"""The cockpit's plain HTTP side and the websocket handshake's gate.

* ``GET /`` (or ``/index.html``), ``/words.js``, ``/cockpit.js``, ``/dispatch_words.js``,
  ``/dispatch.js``, ``/dispatch_units.js``, ``/kpis.js``, ``/session.js``, ``/cockpit.css`` -- the page
  and its files, with the security headers of :func:`~cockpit_api.auth.origins.page_headers`
  (no inline script or style, no framing, no sniffing, no referrer).
* ``GET /healthz`` -- ``{"ok": true, ...hub stats}`` (counts only; see README "Security").
* ``GET /basemap.json`` -- the city's base map (:func:`city.basemap.basemap`; public
  geography, no sign-in), bytes built once at start; 503 when they could not be built.
* ``/ws`` -- the handshake goes on only from an allowed ``Origin`` (else 403) and while the
  cockpit is under its connection cap (else 503); nothing else is read before sign-in.
"""

from __future__ import annotations

import http
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from .auth.limits import ConnectionCap
from .auth.origins import allowed_origins, origin_allowed, page_headers

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"
WS_PATH = "/ws"
FILES = {"/": ("index.html", "text/html; charset=utf-8"),
         "/index.html": ("index.html", "text/html; charset=utf-8"),
         "/words.js": ("words.js", "text/javascript; charset=utf-8"),
         "/cockpit.js": ("cockpit.js", "text/javascript; charset=utf-8"),
         "/session.js": ("session.js", "text/javascript; charset=utf-8"),
         "/dispatch.js": ("dispatch.js", "text/javascript; charset=utf-8"),
         "/dispatch_units.js": ("dispatch_units.js", "text/javascript; charset=utf-8"),
         "/dispatch_words.js": ("dispatch_words.js", "text/javascript; charset=utf-8"),
         "/kpis.js": ("kpis.js", "text/javascript; charset=utf-8"),
         "/cockpit.css": ("cockpit.css", "text/css; charset=utf-8")}
MAX_LOGGED_ORIGINS = 100
BASEMAP_MISSING = orjson.dumps({"error": {"code": "basemap_unavailable",
                                          "zh": "底图不可用（见服务器日志）",
                                          "en": "base map unavailable (see the server log)"}})

ProcessRequest = Callable[[ServerConnection, Request], Response | None]


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
        headers = Headers([("Content-Type", content_type), ("Content-Length", str(len(body))),
                           ("Cache-Control", "no-store"), ("Connection", "close"),
                           *self.headers, *(extra or [])])
        return Response(status.value, status.phrase, headers, body)


def make_process_request(gate: Gate, stats: Callable[[], dict[str, Any]],
                         basemap: bytes = b"") -> ProcessRequest:
    """Route plain HTTP requests; ``None`` lets an allowed websocket handshake proceed."""

    def process_request(connection: ServerConnection, request: Request) -> Response | None:
        path = request.path.split("?", 1)[0]
        if path == WS_PATH:
            return gate.check(request)
        if path in FILES:
            name, content_type = FILES[path]
            return gate.response(http.HTTPStatus.OK, content_type,
                                 (STATIC_DIR / name).read_bytes())
        if path == "/healthz":
            return gate.response(http.HTTPStatus.OK, "application/json",
                                 orjson.dumps({"ok": True, **stats()}))
        if path == "/basemap.json":
            if basemap:
                return gate.response(http.HTTPStatus.OK, "application/json", basemap)
            return gate.response(http.HTTPStatus.SERVICE_UNAVAILABLE, "application/json",
                                 BASEMAP_MISSING)
        return gate.response(http.HTTPStatus.NOT_FOUND, "text/plain; charset=utf-8",
                             b"not found\n")

    return process_request
