"""Stream a CAD export through a format's row mapping: constant memory, nothing lost.

:func:`read` yields, row by row, either a :class:`Row` (the mapped events) or a
:class:`BadRow` (line number, reason code, column, detail); it never builds a list of the
file. Line numbers are the physical line where the row starts (the header is line 1), so a
quoted field spanning lines does not shift the numbers after it. :class:`Summary` counts
what went by. A call (incident) event is emitted once per run of rows of the same CallNumber
(IncidentNumber): rows of one call are adjacent in SF's exports; were they not, the event
would repeat with the same ``event_id``, which is the warehouse's dedup key (ReplacingMergeTree), so no state
grows with the file either way.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from collections import Counter
from dataclasses import dataclass, field
from typing import IO, Any, Callable, Iterator, Sequence

from replay.cad_import import sf_fire

BAD_HEADER = "bad_header"
BAD_CSV = "bad_csv"
BAD_ENCODING = "not_utf8"


@dataclass(frozen=True)
class Row:
    line: int
    events: tuple[tuple[str, dict[str, Any]], ...]   # (stream, event)
    mapped: sf_fire.Mapped


@dataclass(frozen=True)
class BadRow:
    line: int
    code: str
    column: str
    detail: str
    raw: str = ""        # the row re-written as CSV (what a dead letter keeps)


def open_export(path: str | Path) -> IO[str]:
    """An export opened for :func:`read`: UTF-8, bytes that are not kept as surrogate
    escapes (never replaced), so the row holding them is reported and keeps them."""
    return open(path, newline="", encoding="utf-8", errors="surrogateescape")


def raw_bytes(bad: "BadRow") -> bytes:
    """A bad row's original bytes (what its dead letter keeps)."""
    return bad.raw.encode("utf-8", "surrogateescape")


def _not_utf8(row: Sequence[str], columns: Sequence[str]) -> BadRow | None:
    """The first cell holding bytes that are not UTF-8, as a bad row (without line)."""
    for i, cell in enumerate(row):
        if cell.isascii():
            continue
        try:
            cell.encode("utf-8")
        except UnicodeEncodeError as exc:
            bad = cell[exc.start:exc.end].encode("utf-8", "surrogateescape")
            name = columns[i] if i < len(columns) else f"#{i + 1}"
            return BadRow(0, BAD_ENCODING, name, f"bytes not UTF-8 at character "
                          f"{exc.start + 1}: {bad!r}", _as_csv(row))
    return None


def _as_csv(row: Sequence[str]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(row)
    return out.getvalue()


@dataclass
class Summary:
    rows_read: int = 0
    rows_ok: int = 0
    records: int = 0
    units_without_available: int = 0       # rows whose AvailableDtTm is empty/null
    records_by_type: Counter[str] = field(default_factory=Counter)
    bad_rows: Counter[str] = field(default_factory=Counter)

    def add(self, item: Row | BadRow) -> None:
        self.rows_read += 1
        if isinstance(item, BadRow):
            self.bad_rows[item.code] += 1
            return
        self.rows_ok += 1
        self.records += len(item.events)
        self.units_without_available += item.mapped.unit is None
        for stream, ev in item.events:
            self.records_by_type[f"{stream}.{ev['type']}"] += 1

    def as_dict(self) -> dict[str, Any]:
        return {"rows_read": self.rows_read, "rows_ok": self.rows_ok,
                "records": self.records,
                "units_without_available": self.units_without_available, "records_by_type": dict(sorted(
                    self.records_by_type.items())),
                "bad_rows": sum(self.bad_rows.values()),
                "bad_rows_by_code": dict(sorted(self.bad_rows.items()))}


def read(f: IO[str], mapper: Callable[[Sequence[str]], sf_fire.Mapped] = sf_fire.map_row,
         columns: Sequence[str] = sf_fire.COLUMNS) -> Iterator[Row | BadRow]:
    """Rows of an open text file (``newline=""``), header first. A header that is not
    ``columns`` is reported on line 1 and the rows are still mapped by position."""
    reader = csv.reader(f, strict=True)
    last_call = last_incident = None
    start = 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield BadRow(start, BAD_CSV, "", str(exc)[:200])
            start = reader.line_num + 1
            continue
        line, start = start, reader.line_num + 1
        if line == 1:
            if [c.strip().lstrip("\ufeff") for c in row] != list(columns):
                yield BadRow(1, BAD_HEADER, "", f"header is not the {len(columns)} columns "
                             f"{columns[0]}..{columns[-1]}", _as_csv(row))
            continue
        wrong = _not_utf8(row, columns)
        if wrong is not None:
            yield BadRow(line, wrong.code, wrong.column, wrong.detail, wrong.raw)
            continue
        if not any(c.strip() for c in row):
            yield BadRow(line, sf_fire.BAD_COLUMNS, "", "empty line", _as_csv(row))
            continue
        try:
            m = mapper(row)
        except sf_fire.RowError as err:
            yield BadRow(line, err.code, err.column, err.detail, _as_csv(row))
            continue
        events = [] if m.call_number == last_call else [m.call]
        last_call = m.call_number
        if m.incident is not None and m.incident_number != last_incident:
            events.append(m.incident)
        last_incident = m.incident_number or last_incident
        if m.unit is not None:
            events.append(m.unit)
        yield Row(line, tuple(events), m)


def summarise(items: Iterator[Row | BadRow],
              on_bad: Callable[[BadRow], None] | None = None) -> Summary:
    """Consume ``items``, counting; ``on_bad`` sees every bad row (e.g. to print it)."""
    s = Summary()
    for item in items:
        s.add(item)
        if on_bad is not None and isinstance(item, BadRow):
            on_bad(item)
    return s
