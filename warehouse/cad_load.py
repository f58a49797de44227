"""Load imported CAD history into the warehouse, apart from the live city.

Separation: a database of its own per imported city, ``<live database>_hist_<city>`` (e.g.
``citycc_hist_sf``), created by the same migrations as the live one, so every table, query
and KPI works on it unchanged and live operations never read it (they name their own
database). Events go to ``events_ems``/``events_fire`` through :func:`warehouse.rows.
event_columns` (the sink's own row builder) and :meth:`warehouse.sink.Warehouse.insert`
(its retries); ``src_topic`` is ``import:<file name>`` and ``src_offset`` the source line.
Every bad row becomes a ``dead_letters`` row (code, column, reason, the row as raw CSV):
reported and kept, never dropped. Re-importing a file is idempotent: ids are stable and the
tables are ReplacingMergeTree on ``event_id``. Memory is one batch per stream.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Iterable

from citycc.settings import Settings
from replay.cad_import.reader import BadRow, Row, Summary, raw_bytes
from schemas.records import Origin, dead_letter
from schemas.validate import parse_event_time
from warehouse.client import check_identifier
from warehouse.rows import dead_letter_row, event_columns, table_for_stream, to_columns
from warehouse.sink import Warehouse


def history_settings(settings: Settings, city: str) -> Settings:
    """The settings naming the imported city's own database."""
    db = check_identifier(f"{settings.clickhouse.database}_hist_{city}")
    return settings.with_database(db)


async def load(settings: Settings, city: str, source_name: str,
               items: Iterable[Row | BadRow], *, batch_rows: int = 10_000,
               on_bad: Callable[[BadRow], None] | None = None) -> Summary:
    """Insert the events of ``items`` into the city's history database in batches."""
    wh = Warehouse(history_settings(settings, city))
    await wh.start()
    topic = f"import:{source_name}"
    now_ms = int(time.time() * 1000)
    summary = Summary()
    pending: dict[str, list[tuple[dict[str, Any], int, Origin, int]]] = {}
    dead: list[dict[str, Any]] = []

    async def flush() -> None:
        for stream, batch in pending.items():
            if batch:
                await wh.insert(table_for_stream(stream), event_columns(stream, batch))
        pending.clear()
        if dead:
            await wh.insert("dead_letters", to_columns("dead_letters", [
                dead_letter_row(d) for d in dead]))
            dead.clear()

    try:
        n = 0
        for item in items:
            summary.add(item)
            if isinstance(item, BadRow):
                if on_bad is not None:
                    on_bad(item)
                dead.append(dead_letter(Origin(topic, 0, item.line), item.code, item.column,
                                        item.detail, raw_bytes(item), now_ms))
                n += 1
            else:
                for k, (stream, ev) in enumerate(item.events):
                    pending.setdefault(stream, []).append(
                        (ev, parse_event_time(ev["event_time"]),
                         Origin(topic, 0, item.line, k), now_ms))
                    n += 1
            if n >= batch_rows:
                await flush()
                n = 0
        await flush()
    finally:
        await wh.close()
    return summary
