"""The async warehouse sink: inserts that wait out a ClickHouse outage instead of dropping.

:meth:`Warehouse.insert` runs the blocking clickhouse-driver call on one dedicated thread
(``Client`` is not thread-safe) and retries transient failures with capped exponential
backoff until it succeeds or :meth:`Warehouse.close` is called. The awaiting caller is the
backpressure: a stream stops consuming while ClickHouse is down. A retried insert that
had in fact landed leaves a duplicate, which ReplacingMergeTree + FINAL collapse.
Non-retryable errors raise :class:`PermanentInsertError` at once (the caller dead-letters).
The policy (:func:`classify`, :class:`Backoff`, :func:`retry`) is pure and injectable.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Mapping, Sequence, TypeVar

from clickhouse_driver import Client
from clickhouse_driver import errors as ch

from citycc.settings import Settings

from .client import WarehouseError, check_identifier, connect
from .migrate import Migration, migrate
from .rows import Columns, columns_len, to_columns

log = logging.getLogger(__name__)
T = TypeVar("T")
C = ch.ErrorCodes

# Server/driver error codes worth retrying: the same request can succeed later.
TRANSIENT_CODES = frozenset({
    C.UNEXPECTED_END_OF_FILE, C.CANNOT_READ_FROM_ISTREAM, C.CANNOT_WRITE_TO_OSTREAM,
    C.ATTEMPT_TO_READ_AFTER_EOF, C.CANNOT_READ_ALL_DATA, C.CHECKSUM_DOESNT_MATCH,
    159,  # TIMEOUT_EXCEEDED
    160,  # TOO_SLOW
    173,  # CANNOT_ALLOCATE_MEMORY
    198,  # DNS_ERROR
    201,  # QUOTA_EXPIRED
    202,  # TOO_MANY_SIMULTANEOUS_QUERIES
    203,  # NO_FREE_CONNECTION
    C.SOCKET_TIMEOUT, C.NETWORK_ERROR,
    218,  # TABLE_IS_DROPPED (being recreated)
    225,  # NO_ZOOKEEPER
    236,  # ABORTED
    241,  # MEMORY_LIMIT_EXCEEDED
    242,  # TABLE_IS_READ_ONLY
    243,  # NOT_ENOUGH_SPACE
    252,  # TOO_MANY_PARTS (merges behind)
    279,  # ALL_CONNECTION_TRIES_FAILED
    319,  # UNKNOWN_STATUS_OF_INSERT
    394,  # QUERY_WAS_CANCELLED (server shutting down)
    425,  # SYSTEM_ERROR
    999,  # KEEPER_EXCEPTION
})
# The table or database is gone (dropped by hand): re-run migrations, then retry.
MISSING_SCHEMA_CODES = frozenset({C.UNKNOWN_TABLE, C.UNKNOWN_DATABASE})
_TRANSIENT_TYPES = (OSError, EOFError, ch.NetworkError, ch.SocketTimeoutError,
                    ch.UnexpectedPacketFromServerError, ch.UnknownPacketFromServerError,
                    ch.PartiallyConsumedQueryError)


class PermanentInsertError(WarehouseError):
    """The server (or the driver) rejected the rows themselves; retrying cannot help."""

    def __init__(self, table: str, rows: int, cause: BaseException) -> None:
        super().__init__(f"insert of {rows} rows into {table} failed permanently: {cause!r}")
        self.table, self.rows, self.cause = table, rows, cause


class WarehouseClosed(WarehouseError):
    """The warehouse was closed while an operation waited; nothing was (knowingly) written."""


class ErrorKind(enum.Enum):
    TRANSIENT = "transient"
    MISSING_SCHEMA = "missing_schema"
    PERMANENT = "permanent"


def classify(exc: BaseException) -> ErrorKind:
    """Whether ``exc`` from a ClickHouse call is worth retrying (pure)."""
    if isinstance(exc, _TRANSIENT_TYPES):
        return ErrorKind.TRANSIENT
    code = exc.code if isinstance(exc, ch.Error) else None
    if code in MISSING_SCHEMA_CODES:
        return ErrorKind.MISSING_SCHEMA
    if code == 252 and "max_partitions_per_insert_block" in str(exc):
        return ErrorKind.PERMANENT  # the batch spans too many days: retrying cannot help
    if code in TRANSIENT_CODES:
        return ErrorKind.TRANSIENT
    return ErrorKind.PERMANENT


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff: ``initial_s * factor**(n-1)`` after the n-th failure, capped."""

    initial_s: float = 0.1
    max_s: float = 30.0
    factor: float = 2.0

    def delay(self, failures: int) -> float:
        if failures < 1:
            return 0.0
        return min(self.max_s, self.initial_s * self.factor ** min(failures - 1, 64))


async def retry(attempt: Callable[[], Awaitable[T]], *, what: str, backoff: Backoff,
                sleep: Callable[[float], Awaitable[Any]],
                is_closed: Callable[[], bool] = lambda: False,
                on_error: Callable[[BaseException, ErrorKind], None] | None = None,
                deadline: float | None = None, clock: Callable[[], float] = time.monotonic,
                classify: Callable[[BaseException], ErrorKind] = classify) -> T:
    """Await ``attempt()`` until it succeeds, sleeping ``backoff`` between failures.

    A permanent error is re-raised at once; :class:`WarehouseClosed` once ``is_closed()``;
    :class:`WarehouseError` when the next try would start after ``deadline`` (``clock``).
    """
    failures = 0
    while True:
        if is_closed():
            raise WarehouseClosed(f"{what}: warehouse closed after {failures} failed attempts")
        try:
            return await attempt()
        except WarehouseClosed:
            raise
        except Exception as exc:
            kind = classify(exc)
            if on_error is not None:
                on_error(exc, kind)
            if kind is ErrorKind.PERMANENT:
                raise
            failures += 1
            delay = backoff.delay(failures)
            if deadline is not None and clock() + delay > deadline:
                raise WarehouseError(f"{what}: gave up after {failures} attempts: "
                                     f"{exc!r}") from exc
            log.warning("%s failed (attempt %d, %s): %r; retrying in %.2f s",
                        what, failures, kind.value, exc, delay)
        await sleep(delay)


@dataclass
class SinkCounters:
    inserts: int = 0
    rows_inserted: int = 0
    retries: int = 0
    permanent_failures: int = 0


class Warehouse:
    """Connection, migrations and retried inserts for one process (create inside a loop)."""

    def __init__(self, settings: Settings, *, backoff: Backoff | None = None,
                 migrations: Sequence[Migration] | None = None) -> None:
        self.settings = settings
        self.database = check_identifier(settings.clickhouse.database)
        self.backoff = backoff or Backoff(max_s=settings.sink_retry_max_s)
        self.counters = SinkCounters()
        self._migrations = migrations
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="warehouse")
        self._client: Client | None = None
        self._closed = asyncio.Event()
        self._needs_migrate = True
        self._schema_lost = False

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    async def start(self, deadline_s: float = 60.0) -> None:
        """Connect and migrate, retrying while ClickHouse is unreachable for ``deadline_s``."""
        try:
            await retry(self._ensure_schema, what="warehouse start", backoff=self.backoff,
                        sleep=self._sleep, is_closed=lambda: self.closed,
                        deadline=time.monotonic() + deadline_s)
        except WarehouseError:
            raise
        except Exception as exc:
            raise WarehouseError(f"warehouse start failed: {exc!r}") from exc

    async def insert(self, table: str, rows: Sequence[Mapping[str, Any]] | Columns) -> int:
        """Insert row dicts or a columnar batch into ``table``; return the row count.

        Waits (retrying) through transient failures; raises :class:`PermanentInsertError`
        for rows the server rejects and :class:`WarehouseClosed` after :meth:`close`.
        """
        try:
            check_identifier(table)
            columns = (rows if isinstance(rows, Mapping)
                       else await self._call(to_columns, table, rows))
            for name in columns:
                check_identifier(name)
        except (KeyError, TypeError, ValueError, WarehouseError) as exc:
            self.counters.permanent_failures += 1
            count = columns_len(rows) if isinstance(rows, Mapping) else len(rows)
            raise PermanentInsertError(table, count, exc) from exc
        n = columns_len(columns)
        if n == 0:
            return 0
        sql = f"INSERT INTO {self.database}.{table} ({', '.join(columns)}) VALUES"
        data = list(columns.values())

        async def attempt() -> None:
            await self._ensure_schema()
            await self._call(self._execute, sql, data)

        try:
            await retry(attempt, what=f"insert of {n} rows into {table}",
                        backoff=self.backoff, sleep=self._sleep,
                        is_closed=lambda: self.closed, on_error=self._on_error)
        except WarehouseError:
            raise
        except Exception as exc:
            self.counters.permanent_failures += 1
            raise PermanentInsertError(table, n, exc) from exc
        self.counters.inserts += 1
        self.counters.rows_inserted += n
        return n

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn(client, *args, **kwargs)`` on the warehouse thread (e.g. a :mod:`queries` call)."""
        return await self._call(lambda: fn(self._get_client(), *args, **kwargs))

    async def close(self) -> None:
        """Stop retrying, disconnect and release the thread (idempotent)."""
        if self.closed:
            return
        self._closed.set()
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._executor, self._disconnect)
        finally:
            self._executor.shutdown(wait=False)

    # --- internals (the _execute/_migrate/_disconnect functions run on the executor thread)
    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        if self.closed:
            raise WarehouseClosed("warehouse closed")
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def _sleep(self, delay: float) -> None:
        try:
            await asyncio.wait_for(self._closed.wait(), timeout=delay)
        except asyncio.TimeoutError:
            pass

    async def _ensure_schema(self) -> None:
        if self._needs_migrate:
            await self._call(self._migrate, self._schema_lost)
            self._needs_migrate = self._schema_lost = False

    def _on_error(self, exc: BaseException, kind: ErrorKind) -> None:
        if kind is not ErrorKind.PERMANENT:
            self.counters.retries += 1
        if kind is ErrorKind.MISSING_SCHEMA:
            self._needs_migrate = self._schema_lost = True

    def _get_client(self) -> Client:
        if self._client is None:
            self._client = connect(self.settings)
        return self._client

    def _migrate(self, reapply: bool = False) -> None:
        boot = connect(self.settings, database="default")
        try:
            applied = migrate(boot, self.database, self._migrations, reapply=reapply)
        finally:
            boot.disconnect()
        if applied:
            log.info("warehouse %s: applied migrations %s", self.database, applied)

    def _execute(self, sql: str, data: list[list[Any]]) -> Any:
        return self._get_client().execute(sql, data, columnar=True)

    def _disconnect(self) -> None:
        if self._client is not None:
            self._client.disconnect()
