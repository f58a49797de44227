"""The open incident's map on the dispatcher console (issue 15): the incident, the units its
package recommends and their routes on Changsha's roads, from a package the dispatch board
itself made (dispatch.board on the city's road graph -> the dispatch record -> the cockpit's
dispatch view -> the page's CityMap). Without /basemap.json the map still shows them, said so;
without the map bundle (/dist/citymap.js) the console works as before, with no map."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from cockpit_harness import OPENED_MS, ServerThread, incident_event, sign_in
from screen_fixture import basemap

from citycc.settings import PROJECT_ROOT
from city.dispatch_config import load_runcards, registry_for
from city.profile import load_profile, load_roads
from cockpit_api.dispatch_view import DispatchView, unit_rows
from dispatch.board import Board
from dispatch.roads import parse_roads
from schemas.validate import format_event_time

pytestmark = pytest.mark.browser
WAIT_MS = 20_000
ARTIFACTS = Path(os.environ.get("CITYCC_ARTIFACTS",
                                PROJECT_ROOT / "build" / "artifacts")) / "console"
IID = "INC-fire-furong"
LAT, LON = 28.1960, 112.9880       # Furong district, east of the Xiang
PROFILE = load_profile("changsha")
ROADS = load_roads(PROFILE)


def board_package() -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The unit board's rows and the ``package_recommended`` record the board makes for a
    structure fire at (LAT, LON), on Changsha's road graph."""
    registry = registry_for(PROFILE, 1.0)
    board = Board(PROFILE, parse_roads(ROADS), registry, load_runcards("changsha"))
    payload = {"category": "fire", "severity": "major", "opened_ms": OPENED_MS, "lat": LAT,
               "lon": LON, "district": "furong", "calls": {},
               "members": [{"kind": "fire_alarm", "tags": [], "calls": []}]}
    recs = board.observe_incident({"event_id": "e1", "incident_id": IID, "seq": 0, "lsn": 0,
                                   "kind": "opened", "at_ms": OPENED_MS, "actor": "correlator",
                                   "payload_json": json.dumps(payload),
                                   "at": format_event_time(OPENED_MS)})
    rec = next(r for r in recs if r["kind"] == "package_recommended")
    return unit_rows(registry.units), rec


OPENED = incident_event(1, "opened", {
    "category": "fire", "category_zh": "火灾", "category_en": "Fire", "severity": "major",
    "opened_ms": OPENED_MS, "district": "furong", "lat": LAT, "lon": LON,
    "members": [{"fingerprint": "f02-fire", "alert_id": "x1", "kind": "fire_alarm",
                 "stream": "fire", "severity": "major", "status": "firing",
                 "entity_id": "FA-FR-1", "district": "furong", "title_zh": "火灾报警",
                 "title_en": "Fire alarm", "first_ms": OPENED_MS, "event_ms": OPENED_MS}],
    "calls": {}}, OPENED_MS, incident_id=IID)


def with_package(server: ServerThread) -> dict[str, Any]:
    units, rec = board_package()

    def setup() -> None:
        server.hub.dispatch = DispatchView(units)
    server.loop.call_soon_threadsafe(setup)
    server.call("publish_incident_event", OPENED)
    server.call("publish_dispatch_record", rec)
    return rec["payload"]


def serves_basemap(server: ServerThread) -> bool:
    try:
        urllib.request.urlopen(server.settings.cockpit_url + "basemap.json", timeout=5).close()
        return True
    except urllib.error.HTTPError:
        return False


def open_card(page: Any) -> Any:
    from playwright.sync_api import expect
    card = page.locator(f'.inc[data-incident="{IID}"]')
    expect(card.locator(".pkg-summary")).to_be_visible(timeout=WAIT_MS)
    card.locator(".cat").click()
    expect(card).to_have_attribute("aria-expanded", "true")
    return card


@pytest.mark.skipif(ROADS is None, reason="the profile has no road graph")
def test_the_open_incident_shows_its_units_and_their_routes_on_the_map(
        server: ServerThread, chromium: Any) -> None:
    from playwright.sync_api import expect
    pkg = with_package(server)
    items = pkg["items"]
    # a line per unit (a unit already at the incident's node has a one-point line: not drawn)
    lines = {it["unit_id"]: it["route"] for it in items if len(it["route"]) >= 2}
    assert len(lines) >= 2
    errors: list[str] = []
    page = chromium.new_page(viewport={"width": 1600, "height": 900})
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda m: errors.append(m.text) if "Content Security Policy" in m.text
            else None)
    if not serves_basemap(server):     # (the stand-in until the cockpit serves its own)
        body = json.dumps(basemap()).encode()
        page.route("**/basemap.json", lambda r: r.fulfill(status=200, body=body,
                                                          content_type="application/json"))
    page.goto(server.settings.cockpit_url)
    sign_in(page, "消防调度")
    card = open_card(page)
    box = card.locator(".route-map")
    expect(box).to_be_visible(timeout=WAIT_MS)
    page.wait_for_function("(n) => window.consoleMap && consoleMap.layerFeatures('route').length"
                           " === n", arg=len(lines), timeout=WAIT_MS)
    routes = {f["id"]: f["at"] for f in page.evaluate("consoleMap.layerFeatures('route')")}
    assert routes == lines
    units = page.evaluate("consoleMap.layerFeatures('units')")
    assert sorted(u["id"] for u in units) == sorted(it["unit_id"] for it in items)
    incidents = page.evaluate("consoleMap.layerFeatures('incidents')")
    assert [(i["id"], i["at"]) for i in incidents] == [(IID, [LON, LAT])]
    page.wait_for_function("() => consoleMap.loadedFeatures().district >= 9"
                           " && consoleMap.loadedFeatures().rendered_districts > 0",
                           timeout=WAIT_MS)
    # the view is the route's, not the whole city's: every route point on the canvas, the
    # canvas a few times the routes' span across
    xs = [x for line in lines.values() for x, _ in line] + [LON]
    span = max(max(xs) - min(xs), 0.01)
    page.wait_for_function("""([lines, span]) => { const m = consoleMap.map, c = m.getContainer();
      const b = m.getBounds(), ok = lines.flat().every(([x, y]) => { const p = m.project([x, y]);
        return p.x >= 0 && p.y >= 0 && p.x <= c.clientWidth && p.y <= c.clientHeight; });
      return ok && b.getEast() - b.getWest() < 4 * span; }""", arg=[list(lines.values()), span],
                           timeout=WAIT_MS)
    expect(box.locator(".rm-note")).to_be_hidden()
    # the fire card's decision target (60 s, dispatch/changsha_runcards.yaml) on its timer
    assert pkg["card"]["decide_s"] == 60
    expect(card.locator(".pending")).to_have_attribute("title", "目标 1 分钟内")
    box.scroll_into_view_if_needed()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    box.screenshot(path=str(ARTIFACTS / "route_map.png"))
    # a new render of the card (the language) keeps the one map, moved into the new card
    page.locator("#lang-toggle").click()
    expect(page.locator(f'.inc[data-incident="{IID}"] .route-map')).to_be_visible()
    assert page.evaluate("document.querySelectorAll('.route-map').length") == 1
    assert page.evaluate("consoleMap.layerFeatures('route').length") == len(lines)
    assert errors == []

def card_without(server: ServerThread, chromium: Any, errors: list[str], missing: str
                 ) -> tuple[Any, Any]:
    """The fire dispatcher's console with a package, ``missing`` answered 404: (page, the
    open incident card); page errors go to ``errors``."""
    with_package(server)
    page = chromium.new_page(viewport={"width": 1600, "height": 900})
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.route(missing, lambda r: r.fulfill(status=404, body="not found"))
    page.goto(server.settings.cockpit_url)
    sign_in(page, "消防调度")
    return page, open_card(page)


@pytest.mark.skipif(ROADS is None, reason="the profile has no road graph")
def test_without_a_basemap_the_routes_show_on_a_plain_background(
        server: ServerThread, chromium: Any) -> None:
    from playwright.sync_api import expect
    errors: list[str] = []
    page, card = card_without(server, chromium, errors, "**/basemap.json")
    page.wait_for_function("() => window.consoleMap && consoleMap.layerFeatures('route').length"
                           " >= 2", timeout=WAIT_MS)
    expect(card.locator(".route-map .rm-note")).to_have_text(
        "底图暂不可用：仅显示事件、力量与路线", timeout=WAIT_MS)
    assert page.evaluate("consoleMap.loadedFeatures().district") == 0
    assert errors == []


@pytest.mark.skipif(ROADS is None, reason="the profile has no road graph")
def test_without_the_map_bundle_the_console_works_without_a_map(
        server: ServerThread, chromium: Any) -> None:
    from playwright.sync_api import expect
    errors: list[str] = []
    page, card = card_without(server, chromium, errors, "**/dist/citymap.js")
    expect(card.locator(".pkg .slot").first).to_be_visible()
    expect(card.locator(".timeline li").first).to_be_visible()
    assert card.locator(".route-map").count() == 0
    assert page.evaluate("typeof window.CityMap") == "undefined"
    # the console still answers: a second click closes the card
    card.locator(".cat").click()
    expect(card).to_have_attribute("aria-expanded", "false")
    assert errors == []
