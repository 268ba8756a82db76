"""Idempotency keys: a retried send with the same key returns the first result instead of sending again."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy import Connection, delete, insert, select

from ..errors import ConflictError
from .tables import idempotency_keys

__all__ = ["fingerprint", "recall", "remember"]


def fingerprint(request: dict[str, Any]) -> str:
    """A stable hash of a request (endpoint, inbox and arguments)."""
    data = json.dumps(request, sort_keys=True, default=repr, separators=(",", ":")).encode()
    return hashlib.sha256(data).hexdigest()


def recall(conn: Connection, key: str, request_hash: str, *, now: int, ttl: int) -> dict[str, Any] | None:
    """The stored response for ``key``; ConflictError when the key was used for a different request."""
    conn.execute(
        delete(idempotency_keys).where(
            idempotency_keys.c.key == key, idempotency_keys.c.created_at < now - ttl * 1_000_000
        )
    )
    row = conn.execute(select(idempotency_keys).where(idempotency_keys.c.key == key)).first()
    if row is None:
        return None
    if row.request_hash != request_hash:
        raise ConflictError(
            f"idempotency_key {key!r} was already used for a different request; use a new key for new content"
        )
    return dict(row.response)


def remember(conn: Connection, key: str, request_hash: str, response: dict[str, Any], *, now: int) -> None:
    """Record the response given for ``key``, in the same transaction as the send itself."""
    conn.execute(
        insert(idempotency_keys).values(key=key, request_hash=request_hash, response=response, created_at=now)
    )
