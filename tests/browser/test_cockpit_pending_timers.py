"""The incident list's pending timers (issue 15): how long an incident has waited -- since
its package was recommended (awaiting a decision) or, with none yet, since it opened --
counting up in place, amber past half the target and red past it."""

from __future__ import annotations

import time
from typing import Any

import pytest
from cockpit_harness import ServerThread, incident_event, open_cockpit

pytestmark = pytest.mark.browser
WAIT_MS = 10_000


def opened(iid: str, at_ms: int) -> dict[str, Any]:
    return incident_event(1, "opened", {
        "category": "fire", "category_zh": "火灾", "category_en": "Fire", "severity": "major",
        "opened_ms": at_ms, "district": "furong", "members": [], "calls": {}}, at_ms,
        incident_id=iid)


def test_timers_count_since_opened_or_recommended_and_turn_amber_then_red(
        server: ServerThread, chromium: Any) -> None:
    from playwright.sync_api import expect
    errors: list[str] = []
    page = open_cockpit(chromium, server, errors)
    now = int(time.time() * 1000)
    server.call("publish_incident_event", opened("INC-fresh", now - 10_000))
    server.call("publish_incident_event", opened("INC-waiting", now - 120_000))
    server.call("publish_incident_event", opened("INC-late", now - 600_000))
    server.call("publish_dispatch_record", {
        "record_id": "r1", "kind": "package_recommended", "at": "", "at_ms": now - 200_000,
        "incident_id": "INC-late", "unit_id": "", "actor": "dispatch",
        "payload": {"package_id": "PKG-1", "method": "road_graph", "items": [],
                    "unfilled": [], "skipped": [], "coverage": {}, "moveups": [],
                    "card": {"zh": "建筑火灾", "en": "Structure fire"}}})
    expect(page.locator("#incidents .inc")).to_have_count(3, timeout=WAIT_MS)
    page.screenshot(path="/tmp/console_timers.png")
    fresh = page.locator('.inc[data-incident="INC-fresh"] .pending')
    waiting = page.locator('.inc[data-incident="INC-waiting"] .pending')
    late = page.locator('.inc[data-incident="INC-late"] .pending')
    expect(fresh).to_have_attribute("data-level", "ok", timeout=WAIT_MS)
    expect(fresh).to_contain_text("开启 00:1")
    expect(waiting).to_have_attribute("data-level", "warn")    # 2 min of a 3 min target
    expect(late).to_have_attribute("data-level", "late")       # a package 3 min 20 s undecided
    expect(late).to_contain_text("方案待确认 03:2")
    before = fresh.inner_text()
    expect(fresh).not_to_have_text(before, timeout=3_000)      # it counts up in place
    assert errors == []


def test_a_package_is_timed_against_its_run_cards_decision_target(
        server: ServerThread, chromium: Any) -> None:
    """card.decide_s (dispatch/changsha_runcards.yaml: 60 s for a 119 card) sets the target;
    a package whose card names none keeps the console's 180 s."""
    from playwright.sync_api import expect
    errors: list[str] = []
    page = open_cockpit(chromium, server, errors)
    now = int(time.time() * 1000)
    for iid, card in (("INC-fire", {"zh": "建筑火灾", "en": "Structure fire", "decide_s": 60}),
                      ("INC-other", {"zh": "其他事件", "en": "Other incident"})):
        server.call("publish_incident_event", opened(iid, now - 100_000))
        server.call("publish_dispatch_record", {
            "record_id": f"r-{iid}", "kind": "package_recommended", "at": "",
            "at_ms": now - 40_000, "incident_id": iid, "unit_id": "", "actor": "dispatch",
            "payload": {"package_id": f"PKG-{iid}", "method": "road_graph", "items": [],
                        "unfilled": [], "skipped": [], "coverage": {}, "moveups": [],
                        "card": card}})
    fire = page.locator('.inc[data-incident="INC-fire"] .pending')
    other = page.locator('.inc[data-incident="INC-other"] .pending')
    expect(fire).to_have_attribute("data-level", "warn", timeout=WAIT_MS)   # 40 s of 60
    expect(fire).to_have_attribute("title", "目标 1 分钟内")
    expect(other).to_have_attribute("data-level", "ok")                      # 40 s of 180
    expect(other).to_have_attribute("title", "目标 3 分钟内")
    assert errors == []
