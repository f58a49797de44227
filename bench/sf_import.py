"""SF Fire calls-for-service import: rows/s and peak memory of the streaming mapping.

Reads a calls-for-service CSV (the full 175,296-row ``sf-fire-calls.csv`` if you have it)
through :mod:`replay.cad_import` (parse, map, count; no warehouse) twice: once timed
(rows/s), once under ``tracemalloc`` (peak Python allocation, which must not grow with the
file). Without a file it generates ``--rows`` rows from the test fixture (each a distinct
call, 2 % with a bad location) in a temporary file.

Usage: python bench/sf_import.py [FILE] [--rows 200000]
"""

from __future__ import annotations

import argparse
import csv
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

# run as a script, this folder comes first on sys.path, and its replay.py would shadow the
# replay package: the project's root first, this folder not at all (as bench/alerting.py)
BENCH = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != BENCH]
sys.path.insert(0, str(BENCH.parent))

from replay.cad_import import reader, sf_fire  # noqa: E402

FIXTURE = Path(__file__).parents[1] / "tests" / "fixtures" / "sf_fire" / "calls_sample.csv"


def generate(path: Path, rows: int) -> None:
    base = [r for r in csv.reader(FIXTURE.open(newline=""))][1:81]
    loc = sf_fire.COLUMNS.index("Location")
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(sf_fire.COLUMNS)
        for i in range(rows):
            r = list(base[i % len(base)])
            r[0] = str(30_000_000 + i)
            if i % 50 == 0:
                r[loc] = "(1.0, 2.0)"
            w.writerow(r)


def run(path: Path) -> reader.Summary:
    with reader.open_export(path) as f:
        return reader.summarise(reader.read(f))


def timed_and_traced(path: Path) -> tuple[Any, float, int]:
    """:func:`run` of ``path`` timed, then again under tracemalloc: (summary, seconds, peak
    traced bytes). Two passes: tracing slows the timed one otherwise."""
    t0 = time.perf_counter()
    s = run(path)
    dt = time.perf_counter() - t0
    tracemalloc.start()
    run(path)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return s, dt, peak


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("file", nargs="?", type=Path)
    ap.add_argument("--rows", type=int, default=200_000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = args.file
        if path is None:
            path = Path(tmp) / "generated.csv"
            generate(path, args.rows)
        s, dt, peak = timed_and_traced(path)
        size = path.stat().st_size
    print(f"file: {args.file or f'generated, {args.rows} rows'} ({size / 1e6:.1f} MB)")
    print(f"rows read {s.rows_read}, ok {s.rows_ok}, records {s.records}, "
          f"bad {dict(s.bad_rows)}")
    print(f"rate: {s.rows_read / dt:,.0f} rows/s ({dt:.2f} s, one core, no warehouse)")
    print(f"peak traced Python memory while importing: {peak / 1024:.0f} KiB; "
          f"process max RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
