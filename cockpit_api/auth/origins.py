"""Which pages may open the cockpit's websocket, and the page's security headers (pure).

A browser sends the ``Origin`` of the page that opens a websocket, and sends cookies and
reaches loopback addresses for any page: without this check any site open in an operator's
browser could talk to the cockpit (cross-site websocket hijacking). Allowed: the cockpit's
own origin(s) and the ones configured (``CITYCC_COCKPIT_ORIGINS``). A missing, ``null``
(sandboxed frame, file://) or repeated ``Origin`` is refused like a foreign one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from urllib.parse import urlsplit

LOOPBACK = ("127.0.0.1", "localhost", "[::1]")
ANY_ADDRESS = ("0.0.0.0", "::", "")


def normalize_origin(origin: str) -> str:
    """``scheme://host[:port]`` in lower case, default ports dropped; ValueError if it is
    not one."""
    parts = urlsplit(origin.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname or \
            parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        raise ValueError(f"{origin!r} is not an origin (scheme://host[:port])")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    port = parts.port
    default = {"http": 80, "https": 443}[parts.scheme]
    return f"{parts.scheme}://{host}" + (f":{port}" if port and port != default else "")


def allowed_origins(host: str, port: int, extra: str = "") -> frozenset[str]:
    """The cockpit's own origins (on a loopback or any-address bind: every loopback name)
    plus ``extra``, comma-separated; ValueError for one that is not an origin."""
    names = LOOPBACK if host in LOOPBACK or host in ANY_ADDRESS else (host,)
    own = {normalize_origin(f"http://{_bracketed(n)}:{port}") for n in names}
    return frozenset(own | {normalize_origin(o) for o in extra.split(",") if o.strip()})


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def origin_allowed(values: Sequence[str], allowed: Iterable[str]) -> bool:
    """``values``: every ``Origin`` header of the request."""
    if len(values) != 1 or values[0].strip().lower() == "null":
        return False
    try:
        return normalize_origin(values[0]) in set(allowed)
    except ValueError:
        return False


def page_headers(allowed: Iterable[str]) -> list[tuple[str, str]]:
    """Headers of the page and its files: no inline script or style, no framing, no
    sniffing, no referrer; the websocket only to the allowed origins."""
    # (CSP has no syntax for an IPv6 literal: such a page reaches its socket by 'self')
    sockets = " ".join(sorted("ws" + o[4:] if o.startswith("http:") else "wss" + o[5:]
                              for o in allowed if "[" not in o))
    # worker-src: the map (MapLibre GL JS, /dist/citymap.js) runs its tile worker from
    # /dist/maplibre-gl-worker.js, a same-origin module, so 'self' is all it needs (no blob:)
    csp = ("default-src 'self'; script-src 'self'; worker-src 'self'; style-src 'self'; "
           "img-src 'self' data:; "
           f"connect-src 'self' {sockets}; frame-ancestors 'none'; base-uri 'none'; "
           "form-action 'none'; object-src 'none'")
    return [("Content-Security-Policy", csp), ("X-Frame-Options", "DENY"),
            ("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "no-referrer")]
