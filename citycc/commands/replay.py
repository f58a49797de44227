"""``citycc replay ACTION``: replay a window of history through the worker's own stages.

``run`` is headless (progress bar on stderr, a JSON summary on stdout). Every action takes
the same window options (:func:`window_arguments`) and resolves them the same way
(:func:`resolve_window`); another action adds its parser to the ``actions`` subparsers in
:func:`add_parsers` (``serve``, ``whatif``, ...).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Callable

from citycc.settings import Settings

from citycc.commands.common import (Command, resolve_window, speed_arg,
                                    window_arguments)


def run_cmd(settings: Settings, args: argparse.Namespace) -> int:
    from replay.session import run_session
    from replay.setup import setup_from_settings
    from replay.window import WindowError, check_session
    try:
        window = resolve_window(settings, args)
        if args.session is not None:
            check_session(args.session)
    except WindowError as exc:
        print(f"citycc replay: {exc.code} ({exc.field}): {exc.message('zh')} / "
              f"{exc.message('en')}", file=sys.stderr)
        return 2
    summary = run_session(settings, setup_from_settings(settings), window,
                          session_id=args.session, speed=args.speed, jsonl=args.out,
                          write_db=not args.no_db, progress=not args.no_progress,
                          tail_ms=int(args.tail * 1000))
    print(json.dumps(summary, indent=2, ensure_ascii=False))
    return 0


def add_parsers(add: Callable[[str, Command, str], argparse.ArgumentParser]) -> None:
    """The ``replay`` command and its actions (``add(name, fn, help)`` from citycc.cli)."""
    sp = add("replay", run_cmd, "replay a window of history (or an incident) through the "
             "worker's own stages, isolated from live operations")
    actions = sp.add_subparsers(dest="action", required=True, metavar="ACTION")
    run = actions.add_parser("run", help="headless: progress on stderr, JSON summary",
                             description="Replay headless; outputs go to the database "
                             "<db>_replay_<session> (and --out), never the live one.")
    window_arguments(run)
    run.add_argument("--speed", type=speed_arg, default=None, metavar="1|N|max",
                     help="event time per wall time (default max: as fast as possible)")
    run.add_argument("--out", type=Path, default=None, metavar="FILE.jsonl",
                     help="also write every output record here")
    run.add_argument("--tail", type=float, default=0.0, metavar="SECONDS",
                     help="tick this much event time past --to with no input")
    run.add_argument("--no-db", action="store_true",
                     help="write no replay database (digest and --out only)")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    run.set_defaults(fn=run_cmd)
    from citycc.commands.replay_serve import add_serve
    add_serve(actions)
    from citycc.commands.whatif import add_whatif
    add_whatif(actions)
    from citycc.commands.exercise import add_exercise
    add_exercise(add)
