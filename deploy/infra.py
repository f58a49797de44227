"""Bring the project-local services up and down: ``citycc infra up|down|status``."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol, TypedDict

from citycc.settings import Settings
from deploy import broker, clickhouse, procs
from deploy.procs import DeployError

log = logging.getLogger(__name__)


class _Service(Protocol):
    """What :mod:`deploy.broker` and :mod:`deploy.clickhouse` provide."""

    def pidfile(self, settings: Settings) -> Path: ...
    def logfile(self, settings: Settings) -> Path: ...
    def address(self, settings: Settings) -> str: ...
    def healthy(self, settings: Settings, timeout: float = ...) -> bool: ...
    def start(self, settings: Settings, timeout: float = ...) -> int: ...
    def stop(self, settings: Settings, timeout: float = ...) -> int | None: ...


class ServiceStatus(TypedDict):
    managed: bool        # True: project-local, started by citycc; False: external
    running: bool        # local: our recorded process is alive; external: same as healthy
    healthy: bool        # Kafka metadata request / ClickHouse SELECT 1 succeeded
    pid: int | None
    address: str
    log: str | None


def _services(settings: Settings) -> list[tuple[str, _Service, bool]]:
    """(name, module, runs locally) in start order."""
    return [("broker", broker, settings.local_broker),
            ("clickhouse", clickhouse, settings.local_clickhouse)]


def up(settings: Settings, timeout: float = 60.0) -> dict[str, ServiceStatus]:
    """Start the local services that are not running (reusing healthy ones); wait for health.

    External services (``CITYCC_KAFKA_BOOTSTRAP`` / ``CITYCC_CLICKHOUSE_URL`` set) are skipped.
    """
    for name, service, local in _services(settings):
        if local:
            service.start(settings, timeout)
        else:
            log.info("%s is external (%s): not starting it", name, service.address(settings))
    return status(settings)


def down(settings: Settings, timeout: float = 30.0) -> dict[str, int | None]:
    """Stop every service citycc started in ``settings.run_dir``; name -> stopped PID or None.

    Tries all services even if one fails, then raises the first failure.
    """
    stopped: dict[str, int | None] = {}
    errors: list[DeployError] = []
    for name, service, _local in reversed(_services(settings)):
        try:
            stopped[name] = service.stop(settings, timeout)
        except DeployError as exc:
            errors.append(exc)
            stopped[name] = None
    if errors:
        raise DeployError(f"could not stop every service: {errors[0]}") from errors[0]
    return stopped


def status(settings: Settings, timeout: float = 2.0) -> dict[str, ServiceStatus]:
    """Running/healthy state, PID, address and log path of each service."""
    result: dict[str, ServiceStatus] = {}
    for name, service, local in _services(settings):
        if local:
            pid = procs.running_pid(service.pidfile(settings))
            healthy = pid is not None and service.healthy(settings, timeout)
            result[name] = ServiceStatus(managed=True, running=pid is not None,
                                         healthy=healthy, pid=pid,
                                         address=service.address(settings),
                                         log=str(service.logfile(settings)))
        else:
            healthy = service.healthy(settings, timeout)
            result[name] = ServiceStatus(managed=False, running=healthy, healthy=healthy,
                                         pid=None, address=service.address(settings), log=None)
    return result


@contextmanager
def running(settings: Settings, timeout: float = 60.0) -> Iterator[dict[str, ServiceStatus]]:
    """``up`` on entry, ``down`` on exit (also when ``up`` or the body fails)."""
    try:
        yield up(settings, timeout)
    finally:
        down(settings)
