"""The cockpit page in headless Chromium against an in-process server: alerts published
straight into the hub (no Kafka), and the full path through the real broker (incident and
lifecycle events in, an operator's Ack out on the ``commands`` topic)."""

from __future__ import annotations

import json
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer
from cockpit_harness import (GAS_ALERT, INCIDENT_EVENTS, OPENED_MS, ServerThread, alert_event,
                             incident_event, produce, sign_in)

from citycc.settings import Settings

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


def test_healthz_and_404(server: ServerThread) -> None:
    base = server.settings.cockpit_url
    with urllib.request.urlopen(base + "healthz", timeout=5) as resp:
        body = json.loads(resp.read())
    assert body["ok"] is True and body["type"] == "stats"
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(base + "nope", timeout=5)
    assert err.value.code == 404


@pytest.mark.browser
def test_alert_appears_bilingual_and_resolves(server: ServerThread, chromium: Any) -> None:
    from playwright.sync_api import expect

    errors: list[str] = []
    page = chromium.new_page(viewport={"width": 1600, "height": 900})
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(server.settings.cockpit_url)
    expect(page).to_have_title("城市运行指挥中心 citycc")
    sign_in(page)
    expect(page.locator("#alerts")).to_contain_text("暂无告警")

    server.publish(GAS_ALERT)
    row = page.locator('.row[data-fingerprint="f00-gas-fr-17"]')
    expect(row).to_contain_text("燃气浓度超限", timeout=10_000)
    expect(row).to_contain_text("芙蓉区")
    expect(row).to_contain_text("GAS-FR-00017")
    expect(row).to_contain_text("27.5 %LEL")
    expect(row).to_contain_text("≥ 20 %LEL")   # the alarm side of the threshold (issue 15)
    expect(row).to_contain_text("2026-11-25 14:33:48")  # 06:33:48Z in Asia/Shanghai
    expect(row).to_contain_text("告警中")
    expect(row).to_contain_text("紧急")
    expect(row).to_contain_text("报警值 20 %LEL · 恢复值 10 %LEL")  # the detector's explanation
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
    assert errors == []


@pytest.mark.browser
def test_an_alert_nobody_reasserts_says_so_in_both_languages(server: ServerThread,
                                                              chromium: Any) -> None:
    """Issue 12, item 3: the engine's own resolve says why, from the vocabulary (no code on
    the screen); a re-assertion of a firing alert is not shown as a new alert."""
    from playwright.sync_api import expect

    errors: list[str] = []
    page = chromium.new_page(viewport={"width": 1600, "height": 900})
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(server.settings.cockpit_url)
    sign_in(page)
    server.call("publish_alert_event", alert_event(1, "fire", "firing", "detector:limit"))
    row = page.locator('.row[data-fingerprint="f00-gas-fr-17"]')
    expect(row).to_have_attribute("data-state", "firing", timeout=10_000)
    server.publish({**GAS_ALERT, "reasserted": True})
    expect(row).to_contain_text("燃气浓度超限", timeout=10_000)
    expect(row).not_to_have_class("row sev-critical fresh")
    server.call("publish_alert_event", alert_event(2, "resolve", "resolved", "system",
                                                   "not_reasserted"))
    expect(row).to_have_attribute("data-state", "resolved", timeout=10_000)
    expect(row).to_contain_text("已恢复 · 检测器未再确认")
    expect(row).not_to_contain_text("not_reasserted")
    page.locator("#lang-toggle").click()
    expect(row).to_contain_text("Resolved · not re-asserted")
    assert errors == []


# --- through the real broker: incidents, lifecycle, and an operator's Ack ---------------------
@pytest.fixture
def kafka_server(prepared: Settings, own_topics: Any) -> Iterator[ServerThread]:
    """The cockpit with its feed and commands on the session broker, topics of its own."""
    srv = ServerThread(own_topics(prepared, "br"), feed=True)
    srv.start()
    yield srv
    srv.stop()


async def wait_for_command(settings: Settings, action: str, deadline_s: float = 30
                           ) -> tuple[bytes, dict[str, Any]]:
    """Poll the commands topic until a command with ``action`` is there (or fail)."""
    consumer = AIOKafkaConsumer(settings.topic("commands"), bootstrap_servers=settings.bootstrap,
                                group_id=None, auto_offset_reset="earliest")
    await consumer.start()
    try:
        end = time.monotonic() + deadline_s
        while time.monotonic() < end:
            for messages in (await consumer.getmany(timeout_ms=500)).values():
                for m in messages:
                    value = orjson.loads(m.value)
                    if value["action"] == action:
                        return m.key, value
    finally:
        await consumer.stop()
    raise AssertionError(f"no {action!r} command on {settings.topic('commands')} "
                         f"within {deadline_s}s")


@pytest.mark.browser
@pytest.mark.integration
def test_incident_lifecycle_and_ack_through_kafka(kafka_server: ServerThread,
                                                  chromium: Any) -> None:
    from playwright.sync_api import expect

    srv, settings = kafka_server, kafka_server.settings
    errors: list[str] = []
    page = chromium.new_page(viewport={"width": 1600, "height": 900})
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(settings.cockpit_url)
    sign_in(page)
    expect(page.locator("#incidents")).to_contain_text("暂无处置中事件")
    page.reload()  # the operator stays signed in (the session's token, in sessionStorage)
    expect(page.locator("#who-name")).to_have_text("张伟", timeout=10_000)
    expect(page.locator("#login")).to_be_hidden()
    expect(page.locator("#conn")).to_have_attribute("data-state", "open", timeout=10_000)

    srv.run(produce(settings, [
        ("alerts", GAS_ALERT["fingerprint"], GAS_ALERT),
        *[("incident_events", e["incident_id"], e) for e in INCIDENT_EVENTS],
        ("alert_events", "f00-gas-fr-17", alert_event(1, "fire", "firing",
                                                      "detector:limit")),
        ("notifications", "gas-company", {
            "key": "n-1", "receiver": "长沙燃气集团", "fingerprint": "f00-gas-fr-17",
            "status": "firing", "severity": "critical", "occurrence": 1, "level": 0,
            "summary": "芙蓉区 GAS-FR-00017 燃气浓度超限", "at_ms": OPENED_MS,
            "labels": {}, "details": {}}),
        ("notifications", "duty", {   # an escalation page: named by its alert's title
            "key": "n-2", "receiver": "duty_dispatcher", "fingerprint": "f00-gas-fr-17",
            "status": "escalation", "severity": "critical", "occurrence": 1, "level": 1,
            "summary": "escalation level 1: gas_concentration_high GAS-FR-00017 (furong)",
            "at_ms": OPENED_MS + 1000, "labels": {"entity_id": "GAS-FR-00017"},
            "details": {}}),
        ("notifications", "group", {   # a group's flush: counted in the cockpit's language
            "key": "n-3", "receiver": "district_duty", "fingerprint": "g-furong",
            "status": "firing", "severity": "", "occurrence": 0, "level": 0,
            "summary": "3 firing, 1 resolved", "at_ms": OPENED_MS + 2000,
            "labels": {"district": "furong"},
            "details": {"route": "district", "reason": "update", "firing": ["a", "b", "c"],
                        "resolved": ["d"]}})]))
    card = page.locator('.inc[data-incident="INC-gas-furong"]')
    expect(card).to_contain_text("燃气泄漏", timeout=15_000)
    for text in ("紧急", "芙蓉区", "告警 2", "数据流 2", "开始 2026-11-25 14:33:48"):
        expect(card).to_contain_text(text)
    expect(card).to_contain_text("119 消防、城市生命线")
    expect(page.locator("#k-incidents")).to_have_text("1")
    expect(page.locator("#notes")).to_contain_text("长沙燃气集团")
    expect(page.locator("#notes")).to_contain_text("[告警] 芙蓉区 GAS-FR-00017")
    expect(page.locator("#notes")).to_contain_text("[升级] 第 1 级 · 芙蓉区 燃气浓度超限")
    expect(page.locator("#notes")).to_contain_text("[告警] 芙蓉区 · 3 条告警、1 条恢复")
    card.click()
    timeline = card.locator(".timeline")
    expect(timeline).to_contain_text("事件开启")
    expect(timeline).to_contain_text("告警并入")
    expect(timeline).to_contain_text("119 警情聚集")
    expect(timeline).to_contain_text("关联呼叫")
    expect(timeline).to_contain_text("FIRE-CALL-0042")

    row = page.locator('.row[data-fingerprint="f00-gas-fr-17"]')
    expect(row).to_have_attribute("data-state", "firing", timeout=15_000)
    expect(row).to_contain_text("燃气浓度超限")
    expect(row.locator(".state")).to_have_text("告警中")

    row.locator('button[data-act="ack"]').click()
    expect(page.locator("#toasts")).to_contain_text("已提交", timeout=15_000)
    key, ack = srv.run(wait_for_command(settings, "ack"))
    assert key == b"f00-gas-fr-17"
    assert (ack["actor"], ack["fingerprint"], ack["occurrence"]) == \
        ("张伟", "f00-gas-fr-17", 1)
    assert ack["at"].endswith("Z") and ack["command_id"]

    # the worker's answer: the event and the result
    srv.run(produce(settings, [
        ("alert_events", "f00-gas-fr-17", alert_event(2, "ack", "acknowledged", "张伟")),
        ("command_results", ack["command_id"], {
            "command_id": ack["command_id"], "ok": True, "code": "", "field": "",
            "reason": "", "events": ["ae-2"], "at": ack["at"]})]))
    expect(row.locator(".state")).to_have_text("已确认 · 张伟", timeout=15_000)
    expect(page.locator("#toasts")).to_contain_text("确认 · 燃气浓度超限：已执行")
    expect(row.locator('button[data-act="unack"]')).to_be_visible()

    row.locator('button[data-act="claim"]').click()
    _, claim = srv.run(wait_for_command(settings, "claim"))
    srv.run(produce(settings, [("command_results", claim["command_id"], {
        "command_id": claim["command_id"], "ok": False, "code": "already_claimed",
        "field": "action", "reason": "claimed by '李娜'; unclaim it first",
        "events": [], "at": claim["at"]})]))
    expect(page.locator("#toasts")).to_contain_text("认领 · 燃气浓度超限：被拒绝",
                                                    timeout=15_000)
    # said by its code in the page's language; the code and the engine's English not shown
    expect(page.locator("#toasts")).to_contain_text("该告警已被他人认领，请先释放")
    expect(page.locator("#toasts")).not_to_contain_text("already_claimed")

    row.locator('button[data-act="comment"]').click()
    page.locator("#dlg-text").fill("已通知燃气公司抢修")
    page.locator("#dlg-send").click()
    _, comment = srv.run(wait_for_command(settings, "comment"))
    assert comment["comment"] == "已通知燃气公司抢修"
    srv.run(produce(settings, [("alert_events", "f00-gas-fr-17", alert_event(
        3, "comment", "acknowledged", "张伟", "已通知燃气公司抢修"))]))
    expect(row).to_contain_text("张伟：已通知燃气公司抢修", timeout=15_000)
    card.locator('button[data-act="add_note"]').click()
    page.locator("#dlg-text").fill("消防 2 车已到场")
    page.locator("#dlg-send").click()
    key, note = srv.run(wait_for_command(settings, "add_note"))
    assert (key, note["incident_id"], note["text"], note["actor"]) == \
        (b"INC-gas-furong", "INC-gas-furong", "消防 2 车已到场", "张伟")
    srv.run(produce(settings, [("incident_events", "INC-gas-furong", incident_event(
        4, "note_added", {"text": "消防 2 车已到场"}, OPENED_MS + 120_000, "张伟"))]))
    expect(timeline).to_contain_text("备注张伟消防 2 车已到场", timeout=15_000)
    # a dispatcher moved the 119 call to another incident: said on the one it left
    srv.run(produce(settings, [("incident_events", "INC-gas-furong", incident_event(
        5, "call_unlinked", {"call_id": "FIRE-CALL-0042", "stream": "fire",
                             "moved_to": "INC-fire-yuhua"}, OPENED_MS + 180_000, "李娜"))]))
    expect(timeline).to_contain_text("呼叫改关联", timeout=15_000)
    expect(timeline).to_contain_text("FIRE-CALL-0042 → INC-fire-yuhua")
    page.screenshot(path="/tmp/cockpit_incidents.png")

    page.locator("#lang-toggle").click()
    expect(card).to_contain_text("Gas leak")
    expect(card).to_contain_text("2 alerts")
    expect(row.locator(".state")).to_have_text("Acked by 张伟")
    expect(timeline).to_contain_text("Call linked")
    expect(timeline).to_contain_text("Call moved out")
    expect(page.locator("#notes")).to_contain_text(
        "[escalation] level 1 · Furong Gas concentration above alarm level")
    expect(page.locator("#notes")).to_contain_text("[firing] Furong · 3 firing, 1 resolved")
    page.screenshot(path="/tmp/cockpit_incidents_en.png")
    assert errors == []
