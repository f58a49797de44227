"""No raw key or internal code reaches the console, in either language (issue 15).

A rich picture is fed to the in-process cockpit -- alerts of several kinds (a limit, a
pressure under its floor, a count at its minimum, an accident rank, a fire incident, a late
call), a lifecycle change, an incident with its enrichment, calls, unit status records, a
dispatch package and its records, notifications of every form, a silence and a refused
command -- and the page's visible text is read with every incident opened, in zh and en:
no snake_case identifier, no ``key=value`` fragment, no code the issue names, on the zh page
no English word outside the ids and units allowed, and the readings with a side and the
precision they have."""

from __future__ import annotations

import re
from typing import Any

import pytest
from cockpit_harness import (GAS_ALERT, OPENED_MS, ServerThread, alert_event, incident_event,
                             open_cockpit)

import orjson

from alerting.enrich import cargo_info
from alerting.labels import parse_matchers
from alerting.silence_log import silence_event
from alerting.silences import Silence
from cockpit_api.dispatch_view import DispatchView

pytestmark = pytest.mark.browser
WAIT_MS = 10_000
IID = "INC-hazmat-furong"


def alert(fp: str, kind: str, value: float, threshold: float, unit: str, zh: str, en: str,
          **kw: Any) -> dict[str, Any]:
    return {**GAS_ALERT, "fingerprint": fp, "alert_id": fp, "kind": kind, "value": value,
            "threshold": threshold, "unit": unit, "title_zh": zh, "title_en": en,
            "entity_id": kw.pop("entity_id", fp.upper()), "explanation": kw.pop("explanation", {}),
            **kw}


ALERTS = [
    GAS_ALERT,
    alert("wp-yl-3", "water_pressure_low", 0.136, 0.14, "MPa", "供水管网压力过低",
          "Water pressure below its floor", severity="major", district="yuelu",
          district_zh="岳麓区", district_en="Yuelu", stream="lifeline",
          explanation={"rule": "physical limit", "alarm_level": 0.14, "recover_level": 0.16}),
    alert("ems-cl-1", "ems_calls", 1.0, 1.0, "count", "芙蓉区120呼叫聚集：1 起胸痛呼叫",
          "Cluster of 1 EMS calls in Furong", severity="minor", stream="ems",
          explanation={"radius_km": 1.0, "window_s": 600}),
    alert("acc-1", "traffic_accident", 3.0, 0.0, "severity", "交通事故", "Traffic accident",
          severity="major", stream="traffic", explanation={"rule": "accident report"}),
    alert("fi-42", "fire_incident", 2.0, 2.0, "level", "芙蓉区2级火警：FI-0042（建筑火灾）",
          "Level-2 fire incident FI-0042 in Furong", severity="major", stream="fire",
          entity_id="FI-0042", explanation={"min_level": 2}),
    alert("cp-7", "call_pending", 200.0, 180.0, "s", "120呼叫 3 分钟未派车",
          "120 call not dispatched after 3 min", severity="major", stream="ems",
          entity_id="EMS-CALL-7", explanation={"baseline": 180.0, "deviation": 20.0,
                                               "window": {"target_s": 180.0},
                                               "received_ms": OPENED_MS,
                                               "priority": "P1", "complaint": "chest_pain"}),
]
MEMBER = {"fingerprint": "hz-1", "alert_id": "hz-1", "kind": "hazmat_leak", "stream": "hazmat",
          "severity": "critical", "status": "firing", "entity_id": "HZ-0001",
          "district": "furong", "title_zh": "危化品车辆泄漏", "title_en": "Hazmat vehicle leak",
          "first_ms": OPENED_MS, "event_ms": OPENED_MS}
ENRICHMENT = {"version": 1, "city": {"zh": "长沙市", "en": "Changsha"},
              "district": {"code": "furong", "zh": "芙蓉区", "en": "Furong"},
              "assets": ["HZ-0001"], "calls": ["FIRE-CALL-0042"], "hazmat": [cargo_info("1005")],
              "radius_km": 1.0,
              "nearby": {"schools": [{"id": "sch-1", "zh": "长郡中学", "en": "Changjun School",
                                      "district": "furong", "distance_km": 0.4,
                                      "inside": False}],
                         "hospitals": [], "water_sources": [], "tunnels": []},
              "nearest": {"fire_stations": [{"id": "F-FR", "zh": "芙蓉消防救援站",
                                             "en": "Furong Fire Station", "district": "furong",
                                             "distance_km": 1.2, "engines": 3}],
                          "hospitals": []}}


def ievent(seq: int, kind: str, payload: dict[str, Any], dt: int, actor: str = "correlator"
           ) -> dict[str, Any]:
    return incident_event(seq, kind, payload, OPENED_MS + dt, actor, incident_id=IID)


INCIDENT = [
    ievent(1, "opened", {"category": "hazmat", "category_zh": "危化品泄漏",
                         "category_en": "Hazmat leak", "severity": "critical",
                         "opened_ms": OPENED_MS, "district": "furong", "lat": 28.19,
                         "lon": 112.99, "members": [MEMBER], "calls": {},
                         "enrichment": ENRICHMENT}, 0),
    ievent(2, "call_linked", {"call_id": "FIRE-CALL-0042", "stream": "fire", "via": "near",
                              "fingerprint": ""}, 30_000),
    ievent(3, "unit_status", {"unit": "AMB-H-XY1-01", "status": "en_route", "stream": "ems",
                              "call_id": "FIRE-CALL-0042", "event_id": "e9", "lat": 28.18,
                              "lon": 112.98}, 60_000),
    ievent(4, "enriched", {"enrichment": ENRICHMENT}, 90_000),
    ievent(5, "severity_changed", {"from": "major", "to": "critical"}, 95_000),
    ievent(6, "note_added", {"text": "现场已疏散"}, 100_000, actor="张伟"),
    ievent(7, "alert_attached", {"member": {**MEMBER, "fingerprint": "fi-42",
                                            "kind": "fire_incident", "entity_id": "FI-0042",
                                            "title_zh": "芙蓉区2级火警：FI-0042（建筑火灾）",
                                            "title_en": "Level-2 fire incident FI-0042"}},
           110_000),
]
UNITS = [{"unit_id": "AMB-H-XY1-01", "kind": "ambulance", "agency": "ems", "district": "furong",
          "capabilities": ["als", "bls"], "station_id": "H-XY1", "status": "available",
          "status_ms": None, "incident_id": "", "stale": False},
         {"unit_id": "HZ-F-FR-01", "kind": "hazmat", "agency": "fire", "district": "furong",
          "capabilities": ["hazmat"], "station_id": "F-FR", "status": "available",
          "status_ms": None, "incident_id": "", "stale": False}]


def record(rid: str, kind: str, dt: int, unit: str = "", actor: str = "dispatch",
           **payload: Any) -> dict[str, Any]:
    return {"record_id": rid, "kind": kind, "at": "", "at_ms": OPENED_MS + dt,
            "incident_id": IID, "unit_id": unit, "actor": actor, "payload": payload}


RECORDS = [
    record("r1", "package_recommended", 5_000, package_id="PKG-1", method="road_graph",
           card={"id": "hazmat.tanker", "zh": "危化品槽车泄漏", "en": "Tanker leak",
                 "needs": [{"capability": "hazmat", "count": 1}, {"capability": "als",
                                                                  "count": 1}]},
           items=[{"capability": "hazmat", "unit_id": "HZ-F-FR-01", "eta_s": 300,
                   "route_m": 2500, "status": "available", "station_id": "F-FR",
                   "agency": "fire", "why": {"zh": "路网行车时间最短", "en": "fastest by road"}},
                  {"capability": "als", "unit_id": "AMB-H-XY1-01", "eta_s": 420,
                   "route_m": 4100, "status": "available", "station_id": "H-XY1",
                   "agency": "ems", "why": "nearest_available"}],
           unfilled=[], skipped=[], coverage={}, moveups=[]),
    record("r2", "unit_assigned", 20_000, "AMB-H-XY1-01", status="dispatched"),
    record("r3", "unit_status", 40_000, "AMB-H-XY1-01", actor="ems", status="en_route",
           **{"from": "dispatched"}),
]
NOTES = [
    {"key": "n1", "receiver": "fire119", "fingerprint": "fi-42", "status": "escalation",
     "severity": "major", "level": 1, "at_ms": OPENED_MS + 120_000,
     "labels": {"kind": "fire_incident", "district": "furong", "entity_id": "FI-0042"},
     "summary": "escalation level 1: fire_incident FI-0042 (furong)", "details": {}},
    {"key": "n2", "receiver": "ems120", "fingerprint": "gone", "status": "firing",
     "severity": "major", "at_ms": OPENED_MS + 130_000,
     "labels": {"kind": "call_pending", "district": "furong", "entity_id": "EMS-CALL-9"},
     "summary": "call_pending EMS-CALL-9 firing", "details": {"action": "fire"}},
    {"key": "n3", "receiver": "district_duty:furong", "fingerprint": "g", "status": "firing",
     "severity": "critical", "at_ms": OPENED_MS + 140_000,
     "labels": {"district": "furong", "kind": "gas_concentration_high"},
     "summary": "1 firing, 0 resolved",
     "details": {"route": "r", "reason": "group_wait", "firing": ["f00-gas-fr-17"],
                 "resolved": []}},
]

SILENCE = Silence("s-gas", parse_matchers(['detector="limit"', 'kind="gas_concentration_high"',
                                          'entity_id="GAS-FR-00017"', 'district="furong"']),
                  OPENED_MS, OPENED_MS + 3_600_000, "李娜", "燃气公司抢修中")

SNAKE = re.compile(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b")
KEY_VALUE = re.compile(r"\b[A-Za-z_]\w*=\S")
CODES = re.compile(r"\b(?:k_|why_|dk_|st_|cap_|n_)\w+|\bcount\b|\bseverity\b|\bnull\b|"
                   r"\bundefined\b|\bNaN\b|\[object")
IDS = re.compile(r"\b[A-Za-z0-9]+(?:-[A-Za-z0-9]+)+\b")   # unit, sensor, call, incident ids
# ids and units, and the abbreviations the Chinese guidance itself uses (ERG, BLEVE, SCBA)
ZH_ALLOWED = {"citycc", "EN", "MPa", "kPa", "LEL", "ERG", "UN", "km", "Kafka", "P90", "BLEVE", "SCBA"}


def feed(server: ServerThread) -> None:
    def setup() -> None:
        server.hub.dispatch = DispatchView(UNITS)
        server.hub.places = {**server.hub.places, "stations": {
            "F-FR": {"zh": "芙蓉消防救援站", "en": "Furong Fire Station"},
            "H-XY1": {"zh": "中南大学湘雅医院", "en": "Xiangya Hospital"}}}
    server.loop.call_soon_threadsafe(setup)
    for a in ALERTS:
        server.publish(a)
    server.call("publish_alert_event", alert_event(1, "ack", "acknowledged", "李雷"))
    for ev in INCIDENT:
        server.call("publish_incident_event", ev)
    for r in RECORDS:
        server.call("publish_dispatch_record", r)
    for n in NOTES:
        server.call("publish_notification", n)
    server.call("publish_silence_event", orjson.loads(orjson.dumps(
        silence_event(SILENCE, "created", OPENED_MS, "李娜"))))


def problems(text: str, lang: str) -> list[str]:
    out = [f"snake_case {m!r}" for m in SNAKE.findall(text)]
    out += [f"key=value {m!r}" for m in KEY_VALUE.findall(text)]
    out += [f"code {m!r}" for m in CODES.findall(text)]
    if lang == "zh":
        words = re.findall(r"[A-Za-z]{2,}", IDS.sub(" ", text))
        out += [f"English {w!r}" for w in words if w not in ZH_ALLOWED]
    return out


def open_everything(page: Any) -> None:
    from playwright.sync_api import expect
    card = page.locator(f'.inc[data-incident="{IID}"]')
    expect(card).to_be_visible(timeout=WAIT_MS)
    card.locator(".cat").click()
    expect(card).to_have_attribute("aria-expanded", "true")
    for d in page.locator("details").all():
        d.evaluate("(e) => { e.open = true; }")


def test_no_raw_key_or_code_reaches_the_page_in_either_language(
        server: ServerThread, chromium: Any) -> None:
    from playwright.sync_api import expect
    errors: list[str] = []
    page = open_cockpit(chromium, server, errors)
    feed(server)
    expect(page.locator("#alerts .row")).to_have_count(len(ALERTS), timeout=WAIT_MS)
    expect(page.locator("#notes .n-item")).to_have_count(len(NOTES), timeout=WAIT_MS)
    expect(page.locator("#silences .sil")).to_have_count(1, timeout=WAIT_MS)
    expect(page.locator(f'.inc[data-incident="{IID}"] .pkg-summary')).to_be_visible(
        timeout=WAIT_MS)
    open_everything(page)
    # a refused command, said by its code in the page's language
    page.evaluate("sendCommand('ack', {fingerprint: 'wp-yl-3'}, 'x')")
    key, cmd = server.commands.next()
    server.call("publish_command_result", {"command_id": cmd["command_id"], "ok": False,
                                          "code": "already_claimed", "field": "action",
                                          "reason": "claimed by '李雷'; unclaim it first"})
    expect(page.locator(".toast .why")).to_have_text("该告警已被他人认领，请先释放",
                                                      timeout=WAIT_MS)
    # a code the vocabulary does not know yet: said as such, neither the code nor the English
    page.evaluate("sendCommand('claim', {fingerprint: 'wp-yl-3'}, 'y')")
    _, cmd = server.commands.next()
    server.call("publish_command_result", {"command_id": cmd["command_id"], "ok": False,
                                          "code": "brand_new_code", "field": "",
                                          "reason": "something the engine said in English"})
    toast = page.locator(f'.toast[data-command-id="{cmd["command_id"]}"] .why')
    expect(toast).to_have_text("被拒绝（原因未说明）", timeout=WAIT_MS)
    seen: dict[str, list[str]] = {}
    for lang in ("zh", "en"):
        if lang == "en":
            page.locator("#lang-toggle").click()
            expect(page.locator("html")).to_have_attribute("lang", "en")
        seen[lang] = problems(page.evaluate("document.body.innerText"), lang)
    assert seen == {"zh": [], "en": []}
    for lang in ("en", "zh"):
        if lang == "zh":
            page.locator("#lang-toggle").click()
            expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
        text = page.evaluate("document.body.innerText")
        # the readings: a side and the precision the reading has; no threshold where 0 is none
        wp = page.locator('.row[data-fingerprint="wp-yl-3"] .value')
        expect(wp).to_have_text(re.compile(r"0\.136 MPa.*≤ 0\.14 MPa"))
        expect(page.locator('.row[data-fingerprint="acc-1"] .value .thr')).to_have_count(0)
        expect(page.locator('.row[data-fingerprint="ems-cl-1"] .value .thr')).to_have_text(
            re.compile("≥ 1"))
        # the guidance the enrichment holds, as guidance
        detail = page.locator(f'.inc[data-incident="{IID}"] .guidance')
        expect(detail).to_contain_text(re.compile(r"ERG \S* ?125"))
        expect(detail).to_contain_text(re.compile(r"(初始隔离 100 米|Initial isolation 100 m)"))
        expect(detail).to_contain_text("液氨" if lang == "zh" else "Ammonia")
        # the radius is said as what it bounds: the protected places, then those places
        expect(detail).to_contain_text(re.compile(
            r"周边 1(\.0)? 公里内重点场所\s*学校\s*长郡中学" if lang == "zh" else
            r"Protected places within 1(\.0)? km\s*Schools\s*Changjun School"))
        # the district once
        assert "芙蓉区 芙蓉区" not in text and "Furong Furong" not in text
    assert errors == []


def test_the_vocabulary_has_every_key_in_both_languages(server: ServerThread,
                                                        chromium: Any) -> None:
    errors: list[str] = []
    page = open_cockpit(chromium, server, errors)
    # an English singular (key_one) has no Chinese twin: Chinese counts have one form
    only = page.evaluate("""() => {
      const zh = Object.keys(I18N.zh), en = Object.keys(I18N.en);
      return {zh: zh.filter((k) => !(k in I18N.en)),
              en: en.filter((k) => !(k in I18N.zh) && !k.endsWith("_one"))}; }""")
    assert only == {"zh": [], "en": []}
    assert errors == []


def small_text(page: Any) -> list[str]:
    """Visible elements with text of their own smaller than 14 px."""
    return page.evaluate("""() => [...document.querySelectorAll("body *")].filter((e) => {
      const own = [...e.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
      if (!own || !e.getClientRects().length) return false;
      return parseFloat(getComputedStyle(e).fontSize) < 14;
    }).map((e) => `${e.tagName}.${e.className}: ${getComputedStyle(e).fontSize} ${e.textContent.slice(0, 30)}`)""")


def test_no_text_on_the_console_is_under_14_px_at_1920x1080(server: ServerThread,
                                                             chromium: Any) -> None:
    from playwright.sync_api import expect
    errors: list[str] = []
    page = open_cockpit(chromium, server, errors)
    page.set_viewport_size({"width": 1920, "height": 1080})
    feed(server)
    expect(page.locator("#alerts .row")).to_have_count(len(ALERTS), timeout=WAIT_MS)
    expect(page.locator(f'.inc[data-incident="{IID}"] .pkg-summary')).to_be_visible(
        timeout=WAIT_MS)
    open_everything(page)
    page.screenshot(path="/tmp/console_1920_zh.png")
    assert small_text(page) == []
    page.locator("#lang-toggle").click()
    page.screenshot(path="/tmp/console_1920_en.png")
    assert small_text(page) == []
    assert errors == []


def test_a_viewer_sees_no_command_control_and_a_forged_command_is_refused_in_words(
        server: ServerThread, chromium: Any) -> None:
    from playwright.sync_api import expect
    errors: list[str] = []
    page = open_cockpit(chromium, server, errors, user="大屏")
    expect(page.locator("#who-role")).to_contain_text("大屏")
    feed(server)
    expect(page.locator("#alerts .row")).to_have_count(len(ALERTS), timeout=WAIT_MS)
    open_everything(page)
    expect(page.locator(f'.inc[data-incident="{IID}"] .pkg')).to_be_visible()
    expect(page.locator("button[data-act]")).to_have_count(0)
    # the page's own socket, past the hidden controls: the server refuses it, said in words
    page.evaluate("sendCommand('ack', {fingerprint: 'wp-yl-3'}, 'x')")
    expect(page.locator(".toast .why")).to_have_text("当前角色无权执行此操作", timeout=WAIT_MS)
    page.evaluate("""ws.send(JSON.stringify({type: "command", command: {
        command_id: "forged-1", action: "dispatch_confirm", incident_id: "INC-hazmat-furong",
        package_id: "PKG-1"}}))""")
    page.evaluate("sendCommand('resolve_incident', {incident_id: 'INC-hazmat-furong'}, 'x')")
    expect(page.locator(".toast .why")).to_have_count(2, timeout=WAIT_MS)
    assert server.commands.sent == []   # nothing reached the commands topic
    assert errors == []
