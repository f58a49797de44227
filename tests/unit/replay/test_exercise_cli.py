"""``citycc exercise run``: a scenario runs headless from now to its incident, the CAP files
it writes say Exercise, and a bad scenario is refused with its line, path and code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from citycc import cli

ROOT = Path(__file__).resolve().parents[3]
SAMPLE = ROOT / "tests" / "fixtures" / "exercise" / "gas_leak_yuelu_school.yaml"


def test_a_scenario_runs_to_its_incident_and_exports_an_exercise(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("CITYCC_RUN_DIR", str(tmp_path))
    out = tmp_path / "drill"
    assert cli.main(["exercise", "run", str(SAMPLE), "--speed", "max", "--no-db",
                     "--out", str(out)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["status"] == "Exercise" and summary["database"] is None
    assert [(i["category"], i["district"]) for i in summary["incidents"]] == [("gas", "yuelu")]
    caps = sorted((out / "cap").glob("*.xml"))
    assert [p.stem for p in caps] == summary["cap"]
    assert all("<status>Exercise</status>" in p.read_text(encoding="utf-8") for p in caps)
    lines = (out / "records.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == summary["records"]


def test_the_exercise_database_is_named_for_the_drill(tmp_path: Path) -> None:
    from replay.drill import exercise_database
    assert exercise_database("citycc", "0123abcd4567") == "citycc_exercise_0123abcd4567"


def test_a_bad_scenario_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("CITYCC_RUN_DIR", str(tmp_path))
    bad = tmp_path / "bad.yaml"
    bad.write_text(SAMPLE.read_text(encoding="utf-8").replace("unit: kPa", "unit: bar", 1),
                   encoding="utf-8")
    assert cli.main(["exercise", "run", str(bad), "--no-db"]) == 2
    err = capsys.readouterr().err
    assert "bad_unit" in err and "events[1].unit" in err and "line 15" in err


def test_scenario_or_incident_one_of_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("CITYCC_RUN_DIR", str(tmp_path))
    assert cli.main(["exercise", "run", "--no-db"]) == 2
    assert "missing_scenario" in capsys.readouterr().err


def test_a_drill_served_in_the_exercise_cockpit(tmp_path: Path) -> None:
    """``exercise run --serve``: the drill plays in the replay cockpit's exercise channel;
    a page sees the session as an exercise and the drill's incident, then ends it."""
    import asyncio
    import socket

    import orjson

    from citycc.commands.exercise import serve_exercise
    from citycc.settings import Settings
    from cockpit_api.auth.testing import signed_in, write_test_users
    from cockpit_api.replay.drill import ReplayerDrill
    from replay.drill import DrillLog, last_event_ms
    from replay.engine import Replayer
    from replay.exercise import drill_events, parse_scenario
    from replay.setup import setup_from_settings

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    settings = Settings(cockpit_host="127.0.0.1", run_dir=tmp_path)
    write_test_users(settings.users_path)
    setup = setup_from_settings(settings)
    now = 1_800_000_000_000
    events = drill_events(parse_scenario(SAMPLE.read_text(encoding="utf-8"), setup.policy),
                          "t1", now, setup.policy)
    log = DrillLog()
    drill = ReplayerDrill(Replayer(setup, now), events, keep=log.take)
    end = last_event_ms(events, now) + 60_000

    async def next_of(ws: object, kind: str) -> dict:
        async with asyncio.timeout(20):
            while True:
                msg = orjson.loads(await ws.recv())  # type: ignore[attr-defined]
                if msg["type"] == kind:
                    return msg

    async def scenario() -> None:
        task = asyncio.create_task(serve_exercise(settings, drill, now, end, None, "t1", port))
        try:
            async with asyncio.timeout(20):
                while True:            # (polls with a deadline until the cockpit listens)
                    try:
                        async with signed_in(port, "张伟") as ws:
                            snap = await next_of(ws, "snapshot")
                            assert snap["replay"]["mode"] == "exercise"
                            told = snap["replay"]
                            while not told["ended"]:     # as fast as possible: to its end
                                told = await next_of(ws, "replay")
                            assert told["at_ms"] == end
                            await ws.send(orjson.dumps({"type": "replay", "op": "stop",
                                                        "command_id": "s1"}).decode())
                            while told.get("answers") != "s1":
                                told = await next_of(ws, "replay")
                            assert told["stopped"]
                        break
                    except OSError:
                        await asyncio.sleep(0.1)
            await asyncio.wait_for(task, 20)
        finally:
            task.cancel()

    asyncio.run(scenario())
    assert [(i["category"], i["district"]) for i in log.result.incidents] == [("gas", "yuelu")]
