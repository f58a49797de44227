"""One frozen settings object, built once at an entry point from ``CITYCC_*`` variables.

Logic code never reads the environment: entry points call :func:`load_settings` and pass the
result (or the parts of it a component needs) down.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Mapping
from urllib.parse import urlparse, urlunparse

from alerting.webhook import webhook_problem
from schemas.topics import broker_message_max_bytes

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class SettingsError(ValueError):
    """A ``CITYCC_*`` variable has a value that cannot be used."""


@dataclass(frozen=True)
class Settings:
    """Every knob of a citycc process; the README documents each ``CITYCC_<NAME>``."""

    # Kafka bootstrap "host:port". Empty: start the project-local Kafka broker.
    kafka_bootstrap: str = ""
    # ClickHouse "clickhouse://user:password@host:port/database". Empty: local server.
    clickhouse_url: str = ""
    # Ports of the project-local services (used when the URLs above are empty).
    broker_port: int = 19092
    clickhouse_port: int = 19000
    clickhouse_http_port: int = 18123
    cockpit_host: str = "127.0.0.1"
    cockpit_port: int = 8765
    # Where local services keep PIDs, logs and data.
    run_dir: Path = PROJECT_ROOT / ".run"
    city: str = "changsha"
    log_level: str = "INFO"
    # Prefix of every topic name and the ClickHouse database name.
    topic_prefix: str = "citycc"
    clickhouse_database: str = "citycc"
    # Validation policy.
    max_lateness_s: float = 3600.0
    max_future_s: float = 300.0
    max_message_bytes: int = 4 * 1024 * 1024
    max_event_bytes: int = 16 * 1024
    max_batch_events: int = 10_000
    # Worker batching and sink.
    take_max_messages: int = 500
    take_within_s: float = 0.1
    sink_max_rows: int = 50_000
    sink_max_age_s: float = 1.0
    sink_retry_max_s: float = 30.0
    checkpoint_interval_s: float = 30.0
    # A firing alert ends alert_ttl_s after it was last asserted; its detector re-asserts
    # it every reassert_interval_s (and right after its state is restored).
    reassert_interval_s: float = 60.0
    alert_ttl_s: float = 300.0
    # Alerting: the YAML configuration (empty: the city's default, alerting/<city>.yaml),
    # an optional webhook every notification is also POSTed to (signed with the secret),
    # and the tick of the alerting engine (ack timeouts, group flushes, escalation).
    alerting_config: str = ""
    webhook_url: str = ""
    webhook_secret: str = ""
    alerting_tick_s: float = 1.0
    # Dispatch (dispatch.board, next to the alerting engine in the worker; its tick is the
    # alerting tick): off, or the fleet's scale (1.0: the city's fleet configuration as
    # written; the worker, the cockpit and the simulator must agree on it).
    dispatch_enabled: bool = True
    dispatch_scale: float = 1.0
    # Faust group timings (see README: how fast a restarted worker gets its partitions).
    worker_id: str = "worker-1"
    session_timeout_s: float = 6.0
    heartbeat_interval_s: float = 1.0
    # Cockpit security (README "Security"). The users file (empty: <run_dir>/users.yaml;
    # none: nobody can sign in); the token signing secret (empty: a 0600 file generated in
    # the run dir); how long a token lives; origins allowed besides the cockpit's own
    # (comma-separated, e.g. https://cockpit.example.gov.cn).
    users_file: str = ""
    auth_secret: str = ""
    token_ttl_s: float = 12 * 3600.0
    cockpit_origins: str = ""
    # A client signs in within this many seconds of its handshake or is closed.
    login_timeout_s: float = 5.0
    # Failed sign-ins per user name (and per address) before a lockout of that long.
    login_max_failures: int = 5
    login_lockout_s: float = 60.0
    # Commands per connection: a token bucket (rate per second, burst); this many refused
    # in a row and the connection is closed.
    command_rate_per_s: float = 10.0
    command_burst: int = 30
    command_flood_refusals: int = 60
    # Open websockets in all and per user.
    max_connections: int = 200
    max_connections_per_user: int = 10
    # Each cockpit client's send queue (messages, bytes: over either it is closed, 1013) and
    # the ring of recent deltas a reconnecting client resumes from (deltas, bytes).
    cockpit_queue_size: int = 256
    cockpit_queue_bytes: int = 8 * 1024 * 1024
    cockpit_ring_size: int = 4096
    cockpit_ring_bytes: int = 16 * 1024 * 1024

    @property
    def local_broker(self) -> bool:
        return not self.kafka_bootstrap

    @property
    def local_clickhouse(self) -> bool:
        return not self.clickhouse_url

    @property
    def bootstrap(self) -> str:
        """The Kafka bootstrap address actually used."""
        return self.kafka_bootstrap or f"127.0.0.1:{self.broker_port}"

    @property
    def clickhouse(self) -> "ClickHouseAddress":
        """The ClickHouse address actually used."""
        if not self.clickhouse_url:
            return ClickHouseAddress("127.0.0.1", self.clickhouse_port, "default", "",
                                     self.clickhouse_database)
        return ClickHouseAddress.parse(self.clickhouse_url, self.clickhouse_database)

    @property
    def broker_message_max_bytes(self) -> int:
        """Bytes every record may take on the broker, the topics, producers and consumers
        (``message.max.bytes``, ``max.message.bytes``, ``max_request_size``, fetch size):
        derived from ``max_message_bytes`` (:func:`schemas.topics.broker_message_max_bytes`)."""
        return broker_message_max_bytes(self.max_message_bytes)

    @property
    def cockpit_url(self) -> str:
        return f"http://{self.cockpit_host}:{self.cockpit_port}/"

    @property
    def users_path(self) -> Path:
        """The cockpit's users file (``users_file``, else ``<run_dir>/users.yaml``)."""
        return Path(self.users_file).expanduser().resolve() if self.users_file else \
            Path(self.run_dir) / "users.yaml"

    def topic(self, name: str) -> str:
        """Full topic name for a registry name such as ``lifeline``."""
        return f"{self.topic_prefix}.{name}"

    def with_overrides(self, **changes: object) -> "Settings":
        return replace(self, **changes)

    def with_database(self, database: str) -> "Settings":
        """These settings naming another ClickHouse database (a city's history, a replay
        session, a drill), whether or not ``clickhouse_url`` names one: its path would
        otherwise win over ``clickhouse_database`` and the writes land in the live one."""
        url = self.clickhouse_url
        if url:
            url = urlunparse(urlparse(url)._replace(path="/" + database))
        return replace(self, clickhouse_database=database, clickhouse_url=url)

    def to_environ(self) -> dict[str, str]:
        """The ``CITYCC_*`` variables that rebuild these settings in a child process."""
        return {f"CITYCC_{f.name.upper()}": str(getattr(self, f.name)) for f in fields(self)}


@dataclass(frozen=True)
class ClickHouseAddress:
    host: str
    port: int
    user: str
    password: str
    database: str

    @classmethod
    def parse(cls, url: str, default_database: str) -> "ClickHouseAddress":
        parsed = urlparse(url)
        if parsed.scheme not in ("clickhouse", "tcp") or not parsed.hostname:
            raise SettingsError(
                f"CITYCC_CLICKHOUSE_URL={url!r}: expected clickhouse://user:pass@host:port/db")
        database = parsed.path.lstrip("/") or default_database
        try:
            port = parsed.port  # raises ValueError for a port that is not 0..65535
        except ValueError as exc:
            raise SettingsError(f"CITYCC_CLICKHOUSE_URL={url!r}: {exc}") from exc
        return cls(parsed.hostname, port or 9000, parsed.username or "default",
                   parsed.password or "", database)


def _convert(name: str, raw: str, default: object) -> object:
    try:
        if isinstance(default, bool):
            if raw.lower() in ("1", "true", "yes", "on"):
                return True
            if raw.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError("expected true/false")
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
        if isinstance(default, Path):
            return Path(raw).expanduser().resolve()
        return raw
    except ValueError as exc:
        raise SettingsError(f"CITYCC_{name.upper()}={raw!r}: {exc}") from exc


def load_settings(environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
    """Build settings from ``CITYCC_*`` variables (``environ`` defaults to ``os.environ``)."""
    env = os.environ if environ is None else environ
    values: dict[str, object] = {}
    for field in fields(Settings):
        key = f"CITYCC_{field.name.upper()}"
        if key in env:
            values[field.name] = _convert(field.name, env[key], field.default)
    values.update(overrides)
    settings = Settings(**values)
    if not 0 < settings.reassert_interval_s < settings.alert_ttl_s:
        raise SettingsError(f"CITYCC_ALERT_TTL_S={settings.alert_ttl_s} must be more than "
                            f"CITYCC_REASSERT_INTERVAL_S={settings.reassert_interval_s} > 0 "
                            f"(else a firing alert expires between two re-assertions)")
    _check_security(settings)
    for name, least in (("cockpit_queue_size", 2), ("cockpit_queue_bytes", 1),
                        ("cockpit_ring_size", 1), ("cockpit_ring_bytes", 1)):
        if getattr(settings, name) < least:
            raise SettingsError(f"CITYCC_{name.upper()}={getattr(settings, name)} must be "
                                f">= {least}")
    if not settings.dispatch_scale > 0:
        raise SettingsError(f"CITYCC_DISPATCH_SCALE={settings.dispatch_scale} must be > 0")
    if settings.clickhouse_url:
        settings.clickhouse  # validate early: a bad URL fails at start, not at first insert
    problem = webhook_problem(settings.webhook_url, settings.webhook_secret)
    if problem:   # (else every delivery would fail at send time, and nothing says why)
        raise SettingsError(f"CITYCC_WEBHOOK_URL / CITYCC_WEBHOOK_SECRET: {problem}")
    return settings


MIN_SECRET_CHARS = 32


def _check_security(s: Settings) -> None:
    """Security knobs that cannot work: refused at start, naming the variable."""
    if s.auth_secret and len(s.auth_secret) < MIN_SECRET_CHARS:
        raise SettingsError(f"CITYCC_AUTH_SECRET must have at least {MIN_SECRET_CHARS} "
                            f"characters (HS256 needs a key as long as its hash)")
    for name in ("token_ttl_s", "login_timeout_s", "login_lockout_s", "command_rate_per_s"):
        if not getattr(s, name) > 0:
            raise SettingsError(f"CITYCC_{name.upper()}={getattr(s, name)} must be > 0")
    for name in ("login_max_failures", "command_burst", "command_flood_refusals",
                 "max_connections", "max_connections_per_user"):
        if getattr(s, name) < 1:
            raise SettingsError(f"CITYCC_{name.upper()}={getattr(s, name)} must be >= 1")
