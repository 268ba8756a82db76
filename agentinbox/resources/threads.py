"""``client.inboxes.threads``, ``client.threads`` (organization) and ``client.pods.threads``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from ..errors import ValidationError
from ..mail.labels import normalize_labels, user_labels
from ..models import (
    AttachmentResponse,
    ListThreadsResponse,
    SearchThreadsResponse,
    Thread,
    UpdateThreadResponse,
)
from ..store import search, thread_messages, threads
from ..store.pagination import clamp_limit
from ..store.scopes import Scope
from ._base import Resource, check_bool, check_id, in_scope, strings, timestamp

__all__ = ["InboxThreads", "PodThreads", "Threads"]


class _ThreadOperations(Resource):
    async def _list(
        self,
        scope: Scope,
        *,
        limit: int | None,
        page_token: str | None,
        ascending: bool | None,
        **filters: Any,
    ) -> ListThreadsResponse:
        access = await self._access("message_read")
        scope = access.within(scope)
        flt = threads.ThreadFilter(
            labels=normalize_labels(filters.get("labels")),
            before=timestamp(filters.get("before"), "before"),
            after=timestamp(filters.get("after"), "after"),
            senders=strings(filters.get("senders"), "senders"),
            recipients=strings(filters.get("recipients"), "recipients"),
            subject=strings(filters.get("subject"), "subject"),
            **{
                name: check_bool(filters.get(name), name)
                for name in ("include_spam", "include_blocked", "include_unauthenticated", "include_trash")
            },
        )
        access.hidden_labels(flt)
        return await self._read(
            in_scope(threads.list_threads, scope),
            scope,
            flt,
            limit=clamp_limit(limit),
            page_token=page_token,
            ascending=check_bool(ascending, "ascending"),
        )

    async def _get(
        self, scope: Scope, thread_id: str, *, limit: int | None, page_token: str | None
    ) -> Thread:
        scope = await self._within(scope, "message_read")
        return await self._read(
            thread_messages.get_thread,
            scope,
            check_id(thread_id, "thread_id"),
            limit=clamp_limit(limit),
            page_token=page_token,
        )

    async def _search(
        self,
        scope: Scope,
        *,
        q: str,
        limit: int | None,
        page_token: str | None,
        before: datetime | None,
        after: datetime | None,
    ) -> SearchThreadsResponse:
        scope = await self._within(scope, "message_read")
        return await self._read(
            in_scope(search.search_threads, scope),
            scope,
            q,
            limit=clamp_limit(limit),
            page_token=page_token,
            before=timestamp(before, "before"),
            after=timestamp(after, "after"),
        )

    async def _update(
        self,
        scope: Scope,
        thread_id: str,
        *,
        add_labels: Sequence[str] | None,
        remove_labels: Sequence[str] | None,
    ) -> UpdateThreadResponse:
        add = user_labels(add_labels, field="add_labels")
        remove = user_labels(remove_labels, field="remove_labels")
        if not add and not remove:
            raise ValidationError("give add_labels or remove_labels", path=["add_labels"])
        ctx = await self._ctx()
        scope = await self._within(scope, "message_update")
        return await ctx.db.write(
            thread_messages.relabel_thread,
            scope,
            check_id(thread_id, "thread_id"),
            add=add,
            remove=remove,
            now=ctx.clock.now(),
        )

    async def _delete(self, scope: Scope, thread_id: str) -> None:
        scope = await self._within(scope, "message_delete")
        await self._write(thread_messages.delete_thread, scope, check_id(thread_id, "thread_id"))

    async def _attachment(self, scope: Scope, thread_id: str, attachment_id: str) -> AttachmentResponse:
        scope = await self._within(scope, "message_read")
        return await self._read(
            thread_messages.thread_attachment,
            scope,
            check_id(thread_id, "thread_id"),
            check_id(attachment_id, "attachment_id"),
        )


class InboxThreads(_ThreadOperations):
    """Threads of one inbox."""

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
        senders: str | Sequence[str] | None = None,
        recipients: str | Sequence[str] | None = None,
        subject: str | Sequence[str] | None = None,
    ) -> ListThreadsResponse:
        """Threads, latest activity first. Threads with no received message appear only when ``labels``
        includes ``sent``."""
        return await self._list(
            Scope(inbox_id=check_id(inbox_id, "inbox_id")),
            limit=limit,
            page_token=page_token,
            ascending=ascending,
            labels=labels,
            before=before,
            after=after,
            include_spam=include_spam,
            include_blocked=include_blocked,
            include_unauthenticated=include_unauthenticated,
            include_trash=include_trash,
            senders=senders,
            recipients=recipients,
            subject=subject,
        )

    async def get(
        self, *, inbox_id: str, thread_id: str, limit: int | None = None, page_token: str | None = None
    ) -> Thread:
        """The thread with its newest page of messages, full bodies included."""
        return await self._get(
            Scope(inbox_id=check_id(inbox_id, "inbox_id")), thread_id, limit=limit, page_token=page_token
        )

    async def search(
        self,
        *,
        inbox_id: str,
        q: str,
        limit: int | None = None,
        page_token: str | None = None,
        before: datetime | None = None,
        after: datetime | None = None,
    ) -> SearchThreadsResponse:
        return await self._search(
            Scope(inbox_id=check_id(inbox_id, "inbox_id")),
            q=q,
            limit=limit,
            page_token=page_token,
            before=before,
            after=after,
        )

    async def update(
        self,
        *,
        inbox_id: str,
        thread_id: str,
        add_labels: Sequence[str] | None = None,
        remove_labels: Sequence[str] | None = None,
    ) -> UpdateThreadResponse:
        """Add or remove labels on every message of the thread (``trash`` moves it to the trash)."""
        return await self._update(
            Scope(inbox_id=check_id(inbox_id, "inbox_id")),
            thread_id,
            add_labels=add_labels,
            remove_labels=remove_labels,
        )

    async def delete(self, *, inbox_id: str, thread_id: str) -> None:
        await self._delete(Scope(inbox_id=check_id(inbox_id, "inbox_id")), thread_id)

    async def get_attachment(
        self, *, inbox_id: str, thread_id: str, attachment_id: str
    ) -> AttachmentResponse:
        return await self._attachment(
            Scope(inbox_id=check_id(inbox_id, "inbox_id")), thread_id, attachment_id
        )


class Threads(_ThreadOperations):
    """Threads across every inbox of the organization."""

    async def list(
        self,
        *,
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
        senders: str | Sequence[str] | None = None,
        recipients: str | Sequence[str] | None = None,
        subject: str | Sequence[str] | None = None,
    ) -> ListThreadsResponse:
        return await self._list(
            Scope(),
            limit=limit,
            page_token=page_token,
            ascending=ascending,
            labels=labels,
            before=before,
            after=after,
            include_spam=include_spam,
            include_blocked=include_blocked,
            include_unauthenticated=include_unauthenticated,
            include_trash=include_trash,
            senders=senders,
            recipients=recipients,
            subject=subject,
        )

    async def get(self, *, thread_id: str, limit: int | None = None, page_token: str | None = None) -> Thread:
        return await self._get(Scope(), thread_id, limit=limit, page_token=page_token)

    async def search(
        self,
        *,
        q: str,
        limit: int | None = None,
        page_token: str | None = None,
        before: datetime | None = None,
        after: datetime | None = None,
    ) -> SearchThreadsResponse:
        return await self._search(
            Scope(), q=q, limit=limit, page_token=page_token, before=before, after=after
        )

    async def update(
        self,
        *,
        thread_id: str,
        add_labels: Sequence[str] | None = None,
        remove_labels: Sequence[str] | None = None,
    ) -> UpdateThreadResponse:
        return await self._update(Scope(), thread_id, add_labels=add_labels, remove_labels=remove_labels)

    async def delete(self, *, thread_id: str) -> None:
        await self._delete(Scope(), thread_id)

    async def get_attachment(self, *, thread_id: str, attachment_id: str) -> AttachmentResponse:
        return await self._attachment(Scope(), thread_id, attachment_id)


class PodThreads(_ThreadOperations):
    """Threads of the inboxes in one pod."""

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
        include_spam: bool | None = None,
        include_blocked: bool | None = None,
        include_unauthenticated: bool | None = None,
        include_trash: bool | None = None,
        senders: str | Sequence[str] | None = None,
        recipients: str | Sequence[str] | None = None,
        subject: str | Sequence[str] | None = None,
    ) -> ListThreadsResponse:
        return await self._list(
            Scope(pod_id=check_id(pod_id, "pod_id")),
            limit=limit,
            page_token=page_token,
            ascending=ascending,
            labels=labels,
            before=before,
            after=after,
            include_spam=include_spam,
            include_blocked=include_blocked,
            include_unauthenticated=include_unauthenticated,
            include_trash=include_trash,
            senders=senders,
            recipients=recipients,
            subject=subject,
        )

    async def get(
        self, *, pod_id: str, thread_id: str, limit: int | None = None, page_token: str | None = None
    ) -> Thread:
        return await self._get(
            Scope(pod_id=check_id(pod_id, "pod_id")), thread_id, limit=limit, page_token=page_token
        )

    async def search(
        self,
        *,
        pod_id: str,
        q: str,
        limit: int | None = None,
        page_token: str | None = None,
        before: datetime | None = None,
        after: datetime | None = None,
    ) -> SearchThreadsResponse:
        return await self._search(
            Scope(pod_id=check_id(pod_id, "pod_id")),
            q=q,
            limit=limit,
            page_token=page_token,
            before=before,
            after=after,
        )

    async def update(
        self,
        *,
        pod_id: str,
        thread_id: str,
        add_labels: Sequence[str] | None = None,
        remove_labels: Sequence[str] | None = None,
    ) -> UpdateThreadResponse:
        return await self._update(
            Scope(pod_id=check_id(pod_id, "pod_id")),
            thread_id,
            add_labels=add_labels,
            remove_labels=remove_labels,
        )

    async def delete(self, *, pod_id: str, thread_id: str) -> None:
        await self._delete(Scope(pod_id=check_id(pod_id, "pod_id")), thread_id)

    async def get_attachment(self, *, pod_id: str, thread_id: str, attachment_id: str) -> AttachmentResponse:
        return await self._attachment(Scope(pod_id=check_id(pod_id, "pod_id")), thread_id, attachment_id)
