"""Threads: assigning messages to them (with merges), their cached aggregates, and queries over them.

A thread's row caches what lists show (counts, participants, timestamps, preview); ``thread_labels`` holds the
union of its messages' labels with a count per label, so label filters never touch the messages.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Connection,
    Text,
    bindparam,
    cast,
    delete,
    exists,
    func,
    insert,
    select,
    update,
)

from .._clock import to_datetime
from ..errors import NotFoundError
from ..mail.addresses import address_key
from ..mail.labels import HIDDEN_LABELS
from ..models import Attachment, ListThreadsResponse, Thread, ThreadItem
from .pagination import fetch_page
from .scopes import Scope
from .tables import messages, thread_labels, thread_refs, threads

__all__ = [
    "ThreadFilter",
    "add_to_thread",
    "find_thread",
    "get_thread_row",
    "list_threads",
    "refresh_thread",
    "thread_item",
]

# A thread row keeps at most this many senders, recipients and attachments, so adding to a long thread
# costs the same as adding to a short one.
_MAX_PARTICIPANTS = 100
_MAX_ATTACHMENTS = 100

# Statements on the ingest path, built once so SQLAlchemy reuses their compiled form.
_LOOKUP_REFS = select(thread_refs.c.ref, thread_refs.c.thread_id).where(
    thread_refs.c.inbox_id == bindparam("inbox_id"), thread_refs.c.ref.in_(bindparam("keys", expanding=True))
)
_INSERT_REFS = insert(thread_refs)
_INSERT_THREAD = insert(threads)
_THREAD_ROW = select(threads).where(threads.c.thread_id == bindparam("tid"))
_UPDATE_THREAD = (
    update(threads)
    .where(threads.c.thread_id == bindparam("tid"))
    .values(
        message_count=bindparam("message_count"),
        size=bindparam("size"),
        senders=bindparam("senders"),
        recipients=bindparam("recipients"),
        subject=bindparam("subject"),
        subject_key=bindparam("subject_key"),
        timestamp=bindparam("timestamp"),
        last_message_id=bindparam("last_message_id"),
        preview=bindparam("preview"),
        attachments=bindparam("attachments"),
        received_timestamp=bindparam("received_timestamp"),
        sent_timestamp=bindparam("sent_timestamp"),
        updated_at=bindparam("updated_at"),
    )
)
_INSERT_LABEL_COUNTS = insert(thread_labels)
_LABELS_PRESENT = select(thread_labels.c.label).where(
    thread_labels.c.thread_id == bindparam("tid"),
    thread_labels.c.label.in_(bindparam("labels", expanding=True)),
)
_ADD_LABEL_COUNTS = (
    update(thread_labels)
    .where(
        thread_labels.c.thread_id == bindparam("tid"),
        thread_labels.c.label.in_(bindparam("labels", expanding=True)),
    )
    .values(count=thread_labels.c.count + bindparam("delta"))
)


def lookup_refs(conn: Connection, inbox_id: str, keys: Sequence[str]) -> dict[str, str]:
    """Which of these Message-IDs the inbox already knows, and their threads."""
    if not keys:
        return {}
    return {
        row.ref: row.thread_id
        for row in conn.execute(_LOOKUP_REFS, {"inbox_id": inbox_id, "keys": list(keys)})
    }


@dataclass(slots=True)
class ThreadFilter:
    """The filters of a thread list (AgentMail §4)."""

    labels: Sequence[str] = ()
    before: int | None = None
    after: int | None = None
    senders: Sequence[str] = ()
    recipients: Sequence[str] = ()
    subject: Sequence[str] = ()
    include_spam: bool = False
    include_blocked: bool = False
    include_unauthenticated: bool = False
    include_trash: bool = False


def find_thread(
    conn: Connection,
    *,
    inbox_id: str,
    keys: Sequence[str],
    subject_key: str,
    participants: Iterable[str],
    subject_fallback: bool,
    since: int,
    known: dict[str, str] | None = None,
) -> str | None:
    """The thread a new message belongs to, merging threads it links; None means a new thread.

    Any shared Message-ID key (own id, In-Reply-To, References) decides. Only a message with no references
    at all may join by subject, and only a recent thread with the same normalised subject that shares a
    participant other than the inbox itself.
    """
    if known is None:
        known = lookup_refs(conn, inbox_id, keys)
    found = list(dict.fromkeys(known[key] for key in keys if key in known))
    if len(found) == 1:
        return found[0]
    if len(found) > 1:
        return merge_threads(conn, found)
    if not subject_fallback or not subject_key:
        return None
    people = {address_key(p) for p in participants} - {inbox_id}
    if not people:
        return None
    candidates = conn.execute(
        select(threads.c.thread_id, threads.c.senders, threads.c.recipients)
        .where(
            threads.c.inbox_id == inbox_id,
            threads.c.subject_key == subject_key,
            threads.c.timestamp >= since,
        )
        .order_by(threads.c.timestamp.desc())
        .limit(10)
    )
    for row in candidates:
        involved = {address_key(p) for p in (*row.senders, *row.recipients)}
        if people & involved:
            return row.thread_id
    return None


def merge_threads(conn: Connection, thread_ids: Sequence[str]) -> str:
    """Fold several threads into the oldest one and return its id."""
    rows = conn.execute(
        select(threads.c.thread_id)
        .where(threads.c.thread_id.in_(thread_ids))
        .order_by(threads.c.created_at, threads.c.thread_id)
    ).all()
    target = rows[0].thread_id
    others = [row.thread_id for row in rows[1:]]
    conn.execute(update(messages).where(messages.c.thread_id.in_(others)).values(thread_id=target))
    conn.execute(update(thread_refs).where(thread_refs.c.thread_id.in_(others)).values(thread_id=target))
    conn.execute(delete(threads).where(threads.c.thread_id.in_(others)))
    refresh_thread(conn, target)
    return target


def add_refs(
    conn: Connection,
    *,
    inbox_id: str,
    thread_id: str,
    keys: Iterable[str],
    known: Iterable[str] | None = None,
) -> None:
    """Record that these Message-IDs belong to the thread (ids already recorded keep their thread).

    ``known`` is the set of keys a ``lookup_refs`` in the same transaction found, to save a query.
    """
    keys = list(dict.fromkeys(keys))
    if not keys:
        return
    present = set(known) if known is not None else set(lookup_refs(conn, inbox_id, keys))
    new = [{"inbox_id": inbox_id, "ref": key, "thread_id": thread_id} for key in keys if key not in present]
    if new:
        conn.execute(_INSERT_REFS, new)


def add_to_thread(
    conn: Connection,
    *,
    thread_id: str | None,
    inbox_id: str,
    pod_id: str,
    message_id: str,
    direction: str,
    labels: Sequence[str],
    from_: str,
    recipients: Sequence[str],
    subject: str | None,
    subject_key: str,
    preview: str | None,
    attachments: Sequence[dict[str, Any]],
    size: int,
    timestamp: int,
    now: int,
) -> str:
    """Count a newly stored message into its thread's aggregates, creating the thread when ``thread_id`` is None."""
    if thread_id is None:
        thread_id = str(uuid.uuid4())
        conn.execute(
            _INSERT_THREAD,
            {
                "thread_id": thread_id,
                "inbox_id": inbox_id,
                "pod_id": pod_id,
                "subject": subject,
                "subject_key": subject_key,
                "senders": [from_] if from_ else [],
                "recipients": _merge_people([], recipients),
                "preview": preview,
                "attachments": _attachment_items([], attachments),
                "last_message_id": message_id,
                "message_count": 1,
                "size": size,
                "timestamp": timestamp,
                "received_timestamp": timestamp if direction == "received" else None,
                "sent_timestamp": timestamp if direction == "sent" else None,
                "created_at": now,
                "updated_at": now,
            },
        )
        if labels:
            conn.execute(
                _INSERT_LABEL_COUNTS,
                [{"thread_id": thread_id, "label": label, "count": 1} for label in labels],
            )
        return thread_id
    row = conn.execute(_THREAD_ROW, {"tid": thread_id}).one()
    latest = timestamp >= row.timestamp
    stamp = "received_timestamp" if direction == "received" else "sent_timestamp"
    stamps = {"received_timestamp": row.received_timestamp, "sent_timestamp": row.sent_timestamp}
    if stamps[stamp] is None or timestamp > stamps[stamp]:
        stamps[stamp] = timestamp
    take_subject = not row.subject and bool(subject)
    conn.execute(
        _UPDATE_THREAD,
        {
            "tid": thread_id,
            "message_count": row.message_count + 1,
            "size": row.size + size,
            "senders": _merge_people(row.senders, [from_] if from_ else []),
            "recipients": _merge_people(row.recipients, recipients),
            "subject": subject if take_subject else row.subject,
            "subject_key": subject_key if take_subject else row.subject_key,
            "timestamp": timestamp if latest else row.timestamp,
            "last_message_id": message_id if latest else row.last_message_id,
            "preview": preview if latest else row.preview,
            "attachments": _attachment_items(row.attachments or [], attachments),
            "updated_at": now,
            **stamps,
        },
    )
    _count_labels(conn, thread_id, labels, +1)
    return thread_id


def change_labels(
    conn: Connection, thread_id: str, added: Iterable[str], removed: Iterable[str], *, now: int
) -> None:
    """Adjust a thread's label counts after one of its messages gained or lost labels; the thread counts as
    changed (``updated_at``), so readers that load what changed since a time see it."""
    _count_labels(conn, thread_id, added, +1)
    _count_labels(conn, thread_id, removed, -1)
    conn.execute(update(threads).where(threads.c.thread_id == thread_id).values(updated_at=now))


def _count_labels(conn: Connection, thread_id: str, labels: Iterable[str], delta: int) -> None:
    labels = list(labels)
    if not labels:
        return
    existing = {row.label for row in conn.execute(_LABELS_PRESENT, {"tid": thread_id, "labels": labels})}
    if existing:
        conn.execute(_ADD_LABEL_COUNTS, {"tid": thread_id, "labels": list(existing), "delta": delta})
    missing = [label for label in labels if label not in existing]
    if delta > 0 and missing:
        conn.execute(
            _INSERT_LABEL_COUNTS,
            [{"thread_id": thread_id, "label": label, "count": delta} for label in missing],
        )
    if delta < 0:
        conn.execute(
            delete(thread_labels).where(thread_labels.c.thread_id == thread_id, thread_labels.c.count <= 0)
        )


def refresh_thread(conn: Connection, thread_id: str) -> bool:
    """Recompute a thread's aggregates from its messages; an emptied thread is deleted (returns False)."""
    rows = conn.execute(
        select(
            messages.c.message_id,
            messages.c.direction,
            messages.c.labels,
            messages.c.from_,
            messages.c.to,
            messages.c.cc,
            messages.c.bcc,
            messages.c.subject,
            messages.c.preview,
            messages.c.attachments,
            messages.c.size,
            messages.c.timestamp,
        )
        .where(messages.c.thread_id == thread_id)
        .order_by(messages.c.timestamp, messages.c.id)
    ).all()
    if not rows:
        conn.execute(delete(threads).where(threads.c.thread_id == thread_id))
        return False
    senders: list[str] = []
    recipients: list[str] = []
    attachments: list[dict[str, Any]] | None = []
    counts: dict[str, int] = {}
    for row in rows:
        attachments = _attachment_items(attachments or [], row.attachments or [])
        senders = _merge_people(senders, [row.from_] if row.from_ else [])
        recipients = _merge_people(recipients, [*row.to, *(row.cc or []), *(row.bcc or [])])
        for label in row.labels:
            counts[label] = counts.get(label, 0) + 1
    last = rows[-1]
    received = [row.timestamp for row in rows if row.direction == "received"]
    sent = [row.timestamp for row in rows if row.direction == "sent"]
    subject = next((row.subject for row in rows if row.subject), None)
    from ..mail.threading import normalize_subject

    conn.execute(
        update(threads)
        .where(threads.c.thread_id == thread_id)
        .values(
            subject=subject,
            subject_key=normalize_subject(subject),
            senders=senders,
            recipients=recipients,
            preview=last.preview,
            attachments=attachments,
            last_message_id=last.message_id,
            message_count=len(rows),
            size=sum(row.size for row in rows),
            timestamp=last.timestamp,
            received_timestamp=max(received) if received else None,
            sent_timestamp=max(sent) if sent else None,
        )
    )
    conn.execute(delete(thread_labels).where(thread_labels.c.thread_id == thread_id))
    conn.execute(
        insert(thread_labels),
        [{"thread_id": thread_id, "label": label, "count": count} for label, count in counts.items()],
    )
    return True


def _attachment_items(
    existing: Sequence[dict[str, Any]], new: Sequence[dict[str, Any]]
) -> list[dict[str, Any]] | None:
    """A thread's attachment list: its messages' attachment metadata (without storage keys), in order."""
    items = list(existing)
    room = _MAX_ATTACHMENTS - len(items)
    items.extend({k: v for k, v in record.items() if k != "sha256"} for record in new[: max(room, 0)])
    return items or None


def _merge_people(existing: Sequence[str], new: Iterable[str]) -> list[str]:
    result = list(existing)
    seen = {address_key(p) for p in result}
    for person in new:
        key = address_key(person)
        if key not in seen and len(result) < _MAX_PARTICIPANTS:
            seen.add(key)
            result.append(person)
    return result


def _attachments(items: list[dict[str, Any]] | None) -> list[Attachment] | None:
    return [Attachment(**item) for item in items] if items else None


def thread_labels_of(conn: Connection, thread_ids: Sequence[str]) -> dict[str, list[str]]:
    """Each thread's labels, sorted."""
    result: dict[str, list[str]] = {thread_id: [] for thread_id in thread_ids}
    if thread_ids:
        rows = conn.execute(
            select(thread_labels.c.thread_id, thread_labels.c.label)
            .where(thread_labels.c.thread_id.in_(thread_ids))
            .order_by(thread_labels.c.label)
        )
        for row in rows:
            result[row.thread_id].append(row.label)
    return result


def thread_item(row: Any, labels: list[str], cls: type[ThreadItem] = ThreadItem, **extra: Any) -> Any:
    """A thread row as a ThreadItem (or a subclass, with ``extra`` fields)."""
    return cls(
        inbox_id=row.inbox_id,
        thread_id=row.thread_id,
        labels=labels,
        timestamp=to_datetime(row.timestamp),
        received_timestamp=to_datetime(row.received_timestamp)
        if row.received_timestamp is not None
        else None,
        sent_timestamp=to_datetime(row.sent_timestamp) if row.sent_timestamp is not None else None,
        senders=row.senders,
        recipients=row.recipients,
        subject=row.subject,
        preview=row.preview,
        attachments=_attachments(row.attachments),
        last_message_id=row.last_message_id,
        message_count=row.message_count,
        size=row.size,
        created_at=to_datetime(row.created_at),
        updated_at=to_datetime(row.updated_at),
        **extra,
    )


def get_thread_row(conn: Connection, scope: Scope, thread_id: str) -> Any:
    """The thread's row within the scope, or NotFoundError."""
    row = conn.execute(select(threads).where(threads.c.thread_id == thread_id, scope.where(threads))).first()
    if row is None:
        raise NotFoundError(f"thread {thread_id!r} does not exist")
    return row


def hidden_labels(flags: ThreadFilter | Any) -> list[str]:
    """The labels whose threads or messages a list leaves out, given its ``include_*`` flags."""
    return [label for label in HIDDEN_LABELS if not getattr(flags, f"include_{label}")]


def list_threads(
    conn: Connection,
    scope: Scope,
    flt: ThreadFilter,
    *,
    limit: int,
    page_token: str | None,
    ascending: bool,
) -> ListThreadsResponse:
    kind = f"threads-{scope.name}"
    order = (threads.c.timestamp, threads.c.thread_id)
    query = select(threads).where(scope.where(threads))
    for label in flt.labels:
        query = query.where(
            exists().where(thread_labels.c.thread_id == threads.c.thread_id, thread_labels.c.label == label)
        )
    hidden = [label for label in hidden_labels(flt) if label not in flt.labels]
    if hidden:
        query = query.where(
            ~exists().where(
                thread_labels.c.thread_id == threads.c.thread_id, thread_labels.c.label.in_(hidden)
            )
        )
    if "sent" not in flt.labels:
        # AgentMail lists threads with no received message only when asked for "sent" ones.
        query = query.where(threads.c.received_timestamp.is_not(None))
    if flt.before is not None:
        query = query.where(threads.c.timestamp < flt.before)
    if flt.after is not None:
        query = query.where(threads.c.timestamp >= flt.after)
    for text in flt.senders:
        query = query.where(func.lower(cast(threads.c.senders, Text)).contains(text.lower(), autoescape=True))
    for text in flt.recipients:
        query = query.where(
            func.lower(cast(threads.c.recipients, Text)).contains(text.lower(), autoescape=True)
        )
    for text in flt.subject:
        query = query.where(func.lower(threads.c.subject).contains(text.lower(), autoescape=True))
    rows, token = fetch_page(
        conn, query, order, kind=kind, ascending=ascending, limit=limit, page_token=page_token
    )
    labels = thread_labels_of(conn, [row.thread_id for row in rows])
    return ListThreadsResponse(
        count=len(rows),
        limit=limit,
        next_page_token=token,
        threads=[thread_item(row, labels[row.thread_id]) for row in rows],
    )


def thread_with_messages(
    row: Any, labels: list[str], *, messages_page: list[Any], limit: int, next_page_token: str | None
) -> Thread:
    """A Thread model: the thread's fields plus one page of full messages."""
    return thread_item(
        row,
        labels,
        cls=Thread,
        count=len(messages_page),
        limit=limit,
        next_page_token=next_page_token,
        messages=messages_page,
    )
