"""Operations on a whole thread's messages: the paged read, relabelling and deleting the thread."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, delete, select

from ..errors import UnprocessableError
from ..models import AttachmentResponse, Thread, UpdateThreadResponse
from .blobs import release_blobs
from .messages import attachment_content, full_messages, set_labels
from .pagination import fetch_page
from .scopes import Scope
from .tables import messages, threads
from .threads import get_thread_row, thread_labels_of, thread_with_messages

__all__ = ["delete_thread", "get_thread", "relabel_thread", "thread_attachment"]

_MAX_RELABEL = 100


def get_thread(
    conn: Connection, scope: Scope, thread_id: str, *, limit: int, page_token: str | None
) -> Thread:
    """The thread with its newest page of messages (ascending inside the page); the token pages older."""
    row = get_thread_row(conn, scope, thread_id)
    order = (messages.c.timestamp, messages.c.id)
    query = select(messages).where(messages.c.thread_id == row.thread_id)
    rows, token = fetch_page(
        conn, query, order, kind="thread-messages", ascending=False, limit=limit, page_token=page_token
    )
    page = full_messages(conn, list(reversed(rows)))
    labels = thread_labels_of(conn, [row.thread_id])[row.thread_id]
    return thread_with_messages(row, labels, messages_page=page, limit=limit, next_page_token=token)


def relabel_thread(
    conn: Connection, scope: Scope, thread_id: str, *, add: Sequence[str], remove: Sequence[str], now: int
) -> UpdateThreadResponse:
    """Add and remove labels on every message of the thread (remove wins when a label is in both)."""
    row = get_thread_row(conn, scope, thread_id)
    if row.message_count >= _MAX_RELABEL:
        raise UnprocessableError(
            f"thread {thread_id!r} has {row.message_count} messages; relabel threads of fewer than "
            f"{_MAX_RELABEL} messages, or relabel messages with batch_update"
        )
    add = [label for label in add if label not in remove]
    for message in conn.execute(select(messages).where(messages.c.thread_id == row.thread_id)).all():
        set_labels(conn, message, add, remove, now=now)
    conn.execute(threads.update().where(threads.c.thread_id == row.thread_id).values(updated_at=now))
    return UpdateThreadResponse(
        thread_id=row.thread_id, labels=thread_labels_of(conn, [row.thread_id])[row.thread_id]
    )


def delete_thread(conn: Connection, scope: Scope, thread_id: str) -> None:
    """Delete the thread and all its messages for good."""
    row = get_thread_row(conn, scope, thread_id)
    keys: list[str] = []
    for message in conn.execute(
        select(messages.c.raw_sha256, messages.c.attachments).where(messages.c.thread_id == row.thread_id)
    ):
        keys.append(message.raw_sha256)
        keys.extend(a["sha256"] for a in message.attachments or [])
    conn.execute(delete(messages).where(messages.c.thread_id == row.thread_id))
    conn.execute(delete(threads).where(threads.c.thread_id == row.thread_id))
    release_blobs(conn, keys)


def thread_attachment(
    conn: Connection, scope: Scope, thread_id: str, attachment_id: str
) -> AttachmentResponse:
    """An attachment of any message in the thread."""
    row = get_thread_row(conn, scope, thread_id)
    records: list[dict[str, Any]] = []
    for message in conn.execute(select(messages.c.attachments).where(messages.c.thread_id == row.thread_id)):
        records.extend(message.attachments or [])
    return attachment_content(conn, records, attachment_id)
