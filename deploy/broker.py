"""The project-local Apache Kafka broker: one KRaft node (broker and controller), on disk.

The jars come from Maven Central through the project's build (:mod:`deploy.kafka_jars`);
the broker runs on the machine's Java 17 with a heap sized for a 2-core box, its data under
``run_dir/broker/data`` (so a stop and a start keep every topic, offset and changelog), and
it is started and stopped by PID like ClickHouse. The storage is formatted once, on the
first start; the controller quorum is static (``controller.quorum.voters``), so the
controller's port may change between starts without touching the data.
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import logging
import os
import subprocess
import uuid
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

from citycc.settings import Settings
from deploy import kafka_jars, procs
from deploy.procs import DeployError

log = logging.getLogger(__name__)
T = TypeVar("T")
HOST = "127.0.0.1"
NODE_ID = 1
# A 2-core box runs the broker beside ClickHouse, the worker and the tests: a small fixed
# heap (Kafka keeps its data in the page cache, not the heap) and G1 with short pauses.
JVM_OPTIONS = ("-Xms256m", "-Xmx512m", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
               "-XX:InitiatingHeapOccupancyPercent=35", "-XX:+ExplicitGCInvokesConcurrent",
               "-XX:+ExitOnOutOfMemoryError", "-XX:ActiveProcessorCount=2",
               "-Djava.awt.headless=true")
# Variables the JVM reads that could change what we ask for on the command line.
_JVM_ENV = ("JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS", "JDK_JAVA_OPTIONS", "CLASSPATH",
            "KAFKA_HEAP_OPTS", "KAFKA_OPTS", "KAFKA_LOG4J_OPTS")

_LOG4J2 = """\
Configuration:
  status: warn
  Appenders:
    Console:
      name: STDOUT
      PatternLayout:
        pattern: "[%d] %p %m (%c)%n"
  Loggers:
    Root:
      level: INFO
      AppenderRef:
        - ref: STDOUT
    Logger:
      - name: kafka
        level: WARN
      - name: org.apache.kafka
        level: WARN
      - name: kafka.server.KafkaServer
        level: INFO
      - name: kafka.server.BrokerServer
        level: INFO
"""


def service_dir(settings: Settings) -> Path:
    return Path(settings.run_dir) / "broker"


def data_dir(settings: Settings) -> Path:
    return service_dir(settings) / "data"


def pidfile(settings: Settings) -> Path:
    return service_dir(settings) / "kafka.pid"


def logfile(settings: Settings) -> Path:
    return service_dir(settings) / "kafka.log"


def config_file(settings: Settings) -> Path:
    return service_dir(settings) / "server.properties"


def address(settings: Settings) -> str:
    return settings.bootstrap


def server_properties(settings: Settings, controller_port: int) -> str:
    """The broker's configuration for ``settings`` (one node, both KRaft roles)."""
    port = settings.broker_port
    props = {
        "process.roles": "broker,controller",
        "node.id": NODE_ID,
        "controller.quorum.voters": f"{NODE_ID}@{HOST}:{controller_port}",
        "listeners": f"PLAINTEXT://{HOST}:{port},CONTROLLER://{HOST}:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://{HOST}:{port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "log.dirs": data_dir(settings),
        # One node: every internal topic has one replica.
        "num.partitions": 1,
        "default.replication.factor": 1,
        "min.insync.replicas": 1,
        "offsets.topic.replication.factor": 1,
        "offsets.topic.num.partitions": 10,
        "transaction.state.log.replication.factor": 1,
        "transaction.state.log.min.isr": 1,
        "share.coordinator.state.topic.replication.factor": 1,
        "share.coordinator.state.topic.min.isr": 1,
        # A group forms as soon as its first member joins (no 3 s wait for more).
        "group.initial.rebalance.delay.ms": 0,
        # One limit for the whole project, derived from CITYCC_MAX_MESSAGE_BYTES (it also
        # covers the topics Faust creates itself: they take the broker's default).
        "message.max.bytes": settings.broker_message_max_bytes,
        "replica.fetch.max.bytes": settings.broker_message_max_bytes,
        # Smaller segments so retention and compaction (Faust changelogs) take effect locally.
        "log.segment.bytes": 64 * 1024 * 1024,
        # Threads for a 2-core box.
        "num.network.threads": 2,
        "num.io.threads": 4,
        "background.threads": 4,
        "log.cleaner.threads": 1,
        "num.recovery.threads.per.data.dir": 1,
    }
    return "".join(f"{key}={value}\n" for key, value in props.items())


def _cluster_id() -> str:
    """A new Kafka cluster id: 16 random bytes, URL-safe base64 without padding."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()


def _controller_port(settings: Settings) -> int:
    """The controller's port: the one used before if it is still free, else a new free one."""
    remembered = service_dir(settings) / "controller.port"
    if remembered.is_file():
        port = int(remembered.read_text().strip() or 0)
        if port and not procs.port_in_use(port, HOST):
            return port
    # Not one of the ports the settings give other services (free now, maybe not yet bound).
    taken = {settings.broker_port, settings.clickhouse_port, settings.clickhouse_http_port,
             settings.cockpit_port}
    port = next(p for p in iter(lambda: procs.free_port(HOST), None) if p not in taken)
    remembered.write_text(f"{port}\n")
    return port


def _java(main_class: str, settings: Settings, *args: str) -> list[str]:
    return [kafka_jars.tool("java"), *JVM_OPTIONS,
            f"-Dlog4j2.configurationFile={service_dir(settings) / 'log4j2.yaml'}",
            f"-Dkafka.logs.dir={service_dir(settings) / 'logs'}",
            "-cp", kafka_jars.classpath(), main_class, *args]


def argv(settings: Settings) -> list[str]:
    """The broker's command line (its configuration is in :func:`config_file`)."""
    return _java("kafka.Kafka", settings, str(config_file(settings)))


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in _JVM_ENV}


def _format_storage(settings: Settings) -> None:
    """Format the data directory once (a KRaft node's storage needs a cluster id)."""
    if (data_dir(settings) / "meta.properties").is_file():
        return
    # "--cluster-id=..." in one argument: an id may start with "-".
    command = _java("kafka.tools.StorageTool", settings, "format", "--ignore-formatted",
                    f"--cluster-id={_cluster_id()}", "-c", str(config_file(settings)))
    done = subprocess.run(command, capture_output=True, text=True, env=_env(),
                          cwd=service_dir(settings))
    if done.returncode != 0:
        raise DeployError(f"formatting the Kafka storage in {data_dir(settings)} failed:\n"
                          f"{done.stdout[-2000:]}{done.stderr[-2000:]}")


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


def _current_config(settings: Settings) -> str | None:
    path = config_file(settings)
    return path.read_text() if path.is_file() else None


def start(settings: Settings, timeout: float = 60.0) -> int:
    """Start the broker (or reuse a healthy one we started with the same configuration) and
    wait until it answers a metadata request; returns its PID."""
    service_dir(settings).mkdir(parents=True, exist_ok=True)
    pid = procs.running_pid(pidfile(settings))
    record = procs.read_pidfile(pidfile(settings))
    if pid is not None and record is not None:
        running = _current_config(settings) or ""
        port = next((line.rsplit(":", 1)[1] for line in running.splitlines()
                     if line.startswith("controller.quorum.voters=")), "0")
        if (record.argv != tuple(argv(settings))
                or running != server_properties(settings, int(port))):
            log.info("broker PID %s runs with other options; restarting it", pid)
            procs.stop(pidfile(settings), 30.0)
            pid = None
    if pid is None:
        if procs.port_in_use(settings.broker_port, HOST):
            raise DeployError(f"cannot start the broker: {HOST}:{settings.broker_port} is "
                              "already in use by a process citycc did not start "
                              "(set CITYCC_BROKER_PORT to a free port)")
        (service_dir(settings) / "log4j2.yaml").write_text(_LOG4J2)
        config_file(settings).write_text(server_properties(settings, _controller_port(settings)))
        _format_storage(settings)
        pid = procs.start(argv(settings), pidfile=pidfile(settings), logfile=logfile(settings),
                          env=_env(), cwd=service_dir(settings))
        log.info("started Apache Kafka %s PID %s on %s", kafka_jars.kafka_version(), pid,
                 address(settings))
    procs.wait_until(lambda: healthy(settings, 2.0), timeout,
                     f"the Kafka broker on {address(settings)} to answer a metadata request",
                     logs=[logfile(settings)], pid=pid)
    return pid


def stop(settings: Settings, timeout: float = 30.0) -> int | None:
    """Stop the broker we started (a controlled shutdown); returns its PID, or None."""
    return procs.stop(pidfile(settings), timeout)
