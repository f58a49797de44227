"""``citycc import``: CAD history from CSV exports into the city's history database."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Callable

from citycc.settings import Settings

Command = Callable[[Settings, argparse.Namespace], int]


def import_cmd(settings: Settings, args: argparse.Namespace) -> int:
    """Import CAD history: every bad row on stderr (line, code, column), the summary on
    stdout as JSON. Exit 0 when the file was read (bad rows are reported, not fatal).
    Without --dry-run the events go to the city's own history database (never the live
    one) and each bad row to its dead_letters table."""
    from replay.cad_import import reader

    def bad(b: reader.BadRow) -> None:
        print(f"{args.file}:{b.line}: {b.code} {b.column} {b.detail}".replace("  ", " "),
              file=sys.stderr)
    try:
        with reader.open_export(args.file) as f:
            if args.dry_run:
                summary = reader.summarise(reader.read(f), bad)
                target = None
            else:
                from warehouse.cad_load import history_settings, load
                target = history_settings(settings, args.city).clickhouse.database
                summary = asyncio.run(load(settings, args.city, Path(args.file).name,
                                           reader.read(f), on_bad=bad))
    except OSError as exc:
        print(f"citycc: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
        return 2
    print(json.dumps({"format": args.format, "file": str(args.file), "city": args.city,
                      "dry_run": args.dry_run, "database": target, **summary.as_dict()},
                     indent=2))
    return 0


def add_parsers(add: Callable[[str, Command, str], argparse.ArgumentParser]) -> None:
    """The ``import`` subcommand (``add(name, fn, help)`` from citycc.cli)."""
    sp = add("import", import_cmd, "import CAD history from a CSV export (bad rows reported "
             "with their line number and reason)")
    sp.add_argument("format", choices=["sf-fire"], help="sf-fire: SF Fire Department "
                    "calls for service (28 columns)")
    sp.add_argument("file", type=Path)
    sp.add_argument("--dry-run", action="store_true",
                    help="map and check every row, print the summary, load nothing")
    sp.add_argument("--city", default="sf", help="the history database's suffix: imported "
                    "history goes to <database>_hist_<city>, never the live database")
