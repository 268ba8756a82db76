"""``client.inboxes.messages``: send, reply, forward, and read, label, search and delete messages."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from ..errors import ValidationError
from ..mail.labels import user_labels
from ..models import (
    AttachmentResponse,
    BatchGetMessagesResponse,
    BatchUpdateMessagesResponse,
    ListMessagesResponse,
    Message,
    RawMessageResponse,
    SearchMessagesResponse,
    SendMessageResponse,
    UpdateMessageResponse,
)
from ..pipeline import outbound
from ..store import messages, search
from ..store.messages import MessageFilter
from ..store.pagination import clamp_limit
from ..store.scopes import Scope
from ._base import Resource, check_bool, check_id, in_scope, strings, timestamp

__all__ = ["Messages"]

Recipients = str | Sequence[str] | None


class Messages(Resource):
    """Messages of one inbox."""

    async def send(
        self,
        *,
        inbox_id: str,
        to: Recipients = None,
        cc: Recipients = None,
        bcc: Recipients = None,
        reply_to: Recipients = None,
        subject: str | None = None,
        text: str | None = None,
        html: str | None = None,
        labels: str | Sequence[str] | None = None,
        attachments: Sequence[Any] | None = None,
        headers: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
    ) -> SendMessageResponse:
        """Send a new message (a new thread). Give ``text`` and ``html`` both: no text is made from html.

        Attachments are mappings (or objects) with ``filename``, ``content`` (base64 text, or bytes),
        optional ``content_type``, ``content_disposition`` and ``content_id`` (for ``cid:`` images).
        """
        inbox_id = check_id(inbox_id, "inbox_id")
        fields: dict[str, Any] = dict(
            to=to,
            cc=cc,
            bcc=bcc,
            reply_to=reply_to,
            subject=subject,
            text=text,
            html=html,
            labels=labels,
            attachments=attachments,
            headers=headers,
        )
        outgoing = outbound.validate_outgoing(**fields)
        await self._inbox(inbox_id, "message_send")
        return await outbound.send(
            await self._ctx(),
            inbox_id=inbox_id,
            outgoing=outgoing,
            idempotency_key=idempotency_key,
            fingerprint={"op": "send", "inbox_id": inbox_id, **fields},
        )

    async def reply(
        self,
        *,
        inbox_id: str,
        message_id: str,
        to: Recipients = None,
        cc: Recipients = None,
        bcc: Recipients = None,
        reply_to: Recipients = None,
        reply_all: bool | None = None,
        text: str | None = None,
        html: str | None = None,
        labels: str | Sequence[str] | None = None,
        attachments: Sequence[Any] | None = None,
        headers: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
    ) -> SendMessageResponse:
        """Reply in the message's thread: to its Reply-To or sender unless ``to``/``cc``/``bcc`` are given,
        with ``Re:``, In-Reply-To and References set and the original quoted."""
        inbox_id = check_id(inbox_id, "inbox_id")
        message_id = check_id(message_id, "message_id")
        reply_all = check_bool(reply_all, "reply_all")
        fields: dict[str, Any] = dict(
            to=to,
            cc=cc,
            bcc=bcc,
            reply_to=reply_to,
            text=text,
            html=html,
            labels=labels,
            attachments=attachments,
            headers=headers,
        )
        outgoing = outbound.validate_outgoing(**fields)
        await self._inbox(inbox_id, "message_reply")
        return await outbound.send(
            await self._ctx(),
            inbox_id=inbox_id,
            outgoing=outgoing,
            mode="reply",
            original_id=message_id,
            reply_all=reply_all,
            recipients_given=bool(outgoing.recipients),
            idempotency_key=idempotency_key,
            fingerprint={
                "op": "reply",
                "inbox_id": inbox_id,
                "message_id": message_id,
                "all": reply_all,
                **fields,
            },
        )

    async def reply_all(
        self,
        *,
        inbox_id: str,
        message_id: str,
        reply_to: Recipients = None,
        text: str | None = None,
        html: str | None = None,
        labels: str | Sequence[str] | None = None,
        attachments: Sequence[Any] | None = None,
        headers: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
    ) -> SendMessageResponse:
        """Reply to the sender and every other recipient of the message (never the inbox itself)."""
        inbox_id = check_id(inbox_id, "inbox_id")
        message_id = check_id(message_id, "message_id")
        fields: dict[str, Any] = dict(
            reply_to=reply_to, text=text, html=html, labels=labels, attachments=attachments, headers=headers
        )
        outgoing = outbound.validate_outgoing(**fields)
        await self._inbox(inbox_id, "message_reply")
        return await outbound.send(
            await self._ctx(),
            inbox_id=inbox_id,
            outgoing=outgoing,
            mode="reply",
            original_id=message_id,
            reply_all=True,
            recipients_given=False,
            idempotency_key=idempotency_key,
            fingerprint={"op": "reply_all", "inbox_id": inbox_id, "message_id": message_id, **fields},
        )

    async def forward(
        self,
        *,
        inbox_id: str,
        message_id: str,
        to: Recipients = None,
        cc: Recipients = None,
        bcc: Recipients = None,
        reply_to: Recipients = None,
        subject: str | None = None,
        text: str | None = None,
        html: str | None = None,
        labels: str | Sequence[str] | None = None,
        attachments: Sequence[Any] | None = None,
        headers: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
    ) -> SendMessageResponse:
        """Forward the message with your ``text`` first, then the original and all its attachments."""
        inbox_id = check_id(inbox_id, "inbox_id")
        message_id = check_id(message_id, "message_id")
        fields: dict[str, Any] = dict(
            to=to,
            cc=cc,
            bcc=bcc,
            reply_to=reply_to,
            subject=subject,
            text=text,
            html=html,
            labels=labels,
            attachments=attachments,
            headers=headers,
        )
        outgoing = outbound.validate_outgoing(**fields)
        await self._inbox(inbox_id, "message_send")
        return await outbound.send(
            await self._ctx(),
            inbox_id=inbox_id,
            outgoing=outgoing,
            mode="forward",
            original_id=message_id,
            idempotency_key=idempotency_key,
            fingerprint={"op": "forward", "inbox_id": inbox_id, "message_id": message_id, **fields},
        )

    async def list(
        self,
        *,
        inbox_id: str,
        limit: int | None = None,
        page_token: str | None = None,
        labels: str | Sequence[str] | None = None,
        before: datetime | None = None,
        after: datetime | None = None,
        ascending: bool | None = None,
        include_spam: bool | None = None,
        include_blocked: bool | None = None,
        include_unauthenticated: bool | None = None,
        include_trash: bool | None = None,
        from_: str | Sequence[str] | None = None,
        to: str | Sequence[str] | None = None,
        subject: str | Sequence[str] | None = None,
    ) -> ListMessagesResponse:
        """Messages, newest first. ``labels`` must all match; ``from_``, ``to``, ``subject`` are substrings."""
        inbox_id = check_id(inbox_id, "inbox_id")
        flt = MessageFilter(
            labels=user_labels_filter(labels),
            before=timestamp(before, "before"),
            after=timestamp(after, "after"),
            from_=strings(from_, "from"),
            to=strings(to, "to"),
            subject=strings(subject, "subject"),
            include_spam=check_bool(include_spam, "include_spam"),
            include_blocked=check_bool(include_blocked, "include_blocked"),
            include_unauthenticated=check_bool(include_unauthenticated, "include_unauthenticated"),
            include_trash=check_bool(include_trash, "include_trash"),
        )
        access = await self._access("message_read")
        access.hidden_labels(flt)
        scope = access.within(Scope(inbox_id=inbox_id))
        return await self._read(
            in_scope(messages.list_messages, scope),
            scope,
            flt,
            limit=clamp_limit(limit),
            page_token=page_token,
            ascending=check_bool(ascending, "ascending"),
        )

    async def get(self, *, inbox_id: str, message_id: str) -> Message:
        """One message with its bodies (``text``, ``html``) and the new content (``extracted_text``)."""
        scope = await self._within(Scope(inbox_id=check_id(inbox_id, "inbox_id")), "message_read")
        return await self._read_now(messages.get_message, scope, check_id(message_id, "message_id"))

    async def update(
        self,
        *,
        inbox_id: str,
        message_id: str,
        add_labels: str | Sequence[str] | None = None,
        remove_labels: str | Sequence[str] | None = None,
    ) -> UpdateMessageResponse:
        """Add or remove labels (remove ``unread`` to mark read); system labels are refused."""
        add = user_labels(add_labels, field="add_labels")
        remove = user_labels(remove_labels, field="remove_labels")
        if not add and not remove:
            raise ValidationError("give add_labels or remove_labels", path=["add_labels"])
        ctx = await self._ctx()
        scope = await self._within(Scope(inbox_id=check_id(inbox_id, "inbox_id")), "message_update")
        return await ctx.db.write(
            messages.relabel_message,
            scope,
            check_id(message_id, "message_id"),
            add=add,
            remove=remove,
            now=ctx.clock.now(),
        )

    async def delete(self, *, inbox_id: str, message_id: str) -> None:
        """Delete the message for good."""
        scope = await self._within(Scope(inbox_id=check_id(inbox_id, "inbox_id")), "message_delete")
        await self._write(messages.delete_message, scope, check_id(message_id, "message_id"))

    async def search(
        self,
        *,
        inbox_id: str,
        q: str,
        limit: int | None = None,
        page_token: str | None = None,
        before: datetime | None = None,
        after: datetime | None = None,
    ) -> SearchMessagesResponse:
        """Messages containing every word of ``q``, newest first, with highlighted fragments."""
        inbox_id = check_id(inbox_id, "inbox_id")
        scope = await self._within(Scope(inbox_id=inbox_id), "message_read")
        return await self._read(
            in_scope(search.search_messages, scope),
            scope,
            q,
            limit=clamp_limit(limit),
            page_token=page_token,
            before=timestamp(before, "before"),
            after=timestamp(after, "after"),
        )

    async def get_raw(self, *, inbox_id: str, message_id: str) -> RawMessageResponse:
        """The message exactly as received or sent, byte for byte (``content``)."""
        scope = await self._within(Scope(inbox_id=check_id(inbox_id, "inbox_id")), "message_read")
        return await self._read(messages.get_raw, scope, check_id(message_id, "message_id"))

    async def get_attachment(
        self, *, inbox_id: str, message_id: str, attachment_id: str
    ) -> AttachmentResponse:
        """An attachment's metadata and bytes (``content``)."""
        scope = await self._within(Scope(inbox_id=check_id(inbox_id, "inbox_id")), "message_read")
        return await self._read(
            messages.get_attachment,
            scope,
            check_id(message_id, "message_id"),
            check_id(attachment_id, "attachment_id"),
        )

    async def batch_get(self, *, inbox_id: str, message_ids: Sequence[str]) -> BatchGetMessagesResponse:
        """Up to 500 messages in request order, without bodies; unknown ids are left out."""
        ids = messages.check_message_ids(message_ids, maximum=500)
        inbox_id = check_id(inbox_id, "inbox_id")
        scope = await self._within(Scope(inbox_id=inbox_id), "message_read")
        found = await self._read(in_scope(messages.batch_get, scope), scope, ids)
        return BatchGetMessagesResponse(count=len(found), limit=500, messages=found)

    async def batch_update(
        self,
        *,
        inbox_id: str,
        message_ids: Sequence[str],
        add_labels: str | Sequence[str] | None = None,
        remove_labels: str | Sequence[str] | None = None,
    ) -> BatchUpdateMessagesResponse:
        """Relabel up to 50 messages at once, all or none."""
        ids = messages.check_message_ids(message_ids, maximum=50)
        add = user_labels(add_labels, field="add_labels")
        remove = user_labels(remove_labels, field="remove_labels")
        if not add and not remove:
            raise ValidationError("give add_labels or remove_labels", path=["add_labels"])
        ctx = await self._ctx()
        scope = await self._within(Scope(inbox_id=check_id(inbox_id, "inbox_id")), "message_update")

        def run(conn: Connection) -> list[UpdateMessageResponse]:
            now = ctx.clock.now()
            return [messages.relabel_message(conn, scope, m, add=add, remove=remove, now=now) for m in ids]

        updates = await ctx.db.write(run)
        return BatchUpdateMessagesResponse(count=len(updates), limit=50, updates=updates)


def user_labels_filter(labels: str | Sequence[str] | None) -> list[str]:
    """Labels to filter by (system labels are allowed here: filtering by ``sent`` is normal)."""
    from ..mail.labels import normalize_labels

    return normalize_labels(labels)
