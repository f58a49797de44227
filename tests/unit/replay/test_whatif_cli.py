"""``citycc replay whatif``: the overrides file in, the report out (text in zh and en from one
vocabulary, or JSON); a bad overrides file is refused with its code and path. The warehouse
read is replaced by simulated events (the Replayer and everything after it are real)."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable

import pytest

from citycc import cli
from citycc.commands import whatif as whatif_cli
from city.profile import load_profile
from replay.engine import Replayer
from replay.merge import merge_runs
from replay.whatif_text import VOCAB
from schemas.validate import parse_event_time
from simulator.generate import Simulation

T0 = 1_795_600_800_000          # 2026-11-25T10:00:00Z
WINDOW = ["--from", "2026-11-25T10:00:00Z", "--to", "2026-11-25T10:03:00Z"]


@pytest.fixture(scope="module")
def events() -> dict[str, list[dict[str, Any]]]:
    sim = Simulation(load_profile("changsha"), scale=0.05, seed=3, start_ms=T0, incidents=0)
    sim.inject("gas_leak", T0 + 20_000)
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for t in range(T0 + 1000, T0 + 3 * 60_000, 1000):
        for stream, evs in sim.tick(t).items():
            out[stream] += evs
    return dict(out)


@pytest.fixture
def no_warehouse(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                 events: dict[str, list[dict[str, Any]]]) -> None:
    monkeypatch.setenv("CITYCC_RUN_DIR", str(tmp_path))

    def replay_window(settings: Any, setup: Any, window: Any, keep: Callable[[Any], Any],
                      tail_ms: int = 0) -> None:
        r = Replayer(setup, window.start_ms)
        inputs = {s: ((parse_event_time(e["event_time"]), i, e) for i, e in
                      enumerate(sorted(evs, key=lambda e: parse_event_time(e["event_time"]))))
                  for s, evs in events.items()}
        for stream, evs, times in merge_runs(inputs):
            keep(r.feed(stream, evs, times))
        keep(r.advance(window.end_ms + tail_ms))
    monkeypatch.setattr(whatif_cli, "replay_window", replay_window)


def _overrides(tmp_path: Path, text: str) -> str:
    p = tmp_path / "ov.yaml"
    p.write_text(text, encoding="utf-8")
    return str(p)


def test_json_report_of_a_lower_limit(no_warehouse: None, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    ov = _overrides(tmp_path, "limits:\n  manhole_gas: {high_alarm: 3.25, high_recover: 2}\n")
    assert cli.main(["replay", "whatif", *WINDOW, "--with", ov, "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["alerts"]["added"] and not rep["alerts"]["removed"]
    assert {a["kind"] for a in rep["alerts"]["added"]} == {"manhole_gas_high"}
    assert rep["window"]["from"] == "2026-11-25T10:00:00.000Z" and rep["overrides"] == ov


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_text_report_headers_come_from_the_vocabulary(no_warehouse: None, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str],
                                                      lang: str) -> None:
    ov = _overrides(tmp_path, "dispatch:\n  coverage: false\n")
    assert cli.main(["replay", "whatif", *WINDOW, "--with", ov, "--lang", lang]) == 0
    out = capsys.readouterr().out
    i = ("zh", "en").index(lang)
    for key in ("title", "added", "removed", "tta", "incidents", "notifications"):
        assert VOCAB[key][i] in out
    assert VOCAB["title"][1 - i] not in out
    # said in words, never as codes: districts, categories, capabilities, alert kinds
    # (the report printed 'tianxin', 'water', 'water_repair', 'call_pending')
    rep = json.loads(_json_report(tmp_path, ov))
    from city.profile import load_profile
    from dispatch.units import CAPABILITY_TEXT
    names = {d.code: (d.zh, d.en) for d in load_profile().districts}
    seen = [*rep["alerts"]["added"], *rep["time_to_alert"]["alerts"]]
    incidents = [m["baseline"] for m in rep["incidents"]["matched"]]
    assert seen or incidents, "the window must have something to say"
    for a in seen:
        assert f" {a['kind']} " not in out and f"  {a['kind']}" not in out
    for inc in incidents:
        assert names[inc["district"]][i] in out
        assert f"  {inc['category']} " not in out
        for u in inc["units"]:
            said = CAPABILITY_TEXT[u["capability"]][i]
            assert f"{said} " in out
            if said != u["capability"]:       # ('engine' is its own English word)
                assert f"({u['capability']} " not in out


def _json_report(tmp_path: Path, ov: str) -> str:
    import contextlib
    import io
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert cli.main(["replay", "whatif", *WINDOW, "--with", ov, "--json"]) == 0
    return buf.getvalue()


def test_a_bad_overrides_file_is_refused_with_code_and_path(
        no_warehouse: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ov = _overrides(tmp_path, "limits:\n  manhole_gas: {high_alarm: lots}\n")
    assert cli.main(["replay", "whatif", *WINDOW, "--with", ov]) == 2
    err = capsys.readouterr().err
    assert "overrides_bad_value" in err and "limits.manhole_gas.high_alarm" in err
