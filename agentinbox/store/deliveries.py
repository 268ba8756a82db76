"""The delivery queue: one row per remote recipient of a sent message, from ``pending`` to a final state.

States: ``pending`` (never tried), ``deferred`` (failed temporarily, waiting for ``next_attempt_at``),
``sending`` (claimed by a worker until ``next_attempt_at``; a worker that dies leaves the claim to expire,
so the row is tried again), ``delivered`` and ``bounced`` (final). On PostgreSQL, claims skip rows other
processes hold, so each attempt is made once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, func, select, update

from .tables import deliveries, messages

__all__ = [
    "Claimed",
    "claim",
    "deliveries_of",
    "finish",
    "record_failure",
    "statuses",
]

WAITING = ("pending", "deferred", "sending")


@dataclass(frozen=True, slots=True)
class Claimed:
    """A claimed delivery with what sending it needs from its message."""

    id: int
    message_pk: int
    recipient: str
    attempts: int
    created_at: int
    inbox_id: str
    pod_id: str
    thread_id: str
    message_id: str
    raw_sha256: str


def claim(conn: Connection, *, now: int, lease_until: int, limit: int) -> list[Claimed]:
    """Claim up to ``limit`` due deliveries (oldest first) until ``lease_until``."""
    due = (
        select(deliveries.c.id)
        .where(deliveries.c.status.in_(WAITING), deliveries.c.next_attempt_at <= now)
        .order_by(deliveries.c.next_attempt_at, deliveries.c.id)
        .limit(limit)
    )
    if conn.dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    ids = [row.id for row in conn.execute(due)]
    if not ids:
        return []
    conn.execute(
        update(deliveries)
        .where(deliveries.c.id.in_(ids))
        .values(status="sending", next_attempt_at=lease_until, updated_at=now)
    )
    rows = conn.execute(
        select(
            deliveries.c.id,
            deliveries.c.message_pk,
            deliveries.c.recipient,
            deliveries.c.attempts,
            deliveries.c.created_at,
            messages.c.inbox_id,
            messages.c.pod_id,
            messages.c.thread_id,
            messages.c.message_id,
            messages.c.raw_sha256,
        )
        .join(messages, messages.c.id == deliveries.c.message_pk)
        .where(deliveries.c.id.in_(ids))
        .order_by(deliveries.c.message_pk, deliveries.c.id)
    )
    return [Claimed(**row._mapping) for row in rows]


def finish(conn: Connection, ids: Sequence[int], *, status: str, now: int, response: str | None) -> None:
    """Mark deliveries ``delivered`` or ``bounced`` with the reply that decided it."""
    if ids:
        conn.execute(
            update(deliveries)
            .where(deliveries.c.id.in_(ids))
            .values(
                status=status,
                attempts=deliveries.c.attempts + 1,
                last_error=(response or "")[:2000] or None,
                updated_at=now,
            )
        )


def record_failure(conn: Connection, ids: Sequence[int], *, now: int, retry_at: int, error: str) -> None:
    """A temporary failure: count the attempt and wait until ``retry_at``."""
    if ids:
        conn.execute(
            update(deliveries)
            .where(deliveries.c.id.in_(ids))
            .values(
                status="deferred",
                attempts=deliveries.c.attempts + 1,
                last_error=error[:2000],
                next_attempt_at=retry_at,
                updated_at=now,
            )
        )


def statuses(conn: Connection, message_pk: int) -> dict[str, int]:
    """How many of a message's deliveries are in each state."""
    rows = conn.execute(
        select(deliveries.c.status, func.count())
        .where(deliveries.c.message_pk == message_pk)
        .group_by(deliveries.c.status)
    )
    return {row[0]: row[1] for row in rows}


def deliveries_of(conn: Connection, message_pk: int) -> list[Any]:
    """Every delivery row of a message (for matching a bounce report and for inspection)."""
    return list(
        conn.execute(
            select(deliveries).where(deliveries.c.message_pk == message_pk).order_by(deliveries.c.id)
        )
    )
