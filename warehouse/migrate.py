"""Versioned schema migrations: ``migrations/NNNN_name.sql`` applied in order.

Each file holds statements ending with ``;`` at the end of a line; ``--`` lines are
comments; ``{db}`` stands for the database name. Applied versions are recorded in
``<db>.schema_migrations`` (a ReplacingMergeTree read with FINAL). Every statement must be
idempotent (``IF NOT EXISTS``): two processes starting together may both apply a version,
and both record it; the duplicate record collapses.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from clickhouse_driver import Client
from clickhouse_driver.errors import ErrorCodes, ServerException

from .client import WarehouseError, check_identifier

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
_FILE_NAME = re.compile(r"^(\d{4})_([A-Za-z0-9_]+)\.sql$")
_STATEMENT_END = re.compile(r";[ \t]*(?:\n|$)")
# Raised by a racing "CREATE ... IF NOT EXISTS" that lost to another process.
_ALREADY_EXISTS = frozenset({ErrorCodes.TABLE_ALREADY_EXISTS, ErrorCodes.DATABASE_ALREADY_EXISTS})
_COLUMN_EXISTS = frozenset({ErrorCodes.DUPLICATE_COLUMN, ErrorCodes.ILLEGAL_COLUMN})

MIGRATIONS_TABLE_SQL = """CREATE TABLE IF NOT EXISTS {db}.schema_migrations (
    version UInt32, name String, checksum String, applied_at DateTime('UTC')
) ENGINE = ReplacingMergeTree() ORDER BY version"""


class MigrationError(WarehouseError):
    """A migration file is malformed or a statement failed."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()[:16]

    def statements(self, database: str) -> list[str]:
        return split_statements(self.sql.replace("{db}", check_identifier(database)))


def split_statements(sql: str) -> list[str]:
    """SQL text -> statements (``--`` comment lines dropped, split at line-final ``;``)."""
    body = "\n".join(line for line in sql.splitlines() if not line.lstrip().startswith("--"))
    return [s.strip() for s in _STATEMENT_END.split(body) if s.strip()]


def load_migrations(directory: Path = MIGRATIONS_DIR) -> tuple[Migration, ...]:
    """Every ``NNNN_name.sql`` of ``directory`` in version order; duplicates are an error."""
    found: dict[int, Migration] = {}
    for path in sorted(directory.glob("*.sql")):
        match = _FILE_NAME.match(path.name)
        if not match:
            raise MigrationError(f"{path.name}: migration files are named NNNN_name.sql")
        version = int(match.group(1))
        if version in found:
            raise MigrationError(f"{path.name}: version {version} appears twice")
        found[version] = Migration(version, match.group(2), path.read_text(encoding="utf-8"))
    return tuple(found[v] for v in sorted(found))


def applied_versions(client: Client, database: str) -> dict[int, str]:
    """Recorded versions -> checksums (empty when nothing was applied)."""
    rows = client.execute(f"SELECT version, checksum FROM {check_identifier(database)}"
                          f".schema_migrations FINAL")
    return {int(v): str(c) for v, c in rows}


def _execute_idempotent(client: Client, statement: str) -> None:
    try:
        client.execute(statement)
    except ServerException as exc:
        if exc.code in _ALREADY_EXISTS and "IF NOT EXISTS" in statement.upper():
            log.info("lost a harmless race (%s): %s", exc.code, statement.split("(")[0])
            return
        # 18.16 has no ADD COLUMN IF NOT EXISTS: a column that is there is the goal reached.
        # (18.16 answers ILLEGAL_COLUMN "column with this name already exists"; newer
        # servers DUPLICATE_COLUMN.)
        if exc.code in _COLUMN_EXISTS and "ADD COLUMN" in statement.upper() and \
                "already exists" in str(exc):
            log.info("column already present: %s", " ".join(statement.split())[:120])
            return
        raise


def migrate(client: Client, database: str, migrations: Sequence[Migration] | None = None,
            *, reapply: bool = False) -> list[int]:
    """Create ``database`` and apply pending migrations; return the versions applied now.

    ``reapply`` runs the (idempotent) statements of recorded versions again too: it
    recreates a table dropped by hand. ``client`` may be connected to any database
    (``default`` before the first run): every statement names its database. Server errors
    propagate as raised by the driver, so a caller can tell transient from permanent ones.
    """
    db = check_identifier(database)
    todo = load_migrations() if migrations is None else tuple(migrations)
    _execute_idempotent(client, f"CREATE DATABASE IF NOT EXISTS {db}")
    _execute_idempotent(client, MIGRATIONS_TABLE_SQL.replace("{db}", db))
    done = applied_versions(client, db)
    applied: list[int] = []
    for m in sorted(todo, key=lambda m: m.version):
        if m.version in done:
            if done[m.version] != m.checksum:
                log.warning("migration %04d_%s changed after it was applied (checksum %s, "
                            "recorded %s); add a new migration instead", m.version, m.name,
                            m.checksum, done[m.version])
            if reapply:
                log.warning("re-applying migration %04d_%s to %s", m.version, m.name, db)
                for statement in m.statements(db):
                    _execute_idempotent(client, statement)
            continue
        log.info("applying migration %04d_%s to %s", m.version, m.name, db)
        for statement in m.statements(db):
            _execute_idempotent(client, statement)
        client.execute(f"INSERT INTO {db}.schema_migrations "
                       f"(version, name, checksum, applied_at) VALUES",
                       [(m.version, m.name, m.checksum, int(time.time()))])
        applied.append(m.version)
    return applied
