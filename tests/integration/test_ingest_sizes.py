"""Every input the broker accepts, of any size, is stored or dead-lettered: the size sweep
(bench/ingest_sizes.py) against a worker on the session's real broker and ClickHouse."""

from __future__ import annotations

import hashlib
from typing import Any, Callable, ContextManager

import pytest

from bench.ingest_sizes import run_sweep
from citycc.cli import _prepare
from citycc.settings import Settings
from schemas.topics import DEAD_LETTER_PREFIX_BYTES
from warehouse.client import connect

pytestmark = pytest.mark.integration


def test_messages_of_every_size_are_stored_or_dead_lettered_none_lost(
        prepared: Settings, own_topics: Callable[[Settings, str], Settings],
        fresh_database: Callable[[str], ContextManager[Settings]], citycc_proc: Any) -> None:
    with fresh_database("sizes") as db_settings:
        s = own_topics(db_settings.with_overrides(worker_id="sizes-worker"), "sizes")
        _prepare(s)      # migrations, so the sweep can read before the worker writes
        worker = citycc_proc(["worker"], "worker-sizes", s)
        sweep = run_sweep(s, deadline_s=60, alive=worker.alive)
        assert worker.alive(), f"worker died:\n{worker.tail()}"
        print(sweep.summary())
        assert sweep.lost == 0 and not sweep.wrong, f"{sweep.summary()}\n{worker.tail()}"
        assert len(sweep.accepted) == sweep.stored + sweep.dead_lettered
        assert sweep.tried == len(sweep.accepted) + len(sweep.refused)
        # a broker may refuse what is over the record limit it was set up with (Tansu takes
        # everything), and nothing below it
        limit = s.broker_message_max_bytes
        assert all(len(p.value or b"") > limit for p, _ in sweep.refused), sweep.summary()
        assert sweep.codes["malformed_json"] == 10 and sweep.codes["not_object"] == 1
        assert sweep.codes["too_large"] == 1 + sum(len(p.value or b"") > limit
                                                   for p in sweep.accepted.values())
        assert sweep.stored == 19      # 17 batches of 4, the ~900 KB and the full batch
        client = connect(s)
        try:
            kept = client.execute(
                f"SELECT length(raw), raw_size, raw_sha256 FROM {s.clickhouse.database}."
                "dead_letters FINAL WHERE code = 'too_large'")
        finally:
            client.disconnect()
        # each too big original: its first 64 KiB, its size and its digest
        want = {len(p.value or b""): hashlib.sha256(p.value or b"").hexdigest()
                for p in sweep.accepted.values() if p.code == "too_large"}
        assert {size: digest for _, size, digest in kept} == want and len(kept) == len(want)
        assert all(n == DEAD_LETTER_PREFIX_BYTES for n, _, _ in kept)
        assert "MessageSizeTooLarge" not in worker.tail()
