"""Content-addressed blobs: raw messages and attachment contents, zlib-compressed when that pays.

Identical content is stored once and reference-counted: every message or draft that points at a blob holds
one reference, and the blob goes when the last one is released.
"""

from __future__ import annotations

import hashlib
import zlib
from collections import Counter
from collections.abc import Iterable

from sqlalchemy import Connection, bindparam, delete, insert, select, update

from .tables import blobs

__all__ = ["blob_content", "blob_key", "get_blob", "put_blob", "release_blobs"]

_MIN_COMPRESS = 256
_TAKE = update(blobs).where(blobs.c.sha256 == bindparam("key")).values(refs=blobs.c.refs + 1)
_INSERT = insert(blobs)
_RELEASE = update(blobs).where(blobs.c.sha256 == bindparam("key")).values(refs=blobs.c.refs - bindparam("n"))
_DROP_UNUSED = delete(blobs).where(blobs.c.sha256.in_(bindparam("keys", expanding=True)), blobs.c.refs <= 0)


def blob_key(data: bytes) -> str:
    """The SHA-256 hex digest a blob is stored under."""
    return hashlib.sha256(data).hexdigest()


def put_blob(conn: Connection, data: bytes, key: str | None = None) -> str:
    """Store ``data`` (or take one more reference to identical stored content) and return its key."""
    key = key or blob_key(data)
    taken = conn.execute(_TAKE, {"key": key})
    if taken.rowcount:
        return key
    stored, compressed = data, False
    if len(data) >= _MIN_COMPRESS:
        packed = zlib.compress(data, 6)
        if len(packed) < len(data) * 0.9:
            stored, compressed = packed, True
    conn.execute(
        _INSERT, {"sha256": key, "size": len(data), "compressed": compressed, "refs": 1, "data": stored}
    )
    return key


def get_blob(conn: Connection, key: str) -> bytes | None:
    """The original bytes of a blob, or None when it does not exist."""
    row = conn.execute(select(blobs.c.compressed, blobs.c.data).where(blobs.c.sha256 == key)).first()
    if row is None:
        return None
    return blob_content(row.compressed, row.data)


def blob_content(compressed: bool, data: bytes) -> bytes:
    """The original bytes of a stored blob, from its ``compressed`` and ``data`` columns."""
    return zlib.decompress(data) if compressed else bytes(data)


def release_blobs(conn: Connection, keys: Iterable[str]) -> None:
    """Drop one reference to each key (a key listed twice drops two) and delete unreferenced blobs."""
    counts = Counter(keys)
    if not counts:
        return
    conn.execute(_RELEASE, [{"key": key, "n": n} for key, n in counts.items()])
    conn.execute(_DROP_UNUSED, {"keys": list(counts)})
