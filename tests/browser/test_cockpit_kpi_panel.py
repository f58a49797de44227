"""The KPI panel in headless Chromium: today's figures (computed by the dispatch.kpis
definitions) in words, zh-CN then English, no internal key on the screen; a dispatcher sees
its agency's scope; a failed refresh shows the figures as stale."""

from __future__ import annotations

import re
from typing import Any

import pytest
from cockpit_harness import OPENED_MS, ServerThread, open_cockpit

from dispatch import kpis

pytestmark = pytest.mark.browser
WAIT_MS = 10_000
T0 = OPENED_MS
DISTRICTS = {"furong": {"zh": "芙蓉区", "en": "Furong"}}


def figures() -> dict[str, Any]:
    """Two EMS calls (one departs in 2 min, one in 4) and a fire incident, as kpi_summary
    computes them."""
    calls = [kpis.Call("C1", "ems", "furong", T0), kpis.Call("C2", "ems", "furong", T0),
             kpis.Call("I1", "fire", "furong", T0)]
    st = [kpis.UnitStatus("AMB-1", "C1", "dispatched", T0 + 60_000, "ems"),
          kpis.UnitStatus("AMB-1", "C1", "en_route", T0 + 120_000, "ems"),
          kpis.UnitStatus("AMB-1", "C1", "on_scene", T0 + 420_000, "ems"),
          kpis.UnitStatus("AMB-2", "C2", "dispatched", T0 + 90_000, "ems"),
          kpis.UnitStatus("AMB-2", "C2", "en_route", T0 + 240_000, "ems"),
          kpis.UnitStatus("AMB-2", "C2", "on_scene", T0 + 600_000, "ems"),
          kpis.UnitStatus("ENG-1", "I1", "dispatched", T0 + 30_000, "fire"),
          kpis.UnitStatus("ENG-1", "I1", "en_route", T0 + 100_000, "fire"),
          kpis.UnitStatus("ENG-1", "I1", "on_scene", T0 + 300_000, "fire")]
    return kpis.labelled(kpis.compute(kpis.assemble(calls, st), 8.0), DISTRICTS)


# keys of the figures that must never reach the screen (in English, "response" and "travel"
# are words of the labels too: only the snake_case keys and the agency codes there)
EN_KEYS = re.compile(r"china_120|nfpa_1710|depart_rate|mean_response|first_on_scene|"
                     r"unit_responses|\b(ems|fire|None|null|undefined|NaN)\b")
KEYS = re.compile(EN_KEYS.pattern + r"|\b(turnout|travel|response|processing)\b")


def test_the_panel_shows_the_figures_in_words_in_both_languages(
        server: ServerThread, chromium: Any) -> None:
    from playwright.sync_api import expect
    f = figures()
    city = {(None, None): f, ("ems", None): f, ("fire", None): f}
    server.loop.call_soon_threadsafe(server.hub.publish_kpis, city, "2026-11-25T06:40:00.000Z")
    errors: list[str] = []
    page = open_cockpit(chromium, server, errors)
    panel = page.locator("#kpi-figures")
    expect(panel).to_contain_text("全市", timeout=WAIT_MS)
    for text in ("警情", "3", "3 分钟出车率", "50.0%（1/2）", "平均反应时间", "510 秒",
                 "反应时间（90% 分位）", "600 秒",
                 f"NFPA 1710 出车准备达标率 · {kpis.AGENCIES['fire']['zh']}", "100.0%（1/1）",
                 f"首车行驶达标率 · {kpis.AGENCIES['ems']['zh']}", "0.0%（0/2） · P90 360 秒"):
        expect(panel).to_contain_text(text)
    assert not KEYS.search(panel.inner_text()), panel.inner_text()
    page.locator("#lang-toggle").click()
    expect(panel).to_contain_text("Whole city")
    for text in ("Cases", "Departed within 3 min", "50.0% (1/2)", "Average response time",
                 "510 s", "Response (call to first on scene) (90th percentile)",
                 f"NFPA 1710 Turnout compliance · {kpis.AGENCIES['fire']['en']}",
                 f"First-arriving travel compliance · {kpis.AGENCIES['ems']['en']}"):
        expect(panel).to_contain_text(text)
    assert not EN_KEYS.search(panel.inner_text()), panel.inner_text()
    expect(page.locator("aside")).to_contain_text("Today's response KPIs")
    # a failed refresh: the last figures stay, marked stale
    server.loop.call_soon_threadsafe(server.hub.kpis_failed, "ConnectionRefusedError")
    expect(panel).to_contain_text("last figures shown")
    expect(panel).to_contain_text("50.0% (1/2)")
    assert errors == []


def test_a_dispatcher_sees_its_agency_scope(server: ServerThread, chromium: Any) -> None:
    from playwright.sync_api import expect
    f = figures()
    server.loop.call_soon_threadsafe(server.hub.publish_kpis,
                                     {(None, None): f, ("fire", None): f},
                                     "2026-11-25T06:40:00.000Z")
    errors: list[str] = []
    page = open_cockpit(chromium, server, errors, "消防调度")
    panel = page.locator("#kpi-figures")
    expect(panel.locator(".k-scope")).to_have_text(["119 消防"], timeout=WAIT_MS)
    expect(panel).not_to_contain_text("全市")
    assert errors == []
