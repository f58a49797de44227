"""The cockpit's silence, merge, split, link-call and resolve controls in headless Chromium:
each click sends exactly the command the worker expects (recorded where the server would put
it on the ``commands`` topic), what can never be valid is refused in the page, zh and en."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from cockpit_harness import (GAS_ALERT, INCIDENT_EVENTS, OPENED_MS, ServerThread, alert_event,
                             incident_event, sign_in)

from alerting.labels import labels_of, parse_matchers
from alerting.silences import Silence, Silencer
from schemas.validate import parse_event_time

pytestmark = pytest.mark.browser
WAIT_MS = 10_000
ISO_MS_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
GAS_PIN = ['detector="limit"', 'kind="gas_concentration_high"', 'entity_id="GAS-FR-00017"']
# another detector's alert on the same sensor: a silence of GAS_ALERT must not mute it
GAS_RISE = {**GAS_ALERT, "alert_id": "r1", "fingerprint": "f00-gas-rise-17", "severity": "major",
            "detector": "deviation", "kind": "gas_concentration_rise",
            "title_zh": "燃气浓度快速上升", "title_en": "Gas concentration rising fast"}
WATER_MEMBER = {"fingerprint": "f01-wtr", "alert_id": "w1", "kind": "water_pressure_low",
                "stream": "lifeline", "severity": "major", "status": "firing",
                "entity_id": "WTR-YL-00231", "district": "yuelu", "title_zh": "供水管网压力过低",
                "title_en": "Water main pressure too low", "first_ms": OPENED_MS,
                "event_ms": OPENED_MS}
WATER_OPENED = incident_event(1, "opened", {
    "category": "water", "category_zh": "供水管网异常", "category_en": "Water main failure",
    "severity": "major", "opened_ms": OPENED_MS - 60_000, "district": "yuelu",
    "members": [WATER_MEMBER], "calls": {}}, OPENED_MS - 60_000, incident_id="INC-water-yuelu")


@pytest.fixture
def page(server: ServerThread, chromium: Any) -> Iterator[Any]:
    """The cockpit, live, with 张伟 (a supervisor) signed in; no page errors by the end."""
    errors: list[str] = []
    pg = chromium.new_page(viewport={"width": 1600, "height": 900})
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.goto(server.settings.cockpit_url)
    sign_in(pg, "张伟")
    yield pg
    assert errors == []


def sent(server: ServerThread) -> tuple[str, dict[str, Any]]:
    """The next command the page sent (in order, so a refused click that sent one fails)."""
    assert server.commands is not None
    return server.commands.next()  # type: ignore[attr-defined]


def args_of(cmd: dict[str, Any]) -> dict[str, Any]:
    """A command without its generated parts, which are checked here."""
    uuid.UUID(cmd["command_id"])
    assert ISO_MS_UTC.match(cmd["at"]), cmd["at"]
    return {k: v for k, v in cmd.items() if k not in ("command_id", "at")}


def open_incidents(server: ServerThread, page: Any, *events: dict[str, Any]) -> Any:
    from playwright.sync_api import expect
    for ev in events:
        server.call("publish_incident_event", ev)
    card = page.locator('.inc[data-incident="INC-gas-furong"]')
    expect(card).to_contain_text("告警 2", timeout=WAIT_MS)
    card.locator(".cat").click()
    expect(card).to_have_attribute("aria-expanded", "true")
    return card


def test_a_pin_of_an_odd_entity_id_parses_back_to_its_labels(server: ServerThread,
                                                            page: Any) -> None:
    """The page renders matchers as the engine does: quotes, backslashes, commas and braces in
    a value are escaped or quoted, so the silence pins this alert and nothing else."""
    from playwright.sync_api import expect
    odd = {**GAS_ALERT, "alert_id": "o1", "fingerprint": "f00-odd",
           "entity_id": 'GAS-"FR"\\17,district=kaifu}'}
    server.publish(odd)
    row = page.locator('.row[data-fingerprint="f00-odd"]')
    row.locator('button[data-act="silence"]').click()
    page.locator("#dlg-text").fill("检修")
    page.locator("#dlg-send").click()
    _, cmd = sent(server)
    pinned = {m.name: m.value for m in parse_matchers(cmd["matchers"])}
    assert len(cmd["matchers"]) == len(pinned) == 3
    assert pinned == {k: labels_of(odd).get(k, "") for k in ("detector", "kind", "entity_id")}
    expect(page.locator("#comment-dlg")).to_be_hidden()
    # a refusal the vocabulary knows is said in the page's language, its code not shown
    toast = page.locator(f'.toast[data-command-id="{cmd["command_id"]}"]')
    server.call("publish_command_result", {
        "command_id": cmd["command_id"], "ok": False, "code": "matches_everything",
        "field": "matchers", "reason": "{...} matches an alert without any labels", "events": []})
    expect(toast).to_contain_text("该静默几乎会屏蔽全城告警", timeout=WAIT_MS)
    expect(toast).not_to_contain_text("matches_everything")


def test_silence_pins_the_alert_and_refuses_no_reason(server: ServerThread, page: Any) -> None:
    from playwright.sync_api import expect
    server.publish(GAS_ALERT)
    server.publish(GAS_RISE)
    row = page.locator('.row[data-fingerprint="f00-gas-fr-17"]')
    button = row.locator('button[data-act="silence"]')
    expect(button).to_have_text("静默", timeout=WAIT_MS)
    button.click()
    dlg = page.locator("#comment-dlg")
    expect(dlg).to_be_visible()
    expect(page.locator("#dlg-title")).to_have_text("静默：燃气浓度超限")
    # what it mutes in words (issue 15: no code on the page); the matchers as written on hover
    expect(dlg.locator(".pins")).to_have_text("检测器：限值、告警：燃气浓度超限、对象：GAS-FR-00017")
    expect(dlg.locator(".pins")).to_have_attribute("title", ", ".join(GAS_PIN))
    expect(page.locator("#dlg-duration option")).to_have_text(
        ["30 分钟", "1 小时", "4 小时", "直至告警恢复"])
    expect(page.locator("#dlg-duration")).to_have_value("1h")
    expect(page.locator("#dlg-text")).to_have_attribute("placeholder", "静默原因（必填），如：管网抢修中")

    for blank in ("", "   \n "):  # refused in the page: a silence needs a reason
        page.locator("#dlg-text").fill(blank)
        page.locator("#dlg-send").click()
        expect(page.locator("#dlg-error")).to_have_text("请填写静默原因")
        expect(dlg).to_be_visible()
    page.locator("#dlg-duration").select_option("30m")
    page.locator("#dlg-text").fill("燃气公司抢修中")
    before = time.time_ns() // 1_000_000
    page.locator("#dlg-send").click()
    key, cmd = sent(server)
    after = time.time_ns() // 1_000_000
    expect(dlg).to_be_hidden()
    ends_at = cmd["ends_at"]
    assert args_of(cmd) == {"action": "silence", "actor": "张伟", "matchers": GAS_PIN,
                            "reason": "燃气公司抢修中", "ends_at": ends_at,
                            "until_resolved": False}
    assert key == cmd["command_id"]  # a silence is about no one alert, incident or silence
    assert ISO_MS_UTC.match(ends_at), ends_at
    assert before + 30 * 60_000 <= parse_event_time(ends_at) <= after + 30 * 60_000

    # the engine's own silencer mutes this alert with these matchers, and not its neighbour
    silencer = Silencer()
    silencer.add(Silence("s-1", parse_matchers(cmd["matchers"]), before, None, "张伟",
                         cmd["reason"]), before)
    assert silencer.mutes(labels_of(GAS_ALERT), after) == ("s-1",)
    assert silencer.mutes(labels_of(GAS_RISE), after) == ()

    # feedback: queued, then the worker's result
    toast = page.locator(f'.toast[data-command-id="{cmd["command_id"]}"]')
    expect(toast).to_have_text("静默 · 燃气浓度超限：已提交，等待执行")
    server.call("publish_command_result", {"command_id": cmd["command_id"], "ok": True,
                                           "code": "", "field": "", "reason": "", "events": []})
    expect(toast).to_have_text("静默 · 燃气浓度超限：已执行")

    # an alert known by its lifecycle state only: pinned by the labels the engine holds
    labels = {"kind": "water_pressure_low", "detector": "limit", "entity_id": "WTR-YL-00231",
              "severity": "major", "stream": "lifeline", "district": "yuelu"}
    server.call("publish_alert_event", alert_event(
        1, "fire", "firing", "detector:limit", fingerprint="f01-wtr", severity="major",
        kind="water_pressure_low", entity_id="WTR-YL-00231", district="yuelu", labels=labels))
    water = page.locator('.row[data-fingerprint="f01-wtr"]')
    water.locator('button[data-act="silence"]').click()
    expect(dlg.locator(".pins")).to_have_text(
        "检测器：限值、告警：WTR-YL-00231 告警、对象：WTR-YL-00231")
    expect(dlg.locator(".pins")).to_have_attribute(
        "title", 'detector="limit", kind="water_pressure_low", entity_id="WTR-YL-00231"')
    page.locator("#dlg-duration").select_option(label="直至告警恢复")
    page.locator("#dlg-text").fill("供水抢修，恢复前不再推送")
    page.locator("#dlg-send").click()
    _, cmd = sent(server)
    assert args_of(cmd) == {"action": "silence", "actor": "张伟", "reason": "供水抢修，恢复前不再推送",
                            "matchers": ['detector="limit"', 'kind="water_pressure_low"',
                                         'entity_id="WTR-YL-00231"'],
                            "ends_at": None, "until_resolved": True}

    server.publish({**GAS_ALERT, "status": "resolved"})  # nothing left to silence
    expect(row).to_have_attribute("data-status", "resolved", timeout=WAIT_MS)
    expect(button).to_be_disabled()
    assert len(server.commands.sent) == 2  # type: ignore[union-attr]


def test_incident_merge_split_link_resolve(server: ServerThread, page: Any) -> None:
    from playwright.sync_api import expect
    card = open_incidents(server, page, *INCIDENT_EVENTS)
    acts = card.locator(".inc-acts button")
    expect(acts).to_have_text(["事件备注", "关联呼叫", "合并到…", "拆分", "结案"])
    merge = card.locator('button[data-act="merge_incidents"]')
    expect(merge).to_be_disabled()  # no other open incident to merge into
    server.call("publish_incident_event", WATER_OPENED)
    expect(page.locator("#k-incidents")).to_have_text("2", timeout=WAIT_MS)
    expect(merge).to_be_enabled()
    dlg, error, send = page.locator("#comment-dlg"), page.locator("#dlg-error"), \
        page.locator("#dlg-send")

    # merge into the other incident on the page
    merge.click()
    expect(page.locator("#dlg-title")).to_have_text("将「燃气泄漏」合并到…")
    expect(page.locator("#dlg-text")).to_be_hidden()
    expect(page.locator("#dlg-target option")).to_have_text(
        ["请选择…", "供水管网异常 · 岳麓区 · 告警 1 · INC-water-yuelu"])
    send.click()
    expect(error).to_have_text("请选择要并入的目标事件")
    page.locator("#dlg-target").select_option("INC-water-yuelu")
    send.click()
    key, cmd = sent(server)
    assert args_of(cmd) == {"action": "merge_incidents", "actor": "张伟",
                            "target": "INC-water-yuelu", "source": "INC-gas-furong"}
    assert key == "INC-water-yuelu"
    expect(page.locator(f'.toast[data-command-id="{cmd["command_id"]}"]')).to_have_text(
        "合并事件 · 燃气泄漏 → 供水管网异常：已提交，等待执行")

    # split: tick the alerts to move out; not none, not all of them
    card.locator('button[data-act="split_incident"]').click()
    expect(page.locator("#dlg-title")).to_have_text("拆分：燃气泄漏（勾选要移出的告警）")
    picks = dlg.locator(".pick")
    expect(picks).to_have_count(2)
    expect(picks.nth(0)).to_contain_text("燃气浓度超限GAS-FR-00017 · 告警中")
    expect(picks.nth(1)).to_contain_text("119 警情聚集FR-CLUSTER-1 · 告警中")
    send.click()
    expect(error).to_have_text("请勾选要移出的告警")
    picks.nth(0).locator("input").check()
    picks.nth(1).locator("input").check()
    send.click()
    expect(error).to_have_text("不能移出全部告警；请结案或合并该事件")
    expect(dlg).to_be_visible()
    picks.nth(0).locator("input").uncheck()
    send.click()
    key, cmd = sent(server)
    assert args_of(cmd) == {"action": "split_incident", "actor": "张伟",
                            "incident_id": "INC-gas-furong", "fingerprints": ["f00-fire-calls"]}
    assert key == "INC-gas-furong"

    # link a 120 call: an id and the line are required
    card.locator('button[data-act="link_call"]').click()
    expect(page.locator("#dlg-title")).to_have_text("关联呼叫：燃气泄漏")
    expect(dlg.locator(".choice")).to_have_text(["120 急救", "119 消防"])
    send.click()
    expect(error).to_have_text("请填写呼叫编号")
    page.locator("#dlg-call").fill("  EMS-CALL-0815 ")
    send.click()
    expect(error).to_have_text("请选择 120 或 119")
    dlg.get_by_label("120 急救").check()
    send.click()
    key, cmd = sent(server)
    assert args_of(cmd) == {"action": "link_call", "actor": "张伟", "incident_id": "INC-gas-furong",
                            "call_id": "EMS-CALL-0815", "stream": "ems"}

    # resolve with a comment; the worker closes it and the card goes
    card.locator('button[data-act="resolve_incident"]').click()
    expect(page.locator("#dlg-title")).to_have_text("结案（可填写说明）：燃气泄漏")
    expect(page.locator("#dlg-text")).to_have_attribute("placeholder", "结案说明（选填）")
    page.locator("#dlg-text").fill("险情已排除")
    send.click()
    key, cmd = sent(server)
    assert args_of(cmd) == {"action": "resolve_incident", "actor": "张伟",
                            "incident_id": "INC-gas-furong", "comment": "险情已排除"}
    server.call("publish_incident_event", incident_event(
        4, "resolved", {"reason": "险情已排除"}, OPENED_MS + 600_000, "张伟"))
    server.call("publish_command_result", {"command_id": cmd["command_id"], "ok": True})
    expect(card).to_have_count(0, timeout=WAIT_MS)
    expect(page.locator(f'.toast[data-command-id="{cmd["command_id"]}"]')).to_have_text(
        "结案 · 燃气泄漏：已执行")

    # resolve without a comment: the comment is optional, and then not sent
    water = page.locator('.inc[data-incident="INC-water-yuelu"]')
    water.locator(".cat").click()
    expect(water.locator('button[data-act="split_incident"]')).to_be_disabled()  # one alert
    expect(water.locator('button[data-act="merge_incidents"]')).to_be_disabled()  # alone now
    water.locator('button[data-act="resolve_incident"]').click()
    send.click()
    _, cmd = sent(server)
    assert args_of(cmd) == {"action": "resolve_incident", "actor": "张伟",
                            "incident_id": "INC-water-yuelu"}
    assert len(server.commands.sent) == 5  # type: ignore[union-attr]


def test_english_labels_and_refusals(server: ServerThread, page: Any) -> None:
    from playwright.sync_api import expect
    server.publish(GAS_ALERT)
    card = open_incidents(server, page, *INCIDENT_EVENTS)
    page.locator("#lang-toggle").click()
    expect(card.locator(".inc-acts button")).to_have_text(
        ["Incident note", "Link call", "Merge into…", "Split", "Resolve"])
    row = page.locator('.row[data-fingerprint="f00-gas-fr-17"]')
    expect(row.locator("button")).to_have_text(["Ack", "Claim", "Comment", "Silence"])
    dlg, error, send = page.locator("#comment-dlg"), page.locator("#dlg-error"), \
        page.locator("#dlg-send")

    row.locator('button[data-act="silence"]').click()
    expect(page.locator("#dlg-title")).to_have_text("Silence: Gas concentration above alarm level")
    expect(page.locator("#dlg-duration option")).to_have_text(
        ["30 min", "1 h", "4 h", "Until the alert resolves"])
    expect(dlg.locator(".field > :first-child")).to_have_text(["Mutes", "Silence for"])
    expect(page.locator("#dlg-text")).to_have_attribute(
        "placeholder", "Reason (required), e.g. main under repair")
    send.click()
    expect(error).to_have_text("A silence needs a reason")
    page.keyboard.press("Escape")
    expect(dlg).to_be_hidden()

    card.locator('button[data-act="split_incident"]').click()
    expect(page.locator("#dlg-title")).to_have_text("Split: Gas leak (tick the alerts to move out)")
    expect(dlg.locator(".pick").nth(1)).to_contain_text("Cluster of 119 callsFR-CLUSTER-1 · Firing")
    for pick in dlg.locator(".pick input").all():
        pick.check()
    send.click()
    expect(error).to_have_text("Cannot move out every alert; resolve or merge the incident instead")
    page.locator("#dlg-cancel").click()

    card.locator('button[data-act="link_call"]').click()
    expect(dlg.locator(".field > :first-child")).to_have_text(["Call id", "Call line"])
    expect(dlg.locator(".choice")).to_have_text(["120 EMS", "119 Fire"])
    expect(page.locator("#dlg-call")).to_have_attribute("placeholder", "e.g. EMS-CALL-0001")
    page.locator("#dlg-call").fill("FIRE-CALL-0099")
    send.click()
    expect(error).to_have_text("Choose 120 or 119")
    dlg.get_by_label("119 Fire").check()
    send.click()
    _, cmd = sent(server)  # the first command: every refusal above sent nothing
    assert args_of(cmd) == {"action": "link_call", "actor": "张伟", "incident_id": "INC-gas-furong",
                            "call_id": "FIRE-CALL-0099", "stream": "fire"}
    expect(page.locator(f'.toast[data-command-id="{cmd["command_id"]}"]')).to_have_text(
        "Link call · Gas leak · FIRE-CALL-0099：Queued, waiting for the worker")

    expect(card.locator('button[data-act="merge_incidents"]')).to_be_disabled()  # nothing to merge into
    card.locator('button[data-act="resolve_incident"]').click()
    expect(page.locator("#dlg-title")).to_have_text("Resolve incident (comment optional): Gas leak")
    expect(page.locator("#dlg-text")).to_have_attribute("placeholder", "Comment (optional)")
    page.locator("#dlg-cancel").click()

    # signed out: the sign-in form covers the page, the last user's picture and buttons are
    # gone, no dialog, nothing sent
    page.locator("#sign-out").click()
    expect(page.locator("#login")).to_be_visible()
    expect(page.locator("#conn")).to_have_attribute("data-state", "signedOut")
    expect(page.locator(".row")).to_have_count(0)
    expect(page.locator("button[data-act]")).to_have_count(0)
    expect(dlg).to_be_hidden()
    assert len(server.commands.sent) == 1  # type: ignore[union-attr]
