"""The page keeps where its picture is (cockpit_api/protocol.py): dropped, it reconnects with
its last seq and is sent only what it missed; a delta that does not follow what it holds
makes it ask for a snapshot instead of showing a picture with a hole."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from cockpit_harness import GAS_ALERT, ServerThread, sign_in

pytestmark = pytest.mark.browser
WAIT_MS = 10_000


def frames_of(page: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(sent, received) JSON frames of the page's websockets, as they happen."""
    sent: list[dict[str, Any]] = []
    received: list[dict[str, Any]] = []

    def on_ws(ws: Any) -> None:
        ws.on("framesent", lambda f: sent.append(json.loads(f)))
        ws.on("framereceived", lambda f: received.append(json.loads(f)))
    page.on("websocket", on_ws)
    return sent, received


def wait_for(page: Any, what: Any, deadline_s: float = 10) -> None:
    """Poll ``what()`` with a deadline, letting Playwright deliver its events meanwhile."""
    end = time.monotonic() + deadline_s
    while not what():
        if time.monotonic() > end:
            raise AssertionError("not within the deadline")
        page.wait_for_timeout(50)


def drop_everyone(server: ServerThread) -> None:
    d = server.hub.delivery
    server.loop.call_soon_threadsafe(lambda: [d.drop(s) for s in list(d.subs.values())])


def test_a_dropped_page_resumes_and_a_gap_brings_a_snapshot(server: ServerThread,
                                                             chromium: Any) -> None:
    from playwright.sync_api import expect
    errors: list[str] = []
    page = chromium.new_page(viewport={"width": 1600, "height": 900})
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    sent, received = frames_of(page)
    server.publish(GAS_ALERT)
    page.goto(server.settings.cockpit_url)
    sign_in(page)
    expect(page.locator(f'.row[data-fingerprint="{GAS_ALERT["fingerprint"]}"]')).to_be_visible()
    snap = next(m for m in received if m["type"] == "snapshot")
    # the alert is in the picture the snapshot is consistent with (a delta made from it, e.g.
    # the sensor-health flush, may come before or after the page signs in)
    assert snap["seq"] >= 1

    drop_everyone(server)              # as a slow client is: closed with 1013
    later = {**GAS_ALERT, "alert_id": "g2", "fingerprint": "f-later", "entity_id": "E-2"}
    server.publish(later)              # while it is away (or just back: either way once)
    wait_for(page, lambda: any(m["type"] == "resumed" for m in received))
    auth = [m for m in sent if m.get("type") == "auth"]
    back = next(i for i, m in enumerate(received) if m["type"] == "resumed")
    held = max(m["seq"] for m in received[:back] if isinstance(m.get("seq"), int))
    assert auth and auth[-1]["resume"] == held and auth[-1]["epoch"] == snap["epoch"]
    assert received[back]["from"] == held
    expect(page.locator('.row[data-fingerprint="f-later"]')).to_be_visible(timeout=WAIT_MS)
    assert [m["type"] for m in received].count("snapshot") == 1
    assert [m["alert"]["fingerprint"] for m in received if m["type"] == "alert"] == \
        ["f-later"]

    # a delta that does not follow the seq the page holds: it asks for a snapshot
    bogus = {**GAS_ALERT, "fingerprint": "f-bogus", "entity_id": "E-3"}
    d = server.hub.delivery
    server.loop.call_soon_threadsafe(lambda: [d.reply(s, {"type": "alert", "alert": bogus,
                                                          "silenced_by": [], "seq": 50,
                                                          "prev": 40})
                                              for s in list(d.subs.values())])
    wait_for(page, lambda: {"type": "snapshot"} in sent)
    wait_for(page, lambda: [m["type"] for m in received].count("snapshot") == 2)
    expect(page.locator('.row[data-fingerprint="f-later"]')).to_be_visible()
    expect(page.locator('.row[data-fingerprint="f-bogus"]')).to_have_count(0)
    assert errors == []
