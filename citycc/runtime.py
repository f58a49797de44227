"""Process-wide settings for the long-running worker (and the benchmarks that model it).

Why: the alerting and detection state is hundreds of thousands of long-lived objects
(alerts, incidents, detector slots), and CPython's cyclic garbage collector walks every
tracked object on each full collection: at the default thresholds that cost a quarter of
the alerting stage's time. Nearly all garbage here is acyclic and freed by reference
counting the moment it dies, so collections are made rarer, and state that has survived
a checkpoint is frozen out of them (``gc.freeze``: its objects are no longer scanned;
cycles among them, if any, are only reclaimed by :func:`thaw`).
"""

from __future__ import annotations

import gc

# (allocations before a young collection, young before middle, middle before full)
GC_THRESHOLDS = (50_000, 20, 100)


def tune_gc() -> None:
    """Raise the collector's thresholds (once, at start)."""
    gc.set_threshold(*GC_THRESHOLDS)


def freeze_long_lived() -> None:
    """Move everything alive now out of future collections (after a checkpoint: what is
    alive then is state, kept until it is replaced)."""
    gc.freeze()


def thaw() -> None:
    """Return frozen objects to the collector and collect (reclaims cycles among them)."""
    gc.unfreeze()
    gc.collect()
