"""Project fixtures: the real Apache Kafka broker and ClickHouse, started by the project's own code.

Session-scoped, on free ports, in a temporary run directory, torn down by PID. Nothing is
assumed to be running and nothing is mocked.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, ContextManager, Iterator

import pytest

from citycc.settings import Settings, load_settings
from deploy import infra, procs

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def infra_settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """Settings pointing at a broker and a ClickHouse started for this test session (and a
    users file of the test staff, ``cockpit_api.auth.testing.STAFF``, in its run dir)."""
    run_dir = tmp_path_factory.mktemp("citycc-run")
    broker, ch_tcp, ch_http, cockpit = procs.free_ports(4)
    settings = load_settings({}, run_dir=run_dir, broker_port=broker, clickhouse_port=ch_tcp,
                             clickhouse_http_port=ch_http, cockpit_port=cockpit,
                             clickhouse_database="citycc_test", log_level="INFO",
                             sink_max_age_s=0.5)
    from cockpit_api.auth.testing import write_test_users
    write_test_users(settings.users_path)   # the cockpits the tests start: their staff
    with infra.running(settings):
        yield settings


@pytest.fixture(scope="session")
def clickhouse_settings(infra_settings: Settings) -> Settings:
    return infra_settings


@pytest.fixture(scope="session")
def fresh_database(clickhouse_settings: Settings) -> Callable[[str], ContextManager[Settings]]:
    """Factory: ``with fresh_database("prefix") as s:`` gives settings for a new database of
    its own on the session's ClickHouse, dropped afterwards."""

    @contextmanager
    def make(prefix: str) -> Iterator[Settings]:
        from warehouse.client import connect
        settings = clickhouse_settings.with_overrides(
            clickhouse_database=f"{prefix}_{uuid.uuid4().hex[:12]}")
        try:
            yield settings
        finally:
            client = connect(settings, database="default")
            try:
                client.execute(f"DROP DATABASE IF EXISTS {settings.clickhouse.database}")
            finally:
                client.disconnect()

    return make


@pytest.fixture(scope="session")
def prepared(infra_settings: Settings) -> Settings:
    """Topics created and migrations applied (what a worker does at start)."""
    from citycc.cli import _prepare
    _prepare(infra_settings)
    return infra_settings


@pytest.fixture(scope="session")
def own_topics() -> Callable[[Settings, str], Settings]:
    """``own_topics(settings, prefix)``: the session broker with topics of one test's own
    (a fresh ``prefix<random>`` topic prefix, created) and a free cockpit port."""
    def make(base: Settings, prefix: str) -> Settings:
        from streams.admin import ensure_topics
        settings = base.with_overrides(topic_prefix=f"{prefix}{uuid.uuid4().hex[:8]}",
                                       cockpit_port=procs.free_port())
        asyncio.run(ensure_topics(settings))
        return settings
    return make


class Proc:
    """A ``citycc`` subprocess started for a test; stopped by its own PID."""

    def __init__(self, settings: Settings, args: list[str], log: Path) -> None:
        self.args, self.log = args, log
        self.env = {**os.environ, **settings.to_environ()}
        self.popen: subprocess.Popen[bytes] | None = None

    def start(self) -> "Proc":
        self.log.parent.mkdir(parents=True, exist_ok=True)
        out = open(self.log, "ab")
        self.popen = subprocess.Popen([sys.executable, "-m", "citycc.cli", *self.args],
                                      env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                      cwd=ROOT, start_new_session=True)
        out.close()
        return self

    def kill9(self) -> None:
        assert self.popen is not None
        self.popen.kill()
        self.popen.wait(10)

    def stop(self) -> None:
        if self.popen is not None and self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(20)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(10)

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def tail(self) -> str:
        return procs.tail(self.log, 60)


@pytest.fixture
def citycc_proc(prepared: Settings) -> Iterator[object]:
    """Factory: ``citycc_proc(args, name)`` starts a citycc subprocess, stopped at teardown."""
    started: list[Proc] = []

    def start(args: list[str], name: str, settings: Settings | None = None) -> Proc:
        s = settings or prepared
        p = Proc(s, args, Path(s.run_dir) / "test-logs" / f"{name}.log").start()
        started.append(p)
        return p

    yield start
    for p in started:
        p.stop()


def run(coro: object) -> object:
    """Run a coroutine from a sync test."""
    return asyncio.run(coro)  # type: ignore[arg-type]
