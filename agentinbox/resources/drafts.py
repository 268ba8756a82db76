"""``client.inboxes.drafts`` (the full set), ``client.drafts`` and ``client.pods.drafts`` (read-only)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from .._types import OMIT, Omit
from ..mail.labels import normalize_labels
from ..models import AttachmentResponse, Draft, ListDraftsResponse, SendMessageResponse
from ..pipeline import drafts as draft_flow
from ..store import drafts
from ..store.messages import attachment_content
from ..store.pagination import clamp_limit
from ..store.scopes import Scope
from ._base import Resource, check_bool, check_client_id, check_id, in_scope, timestamp

__all__ = ["Drafts", "InboxDrafts", "PodDrafts"]


class _DraftReads(Resource):
    async def _list(
        self,
        scope: Scope,
        *,
        limit: int | None,
        page_token: str | None,
        ascending: bool | None,
        labels: str | Sequence[str] | None,
        before: datetime | None,
        after: datetime | None,
    ) -> ListDraftsResponse:
        scope = await self._within(scope, "draft_read")
        return await self._read(
            in_scope(drafts.list_drafts, scope),
            scope,
            labels=normalize_labels(labels),
            before=timestamp(before, "before"),
            after=timestamp(after, "after"),
            limit=clamp_limit(limit),
            page_token=page_token,
            ascending=check_bool(ascending, "ascending"),
        )

    async def _get(self, scope: Scope, draft_id: str) -> Draft:
        scope = await self._within(scope, "draft_read")
        return await self._read(drafts.get_draft, scope, check_id(draft_id, "draft_id"))

    async def _attachment(self, scope: Scope, draft_id: str, attachment_id: str) -> AttachmentResponse:
        scope = await self._within(scope, "draft_read")

        def run(conn: Any) -> AttachmentResponse:
            row = drafts.draft_row(conn, scope, check_id(draft_id, "draft_id"))
            return attachment_content(conn, row.attachments, check_id(attachment_id, "attachment_id"))

        return await self._read(run)


class InboxDrafts(_DraftReads):
    """Drafts of one inbox; a draft with ``send_at`` is a scheduled send."""

    async def create(
        self,
        *,
        inbox_id: str,
        labels: Sequence[str] | None = None,
        reply_to: Sequence[str] | None = None,
        to: Sequence[str] | None = None,
        cc: Sequence[str] | None = None,
        bcc: Sequence[str] | None = None,
        subject: str | None = None,
        text: str | None = None,
        html: str | None = None,
        attachments: Sequence[Any] | None = None,
        in_reply_to: str | None = None,
        forward_of: str | None = None,
        reply_all: bool | None = None,
        send_at: datetime | None = None,
        client_id: str | None = None,
    ) -> Draft:
        """Create a draft. A reply draft (``in_reply_to``) takes recipients, subject and threading from the
        message; a forward draft (``forward_of``) takes its subject and the original at send time."""
        fields = dict(
            labels=labels,
            reply_to=reply_to,
            to=to,
            cc=cc,
            bcc=bcc,
            subject=subject,
            text=text,
            html=html,
            attachments=attachments,
            reply_all=check_bool(reply_all, "reply_all"),
            send_at=send_at,
            client_id=check_client_id(client_id),
            in_reply_to=check_id(in_reply_to, "in_reply_to") if in_reply_to is not None else None,
            forward_of=check_id(forward_of, "forward_of") if forward_of is not None else None,
        )
        inbox_id = check_id(inbox_id, "inbox_id")
        await self._inbox(inbox_id, "draft_create")
        return await draft_flow.create_draft(await self._ctx(), inbox_id=inbox_id, fields=fields)

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
    ) -> ListDraftsResponse:
        """Drafts, most recently updated first."""
        return await self._list(
            Scope(inbox_id=check_id(inbox_id, "inbox_id")),
            limit=limit,
            page_token=page_token,
            ascending=ascending,
            labels=labels,
            before=before,
            after=after,
        )

    async def get(self, *, inbox_id: str, draft_id: str) -> Draft:
        return await self._get(Scope(inbox_id=check_id(inbox_id, "inbox_id")), draft_id)

    async def update(
        self,
        *,
        inbox_id: str,
        draft_id: str,
        reply_to: Sequence[str] | Omit | None = OMIT,
        to: Sequence[str] | Omit | None = OMIT,
        cc: Sequence[str] | Omit | None = OMIT,
        bcc: Sequence[str] | Omit | None = OMIT,
        subject: str | Omit | None = OMIT,
        text: str | Omit | None = OMIT,
        html: str | Omit | None = OMIT,
        add_attachments: Sequence[Any] | Omit | None = OMIT,
        remove_attachments: Sequence[str] | Omit | None = OMIT,
        add_labels: Sequence[str] | Omit | None = OMIT,
        remove_labels: Sequence[str] | Omit | None = OMIT,
        send_at: datetime | Omit | None = OMIT,
    ) -> Draft:
        """Change a draft: omitted fields stay, None clears a field, ``send_at=None`` unschedules it."""
        changes = dict(
            reply_to=reply_to,
            to=to,
            cc=cc,
            bcc=bcc,
            subject=subject,
            text=text,
            html=html,
            add_attachments=add_attachments,
            remove_attachments=remove_attachments,
            add_labels=add_labels,
            remove_labels=remove_labels,
            send_at=send_at,
        )
        inbox_id = check_id(inbox_id, "inbox_id")
        await self._inbox(inbox_id, "draft_update")
        return await draft_flow.update_draft(
            await self._ctx(),
            inbox_id=inbox_id,
            draft_id=check_id(draft_id, "draft_id"),
            changes=changes,
        )

    async def delete(self, *, inbox_id: str, draft_id: str) -> None:
        """Delete the draft; this also cancels a scheduled send."""
        scope = await self._within(Scope(inbox_id=check_id(inbox_id, "inbox_id")), "draft_delete")
        await self._write(drafts.delete_draft, scope, check_id(draft_id, "draft_id"))

    async def send(
        self,
        *,
        inbox_id: str,
        draft_id: str,
        add_labels: str | Sequence[str] | None = None,
        remove_labels: str | Sequence[str] | None = None,
        idempotency_key: str | None = None,
    ) -> SendMessageResponse:
        """Send the draft now; the draft is deleted once sent."""
        inbox_id = check_id(inbox_id, "inbox_id")
        await self._inbox(inbox_id, "draft_send")
        return await draft_flow.send_draft(
            await self._ctx(),
            inbox_id=inbox_id,
            draft_id=check_id(draft_id, "draft_id"),
            add_labels=add_labels,
            remove_labels=remove_labels,
            idempotency_key=idempotency_key,
        )

    async def get_attachment(self, *, inbox_id: str, draft_id: str, attachment_id: str) -> AttachmentResponse:
        return await self._attachment(Scope(inbox_id=check_id(inbox_id, "inbox_id")), draft_id, attachment_id)


class Drafts(_DraftReads):
    """Drafts across every inbox of the organization."""

    async def list(
        self,
        *,
        limit: int | None = None,
        page_token: str | None = None,
        labels: str | Sequence[str] | None = None,
        before: datetime | None = None,
        after: datetime | None = None,
        ascending: bool | None = None,
    ) -> ListDraftsResponse:
        return await self._list(
            Scope(),
            limit=limit,
            page_token=page_token,
            ascending=ascending,
            labels=labels,
            before=before,
            after=after,
        )

    async def get(self, *, draft_id: str) -> Draft:
        return await self._get(Scope(), draft_id)

    async def get_attachment(self, *, draft_id: str, attachment_id: str) -> AttachmentResponse:
        return await self._attachment(Scope(), draft_id, attachment_id)


class PodDrafts(_DraftReads):
    """Drafts of the inboxes in one pod."""

    async def list(
        self,
        *,
        pod_id: str,
        limit: int | None = None,
        page_token: str | None = None,
        labels: str | Sequence[str] | None = None,
        before: datetime | None = None,
        after: datetime | None = None,
        ascending: bool | None = None,
    ) -> ListDraftsResponse:
        return await self._list(
            Scope(pod_id=check_id(pod_id, "pod_id")),
            limit=limit,
            page_token=page_token,
            ascending=ascending,
            labels=labels,
            before=before,
            after=after,
        )

    async def get(self, *, pod_id: str, draft_id: str) -> Draft:
        return await self._get(Scope(pod_id=check_id(pod_id, "pod_id")), draft_id)

    async def get_attachment(self, *, pod_id: str, draft_id: str, attachment_id: str) -> AttachmentResponse:
        return await self._attachment(Scope(pod_id=check_id(pod_id, "pod_id")), draft_id, attachment_id)
