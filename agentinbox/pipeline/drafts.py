"""Drafts: create and change them (reply and forward drafts take their context from the original), send them.

A draft with ``send_at`` is a scheduled send: it carries the ``scheduled`` label and ``send_status``
``scheduled`` until the scheduler (:mod:`agentinbox.pipeline.scheduler`) claims it (``sending``) and sends
it, which deletes it, or marks it ``failed`` with the reason in ``send_error``. ``send_at`` must be a
datetime (a naive one is UTC); one already past is sent as soon as the scheduler runs, as AgentMail does. Changing
``send_at`` reschedules (and clears an earlier failure), ``send_at=None`` unschedules, deleting cancels.
The ``scheduled`` label follows ``send_at`` alone: callers cannot add or remove it.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from .._clock import from_datetime
from .._types import OMIT, Omit
from ..errors import ConflictError, NotFoundError, ValidationError
from ..mail import compose
from ..mail.compose import OutgoingAttachment
from ..mail.labels import user_labels
from ..models import Draft, SendMessageResponse
from ..store import blobs, drafts, idempotency, inboxes, messages
from ..store.scopes import Scope
from .context import Context
from .inbound import store_attachments
from .outbound import (
    Mode,
    Outgoing,
    check_idempotency_key,
    reply_recipients,
    reply_references,
    send_in_transaction,
    stored_attachments,
    validate_attachments,
    validate_outgoing,
)

__all__ = ["create_draft", "send_draft", "send_scheduled", "update_draft"]

SCHEDULED = "scheduled"


def _send_at(value: datetime | None) -> int | None:
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise ValidationError("send_at must be a datetime", path=["send_at"])
    return from_datetime(value)  # a naive datetime is taken as UTC, like every datetime the engine takes


def _no_scheduled_label(labels: list[str], field: str) -> list[str]:
    if SCHEDULED in labels:
        raise ValidationError(
            f"the {SCHEDULED!r} label follows send_at; set or clear send_at instead",
            path=[field, labels.index(SCHEDULED)],
        )
    return labels


def _store_attachments(conn: Connection, attachments: list[OutgoingAttachment]) -> list[dict[str, Any]]:
    # Random ids, never renumbered: an id handed out keeps naming the same file as others come and go.
    return store_attachments(
        conn, attachments, attachment_id=lambda _index, _key: f"att_{uuid.uuid4().hex[:20]}"
    )


async def create_draft(ctx: Context, *, inbox_id: str, fields: dict[str, Any]) -> Draft:
    """Validate and store a new draft; the same ``client_id`` in the same inbox returns the first draft."""
    in_reply_to = fields.get("in_reply_to")
    forward_of = fields.get("forward_of")
    reply_all = bool(fields.get("reply_all"))
    if in_reply_to and forward_of:
        raise ValidationError("in_reply_to and forward_of are mutually exclusive", path=["forward_of"])
    if reply_all and not in_reply_to:
        raise ValidationError("reply_all needs in_reply_to", path=["reply_all"])
    if reply_all and any(fields.get(name) for name in ("to", "cc", "bcc")):
        raise ValidationError(
            "a reply_all draft addresses the whole thread: leave to, cc and bcc out", path=["to"]
        )
    outgoing = validate_outgoing(
        to=fields.get("to"),
        cc=fields.get("cc"),
        bcc=fields.get("bcc"),
        reply_to=fields.get("reply_to"),
        subject=fields.get("subject"),
        text=fields.get("text"),
        html=fields.get("html"),
        labels=fields.get("labels"),
        attachments=fields.get("attachments"),
    )
    _no_scheduled_label(outgoing.labels, "labels")
    send_at = _send_at(fields.get("send_at"))
    client_id = fields.get("client_id")

    def run(conn: Connection) -> Draft:
        inbox = inboxes.get_inbox(conn, inbox_id)
        if client_id is not None:
            existing = drafts.find_by_client_id(conn, inbox.inbox_id, client_id)
            if existing is not None:
                return existing
        scope = Scope(inbox_id=inbox.inbox_id)
        subject = outgoing.subject
        to, cc = outgoing.to, outgoing.cc
        references: list[str] | None = None
        if in_reply_to:
            original = messages.message_row(conn, scope, in_reply_to)
            if not to and not cc and not outgoing.bcc:
                to, cc = reply_recipients(inbox.email, original, reply_all=reply_all)
            subject = compose.reply_subject(original.subject)
            references = reply_references(original)
        if forward_of:
            original = messages.message_row(conn, scope, forward_of)
            if subject is None:
                subject = compose.forward_subject(original.subject)
        labels = list(outgoing.labels)
        if send_at is not None and SCHEDULED not in labels:
            labels.append(SCHEDULED)
        values = {
            "inbox_id": inbox.inbox_id,
            "pod_id": inbox.pod_id,
            "client_id": client_id,
            "labels": labels,
            "reply_to": outgoing.reply_to or None,
            "to": to or None,
            "cc": cc or None,
            "bcc": outgoing.bcc or None,
            "subject": subject,
            "text": outgoing.text,
            "html": outgoing.html,
            "attachments": _store_attachments(conn, outgoing.attachments) or None,
            "in_reply_to": in_reply_to,
            "forward_of": forward_of,
            "references": references,
            "reply_all": reply_all,
            "send_status": SCHEDULED if send_at is not None else None,
            "send_at": send_at,
        }
        return drafts.insert_draft(conn, values, now=ctx.clock.now())

    draft = await ctx.db.write(run)
    if draft.send_status == SCHEDULED:
        ctx.wake_scheduler()
    return draft


async def update_draft(ctx: Context, *, inbox_id: str, draft_id: str, changes: dict[str, Any]) -> Draft:
    """Change a draft: an omitted field stays, None clears it, ``send_at=None`` unschedules."""
    given = {name: value for name, value in changes.items() if value is not OMIT}
    if not given:
        raise ValidationError("give at least one field to change", path=[])
    checked = validate_outgoing(
        to=given.get("to"),
        cc=given.get("cc"),
        bcc=given.get("bcc"),
        reply_to=given.get("reply_to"),
        subject=given.get("subject"),
        text=given.get("text"),
        html=given.get("html"),
    )
    add_attachments = validate_attachments(given.get("add_attachments"), field_name="add_attachments")
    remove_attachments = given.get("remove_attachments") or []
    if isinstance(remove_attachments, str):
        remove_attachments = [remove_attachments]
    if not isinstance(remove_attachments, list | tuple) or not all(
        isinstance(a, str) for a in remove_attachments
    ):
        raise ValidationError(
            "remove_attachments must be a list of attachment ids", path=["remove_attachments"]
        )
    add_labels = _no_scheduled_label(user_labels(given.get("add_labels"), field="add_labels"), "add_labels")
    remove_labels = _no_scheduled_label(
        user_labels(given.get("remove_labels"), field="remove_labels"), "remove_labels"
    )
    send_at: int | Omit | None = _send_at(given["send_at"]) if "send_at" in given else OMIT

    def run(conn: Connection) -> Draft:
        row = drafts.draft_row(conn, Scope(inbox_id=inboxes.get_inbox(conn, inbox_id).inbox_id), draft_id)
        if row.send_status == "sending":
            raise ConflictError(f"draft {draft_id!r} is being sent and can no longer change")
        values: dict[str, Any] = {}
        for name in ("to", "cc", "bcc", "reply_to"):
            if name in given:
                values[name] = getattr(checked, name) or None
        for name in ("subject", "text", "html"):
            if name in given:
                values[name] = getattr(checked, name)
        attachments = list(row.attachments or [])
        if remove_attachments:
            known = {a["attachment_id"] for a in attachments}
            unknown = [a for a in remove_attachments if a not in known]
            if unknown:
                raise ValidationError(
                    f"the draft has no attachment {unknown[0]!r}", path=["remove_attachments"]
                )
            dropped = [a for a in attachments if a["attachment_id"] in remove_attachments]
            attachments = [a for a in attachments if a["attachment_id"] not in remove_attachments]
            blobs.release_blobs(conn, [a["sha256"] for a in dropped])
        if add_attachments:
            attachments.extend(_store_attachments(conn, add_attachments))
        if add_attachments or remove_attachments:
            values["attachments"] = attachments or None
        labels = [label for label in row.labels if label not in remove_labels]
        labels += [label for label in add_labels if label not in labels and label not in remove_labels]
        if send_at is not OMIT:
            values["send_at"] = send_at
            values["send_status"] = SCHEDULED if send_at is not None else None
            values["send_error"] = None
            values["send_lease_until"] = None
            labels = [label for label in labels if label != SCHEDULED]
            if send_at is not None:
                labels.append(SCHEDULED)
        values["labels"] = labels
        return drafts.update_draft(conn, row.draft_id, values, now=ctx.clock.now())

    draft = await ctx.db.write(run)
    if send_at is not OMIT and send_at is not None:
        ctx.wake_scheduler()
    return draft


async def send_draft(
    ctx: Context,
    *,
    inbox_id: str,
    draft_id: str,
    add_labels: str | Sequence[str] | None = None,
    remove_labels: str | Sequence[str] | None = None,
    idempotency_key: str | None = None,
) -> SendMessageResponse:
    """Send a draft as a message (a reply draft as a reply, a forward draft as a forward) and delete it."""
    added = user_labels(add_labels, field="add_labels")
    removed = user_labels(remove_labels, field="remove_labels")
    check_idempotency_key(idempotency_key)

    def run(conn: Connection) -> SendMessageResponse:
        request_hash = idempotency.fingerprint(
            {"op": "drafts.send", "inbox_id": inbox_id, "draft_id": draft_id, "add": added, "remove": removed}
        )
        now = ctx.clock.now()
        if idempotency_key is not None:
            previous = idempotency.recall(
                conn, idempotency_key, request_hash, now=now, ttl=ctx.settings.idempotency_ttl
            )
            if previous is not None:
                return SendMessageResponse(**previous)
        inbox = inboxes.get_inbox(conn, inbox_id)
        row = drafts.draft_row(conn, Scope(inbox_id=inbox.inbox_id), draft_id)
        if row.send_status == "sending":
            raise ConflictError(f"draft {draft_id!r} is already being sent")
        response = _send_row(conn, ctx, row, added=added, removed=removed)
        if idempotency_key is not None:
            idempotency.remember(conn, idempotency_key, request_hash, response.model_dump(), now=now)
        return response

    response = await ctx.db.write(run)
    ctx.wake_delivery()
    return response


async def send_scheduled(ctx: Context, *, draft_id: str) -> SendMessageResponse | None:
    """Send a draft the scheduler has claimed (``send_status`` ``sending``) and delete it; None when the
    draft is gone or no longer claimed (deleted, rescheduled or unscheduled meanwhile)."""

    def run(conn: Connection) -> SendMessageResponse | None:
        try:
            row = drafts.draft_row(conn, Scope(), draft_id)
        except NotFoundError:
            return None
        if row.send_status != "sending":
            return None
        return _send_row(conn, ctx, row, added=[], removed=[])

    response = await ctx.db.write(run)
    if response is not None:
        ctx.wake_delivery()
    return response


def _send_row(
    conn: Connection, ctx: Context, row: Any, *, added: list[str], removed: list[str]
) -> SendMessageResponse:
    """Send one stored draft as a message, in the caller's transaction, and delete the draft."""
    drafts.take_for_sending(conn, row)  # first: it locks the row, so a racing sender gets a conflict
    attachments = stored_attachments(conn, row.attachments)
    labels = [label for label in row.labels if label != SCHEDULED and label not in removed]
    labels += [label for label in added if label not in labels]
    outgoing = Outgoing(
        to=row.to or [],
        cc=row.cc or [],
        bcc=row.bcc or [],
        reply_to=row.reply_to or [],
        subject=row.subject,
        text=row.text,
        html=row.html,
        labels=labels,
        attachments=attachments,
    )
    mode: Mode = "reply" if row.in_reply_to else "forward" if row.forward_of else "send"
    response = send_in_transaction(
        conn,
        ctx,
        inbox_id=row.inbox_id,
        outgoing=outgoing,
        mode=mode,
        original_id=row.in_reply_to or row.forward_of,
        reply_all=row.reply_all,
        recipients_given=True,
    )
    blobs.release_blobs(conn, [a["sha256"] for a in row.attachments or []])
    return response
