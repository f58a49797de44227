"""The ClickHouse warehouse: schema migrations, row builders, the retrying sink, queries.

Entry points: :class:`Warehouse` (``await start()``, ``await insert(table, rows)``,
``await close()``), the pure builders in :mod:`warehouse.rows`, the FINAL read queries in
:mod:`warehouse.queries` and :func:`warehouse.migrate.migrate`, which applies the schema.
Every error raised here derives from :class:`WarehouseError`.
"""

from .client import WarehouseError, connect, wait_ready
from .migrate import MigrationError
from .rows import (TABLES, alert_row, dead_letter_row, event_columns, event_row,
                   table_for_stream, to_columns)
from .sink import (Backoff, ErrorKind, PermanentInsertError, Warehouse, WarehouseClosed,
                   classify)

__all__ = [
    "TABLES", "Backoff", "ErrorKind", "MigrationError", "PermanentInsertError", "Warehouse",
    "WarehouseClosed", "WarehouseError", "alert_row", "classify", "connect",
    "dead_letter_row", "event_columns", "event_row", "table_for_stream",
    "to_columns", "wait_ready",
]
