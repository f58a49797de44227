"""Event-time merge of per-stream sequences into runs for :meth:`replay.engine.Replayer.
feed` (pure, streaming: memory is one item per stream plus one run).

Each input is an iterator of ``(event_ms, tiebreak, event)`` in ``(event_ms, tiebreak)``
order (the warehouse reader's ``src_topic, src_partition, src_offset, src_index``); the
output is ``(stream, events, times)``: maximal runs of one stream in the merged order
(ties between streams broken by the stream's name), cut at ``max_run`` events and at every
``tick_ms`` boundary. The runs depend only on the items (and ``max_run``), not on how a
reader fetched them: a replay's ``now`` for a run is its last event's time, so the same
items give the same runs and the same outputs.
"""

from __future__ import annotations

import heapq
from typing import Any, Iterable, Iterator, Mapping

Item = tuple[int, Any, Any]
Run = tuple[str, list[Any], list[int]]


def merge_runs(inputs: Mapping[str, Iterable[Item]], tick_ms: int = 1000,
               max_run: int = 5000) -> Iterator[Run]:
    heads: list[tuple[int, str, Any, Any, Iterator[Item]]] = []
    for stream in sorted(inputs):
        it = iter(inputs[stream])
        for t, tie, ev in it:
            heads.append((t, stream, tie, ev, it))
            break
    # (time, stream, tiebreak): the tiebreak only compares within one stream
    heap = [(t, stream, i, tie, ev) for i, (t, stream, tie, ev, _) in enumerate(heads)]
    iters = {stream: it for _, stream, _, _, it in heads}
    heapq.heapify(heap)
    run_stream, events, times = "", [], []   # type: tuple[str, list[Any], list[int]]
    seq = len(heap)
    while heap:
        t, stream, _, _, ev = heapq.heappop(heap)
        if events and (stream != run_stream or len(events) >= max_run
                       or t // tick_ms != times[-1] // tick_ms):
            yield run_stream, events, times
            events, times = [], []
        run_stream = stream
        events.append(ev)
        times.append(t)
        for nt, ntie, nev in iters[stream]:
            seq += 1
            heapq.heappush(heap, (nt, stream, seq, ntie, nev))
            break
    if events:
        yield run_stream, events, times
