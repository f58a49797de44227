"""The same window replayed in two processes gives the same records: string hashing differs
between processes (PYTHONHASHSEED), so anything that orders outputs by iterating a set of
strings shows here and not in two replays in one process (the grouping's resolve order did,
on live data: test_grouping has its own case)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).with_name("digest_run.py")


def test_two_processes_with_other_hash_seeds_give_the_same_digest() -> None:
    digests = set()
    for seed in ("1", "2"):
        done = subprocess.run([sys.executable, str(SCRIPT), "3"],
                              env={**os.environ, "PYTHONHASHSEED": seed},
                              capture_output=True, text=True, timeout=300, check=True)
        count, digest = done.stdout.split()[-2:]
        assert int(count) > 1000
        digests.add(digest)
    assert len(digests) == 1
