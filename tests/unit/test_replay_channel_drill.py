"""An exercise channel with a real drill (cockpit_api/replay/drill.py over a Replayer): what
the drill makes does not depend on the pace it is played at, and an operator's command is
applied by the drill's engine and comes back to the cockpit's picture."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from citycc.settings import load_settings
from cockpit_api.hub import AlertHub
from cockpit_api.replay.channel import ReplayChannel
from cockpit_api.replay.drill import ReplayerDrill
from replay.engine import Replayer
from replay.setup import ReplaySetup, setup_from_settings

sys.path.insert(0, str(Path(__file__).resolve().parent / "replay"))
from worker_fake import T0, simulated_streams  # noqa: E402  (the replay core's small city)

MINUTES = 3
END = T0 + MINUTES * 60_000


@pytest.fixture(scope="module")
def setup() -> ReplaySetup:
    return setup_from_settings(load_settings({}))


@pytest.fixture(scope="module")
def events() -> list[tuple[str, dict[str, Any]]]:
    return [(stream, e) for stream, items in simulated_streams(MINUTES).items()
            for _, _, e in items]


def test_the_drill_makes_the_same_records_at_any_pace(setup: ReplaySetup,
                                                      events: list) -> None:
    straight = ReplayerDrill(Replayer(setup, T0), events).until(END)
    paced = ReplayerDrill(Replayer(setup, T0), events)
    stepped = []
    for at in range(T0 + 7_777, END, 13_333):   # whatever the page's steps happen to be
        stepped += paced.until(at)
    stepped += paced.until(END)
    assert stepped == straight
    assert {"alerts", "incident_events"} <= {r.topic for r in straight}


def test_an_exercise_applies_an_operators_ack_through_its_engine(setup: ReplaySetup,
                                                                  events: list) -> None:
    kept: list[Any] = []
    drill = ReplayerDrill(Replayer(setup, T0), events, keep=kept.extend)
    hub = AlertHub()
    ch = ReplayChannel.exercise(hub, drill, T0, END, paused=True)
    ch.seek(T0 + 2 * 60_000)
    firing = [s for s in hub.alert_states.states() if s["state"] == "firing"]
    assert hub.incidents.incidents() and firing
    fp = firing[0]["fingerprint"]
    ch.command(orjson.dumps({"command_id": "x-1", "action": "ack", "actor": "张伟",
                             "fingerprint": fp, "at": "2026-11-25T08:02:00.000Z"}))
    assert hub.alert_states.get(fp)["state"] == "acknowledged"
    results = [orjson.loads(r.value) for r in kept if r.topic == "command_results"]
    assert [(r["command_id"], r["ok"]) for r in results] == [("x-1", True)]
    assert ch.picture.applied == len(ch.picture.records)   # all of it is in the picture
