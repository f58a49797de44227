"""The dispatch panels in headless Chromium: the unit board, the recommended package on an
incident card (every slot explained in words, no code on the screen), Confirm sending the
command a dispatcher may give, the confirmation and unit statuses showing on the card and
its timeline; a viewer sees the package but no button."""

from __future__ import annotations

import re
from typing import Any

import pytest
from cockpit_harness import OPENED_MS, ServerThread, incident_event, open_cockpit

from cockpit_api.dispatch_view import DispatchView

pytestmark = pytest.mark.browser
WAIT_MS = 10_000
IID = "INC-fire-furong"
UNITS = [
    {"unit_id": "ENG-F-FR-01", "kind": "engine", "agency": "fire", "district": "furong",
     "capabilities": ["engine"], "station_id": "F-FR", "status": "available",
     "status_ms": None, "incident_id": "", "stale": False},
    {"unit_id": "ENG-F-FR-02", "kind": "engine", "agency": "fire", "district": "furong",
     "capabilities": ["engine"], "station_id": "F-FR", "status": "available",
     "status_ms": None, "incident_id": "", "stale": True},
    {"unit_id": "AMB-H-XY1-01", "kind": "ambulance", "agency": "ems", "district": "kaifu",
     "capabilities": ["als", "bls"], "station_id": "H-XY1", "status": "available",
     "status_ms": None, "incident_id": "", "stale": False},
]
PLACES_STATIONS = {"F-FR": {"zh": "芙蓉消防救援站", "en": "Furong Fire Station"},
                   "F-YH": {"zh": "雨花消防救援站", "en": "Yuhua Fire Station"},
                   "H-XY1": {"zh": "中南大学湘雅医院", "en": "Xiangya Hospital"}}
FIRE_MEMBER = {"fingerprint": "f02-fire", "alert_id": "x1", "kind": "fire_alarm",
               "stream": "fire", "severity": "major", "status": "firing",
               "entity_id": "FA-FR-1", "district": "furong", "title_zh": "火灾报警",
               "title_en": "Fire alarm", "first_ms": OPENED_MS, "event_ms": OPENED_MS}
OPENED = incident_event(1, "opened", {
    "category": "fire", "category_zh": "火灾", "category_en": "Fire", "severity": "major",
    "opened_ms": OPENED_MS, "district": "furong", "members": [FIRE_MEMBER], "calls": {}},
    OPENED_MS, incident_id=IID)


def record(rid: str, kind: str, dt: int, unit: str = "", actor: str = "",
           **payload: Any) -> dict[str, Any]:
    return {"record_id": rid, "kind": kind, "at": "", "at_ms": OPENED_MS + dt,
            "incident_id": IID, "unit_id": unit, "actor": actor, "payload": payload}


def slot(unit: str, cap: str, agency: str, station: str, eta_s: int, route_m: int
         ) -> dict[str, Any]:
    return {"capability": cap, "unit_id": unit, "eta_s": eta_s, "route_m": route_m,
            "status": "available", "station_id": station, "agency": agency,
            "why": {"zh": "路网行车时间最短", "en": "fastest by road"}}


MOVEUP = {"moveup_id": "MU-1", "unit_id": "ENG-F-FR-02", "from_station": "F-FR",
          "to_station": "F-YH", "to_lat": 28.15, "to_lon": 113.03, "target": "fire_first_engine",
          "gain": 0.04, "districts": {}}
PACKAGE = record("r-1", "package_recommended", 5_000, "", "dispatch", package_id="PKG-1",
                 method="road_graph", card={"id": "structure_fire", "zh": "建筑火灾",
                                            "en": "Structure fire",
                                            "why": "type=fire, subtype=structure_fire",
                                            "needs": [{"capability": "engine", "count": 2},
                                                      {"capability": "ladder", "count": 1},
                                                      {"capability": "als", "count": 1}]},
                 items=[slot("ENG-F-FR-01", "engine", "fire", "F-FR", 240, 2100),
                        slot("AMB-H-XY1-01", "als", "ems", "H-XY1", 420, 5300)],
                 unfilled=[{"capability": "ladder", "missing": 1, "reason": "no_unit",
                            "zh": "无具备该能力的可用单位",
                            "en": "no available unit with this capability"}],
                 skipped=[{"unit_id": "ENG-F-FR-02", "capability": "engine",
                           "status": "available", "eta_s": 200.0, "reason": "station_cap",
                           "zh": "该站已达派出上限", "en": "its station already sends its share"}],
                 coverage={"ems_8min": {"target_s": 480, "capability": "als",
                                        "districts": {"furong": {"before": 0.97,
                                                                 "after": 0.92},
                                                      "yuelu": {"before": 0.9,
                                                                "after": 0.9}},
                                        "city": {"before": 0.95, "after": 0.94}}},
                 moveups=[MOVEUP])
# codes the board speaks that must never reach the screen (in English, "available" and
# "engine" are words of the vocabulary too: only the snake_case codes and station ids)
EN_CODES = re.compile(r"road_graph|structure_fire|no_unit|station_cap|ems_8min|package_recommended|"
                      r"(?<![\w-])(F-FR|H-XY1)(?![\w-])")
CODES = re.compile(r"road_graph|structure_fire|no_unit|station_cap|ems_8min|\bavailable\b|\bengine\b|"
                   r"\bals\b|package_recommended|(?<![\w-])(F-FR|H-XY1)(?![\w-])")


def with_dispatch(server: ServerThread) -> None:
    def setup() -> None:
        server.hub.dispatch = DispatchView(UNITS)
        server.hub.places = {**server.hub.places, "stations": PLACES_STATIONS}
    server.loop.call_soon_threadsafe(setup)
    server.call("publish_incident_event", OPENED)
    server.call("publish_dispatch_record", PACKAGE)


def expand(page: Any) -> Any:
    from playwright.sync_api import expect
    card = page.locator(f'.inc[data-incident="{IID}"]')
    expect(card.locator(".pkg-summary")).to_contain_text("待确认", timeout=WAIT_MS)
    card.locator(".cat").click()
    expect(card).to_have_attribute("aria-expanded", "true")
    return card


def test_a_dispatcher_sees_the_package_explained_and_confirms_it(
        server: ServerThread, chromium: Any) -> None:
    from playwright.sync_api import expect
    with_dispatch(server)
    errors: list[str] = []
    page = open_cockpit(chromium, server, errors, "消防调度")
    board = page.locator("#units")
    expect(board.locator('.ub-agency[data-agency="fire"]')).to_contain_text("可用 2",
                                                                           timeout=WAIT_MS)
    expect(board).to_contain_text("定位超时 1")
    card = expand(page)
    pkg = card.locator(".pkg")
    engine = pkg.locator('.slot[data-unit="ENG-F-FR-01"]')
    for text in ("水罐消防车", "芙蓉消防救援站", "4.0 分钟", "2.1 公里", "可用", "路网行车时间最短"):
        expect(engine).to_contain_text(text)
    expect(pkg.locator('.slot[data-unit="AMB-H-XY1-01"]')).to_contain_text("高级生命支持")
    expect(pkg.locator(".slot.unfilled")).to_contain_text("云梯车")
    expect(pkg.locator(".slot.unfilled")).to_contain_text("无具备该能力的可用单位")
    expect(pkg).to_contain_text("建筑火灾")
    expect(pkg).to_contain_text("按实时路况行车时间排序")
    expect(pkg).to_contain_text("高级生命支持 8.0 分钟可达：全市 95% → 94%")
    expect(pkg).to_contain_text("芙蓉区 97% → 92%")
    expect(pkg.locator(".pkg-coverage")).not_to_contain_text("岳麓区")   # not less covered
    skipped = pkg.locator(".pkg-skipped")
    expect(skipped.locator("ul")).to_be_hidden()   # collapsed until asked
    skipped.locator("summary").click()
    expect(skipped).to_contain_text("该站已达派出上限")
    expect(card).to_have_attribute("aria-expanded", "true")   # the panel's click: no toggle
    assert not CODES.search(pkg.inner_text()), pkg.inner_text()
    # the system's own actors on the timeline are named, not shown as their codes
    timeline = card.locator(".timeline")
    expect(timeline).to_contain_text("自动关联")
    expect(timeline).to_contain_text("调度辅助（自动）")
    assert not re.search(r"\b(correlator|dispatch)\b", timeline.inner_text()), \
        timeline.inner_text()

    pkg.locator('button[data-act="dispatch_confirm"]').click()
    key, cmd = server.commands.next()  # type: ignore[union-attr]
    assert key == IID
    assert {k: cmd[k] for k in ("action", "actor", "incident_id", "package_id")} == {
        "action": "dispatch_confirm", "actor": "消防调度", "incident_id": IID,
        "package_id": "PKG-1"}

    # the worker's board answers with records: the card and the unit board follow
    server.call("publish_dispatch_record", record("r-2", "package_confirmed", 9_000,
                                                  actor="消防调度", package_id="PKG-1"))
    server.call("publish_dispatch_record", record("r-3", "unit_status", 9_001, "ENG-F-FR-01",
                                                  "消防调度", status="dispatched"))
    expect(pkg.locator(".pkg-head")).to_contain_text("已确认调派", timeout=WAIT_MS)
    expect(pkg.locator('button[data-act="dispatch_confirm"]')).to_have_count(0)
    expect(engine).to_contain_text("已派出")
    timeline = card.locator(".timeline li.dispatch")
    expect(timeline.first).to_contain_text("力量状态")
    expect(card.locator(".timeline")).to_contain_text("确认调派")
    expect(card.locator(".timeline")).to_contain_text("推荐调派方案")
    expect(board.locator('li[data-unit="ENG-F-FR-01"]')).to_contain_text("已派出")
    expect(board).to_contain_text("已派出 1")
    # the move-up the board suggests once the package is committed: confirmed in one click
    move = pkg.locator('[data-moveup="MU-1"]')
    expect(move).to_contain_text("ENG-F-FR-02 → 雨花消防救援站")
    expect(move.locator("button")).to_have_count(0)
    server.call("publish_dispatch_record", record("r-4", "moveup_suggested", 9_002,
                                                  "ENG-F-FR-02", **MOVEUP))
    move.locator('button[data-act="moveup_confirm"]').click()
    _, cmd = server.commands.next()  # type: ignore[union-attr]
    assert (cmd["action"], cmd["moveup_id"]) == ("moveup_confirm", "MU-1")
    page.locator("#lang-toggle").click()
    expect(pkg.locator(".pkg-head")).to_contain_text("Dispatched")
    expect(engine).to_contain_text("Furong Fire Station")
    expect(pkg.locator(".pkg-skipped summary")).to_contain_text("1 unit not chosen")
    assert not EN_CODES.search(pkg.inner_text()), pkg.inner_text()
    assert errors == []


def test_a_viewer_sees_the_package_and_no_button(server: ServerThread, chromium: Any) -> None:
    from playwright.sync_api import expect
    with_dispatch(server)
    errors: list[str] = []
    page = open_cockpit(chromium, server, errors, "大屏")
    pkg = expand(page).locator(".pkg")
    expect(pkg.locator('.slot[data-unit="ENG-F-FR-01"]')).to_contain_text("4.0 分钟")
    expect(pkg.locator("button")).to_have_count(0)
    assert errors == []


def test_an_edit_needs_a_change_and_a_reason(server: ServerThread, chromium: Any) -> None:
    from playwright.sync_api import expect
    with_dispatch(server)
    errors: list[str] = []
    page = open_cockpit(chromium, server, errors, "张伟")
    pkg = expand(page).locator(".pkg")
    pkg.locator('button[data-act="dispatch_edit"]').click()
    expect(page.locator("#comment-dlg")).to_be_visible()
    page.locator("#dlg-text").fill("二号车在附近")
    page.locator("#dlg-send").click()
    expect(page.locator("#dlg-error")).to_contain_text("请至少增派或移出一个力量")
    page.locator('.edit-remove input[value="AMB-H-XY1-01"]').check()
    page.locator("#edit-add").select_option(["ENG-F-FR-02"])
    page.locator("#dlg-send").click()
    expect(page.locator("#comment-dlg")).to_be_hidden()
    _, cmd = server.commands.next()  # type: ignore[union-attr]
    assert {k: cmd[k] for k in ("action", "incident_id", "package_id", "add", "remove",
                                "reason")} == {
        "action": "dispatch_edit", "incident_id": IID, "package_id": "PKG-1",
        "add": ["ENG-F-FR-02"], "remove": ["AMB-H-XY1-01"], "reason": "二号车在附近"}
    assert errors == []


def test_a_units_status_is_changed_by_hand_from_the_unit_board(
        server: ServerThread, chromium: Any) -> None:
    from playwright.sync_api import expect
    with_dispatch(server)
    server.call("publish_dispatch_record", record("r-9", "unit_status", 9_000, "ENG-F-FR-01",
                                                  "消防调度", status="en_route",
                                                  **{"from": "dispatched"}))
    errors: list[str] = []
    page = open_cockpit(chromium, server, errors, "消防调度")
    row = page.locator('#units li[data-unit="ENG-F-FR-01"]')
    expect(row).to_contain_text("途中", timeout=WAIT_MS)
    expect(row.locator(".timer")).to_contain_text("已 ")
    row.locator('button[data-act="unit_status"]').click()
    expect(page.locator("#comment-dlg")).to_be_visible()
    page.locator("#dlg-send").click()
    expect(page.locator("#dlg-error")).to_contain_text("请选择新状态")
    page.locator("#unit-status").select_option("on_scene")
    page.locator("#dlg-text").fill("已到达现场")
    page.locator("#dlg-send").click()
    _, cmd = server.commands.next()  # type: ignore[union-attr]
    assert {k: cmd[k] for k in ("action", "unit_id", "status", "reason", "actor")} == {
        "action": "unit_status", "unit_id": "ENG-F-FR-01", "status": "on_scene",
        "reason": "已到达现场", "actor": "消防调度"}
    assert errors == []
