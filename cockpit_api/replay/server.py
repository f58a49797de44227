"""The replay cockpit: the live cockpit's server (:func:`cockpit_api.server.serve`: the same
page, sign-in, users file, protocol) on its own port, fed by a :class:`ReplayChannel`.

Isolated: nothing it does reaches a live topic. Operator commands go to the session
(:class:`ReadOnly` refuses them in a replay, :class:`DrillCommands` applies them in an
exercise), audit records to this process's log (:class:`LogAudit`), and no KPI task or
Kafka feed runs. Its snapshot carries the session (``"replay"``), so every page shows it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from citycc.settings import Settings

from ..errors import CommandRejected
from ..hub import AlertHub
from .channel import ReplayChannel
from .controls import READ_ONLY

log = logging.getLogger(__name__)

DEFAULT_PORT = 8766


@dataclass
class ReplayHub(AlertHub):
    """The hub of a replay cockpit: its snapshot names the session (``replay``:
    :meth:`ReplayChannel.state`), its map layers age on the session's event time."""

    session: Callable[[], dict[str, Any]] | None = field(default=None, repr=False)
    replay_ms: Callable[[], int] | None = field(default=None, repr=False)

    def snapshot(self) -> dict[str, Any]:
        snap = super().snapshot()
        if self.session is not None:
            snap["replay"] = self.session()
        return snap

    def flush_layers(self, now_ms: int) -> None:
        super().flush_layers(self.replay_ms() if self.replay_ms is not None else now_ms)


def attach(hub: ReplayHub, channel: ReplayChannel) -> None:
    """Let ``hub`` name ``channel``'s session in its snapshots."""
    hub.session, hub.replay_ms = channel.state, lambda: channel.at_ms


def _command_id(value: bytes) -> str | None:
    try:
        cid = orjson.loads(value).get("command_id")
    except (orjson.JSONDecodeError, AttributeError):
        return None
    return cid if isinstance(cid, str) else None


class ReadOnly:
    """A replay's command sender: every operator command is refused ``replay_read_only``."""

    async def send(self, key: str, value: bytes) -> None:
        raise CommandRejected(READ_ONLY, "", "this is a replay of what happened: commands "
                              "cannot change it", _command_id(value))


class DrillCommands:
    """An exercise's command sender: the command goes to the drill's pipeline
    (:meth:`ReplayChannel.command`), whose records come back through the hub -- just after
    the sender is answered ``command_queued``, as a live command's result comes after it."""

    def __init__(self, channel: ReplayChannel) -> None:
        self.channel = channel

    async def send(self, key: str, value: bytes) -> None:
        asyncio.get_running_loop().call_soon(self._apply, value)

    def _apply(self, value: bytes) -> None:
        try:
            self.channel.command(value)
        except Exception:  # noqa: BLE001 - the drill's bug: said loudly, the session goes on
            log.exception("exercise: the drill could not apply a command")


class LogAudit:
    """Where a replay cockpit's audit records go: its log (never the live audit topic)."""

    async def send(self, key: str, value: bytes) -> None:
        log.info("audit %s", value.decode("utf-8", "replace"))


def replay_settings(settings: Settings, port: int | None = None) -> Settings:
    """``settings`` with the replay cockpit's port (default :data:`DEFAULT_PORT`)."""
    return dataclasses.replace(settings, cockpit_port=DEFAULT_PORT if port is None else port)


async def serve_replay(settings: Settings, hub: ReplayHub, channel: ReplayChannel, *,
                       ready: asyncio.Event | None = None, basemap: bytes | None = None,
                       profile: Any = None, stats_interval_s: float = 2.0) -> None:
    """Serve ``channel``'s session on ``settings.cockpit_host:cockpit_port`` and play it,
    until it is stopped (a ``stop`` from a page) or cancelled."""
    from ..server import serve
    attach(hub, channel)
    commands = DrillCommands(channel) if channel.mode == "exercise" else ReadOnly()
    server = asyncio.create_task(serve(settings, hub, ready=ready, commands=commands,
                                       audit=LogAudit(), basemap=basemap, profile=profile,
                                       stats_interval_s=stats_interval_s, replay=channel),
                                 name="replay-cockpit")
    player = asyncio.create_task(channel.run(), name="replay-player")
    stopped = asyncio.create_task(channel.stopped.wait())
    try:
        await asyncio.wait([server, player, stopped], return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (server, player, stopped):
            task.cancel()
        results = await asyncio.gather(server, player, stopped, return_exceptions=True)
    for result in results:
        if isinstance(result, Exception):
            raise result
