"""``citycc grafana build|sync|provision``: the KPI dashboards for Grafana.

``build`` prints (or writes) the dashboards' JSON; ``provision DIR`` writes Grafana file
provisioning (data source, dashboard provider, dashboard files); ``sync --url URL`` puts
them into a running Grafana over its HTTP API (and the data source with ``--datasource``).
The SQL reads the warehouse database of the settings (``CITYCC_CLICKHOUSE_*``); the district
names and road speeds come from the city profile (``CITYCC_CITY``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Callable

from citycc.settings import Settings

Command = Callable[[Settings, argparse.Namespace], int]


def _dashboards(settings: Settings, args: argparse.Namespace) -> list[dict[str, Any]]:
    from city.profile import load_profile
    from cockpit_api.server import map_layers
    from dashboards.build import dashboards
    from dashboards.panels import Context
    profile = load_profile(settings.city)
    context = Context(settings.clickhouse.database, {d.code: d.zh for d in profile.districts},
                      map_layers(profile).free_kmh)
    return dashboards(context, args.datasource_uid)


def build_cmd(settings: Settings, args: argparse.Namespace) -> int:
    boards = _dashboards(settings, args)
    if args.out is None:
        print(json.dumps(boards, ensure_ascii=False, indent=2))
        return 0
    from dashboards.provision import dashboard_json
    try:
        args.out.mkdir(parents=True, exist_ok=True)
        for d in boards:
            (args.out / f"{d['uid']}.json").write_text(dashboard_json(d), encoding="utf-8")
            print(args.out / f"{d['uid']}.json")
    except OSError as exc:
        return _cannot_write(args.out, exc)
    return 0


def _cannot_write(directory: Path, exc: OSError) -> int:
    print(f"citycc: cannot write into {directory}: {exc.strerror} ({exc.filename})",
          file=sys.stderr)
    return 2


def provision_cmd(settings: Settings, args: argparse.Namespace) -> int:
    from dashboards.provision import write
    try:
        written = write(args.directory, _dashboards(settings, args), settings.clickhouse,
                        host=args.clickhouse_host, dashboards_path=args.dashboards_path)
    except OSError as exc:
        return _cannot_write(args.directory, exc)
    for path in written:
        print(path)
    return 0


def _secret(value: str | None, file: Path | None, what: str) -> str | None:
    if file is None:
        return value
    try:
        return file.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise SystemExit(f"citycc: cannot read the {what} file {file}: {exc.strerror}")


def sync_cmd(settings: Settings, args: argparse.Namespace) -> int:
    from dashboards.provision import datasource
    from dashboards.sync import SyncError, connect, sync
    token = _secret(args.token, args.token_file, "token")
    password = _secret(None, args.password_file, "password")
    if token is None and args.user is None:
        print("citycc: grafana sync needs --token/--token-file or --user/--password-file",
              file=sys.stderr)
        return 2
    ds = datasource(settings.clickhouse, settings.clickhouse.password,
                    host=args.clickhouse_host, uid=args.datasource_uid) \
        if args.datasource else None
    try:
        summary = sync(connect(args.url, token=token, user=args.user, password=password,
                               timeout_s=args.timeout),
                       _dashboards(settings, args), datasource=ds)
    except SyncError as exc:
        print(json.dumps({"error": exc.code, "reason": exc.reason, "done": exc.done},
                         ensure_ascii=False), file=sys.stderr)
        return 1
    print(json.dumps(summary.as_dict(), ensure_ascii=False, indent=2))
    return 0


def add_parsers(add: Callable[[str, Command, str], argparse.ArgumentParser]) -> None:
    """The ``grafana`` subcommand (``add(name, fn, help)`` from citycc.cli)."""
    sp = add("grafana", _dispatch, "KPI dashboards for Grafana: build the JSON, write file "
             "provisioning, or sync them over Grafana's HTTP API")
    sub = sp.add_subparsers(dest="grafana_action", required=True, metavar="ACTION")
    b = sub.add_parser("build", help="print the dashboards' JSON (or write them to --out)")
    b.add_argument("--out", type=Path, default=None, help="a directory for <uid>.json files")
    p = sub.add_parser("provision", help="write Grafana file provisioning into DIR")
    p.add_argument("directory", type=Path)
    p.add_argument("--dashboards-path", default=None, help="where Grafana will find the "
                   "dashboard files (default: DIR mounted as /etc/grafana/provisioning)")
    s = sub.add_parser("sync", help="provision the dashboards over Grafana's HTTP API")
    s.add_argument("--url", required=True, help="e.g. http://127.0.0.1:3000")
    s.add_argument("--token", default=None, help="a service account token")
    s.add_argument("--token-file", type=Path, default=None)
    s.add_argument("--user", default=None, help="basic auth user (with --password-file)")
    s.add_argument("--password-file", type=Path, default=None)
    s.add_argument("--datasource", action="store_true",
                   help="also create or update the ClickHouse data source")
    s.add_argument("--timeout", type=float, default=10.0, help="seconds per request")
    for q in (b, p, s):
        q.add_argument("--datasource-uid", default="citycc-clickhouse")
    for q in (p, s):
        q.add_argument("--clickhouse-host", default=None, help="the ClickHouse host as "
                       "Grafana reaches it (default: the warehouse's)")


def _dispatch(settings: Settings, args: argparse.Namespace) -> int:
    if args.grafana_action == "provision" and args.dashboards_path is None:
        from dashboards.provision import DASHBOARDS_PATH
        args.dashboards_path = DASHBOARDS_PATH
    fn = {"build": build_cmd, "provision": provision_cmd, "sync": sync_cmd}
    return fn[args.grafana_action](settings, args)
