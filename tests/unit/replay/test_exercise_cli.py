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
