"""``citycc replay whatif ...window... --with overrides.yaml``: the window replayed twice,
with the configuration in force and with the overrides (:mod:`replay.overrides`), and the
two compared side by side (:mod:`replay.whatif`): text (zh or en) or ``--json``. Nothing is
written anywhere: both replays run in memory (the report is what a what-if leaves).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Callable

from citycc.settings import Settings

from citycc.commands.common import refuse


# -- what-if -------------------------------------------------------------------------------
def whatif_cmd(settings: Settings, args: argparse.Namespace) -> int:
    from citycc.commands.common import resolve_window
    from replay.overrides import OverridesError, load_overrides
    from replay.setup import setup_from_settings
    from replay.window import WindowError
    from replay.whatif import RunSummary, compare_summaries, to_json
    from replay.whatif_text import Names, render_text
    try:
        window = resolve_window(settings, args)
    except WindowError as exc:
        return refuse("replay whatif", exc.code, exc.field, exc.message(args.lang))
    setup = setup_from_settings(settings)
    path: Path = args.overrides
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return refuse("replay whatif", "overrides_unreadable", str(path), str(exc))
    try:
        ov = load_overrides(text, setup.profile, str(path))
        variant = variant_setup(settings, setup, ov)
    except OverridesError as exc:
        return refuse("replay whatif", exc.code, exc.path, exc.reason)
    summaries = []
    for s in (setup, variant):
        summary = RunSummary()
        replay_window(settings, s, window, summary.add, int(args.tail * 1000))
        summaries.append(summary)
    report = compare_summaries(summaries[0], summaries[1], window.start_ms)
    report["window"], report["overrides"] = window.as_dict(), str(path)
    if args.json:
        sys.stdout.write(to_json(report).decode() + "\n")
    else:
        sys.stdout.write(render_text(report, args.lang, Names.of_city(setup.profile)))
    return 0


def variant_setup(settings: Settings, setup: Any, ov: Any) -> Any:
    """The variant's setup, reading the configuration files its overrides need."""
    from replay.variant import with_overrides
    runcards_doc = registry = None
    if setup.dispatch is not None and (ov.runcards.get("cards") or ov.runcards.get("remove")):
        from city.dispatch_config import load_dispatch_yaml
        runcards_doc = load_dispatch_yaml(f"{setup.profile.name}_runcards")
    if setup.dispatch is not None and "scale" in ov.dispatch:
        from city.dispatch_config import registry_for
        registry = registry_for(setup.profile, float(ov.dispatch["scale"]))
    return with_overrides(setup, ov, runcards_doc=runcards_doc, registry=registry)


def replay_window(settings: Settings, setup: Any, window: Any, keep: Callable[[Any], Any],
                  tail_ms: int = 0) -> None:
    """The window from the live database through a fresh Replayer, as fast as possible;
    every batch of records to ``keep`` (nothing is written)."""
    from replay.engine import Replayer
    from warehouse.client import connect
    from warehouse.replay_read import read_window
    client = connect(settings)
    try:
        replayer = Replayer(setup, window.start_ms)
        for stream, events, times in read_window(client, settings.clickhouse.database, window,
                                                       raw=True):
            keep(replayer.feed(stream, events, times))
        keep(replayer.advance(window.end_ms + tail_ms))
    finally:
        client.disconnect()


def add_whatif(actions: Any) -> None:
    """``replay whatif`` (``actions``: the ``replay`` command's subparsers)."""
    from citycc.commands.common import window_arguments
    sp = actions.add_parser("whatif", help="replay a window with other settings and compare",
                            description="Replay a window twice, with the configuration in "
                            "force and with --with overrides, and report the differences: "
                            "alerts added/removed, time to alert, incidents, units, ETAs, "
                            "notifications. Writes nothing.")
    window_arguments(sp)
    sp.add_argument("--with", dest="overrides", type=Path, required=True,
                    metavar="OVERRIDES.yaml", help="the overrides (see README: What-if)")
    sp.add_argument("--json", action="store_true", help="the report as JSON")
    sp.add_argument("--lang", choices=("zh", "en"), default="zh", help="text report language")
    sp.add_argument("--tail", type=float, default=0.0, metavar="SECONDS",
                    help="tick this much event time past --to with no input")
    sp.set_defaults(fn=whatif_cmd)
