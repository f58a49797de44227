"""``citycc exercise run SCENARIO.yaml | --incident ID``: a drill from now, in a session of
its own (:mod:`replay.drill`).

The drill's events (a scenario, or a real incident's events shifted to now:
:mod:`replay.exercise`) go through their own pipeline (``ReplayerDrill`` over a fresh
Replayer) at ``--speed`` (default 1x). Its records go to ``<db>_exercise_<id>`` (and
``--out``), never to the live topics or database, and every incident's CAP export says
``status=Exercise``. Headless by default (JSON summary on stdout); ``--serve`` plays it in
the replay cockpit's exercise channel on its own port, where dispatchers act in the drill.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any, Callable

from citycc.settings import Settings
from citycc.commands.common import Command, refuse


def exercise_cmd(settings: Settings, args: argparse.Namespace) -> int:
    from replay.drill import exercise_id
    from replay.exercise import ScenarioError, drill_events, parse_scenario, shift_events
    from replay.setup import setup_from_settings
    from replay.window import WindowError
    if (args.scenario is None) == (args.incident is None):
        return refuse("exercise", "missing_scenario", "scenario",
                      "give a scenario file or --incident ID (one of them)")
    setup = setup_from_settings(settings)
    now = int(time.time() * 1000)
    if args.scenario is not None:
        try:
            text = args.scenario.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            return refuse("exercise", "scenario_unreadable", str(args.scenario), str(exc))
        try:
            scenario = parse_scenario(text, setup.policy, str(args.scenario))
        except ScenarioError as exc:
            return refuse("exercise", exc.code, exc.path, exc.reason, exc.line)
        ex = exercise_id(text, now)
        events = drill_events(scenario, ex, now, setup.policy)
        name = {"zh": scenario.name, "en": scenario.name_en}
    else:
        try:
            history = incident_events(settings, setup, args.incident)
        except WindowError as exc:
            return refuse("exercise", exc.code, exc.field, exc.message("en"))
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
    from cockpit_api.replay.drill import ReplayerDrill
    from replay.drill import DrillLog, exercise_database, last_event_ms, run_drill
    from replay.engine import Replayer
    from replay.pace import Pacer
    from replay.session import OutputWriter
    database = None if args.no_db else exercise_database(settings.clickhouse.database, ex)
    out_dir: Path | None = args.out
    if out_dir is not None:
        (out_dir / "cap").mkdir(parents=True, exist_ok=True)
    jsonl = open(out_dir / "records.jsonl", "wb") if out_dir is not None else None
    client = None
    try:
        if database is not None:
            client = _fresh_database(settings, database)
        # served, every batch is written at once: the cockpit's exports read the drill's
        # own database (its incidents, with status Exercise), as live ones read the live one
        writer = OutputWriter(client, database, jsonl, **({"flush_rows": 1} if args.serve
                                                          else {}))
        log = DrillLog(writer.add)
        replayer = Replayer(setup, now)
        replayer.on_events = writer.add_events     # the drill's events too, as the worker
        drill = ReplayerDrill(replayer, events, keep=log.take)
        end = last_event_ms(events, now) + int(args.tail * 1000)
        if args.serve:
            served = settings if database is None else \
                settings.with_database(database)
            from cockpit_api.replay.app import PortBusy
            try:
                asyncio.run(serve_exercise(served, drill, now, end, args.speed, ex,
                                           args.port))
            except PortBusy as exc:
                print(f"citycc exercise: {exc.message('zh')} / {exc.message('en')}",
                      file=sys.stderr)
                return 2
        else:
            pacer = Pacer(args.speed, now, time.monotonic())

            def wait(event_ms: int) -> None:
                time.sleep(pacer.wait_s(event_ms, time.monotonic()))
            run_drill(drill, now, end, tick_ms=replayer.tick_ms,
                      wait=None if args.speed is None else wait)
        writer.flush()
        result = log.finish(replayer.counters)
    finally:
        if client is not None:
            client.disconnect()
        if jsonl is not None:
            jsonl.close()
    caps = result.caps(int(time.time() * 1000))
    if out_dir is not None:
        for iid, xml in caps.items():
            (out_dir / "cap" / f"{iid}.xml").write_text(xml, encoding="utf-8")
    return {"exercise": ex, "database": database, "status": "Exercise", "start_ms": now,
            "events": result.events, "dead_letters": result.dead_letters,
            "records": result.records, "digest": result.digest,
            "incidents": result.incidents, "cap": sorted(caps),
            "out": str(out_dir) if out_dir is not None else None}


def _fresh_database(settings: Settings, database: str) -> Any:
    """``database`` made afresh by the live one's migrations; a client on it."""
    from warehouse.client import connect
    from warehouse.migrate import migrate
    boot = connect(settings, database="default")
    try:
        boot.execute(f"DROP DATABASE IF EXISTS {database}")
        migrate(boot, database)
    finally:
        boot.disconnect()
    return connect(settings, database=database)


async def serve_exercise(settings: Settings, drill: Any, start_ms: int, end_ms: int,
                         speed: float | None, label: str, port: int | None) -> None:
    """The drill in the replay cockpit's exercise channel (its own port) until a page
    ends it or the process is told to stop (as ``citycc replay serve``)."""
    from cockpit_api.replay.app import serve_session
    from cockpit_api.replay.channel import ReplayChannel
    from cockpit_api.replay.server import replay_settings

    def channel(hub: Any) -> ReplayChannel:
        return ReplayChannel.exercise(hub, drill, start_ms, end_ms, speed=speed, label=label)
    await serve_session(replay_settings(settings, port), channel, f"演练 / Exercise {label}")


def add_exercise(add: Callable[[str, Command, str], argparse.ArgumentParser]) -> None:
    """``exercise run`` (``add`` from citycc.cli)."""
    from citycc.commands.common import speed_arg
    sp = add("exercise", exercise_cmd, "run a drill: a scenario, or a real incident shifted "
             "to now, in a session of its own, marked as an exercise everywhere")
    actions = sp.add_subparsers(dest="action", required=True, metavar="ACTION")
    run = actions.add_parser("run", help="run a drill (JSON summary on stdout)",
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
    run.add_argument("--serve", action="store_true",
                     help="play it in an exercise cockpit (its own port) where dispatchers "
                          "act in the drill, instead of headless")
    run.add_argument("--port", type=int, default=None,
                     help="the exercise cockpit's port (default: the replay cockpit's)")
    run.set_defaults(fn=exercise_cmd)
