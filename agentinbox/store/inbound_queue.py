"""The inbound queue: raw mail accepted over SMTP, waiting to be processed into messages.

A row is due when its ``next_attempt_at`` has come. On PostgreSQL, where several engines may work on one
queue, a worker claims its batch (``claim_due``: ``FOR UPDATE SKIP LOCKED``, then ``next_attempt_at`` moved
to the end of a lease) before parsing it, so no two processes parse the same message; a claim whose process
died expires and the rows are due again. ``take`` in the storing transaction still guards against storing
a message twice (a claim that expired while its worker was still busy).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from sqlalchemy import Connection, delete, func, insert, select, tuple_, update

from .blobs import blob_content, put_blob
from .tables import blobs, inbound_queue

__all__ = [
    "Accepted",
    "claim_due",
    "due_count",
    "due_entries",
    "enqueue",
    "enqueue_many",
    "next_due",
    "postpone",
    "take",
]


class Accepted(NamedTuple):
    """A message accepted over SMTP: its raw bytes and envelope, and the client that handed it over."""

    raw: bytes
    mail_from: str | None
    rcpt_to: Sequence[str]
    client_ip: str | None = None
    helo: str | None = None


def enqueue(conn: Connection, raw: bytes, *, mail_from: str | None, rcpt_to: Sequence[str], now: int) -> int:
    """Make an accepted message durable (its bytes as a blob, its envelope as a row); returns the row id."""
    key = put_blob(conn, raw)
    result = conn.execute(
        insert(inbound_queue).values(
            raw_sha256=key,
            mail_from=mail_from,
            rcpt_to=list(rcpt_to),
            received_at=now,
            attempts=0,
            next_attempt_at=now,
        )
    )
    return int(result.inserted_primary_key[0])  # type: ignore[index]


def enqueue_many(conn: Connection, messages: Sequence[Accepted], *, now: int) -> None:
    """Make several accepted messages durable in one transaction (a group commit), with one insert of rows."""
    rows = [
        {
            "raw_sha256": put_blob(conn, message.raw),
            "mail_from": message.mail_from,
            "rcpt_to": list(message.rcpt_to),
            "client_ip": message.client_ip,
            "helo": message.helo,
            "received_at": now,
            "attempts": 0,
            "next_attempt_at": now,
        }
        for message in messages
    ]
    if rows:
        conn.execute(insert(inbound_queue), rows)


def due_entries(
    conn: Connection, *, now: int, limit: int, shard: tuple[int, int] | None = None
) -> list[tuple[Any, bytes]]:
    """Queued messages ready to be processed, oldest first, each as its row and raw bytes, in one query.

    ``shard`` (index, count) keeps only the ids equal to index modulo count: workers in separate processes
    each own one share of the queue, so no two of them parse the same message.
    """
    query = (
        select(inbound_queue, blobs.c.compressed, blobs.c.data)
        .join(blobs, blobs.c.sha256 == inbound_queue.c.raw_sha256)
        .where(inbound_queue.c.next_attempt_at <= now)
    )
    if shard is not None:
        index, count = shard
        query = query.where(inbound_queue.c.id % count == index)
    rows = conn.execute(query.order_by(inbound_queue.c.next_attempt_at, inbound_queue.c.id).limit(limit))
    return [(row, blob_content(row.compressed, row.data)) for row in rows]


def claim_due(
    conn: Connection, *, now: int, lease_until: int, limit: int, shard: tuple[int, int] | None = None
) -> list[tuple[Any, bytes]]:
    """``due_entries``, claimed until ``lease_until`` (PostgreSQL): rows another transaction holds are
    skipped, and the claimed ones are not due for anyone else until the lease passes."""
    due = select(inbound_queue.c.id).where(inbound_queue.c.next_attempt_at <= now)
    if shard is not None:
        index, count = shard
        due = due.where(inbound_queue.c.id % count == index)
    due = (
        due.order_by(inbound_queue.c.next_attempt_at, inbound_queue.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    claimed = conn.execute(
        update(inbound_queue)
        .where(inbound_queue.c.id.in_(due.scalar_subquery()))
        .values(next_attempt_at=lease_until)
        .returning(inbound_queue.c.id)
    )
    ids = [row.id for row in claimed]
    if not ids:
        return []
    rows = conn.execute(
        select(inbound_queue, blobs.c.compressed, blobs.c.data)
        .join(blobs, blobs.c.sha256 == inbound_queue.c.raw_sha256)
        .where(inbound_queue.c.id.in_(ids))
        .order_by(inbound_queue.c.received_at, inbound_queue.c.id)
    )
    return [(row, blob_content(row.compressed, row.data)) for row in rows]


def next_due(conn: Connection) -> int | None:
    """When the earliest queued message falls due (a retry, or a claim expiring), or None if none is queued."""
    return conn.execute(select(func.min(inbound_queue.c.next_attempt_at))).scalar()


def due_count(conn: Connection, *, now: int) -> int:
    """How many queued messages are ready to be processed or being processed: due, or claimed by a worker
    (a claim pushes ``next_attempt_at`` ahead too, but only a failed attempt sets ``last_error``)."""
    waiting = (inbound_queue.c.next_attempt_at <= now) | inbound_queue.c.last_error.is_(None)
    query = select(func.count()).select_from(inbound_queue).where(waiting)
    return int(conn.execute(query).scalar_one())


def take(conn: Connection, entries: Sequence[tuple[int, str, int]]) -> dict[int, str]:
    """Remove messages from the queue in the transaction that stores them; returns id → raw blob key of those
    still queued (another worker processed the rest meanwhile). The caller releases those blob references
    with ``release_blobs`` after storing, so a blob the stored message shares is never dropped midway.

    Each entry is (id, raw_sha256, received_at) as read: SQLite hands the id of a deleted last row to the
    next insert, so the id alone could name a message accepted after this worker read the queue.
    """
    if not entries:
        return {}
    identity = tuple_(inbound_queue.c.id, inbound_queue.c.raw_sha256, inbound_queue.c.received_at)
    rows = conn.execute(
        delete(inbound_queue)
        .where(identity.in_([tuple(entry) for entry in entries]))
        .returning(inbound_queue.c.id, inbound_queue.c.raw_sha256)
    )
    return {row.id: row.raw_sha256 for row in rows}


def postpone(conn: Connection, queue_id: int, *, error: str, retry_at: int) -> None:
    """Record a failed attempt; the message stays queued and is tried again at ``retry_at``."""
    conn.execute(
        update(inbound_queue)
        .where(inbound_queue.c.id == queue_id)
        .values(attempts=inbound_queue.c.attempts + 1, last_error=error[:2000], next_attempt_at=retry_at)
    )
