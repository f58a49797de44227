"""The replay cockpit in headless Chromium: the live page, marked as a replay (回放 / Replay)
with its window and time in Asia/Shanghai; its slider seeks and the incident list shows the
picture at that moment; a command is refused in words; played as fast as possible it ends."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from cockpit_harness import sign_in
from replay_cockpit_timeline import END, MIN, T0, timeline

from citycc.settings import Settings
from cockpit_api.auth.testing import write_test_users
from cockpit_api.replay.channel import ReplayChannel
from cockpit_api.replay.server import ReplayHub, serve_replay
from deploy.procs import free_port

pytestmark = pytest.mark.browser
WAIT_MS = 10_000
TIMELINE = timeline()


def opened(n: int) -> str:
    """The id of the ``n``-th incident the timeline opens (one at a time, 20 min apart)."""
    ids = [orjson.loads(r.value)["incident_id"] for r in TIMELINE
           if r.topic == "incident_events" and orjson.loads(r.value)["kind"] == "opened"]
    return str(ids[n])


class ReplayThread:
    """The replay cockpit (:func:`serve_replay`) on its own loop in a daemon thread,
    paused at the start of the timeline's window."""

    def __init__(self, run_dir: Path) -> None:
        self.settings = Settings(cockpit_host="127.0.0.1", cockpit_port=free_port(),
                                 run_dir=run_dir)
        write_test_users(self.settings.users_path)
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._task: asyncio.Task[None] | None = None
        self._thread = threading.Thread(target=self._main, daemon=True)

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)

        async def start() -> None:
            hub = ReplayHub()
            channel = ReplayChannel.replay(hub, TIMELINE, T0, END, paused=True)
            ready = asyncio.Event()
            self._task = asyncio.create_task(serve_replay(self.settings, hub, channel,
                                                          ready=ready, basemap=b"",
                                                          stats_interval_s=0.5))
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
        assert self._ready.wait(10), "replay cockpit did not start"

    def stop(self) -> None:
        if self._task is not None:
            self.loop.call_soon_threadsafe(self._task.cancel)
        self._thread.join(10)


@pytest.fixture
def replay_server(tmp_path: Path) -> Iterator[ReplayThread]:
    srv = ReplayThread(tmp_path / "run")
    srv.start()
    yield srv
    srv.stop()


def seek(page: Any, at_ms: int) -> None:
    """Drag the slider to ``at_ms``: the input events a drag fires, then its release."""
    page.locator("#replay-slider").evaluate(
        "(e, v) => { e.value = String(v); e.dispatchEvent(new Event('input'));"
        " e.dispatchEvent(new Event('change')); }", at_ms)


def test_the_replay_cockpit_is_marked_and_seeks(replay_server: ReplayThread,
                                                chromium: Any) -> None:
    from playwright.sync_api import expect
    errors: list[str] = []
    page = chromium.new_page(viewport={"width": 1600, "height": 900})
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(replay_server.settings.cockpit_url)
    sign_in(page, "张伟")
    bar = page.locator("#replay")
    expect(bar).to_be_visible(timeout=WAIT_MS)
    expect(page.locator("#replay-mark")).to_have_text("回放")
    # the window and the time in Asia/Shanghai (10:00Z is 18:00 there)
    expect(page.locator("#replay-window")).to_contain_text("2026-11-25 18:00:00")
    expect(page.locator("#replay-window")).to_contain_text("2026-11-25 19:00:00")
    expect(page.locator("#replay-at")).to_contain_text("18:00:00")
    slider = page.locator("#replay-slider")
    assert (slider.get_attribute("min"), slider.get_attribute("max")) == (str(T0), str(END))
    expect(page.locator("#incidents")).to_contain_text("暂无处置中事件")

    seek(page, T0 + 3 * MIN)
    cards = page.locator("#incidents .inc")
    expect(cards).to_have_count(1, timeout=WAIT_MS)
    expect(cards.first).to_have_attribute("data-incident", opened(0))
    expect(page.locator("#replay-at")).to_contain_text("18:03:00")
    # an operator command in a replay: refused, said in words (no code on the screen)
    page.locator('#alerts button[data-act="ack"]').first.click()
    expect(page.locator("#toasts")).to_contain_text("这是历史回放", timeout=WAIT_MS)
    expect(page.locator("#toasts")).not_to_contain_text("replay_read_only")

    seek(page, T0 + 25 * MIN)
    expect(cards).to_have_count(1, timeout=WAIT_MS)
    expect(cards.first).to_have_attribute("data-incident", opened(1))
    seek(page, T0 + MIN)                       # back in time: nothing had happened yet
    expect(page.locator("#incidents")).to_contain_text("暂无处置中事件", timeout=WAIT_MS)

    page.locator("#lang-toggle").click()
    expect(page.locator("#replay-mark")).to_have_text("Replay")
    expect(page.locator("#replay-at")).to_contain_text("Replay time")
    page.locator('#replay-speeds button[data-speed="max"]').click()
    expect(page.locator('#replay-speeds button[data-speed="max"]')).to_have_attribute(
        "aria-pressed", "true", timeout=WAIT_MS)
    page.locator("#replay-toggle").click()     # play, as fast as possible, to the end
    expect(page.locator("#replay-at")).to_contain_text("(finished)", timeout=WAIT_MS)
    expect(page.locator("#replay-at")).to_contain_text("19:00:00")
    expect(page.locator("#incidents")).to_contain_text("No open incidents")
    expect(page.locator("#replay-toggle")).to_have_text("Play")
    assert errors == []


def test_the_big_screen_of_a_replay_is_marked(replay_server: ReplayThread,
                                              chromium: Any) -> None:
    from playwright.sync_api import expect
    errors: list[str] = []
    page = chromium.new_page(viewport={"width": 1920, "height": 1080})
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(replay_server.settings.cockpit_url + "screen")
    sign_in(page, "大屏")
    badge = page.locator("#replay-badge")
    expect(badge).to_be_visible(timeout=WAIT_MS)
    expect(badge).to_have_text("回放 · 2026-11-25 18:00:00")
    assert errors == []
