"""warehouse.sink: error classification, backoff policy and the retry loop, without a server."""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Any

import pytest
from clickhouse_driver import errors as ch

from citycc.settings import Settings
from warehouse.client import WarehouseError
from warehouse.sink import (Backoff, ErrorKind, PermanentInsertError, Warehouse,
                            WarehouseClosed, classify, retry)

T, M, P = ErrorKind.TRANSIENT, ErrorKind.MISSING_SCHEMA, ErrorKind.PERMANENT


def server_error(code: int) -> ch.ServerException:
    return ch.ServerException(f"DB::Exception: code {code}", code)


@pytest.mark.parametrize(("exc", "kind"), [
    (ch.NetworkError("Code: 210. Connection refused (127.0.0.1:9000)"), T),
    (ch.SocketTimeoutError("Code: 209. timed out"), T),
    (ConnectionRefusedError(111, "refused"), T),
    (ConnectionResetError(104, "reset by peer"), T),
    (BrokenPipeError(32, "broken pipe"), T),
    (socket.timeout("timed out"), T),
    (EOFError("Unexpected EOF while reading bytes"), T),
    (ch.UnexpectedPacketFromServerError("unexpected packet"), T),
    (server_error(159), T),   # TIMEOUT_EXCEEDED
    (server_error(202), T),   # TOO_MANY_SIMULTANEOUS_QUERIES
    (server_error(241), T),   # MEMORY_LIMIT_EXCEEDED
    (server_error(252), T),   # TOO_MANY_PARTS (merges are behind)
    (ch.ServerException("Too many partitions for single INSERT block (more than 100). The "
                        "limit is controlled by 'max_partitions_per_insert_block' setting",
                        252), P),
    (server_error(394), T),   # QUERY_WAS_CANCELLED (shutdown)
    (server_error(60), M),    # UNKNOWN_TABLE
    (server_error(81), M),    # UNKNOWN_DATABASE
    (server_error(53), P),    # TYPE_MISMATCH
    (server_error(16), P),    # NO_SUCH_COLUMN_IN_TABLE
    (server_error(27), P),    # CANNOT_PARSE_INPUT_ASSERTION_FAILED
    (server_error(62), P),    # SYNTAX_ERROR
    (server_error(516), P),   # AUTHENTICATION_FAILED: an operator must act
    (ch.TypeMismatchError("Code: 53. Type mismatch in VALUES section"), P),
    (UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed"), P),
    (ValueError("bad"), P),
    (TypeError("bad"), P),
    (AttributeError("'NoneType' object has no attribute 'encode'"), P),
])
def test_classify(exc: BaseException, kind: ErrorKind) -> None:
    assert classify(exc) is kind


def test_backoff_doubles_and_caps() -> None:
    b = Backoff(initial_s=0.1, max_s=1.0, factor=2.0)
    assert [b.delay(n) for n in range(0, 7)] == [0.0, 0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
    assert b.delay(10_000) == 1.0  # no overflow after a day of retries
    assert Backoff(max_s=30.0).delay(100) == 30.0


class Fake:
    """An attempt function failing with the given exceptions, then returning ``result``."""

    def __init__(self, *failures: BaseException, result: Any = "done") -> None:
        self.failures = list(failures)
        self.calls = 0
        self.result = result

    async def __call__(self) -> Any:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return self.result


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


BACKOFF = Backoff(initial_s=0.5, max_s=3.0)


def test_retry_backs_off_until_success(caplog: pytest.LogCaptureFixture) -> None:
    attempt = Fake(*[ch.NetworkError("down")] * 6)
    sleeps = Sleeps()
    seen: list[ErrorKind] = []
    with caplog.at_level(logging.WARNING, logger="warehouse.sink"):
        result = asyncio.run(retry(attempt, what="insert", backoff=BACKOFF, sleep=sleeps,
                                   on_error=lambda e, k: seen.append(k)))
    assert result == "done" and attempt.calls == 7
    assert sleeps.delays == [0.5, 1.0, 2.0, 3.0, 3.0, 3.0]
    assert seen == [T] * 6
    assert [r.getMessage().split(" (attempt ")[1][0] for r in caplog.records] == list("123456")


def test_retry_raises_permanent_error_at_once() -> None:
    attempt = Fake(ch.NetworkError("down"), server_error(53))
    sleeps = Sleeps()
    with pytest.raises(ch.ServerException):
        asyncio.run(retry(attempt, what="insert", backoff=BACKOFF, sleep=sleeps))
    assert attempt.calls == 2 and sleeps.delays == [0.5]


def test_retry_stops_when_closed() -> None:
    closed = False
    sleeps = Sleeps()

    async def sleep(delay: float) -> None:
        nonlocal closed
        await sleeps(delay)
        closed = len(sleeps.delays) == 3

    attempt = Fake(*[ch.NetworkError("down")] * 100)
    with pytest.raises(WarehouseClosed):
        asyncio.run(retry(attempt, what="insert", backoff=BACKOFF, sleep=sleep,
                          is_closed=lambda: closed))
    assert attempt.calls == 3


def test_retry_gives_up_at_deadline() -> None:
    now = [100.0]

    async def sleep(delay: float) -> None:
        now[0] += delay

    attempt = Fake(*[OSError("refused")] * 100)
    with pytest.raises(WarehouseError) as info:
        asyncio.run(retry(attempt, what="start", backoff=BACKOFF, sleep=sleep,
                          deadline=110.0, clock=lambda: now[0]))
    assert not isinstance(info.value, WarehouseClosed)
    # Waits 0.5+1+2+3+3 = 9.5 s; the next 3 s wait would end after the deadline.
    assert attempt.calls == 6 and now[0] == 109.5


# --- Warehouse.insert with the blocking call and the sleep replaced --------------------

class FakeWarehouse(Warehouse):
    def __init__(self, *failures: BaseException) -> None:
        super().__init__(Settings(sink_retry_max_s=0.04),
                         backoff=Backoff(initial_s=0.01, max_s=0.04))
        self.failures = list(failures)
        self.executed: list[tuple[str, list[list[Any]]]] = []
        self.migrations_run = 0
        self.reapplied = 0
        self.sleeps: list[float] = []

    def _execute(self, sql: str, data: list[list[Any]]) -> Any:
        self.executed.append((sql, data))
        if self.failures:
            raise self.failures.pop(0)
        return len(data[0])

    def _migrate(self, reapply: bool = False) -> None:
        self.migrations_run += 1
        self.reapplied += reapply

    async def _sleep(self, delay: float) -> None:
        self.sleeps.append(delay)


COLUMNS = {"dl_id": ["a", "b"], "raw": [b"\x00", b"\xff"]}


def test_insert_retries_transient_failures() -> None:
    wh = FakeWarehouse(ch.NetworkError("down"), ConnectionResetError(104, "reset"))

    async def run() -> int:
        try:
            return await wh.insert("dead_letters", COLUMNS)
        finally:
            await wh.close()

    assert asyncio.run(run()) == 2
    assert len(wh.executed) == 3 and wh.sleeps == [0.01, 0.02]
    sql, data = wh.executed[-1]
    assert sql == "INSERT INTO citycc.dead_letters (dl_id, raw) VALUES"
    assert data == [["a", "b"], [b"\x00", b"\xff"]]
    c = wh.counters
    assert (c.inserts, c.rows_inserted, c.retries, c.permanent_failures) == (1, 2, 2, 0)
    assert wh.migrations_run == 1  # lazily, before the first insert


def test_insert_permanent_error_is_raised_for_dead_lettering() -> None:
    cause = server_error(53)
    wh = FakeWarehouse(cause)
    with pytest.raises(PermanentInsertError) as info:
        asyncio.run(wh.insert("dead_letters", COLUMNS))
    assert info.value.cause is cause and info.value.rows == 2
    assert info.value.table == "dead_letters" and isinstance(info.value, WarehouseError)
    assert len(wh.executed) == 1 and wh.sleeps == []
    assert (wh.counters.inserts, wh.counters.permanent_failures) == (0, 1)


def test_insert_missing_table_reruns_migrations() -> None:
    wh = FakeWarehouse(server_error(60))
    assert asyncio.run(wh.insert("dead_letters", COLUMNS)) == 2
    assert wh.migrations_run == 2 and wh.reapplied == 1 and len(wh.executed) == 2


def test_insert_accepts_rows_and_rejects_incomplete_rows() -> None:
    from warehouse.rows import TABLES
    wh = FakeWarehouse()
    row = {c: 0 for c in TABLES["alerts"]}
    assert asyncio.run(wh.insert("alerts", [row, row])) == 2
    assert wh.executed[0][1][0] == [0, 0]
    with pytest.raises(PermanentInsertError):
        asyncio.run(wh.insert("alerts", [{"alert_id": "x"}]))
    assert len(wh.executed) == 1
    assert asyncio.run(wh.insert("alerts", [])) == 0
    with pytest.raises(PermanentInsertError):
        asyncio.run(wh.insert("alerts", {"bad name": [1]}))


def test_close_ends_an_insert_waiting_for_the_server() -> None:
    class Down(FakeWarehouse):
        def _execute(self, sql: str, data: list[list[Any]]) -> Any:
            raise ch.NetworkError("Code: 210. Connection refused")

    async def run() -> None:
        wh = Down()
        wh._sleep = Warehouse._sleep.__get__(wh)  # the real, close-aware sleep
        task = asyncio.create_task(wh.insert("dead_letters", COLUMNS))
        await asyncio.sleep(0.2)
        assert not task.done() and wh.counters.retries >= 3
        await wh.close()
        with pytest.raises(WarehouseClosed):
            await asyncio.wait_for(task, 2.0)
        assert wh.counters.rows_inserted == 0
        with pytest.raises(WarehouseClosed):
            await wh.run(lambda client: None)

    asyncio.run(run())


def test_close_during_an_attempt_is_not_a_permanent_error() -> None:
    import threading
    gate = threading.Event()

    class Slow(FakeWarehouse):
        def _migrate(self, reapply: bool = False) -> None:
            gate.wait(5.0)  # ClickHouse is slow to answer; close() arrives meanwhile

    async def run() -> None:
        wh = Slow()
        task = asyncio.create_task(wh.insert("dead_letters", COLUMNS))
        await asyncio.sleep(0.05)
        closing = asyncio.create_task(wh.close())
        await asyncio.sleep(0.05)
        gate.set()
        await closing
        with pytest.raises(WarehouseClosed):
            await task
        assert wh.counters.permanent_failures == 0 and wh.executed == []

    asyncio.run(run())
