"""The built front end as the cockpit serves it (/dist/<name>, cockpit_api/web_dist.py): only
the files the build makes, a clear 404 and one log line when the build is missing, and the
big screen's own files on their routes."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from cockpit_api.auth.origins import page_headers
from cockpit_api.pages import FILES as PAGE_FILES
from cockpit_api.pages import STATIC_DIR
from cockpit_api.web_dist import FILES, MISSING, Dist


def test_a_built_file_is_served_with_its_type(tmp_path: Path) -> None:
    (tmp_path / "citymap.js").write_bytes(b"window.CityMap={}")
    (tmp_path / "maplibre-gl.css").write_bytes(b".x{}")
    dist = Dist(tmp_path)
    assert dist.get("/dist/citymap.js") == (200, "text/javascript; charset=utf-8",
                                            b"window.CityMap={}")
    assert dist.get("/dist/maplibre-gl.css")[:2] == (200, "text/css; charset=utf-8")


@pytest.mark.parametrize("path", ["/dist/", "/dist/manifest.json", "/dist/../pages.py",
                                  "/dist/%2e%2e/pages.py", "/dist/citymap.js/",
                                  "/dist//etc/passwd"])
def test_only_the_built_files_are_served(tmp_path: Path, path: str) -> None:
    (tmp_path / "manifest.json").write_text("{}")
    status, _, body = Dist(tmp_path).get(path)
    assert (status, body) == (404, b"not found\n")


def test_a_missing_build_says_so_and_is_logged_once(tmp_path: Path,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    dist = Dist(tmp_path / "nothing")
    with caplog.at_level(logging.ERROR, logger="cockpit_api.web_dist"):
        for _ in range(3):
            assert dist.get("/dist/charts.js") == (404, "text/plain; charset=utf-8", MISSING)
    assert b"make web" in MISSING
    assert [r.getMessage() for r in caplog.records] == [
        f"/dist/charts.js is not built (no {tmp_path / 'nothing' / 'charts.js'}): "
        f"run `make web`"]


def test_the_screen_and_its_files_are_routes() -> None:
    for route in ("/screen", "/screen.js", "/screen_words.js", "/screen.css", "/screen_map.js",
                  "/screen_tiles.js", "/screen_trend.js"):
        assert (STATIC_DIR / PAGE_FILES[route][0]).is_file(), route
    page = (STATIC_DIR / "screen.html").read_text(encoding="utf-8")
    for name in FILES:
        if not name.startswith("maplibre-gl-worker"):   # the map loads its worker itself
            assert f"/dist/{name}" in page, name


def test_the_map_needs_no_looser_policy() -> None:
    """MapLibre's worker is a same-origin file: the policy names 'self' and nothing else."""
    csp = dict(page_headers(()))["Content-Security-Policy"]
    assert "worker-src 'self';" in csp and "blob:" not in csp and "'unsafe-" not in csp
