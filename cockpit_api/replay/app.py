"""``citycc replay serve``'s work: a window's timeline computed once (the warehouse's events
through a :class:`replay.engine.Replayer` as fast as possible), then the replay cockpit
serving it until a page ends it or SIGINT/SIGTERM (:func:`serve_session`, which an
exercise's cockpit shares: ``ReplayChannel.exercise`` in its ``make_channel``).

The timeline is held in memory (a one-hour city-wide window: tens of thousands of records);
the events are read in bounded slices (:func:`warehouse.replay_read.read_window`).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import Callable
from typing import Any

from citycc.settings import Settings
from replay.timeline import OutRecord

from .channel import ReplayChannel
from .server import ReplayHub, serve_replay

log = logging.getLogger(__name__)


def timeline_of(settings: Settings, setup: Any, window: Any, *, tail_ms: int = 0,
                progress: bool = True) -> list[OutRecord]:
    """Every record the window's replay produces, in order (``tail_ms``: event time ticked
    past its end with no input)."""
    from replay.engine import Replayer
    from warehouse.client import connect
    from warehouse.replay_read import count_events, read_window
    live = settings.clickhouse.database
    client = connect(settings)
    try:
        bar = None
        if progress:
            from tqdm import tqdm
            bar = tqdm(total=count_events(client, live, window), unit="ev", unit_scale=True,
                       desc="replay", mininterval=0.5, disable=None)
        replayer = Replayer(setup, window.start_ms)
        records: list[OutRecord] = []
        for stream, events, times in read_window(client, live, window):
            records += replayer.feed(stream, events, times)
            if bar is not None:
                bar.update(len(events))
        records += replayer.advance(window.end_ms + tail_ms)
        if bar is not None:
            bar.close()
    finally:
        client.disconnect()
    return records


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
                                            profile=profile))
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
