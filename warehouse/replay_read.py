"""Reading history for replay: the events of a window from ``events_*``, in event-time order,
in bounded slices.

Each stream is read slice by slice of event time (``slice_ms``), ordered by ``event_ms``
and then ``src_topic, src_partition, src_offset, src_index`` (a stable tie-break: the order
the worker read them in); the streams are merged lazily (:func:`replay.merge.merge_runs`),
so memory holds one slice per stream, whatever the window's length. ``body`` is the
validated event's JSON, fed back as it was. The tables are ReplacingMergeTree: an event
stored twice (a sink's retry) is read once (by ``event_id``; both copies have the same
``event_ms``, so they fall in the same slice). The SQL is plain (no window functions,
DateTime64 or JSON functions): it runs on ClickHouse 18.16 and on current servers.
"""

from __future__ import annotations

from typing import Any, Iterator

import orjson
from clickhouse_driver import Client

from replay.merge import Run, merge_runs
from replay.window import Window, WindowError, incident_window
from city.profile import CityProfile
from warehouse.client import check_identifier
from warehouse.queries import incident_events
from warehouse.rows import table_for_stream

SLICE_MS = 10_000


def _where(window: Window) -> tuple[str, dict[str, Any]]:
    sql = " WHERE event_ms >= %(a)s AND event_ms < %(b)s"
    params: dict[str, Any] = {}
    if window.districts:
        sql += " AND district IN %(districts)s"
        params["districts"] = tuple(window.districts)
    if window.bbox is not None:
        sql += (" AND lat >= %(s)s AND lat <= %(n)s AND lon >= %(w)s AND lon <= %(e)s")
        params.update(zip("swne", window.bbox))
    return sql, params


def read_stream(client: Client, database: str, stream: str, window: Window,
                slice_ms: int = SLICE_MS, raw: bool = False
                ) -> Iterator[tuple[int, None, Any]]:
    """``(event_ms, None, event)`` of one stream in the window, in order, slice by slice;
    with ``raw`` the event is its stored JSON body as bytes (never decoded: what
    :meth:`replay.engine.Replayer.feed` takes fastest)."""
    table = f"{check_identifier(database)}.{table_for_stream(stream)}"
    where, params = _where(window)
    sql = (f"SELECT event_ms, event_id, body FROM {table}{where} "
           f"ORDER BY event_ms, src_topic, src_partition, src_offset, src_index")
    loads = orjson.loads
    settings = {"strings_as_bytes": True} if raw else None
    for a in range(window.start_ms, window.end_ms, slice_ms):
        rows = client.execute(sql, {**params, "a": a, "b": min(a + slice_ms, window.end_ms)},
                              settings=settings)
        seen: set[Any] = set()
        for ms, eid, body in rows:
            if eid in seen:
                continue
            seen.add(eid)
            yield int(ms), None, body if raw else loads(body)


def read_window(client: Client, database: str, window: Window, tick_ms: int = 1000,
                slice_ms: int = SLICE_MS, raw: bool = False) -> Iterator[Run]:
    """The window's events merged across its streams: ``(stream, events, times)`` runs
    for :meth:`replay.engine.Replayer.feed`. One client serves every stream: each query
    returns its whole slice before the next is sent."""
    return merge_runs({s: read_stream(client, database, s, window, slice_ms, raw)
                       for s in window.streams}, tick_ms)


def count_events(client: Client, database: str, window: Window) -> int:
    """How many events the window holds (for a progress bar: duplicates included)."""
    where, params = _where(window)
    params.update(a=window.start_ms, b=window.end_ms)
    return sum(int(client.execute(f"SELECT count() FROM {check_identifier(database)}."
                                  f"{table_for_stream(s)}{where}", params)[0][0])
               for s in window.streams)


def window_of_incident(client: Client, profile: CityProfile, incident_id: str,
                       streams: tuple[str, ...] = ()) -> Window:
    """An incident's window and area (:func:`replay.window.incident_window`) from the
    ``incident_events`` of the client's database."""
    if not incident_id.strip():
        raise WindowError("unknown_incident", "incident", "empty incident id")
    rows = incident_events(client, incident_id=incident_id)
    return incident_window(profile, incident_id,
                           [(r["kind"], int(r["at_ms"]), r["payload_json"]) for r in rows],
                           streams)
