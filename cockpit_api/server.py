"""Cockpit HTTP + websocket server (one port, ``websockets`` only).

* plain HTTP (the page and its files, ``/healthz``) and the handshake's gate (Origin
  allow-list, connection cap): :mod:`cockpit_api.pages`; ``/metrics`` for Prometheus
  (:mod:`cockpit_api.metrics`); the authenticated ``/api/...`` (:mod:`cockpit_api.api`);
* ``/ws`` -- a client signs in with its first frame, then is sent what its role may see
  (:mod:`cockpit_api.hub`, :mod:`cockpit_api.visibility`) and gives commands
  (:mod:`cockpit_api.commands`, :mod:`cockpit_api.authorize`; answered ``command_queued`` /
  ``command_error``): :mod:`cockpit_api.client` and :mod:`cockpit_api.connection`; every
  sign-in and command is audited (:mod:`cockpit_api.audit`).

Run with ``python -m cockpit_api.server`` (settings from ``CITYCC_*`` variables).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from functools import lru_cache
from pathlib import Path
from typing import Any

import orjson
from websockets.asyncio.server import serve as ws_serve

from city.profile import CityProfile, load_profile, load_roads
from citycc.settings import Settings, load_settings
from deploy.supervision import parse_status, status_path
from streams.worker_metrics import metrics_dir

from .audit import AuditTrail
from .auth.limits import ConnectionCap, LoginThrottle
from .auth.login import Authenticator
from .auth.tokens import load_secret
from .auth.users import UserError, UserStore
from .client import Cockpit, Limits
from .connection import make_handler
from .command_sink import CommandSender, CommandSink
from .dispatch_view import DispatchView, unit_rows
from .feed import KafkaFeed, run_feed
from .history_load import load_history
from .hub import AlertHub
from .kpi_load import run_kpis
from .layers import Layers
from .metrics import Metrics
from .pages import Gate, make_process_request, page_routes
from . import api

log = logging.getLogger("cockpit_api.server")

STATS_INTERVAL_S = 2.0
LAYERS_INTERVAL_S = 1.0


def read_processes(path: Path) -> dict[str, Any]:
    """The supervised processes and their restarts from the supervisor's status file
    (``{}`` without a supervisor; a file that is not a status is logged and shown as none)."""
    try:
        processes: dict[str, Any] = parse_status(orjson.loads(path.read_bytes()))["processes"]
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:  # a directory, unreadable, not a status  # StatusError and orjson's error are ValueErrors
        log.warning("ignoring %s: %s", path, exc)
        return {}
    return processes


async def _layers_ticker(hub: AlertHub, interval_s: float) -> None:
    """The map's layers go out batched: what changed in each, once per interval."""
    while True:
        await asyncio.sleep(interval_s)
        hub.flush_layers(int(time.time() * 1000))


async def _stats_ticker(hub: AlertHub, interval_s: float, status_file: Path) -> None:
    while True:
        await asyncio.sleep(interval_s)
        hub.processes = read_processes(status_file)
        hub.publish_stats()


async def serve(settings: Settings, hub: AlertHub, *, ready: asyncio.Event | None = None,
                stats_interval_s: float = STATS_INTERVAL_S,
                commands: CommandSender | None = None,
                audit: CommandSender | None = None, profile: CityProfile | None = None,
                feed: KafkaFeed | None = None, warehouse: Any = None,
                basemap: bytes | None = None, replay: Any = None) -> None:
    """Serve the cockpit on ``settings.cockpit_host:cockpit_port`` until cancelled; commands
    go to ``commands`` and audit records to ``audit`` (default: a :class:`CommandSink` on
    ``settings``' commands and audit topics, closed at exit). ``profile``: the city (default:
    ``settings.city``'s); ``feed``: the feed whose lag ``/metrics`` shows; ``warehouse``:
    what the API reads (default: ``settings``' ClickHouse); ``GET /basemap.json`` serves
    ``basemap`` (default: :func:`basemap_bytes` of ``settings``' city, built here once);
    ``replay``: the session of a replay cockpit (:mod:`cockpit_api.replay.server`)."""
    own: list[CommandSink] = []

    def sink(given: CommandSender | None, name: str) -> CommandSender:
        if given is not None:
            return given
        own.append(CommandSink(settings, name=name))
        return own[-1]

    trail = AuditTrail(sink(audit, "audit"))
    cap = ConnectionCap(settings.max_connections, settings.max_connections_per_user)
    auth = authenticator(settings)
    cockpit = Cockpit(hub, sink(commands, "commands"), auth, trail, cap,
                      Limits(settings.login_timeout_s, settings.command_rate_per_s,
                             settings.command_burst, settings.command_flood_refusals),
                      replay)
    gate = Gate(cap, settings.cockpit_origins)
    metrics = Metrics(hub, gate, feed.lag if feed is not None else None,
                      metrics_dir(settings.run_dir))
    routes = page_routes(hub.stats, basemap=basemap_bytes(settings) if basemap is None
                         else basemap)
    routes.add("/metrics", metrics.handler)
    api.install(routes, settings, profile or load_profile(settings.city), auth, hub,
                metrics.requests, warehouse)
    # max_size: a frame over it closes the connection (1009); between the command limit
    # (8 KiB) and this one the client gets a command_error instead
    async with ws_serve(make_handler(cockpit), settings.cockpit_host, settings.cockpit_port,
                        process_request=make_process_request(gate, routes),
                        ping_interval=20, ping_timeout=20, max_size=64 * 1024) as server:
        port = server.sockets[0].getsockname()[1] if server.sockets else settings.cockpit_port
        gate.bind(settings.cockpit_host, port)
        status_file = status_path(settings.run_dir)
        hub.processes = read_processes(status_file)
        tasks = [asyncio.create_task(_stats_ticker(hub, stats_interval_s, status_file)),
                 asyncio.create_task(_layers_ticker(hub, LAYERS_INTERVAL_S)),
                 asyncio.create_task(trail.run(), name="audit")]
        log.info("cockpit listening on http://%s:%d/ (websocket origins: %s)",
                 settings.cockpit_host, port, ", ".join(sorted(gate.allowed)))
        if ready is not None:
            ready.set()
        try:
            await asyncio.Future()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await trail.close()
            for s in own:
                await s.close()


def authenticator(settings: Settings) -> Authenticator:
    """Sign-ins against ``settings.users_path``; says loudly when nobody can sign in."""
    store = UserStore(settings.users_path)
    try:
        count = len(store.users())
    except UserError as exc:
        log.error("the users file cannot be read, nobody can sign in: %s", exc)
    else:
        if count:
            log.info("%d users may sign in (%s)", count, settings.users_path)
        else:
            log.warning("no users file at %s: nobody can sign in to the cockpit; add users "
                        "with `citycc user add NAME --role ...`", settings.users_path)
    return Authenticator(store, load_secret(settings.auth_secret, settings.run_dir),
                         ttl_s=settings.token_ttl_s,
                         throttle=LoginThrottle(settings.login_max_failures,
                                                settings.login_lockout_s))


def basemap_bytes(settings: Settings) -> bytes:
    """The city's base map as JSON bytes (``b""`` when it cannot be built: said loudly, and
    ``/basemap.json`` answers 503 while the rest of the cockpit works). Built once per city and
    fleet scale in a process (its sources are files that do not change while it runs)."""
    try:
        return _basemap_json(settings.city, settings.dispatch_scale)
    except Exception:   # the cockpit without its map is still a cockpit
        log.exception("cockpit: cannot build the base map; /basemap.json answers 503")
        return b""


@lru_cache(maxsize=4)
def _basemap_json(city: str, scale: float) -> bytes:
    from city.basemap import basemap
    from city.dispatch_config import registry_for
    profile = load_profile(city)
    return orjson.dumps(basemap(profile, registry_for(profile, scale)))


def map_layers(profile: CityProfile) -> Layers:
    """The map's layers for ``profile``: free-flow speeds from its road network (a segment's
    road), districts by its nearest-district lookup."""
    roads = load_roads(profile) or {"features": []}
    free = {str(f["properties"]["id"]): float(f["properties"]["speed_kmh"])
            for f in roads.get("features", ()) if f.get("properties", {}).get("kind") == "road"
            and isinstance(f["properties"].get("speed_kmh"), (int, float))}
    return Layers(free, profile.nearest_district)


def places_of(profile: CityProfile) -> dict[str, Any]:
    """The names the page shows for the city, its district codes and the units' home
    stations (hospitals, fire stations)."""
    return {"city": {"zh": profile.name_zh, "en": profile.name_en},
            "districts": {d.code: {"zh": d.zh, "en": d.en} for d in profile.districts},
            "stations": {f.id: {"zh": f.zh, "en": f.en}
                         for f in (*profile.hospitals, *profile.fire_stations)}}


def dispatch_view(settings: Settings, profile: CityProfile) -> DispatchView:
    """The unit board of the city's registry (the worker's board has the same units); an
    empty one when dispatch is off or its configuration cannot be read (said loudly)."""
    if not settings.dispatch_enabled:
        return DispatchView()
    try:
        from city.dispatch_config import registry_for
        return DispatchView(unit_rows(registry_for(profile, settings.dispatch_scale)))
    except Exception:   # the picture without the registry: units appear as they report
        log.exception("cockpit: cannot build the unit registry; the unit board shows only "
                      "the units the dispatch records name")
        return DispatchView()


async def run(settings: Settings) -> None:
    """Run the server and the Kafka feed until SIGINT/SIGTERM (``asyncio.run(run(s))``)."""
    logging.getLogger("websockets.server").setLevel(logging.WARNING)  # one line per request
    profile = load_profile(settings.city)
    hub = AlertHub(places=places_of(profile), dispatch=dispatch_view(settings, profile),
                   layers=map_layers(profile), queue_size=settings.cockpit_queue_size,
                   queue_bytes=settings.cockpit_queue_bytes,
                   ring_size=settings.cockpit_ring_size, ring_bytes=settings.cockpit_ring_bytes)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await load_history(settings, hub)   # before the feed: older than its backfill
    ready = asyncio.Event()
    feed = KafkaFeed(settings, hub)
    tasks = [asyncio.create_task(serve(settings, hub, ready=ready, profile=profile, feed=feed),
                                 name="cockpit-server"),
             asyncio.create_task(run_feed(settings, hub, feed=feed), name="feed"),
             asyncio.create_task(run_kpis(settings, profile, hub), name="kpis")]
    waiters = [asyncio.create_task(stop.wait()), asyncio.create_task(ready.wait())]
    try:
        await asyncio.wait([waiters[1], *tasks], return_when=asyncio.FIRST_COMPLETED)
        if ready.is_set():
            print(f"citycc cockpit: {settings.cockpit_url}  (feed and commands: "
                  f"{settings.topic_prefix}.* @ {settings.bootstrap})", flush=True)
        await asyncio.wait([waiters[0], *tasks], return_when=asyncio.FIRST_COMPLETED)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        for task in (*tasks, *waiters):
            task.cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
    for task, result in zip(tasks, results, strict=True):
        if isinstance(result, Exception):
            log.error("%s failed: %r", task.get_name(), result)
            raise result
    log.info("cockpit stopped")


if __name__ == "__main__":
    _settings = load_settings()
    logging.basicConfig(level=_settings.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(run(_settings))
