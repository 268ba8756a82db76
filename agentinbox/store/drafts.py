"""Drafts: unsent messages, optionally scheduled with ``send_at``."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from .._clock import to_datetime
from ..errors import ConflictError, NotFoundError
from ..models import Draft, DraftItem, ListDraftsResponse
from .blobs import release_blobs
from .filters import list_has
from .messages import _attachments
from .pagination import fetch_page
from .scopes import Scope
from .tables import drafts

__all__ = [
    "claim_due",
    "delete_draft",
    "draft_row",
    "get_draft",
    "insert_draft",
    "list_drafts",
    "mark_failed",
    "next_due",
    "release_claim",
    "take_for_sending",
    "update_draft",
]


def _item_fields(row: Any) -> dict[str, Any]:
    return {
        "inbox_id": row.inbox_id,
        "draft_id": row.draft_id,
        "labels": sorted(row.labels),
        "to": row.to,
        "cc": row.cc,
        "bcc": row.bcc,
        "subject": row.subject,
        "preview": _preview(row.text),
        "attachments": _attachments(row.attachments),
        "in_reply_to": row.in_reply_to,
        "forward_of": row.forward_of,
        "send_status": row.send_status,
        "send_at": to_datetime(row.send_at) if row.send_at is not None else None,
        "send_error": row.send_error,
        "updated_at": to_datetime(row.updated_at),
    }


def _preview(text: str | None) -> str | None:
    if not text:
        return None
    flat = " ".join(text.split())
    return flat if len(flat) <= 200 else flat[:199] + "…"


def _draft(row: Any) -> Draft:
    return Draft(
        **_item_fields(row),
        client_id=row.client_id,
        reply_to=row.reply_to,
        text=row.text,
        html=row.html,
        references=row.references,
        created_at=to_datetime(row.created_at),
    )


def find_by_client_id(conn: Connection, inbox_id: str, client_id: str) -> Draft | None:
    row = conn.execute(
        select(drafts).where(drafts.c.inbox_id == inbox_id, drafts.c.client_id == client_id)
    ).first()
    return _draft(row) if row is not None else None


def insert_draft(conn: Connection, values: dict[str, Any], *, now: int) -> Draft:
    """Store a new draft from already validated values; returns it."""
    draft_id = str(uuid.uuid4())
    conn.execute(insert(drafts).values(draft_id=draft_id, created_at=now, updated_at=now, **values))
    return _draft(draft_row(conn, Scope(), draft_id))


def draft_row(conn: Connection, scope: Scope, draft_id: str) -> Any:
    row = conn.execute(select(drafts).where(scope.where(drafts), drafts.c.draft_id == draft_id)).first()
    if row is None:
        raise NotFoundError(f"draft {draft_id!r} does not exist")
    return row


def get_draft(conn: Connection, scope: Scope, draft_id: str) -> Draft:
    return _draft(draft_row(conn, scope, draft_id))


def update_draft(conn: Connection, draft_id: str, values: dict[str, Any], *, now: int) -> Draft:
    conn.execute(update(drafts).where(drafts.c.draft_id == draft_id).values(updated_at=now, **values))
    return _draft(draft_row(conn, Scope(), draft_id))


def delete_draft(conn: Connection, scope: Scope, draft_id: str, *, keep_blobs: bool = False) -> None:
    """Delete a draft (which also cancels its scheduled send) and release its attachment blobs."""
    row = draft_row(conn, scope, draft_id)
    conn.execute(delete(drafts).where(drafts.c.draft_id == row.draft_id))
    if not keep_blobs:
        release_blobs(conn, [a["sha256"] for a in row.attachments or []])


def take_for_sending(conn: Connection, row: Any) -> None:
    """Delete a draft about to be sent, provided its ``send_status`` is still the one read in ``row``;
    a :class:`ConflictError` when it changed or went meanwhile (another process claimed or sent it), so
    a draft is never sent twice. Its attachment blobs stay: the caller releases them after sending."""
    status = drafts.c.send_status
    guard = status.is_(None) if row.send_status is None else status == row.send_status
    taken = conn.execute(delete(drafts).where(drafts.c.draft_id == row.draft_id, guard)).rowcount
    if taken != 1:
        raise ConflictError(f"draft {row.draft_id!r} is already being sent")


def list_drafts(
    conn: Connection,
    scope: Scope,
    *,
    labels: Sequence[str],
    before: int | None,
    after: int | None,
    limit: int,
    page_token: str | None,
    ascending: bool,
) -> ListDraftsResponse:
    kind = f"drafts-{scope.name}"
    order = (drafts.c.updated_at, drafts.c.draft_id)
    query = select(drafts).where(scope.where(drafts))
    for label in labels:
        query = query.where(list_has(drafts.c.labels, label))
    if before is not None:
        query = query.where(drafts.c.updated_at < before)
    if after is not None:
        query = query.where(drafts.c.updated_at >= after)
    rows, token = fetch_page(
        conn, query, order, kind=kind, ascending=ascending, limit=limit, page_token=page_token
    )
    return ListDraftsResponse(
        count=len(rows),
        limit=limit,
        next_page_token=token,
        drafts=[DraftItem(**_item_fields(row)) for row in rows],
    )


# Scheduled send. A draft waits as ``scheduled`` until its ``send_at``; a scheduler claims it (``sending``,
# with ``send_lease_until``), sends it (which deletes it) or marks it ``failed``. A claim that is never
# finished, because its process died, expires and the draft is claimed again.


def claim_due(conn: Connection, *, now: int, lease_until: int, limit: int) -> list[Any]:
    """Claim up to ``limit`` drafts whose ``send_at`` has come (or whose earlier claim expired), earliest
    first; returns their (draft_id, inbox_id). On PostgreSQL rows another process holds are skipped."""
    due = (
        select(drafts.c.draft_id, drafts.c.inbox_id)
        .where(
            ((drafts.c.send_status == "scheduled") & (drafts.c.send_at <= now))
            | ((drafts.c.send_status == "sending") & (drafts.c.send_lease_until <= now))
        )
        .order_by(drafts.c.send_at, drafts.c.draft_id)
        .limit(limit)
    )
    if conn.dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    rows = list(conn.execute(due))
    if rows:
        conn.execute(
            update(drafts)
            .where(drafts.c.draft_id.in_([row.draft_id for row in rows]))
            .values(send_status="sending", send_lease_until=lease_until, updated_at=now)
        )
    return rows


def next_due(conn: Connection) -> int | None:
    """When the scheduler next has something to do: the earliest ``send_at`` of a scheduled draft or
    expiry of a claim, or None."""
    scheduled = conn.execute(
        select(func.min(drafts.c.send_at)).where(drafts.c.send_status == "scheduled")
    ).scalar()
    claimed = conn.execute(
        select(func.min(drafts.c.send_lease_until)).where(drafts.c.send_status == "sending")
    ).scalar()
    times = [t for t in (scheduled, claimed) if t is not None]
    return min(times) if times else None


def mark_failed(conn: Connection, draft_id: str, reason: str, *, now: int) -> None:
    """Record that the claimed scheduled send of a draft failed for good; it stays until changed or deleted."""
    conn.execute(
        update(drafts)
        .where(drafts.c.draft_id == draft_id, drafts.c.send_status == "sending")
        .values(send_status="failed", send_error=reason[:2000], send_lease_until=None, updated_at=now)
    )


def release_claim(conn: Connection, draft_id: str, *, now: int) -> None:
    """Give a claimed draft back as ``scheduled`` (the scheduler stopped before sending it)."""
    conn.execute(
        update(drafts)
        .where(drafts.c.draft_id == draft_id, drafts.c.send_status == "sending")
        .values(send_status="scheduled", send_lease_until=None, updated_at=now)
    )
