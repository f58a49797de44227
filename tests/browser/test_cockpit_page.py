"""The cockpit page in headless Chromium against an in-process server (no Kafka)."""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from citycc.settings import Settings
from cockpit_api.hub import AlertHub
from cockpit_api.server import serve
from deploy.procs import free_port

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-quic"]
GAS_ALERT: dict[str, Any] = {
    "alert_id": "a1b2c3", "fingerprint": "f00-gas-fr-17", "status": "firing",
    "severity": "critical", "detector": "limit", "kind": "gas_concentration_high",
    "stream": "lifeline", "entity_id": "GAS-FR-00017", "district": "furong",
    "district_zh": "芙蓉区", "district_en": "Furong", "lat": 28.19, "lon": 112.99,
    "event_time": "2026-11-25T06:33:48.123Z", "value": 27.5, "threshold": 20.0,
    "unit": "%LEL", "title_zh": "燃气浓度超限", "title_en": "Gas concentration above alarm level",
    "evidence": ["evt-id-1"], "detected_at": "2026-11-25T06:33:48.400Z",
    "explanation": {"rule": "physical limit", "alarm_level": 20.0, "recover_level": 10.0,
                    "deviation": 7.5}}
OTHER_ALERTS: list[dict[str, Any]] = [
    {"fingerprint": "f01", "status": "firing", "severity": "major", "kind": "water_pressure_low",
     "entity_id": "WTR-YL-00231", "district_zh": "岳麓区", "district_en": "Yuelu",
     "event_time": "2026-11-25T06:31:02.000Z", "value": 0.12, "threshold": 0.2, "unit": "MPa",
     "title_zh": "供水管网压力过低", "title_en": "Water main pressure too low"},
    {"fingerprint": "f02", "status": "firing", "severity": "minor", "kind": "traffic_congestion",
     "entity_id": "RD-TX-0042", "district_zh": "天心区", "district_en": "Tianxin",
     "event_time": "2026-11-25T06:28:40.000Z", "value": 8.7, "threshold": 7.0, "unit": "TPI",
     "title_zh": "道路拥堵指数偏高", "title_en": "Traffic congestion index high"},
    {"fingerprint": "f03", "status": "firing", "severity": "info", "kind": "manhole_cover_open",
     "entity_id": "MH-KF-1187", "district_zh": "开福区", "district_en": "Kaifu",
     "event_time": "2026-11-25T06:20:11.000Z", "value": 1, "threshold": 0, "unit": "",
     "title_zh": "井盖异常开启", "title_en": "Manhole cover opened"},
    {"fingerprint": "", "status": "firing"},  # malformed: counted, not shown
]


class ServerThread:
    """Runs ``serve`` on its own event loop in a daemon thread."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.hub = AlertHub()
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._task: asyncio.Task[None] | None = None
        self._thread = threading.Thread(target=self._main, daemon=True)

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        ready = asyncio.Event()

        async def start() -> None:
            self._task = asyncio.create_task(
                serve(self.settings, self.hub, ready=ready, stats_interval_s=0.5))
            await ready.wait()
            self._ready.set()

        self.loop.run_until_complete(start())
        try:
            self.loop.run_until_complete(self._task)  # type: ignore[arg-type]
        except asyncio.CancelledError:
            pass
        finally:
            self.loop.close()

    def start(self) -> None:
        self._thread.start()
        assert self._ready.wait(10), "server did not start"

    def publish(self, alert: dict[str, Any]) -> None:
        """Publish on the server's loop (the hub is not thread-safe)."""
        self.loop.call_soon_threadsafe(self.hub.publish, dict(alert))

    def stop(self) -> None:
        if self._task is not None:
            self.loop.call_soon_threadsafe(self._task.cancel)
        self._thread.join(10)


@pytest.fixture
def server() -> Iterator[ServerThread]:
    srv = ServerThread(Settings(cockpit_host="127.0.0.1", cockpit_port=free_port()))
    srv.start()
    yield srv
    srv.stop()


def test_healthz_and_404(server: ServerThread) -> None:
    base = server.settings.cockpit_url
    with urllib.request.urlopen(base + "healthz", timeout=5) as resp:
        body = json.loads(resp.read())
    assert body["ok"] is True and body["type"] == "stats"
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(base + "nope", timeout=5)
    assert err.value.code == 404


@pytest.mark.browser
@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="needs Debian chromium")
def test_alert_appears_bilingual_and_resolves(server: ServerThread) -> None:
    from playwright.sync_api import expect, sync_playwright

    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 900})
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(server.settings.cockpit_url)
            expect(page).to_have_title("城市运行指挥中心 citycc")
            expect(page.locator("#conn")).to_have_attribute("data-state", "open", timeout=10_000)
            expect(page.locator("#alerts")).to_contain_text("暂无告警")

            server.publish(GAS_ALERT)
            row = page.locator('.row[data-fingerprint="f00-gas-fr-17"]')
            expect(row).to_contain_text("燃气浓度超限", timeout=10_000)
            expect(row).to_contain_text("芙蓉区")
            expect(row).to_contain_text("GAS-FR-00017")
            expect(row).to_contain_text("27.5 %LEL")
            expect(row).to_contain_text("/ 20 %LEL")
            expect(row).to_contain_text("2026-11-25 14:33:48")  # 06:33:48Z in Asia/Shanghai
            expect(row).to_contain_text("告警中")
            expect(row).to_contain_text("紧急")
            expect(row).to_contain_text("报警值 20 · 恢复值 10")  # the detector's explanation
            expect(page.locator("#k-critical")).to_have_text("1")

            for other in OTHER_ALERTS:
                server.publish(other)
            expect(page.locator(".row")).to_have_count(4, timeout=10_000)
            expect(page.locator("#sys")).to_contain_text("异常消息1", timeout=10_000)
            shot = Path(tempfile.gettempdir()) / "citycc-cockpit-zh.png"
            page.screenshot(path=str(shot))

            page.locator("#lang-toggle").click()
            expect(row).to_contain_text("Gas concentration above alarm level")
            expect(row).to_contain_text("Furong")
            expect(row).to_contain_text("Firing")
            expect(row).to_contain_text("deviation 7.5")
            expect(page).to_have_title("City Operations Command Center · citycc")

            server.publish({**GAS_ALERT, "status": "resolved"})
            expect(row).to_have_attribute("data-status", "resolved", timeout=10_000)
            expect(row).to_contain_text("Resolved")
            expect(page.locator("#k-critical")).to_have_text("0")
            expect(page.locator("#k-resolved")).to_have_text("1")
            page.screenshot(path=str(Path(tempfile.gettempdir()) / "citycc-cockpit-en.png"))

            page.locator("#lang-toggle").click()
            expect(row).to_contain_text("已恢复")
            expect(row).to_contain_text("燃气浓度超限")
        finally:
            browser.close()
    assert errors == []
