"""The streaming reader: constant memory, the summary, the KPI bridge and the dry-run CLI."""

from __future__ import annotations

import csv
import inspect
import json
import tracemalloc
from pathlib import Path

from dispatch import kpis as live_kpis
from replay.cad_import import kpis, reader, sf_fire

FIXTURE = Path(__file__).parents[2] / "fixtures" / "sf_fire" / "calls_sample.csv"
SAMPLE = Path("/work/shared/datasets/sf_fire_calls/sf-fire-calls_first1000_jnybrahma.csv")


def _write(path: Path, rows: int) -> None:
    """A generated file: every row a distinct call, one in 50 bad (a bad location)."""
    base = list(csv.reader(FIXTURE.open(newline="")))[2]
    loc = sf_fire.COLUMNS.index("Location")
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(sf_fire.COLUMNS)
        for i in range(rows):
            r = list(base)
            r[0] = str(30000000 + i)
            if i % 50 == 0:
                r[loc] = "(1.0, 2.0)"
            w.writerow(r)


def _peak(path: Path) -> tuple[int, reader.Summary]:
    with path.open(newline="") as f:
        tracemalloc.start()
        try:
            s = reader.summarise(reader.read(f))
            return tracemalloc.get_traced_memory()[1], s
        finally:
            tracemalloc.stop()


def test_read_is_a_generator() -> None:
    assert inspect.isgeneratorfunction(reader.read)


def test_memory_does_not_grow_with_the_file(tmp_path: Path) -> None:
    small, big = tmp_path / "small.csv", tmp_path / "big.csv"
    _write(small, 1_000)
    _write(big, 20_000)
    peak_small, s_small = _peak(small)
    peak_big, s_big = _peak(big)
    assert (s_big.rows_read, s_big.rows_ok, s_big.bad_rows["bad_location"]) == (
        20_000, 19_600, 400)
    assert s_big.records == 2 * 19_600     # an ems row: its call and its unit's status
    # 20x the rows, the same peak (a list of rows or a set of call numbers would be ~20x)
    assert peak_big < peak_small * 1.5 + 64 * 1024, (peak_small, peak_big)


def test_summary_of_the_fixture() -> None:
    with FIXTURE.open(newline="") as f:
        s = reader.summarise(reader.read(f))
    assert s.as_dict() == {
        "rows_read": 96, "rows_ok": 84, "records": 193, "units_without_available": 1,
        "records_by_type": {"ems.call": 50, "ems.unit_status": 50, "fire.call": 30,
                            "fire.engine_status": 33, "fire.incident": 30},
        "bad_rows": 12, "bad_rows_by_code": {
            "bad_date": 1, "bad_delay": 1, "bad_location": 2, "bad_priority": 1,
            "bad_time": 1, "missing_call_number": 1, "missing_unit_id": 1,
            "nonexistent_local_time": 1, "unknown_call_type": 1, "wrong_column_count": 2}}


def test_the_first_1000_rows_match_the_published_figures() -> None:
    """REFERENCE_FIGURES.md (computed on this file): 1000 rows, 961 distinct CallNumber,
    Medical Incident 642 rows, sum NumAlarms 1006, Delay mean 3.5882 / min 0.5 /
    max 95.28333. Skipped where ../shared is absent: the project never needs it."""
    import pytest
    if not SAMPLE.exists():
        pytest.skip("the shared 1000-row sample is not on this machine")
    with SAMPLE.open(newline="") as f:
        rows = [r for r in reader.read(f)]
    good = [r for r in rows if isinstance(r, reader.Row)]
    assert len(rows) == len(good) == 1000
    calls = {e["entity_id"] for r in good for _, e in r.events if e["type"] == "call"}
    assert len(calls) == 961
    assert sum(1 for r in good for _, e in r.events if e["type"] == "call") == 961
    incidents = [e for r in good for _, e in r.events if e["type"] == "incident"]
    assert len(incidents) == len({e["entity_id"] for e in incidents}) == 339
    assert sum(r.mapped.extra.num_alarms or 0 for r in good) == 1006
    delays = [r.mapped.extra.delay_min for r in good if r.mapped.extra.delay_min is not None]
    assert (round(sum(delays) / len(delays), 4), min(delays), max(delays)) == (
        3.5882, 0.5, 95.28333)


def test_imported_calls_go_through_the_live_kpi_definitions(monkeypatch) -> None:
    seen = []
    real = live_kpis.assemble
    monkeypatch.setattr(live_kpis, "assemble", lambda c, s: seen.append(1) or real(c, s))
    with FIXTURE.open(newline="") as f:
        events = [e for r in reader.read(f) if isinstance(r, reader.Row) for e in r.events]
    calls, statuses = kpis.to_kpi_inputs(events)
    assert len(calls) == 80 and {c.agency for c in calls} == {"ems", "fire"}
    assert all(s.status == "available" for s in statuses)
    rep = kpis.report(events, -8.0)
    assert seen == [1]
    assert rep["calls"] == 80 and rep["unknown_call"] == 0
    assert rep["unit_responses"] == len({(s.call_id, s.unit_id) for s in statuses}) == 83
    # the export has received (day precision) and clear only: every interval needs a
    # timestamp it lacks, so each is absent (n = 0), never invented
    assert {k: v["all"]["n"] for k, v in rep["intervals"].items()} == {
        k: 0 for k in rep["intervals"]}
    r = live_kpis.assemble(calls, statuses)
    import numpy as np
    assert not np.isnan(r.unit_ts["clear"]).any()          # the one unit timestamp we fill
    assert np.isnan(r.unit_ts["on_scene"]).all()


def test_cli_dry_run_prints_the_summary_and_every_bad_row(capsys) -> None:
    from citycc.cli import main
    assert main(["import", "sf-fire", str(FIXTURE), "--dry-run"]) == 0
    out, err = capsys.readouterr()
    summary = json.loads(out)
    assert (summary["rows_read"], summary["bad_rows"], summary["dry_run"]) == (96, 12, True)
    lines = err.strip().splitlines()
    assert len(lines) == 12
    assert lines[0].startswith(f"{FIXTURE}:86: wrong_column_count")
    assert f"{FIXTURE}:92: nonexistent_local_time AvailableDtTm" in err


def test_cli_missing_file_is_a_clear_error(capsys, tmp_path: Path) -> None:
    from citycc.cli import main
    assert main(["import", "sf-fire", str(tmp_path / "nope.csv"), "--dry-run"]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_every_bad_row_code_is_in_the_readme() -> None:
    readme = (Path(__file__).parents[3] / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("### Real CAD history"):]
    section = section[:section.index("\n### ")]
    for code in (*sf_fire.REASONS, reader.BAD_HEADER, reader.BAD_CSV, reader.BAD_ENCODING):
        assert f"`{code}`" in section, code


def test_broken_csv_quoting_is_a_bad_row_and_the_next_rows_still_come() -> None:
    import io
    lines = FIXTURE.read_text().split("\n")
    text = "\n".join([lines[0], lines[1], '"a"b,' + lines[2], lines[3], lines[4]]) + "\n"
    items = list(reader.read(io.StringIO(text, newline="")))
    assert [(type(i).__name__, i.line) for i in items] == [
        ("Row", 2), ("BadRow", 3), ("Row", 4), ("Row", 5)]
    assert items[1].code == "bad_csv"


def test_bytes_that_are_not_utf8_make_a_bad_row_that_keeps_the_bytes(tmp_path: Path,
                                                                       capsys) -> None:
    """A Latin-1 street name used to be replaced by U+FFFD silently and the row loaded as if
    it were clean; now the row is reported (line, column, the bytes) and its dead letter
    keeps the original bytes."""
    lines = FIXTURE.read_bytes().split(b"\n")
    row = lines[2]
    assert row.count(b",") >= 27
    cells = row.split(b",")
    cells[8] = b"CAF\xc9 ST"          # Address: 'CAFE ST' written in Latin-1
    lines[2] = b",".join(cells)
    path = tmp_path / "latin1.csv"
    path.write_bytes(b"\n".join(lines[:4]) + b"\n")
    with reader.open_export(path) as f:
        items = list(reader.read(f))
    bad = [i for i in items if isinstance(i, reader.BadRow)]
    assert [(b.line, b.code, b.column) for b in bad] == [(3, reader.BAD_ENCODING, "Address")]
    assert "\\xc9" in bad[0].detail
    assert reader.raw_bytes(bad[0]) == lines[2]
    assert sum(isinstance(i, reader.Row) for i in items) == 2
    from citycc.cli import main
    assert main(["import", "sf-fire", str(path), "--dry-run"]) == 0
    out, err = capsys.readouterr()
    assert f"{path}:3: {reader.BAD_ENCODING} Address" in err
    assert json.loads(out)["bad_rows_by_code"] == {reader.BAD_ENCODING: 1}


def test_the_import_benchmark_runs_as_the_readme_says(tmp_path: Path) -> None:
    """``python bench/sf_import.py`` put bench/ first on sys.path, where bench/replay.py
    (added later) shadowed the replay package: the benchmark no longer started."""
    import subprocess
    import sys
    root = Path(__file__).parents[3]
    done = subprocess.run([sys.executable, str(root / "bench" / "sf_import.py"), "--rows",
                           "300"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-500:]
    assert "rows read 300" in done.stdout and "rows/s" in done.stdout
