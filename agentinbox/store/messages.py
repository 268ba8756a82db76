"""Messages: storing one (with labels, body, search entry and thread), reading, listing, labelling, deleting."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError as PydanticValidationError
from sqlalchemy import Connection, Select, bindparam, delete, exists, func, insert, select, update

from .._clock import to_datetime
from ..errors import ForbiddenError, NotFoundError, ValidationError
from ..models import (
    Attachment,
    AttachmentResponse,
    Authentication,
    ForwardedMessage,
    ListMessagesResponse,
    Message,
    MessageItem,
    RawMessageResponse,
    SpamCheck,
    UpdateMessageResponse,
    VirusCheck,
)
from . import search
from .blobs import get_blob, release_blobs
from .filters import text_contains
from .pagination import fetch_page
from .scopes import Scope
from .tables import drafts, message_bodies, message_labels, messages
from .threads import change_labels, hidden_labels, refresh_thread

__all__ = [
    "MessageFilter",
    "NewMessage",
    "delete_message",
    "find_message",
    "find_sent",
    "get_message",
    "insert_message",
    "list_messages",
    "nth_sent_since",
    "relabel_message",
]

# Columns a list reads: everything but bodies, which live in message_bodies.
_ITEM_COLUMNS = [c for c in messages.c if c.name not in ("rfc_message_id", "raw_sha256", "direction")]

# Statements on the ingest path, built once: SQLAlchemy then reuses their compiled form.
_INSERT_MESSAGE = insert(messages)
_INSERT_LABELS = insert(message_labels)
_INSERT_BODY = insert(message_bodies)
_FIND_MESSAGE = select(messages.c.id, messages.c.thread_id, messages.c.raw_sha256, messages.c.labels).where(
    messages.c.inbox_id == bindparam("inbox_id"), messages.c.message_id == bindparam("message_id")
)


@dataclass(slots=True)
class NewMessage:
    """Everything stored for one message in one inbox."""

    inbox_id: str
    pod_id: str
    message_id: str
    rfc_message_id: str | None
    direction: str
    labels: list[str]
    from_: str
    to: list[str]
    cc: list[str]
    bcc: list[str]
    reply_to: list[str]
    subject: str | None
    preview: str | None
    in_reply_to: str | None
    references: list[str]
    headers: dict[str, str]
    attachments: list[dict[str, Any]]
    size: int
    raw_sha256: str
    timestamp: int
    text: str | None = None
    html: str | None = None
    extracted_text: str | None = None
    extracted_html: str | None = None
    signature: str | None = None
    forwarded: dict[str, Any] | None = None
    thread_id: str = field(default="")
    #: Received mail: the verdicts of the inbound checks (see ``agentinbox.pipeline.checks``).
    checks: dict[str, Any] | None = None


@dataclass(slots=True)
class MessageFilter:
    """The filters of a message list (AgentMail §3.4)."""

    labels: Sequence[str] = ()
    before: int | None = None
    after: int | None = None
    from_: Sequence[str] = ()
    to: Sequence[str] = ()
    subject: Sequence[str] = ()
    include_spam: bool = False
    include_blocked: bool = False
    include_unauthenticated: bool = False
    include_trash: bool = False


def insert_message(conn: Connection, msg: NewMessage, *, now: int) -> int:
    """Store a message whose thread is already known; returns its row id. The caller updates the thread."""
    result = conn.execute(
        _INSERT_MESSAGE,
        {
            "inbox_id": msg.inbox_id,
            "pod_id": msg.pod_id,
            "thread_id": msg.thread_id,
            "message_id": msg.message_id,
            "rfc_message_id": msg.rfc_message_id,
            "direction": msg.direction,
            "labels": msg.labels,
            "from_": msg.from_,
            "to": msg.to,
            "cc": msg.cc or None,
            "bcc": msg.bcc or None,
            "reply_to": msg.reply_to or None,
            "subject": msg.subject,
            "preview": msg.preview,
            "in_reply_to": msg.in_reply_to,
            "references": msg.references or None,
            "headers": msg.headers or None,
            "attachments": msg.attachments or None,
            "size": msg.size,
            "raw_sha256": msg.raw_sha256,
            "timestamp": msg.timestamp,
            "created_at": now,
            "updated_at": now,
            "checks": msg.checks,
        },
    )
    pk: int = result.inserted_primary_key[0]  # type: ignore[index]
    if msg.labels:
        conn.execute(_INSERT_LABELS, [{"message_pk": pk, "label": label} for label in msg.labels])
    conn.execute(
        _INSERT_BODY,
        {
            "message_pk": pk,
            "text": msg.text,
            "html": msg.html,
            "extracted_text": msg.extracted_text,
            "extracted_html": msg.extracted_html,
            "signature": msg.signature,
            "forwarded": msg.forwarded,
        },
    )
    search.index_message(
        conn,
        pk,
        subject=msg.subject or "",
        sender=msg.from_,
        recipients=" ".join([*msg.to, *msg.cc, *msg.bcc]),
        body=msg.text or "",
    )
    return pk


def find_message(conn: Connection, inbox_id: str, message_id: str) -> Any | None:
    """The stored row (id, thread_id, raw_sha256) of a message, or None."""
    return conn.execute(_FIND_MESSAGE, {"inbox_id": inbox_id, "message_id": message_id}).first()


def nth_sent_since(conn: Connection, inbox_ids: Sequence[str], *, since: int, n: int) -> int | None:
    """The time of the ``n``-th newest message sent from ``inbox_ids`` at or after ``since``, or None when
    fewer were sent: what a send limit of ``n`` per window needs (reads at most ``n`` index entries)."""
    if not inbox_ids or n <= 0:
        return None
    query = (
        select(messages.c.timestamp)
        .where(
            messages.c.inbox_id.in_(list(inbox_ids)),
            messages.c.timestamp >= since,
            messages.c.direction == "sent",
        )
        .order_by(messages.c.timestamp.desc())
        .limit(1)
        .offset(n - 1)
    )
    value = conn.execute(query).scalar()
    return int(value) if value is not None else None


def find_sent(conn: Connection, inbox_id: str, message_id: str) -> Any | None:
    """The whole stored row of a message sent from ``inbox_id``, or None (what delivery reports and
    complaints are matched to)."""
    row = conn.execute(
        select(messages).where(messages.c.inbox_id == inbox_id, messages.c.message_id == message_id)
    ).first()
    return row if row is not None and row.direction == "sent" else None


def _attachments(value: list[dict[str, Any]] | None) -> list[Attachment] | None:
    if not value:
        return None
    return [
        Attachment(
            attachment_id=a["attachment_id"],
            size=a["size"],
            filename=a.get("filename"),
            content_type=a.get("content_type"),
            content_disposition=a.get("content_disposition"),
            content_id=a.get("content_id"),
        )
        for a in value
    ]


def new_message_model(msg: NewMessage, *, now: int) -> Message:
    """The Message a just-inserted NewMessage reads back as, without reading it back."""
    return Message(
        inbox_id=msg.inbox_id,
        thread_id=msg.thread_id,
        message_id=msg.message_id,
        labels=sorted(msg.labels),
        timestamp=to_datetime(msg.timestamp),
        from_=msg.from_,  # type: ignore[call-arg]  # populate_by_name: the field's name, not its alias
        to=msg.to,
        cc=msg.cc or None,
        bcc=msg.bcc or None,
        reply_to=msg.reply_to or None,
        subject=msg.subject,
        preview=msg.preview,
        attachments=_attachments(msg.attachments),
        in_reply_to=msg.in_reply_to,
        references=msg.references or None,
        headers=msg.headers or None,
        size=msg.size,
        text=msg.text,
        html=msg.html,
        extracted_text=msg.extracted_text,
        extracted_html=msg.extracted_html,
        signature=msg.signature,
        forwarded=_forwarded(msg.forwarded),
        created_at=to_datetime(now),
        updated_at=to_datetime(now),
        **_check_fields(msg.checks),
    )


def message_fields(row: Any) -> dict[str, Any]:
    """The MessageItem fields of a message row."""
    return {
        "inbox_id": row.inbox_id,
        "thread_id": row.thread_id,
        "message_id": row.message_id,
        "labels": sorted(row.labels),
        "timestamp": to_datetime(row.timestamp),
        "from_": row.from_,
        "to": row.to,
        "cc": row.cc,
        "bcc": row.bcc,
        "subject": row.subject,
        "preview": row.preview,
        "attachments": _attachments(row.attachments),
        "in_reply_to": row.in_reply_to,
        "references": row.references,
        "headers": row.headers,
        "size": row.size,
        "created_at": to_datetime(row.created_at),
        "updated_at": to_datetime(row.updated_at),
    }


def full_messages(conn: Connection, rows: Sequence[Any], *, bodies: bool = True) -> list[Message]:
    """Message models for message rows, with bodies read in one query when ``bodies`` is true."""
    texts: dict[int, Any] = {}
    if bodies and rows:
        texts = {
            body.message_pk: body
            for body in conn.execute(
                select(message_bodies).where(message_bodies.c.message_pk.in_([row.id for row in rows]))
            )
        }
    return [_message(row, texts.get(row.id)) for row in rows]


def _message(row: Any, body: Any | None) -> Message:
    """The Message of a message row and its body (a ``message_bodies`` row, or None when it has none)."""
    return Message(
        **message_fields(row),
        reply_to=row.reply_to,
        text=body.text if body else None,
        html=body.html if body else None,
        extracted_text=body.extracted_text if body else None,
        extracted_html=body.extracted_html if body else None,
        signature=body.signature if body else None,
        forwarded=_forwarded(body.forwarded) if body else None,
        **_check_fields(row.checks),
    )


def _forwarded(value: dict[str, Any] | None) -> ForwardedMessage | None:
    return ForwardedMessage.model_validate(value) if value else None


#: What a verdict that records only a failed check (an ``error``: the check raised or timed out) reads as.
_FAILED_CHECK: dict[str, dict[str, Any]] = {
    "authentication": {"spf": "temperror", "dkim": "temperror", "dmarc": "temperror", "header": ""},
    "spam": {"scanner": "unknown", "spam": False, "score": 0.0, "threshold": 0.0},
    "virus": {"scanner": "unknown", "infected": False},
}


def _check_fields(checks: dict[str, Any] | None) -> dict[str, Any]:
    """The Message fields ``authentication``, ``spam`` and ``virus`` from a stored verdicts column."""
    if not checks:
        return {}
    fields: dict[str, Any] = {}
    for name, model in (("authentication", Authentication), ("spam", SpamCheck), ("virus", VirusCheck)):
        value = checks.get(name)
        if not value:
            continue
        try:
            fields[name] = model.model_validate(value)
        except PydanticValidationError:
            if "error" in value:  # the check failed: say so, with neutral results
                fields[name] = model.model_validate({**_FAILED_CHECK[name], "error": value["error"]})
    return fields


def _withheld(row: Any, what: str) -> None:
    """Raise ForbiddenError when ``row``'s message was found infected: its contents are not served."""
    virus = (row.checks or {}).get("virus") or {}
    if virus.get("infected"):
        names = ", ".join(sorted({f.get("name", "?") for f in virus.get("findings") or []})) or "a virus"
        raise ForbiddenError(
            f"the {what} of message {row.message_id!r} is withheld: the virus check found {names}"
        )


@functools.cache
def _row_query(by_inbox: bool, by_pod: bool) -> Select[Any]:
    """The statement reading one message row in a scope, built once per scope shape: a message read is
    the API's most frequent request, and building the statement cost as much as running it."""
    query = select(messages).where(messages.c.message_id == bindparam("message_id"))
    if by_inbox:
        query = query.where(messages.c.inbox_id == bindparam("inbox_id"))
    if by_pod:
        query = query.where(messages.c.pod_id == bindparam("pod_id"))
    return query


def _row(conn: Connection, scope: Scope, message_id: str, *, query: Select[Any] | None = None) -> Any:
    """The row ``query`` (by default the message row alone) finds for ``message_id`` in ``scope``."""
    if query is None:
        query = _row_query(scope.inbox_id is not None, scope.pod_id is not None)
    values = {"message_id": message_id.strip(), "inbox_id": scope.inbox_id, "pod_id": scope.pod_id}
    row = conn.execute(query, values).first()
    if row is None:
        where = f" in inbox {scope.inbox_id}" if scope.inbox_id else ""
        raise NotFoundError(f"message {message_id!r} does not exist{where}")
    return row


#: A message row with its body, in one statement: ``get_message`` is the API's most frequent read. No
#: column of ``messages`` shares a name with these, so the joined row reads as a body too.
_BODY_COLUMNS = [column for column in message_bodies.c if column.name != "message_pk"]


@functools.cache
def _full_row_query(by_inbox: bool, by_pod: bool) -> Select[Any]:
    return (
        _row_query(by_inbox, by_pod)
        .add_columns(*_BODY_COLUMNS)
        .outerjoin(message_bodies, message_bodies.c.message_pk == messages.c.id)
    )


def get_message(conn: Connection, scope: Scope, message_id: str) -> Message:
    query = _full_row_query(scope.inbox_id is not None, scope.pod_id is not None)
    row = _row(conn, scope, message_id, query=query)
    return _message(row, row)


def message_row(conn: Connection, scope: Scope, message_id: str) -> Any:
    """The full stored row of a message (for replies and forwards), or NotFoundError."""
    return _row(conn, scope, message_id)


def message_body(conn: Connection, pk: int) -> Any:
    return conn.execute(select(message_bodies).where(message_bodies.c.message_pk == pk)).first()


def list_messages(
    conn: Connection,
    scope: Scope,
    flt: MessageFilter,
    *,
    limit: int,
    page_token: str | None,
    ascending: bool,
) -> ListMessagesResponse:
    order = (messages.c.timestamp, messages.c.id)
    query = select(*_ITEM_COLUMNS).where(scope.where(messages))
    for label in flt.labels:
        query = query.where(
            exists().where(message_labels.c.message_pk == messages.c.id, message_labels.c.label == label)
        )
    hidden = [label for label in hidden_labels(flt) if label not in flt.labels]
    if hidden:
        query = query.where(
            ~exists().where(message_labels.c.message_pk == messages.c.id, message_labels.c.label.in_(hidden))
        )
    if flt.before is not None:
        query = query.where(messages.c.timestamp < flt.before)
    if flt.after is not None:
        query = query.where(messages.c.timestamp >= flt.after)
    for text in flt.from_:
        query = query.where(func.lower(messages.c.from_).contains(text.lower(), autoescape=True))
    for text in flt.to:
        query = query.where(
            text_contains(messages.c.to, text)
            | text_contains(messages.c.cc, text)
            | text_contains(messages.c.bcc, text)
        )
    for text in flt.subject:
        query = query.where(func.lower(messages.c.subject).contains(text.lower(), autoescape=True))
    rows, token = fetch_page(
        conn,
        query,
        order,
        kind=f"messages-{scope.name}",
        ascending=ascending,
        limit=limit,
        page_token=page_token,
    )
    return ListMessagesResponse(
        count=len(rows),
        limit=limit,
        next_page_token=token,
        messages=[MessageItem(**message_fields(row)) for row in rows],
    )


def batch_get(conn: Connection, scope: Scope, message_ids: Sequence[str]) -> list[Message]:
    """Messages in request order without bodies; unknown ids are left out."""
    rows = conn.execute(select(messages).where(scope.where(messages), messages.c.message_id.in_(message_ids)))
    by_id = {row.message_id: row for row in rows}
    found = [by_id[m] for m in message_ids if m in by_id]
    return full_messages(conn, found, bodies=False)


def relabel_message(
    conn: Connection, scope: Scope, message_id: str, *, add: Sequence[str], remove: Sequence[str], now: int
) -> UpdateMessageResponse:
    """Add and remove labels on a message (remove wins when a label is in both) and on its thread."""
    row = _row(conn, scope, message_id)
    set_labels(conn, row, [*[a for a in add if a not in remove]], remove, now=now)
    labels = conn.execute(select(messages.c.labels).where(messages.c.id == row.id)).scalar_one()
    return UpdateMessageResponse(message_id=row.message_id, labels=sorted(labels))


def set_labels(conn: Connection, row: Any, add: Sequence[str], remove: Sequence[str], *, now: int) -> None:
    """Apply label changes to one message row, keeping the label table and thread counts in step."""
    current = list(row.labels)
    added = [label for label in dict.fromkeys(add) if label not in current]
    removed = [label for label in dict.fromkeys(remove) if label in current]
    if not added and not removed:
        return
    labels = [label for label in current if label not in removed] + added
    conn.execute(update(messages).where(messages.c.id == row.id).values(labels=labels, updated_at=now))
    if added:
        conn.execute(insert(message_labels), [{"message_pk": row.id, "label": label} for label in added])
    if removed:
        conn.execute(
            delete(message_labels).where(
                message_labels.c.message_pk == row.id, message_labels.c.label.in_(removed)
            )
        )
    change_labels(conn, row.thread_id, added, removed, now=now)


def delete_message(conn: Connection, scope: Scope, message_id: str) -> None:
    """Delete a message for good, with its body, labels, blobs and its place in the thread."""
    row = _row(conn, scope, message_id)
    conn.execute(delete(messages).where(messages.c.id == row.id))
    release_blobs(conn, [row.raw_sha256, *(a["sha256"] for a in row.attachments or [])])
    refresh_thread(conn, row.thread_id)


def blob_keys_of_inbox(conn: Connection, inbox_id: str) -> list[str]:
    """Every blob reference the inbox's messages and drafts hold (one entry per reference)."""
    keys: list[str] = []
    for row in conn.execute(
        select(messages.c.raw_sha256, messages.c.attachments).where(messages.c.inbox_id == inbox_id)
    ):
        keys.append(row.raw_sha256)
        keys.extend(a["sha256"] for a in row.attachments or [])
    for row in conn.execute(select(drafts.c.attachments).where(drafts.c.inbox_id == inbox_id)):
        keys.extend(a["sha256"] for a in row.attachments or [])
    return keys


def get_raw(conn: Connection, scope: Scope, message_id: str) -> RawMessageResponse:
    row = _row(conn, scope, message_id)
    _withheld(row, "raw content")
    content = get_blob(conn, row.raw_sha256)
    if content is None:  # pragma: no cover - a blob is only released with its last message
        raise NotFoundError(f"the raw content of message {message_id!r} is missing")
    return RawMessageResponse(message_id=row.message_id, size=len(content), content=content)


def attachment_content(conn: Connection, attachments: list[dict[str, Any]] | None, attachment_id: str) -> Any:
    """The stored metadata and bytes of one attachment in a list of attachment records."""
    for item in attachments or []:
        if item["attachment_id"] == attachment_id:
            content = get_blob(conn, item["sha256"])
            if content is None:  # pragma: no cover
                break
            return AttachmentResponse(
                attachment_id=item["attachment_id"],
                size=item["size"],
                filename=item.get("filename"),
                content_type=item.get("content_type"),
                content_disposition=item.get("content_disposition"),
                content_id=item.get("content_id"),
                content=content,
            )
    raise NotFoundError(f"attachment {attachment_id!r} does not exist")


def get_attachment(conn: Connection, scope: Scope, message_id: str, attachment_id: str) -> AttachmentResponse:
    row = _row(conn, scope, message_id)
    _withheld(row, "attachments")
    return attachment_content(conn, row.attachments, attachment_id)


def check_message_ids(message_ids: Sequence[str], *, maximum: int) -> list[str]:
    """Validate a batch of message ids: a non-empty list of strings, no duplicates, at most ``maximum``."""
    if isinstance(message_ids, str) or not isinstance(message_ids, Sequence):
        raise ValidationError("message_ids must be a list of message ids", path=["message_ids"])
    ids = [m.strip() if isinstance(m, str) else m for m in message_ids]
    if not ids or len(ids) > maximum:
        raise ValidationError(f"give 1 to {maximum} message_ids", path=["message_ids"])
    if any(not isinstance(m, str) or not m for m in ids):
        raise ValidationError("every message id must be a non-empty string", path=["message_ids"])
    if len(set(ids)) != len(ids):
        raise ValidationError("message_ids has duplicates", path=["message_ids"])
    return ids
