"""deploy.infra against real services: Apache Kafka (KRaft) and ClickHouse 18.16 on free ports in a tmp run_dir."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from clickhouse_driver import Client

from citycc.settings import Settings, load_settings
from deploy import broker, clickhouse, infra, procs
from deploy.procs import DeployError

pytestmark = pytest.mark.integration


def _settings(run_dir: Path, **overrides: object) -> Settings:
    broker, ch_tcp, ch_http = procs.free_ports(3)
    return load_settings({}, run_dir=run_dir, broker_port=broker, clickhouse_port=ch_tcp,
                         clickhouse_http_port=ch_http, **overrides)


async def _roundtrip(bootstrap: str, topic: str, payload: bytes) -> bytes:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(topic, payload)
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=None,
                                auto_offset_reset="earliest")
    await consumer.start()
    try:
        message = await asyncio.wait_for(consumer.getone(), 30.0)
    finally:
        await consumer.stop()
    assert message.value is not None
    return bytes(message.value)


def _gone(pid: int) -> bool:
    return not procs.is_alive(pid)


def test_up_status_down(tmp_path: Path) -> None:
    settings = _settings(tmp_path / "run")
    try:
        started = time.monotonic()
        first = infra.up(settings)
        print(f"both services healthy after {time.monotonic() - started:.2f}s")

        # Health, as a client sees it.
        assert asyncio.run(_roundtrip(settings.bootstrap, "citycc.test", b"hello")) == b"hello"
        ch = settings.clickhouse
        client = Client(ch.host, ch.port, user=ch.user, password=ch.password)
        try:
            assert client.execute("SELECT version()")[0][0].startswith("18.16")
        finally:
            client.disconnect()

        # Status.
        status = infra.status(settings)
        assert status == first
        pids = {}
        for name, address in (("broker", f"127.0.0.1:{settings.broker_port}"),
                              ("clickhouse", f"127.0.0.1:{settings.clickhouse_port}")):
            entry = status[name]
            assert entry["managed"] and entry["running"] and entry["healthy"]
            assert entry["address"] == address
            assert entry["log"] is not None and Path(entry["log"]).is_file()
            assert entry["pid"] is not None and procs.is_alive(entry["pid"])
            assert str(settings.run_dir) in entry["log"]
            pids[name] = entry["pid"]

        # Idempotent: a second up reuses the healthy processes.
        assert {n: e["pid"] for n, e in infra.up(settings).items()} == pids

        # down stops exactly those PIDs.
        assert infra.down(settings) == pids
        assert all(_gone(pid) for pid in pids.values())
        assert not broker.pidfile(settings).exists()
        assert not clickhouse.pidfile(settings).exists()
        after = infra.status(settings)
        assert not any(e["running"] or e["healthy"] or e["pid"] for e in after.values())
        assert infra.down(settings) == {"clickhouse": None, "broker": None}
    finally:
        infra.down(settings)


def test_running_with_external_kafka_starts_only_clickhouse(tmp_path: Path) -> None:
    unused = procs.free_port()
    settings = _settings(tmp_path / "run", kafka_bootstrap=f"127.0.0.1:{unused}")
    with infra.running(settings) as status:
        assert status["broker"] == {"managed": False, "running": False, "healthy": False,
                                    "pid": None, "address": f"127.0.0.1:{unused}", "log": None}
        assert status["clickhouse"]["healthy"]
        pid = status["clickhouse"]["pid"]
        assert pid is not None
        assert not broker.pidfile(settings).exists()
        assert clickhouse.query(settings, "SELECT 1") == [(1,)]
    assert _gone(pid)


def test_running_downs_after_failure(tmp_path: Path) -> None:
    settings = _settings(tmp_path / "run")
    with pytest.raises(RuntimeError, match="boom"):
        with infra.running(settings) as status:
            pids = [e["pid"] for e in status.values()]
            raise RuntimeError("boom")
    assert all(pid is not None and _gone(pid) for pid in pids)


def test_restart_after_port_change(tmp_path: Path) -> None:
    """Same run_dir, new ports: up restarts the services on the new ports."""
    settings = _settings(tmp_path / "run")
    with infra.running(settings) as before:
        moved = _settings(settings.run_dir)
        after = infra.up(moved)
        for name in ("broker", "clickhouse"):
            assert after[name]["healthy"] and after[name]["pid"] != before[name]["pid"]
            old_pid = before[name]["pid"]
            assert old_pid is not None and _gone(old_pid)
        assert infra.down(moved) == {n: e["pid"] for n, e in after.items()}


def test_port_taken_by_someone_else(tmp_path: Path) -> None:
    import socket

    settings = _settings(tmp_path / "run")
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", settings.broker_port))
        squatter.listen()
        with pytest.raises(DeployError, match=f"{settings.broker_port} is already in use"):
            infra.up(settings)
    assert infra.down(settings) == {"clickhouse": None, "broker": None}


def test_missing_clickhouse_as_non_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(clickhouse, "server_command", lambda: None)
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(DeployError) as info:
        clickhouse.ensure_installed(_settings(tmp_path / "run"))
    assert clickhouse.INSTALL_COMMAND in str(info.value)
    assert clickhouse.INSTALL_COMMAND == (
        "apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y "
        "--no-install-recommends clickhouse-server clickhouse-client")


def test_missing_clickhouse_as_root_runs_apt(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """As root the Debian packages are installed (apt-get faked here), then the binary is used."""
    installed: list[list[str]] = []

    def fake_run(args: list[str], **kwargs: object) -> subprocess.CompletedProcess[bytes]:
        installed.append(args)
        return subprocess.CompletedProcess(args, 0)

    monkeypatch.setattr(clickhouse, "server_command",
                        lambda: ["/usr/bin/clickhouse-server"] if installed else None)
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(subprocess, "run", fake_run)
    assert clickhouse.ensure_installed(_settings(tmp_path / "run")) == [
        "/usr/bin/clickhouse-server"]
    assert installed == [["sh", "-c", clickhouse.INSTALL_COMMAND]]


async def _commit_and_read(bootstrap: str, topic: str, group: str) -> tuple[list[bytes], int]:
    """Everything in ``topic`` from the start, and the offset ``group`` has committed there
    (committing the end if it had none)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group,
                                enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        committed = await consumer.committed(tp)
        await consumer.seek_to_beginning(tp)
        values: list[bytes] = []
        end = (await consumer.end_offsets([tp]))[tp]
        while await consumer.position(tp) < end:
            batch = await consumer.getmany(tp, timeout_ms=5000)
            values += [bytes(m.value) for m in batch.get(tp, []) if m.value is not None]
        if committed is None:
            await consumer.commit({tp: end})
            committed = end
        return values, committed
    finally:
        await consumer.stop()


def test_kafka_keeps_its_data_across_stop_and_start(tmp_path: Path) -> None:
    """Topics, messages and a group's committed offsets survive ``down`` + ``up``."""
    settings = _settings(tmp_path / "run")
    try:
        infra.up(settings)
        assert asyncio.run(_roundtrip(settings.bootstrap, "citycc.keep", b"before")) == b"before"
        values, committed = asyncio.run(
            _commit_and_read(settings.bootstrap, "citycc.keep", "keep-group"))
        assert values == [b"before"] and committed == 1
        first = broker.stop(settings)
        assert first is not None and _gone(first)

        started = time.monotonic()
        second = broker.start(settings)
        print(f"broker restarted on its data in {time.monotonic() - started:.2f}s")
        assert second != first
        assert "citycc.keep" in broker.list_topics(settings.bootstrap)
        values, committed = asyncio.run(
            _commit_and_read(settings.bootstrap, "citycc.keep", "keep-group"))
        assert values == [b"before"] and committed == 1
    finally:
        infra.down(settings)


def _kcat(*args: str, stdin: bytes | None = None) -> bytes:
    done = subprocess.run(["kcat", *args], input=stdin, capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    return done.stdout


def test_kcat_produces_and_consumes(infra_settings: Settings) -> None:
    """Debian's kcat (librdkafka), an outside client, talks to the local broker both ways."""
    bootstrap = infra_settings.bootstrap
    topic = f"citycc.kcat{os.getpid()}"
    _kcat("-b", bootstrap, "-t", topic, "-P", "-K", ":", stdin="gw-1:燃气 1\ngw-2:two\n".encode())

    async def read_two() -> list[tuple[bytes | None, bytes | None]]:
        consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=None,
                                    auto_offset_reset="earliest")
        await consumer.start()
        try:
            got: list[tuple[bytes | None, bytes | None]] = []
            while len(got) < 2:
                msg = await asyncio.wait_for(consumer.getone(), 30.0)
                got.append((msg.key, msg.value))
            return got
        finally:
            await consumer.stop()

    assert asyncio.run(read_two()) == [(b"gw-1", "燃气 1".encode()), (b"gw-2", b"two")]

    async def produce_one() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True)
        await producer.start()
        try:
            await producer.send_and_wait(topic, b"from aiokafka", key=b"gw-3")
        finally:
            await producer.stop()

    asyncio.run(produce_one())
    out = _kcat("-b", bootstrap, "-t", topic, "-C", "-o", "beginning", "-c", "3", "-e",
                "-f", "%k=%s\n")
    assert out.decode().splitlines() == ["gw-1=燃气 1", "gw-2=two", "gw-3=from aiokafka"]
