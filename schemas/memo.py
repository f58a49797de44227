"""A bounded memo: the one way the hot paths remember a pure function's results.

Why cleared whole rather than evicted one by one: the keys are kinds of input (an alert's
labels, a time string, a severity context) that repeat in bursts; keeping an eviction order
costs on every hit, and after a clear the keys in use come straight back.
"""

from __future__ import annotations

from typing import Hashable, MutableMapping, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


def remember(memo: MutableMapping[K, V], key: K, value: V, limit: int) -> V:
    """Store ``value`` under ``key`` (emptying ``memo`` first if it holds ``limit``);
    returns ``value``."""
    if len(memo) >= limit:
        memo.clear()
    memo[key] = value
    return value
