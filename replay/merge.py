"""Event-time merge of per-stream sequences into batches for :meth:`replay.engine.Replayer.
feed` (pure, streaming: memory is one tick interval of events per stream).

Each input is an iterator of ``(event_ms, tiebreak, event)`` in event-time order (the
warehouse reader's ``event_ms, src_topic, src_partition, src_offset, src_index``). The
output is ``(stream, events, times)``: tick interval by tick interval (``[k * tick_ms,
(k + 1) * tick_ms)``), each stream's events of that interval (streams by name), cut at
``max_run`` events. That is what the live worker's input agents take: about a second of
one stream per batch, each stream on its own; and it is what keeps a replay fast (a batch
of hundreds of events, not a handful: the detectors' cost is per batch as much as per
event). The batches depend only on the items, not on how a reader fetched them, so the
same items give the same batches and the same outputs.
"""

from __future__ import annotations

from typing import Any, Iterable, Iterator, Mapping

Item = tuple[int, Any, Any]
Run = tuple[str, list[Any], list[int]]


def merge_runs(inputs: Mapping[str, Iterable[Item]], tick_ms: int = 1000,
               max_run: int = 5000) -> Iterator[Run]:
    iters = {s: iter(inputs[s]) for s in sorted(inputs)}
    heads: dict[str, Item] = {}
    for s, it in iters.items():
        for first in it:
            heads[s] = first
            break
    while heads:
        k = min(item[0] for item in heads.values()) // tick_ms
        end = (k + 1) * tick_ms
        for s in list(heads):
            item: Item | None = heads[s]
            if item is None or item[0] >= end:
                continue
            events: list[Any] = []
            times: list[int] = []
            it = iters[s]
            while item is not None and item[0] < end:
                events.append(item[2])
                times.append(item[0])
                if len(events) >= max_run:
                    yield s, events, times
                    events, times = [], []
                item = next(it, None)
            if events:
                yield s, events, times
            if item is None:
                del heads[s]
            else:
                heads[s] = item
