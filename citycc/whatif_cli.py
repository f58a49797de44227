"""``citycc replay whatif`` and ``citycc exercise run``.

* ``replay whatif ...window... --with overrides.yaml``: the window replayed twice, with the
  configuration in force and with the overrides (:mod:`replay.overrides`), and the two
  compared side by side (:mod:`replay.whatif`): text (zh or en) or ``--json``. Nothing is
  written anywhere: both replays run in memory (the report is what a what-if leaves).
* ``exercise run SCENARIO.yaml | --incident ID``: a drill from now (:mod:`replay.drill`),
  paced at ``--speed`` (default 1x), in a session of its own: its records go to
  ``<db>_exercise_<id>`` (and ``--out``), never to the live topics or database; every
  incident's CAP export says ``status=Exercise``. Headless: the drill's cockpit channel is
  ``citycc replay serve``'s (helper r-cockpit), not wired here yet.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, Callable

from citycc.settings import Settings

Command = Callable[[Settings, argparse.Namespace], int]


def _refuse(what: str, code: str, path: str, reason: str, line: int = 0) -> int:
    where = f"line {line}: " if line else ""
    print(f"citycc {what}: {code} ({where}{path}): {reason}", file=sys.stderr)
    return 2


# -- what-if -------------------------------------------------------------------------------
def whatif_cmd(settings: Settings, args: argparse.Namespace) -> int:
    from citycc.replay_cli import resolve_window
    from replay.overrides import OverridesError, load_overrides
    from replay.setup import setup_from_settings
    from replay.window import WindowError
    from replay.whatif import RunSummary, compare_summaries, to_json
    from replay.whatif_text import render_text
    try:
        window = resolve_window(settings, args)
    except WindowError as exc:
        return _refuse("replay whatif", exc.code, exc.field, exc.message(args.lang))
    setup = setup_from_settings(settings)
    path: Path = args.overrides
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return _refuse("replay whatif", "overrides_unreadable", str(path), str(exc))
    try:
        ov = load_overrides(text, setup.profile, str(path))
        variant = variant_setup(settings, setup, ov)
    except OverridesError as exc:
        return _refuse("replay whatif", exc.code, exc.path, exc.reason)
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
        sys.stdout.write(render_text(report, args.lang))
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
        for stream, events, times in read_window(client, settings.clickhouse.database, window):
            keep(replayer.feed(stream, events, times))
        keep(replayer.advance(window.end_ms + tail_ms))
    finally:
        client.disconnect()


def add_whatif(actions: Any) -> None:
    """``replay whatif`` (``actions``: the ``replay`` command's subparsers)."""
    from citycc.replay_cli import window_arguments
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


# -- exercises -----------------------------------------------------------------------------
def exercise_cmd(settings: Settings, args: argparse.Namespace) -> int:
    from replay.drill import exercise_id
    from replay.exercise import ScenarioError, drill_events, parse_scenario, shift_events
    from replay.setup import setup_from_settings
    from replay.window import WindowError
    setup = setup_from_settings(settings)
    now = int(time.time() * 1000)
    if (args.scenario is None) == (args.incident is None):
        return _refuse("exercise", "missing_scenario", "scenario",
                       "give a scenario file or --incident ID (one of them)")
    if args.scenario is not None:
        try:
            text = args.scenario.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            return _refuse("exercise", "scenario_unreadable", str(args.scenario), str(exc))
        try:
            scenario = parse_scenario(text, setup.policy, str(args.scenario))
        except ScenarioError as exc:
            return _refuse("exercise", exc.code, exc.path, exc.reason, exc.line)
        ex = exercise_id(text, now)
        events = drill_events(scenario, ex, now, setup.policy)
        name = {"zh": scenario.name, "en": scenario.name_en}
    else:
        try:
            history = incident_events(settings, setup, args.incident)
        except WindowError as exc:
            return _refuse("exercise", exc.code, exc.field, exc.message("en"))
        ex = exercise_id(f"incident:{args.incident}", now)
        events = shift_events(history, ex, now)
        name = {"zh": f"事件{args.incident}重演", "en": f"Re-run of incident {args.incident}"}
    summary = run_exercise(settings, setup, events, ex, now, args)
    summary["name"] = name
    print(json.dumps(summary, indent=2, ensure_ascii=False))
    return 0


def incident_events(settings: Settings, setup: Any, incident_id: str) -> list[Any]:
    """A real incident's events (stream, event) from the live database (its window and
    area, as ``replay run --incident`` picks them)."""
    from warehouse.client import connect
    from warehouse.replay_read import read_window, window_of_incident
    client = connect(settings)
    try:
        window = window_of_incident(client, setup.profile, incident_id)
        return [(stream, e) for stream, events, _ in
                read_window(client, settings.clickhouse.database, window) for e in events]
    finally:
        client.disconnect()


def run_exercise(settings: Settings, setup: Any, events: list[Any], ex: str, now: int,
                 args: argparse.Namespace) -> dict[str, Any]:
    """The drill in its own session: records to ``<db>_exercise_<id>`` and ``--out``."""
    from replay.drill import exercise_database, run_drill
    from replay.session import OutputWriter
    from replay.pace import Pacer
    database = None if args.no_db else exercise_database(settings.clickhouse.database, ex)
    out_dir: Path | None = args.out
    if out_dir is not None:
        (out_dir / "cap").mkdir(parents=True, exist_ok=True)
    jsonl = open(out_dir / "records.jsonl", "wb") if out_dir is not None else None
    client = None
    try:
        if database is not None:
            from warehouse.client import connect
            from warehouse.migrate import migrate
            boot = connect(settings, database="default")
            try:
                boot.execute(f"DROP DATABASE IF EXISTS {database}")
                migrate(boot, database)
            finally:
                boot.disconnect()
            client = connect(settings, database=database)
        writer = OutputWriter(client, database, jsonl)
        pacer = Pacer(args.speed, now, time.monotonic())

        def wait(event_ms: int) -> None:
            time.sleep(pacer.wait_s(event_ms, time.monotonic()))

        result = run_drill(setup, events, now, tail_ms=int(args.tail * 1000),
                           wait=None if args.speed is None else wait, keep=writer.add)
        writer.flush()
    finally:
        if client is not None:
            client.disconnect()
        if jsonl is not None:
            jsonl.close()
    caps = result.caps(int(time.time() * 1000))
    if out_dir is not None:
        for iid, xml in caps.items():
            (out_dir / "cap" / f"{iid}.xml").write_text(xml, encoding="utf-8")
    return {"exercise": ex, "database": database, "status": "Exercise",
            "events": result.events, "dead_letters": result.dead_letters,
            "records": result.records, "digest": result.digest,
            "incidents": result.incidents, "cap": sorted(caps),
            "out": str(out_dir) if out_dir is not None else None}


def add_exercise(add: Callable[[str, Command, str], argparse.ArgumentParser]) -> None:
    """``exercise run`` (``add`` from citycc.cli)."""
    from citycc.replay_cli import speed_arg
    sp = add("exercise", exercise_cmd, "run a drill: a scenario, or a real incident shifted "
             "to now, in a session of its own, marked as an exercise everywhere")
    actions = sp.add_subparsers(dest="action", required=True, metavar="ACTION")
    run = actions.add_parser("run", help="run a drill (headless; JSON summary on stdout)",
                             description="Run a drill from now. Its records go to "
                             "<db>_exercise_<id> (and --out), never the live topics or "
                             "database; its CAP exports say status=Exercise.")
    run.add_argument("scenario", nargs="?", type=Path, default=None,
                     metavar="SCENARIO.yaml", help="the scenario (see README: Exercises)")
    run.add_argument("--incident", default=None, metavar="ID",
                     help="re-run a real incident's events, shifted to start now")
    run.add_argument("--speed", type=speed_arg, default=1.0, metavar="1|N|max",
                     help="event time per wall time (default 1: real time)")
    run.add_argument("--tail", type=float, default=120.0, metavar="SECONDS",
                     help="event time run after the last event (default 120)")
    run.add_argument("--out", type=Path, default=None, metavar="DIR",
                     help="also write records.jsonl and cap/<incident>.xml here")
    run.add_argument("--no-db", action="store_true", help="write no exercise database")
    run.set_defaults(fn=exercise_cmd)
