"""bench/cockpit.py cannot rot: its smoke mode (a few clients in two processes, a real broker
and cockpit, a few seconds) runs, finds no sequence break, no missed alert, every client
resumed and every slow client dropped."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]
ROOT = Path(__file__).resolve().parents[2]


def test_the_cockpit_bench_smoke_mode_runs_clean() -> None:
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "cockpit.py"), "--smoke"],
                          cwd=ROOT, capture_output=True, text=True, timeout=280)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert "seq breaks 0, missing 0" in out
    assert "6 resumed, 0 refused" in out and "alerts missing 0" in out
    assert "dropped (1013): 10 of 10" in out
