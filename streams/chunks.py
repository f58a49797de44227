"""Checkpoint values split across table keys, so no changelog record outgrows the record limit.

A detector's snapshot grows with what it tracks: the per-sensor baselines of one lifeline
partition are ~4 MB at city-1x, past the broker's record limit at any larger city. A value
longer than ``chunk_chars`` is stored as parts ``<key>#0 .. <key>#n-1`` followed by a manifest
under ``<key>`` naming the part count and a digest of the whole. The parts go to the same
changelog partition before the manifest, so a reader that sees a manifest sees its parts; a
crash between them leaves an old manifest whose digest no longer matches: read as missing
(the detector starts afresh), never as a mix of two checkpoints.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import orjson

# 256 Ki characters: at most 1 MiB of UTF-8, well under any broker's record limit.
CHUNK_CHARS = 256 * 1024
_MARK = "citycc_chunks"


class ChunkError(ValueError):
    """A chunked value could not be put back together (a part missing, a digest mismatch)."""


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def split(key: str, value: str, chunk_chars: int | None = None) -> list[tuple[str, str]]:
    """The (key, value) records to write, in order: ``value`` itself if it is short, else its
    parts and then the manifest (parts of ``chunk_chars``, default :data:`CHUNK_CHARS`)."""
    chunk_chars = chunk_chars or CHUNK_CHARS
    if len(value) <= chunk_chars:
        return [(key, value)]
    parts = [(f"{key}#{i}", value[start:start + chunk_chars])
             for i, start in enumerate(range(0, len(value), chunk_chars))]
    manifest = orjson.dumps({_MARK: len(parts), "sha256": _digest(value)}).decode()
    return [*parts, (key, manifest)]


def join(get: Callable[[str], str | None], key: str) -> str | None:
    """The value stored under ``key`` (put together from its parts if it was split), or None
    if there is none; :class:`ChunkError` if its parts do not make the recorded whole."""
    stored = get(key)
    if stored is None or not stored.startswith('{"' + _MARK + '":'):
        return stored
    try:
        manifest = orjson.loads(stored)
        count, digest = int(manifest[_MARK]), str(manifest["sha256"])
    except (ValueError, TypeError, KeyError) as exc:
        raise ChunkError(f"{key}: unreadable manifest ({exc!r})") from exc
    parts = [get(f"{key}#{i}") for i in range(count)]
    missing = [i for i, part in enumerate(parts) if part is None]
    if missing:
        raise ChunkError(f"{key}: parts {missing} of {len(parts)} missing")
    whole = "".join(part for part in parts if part is not None)
    if _digest(whole) != digest:
        raise ChunkError(f"{key}: parts do not match the manifest's digest (a checkpoint "
                         "interrupted between its parts and its manifest)")
    return whole
