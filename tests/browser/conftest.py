"""Fixtures of the browser tests: the in-process cockpit (commands recorded, no Kafka) and
headless Debian Chromium."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cockpit_harness import CHROMIUM, CHROMIUM_ARGS, CommandRecorder, ServerThread

from citycc.settings import Settings
from deploy.procs import free_port


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerThread]:
    """The cockpit on a free port; ``server.commands`` and ``server.audit`` record what it
    would send. Its run directory is the test's own: never a local ``make run``'s (its
    supervisor status, its users)."""
    srv = ServerThread(Settings(cockpit_host="127.0.0.1", cockpit_port=free_port(),
                                run_dir=tmp_path / "run"),
                       commands=CommandRecorder(), audit=CommandRecorder())
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def chromium() -> Iterator[Any]:
    """A headless Chromium (Playwright's sync API), closed afterwards."""
    if not os.path.exists(CHROMIUM):
        pytest.skip("needs Debian chromium")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
