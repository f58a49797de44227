"""The replay reader in a process of its own, ahead of the replay (a bounded queue between).

One process reading ClickHouse and replaying in turn runs at the sum of the two costs; with
the reader in a child process (its own connection, its own core) the replay goes at the
slower of the two. The runs are exactly :func:`warehouse.replay_read.read_window`'s, in the
same order (raw bodies: bytes pickle cheaply), so the outputs are the same; memory is the
queue's ``depth`` chunks of ``per_chunk`` runs. A reader that fails ends the replay with its
error (:class:`PrefetchError`), never silently early; a replay that stops early stops the
reader (by its PID).
"""

from __future__ import annotations

import multiprocessing
import queue
from typing import Any, Iterator

from citycc.settings import Settings
from replay.merge import Run
from replay.window import Window

END, FAILED = "end", "failed"
POLL_S = 1.0


class PrefetchError(RuntimeError):
    """The reader process failed (its error's text) or died."""


def _read(settings: Settings, database: str, window: Window, tick_ms: int, slice_ms: int,
          out: Any, per_chunk: int) -> None:
    from warehouse.client import connect
    from warehouse.replay_read import read_window
    client = connect(settings)
    try:
        chunk: list[Run] = []
        for run in read_window(client, database, window, tick_ms, slice_ms, raw=True):
            chunk.append(run)
            if len(chunk) >= per_chunk:
                out.put(chunk)
                chunk = []
        if chunk:
            out.put(chunk)
        out.put(END)
    except BaseException as exc:   # noqa: BLE001 - said to the parent, which raises it
        out.put((FAILED, f"{type(exc).__name__}: {exc}"))
    finally:
        client.disconnect()


def prefetched_window(settings: Settings, database: str, window: Window,
                      tick_ms: int = 1000, slice_ms: int = 10_000, *, depth: int = 16,
                      per_chunk: int = 50) -> Iterator[Run]:
    """:func:`~warehouse.replay_read.read_window` (raw bodies) read by a child process."""
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue(maxsize=depth)
    proc = ctx.Process(target=_read, name="citycc-replay-reader", daemon=True,
                       args=(settings, database, window, tick_ms, slice_ms, out, per_chunk))
    proc.start()
    try:
        while True:
            try:
                item = out.get(timeout=POLL_S)
            except queue.Empty:
                if not proc.is_alive():
                    raise PrefetchError(f"the reader process ended (exit code "
                                        f"{proc.exitcode}) before the window was read")
                continue
            if item == END:
                return
            if isinstance(item, tuple) and item and item[0] == FAILED:
                raise PrefetchError(item[1])
            yield from item
    finally:
        if proc.is_alive():
            proc.terminate()
        proc.join(10)
        out.close()
