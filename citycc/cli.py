"""The ``citycc`` command: one entry point, a subcommand per job, ``--help`` everywhere."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from pathlib import Path
from typing import Callable

from citycc.apps import APP_PROCESSES
from citycc.settings import Settings, SettingsError, load_settings

log = logging.getLogger("citycc")


def _infra(settings: Settings, args: argparse.Namespace) -> int:
    from deploy import infra
    if args.action == "up":
        print(json.dumps(infra.up(settings), indent=2))
        _prepare(settings)
    elif args.action == "down":
        print(json.dumps(infra.down(settings), indent=2))
    else:
        print(json.dumps(infra.status(settings), indent=2))
    return 0


def _prepare(settings: Settings) -> None:
    """Create the topics and apply the ClickHouse migrations (both idempotent)."""
    from streams.admin import ensure_topics
    from warehouse.client import connect, wait_ready
    from warehouse.migrate import migrate
    created = asyncio.run(ensure_topics(settings))
    if created:
        print(f"created topics: {', '.join(created)}")
    wait_ready(settings, 60.0)
    applied = migrate(connect(settings, database="default"), settings.clickhouse.database)
    if applied:
        print(f"applied migrations: {applied}")


def _worker(settings: Settings, args: argparse.Namespace) -> int:
    import faust

    from citycc.runtime import tune_gc
    from streams.app import build_app
    _prepare(settings)
    tune_gc()
    app = build_app(settings)
    worker = faust.Worker(app, loglevel=settings.log_level.lower(), quiet=True)
    worker.execute_from_commandline()
    return 0


def _incident(settings: Settings, args: argparse.Namespace) -> int:
    """Export an incident as CAP 1.2 or GB/T 35965.1-style XML, rebuilt from the warehouse."""
    import time

    from alerting.history import export_incident
    from alerting.incident_model import IncidentError
    from warehouse import queries
    from warehouse.client import connect
    client = connect(settings)
    try:
        events = queries.incident_events(client)
    finally:
        client.disconnect()
    try:
        print(export_incident(events, args.incident_id, args.format, int(time.time() * 1000),
                              exercise=args.exercise))
    except IncidentError as exc:
        print(f"citycc: {exc}", file=sys.stderr)
        return 2
    return 0


def _alerts_at(settings: Settings, args: argparse.Namespace) -> int:
    """The alert states at a moment, rebuilt from the lifecycle events in the warehouse."""
    from alerting.history import alerts_at
    from schemas.errors import ValidationError
    from schemas.validate import parse_event_time
    from warehouse import queries
    from warehouse.client import connect
    try:
        until = parse_event_time(args.time) + 1
    except ValidationError as exc:
        print(f"citycc: time {args.time!r}: {exc.reason}", file=sys.stderr)
        return 2
    client = connect(settings)
    try:
        book = alerts_at(queries.alert_events(client, until_ms=until))
    finally:
        client.disconnect()
    states = book.snapshot()["alerts"] if args.all else [book.get(fp) for fp in book.active()]
    print(json.dumps(states, ensure_ascii=False, indent=2))
    return 0


def _cockpit(settings: Settings, args: argparse.Namespace) -> int:
    from cockpit_api.server import run
    return asyncio.run(run(settings)) or 0


def _simulate(settings: Settings, args: argparse.Namespace) -> int:
    from citycc.services import simulate
    stats = simulate(settings, scale=args.scale, seed=args.seed, rate=args.rate,
                     duration_s=args.duration, batch_size=args.batch,
                     truth_path=args.truth, incidents_per_hour=args.incidents_per_hour,
                     demo_after_s=args.demo_after)
    print(json.dumps(stats, indent=2, default=str))
    return 0


def _schemas(settings: Settings, args: argparse.Namespace) -> int:
    from schemas.export import export
    for path in export(Path(args.directory)):
        print(path)
    return 0


def _run(settings: Settings, args: argparse.Namespace) -> int:
    from citycc.services import run_all
    from deploy.procs import DeployError
    try:
        return run_all(settings, scale=args.scale, seed=args.seed, detach=args.detach)
    except DeployError as exc:
        print(f"citycc: {exc}", file=sys.stderr)
        return 1


def _supervise(settings: Settings, args: argparse.Namespace) -> int:
    from citycc import apps
    from citycc.supervisor import supervise
    supervise(settings, apps.commands(settings, scale=args.scale, seed=args.seed))
    return 0


def _restart(settings: Settings, args: argparse.Namespace) -> int:
    from citycc.services import restart
    from deploy.procs import DeployError
    try:
        pid = restart(settings, args.process)
    except DeployError as exc:
        print(f"citycc: {exc}", file=sys.stderr)
        return 1
    print(f"{args.process} restarted (pid {pid})")
    return 0


def _stop(settings: Settings, args: argparse.Namespace) -> int:
    from citycc.services import stop_all
    stop_all(settings, keep_infra=args.keep_infra)
    return 0


def _status(settings: Settings, args: argparse.Namespace) -> int:
    from citycc.services import status_all
    print(json.dumps(status_all(settings), indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="citycc", description="citycc: city operations "
                                "command center (一网统管). Configuration: CITYCC_* variables "
                                "(see README).")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, fn: Callable[[Settings, argparse.Namespace], int],
            help_: str) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help_, description=help_)
        sp.set_defaults(fn=fn)
        return sp

    sp = add("infra", _infra, "start/stop/show the local broker and ClickHouse")
    sp.add_argument("action", choices=["up", "down", "status"])
    for name, fn, help_ in (
            ("worker", _worker, "run the Faust stream worker (validate, detect, sink)"),
            ("cockpit", _cockpit, "run the cockpit websocket server and page")):
        sp = add(name, fn, help_)
        sp.add_argument("--dispatch-scale", type=float, default=None, metavar="SCALE",
                        help="size of the unit fleet (overrides CITYCC_DISPATCH_SCALE; "
                             "`citycc run` passes the simulated city's scale)")
    sp = add("simulate", _simulate, "produce a simulated city into the input topics")
    sp.add_argument("--scale", type=float, default=1.0, help="1.0 = city-1x, ~2,500 ev/s")
    sp.add_argument("--seed", type=int, default=7)
    sp.add_argument("--rate", type=float, default=1.0,
                    help="speed vs. real time (1 = real time, 0 = as fast as possible)")
    sp.add_argument("--duration", type=float, default=None, help="seconds of event time")
    sp.add_argument("--batch", type=int, default=500, help="events per Kafka message")
    sp.add_argument("--truth", type=Path, default=None, help="write ground truth JSONL here")
    sp.add_argument("--incidents-per-hour", type=float, default=6.0)
    sp.add_argument("--demo-after", type=float, default=None, metavar="SECONDS",
                    help="also inject one incident of each kind from SECONDS on, every 30 s")
    sp = add("incident", _incident, "export an incident (CAP 1.2 or GB/T 35965.1-style XML)")
    sp.add_argument("action", choices=["export"])
    sp.add_argument("incident_id")
    sp.add_argument("--format", choices=["cap", "gbt"], default="cap")
    sp.add_argument("--exercise", action="store_true", help="status Exercise (a drill)")
    sp = add("alerts", _alerts_at, "the alert states at a moment, rebuilt from history")
    sp.add_argument("action", choices=["at"])
    sp.add_argument("time", help="ISO 8601 time with offset, e.g. 2026-12-01T08:00:00Z")
    sp.add_argument("--all", action="store_true", help="resolved alerts too")
    sp = add("schemas", _schemas, "export JSON Schemas of the input streams")
    sp.add_argument("action", choices=["export"])
    sp.add_argument("directory", nargs="?", default="build/schemas")
    sp = add("run", _run, "run everything locally and print the cockpit URL and a login")
    sp.add_argument("--scale", type=float, default=0.1, help="simulated city size")
    sp.add_argument("--seed", type=int, default=7)
    sp.add_argument("--detach", action="store_true",
                    help="return once everything is up (supervised in the background)")
    sp = add("supervise", _supervise, "keep the worker, cockpit and simulator running, "
             "restarting a dead one with backoff (what `citycc run` does; infra not started)")
    sp.add_argument("--scale", type=float, default=0.1, help="simulated city size")
    sp.add_argument("--seed", type=int, default=7)
    sp = add("restart", _restart, "stop a process by its PID and start it again (by the "
             "supervisor if one runs)")
    sp.add_argument("process", choices=APP_PROCESSES)
    sp = add("stop", _stop, "stop everything `citycc run` started")
    sp.add_argument("--keep-infra", action="store_true", help="leave broker/ClickHouse up")
    add("status", _status, "show the local services and processes")
    from citycc import history_cli
    history_cli.add_parsers(add)
    from citycc.accounts import add_parsers
    add_parsers(add)
    from citycc import replay_cli
    replay_cli.add_parsers(add)
    return p


def with_arguments(settings: Settings, args: argparse.Namespace) -> Settings:
    """``settings`` with what a command's arguments override (checked like the variable)."""
    scale = getattr(args, "dispatch_scale", None)
    if scale is None:
        return settings
    if not scale > 0:
        raise SettingsError(f"--dispatch-scale={scale} must be > 0")
    return settings.with_overrides(dispatch_scale=scale)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"citycc: {exc}", file=sys.stderr)
        return 2
    try:
        settings = with_arguments(settings, args)
    except SettingsError as exc:
        print(f"citycc: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=settings.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.command == "worker":
        sys.argv = [sys.argv[0]]  # faust's Worker parses argv itself
    return int(args.fn(settings, args) or 0)


if __name__ == "__main__":
    sys.exit(main())
