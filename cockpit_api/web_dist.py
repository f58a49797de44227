"""The front end's built bundles, served as ``/dist/<name>`` (``make web`` builds them into
``build/web/``: web/build.mjs).

Only the files the build makes are served (a fixed list: no path from a request reaches the
file system). When the build is missing the answer is a 404 that says so and the cockpit logs
it once per file: a page without its map or charts says why instead of failing silently.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from citycc.settings import PROJECT_ROOT

log = logging.getLogger(__name__)

WEB_DIR = PROJECT_ROOT / "build" / "web"
PREFIX = "/dist/"
JS, CSS = "text/javascript; charset=utf-8", "text/css; charset=utf-8"
FILES = {"citymap.js": JS, "charts.js": JS, "maplibre-gl-worker.js": JS, "maplibre-gl.css": CSS}
MISSING = b"front end not built: run `make web` (web/build.mjs writes build/web/)\n"


@dataclass
class Dist:
    """Reads the built files from ``web_dir``; remembers which missing ones it logged."""

    web_dir: Path = WEB_DIR
    _logged: set[str] = field(default_factory=set)

    def get(self, path: str) -> tuple[int, str, bytes]:
        """``(status, content type, body)`` of a ``/dist/...`` request."""
        name = path[len(PREFIX):]
        if name not in FILES:
            return 404, "text/plain; charset=utf-8", b"not found\n"
        try:
            return 200, FILES[name], (self.web_dir / name).read_bytes()
        except FileNotFoundError:
            if name not in self._logged:
                self._logged.add(name)
                log.error("%s is not built (no %s): run `make web`", PREFIX + name,
                          self.web_dir / name)
            return 404, "text/plain; charset=utf-8", MISSING
