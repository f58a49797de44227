"""``citycc replay serve``: a window of history replayed into a cockpit of its own.

The window's replay is computed first (progress on stderr), then the replay cockpit
(:mod:`cockpit_api.replay`) serves it on its own port (default 8766) with the live
cockpit's page, users and sign-in, marked 回放 / Replay, paused at the window's start:
staff play, pause, change the speed, drag the time slider and end it from the page.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import sys
from typing import Any

from citycc.settings import Settings


def serve_cmd(settings: Settings, args: argparse.Namespace) -> int:
    from citycc.commands.common import resolve_window
    from cockpit_api.replay.app import PortBusy, check_port, run, timeline_of
    from cockpit_api.replay.server import replay_settings
    from replay.setup import setup_from_settings
    from replay.window import WindowError
    try:
        window = resolve_window(settings, args)
    except WindowError as exc:
        print(f"citycc replay: {exc.code} ({exc.field}): {exc.message('zh')} / "
              f"{exc.message('en')}", file=sys.stderr)
        return 2
    served = replay_settings(settings, args.port)
    if args.host is not None:
        served = dataclasses.replace(served, cockpit_host=args.host)
    try:
        check_port(served.cockpit_host, served.cockpit_port)
    except PortBusy as exc:
        return _busy(exc)
    records, summary = timeline_of(settings, setup_from_settings(settings), window,
                                   tail_ms=int(args.tail * 1000),
                                   progress=not args.no_progress, session_id=args.session)
    sid = summary["session"]
    print(json.dumps({"session": sid, "database": summary["database"],
                      "window": window.as_dict(), "records": len(records)},
                     ensure_ascii=False), flush=True)
    # its /api (KPIs, trends, CAP exports) reads the session's own database, on its time
    served = served.with_database(summary["database"])
    try:
        asyncio.run(run(served, records, window.start_ms,
                        window.end_ms + int(args.tail * 1000), speed=args.speed,
                        paused=not args.play, label=sid))
    except PortBusy as exc:     # taken while the replay was computed
        return _busy(exc)
    return 0


def _busy(exc: Any) -> int:
    print(f"citycc replay: {exc.message('zh')} / {exc.message('en')}", file=sys.stderr)
    return 2


def add_serve(actions: Any) -> None:
    """The ``serve`` action in ``citycc replay``'s subparsers."""
    from citycc.commands.common import speed_arg, window_arguments
    from cockpit_api.replay.server import DEFAULT_PORT
    sp = actions.add_parser("serve", help="a replay cockpit: the live page on its own port, "
                            "marked as a replay, with a time slider",
                            description="Replay a window into a cockpit of its own (the "
                            "same users and sign-in); nothing reaches live operations.")
    window_arguments(sp)
    sp.add_argument("--port", type=int, default=DEFAULT_PORT,
                    help=f"the replay cockpit's port (default {DEFAULT_PORT})")
    sp.add_argument("--host", default=None, help="its address (default: the cockpit's)")
    sp.add_argument("--speed", type=speed_arg, default=1.0, metavar="1|N|max",
                    help="event time per wall time when played (default 1: real time)")
    sp.add_argument("--play", action="store_true",
                    help="start playing at once (default: paused at the window's start)")
    sp.add_argument("--tail", type=float, default=0.0, metavar="SECONDS",
                    help="tick this much event time past --to with no input")
    sp.add_argument("--no-progress", action="store_true", help="no progress bar")
    sp.set_defaults(fn=serve_cmd)
