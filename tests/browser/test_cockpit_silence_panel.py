"""The cockpit's silences in headless Chromium: the 当前静默 / Silences panel lists what is
muted, by whom, why and until when (zh and en), the alerts a silence mutes carry a 静默中 /
Silenced badge, 解除 / Expire sends exactly one ``expire_silence`` command, 延长 / Extend one
``extend_silence`` with the end chosen in its dialog, the engine's ``extended`` record moves the
end shown, and its ``ended`` record takes the silence off the page. Records are made by the engine's own
``alerting.silence_log.silence_event`` and published straight into the hub; the last test
goes through the real broker (a silence made before the cockpit started is shown)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
from cockpit_harness import GAS_ALERT, OPENED_MS, ServerThread, produce, sign_in

from alerting.labels import parse_matchers
from alerting.silence_log import silence_event
from alerting.silences import Silence
from citycc.settings import Settings
from schemas.validate import format_event_time, parse_event_time

pytestmark = pytest.mark.browser
WAIT_MS = 10_000
HOUR = 3_600_000
GAS_RISE = {**GAS_ALERT, "alert_id": "r1", "fingerprint": "f00-gas-rise-17", "severity": "major",
            "detector": "deviation", "kind": "gas_concentration_rise",
            "title_zh": "燃气浓度快速上升", "title_en": "Gas concentration rising fast"}
# what the page's 静默 button asks for GAS_ALERT: its detector, kind and entity
GAS_SILENCE = Silence("s-gas", parse_matchers(['detector="limit"', 'kind="gas_concentration_high"',
                                               'entity_id="GAS-FR-00017"']),
                      OPENED_MS, OPENED_MS + HOUR, "李娜", "燃气公司抢修中")
WATER_SILENCE = Silence("s-water", parse_matchers(["kind=water_pressure_low"]), OPENED_MS,
                        None, "王强", "供水抢修，恢复前不再推送", until_resolved=True)
DRILL_SILENCE = Silence("s-drill", parse_matchers(["district=yuelu", "severity=~minor|info"]),
                        OPENED_MS, None, "赵敏", "应急演练")


def record(s: Silence, action: str, at_ms: int, actor: str, end_reason: str = ""
           ) -> dict[str, Any]:
    """The engine's record, as it travels (JSON)."""
    return orjson.loads(orjson.dumps(silence_event(s, action, at_ms, actor, end_reason)))


def matchers(s: Silence) -> str:
    """The record's matchers as written: the tooltip of the panel's line."""
    return ", ".join(record(s, "created", OPENED_MS, s.author)["matchers"])


# The panel's line of what a silence mutes, in words (issue 15: no code on the page): a kind
# by the title of an alert of that kind on the screen, else "unknown"
MUTES = {"s-gas": "检测器：限值、告警：燃气浓度超限、对象：GAS-FR-00017", "s-water": "告警：未知",
         "s-drill": "区县：岳麓区、等级：匹配 一般/提示", "s-later": "告警：未知、区县：芙蓉区"}


def mutes(s: Silence) -> str:
    return MUTES[s.id]


def open_page(chromium: Any, server: ServerThread, errors: list[str]) -> Any:
    pg = chromium.new_page(viewport={"width": 1600, "height": 900})
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.goto(server.settings.cockpit_url)
    sign_in(pg, "张伟")
    return pg


@pytest.fixture
def page(server: ServerThread, chromium: Any) -> Iterator[Any]:
    """The cockpit, live, with 张伟 (a supervisor) signed in; no page errors by the end."""
    errors: list[str] = []
    pg = open_page(chromium, server, errors)
    yield pg
    assert errors == []


def test_silences_panel_badge_expire_and_end(server: ServerThread, page: Any,
                                             chromium: Any) -> None:
    from playwright.sync_api import expect
    server.publish(GAS_ALERT)
    server.publish(GAS_RISE)
    row = page.locator('.row[data-fingerprint="f00-gas-fr-17"]')
    rise = page.locator('.row[data-fingerprint="f00-gas-rise-17"]')
    panel = page.locator("#silences")
    expect(rise).to_be_visible(timeout=WAIT_MS)
    expect(panel).to_have_text("暂无静默")
    expect(row.locator(".muted")).to_have_count(0)

    for s in (GAS_SILENCE, WATER_SILENCE, DRILL_SILENCE):
        server.call("publish_silence_event", record(s, "created", OPENED_MS, s.author))
    gas = panel.locator('.sil[data-silence="s-gas"]')
    expect(page.locator("#sil-count")).to_have_text("3", timeout=WAIT_MS)
    expect(gas.locator(".meta")).to_have_text(mutes(GAS_SILENCE))
    expect(gas.locator(".meta")).to_have_attribute("title", matchers(GAS_SILENCE))
    expect(gas.locator(".who")).to_have_text("李娜：燃气公司抢修中")
    # 14:33:48 + 1 h in Changsha; it mutes one active alert on the screen
    expect(gas.locator(".until")).to_have_text("直至 2026-11-25 15:33:48 · 静默告警 1 条")
    water = panel.locator('.sil[data-silence="s-water"]')
    expect(water.locator(".meta")).to_have_text(mutes(WATER_SILENCE))
    expect(water.locator(".who")).to_have_text("王强：供水抢修，恢复前不再推送")
    expect(water.locator(".until")).to_have_text("直至告警恢复")
    expect(panel.locator('.sil[data-silence="s-drill"] .until')).to_have_text("直至解除")
    expect(gas.locator("button")).to_have_text(["延长", "解除"])

    # the alert it mutes is marked, with who and why on hover; its neighbour is not
    badge = row.locator(".muted")
    expect(badge).to_have_text("静默中")
    expect(badge).to_have_attribute("title", "静默中 · 李娜：燃气公司抢修中")
    expect(rise.locator(".muted")).to_have_count(0)

    # a screen that connects now gets the same picture from its snapshot
    errors: list[str] = []
    late = open_page(chromium, server, errors)
    expect(late.locator("#sil-count")).to_have_text("3")
    expect(late.locator('.row[data-fingerprint="f00-gas-fr-17"] .muted')).to_have_attribute(
        "title", "静默中 · 李娜：燃气公司抢修中")
    late.close()
    assert errors == []

    # English
    page.locator("#lang-toggle").click()
    expect(page.locator("#silences").locator("xpath=..").locator("h2")).to_contain_text(
        "Silences")
    expect(gas.locator(".who")).to_have_text("李娜: 燃气公司抢修中")
    expect(gas.locator(".until")).to_have_text("until 2026-11-25 15:33:48 · mutes 1 alert")
    expect(water.locator(".until")).to_have_text("until resolved")
    expect(panel.locator('.sil[data-silence="s-drill"] .until')).to_have_text("until expired")
    expect(gas.locator("button")).to_have_text(["Extend", "Expire"])
    expect(badge).to_have_text("Silenced")
    expect(badge).to_have_attribute("title", "Silenced · 李娜: 燃气公司抢修中")
    page.locator("#lang-toggle").click()

    # 解除: exactly one expire_silence for this silence, keyed by it; feedback as for any command
    gas.locator('button[data-act="expire_silence"]').click()
    key, cmd = server.commands.next()  # type: ignore[union-attr]
    assert {k: v for k, v in cmd.items() if k not in ("command_id", "at")} == \
        {"action": "expire_silence", "actor": "张伟", "silence_id": "s-gas"}
    assert key == "s-gas"
    toast = page.locator(f'.toast[data-command-id="{cmd["command_id"]}"]')
    expect(toast).to_have_text(f"解除静默 · {mutes(GAS_SILENCE)}：已提交，等待执行")
    server.call("publish_command_result", {"command_id": cmd["command_id"], "ok": True,
                                           "code": "", "field": "", "reason": "", "events": []})
    expect(toast).to_have_text(f"解除静默 · {mutes(GAS_SILENCE)}：已执行")

    # the engine's end of it: off the panel, the badge gone; the others stay
    server.call("publish_silence_event", record(GAS_SILENCE, "ended", OPENED_MS + 60_000,
                                                "system", "expired_by_command"))
    expect(gas).to_have_count(0, timeout=WAIT_MS)
    expect(badge).to_have_count(0)
    expect(page.locator("#sil-count")).to_have_text("2")
    expect(panel.locator(".sil")).to_have_count(2)
    server.call("publish_silence_event", record(GAS_SILENCE, "created", OPENED_MS, "李娜"))
    server.call("publish_silence_event", record(DRILL_SILENCE, "ended", OPENED_MS + HOUR,
                                                "system", "unused"))
    expect(panel.locator(".sil")).to_have_count(1, timeout=WAIT_MS)  # a late created: no return
    expect(panel.locator(".sil")).to_have_attribute("data-silence", "s-water")
    assert len(server.commands.sent) == 1  # type: ignore[union-attr]


def changsha(ms: int) -> str:
    """How the page writes a time: Changsha (UTC+8), to the second."""
    at = datetime.fromtimestamp(ms / 1000, timezone(timedelta(hours=8)))
    return f"{at:%Y-%m-%d %H:%M:%S}"


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


def extend(page: Any, server: ServerThread, silence_id: str, choice: str
           ) -> tuple[str, dict[str, Any]]:
    """Click 延长 on a silence, choose ``choice`` (30m, 1h, 4h, expired), send; the command."""
    from playwright.sync_api import expect
    page.locator(f'.sil[data-silence="{silence_id}"] button[data-act="extend_silence"]').click()
    expect(page.locator("#comment-dlg")).to_be_visible()
    page.locator("#dlg-extend").select_option(choice)
    page.locator("#dlg-send").click()
    expect(page.locator("#comment-dlg")).to_be_hidden()
    return server.commands.next()  # type: ignore[union-attr]


def test_extend_silence_from_its_end_or_now_and_show_the_extended_end(server: ServerThread,
                                                                       page: Any) -> None:
    from playwright.sync_api import expect
    now = wall_ms()
    end = (now // 1000 + 2 * 3600) * 1000  # two hours ahead, on the second
    later = Silence("s-later", parse_matchers(["kind=traffic_jam", "district=furong"]),
                    now - 60_000, end, "刘洋", "道路施工")
    # GAS_SILENCE ended on 2026-11-25 (its end has passed); DRILL_SILENCE has none
    for s in (later, GAS_SILENCE, DRILL_SILENCE):
        server.call("publish_silence_event", record(s, "created", now - 60_000, s.author))
    panel = page.locator("#silences")
    item = panel.locator('.sil[data-silence="s-later"]')
    expect(page.locator("#sil-count")).to_have_text("3", timeout=WAIT_MS)
    expect(item.locator(".until")).to_have_text(f"直至 {changsha(end)}")

    # the dialog: what it mutes, its end now, the choices and the end they give
    item.locator('button[data-act="extend_silence"]').click()
    dlg = page.locator("#comment-dlg")
    expect(dlg).to_be_visible()
    expect(page.locator("#dlg-title")).to_have_text(f"延长静默：{mutes(later)}")
    expect(page.locator("#dlg-extend option")).to_have_text(
        ["+30 分钟", "+1 小时", "+4 小时", "直至解除"])
    expect(page.locator("#dlg-extend")).to_have_value("1h")
    expect(page.locator("#dlg-form")).to_contain_text(f"当前直至 {changsha(end)}")
    expect(page.locator("#dlg-new-end")).to_have_text(f"直至 {changsha(end + HOUR)}")
    page.locator("#dlg-extend").select_option("4h")
    expect(page.locator("#dlg-new-end")).to_have_text(f"直至 {changsha(end + 4 * HOUR)}")
    page.locator("#dlg-extend").select_option("expired")
    expect(page.locator("#dlg-new-end")).to_have_text("直至解除")
    page.locator("#dlg-cancel").click()  # nothing sent (the next command taken is the +1 h)
    expect(dlg).to_be_hidden()

    # +1 h: one extend_silence, keyed by the silence, ending an hour after its current end
    key, cmd = extend(page, server, "s-later", "1h")
    assert {k: v for k, v in cmd.items() if k not in ("command_id", "at")} == \
        {"action": "extend_silence", "actor": "张伟", "silence_id": "s-later",
         "ends_at": format_event_time(end + HOUR)}
    assert key == "s-later"
    toast = page.locator(f'.toast[data-command-id="{cmd["command_id"]}"]')
    expect(toast).to_have_text(
        f"延长静默 · {mutes(later)} · 直至 {changsha(end + HOUR)}：已提交，等待执行")
    server.call("publish_command_result", {"command_id": cmd["command_id"], "ok": True,
                                           "code": "", "field": "", "reason": "", "events": []})
    expect(toast).to_have_text(
        f"延长静默 · {mutes(later)} · 直至 {changsha(end + HOUR)}：已执行")

    # 直至解除: ends_at null
    _, cmd = extend(page, server, "s-later", "expired")
    assert cmd["action"] == "extend_silence" and cmd["silence_id"] == "s-later"
    assert "ends_at" in cmd and cmd["ends_at"] is None

    # an end already past, and no end at all: from now
    for sid, choice, minutes in (("s-gas", "4h", 240), ("s-drill", "30m", 30)):
        before = wall_ms()
        _, cmd = extend(page, server, sid, choice)
        after = wall_ms()
        assert cmd["silence_id"] == sid
        assert before + minutes * 60_000 <= parse_event_time(cmd["ends_at"]) \
            <= after + minutes * 60_000

    # the engine's extended records: the panel shows the new end, then none
    server.call("publish_silence_event", record(replace(later, ends_ms=end + HOUR), "extended",
                                                now + 1000, "张伟"))
    expect(item.locator(".until")).to_have_text(f"直至 {changsha(end + HOUR)}", timeout=WAIT_MS)
    server.call("publish_silence_event", record(replace(later, ends_ms=None), "extended",
                                                now + 2000, "张伟"))
    expect(item.locator(".until")).to_have_text("直至解除", timeout=WAIT_MS)
    expect(page.locator("#sil-count")).to_have_text("3")

    # English
    page.locator("#lang-toggle").click()
    expect(item.locator("button")).to_have_text(["Extend", "Expire"])
    item.locator('button[data-act="extend_silence"]').click()
    expect(page.locator("#dlg-title")).to_have_text("Extend silence: Alert: Unknown, District: Furong")
    expect(page.locator("#dlg-extend option")).to_have_text(
        ["+30 min", "+1 h", "+4 h", "Until expired"])
    expect(page.locator("#dlg-form")).to_contain_text("Currentlyuntil expired")
    page.keyboard.press("Escape")
    expect(dlg).to_be_hidden()
    assert len(server.commands.sent) == 4  # type: ignore[union-attr]


# --- through the real broker: the feed reads silences back when the cockpit starts ----------
@pytest.fixture
def kafka_settings(prepared: Settings, own_topics: Any) -> Settings:
    """The session broker with topics of this test's own (a fresh prefix)."""
    return own_topics(prepared, "sl")


@pytest.fixture
def started_late(kafka_settings: Settings) -> Iterator[ServerThread]:
    """The cockpit with its feed, started after an alert and silence records were produced:
    the gas silence is current, the drill silence already over. Set up before ``chromium``
    (so torn down after it: no page is left on a stopped server)."""
    backlog = produce(kafka_settings, [
        ("alerts", GAS_ALERT["fingerprint"], GAS_ALERT),
        *[("silence_events", s.id, record(s, "created", OPENED_MS, s.author))
          for s in (GAS_SILENCE, DRILL_SILENCE)],
        ("silence_events", DRILL_SILENCE.id, record(DRILL_SILENCE, "ended", OPENED_MS + 1,
                                                    "system", "unused"))])
    with ThreadPoolExecutor(1) as pool:  # in case this thread's loop is Playwright's
        pool.submit(asyncio.run, backlog).result(60)
    srv = ServerThread(kafka_settings, feed=True)
    srv.start()
    yield srv
    srv.stop()


@pytest.mark.integration
def test_a_silence_made_before_the_cockpit_started_is_shown(started_late: ServerThread,
                                                             chromium: Any) -> None:
    from playwright.sync_api import expect
    srv, errors = started_late, []
    page = open_page(chromium, srv, errors)
    panel = page.locator("#silences")
    expect(panel.locator(".sil")).to_have_count(1, timeout=15_000)
    expect(panel.locator('.sil[data-silence="s-gas"] .who')).to_have_text("李娜：燃气公司抢修中")
    expect(page.locator('.row[data-fingerprint="f00-gas-fr-17"] .muted')).to_have_text(
        "静默中", timeout=15_000)
    srv.run(produce(srv.settings, [("silence_events", GAS_SILENCE.id, record(
        GAS_SILENCE, "ended", OPENED_MS + 2, "system", "expired"))]))
    expect(panel).to_have_text("暂无静默", timeout=15_000)
    expect(page.locator(".row .muted")).to_have_count(0)
    assert errors == []
