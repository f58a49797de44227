"""streams.chunks: checkpoint values split under the record limit and put back exactly."""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from streams.chunks import ChunkError, join, split


@given(st.text(max_size=300), st.integers(min_value=1, max_value=64))
def test_any_value_comes_back_whole_and_no_record_is_over_the_chunk(value: str,
                                                                    chunk: int) -> None:
    records = split("pdet:deviation:3", value, chunk)
    table = dict(records)
    assert join(table.get, "pdet:deviation:3") == value
    if len(value) > chunk:
        assert all(len(v) <= chunk for k, v in records[:-1])
        assert records[-1][0] == "pdet:deviation:3"   # the manifest is written last


def test_short_value_is_one_record_under_its_own_key() -> None:
    assert split("limits:0", '{"a":1}', 100) == [("limits:0", '{"a":1}')]
    assert join({}.get, "limits:0") is None


def test_a_checkpoint_cut_between_parts_and_manifest_is_refused_not_mixed() -> None:
    table = dict(split("k", "a" * 50 + "b" * 50, 10))
    table.update(split("k", "c" * 100, 10)[:-1])   # new parts written, manifest not yet
    with pytest.raises(ChunkError, match="digest"):
        join(table.get, "k")
    del table["k#3"]
    with pytest.raises(ChunkError, match="missing"):
        join(table.get, "k")


def test_a_city_sized_snapshot_fits_the_record_limit() -> None:
    from citycc.settings import load_settings
    limit = load_settings({}).broker_message_max_bytes
    value = "长沙" * 3_000_000                      # 6 M characters, 18 MB of UTF-8
    records = split("pdet:deviation:0", value)
    assert all(len(v.encode()) + len(k) < limit for k, v in records)
    assert join(dict(records).get, "pdet:deviation:0") == value


@pytest.mark.parametrize("manifest", ['{"citycc_chunks":"x","sha256":"a"}',
                                      '{"citycc_chunks":2}', '{"citycc_chunks":1,'])
def test_an_unreadable_manifest_is_a_chunk_error_not_a_crash(manifest: str) -> None:
    with pytest.raises(ChunkError, match="manifest"):
        join({"k": manifest, "k#0": "a"}.get, "k")
