"""bench/replay.py's (d): the SF Fire import's rates and memory on a real ClickHouse.

Parse+map is ``bench/sf_import.py``'s own ``run`` (no warehouse); the load is
:func:`warehouse.cad_load.load` into a fresh history database, in a process of its own so
its max RSS is the load's alone (once timed, once under ``tracemalloc``). The file: the rows
of ``--sf`` (default the shared sample) repeated, each pass with its own ids.
"""

from __future__ import annotations

import asyncio
import csv
import multiprocessing
import resource
import time
import tracemalloc
from pathlib import Path
from typing import Any

from citycc.settings import Settings

from bench.replay_data import drop_database


# -- SF Fire import (d) ----------------------------------------------------------------------

def repeat_csv(source: Path, target: Path, rows: int) -> int:
    """Write ``rows`` data rows: the source's rows over and over, each pass with its own
    call, incident and row ids (so the calls stay distinct, as in the full file)."""
    with source.open(newline="", encoding="utf-8") as f:
        header, *base = list(csv.reader(f))
    call, inc, row_id = (header.index(c) for c in ("CallNumber", "IncidentNumber", "RowID"))
    written = 0
    with target.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        n = 0
        while written < rows:
            for r in base:
                if written >= rows:
                    break
                r = list(r)
                if n:
                    r[call] = str(int(r[call]) + n * 100_000_000)
                    r[inc] = str(int(r[inc]) + n * 100_000_000)
                    r[row_id] = f"{r[call]}-{r[1]}"
                w.writerow(r)
                written += 1
            n += 1
    return written


def _sf_load_child(settings: Settings, city: str, path: str, traced: bool,
                   queue: Any) -> None:
    """Load the file into ClickHouse in a process of its own (so its max RSS is the load's)."""
    from replay.cad_import import reader
    from warehouse.cad_load import load
    if traced:
        tracemalloc.start()
    t0 = time.perf_counter()
    with open(path, newline="", encoding="utf-8", errors="replace") as f:
        s = asyncio.run(load(settings, city, Path(path).name, reader.read(f)))
    dt = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1] if traced else 0
    queue.put({"rows": s.rows_read, "records": s.records, "bad": sum(s.bad_rows.values()),
               "seconds": dt, "traced_peak": peak,
               "max_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss})


def sf_load(settings: Settings, city: str, path: Path, traced: bool) -> dict[str, Any]:
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    p = ctx.Process(target=_sf_load_child, args=(settings, city, str(path), traced, queue))
    p.start()
    result = queue.get(timeout=3600)
    p.join(60)
    return result


def bench_sf(settings: Settings, source: Path, rows: int, tmp: Path) -> list[str]:
    """The figures, each printed as soon as it is measured; both loads into databases of
    their own (``<db>_hist_benchsf1``/``2``: each load starts from nothing), dropped after."""
    from bench.sf_import import timed_and_traced
    from warehouse.cad_load import history_settings
    path = tmp / "sf-repeated.csv"
    written = repeat_csv(source, path, rows)
    lines: list[str] = []

    def say(line: str) -> None:
        print(line, flush=True)
        lines.append(line)

    say(f"(d) SF import: {source.name} repeated to {written:,} rows "
        f"({path.stat().st_size / 1e6:.1f} MB)")
    s, dt, peak = timed_and_traced(path)
    say(f"    parse+map: {s.rows_read / dt:,.0f} rows/s ({s.records:,} records, {dt:.2f} s); "
        f"peak traced memory {peak / 1024:,.0f} KiB")
    try:
        timed = sf_load(settings, "benchsf1", path, traced=False)
        say(f"    load into ClickHouse (cad_load.load, fresh database): "
            f"{timed['rows'] / timed['seconds']:,.0f} rows/s = "
            f"{timed['records'] / timed['seconds']:,.0f} events/s ({timed['seconds']:.1f} s, "
            f"{timed['bad']} bad rows); load process max RSS "
            f"{timed['max_rss_kib'] / 1024:,.0f} MiB")
        traced = sf_load(settings, "benchsf2", path, traced=True)
        say(f"    load under tracemalloc: peak traced memory "
            f"{traced['traced_peak'] / 1024:,.0f} KiB (max RSS "
            f"{traced['max_rss_kib'] / 1024:,.0f} MiB)")
    finally:
        for city in ("benchsf1", "benchsf2"):
            try:
                drop_database(settings, history_settings(settings, city).clickhouse.database)
            except Exception as exc:  # noqa: BLE001 - a busy server: say so, go on
                print(f"    (could not drop the {city} history database: {exc!r})")
    return lines
