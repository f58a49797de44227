"""The big screen (/screen) in headless Chromium: the map (MapLibre, the districts' outlines
drawn on its canvas), the KPI tiles, the ticker; a live alert and incident through the real
broker reach the map and the ticker; the same layout at 1920x1080 and 3840x2160 (twice the
size), no text under 14 px at 1080p, no raw key in either language; drill into a district;
day/night remembered; the staleness indicator. Screenshots are saved under
build/artifacts/screen (or $CITYCC_ARTIFACTS)."""

from __future__ import annotations

import json
import os
import re
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cockpit_harness import (GAS_ALERT, INCIDENT_EVENTS, OPENED_MS, ServerThread, produce,
                             sign_in)
from screen_fixture import basemap

from citycc.settings import PROJECT_ROOT, Settings
from cockpit_api.dispatch_view import DispatchView
from cockpit_api.web_dist import FILES, WEB_DIR
from dispatch import kpis

pytestmark = pytest.mark.browser
WAIT_MS = 15_000
ARTIFACTS = Path(os.environ.get("CITYCC_ARTIFACTS",
                                PROJECT_ROOT / "build" / "artifacts")) / "screen"
UNITS = [
    {"unit_id": "ENG-F-FR-01", "kind": "engine", "agency": "fire", "district": "furong",
     "capabilities": ["engine"], "station_id": "F-FR", "status": "available",
     "status_ms": None, "incident_id": "", "stale": False, "lat": 28.1935, "lon": 113.012},
    {"unit_id": "AMB-H-XY1-01", "kind": "ambulance", "agency": "ems", "district": "kaifu",
     "capabilities": ["als"], "station_id": "H-XY1", "status": "en_route",
     "status_ms": None, "incident_id": "", "stale": False, "lat": 28.2166, "lon": 112.9796},
]
# what must never reach the screen: snake_case keys and codes, the words a missing value
# leaves in JavaScript, and the codes of the records the test sends
RAW = re.compile(r"\b[a-z]+_[a-z_]+\b|\b(undefined|null|NaN|None|furong|kaifu|gas|firing|"
                 r"critical|lifeline)\b|GAS-FR|INC-gas|ENG-F")
# the text elements of the page (an element with its own text), with their font size
TEXT_SIZES = """() => {
  const out = [];
  for (const e of document.querySelectorAll("body *")) {
    if (e.closest("#login")) continue;
    const own = [...e.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    if (!own || !e.getClientRects().length) continue;
    const st = getComputedStyle(e);
    if (st.visibility === "hidden" || st.display === "none") continue;
    out.push([e.tagName + (e.id ? "#" + e.id : "") + "." + e.className, parseFloat(st.fontSize),
              e.textContent.trim().slice(0, 30)]);
  }
  return out;
}"""


def test_the_front_end_is_built() -> None:
    """The page needs the bundles of `make web` (build/web): without them there is no map."""
    missing = [f for f in FILES if not (WEB_DIR / f).is_file()]
    assert not missing, f"{missing} not in {WEB_DIR}: run `make web`"


def figures() -> dict[str, Any]:
    """Two EMS calls (one departs in 2 min, one in 4) as kpi_summary computes them."""
    calls = [kpis.Call("C1", "ems", "furong", OPENED_MS),
             kpis.Call("C2", "ems", "furong", OPENED_MS)]
    st = [kpis.UnitStatus("AMB-1", "C1", "dispatched", OPENED_MS + 60_000, "ems"),
          kpis.UnitStatus("AMB-1", "C1", "en_route", OPENED_MS + 120_000, "ems"),
          kpis.UnitStatus("AMB-1", "C1", "on_scene", OPENED_MS + 420_000, "ems"),
          kpis.UnitStatus("AMB-2", "C2", "dispatched", OPENED_MS + 90_000, "ems"),
          kpis.UnitStatus("AMB-2", "C2", "en_route", OPENED_MS + 240_000, "ems"),
          kpis.UnitStatus("AMB-2", "C2", "on_scene", OPENED_MS + 600_000, "ems")]
    return kpis.labelled(kpis.compute(kpis.assemble(calls, st), 8.0),
                         {"furong": {"zh": "芙蓉区", "en": "Furong"}})


def trend_body(hours: int = 6) -> dict[str, Any]:
    """An answer of GET /api/kpi/trend as interface 4 of issue 15 describes it."""
    base = OPENED_MS - hours * 3_600_000
    iso = [time.strftime("%Y-%m-%dT%H:00:00Z", time.gmtime((base + h * 3_600_000) / 1000))
           for h in range(hours)]
    count = {"zh": "起", "en": "count"}
    return {"hours": iso, "series": {
        "alerts": {"label": {"zh": "告警", "en": "Alerts"}, "unit": count,
                   "values": [3, 5, 2, 8, 4, 6][:hours]},
        "incidents_fire": {"label": {"zh": "火灾事件", "en": "Fire incidents"}, "unit": count,
                           "values": [1, 0, 2, 1, None, 1][:hours]},
        "response_p90_s": {"label": {"zh": "反应时间 P90", "en": "Response time P90"},
                           "unit": {"zh": "秒", "en": "s"},
                           "values": [420, 480, 455, 510, 600, 530][:hours]}}}


def with_units(server: ServerThread) -> None:
    def setup() -> None:
        server.hub.dispatch = DispatchView(UNITS)
        server.hub.places = {**server.hub.places, "districts": {
            **server.hub.places["districts"], "kaifu": {"zh": "开福区", "en": "Kaifu"}}}
    server.loop.call_soon_threadsafe(setup)
    server.loop.call_soon_threadsafe(server.hub.publish_kpis, {(None, None): figures()},
                                     "2026-11-25T06:40:00.000Z")


def open_screen(browser: Any, server: ServerThread, errors: list[str],
                size: tuple[int, int] = (1920, 1080)) -> Any:
    """The big screen signed in as the viewer 大屏; the basemap is the stand-in of
    screen_fixture until the cockpit serves /basemap.json itself."""
    page = browser.new_page(viewport={"width": size[0], "height": size[1]})
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda m: errors.append(m.text) if "Content Security Policy" in m.text
            else None)
    try:
        urllib.request.urlopen(server.settings.cockpit_url + "basemap.json", timeout=5).close()
    except urllib.error.HTTPError:
        body = json.dumps(basemap()).encode()
        page.route("**/basemap.json", lambda r: r.fulfill(status=200, body=body,
                                                           content_type="application/json"))
    page.goto(server.settings.cockpit_url + "screen")
    sign_in(page, "大屏")
    page.wait_for_function("() => window.screenMap && screenMap.loadedFeatures().district >= 9"
                           " && screenMap.loadedFeatures().rendered_districts > 0",
                           timeout=WAIT_MS)
    return page


def shot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path))
    return path


def check_text(page: Any, min_px: float) -> None:
    sizes = page.evaluate(TEXT_SIZES)
    assert len(sizes) > 30, sizes
    small = [s for s in sizes if s[1] < min_px - 0.01]
    assert not small, f"{len(small)} of {len(sizes)} text elements under {min_px} px: {small[:10]}"


def test_the_big_screen_drills_into_a_district_and_remembers_its_theme(
        server: ServerThread, chromium: Any) -> None:
    from playwright.sync_api import expect
    with_units(server)
    errors: list[str] = []
    page = open_screen(chromium, server, errors)
    expect(page.locator("#t-depart-value")).to_have_text("50.0%", timeout=WAIT_MS)
    expect(page.locator("#t-depart-note")).to_have_text("1 / 2 起警情")
    expect(page.locator("#t-p90-value")).to_have_text(re.compile(r"^\d+\.\d 分钟$"))
    units = page.locator("#t-unit-rows")
    expect(units).to_contain_text("芙蓉区")
    expect(units).to_contain_text("1 / 1 辆")
    expect(units).to_contain_text("开福区")
    expect(units).to_contain_text("0 / 1 辆")
    expect(page.locator("#trend-msg")).to_have_text(re.compile("趋势数据"))   # no /api/ yet
    # the trend charts, once the endpoint answers: asked with the session's token
    asked: list[tuple[str, str]] = []

    def answer(route: Any) -> None:
        asked.append((route.request.url, route.request.headers.get("authorization", "")))
        route.fulfill(status=200, content_type="application/json",
                      body=json.dumps(trend_body()))
    page.route("**/api/kpi/trend*", answer)
    page.evaluate("() => trendRefresh()")
    expect(page.locator("#trend-msg")).to_be_hidden(timeout=WAIT_MS)
    expect(page.locator("#chart-counts canvas")).to_have_count(1)
    expect(page.locator("#chart-times canvas")).to_have_count(1)
    # the two charts sit one above the other: the first is not as tall as the whole panel
    # (it was, sized while the second box was still hidden, and the charts overlapped)
    counts = page.locator("#chart-counts canvas").bounding_box()
    times = page.locator("#chart-times").bounding_box()
    assert counts and times and counts["y"] + counts["height"] <= times["y"] + 1
    token = page.evaluate("() => sessionStorage.getItem('citycc.token')")
    assert asked[-1] == (server.settings.cockpit_url + "api/kpi/trend?hours=6",
                         f"Bearer {token}")
    assert page.evaluate("() => screenMap.loadedFeatures().units") == 2
    # congestion (an item null left the layer) and sensor health as the cockpit sends them
    page.evaluate("""() => { const send = (m) => onMessage({data: JSON.stringify(m)});
      send({type: "congestion", items: {"g4:3": {lat: 28.2, lon: 113.05, level: 3, speed_kmh: 9},
                                        "g4:4": {lat: 28.21, lon: 113.05, level: 1, speed_kmh: 40}}});
      send({type: "congestion", items: {"g4:4": null}});
      send({type: "sensor_health", health: {city: {alarm: 4, silent: 2, stuck: 0, bad_data: 1},
        districts: {furong: {alarm: 1, silent: 0, stuck: 0, bad_data: 0}}}}); }""")
    page.wait_for_function("() => screenMap.layerFeatures('congestion').length === 1"
                           " && screenMap.layerFeatures('congestion')[0].level === 3")
    sensors = page.locator("#t-sensors")
    expect(sensors).to_contain_text("4 个监测点报警")
    expect(sensors).to_contain_text("无数据（静默）2 个")
    # moving units (positions) and a message type this page does not know change nothing else
    page.evaluate("""() => { onMessage({data: JSON.stringify({type: "positions", layer: "units",
        seq: 7, items: {"ENG-F-FR-01": {lat: 28.2, lon: 113.0, at_ms: 1}}})});
      onMessage({data: JSON.stringify({type: "no_such_message", foo: 1})}); }""")
    page.wait_for_function("() => screenMap.layerFeatures('units').some((u) =>"
                           " u.id === 'ENG-F-FR-01' && u.at[0] === 113 && u.at[1] === 28.2"
                           " && u.status === 'available')")
    assert page.evaluate("() => screenMap.loadedFeatures().units") == 2
    # drill: a district's name on the map, then back to the city
    page.locator('.cm-label[data-code="furong"]').click()
    expect(page.locator("#crumb-district")).to_have_text("芙蓉区")
    expect(units).to_contain_text("119 消防")
    expect(sensors).to_contain_text("1 个监测点报警")   # the district's own health
    expect(units).not_to_contain_text("开福区")
    page.wait_for_function("() => !screenMap.map.isMoving()")
    assert asked[-1][0].endswith("api/kpi/trend?hours=6&district=furong")
    shot(page, "screen-furong-1920.png")
    page.locator("#crumb-city").click()
    expect(page.locator("#crumb-district")).to_have_text("")
    expect(units).to_contain_text("开福区")
    units.locator('.row[data-code="kaifu"]').click()   # a district's tile row drills too
    expect(page.locator("#crumb-district")).to_have_text("开福区")
    expect(units).to_contain_text("120 急救")
    page.locator("#crumb-city").click()
    expect(units).to_contain_text("芙蓉区")
    # staleness: amber after 10 s without a message, red after 30 s
    assert page.evaluate("() => { state.lastMsgMs = Date.now() - 15000; renderConn();"
                         " return $('conn').dataset.stale; }") == "amber"
    assert page.evaluate("() => { state.lastMsgMs = Date.now() - 45000; renderConn();"
                         " return $('conn').dataset.stale; }") == "red"
    # day theme, remembered after a reload
    page.locator("#theme-toggle").click()
    expect(page.locator("html")).to_have_attribute("data-theme", "day")
    shot(page, "screen-day-1920.png")
    page.reload()
    expect(page.locator("html")).to_have_attribute("data-theme", "day")
    expect(page.locator("#conn")).to_have_attribute("data-state", "open", timeout=WAIT_MS)
    assert errors == []


def test_without_the_built_map_the_screen_says_so_and_still_works(
        server: ServerThread, chromium: Any) -> None:
    """A cockpit whose front end was not built (404 on /dist/citymap.js): the map's place
    says so in words; the tiles and the ticker still work."""
    from playwright.sync_api import expect
    errors: list[str] = []
    page = chromium.new_page(viewport={"width": 1920, "height": 1080})
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.route("**/dist/citymap.js", lambda r: r.fulfill(status=404, body="not built"))
    page.goto(server.settings.cockpit_url + "screen")
    sign_in(page, "大屏")
    expect(page.locator("#map-msg")).to_have_text("地图组件未构建（请运行 make web）")
    server.publish(GAS_ALERT)
    expect(page.locator("#ticker")).to_contain_text("燃气浓度超限", timeout=WAIT_MS)
    assert errors == []


# --- through the real broker -------------------------------------------------------------------
@pytest.fixture
def kafka_server(prepared: Settings, own_topics: Any) -> Iterator[ServerThread]:
    srv = ServerThread(own_topics(prepared, "scr"), feed=True)
    srv.start()
    yield srv
    srv.stop()


@pytest.mark.integration
def test_a_live_alert_reaches_the_map_and_the_ticker_at_1080p_and_4k(
        kafka_server: ServerThread, chromium: Any) -> None:
    from playwright.sync_api import expect
    srv = kafka_server
    with_units(srv)
    errors: list[str] = []
    page = open_screen(chromium, srv, errors)
    ticker = page.locator("#ticker")
    expect(ticker).to_contain_text("暂无告警")
    srv.run(produce(srv.settings, [
        ("alerts", GAS_ALERT["fingerprint"], GAS_ALERT),
        *[("incident_events", e["incident_id"], e) for e in INCIDENT_EVENTS]]))
    expect(ticker.locator('.item[data-id="f00-gas-fr-17"]')).to_contain_text(
        "燃气浓度超限", timeout=WAIT_MS)
    expect(ticker.locator('.item[data-id="INC-gas-furong"]')).to_contain_text("燃气泄漏")
    expect(ticker).to_contain_text("紧急")
    expect(ticker).to_contain_text("芙蓉区")
    page.wait_for_function("() => { const f = screenMap.loadedFeatures();"
                           " return f.sensors === 1 && f.incidents === 1; }", timeout=WAIT_MS)
    expect(page.locator("#t-inc-rows")).to_contain_text("燃气泄漏")
    expect(page.locator('.cm-label[data-code="furong"] .cm-count')).to_have_text("1 起")
    expect(page.locator("#t-sensor-value")).to_have_text("1 个监测点报警")
    expect(page.locator("#t-depart-value")).to_have_text("50.0%", timeout=WAIT_MS)
    check_text(page, 14)
    box_1080 = page.locator("#map").bounding_box()
    label = page.locator('.cm-label[data-code="wangcheng"]')
    at_1080 = label.bounding_box()
    shot(page, "screen-1920x1080.png")
    zh = page.locator("body").inner_text()
    assert not RAW.search(zh), RAW.search(zh)

    page.set_viewport_size({"width": 3840, "height": 2160})
    page.wait_for_function("() => screenMap.loadedFeatures().rendered_districts > 0")
    box_4k = page.locator("#map").bounding_box()
    for k in ("x", "y", "width", "height"):   # the same layout at twice the size
        assert abs(box_4k[k] - 2 * box_1080[k]) <= 4, (k, box_1080, box_4k)
    # the map refits: a district's name sits where it sat, at twice the distance
    page.wait_for_function("() => !screenMap.map.isMoving()")
    at_4k = label.bounding_box()
    for k in ("x", "y"):
        centre_1080 = at_1080[k] + at_1080["width" if k == "x" else "height"] / 2
        centre_4k = at_4k[k] + at_4k["width" if k == "x" else "height"] / 2
        assert abs(centre_4k - 2 * centre_1080) <= 0.01 * box_4k["width"], (k, at_1080, at_4k)
    check_text(page, 28)
    shot(page, "screen-3840x2160.png")

    page.locator("#lang-toggle").click()
    expect(ticker).to_contain_text("Gas concentration above alarm level")
    expect(page.locator('.cm-label[data-code="furong"] .cm-name')).to_have_text("Furong")
    expect(page.locator("#t-sensor-value")).to_have_text("Sensors in alarm: 1")
    en = page.locator("body").inner_text()
    assert not RAW.search(en), RAW.search(en)
    shot(page, "screen-3840x2160-en.png")
    assert errors == []
