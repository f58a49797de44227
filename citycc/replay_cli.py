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
from typing import Any, Callable

from citycc.settings import Settings

Command = Callable[[Settings, argparse.Namespace], int]


def speed_arg(text: str) -> float | None:
    """``max`` (as fast as possible: None) or a factor > 0 (1 = real time)."""
    if text == "max":
        return None
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: a number > 0 or 'max'") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r}: a number > 0 or 'max'")
    return value


def window_arguments(sp: argparse.ArgumentParser) -> None:
    """The options that say what to replay (every replay action takes them)."""
    sp.add_argument("--from", dest="start", metavar="TIME",
                    help="start, ISO 8601 with offset (e.g. 2026-11-25T10:00:00+08:00)")
    sp.add_argument("--to", dest="end", metavar="TIME", help="end (exclusive)")
    sp.add_argument("--district", action="append", default=[], metavar="CODE",
                    help="only this district's events (repeatable; profile codes)")
    sp.add_argument("--bbox", default=None, metavar="S,W,N,E",
                    help="only events inside this box (degrees)")
    sp.add_argument("--stream", action="append", default=[], metavar="STREAM",
                    help="only this input stream (repeatable; default all)")
    sp.add_argument("--incident", default=None, metavar="ID",
                    help="an incident's window and area (its first event - 30 min to its "
                         "last + 10 min, its alerts' districts) instead of --from/--to")
    sp.add_argument("--session", default=None, metavar="ID",
                    help="session id (default: derived from the window)")


def resolve_window(settings: Settings, args: argparse.Namespace) -> Any:
    """The checked :class:`replay.window.Window` of the arguments (raises WindowError)."""
    from city.profile import load_profile
    from replay.window import WindowError, make_window
    profile = load_profile(settings.city)
    if args.incident is not None:
        if args.start or args.end:
            raise WindowError("missing_window", "incident", "--incident picks its own "
                                                           "window: no --from/--to with it")
        from warehouse.client import connect
        from warehouse.replay_read import window_of_incident
        client = connect(settings)
        try:
            window = window_of_incident(client, profile, args.incident, tuple(args.stream))
        finally:
            client.disconnect()
        if args.district or args.bbox:
            window = make_window(profile, window.start_ms, window.end_ms,
                                 args.district or window.districts, args.bbox,
                                 window.streams, window.incident_id)
        return window
    if not args.start or not args.end:
        raise WindowError("missing_window", "from", "give --from and --to, or --incident")
    return make_window(profile, args.start, args.end, args.district, args.bbox, args.stream)


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
    from citycc.replay_serve_cli import add_serve
    add_serve(actions)
