"""streams.progress: the worker's progress file (what ``citycc run`` polls for readiness)."""

from __future__ import annotations

from pathlib import Path

from streams.progress import Progress, processing_since, progress_path, read_progress


def test_written_only_when_changed_and_read_back_for_its_pid(tmp_path: Path) -> None:
    path = progress_path(tmp_path, "worker-1")
    progress = Progress(path, pid=42, started_ms=1_000)
    assert progress.write_if_changed()                 # the start itself is written
    assert read_progress(path) == {"pid": 42, "started_ms": 1_000, "first_batch_ms": None,
                                   "last_batch_ms": None, "batches": 0, "messages": 0}
    assert processing_since(path, 42) is None          # started, nothing taken yet
    progress.note(3, 1_500)
    progress.note(2, 1_700)
    assert progress.write_if_changed() and not progress.write_if_changed()
    assert read_progress(path) == {"pid": 42, "started_ms": 1_000, "first_batch_ms": 1_500,
                                   "last_batch_ms": 1_700, "batches": 2, "messages": 5}
    assert processing_since(path, 42) == 1_500
    assert processing_since(path, 43) is None          # a predecessor's file is not proof


def test_a_missing_or_foreign_file_is_no_progress(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    assert read_progress(path) is None
    for raw in (b"{", b"[]", b'{"pid": "1"}', b'{"pid": 1, "started_ms": 0, "batches": 0, '
                b'"messages": 0, "first_batch_ms": "soon"}'):
        path.write_bytes(raw)
        assert read_progress(path) is None and processing_since(path, 1) is None
