"""ClickHouse connections built from :class:`~citycc.settings.Settings`.

A ``clickhouse_driver.Client`` holds one connection and is not thread-safe: give each
thread its own, or use one from a single thread (:class:`warehouse.sink.Warehouse` does).
"""

from __future__ import annotations

import re
import time
from typing import Any

from clickhouse_driver import Client

from citycc.settings import Settings

CONNECT_TIMEOUT_S = 3.0
# Longest a query may stall on the socket before it counts as a (transient) failure.
SEND_RECEIVE_TIMEOUT_S = 60.0
SYNC_REQUEST_TIMEOUT_S = 5.0
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class WarehouseError(Exception):
    """Root of every error the warehouse package raises."""


def check_identifier(name: str) -> str:
    """Return ``name`` if it is a plain SQL identifier (database/table names are spliced)."""
    if not _IDENTIFIER.match(name):
        raise WarehouseError(f"{name!r} is not a valid ClickHouse identifier")
    return name


def connect(settings: Settings, *, database: str | None = None) -> Client:
    """A lazily connecting client; ``database`` defaults to the citycc database.

    Pass ``database="default"`` to talk to a server where the citycc database does not
    exist yet (migrations do).
    """
    addr = settings.clickhouse
    return Client(
        host=addr.host, port=addr.port, user=addr.user, password=addr.password,
        database=check_identifier(database or addr.database),
        connect_timeout=CONNECT_TIMEOUT_S, send_receive_timeout=SEND_RECEIVE_TIMEOUT_S,
        sync_request_timeout=SYNC_REQUEST_TIMEOUT_S,
        client_name="citycc-warehouse",
    )


def query(settings: Settings, sql: str) -> list[tuple[Any, ...]]:
    """Rows of one query on a client of its own (tools, tests, benchmarks; not a hot path)."""
    client = connect(settings)
    try:
        return list(client.execute(sql))
    finally:
        client.disconnect()


def server_version(client: Client) -> str:
    """The server's ``version()`` string, e.g. ``18.16.1``."""
    return str(client.execute("SELECT version()")[0][0])


def wait_ready(settings: Settings, deadline_s: float = 30.0, *, interval_s: float = 0.2) -> str:
    """Block until ClickHouse answers a query; return its version.

    Gives up after ``deadline_s`` seconds with :class:`WarehouseError` naming the last error.
    Connects to ``default``, so it works before migrations have created the database.
    """
    give_up = time.monotonic() + deadline_s
    last: BaseException | None = None
    client = connect(settings, database="default")
    try:
        while True:
            try:
                return server_version(client)
            except Exception as exc:  # noqa: BLE001 - any failure means "not ready yet"
                last = exc
            if time.monotonic() + interval_s > give_up:
                addr = settings.clickhouse
                raise WarehouseError(f"ClickHouse at {addr.host}:{addr.port} not ready after "
                                     f"{deadline_s:.1f} s: {last!r}") from last
            time.sleep(interval_s)
    finally:
        client.disconnect()
