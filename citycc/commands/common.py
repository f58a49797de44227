"""What the replay family of commands (``replay run|serve|whatif``, ``exercise run``)
shares: the command type, the window options and their resolution, the speed argument,
a refusal said on stderr."""

from __future__ import annotations

import argparse
import sys
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


def refuse(what: str, code: str, path: str, reason: str, line: int = 0) -> int:
    where = f"line {line}: " if line else ""
    print(f"citycc {what}: {code} ({where}{path}): {reason}", file=sys.stderr)
    return 2
