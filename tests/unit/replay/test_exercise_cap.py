"""The cockpit's CAP and GB/T exports of an exercise say Exercise: a drill's cockpit (its
hub in feed state ``exercise``, set by the exercise channel) never exports a warning that
could pass for a real one; the live cockpit still says Actual."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from test_cockpit_api import FakeWarehouse, cockpit, get, incident_log, settings  # noqa: F401

from alerting.cap import NS, validate_cap
from citycc.settings import Settings
from cockpit_api.hub import AlertHub


@pytest.mark.parametrize("feed_state, status", [("exercise", "Exercise"),
                                                ("connected", "Actual")])
def test_the_cockpits_export_of_a_drills_incident_says_exercise(
        settings: Settings, feed_state: str, status: str) -> None:  # noqa: F811
    import asyncio

    async def scenario() -> None:
        iid, rows = incident_log()
        wh = FakeWarehouse()
        wh.incidents[iid] = rows
        hub = AlertHub()
        hub.feed_state = feed_state
        async with cockpit(settings, wh, hub):
            code, _, body = await get(settings, f"/api/incidents/{iid}/cap", "大屏")
            assert code == 200 and validate_cap(body) == []
            assert ET.fromstring(body).findtext("c:status", namespaces={"c": NS}) == status
            code, _, body = await get(settings, f"/api/incidents/{iid}/gbt", "大屏")
            assert code == 200 and (status == "Exercise") == (b"Exercise" in body)

    asyncio.run(scenario())
