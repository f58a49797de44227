"""Heaps with lazy deletion: entries that no longer match their owner's state are left in
place and dropped when they reach the top (cheaper than removing them when state moves)."""

from __future__ import annotations

import heapq
from typing import Any, Callable


def first_live(heap: list[Any], live: Callable[[Any], bool]) -> Any | None:
    """The earliest entry ``live`` accepts (None: none); stale entries before it are
    popped, so a caller's timer never wakes for one."""
    while heap:
        if live(heap[0]):
            return heap[0]
        heapq.heappop(heap)
    return None
