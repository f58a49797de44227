"""Signing in to the cockpit page in headless Chromium, under its Content-Security-Policy:
nothing before a sign-in, refusals said in both languages, each role offered only its own
actions and shown only its part of the city, a kiosk screen signed in by its URL, a session
that ends back at the form."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from cockpit_harness import GAS_ALERT, CommandRecorder, ServerThread, sign_in

from citycc.settings import Settings
from cockpit_api.auth.testing import PASSWORD
from cockpit_api.auth.tokens import issue_token, load_secret
from cockpit_api.auth.users import read_users
from deploy.procs import free_port

pytestmark = pytest.mark.browser
WAIT_MS = 10_000
EMS_ALERT = {**GAS_ALERT, "alert_id": "e1", "fingerprint": "f-ems-1", "stream": "ems",
             "detector": "sla", "kind": "ems_dispatch_delay", "entity_id": "EMS-CALL-7",
             "title_zh": "120 派车超时", "title_en": "EMS dispatch delayed"}


def watched_page(chromium: Any, url: str, problems: list[str]) -> Any:
    """A page whose errors and CSP violations (console errors) go to ``problems``."""
    page = chromium.new_page(viewport={"width": 1600, "height": 900})
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.goto(url)
    return page


def test_nothing_before_sign_in_and_refusals_in_both_languages(server: ServerThread,
                                                                chromium: Any) -> None:
    from playwright.sync_api import expect
    problems: list[str] = []
    server.publish(GAS_ALERT)
    page = watched_page(chromium, server.settings.cockpit_url, problems)
    expect(page.locator("#login")).to_be_visible()
    expect(page.locator("#conn")).to_have_attribute("data-state", "signedOut")
    page.locator("#login-user").fill("张伟")
    page.locator("#login-password").fill("not the password")
    page.locator("#login-submit").click()
    expect(page.locator("#login-error")).to_have_text("用户名或密码错误", timeout=WAIT_MS)
    expect(page.locator(".row")).to_have_count(0)            # nothing of the city was sent
    page.locator("#lang-toggle").click()
    expect(page.locator("#login-error")).to_have_text("Unknown user or wrong password")
    expect(page.locator("#login h3")).to_have_text(
        "Sign in to the City Operations Command Center")
    assert page.evaluate("document.querySelectorAll('script:not([src]), style').length") == 0
    # the page runs under its CSP: signing in works, and nothing was refused on the way
    sign_in(page, "张伟")
    expect(page.locator('.row[data-fingerprint="f00-gas-fr-17"]')).to_be_visible()
    expect(page.locator("#who")).to_contain_text("Supervisor · whole city")
    # the failed attempt counts (per user), the CSP held: no console errors but the refusal
    assert [p for p in problems if "Content Security Policy" in p] == []


def test_each_role_is_offered_its_own_actions_and_its_part_of_the_city(
        server: ServerThread, chromium: Any) -> None:
    from playwright.sync_api import expect
    problems: list[str] = []
    server.publish(GAS_ALERT)
    server.publish(EMS_ALERT)
    screen = watched_page(chromium, server.settings.cockpit_url, problems)
    sign_in(screen, "大屏")
    expect(screen.locator(".row")).to_have_count(2, timeout=WAIT_MS)
    expect(screen.locator("#who")).to_contain_text("大屏大屏 · 全市")
    expect(screen.locator("button[data-act]")).to_have_count(0)    # the big screen only shows

    ems = watched_page(chromium, server.settings.cockpit_url, problems)
    sign_in(ems, "急救调度")
    row = ems.locator('.row[data-fingerprint="f-ems-1"]')
    expect(row).to_be_visible(timeout=WAIT_MS)
    expect(ems.locator(".row")).to_have_count(1)                    # not the gas alert
    expect(ems.locator("#who")).to_contain_text("调度员 · 120 急救 · 全市")
    expect(row.locator("button[data-act]")).to_have_text(["确认", "认领", "备注"])  # no 静默
    row.locator('button[data-act="ack"]').click()
    _, cmd = server.commands.next()  # type: ignore[union-attr]
    assert (cmd["action"], cmd["fingerprint"], cmd["actor"]) == ("ack", "f-ems-1", "急救调度")
    server.publish({**GAS_ALERT, "value": 31.0})                   # another agency's: not shown
    server.publish({**EMS_ALERT, "value": 9})
    expect(row).to_contain_text("9", timeout=WAIT_MS)
    expect(ems.locator(".row")).to_have_count(1)
    assert problems == []


def test_a_kiosk_screen_signs_in_by_its_url_and_keeps_it_off_the_address_bar(
        server: ServerThread, chromium: Any) -> None:
    from playwright.sync_api import expect
    user = read_users(server.settings.users_path)["大屏"]
    token = issue_token(user.principal, load_secret("", server.settings.run_dir), time.time(),
                        3600).token
    problems: list[str] = []
    page = watched_page(chromium, f"{server.settings.cockpit_url}#token={token}", problems)
    expect(page.locator("#conn")).to_have_attribute("data-state", "open", timeout=WAIT_MS)
    expect(page.locator("#login")).to_be_hidden()
    expect(page.locator("#who-name")).to_have_text("大屏")
    assert "token" not in page.url
    page.locator("#sign-out").click()
    expect(page.locator("#login")).to_be_visible()
    page.reload()                                       # signed out stays signed out
    expect(page.locator("#conn")).to_have_attribute("data-state", "signedOut")
    assert problems == []


def test_without_users_the_page_says_nobody_can_sign_in(tmp_path: Path, chromium: Any) -> None:
    from playwright.sync_api import expect
    srv = ServerThread(Settings(cockpit_port=free_port(), run_dir=tmp_path),
                       commands=CommandRecorder(), audit=CommandRecorder())
    srv.settings.users_path.unlink()
    srv.start()
    try:
        page = watched_page(chromium, srv.settings.cockpit_url, [])
        page.locator("#login-user").fill("admin")
        page.locator("#login-password").fill("admin-admin")
        page.locator("#login-submit").click()
        expect(page.locator("#login-error")).to_contain_text("本系统尚未配置任何用户",
                                                             timeout=WAIT_MS)
    finally:
        srv.stop()


def test_a_session_that_expires_ends_at_the_form(tmp_path: Path, chromium: Any) -> None:
    from playwright.sync_api import expect
    srv = ServerThread(Settings(cockpit_port=free_port(), run_dir=tmp_path, token_ttl_s=3),
                       commands=CommandRecorder(), audit=CommandRecorder())
    srv.start()
    try:
        srv.publish(GAS_ALERT)
        page = watched_page(chromium, srv.settings.cockpit_url, [])
        sign_in(page, "张伟", PASSWORD)
        expect(page.locator(".row")).to_have_count(1)
        expect(page.locator("#login-error")).to_have_text("登录已过期，请重新登录",
                                                          timeout=WAIT_MS)
        expect(page.locator(".row")).to_have_count(0)
    finally:
        srv.stop()
