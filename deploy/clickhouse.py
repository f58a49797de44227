"""The project-local ClickHouse 18.16 server (Debian package), run from a generated config."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from pathlib import Path
from xml.sax.saxutils import escape

from citycc.settings import Settings
from deploy import procs
from deploy.procs import DeployError

log = logging.getLogger(__name__)
HOST = "127.0.0.1"
INSTALL_COMMAND = ("apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y "
                   "--no-install-recommends clickhouse-server clickhouse-client")
_SEARCH_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/bin"])

# No interserver_http_port: a single server needs none, so it cannot clash on 9009.
_CONFIG = """<?xml version="1.0"?>
<yandex>
    <logger>
        <level>information</level>
        <log>{log_dir}/clickhouse-server.log</log>
        <errorlog>{log_dir}/clickhouse-server.err.log</errorlog>
        <size>100M</size>
        <count>3</count>
    </logger>
    <listen_host>{host}</listen_host>
    <tcp_port>{tcp_port}</tcp_port>
    <http_port>{http_port}</http_port>
    <path>{data}/</path>
    <tmp_path>{data}/tmp/</tmp_path>
    <user_files_path>{data}/user_files/</user_files_path>
    <format_schema_path>{data}/format_schemas/</format_schema_path>
    <users_config>{users}</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <timezone>UTC</timezone>
    <max_connections>1024</max_connections>
    <max_concurrent_queries>100</max_concurrent_queries>
    <mark_cache_size>536870912</mark_cache_size>
    <uncompressed_cache_size>536870912</uncompressed_cache_size>
    <mlock_executable>false</mlock_executable>
</yandex>
"""

_USERS = """<?xml version="1.0"?>
<yandex>
    <profiles>
        <default>
            <max_memory_usage>10000000000</max_memory_usage>
            <use_uncompressed_cache>0</use_uncompressed_cache>
        </default>
    </profiles>
    <users>
        <default>
            <password></password>
            <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
            <profile>default</profile>
            <quota>default</quota>
        </default>
    </users>
    <quotas>
        <default>
            <interval>
                <duration>3600</duration>
                <queries>0</queries>
                <errors>0</errors>
                <result_rows>0</result_rows>
                <read_rows>0</read_rows>
                <execution_time>0</execution_time>
            </interval>
        </default>
    </quotas>
</yandex>
"""


def service_dir(settings: Settings) -> Path:
    return Path(settings.run_dir) / "clickhouse"


def pidfile(settings: Settings) -> Path:
    return service_dir(settings) / "clickhouse.pid"


def log_dir(settings: Settings) -> Path:
    return service_dir(settings) / "log"


def logfile(settings: Settings) -> Path:
    """The server's own log (stdout/stderr go to ``stdout.log`` beside it)."""
    return log_dir(settings) / "clickhouse-server.log"


def address(settings: Settings) -> str:
    return f"{settings.clickhouse.host}:{settings.clickhouse.port}"


def config_files(settings: Settings) -> dict[Path, str]:
    """The generated ``config.xml`` and ``users.xml`` (path -> text)."""
    base = service_dir(settings).resolve()
    users = base / "users.xml"
    config = _CONFIG.format(
        log_dir=escape(str(base / "log")), host=HOST, tcp_port=settings.clickhouse_port,
        http_port=settings.clickhouse_http_port, data=escape(str(base / "data")),
        users=escape(str(users)))
    return {base / "config.xml": config, users: _USERS}


def server_command() -> list[str] | None:
    """``[clickhouse-server]`` or ``[clickhouse, server]``; None when not installed."""
    server = shutil.which("clickhouse-server", path=_SEARCH_PATH)
    if server:
        return [server]
    combined = shutil.which("clickhouse", path=_SEARCH_PATH)
    return [combined, "server"] if combined else None


def ensure_installed(settings: Settings) -> list[str]:
    """The server command; installs the Debian packages first when root and missing."""
    command = server_command()
    if command is not None:
        return command
    if os.geteuid() != 0:
        raise DeployError("ClickHouse server is not installed (no clickhouse-server or "
                          f"clickhouse binary). Install it as root with:\n  {INSTALL_COMMAND}")
    install_log = log_dir(settings) / "install.log"
    install_log.parent.mkdir(parents=True, exist_ok=True)
    log.warning("ClickHouse is not installed; running: %s", INSTALL_COMMAND)
    with open(install_log, "ab") as out:
        result = subprocess.run(["sh", "-c", INSTALL_COMMAND], stdin=subprocess.DEVNULL,
                                stdout=out, stderr=subprocess.STDOUT, check=False)
    command = server_command()
    if result.returncode != 0 or command is None:
        raise DeployError(f"installing ClickHouse failed (exit {result.returncode}); command:\n"
                          f"  {INSTALL_COMMAND}\n--- last lines of {install_log}:\n"
                          f"{procs.tail(install_log)}")
    return command


def query(settings: Settings, sql: str, timeout: float = 3.0) -> list[tuple[object, ...]]:
    """Run ``sql`` on the ClickHouse in use (database ``default``) and return its rows."""
    from clickhouse_driver import Client

    ch = settings.clickhouse
    client = Client(ch.host, ch.port, database="default", user=ch.user, password=ch.password,
                    connect_timeout=timeout, send_receive_timeout=timeout,
                    sync_request_timeout=timeout)
    try:
        return list(client.execute(sql))
    finally:
        client.disconnect()


def healthy(settings: Settings, timeout: float = 3.0) -> bool:
    """True if ``SELECT 1`` over the native protocol succeeds within ``timeout`` s."""
    if settings.local_clickhouse and not procs.listening(settings.clickhouse.port):
        return False  # not up yet: skip the query, whose failure clickhouse-driver logs loudly
    try:
        return query(settings, "SELECT 1", timeout) == [(1,)]
    except Exception:  # noqa: BLE001 - any failure means "not healthy"
        return False


def _write_config(settings: Settings) -> None:
    for path, text in config_files(settings).items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def _config_current(settings: Settings) -> bool:
    return all(path.exists() and path.read_text() == text
               for path, text in config_files(settings).items())


def start(settings: Settings, timeout: float = 60.0) -> int:
    """Start ClickHouse (or reuse a healthy one we started), wait until healthy; returns PID."""
    pid = procs.running_pid(pidfile(settings))
    if pid is not None and not _config_current(settings):
        log.info("ClickHouse PID %s runs with another config; restarting it", pid)
        procs.stop(pidfile(settings))
        pid = None
    if pid is None:
        command = ensure_installed(settings)
        busy = [p for p in (settings.clickhouse_port, settings.clickhouse_http_port)
                if procs.port_in_use(p, HOST)]
        if busy:
            raise DeployError(f"cannot start ClickHouse: {HOST} port(s) {busy} already in use "
                              "by a process citycc did not start (set CITYCC_CLICKHOUSE_PORT / "
                              "CITYCC_CLICKHOUSE_HTTP_PORT to free ports)")
        _write_config(settings)
        config = service_dir(settings).resolve() / "config.xml"
        pid = procs.start([*command, f"--config-file={config}"], pidfile=pidfile(settings),
                          logfile=log_dir(settings) / "stdout.log", cwd=service_dir(settings))
        log.info("started ClickHouse PID %s on %s", pid, address(settings))
    procs.wait_until(lambda: healthy(settings, 2.0), timeout,
                     f"ClickHouse on {address(settings)} to answer SELECT 1",
                     logs=[log_dir(settings) / "stdout.log",
                           log_dir(settings) / "clickhouse-server.err.log"], pid=pid)
    return pid


def stop(settings: Settings, timeout: float = 30.0) -> int | None:
    """Stop the ClickHouse we started; returns its PID, or None if none was running."""
    return procs.stop(pidfile(settings), timeout)
