"""The console shows a simulated city in words: no producer's code reaches the page.

The picture comes from the real producers, not hand-written samples: the simulator (a fire,
a hazmat tanker leak and a gas leak in Furong) through the worker's event detectors, the
alert bridge and the alerting engine (incidents with their enrichment, call links and unit
status records, lifecycle events, notifications to the routing tree's receivers and the
escalation targets) -- the same functions the Faust agents run, without the broker. The
page's text is then read with every incident opened, in zh and en, by the checks of
test_cockpit_plain_words."""

from __future__ import annotations

import functools
from dataclasses import asdict
from typing import Any

import pytest
from cockpit_harness import ServerThread, open_cockpit
from test_cockpit_plain_words import problems

pytestmark = pytest.mark.browser
WAIT_MS = 15_000
T0, MIN = 1768442400000, 60_000
DISPATCH_TYPES = {("ems", "call"), ("ems", "unit_status"), ("fire", "call"),
                  ("fire", "incident"), ("fire", "engine_status")}


@functools.cache
def simulated_city() -> dict[str, list[dict[str, Any]]]:
    """25 simulated minutes, as the worker would produce them."""
    from alerting.config import default_config
    from alerting.engine import Engine
    from city.profile import load_profile
    from detectors.plan import build_event_detectors
    from schemas.validate import parse_event_time
    from simulator.generate import Simulation
    from streams.alerting_bridge import finding_alert
    profile = load_profile("changsha")
    sim = Simulation(profile, scale=0.05, seed=4, start_ms=T0, incidents=0)
    for i, kind in enumerate(["structure_fire", "hazmat_leak", "gas_leak"]):
        sim.inject(kind, T0 + (3 + 3 * i) * MIN, duration_s=1500, district="furong")
    detectors, engine = build_event_detectors(profile), Engine(default_config(), profile)
    alerts: dict[str, dict[str, Any]] = {}
    out: dict[str, list[dict[str, Any]]] = {"alert_events": [], "incident_events": []}
    notes: dict[str, dict[str, Any]] = {}
    t = T0
    while t < T0 + 25 * MIN:
        t += 10_000
        found, calls = [], []
        for stream, events in sim.tick(t).items():
            for d in detectors:
                if stream in d.streams and events:
                    found += d.update(stream, events,
                                      [parse_event_time(e["event_time"]) for e in events])
            calls += [{"stream": stream, "event": e} for e in events
                      if (stream, e.get("type")) in DISPATCH_TYPES]
        for d in detectors:
            found += d.tick(t)
        batch = [finding_alert(f, profile, t) for f in found]
        alerts.update((a["fingerprint"], a) for a in batch)
        step = engine.alerts(batch, t)
        step.extend(engine.dispatch(calls, t))
        step.extend(engine.tick(t))
        out["alert_events"] += [e.to_dict() for e in step.alert_events]
        out["incident_events"] += [asdict(e) for e in step.incident_events]
        for attempt in engine.outbox.due(t):
            notes[attempt.key] = attempt.notification.to_dict()
            engine.outbox.settle(attempt, None, t)
    return {**out, "alerts": list(alerts.values()), "notifications": list(notes.values())}


def test_a_simulated_city_reaches_the_console_in_words(server: ServerThread,
                                                      chromium: Any) -> None:
    from playwright.sync_api import expect
    city = simulated_city()
    kinds = {e["kind"] for e in city["incident_events"]}
    assert {"opened", "call_linked"} <= kinds and len(city["alerts"]) >= 4, kinds
    assert any(n["status"] == "escalation" for n in city["notifications"])
    errors: list[str] = []
    page = open_cockpit(chromium, server, errors)
    for a in city["alerts"]:
        server.publish(a)
    for e in city["alert_events"]:
        server.call("publish_alert_event", e)
    for e in city["incident_events"]:
        server.call("publish_incident_event", e)
    for n in city["notifications"][-40:]:
        server.call("publish_notification", n)
    expect(page.locator("#alerts .row")).to_have_count(len(city["alerts"]), timeout=WAIT_MS)
    expect(page.locator("#incidents .inc").first).to_be_visible(timeout=WAIT_MS)
    seen: dict[str, list[str]] = {}
    for lang in ("zh", "en"):
        if lang == "en":
            page.locator("#lang-toggle").click()
            expect(page.locator("html")).to_have_attribute("lang", "en")
        text = []
        for card in page.locator("#incidents .inc").all():   # each incident opened in turn
            card.locator(".cat").click()
            expect(card).to_have_attribute("aria-expanded", "true")
            text.append(card.inner_text())
        text.append(page.evaluate("document.body.innerText"))
        seen[lang] = sorted(set(problems("\n".join(text), lang)))
    page.screenshot(path="/tmp/console_simulated_city_en.png")
    assert seen == {"zh": [], "en": []}
    assert errors == []
