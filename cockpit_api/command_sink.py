"""Valid commands -> the ``commands`` topic, and the reply to the client who sent them.

The producer connects lazily (on the first command) and in the background, retrying with the
feed's capped backoff; a command wakes a sleeping retry at once. A command that cannot be
handed to the broker within ``connect_wait_s`` (not connected) or ``send_timeout_s`` (no ack)
is answered ``unavailable`` -- never a hang. ``unavailable`` means *not confirmed*: a send
that timed out may still land, so a client resends with the same ``command_id`` (the worker
applies a command id once).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import orjson
from aiokafka import AIOKafkaProducer

from citycc.settings import Settings

from .commands import CommandRejected, ValidCommand, parse_client_message
from .errors import CommandsUnavailable
from .feed import BACKOFF_INITIAL_S, next_backoff

log = logging.getLogger(__name__)

CONNECT_WAIT_S = 2.0
SEND_TIMEOUT_S = 5.0


class CommandSender(Protocol):
    """Puts one command on the commands topic or raises :class:`CommandsUnavailable`."""

    async def send(self, key: str, value: bytes) -> None: ...


class CommandSink:
    """A lazily connected aiokafka producer for ``settings.topic(name)`` (the commands topic;
    the cockpit's audit trail uses one for ``audit``)."""

    def __init__(self, settings: Settings, *, connect_wait_s: float = CONNECT_WAIT_S,
                 send_timeout_s: float = SEND_TIMEOUT_S, name: str = "commands") -> None:
        self.settings, self.topic = settings, settings.topic(name)
        self.connect_wait_s, self.send_timeout_s = connect_wait_s, send_timeout_s
        self.state = "idle"   # idle | connecting | connected | retrying | closed
        self.last_error = ""
        self._producer: AIOKafkaProducer | None = None
        self._connected = asyncio.Event()
        self._wake = asyncio.Event()
        self._connector: asyncio.Task[None] | None = None
        self._stopping: set[asyncio.Task[None]] = set()

    async def send(self, key: str, value: bytes) -> None:
        producer = await self._ready()
        try:
            async with asyncio.timeout(self.send_timeout_s):
                await producer.send_and_wait(self.topic, value, key=key.encode())
        except Exception as exc:  # noqa: BLE001 - timeout or any broker error: not confirmed
            why = "no acknowledgement" if isinstance(exc, TimeoutError) else repr(exc)
            self._broken(producer, why)
            raise CommandsUnavailable(
                f"the broker did not confirm the command within {self.send_timeout_s:g}s "
                f"({why}); resend it with the same command_id") from exc

    async def close(self) -> None:
        self.state = "closed"
        if self._connector is not None:
            self._connector.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._connector
        if self._producer is not None:
            await self._stop(self._producer)
            self._producer = None

    async def _ready(self) -> AIOKafkaProducer:
        if self.state == "closed":
            raise CommandsUnavailable("the cockpit is shutting down")
        if self._producer is not None:
            return self._producer
        if self._connector is None or self._connector.done():
            self._connector = asyncio.create_task(self._connect(), name="commands-producer")
        self._wake.set()
        try:
            async with asyncio.timeout(self.connect_wait_s):
                await self._connected.wait()
        except TimeoutError:
            raise CommandsUnavailable(
                f"the broker at {self.settings.bootstrap} is not reachable"
                f"{': ' + self.last_error if self.last_error else ''}; the command was not "
                f"sent") from None
        assert self._producer is not None
        return self._producer

    async def _connect(self) -> None:
        delay = BACKOFF_INITIAL_S
        while self._producer is None:
            self._wake.clear()
            self.state = "connecting"
            producer = AIOKafkaProducer(bootstrap_servers=self.settings.bootstrap,
                                        client_id=f"citycc-cockpit-{self.topic}", acks="all",
                                        max_request_size=self.settings.broker_message_max_bytes,
                                        request_timeout_ms=int(self.send_timeout_s * 1000))
            try:
                await producer.start()
            except Exception as exc:  # noqa: BLE001 - any broker/network error: retry
                self.state, self.last_error = "retrying", str(exc) or type(exc).__name__
                log.warning("%s producer: %s; retrying in %.1fs", self.topic, self.last_error,
                            delay)
                await self._stop(producer)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await self._wake.wait()  # a command retries at once
                delay = next_backoff(delay)
                continue
            self._producer, self.state, self.last_error = producer, "connected", ""
            self._connected.set()
            log.info("%s producer connected to %s", self.topic, self.settings.bootstrap)

    def _broken(self, producer: AIOKafkaProducer, why: str) -> None:
        """Forget a producer that failed a send; the next command connects afresh."""
        if self._producer is producer:
            self._producer, self.state, self.last_error = None, "retrying", why
            self._connected.clear()
            task = asyncio.get_running_loop().create_task(self._stop(producer))
            self._stopping.add(task)
            task.add_done_callback(self._stopping.discard)

    @staticmethod
    async def _stop(producer: AIOKafkaProducer) -> None:
        try:
            await producer.stop()
        except Exception:  # noqa: BLE001
            log.debug("commands producer: stop failed", exc_info=True)


@dataclass(frozen=True)
class Outcome:
    """What became of one client frame: the reply to its sender, and the valid command it
    held (None: it held none)."""

    reply: dict[str, Any]
    command: ValidCommand | None = None


async def forward(raw: str | bytes, sender: CommandSender, now_ms: int, *,
                  actor: str | None = None,
                  check: Callable[[dict[str, Any]], None] | None = None) -> Outcome:
    """One client frame -> the commands topic: ``command_queued`` once the broker has it,
    else ``command_error`` (a bad command, one ``check`` refuses, or ``unavailable``).
    ``actor``: the signed-in user (see :func:`~cockpit_api.commands.parse_client_message`)."""
    try:
        valid = parse_client_message(raw, now_ms, actor)
    except CommandRejected as exc:
        return Outcome(exc.to_message())
    except Exception as exc:  # noqa: BLE001 - a bug must not cost the client its connection
        log.exception("command validation failed")
        return Outcome(CommandRejected("internal", "", f"the cockpit could not check it: "
                                                       f"{exc!r}").to_message())
    try:
        if check is not None:
            check(valid.command)
        await sender.send(valid.key, orjson.dumps(valid.command))
    except CommandRejected as exc:
        return Outcome(exc.to_message(), valid)
    except CommandsUnavailable as exc:
        return Outcome(CommandRejected("unavailable", "", str(exc), valid.command_id
                                       ).to_message(), valid)
    return Outcome({"type": "command_queued", "command_id": valid.command_id,
                    "action": valid.command["action"], "at": valid.command["at"]}, valid)


async def submit(raw: str | bytes, sender: CommandSender, now_ms: int) -> dict[str, Any]:
    """One client frame -> the reply to its sender (:func:`forward` without a user)."""
    return (await forward(raw, sender, now_ms)).reply
