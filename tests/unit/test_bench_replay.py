"""bench/replay.py's own logic: its options and the SF file it repeats (no services)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from bench import replay as bench
from bench import replay_sf
from replay.cad_import import reader

FIXTURE = Path(__file__).parents[1] / "fixtures" / "sf_fire" / "calls_sample.csv"


def test_parts_keep_the_bench_order_and_refuse_unknown_names() -> None:
    assert bench.parse_parts("seek, read,read") == ("read", "seek")
    assert bench.parse_args([]).parts == bench.PARTS
    with pytest.raises(SystemExit, match="unknown part"):
        bench.parse_parts("read,sek")


def test_repeated_sf_rows_are_distinct_calls_the_importer_maps(tmp_path: Path) -> None:
    with FIXTURE.open(newline="") as f:
        good = [r for r in csv.reader(f)][:81]        # header + rows the importer takes
    src = tmp_path / "src.csv"
    with src.open("w", newline="") as f:
        csv.writer(f).writerows(good)
    out = tmp_path / "big.csv"
    assert replay_sf.repeat_csv(src, out, 200) == 200
    with out.open(newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == good[0] and len(rows) == 201
    assert rows[1:81] == good[1:]                     # the first pass is the file itself
    calls = {(r[0], r[1]) for r in rows[1:]}
    assert len(calls) == 200                          # every (call, unit) once
    with src.open(newline="") as f:
        once = reader.summarise(reader.read(f))
    with out.open(newline="") as f:
        s = reader.summarise(reader.read(f))
    assert s.rows_read == 200 and dict(s.bad_rows) == dict(once.bad_rows) == {}
    assert s.records > 2 * once.records               # each pass adds its own calls
