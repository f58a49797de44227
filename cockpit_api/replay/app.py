"""``citycc replay serve``'s work: a window's timeline computed once (the warehouse's events
through a :class:`replay.engine.Replayer` as fast as possible), then the replay cockpit
serving it until a page ends it or SIGINT/SIGTERM (:func:`serve_session`, which an
exercise's cockpit shares: ``ReplayChannel.exercise`` in its ``make_channel``).

The timeline is held in memory (a one-hour city-wide window: tens of thousands of records);
the events are read in bounded slices (:func:`warehouse.replay_read.read_window`).
"""

from __future__ import annotations

import asyncio
import errno
import logging
import signal
import socket
import threading
from collections.abc import Callable
from typing import Any

from citycc.settings import Settings
from replay.timeline import OutRecord

from .channel import ReplayChannel
from .server import ReplayHub, serve_replay

log = logging.getLogger(__name__)


class PortBusy(Exception):
    """The session cockpit's port is taken (another replay or drill cockpit, or anything)."""

    def __init__(self, host: str, port: int) -> None:
        super().__init__(f"{host}:{port} is in use")
        self.host, self.port = host, port

    def message(self, lang: str) -> str:
        if lang == "zh":
            return (f"端口 {self.host}:{self.port} 已被占用（可能已有回放或演练指挥台）；"
                    f"请用 --port 另选端口")
        return (f"port {self.host}:{self.port} is in use (another replay or exercise "
                f"cockpit?); choose another with --port")


def check_port(host: str, port: int) -> None:
    """Raise :class:`PortBusy` now when ``host:port`` cannot be listened on (before a
    long replay is computed for a cockpit that could not start)."""
    try:
        with socket.create_server((host, port)):
            pass
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
        raise PortBusy(host, port) from exc


def timeline_of(settings: Settings, setup: Any, window: Any, *, tail_ms: int = 0,
                progress: bool = True, session_id: str | None = None,
                write_db: bool = True) -> tuple[list[OutRecord], dict[str, Any]]:
    """Every record the window's replay produces, in order (``tail_ms``: event time ticked
    past its end with no input), and the session's summary: the headless session
    (:func:`replay.session.run_session`, as fast as possible), which also writes the
    session's own database (what the replay cockpit's ``/api`` reads)."""
    from replay.session import run_session
    records: list[OutRecord] = []
    summary = run_session(settings, setup, window, session_id=session_id, speed=None,
                          write_db=write_db, progress=progress, tail_ms=tail_ms,
                          on_records=records.extend)
    return records, summary


def city_hub(settings: Settings, profile: Any) -> ReplayHub:
    """A replay cockpit's hub for the city of ``profile``: its places, unit board and map
    layers, and ``settings``' client limits (as the live cockpit's)."""
    from ..server import dispatch_view, map_layers, places_of
    return ReplayHub(places=places_of(profile), dispatch=dispatch_view(settings, profile),
                     layers=map_layers(profile), queue_size=settings.cockpit_queue_size,
                     queue_bytes=settings.cockpit_queue_bytes,
                     ring_size=settings.cockpit_ring_size, ring_bytes=settings.cockpit_ring_bytes)


async def serve_session(settings: Settings, make_channel: Callable[[ReplayHub], ReplayChannel],
                        what: str = "") -> None:
    """A replay (or exercise) cockpit on ``settings.cockpit_port``: the city's hub, the
    channel ``make_channel`` builds on it; until a page ends the session or the process is
    told to stop (SIGINT/SIGTERM, when on the main thread). ``what``: said with its URL."""
    from city.profile import load_profile
    logging.getLogger("websockets.server").setLevel(logging.WARNING)
    profile = load_profile(settings.city)
    hub = city_hub(settings, profile)
    channel = make_channel(hub)
    loop = asyncio.get_running_loop()
    ready = asyncio.Event()
    task = asyncio.create_task(serve_replay(settings, hub, channel, ready=ready,
                                            profile=profile, kpis=True))
    signals = (signal.SIGINT, signal.SIGTERM) if \
        threading.current_thread() is threading.main_thread() else ()
    for sig in signals:
        loop.add_signal_handler(sig, task.cancel)
    try:
        waiter = asyncio.create_task(ready.wait())
        await asyncio.wait([waiter, task], return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        if ready.is_set():
            print(f"citycc {channel.mode} cockpit: {settings.cockpit_url}  ({what}; end it "
                  f"from the page or with Ctrl-C)", flush=True)
        await task
    except asyncio.CancelledError:
        pass
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
        raise PortBusy(settings.cockpit_host, settings.cockpit_port) from exc
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)


async def run(settings: Settings, records: list[OutRecord], start_ms: int, end_ms: int, *,
              speed: float | None = 1.0, paused: bool = True, label: str = "") -> None:
    """The replay cockpit of ``records`` (:func:`serve_session`)."""
    def channel(hub: ReplayHub) -> ReplayChannel:
        return ReplayChannel.replay(hub, records, start_ms, end_ms, speed=speed,
                                    paused=paused, label=label)
    await serve_session(settings, channel, f"{len(records)} records")
