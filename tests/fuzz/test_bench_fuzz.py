"""bench/fuzz.py itself: a run survives an input that exhausts memory or kills its worker,
and says which chunk (and, for a MemoryError, which case) it was."""

from __future__ import annotations

import importlib.util
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import strategies as st

pytestmark = pytest.mark.fuzz

ROOT = Path(__file__).resolve().parents[2]


def _bench() -> Any:
    spec = importlib.util.spec_from_file_location("bench_fuzz", ROOT / "bench" / "fuzz.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["bench_fuzz"] = mod   # (dataclasses look their module up)
    spec.loader.exec_module(mod)
    return mod


F = _bench()


def _tally(inputs: int) -> Any:
    return sys.modules[F.Tally.__module__].Tally(inputs)


def _fine(case: Any) -> Any:
    return _tally(1)


def _grows(case: int) -> Any:
    """An entry point that builds a list as long as its input says (the escalation bug)."""
    if case == 7:
        _ = [0] * (10 ** 10)   # 80 GB: past any cap
    return _tally(1)


def _dies(case: Any) -> Any:
    os.kill(os.getpid(), signal.SIGKILL)   # what the kernel's OOM killer does
    return _tally(1)


def _broken_strategy() -> Any:
    return st.integers().map(lambda _: 1 // 0)   # a harness bug, not a product one


@pytest.fixture
def fake_targets() -> Any:
    """Three targets besides the real ones (set before the pool forks: its workers see them)."""
    F._target("ingest")
    fakes = {"fine": F.Target("fine", "fine", st.integers, _fine, 1.0),
             "grows": F.Target("grows", "grows", lambda: st.just(7), _grows, 1.0),
             "dies": F.Target("dies", "dies", st.integers, _dies, 1.0),
             "harness": F.Target("harness", "harness", _broken_strategy, _fine, 1.0)}
    F._TARGETS.update(fakes)
    yield fakes
    for name in fakes:
        F._TARGETS.pop(name, None)


def test_a_killed_worker_is_a_crash_naming_its_chunk_and_the_run_goes_on(fake_targets: Any
                                                                         ) -> None:
    chunks = [("fine", 1, 20), ("dies", 2, 20), ("fine", 3, 20), ("fine", 4, 20)]
    done = F.run(chunks, jobs=2, stop_after=10, max_memory_mb=0)
    assert done["fine"].inputs >= 60 and not done["fine"].counts
    assert done["dies"].counts["crash"] == 1 and done["dies"].inputs == 0
    (kind, text), = done["dies"].samples
    assert kind == "crash" and "('dies', 2, 20)" in text and "-9" in text


def test_memory_past_the_cap_is_a_crash_finding_with_its_case(fake_targets: Any) -> None:
    done = F.run([("grows", 5, 3), ("fine", 6, 10)], jobs=2, stop_after=10,
                 max_memory_mb=1024)
    assert done["grows"].counts["crash"] == done["grows"].inputs == 1   # (one case: just(7))
    assert any("MemoryError" in text and "in case: 7" in text
               for _, text in done["grows"].samples)
    assert done["fine"].inputs >= 10


def test_a_harness_error_stops_its_chunk_only(fake_targets: Any) -> None:
    res = F.run_chunk("harness", 1, 10)
    assert res.counts["crash"] == 1 and "ZeroDivisionError" in res.samples[0][1]
    assert "('harness', 1, 10)" in res.samples[0][1]



def test_running_a_chunk_leaves_the_callers_logging_on(fake_targets: Any) -> None:
    """It turned logging off for the whole test session (a later test that reads caplog
    found nothing): only the processes that run chunks are quieted."""
    F.run_chunk("harness", 1, 10)
    assert logging.root.manager.disable == logging.NOTSET


def test_each_worker_process_writes_its_own_importer_files() -> None:
    """Two workers importing at once once overwrote each other's file (wrong accepts and
    refusals under --jobs 2 --only importers)."""
    from concurrent.futures import ProcessPoolExecutor

    from .targets.importers import _dir
    mine = _dir()
    with ProcessPoolExecutor(1) as pool:
        theirs = pool.submit(_dir).result()
    assert theirs != mine and mine.is_dir()
