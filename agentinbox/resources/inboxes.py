"""``client.inboxes`` and ``client.pods.inboxes``: create, list, search, get, update and delete inboxes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection

from .._types import OMIT, Omit
from ..errors import ForbiddenError, ValidationError
from ..models import Inbox, ListInboxesResponse
from ..store import inboxes, pods
from ..store.blobs import release_blobs
from ..store.pagination import clamp_limit
from ..store.scopes import Scope
from ._base import Resource, check_bool, check_client_id, check_id
from .api_keys import InboxApiKeys
from .drafts import InboxDrafts
from .lists import InboxLists
from .messages import Messages
from .threads import InboxThreads
from .webhooks import InboxWebhooks

if TYPE_CHECKING:
    from ..client import AsyncAgentInbox

__all__ = ["Inboxes", "PodInboxes"]


def _only(
    conn: Connection, inbox_id: str, *, limit: int | None, page_token: str | None, q: str | None
) -> ListInboxesResponse:
    """The listing an inbox's key sees: its own inbox (when it matches ``q``), on one page."""
    inbox = inboxes.get_inbox(conn, inbox_id)
    size = clamp_limit(limit)
    mine = [inbox]
    if q is not None:  # the search's own rules decide whether the inbox matches
        mine, token = [], None
        while True:
            found = inboxes.list_inboxes(
                conn, pod_id=inbox.pod_id, limit=100, page_token=token, ascending=False, query_text=q
            )
            mine = [i for i in found.inboxes if i.inbox_id == inbox_id]
            token = found.next_page_token
            if mine or token is None:
                break
    return ListInboxesResponse(count=len(mine), limit=size, inboxes=mine)


class _InboxOperations(Resource):
    async def _create(
        self,
        pod_id: str | None,
        *,
        username: str | None,
        domain: str | None,
        display_name: str | None,
        client_id: str | None,
        status: str | None,
        metadata: dict[str, Any] | None,
    ) -> Inbox:
        ctx = await self._ctx()
        access = await self._access("inbox_create")
        if access.scope.inbox_id is not None:
            raise ForbiddenError(
                "an inbox key cannot create inboxes; use its pod's or the organization's key"
            )
        if pod_id is None:
            pod_id = access.scope.pod_id  # a pod's key creates in its pod
        else:
            access.pod(pod_id)
        for name, value in (("username", username), ("domain", domain)):
            if value is not None and not isinstance(value, str):
                raise ValidationError(f"{name} must be a string", path=[name])
        client_id = check_client_id(client_id)

        def run(conn: Connection) -> Inbox:
            now = ctx.clock.now()
            if pod_id is None:
                owner = pods.default_pod_id(conn, now)
            else:
                pods.require_pod(conn, pod_id)
                owner = pod_id
            return inboxes.create_inbox(
                conn,
                pod_id=owner,
                username=username,
                domain=domain or ctx.settings.default_domain,
                display_name=display_name,
                client_id=client_id,
                status=status,
                metadata=metadata,
                now=now,
            )

        return await ctx.db.write(run)

    async def _list(
        self,
        pod_id: str | None,
        *,
        limit: int | None,
        page_token: str | None,
        ascending: bool | None,
        q: str | None,
    ) -> ListInboxesResponse:
        scope = await self._within(Scope(pod_id=pod_id), "inbox_read")

        def run(conn: Connection) -> ListInboxesResponse:
            if scope.inbox_id is not None:
                return _only(conn, scope.inbox_id, limit=limit, page_token=page_token, q=q)
            if scope.pod_id is not None:
                pods.require_pod(conn, scope.pod_id)
            return inboxes.list_inboxes(
                conn,
                pod_id=scope.pod_id,
                limit=clamp_limit(limit),
                page_token=page_token,
                ascending=check_bool(ascending, "ascending"),
                query_text=q,
            )

        return await self._read(run)

    async def _update(
        self,
        pod_id: str | None,
        inbox_id: str,
        *,
        display_name: str | Omit | None,
        status: str | Omit | None,
        metadata: dict[str, Any] | Omit | None,
    ) -> Inbox:
        ctx = await self._ctx()
        inbox_id = check_id(inbox_id, "inbox_id")
        scope = await self._within(Scope(inbox_id=inbox_id, pod_id=pod_id), "inbox_update")
        return await ctx.db.write(
            inboxes.update_inbox,
            inbox_id,
            pod_id=scope.pod_id,
            display_name=display_name,
            status=status,
            metadata=metadata,
            now=ctx.clock.now(),
        )

    async def _get(self, pod_id: str | None, inbox_id: str) -> Inbox:
        inbox_id = check_id(inbox_id, "inbox_id")
        scope = await self._within(Scope(inbox_id=inbox_id, pod_id=pod_id), "inbox_read")
        return await self._read_now(inboxes.get_inbox, inbox_id, pod_id=scope.pod_id)

    async def _delete(self, pod_id: str | None, inbox_id: str) -> None:
        inbox_id = check_id(inbox_id, "inbox_id")
        scope = await self._within(Scope(inbox_id=inbox_id, pod_id=pod_id), "inbox_delete")

        def run(conn: Connection) -> None:
            release_blobs(conn, inboxes.delete_inbox(conn, inbox_id, pod_id=scope.pod_id))

        await self._write(run)


class Inboxes(_InboxOperations):
    """Inboxes of the organization (new ones go into the default pod)."""

    def __init__(self, client: AsyncAgentInbox) -> None:
        super().__init__(client)
        self.messages = Messages(client)
        self.threads = InboxThreads(client)
        self.drafts = InboxDrafts(client)
        self.api_keys = InboxApiKeys(client)
        self.webhooks = InboxWebhooks(client)
        self.lists = InboxLists(client)

    async def create(
        self,
        *,
        username: str | None = None,
        domain: str | None = None,
        display_name: str | None = None,
        client_id: str | None = None,
        status: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Inbox:
        """Create an inbox (``username@domain``; a random username when none is given).

        The same ``client_id`` again returns the inbox it created the first time.
        """
        return await self._create(
            None,
            username=username,
            domain=domain,
            display_name=display_name,
            client_id=client_id,
            status=status,
            metadata=metadata,
        )

    async def list(
        self, *, limit: int | None = None, page_token: str | None = None, ascending: bool | None = None
    ) -> ListInboxesResponse:
        """Inboxes, newest first (``ascending=True`` for oldest first)."""
        return await self._list(None, limit=limit, page_token=page_token, ascending=ascending, q=None)

    async def search(
        self, *, q: str, limit: int | None = None, page_token: str | None = None
    ) -> ListInboxesResponse:
        """Inboxes whose address or display name has a word starting with ``q``."""
        return await self._list(None, limit=limit, page_token=page_token, ascending=False, q=q)

    async def get(self, *, inbox_id: str) -> Inbox:
        return await self._get(None, inbox_id)

    async def update(
        self,
        *,
        inbox_id: str,
        display_name: str | Omit | None = OMIT,
        status: str | Omit | None = OMIT,
        metadata: dict[str, Any] | Omit | None = OMIT,
    ) -> Inbox:
        """Change display name, status or metadata (merged: a None value removes that key)."""
        return await self._update(None, inbox_id, display_name=display_name, status=status, metadata=metadata)

    async def delete(self, *, inbox_id: str) -> None:
        """Delete the inbox for good, with all its threads, messages and drafts."""
        await self._delete(None, inbox_id)


class PodInboxes(_InboxOperations):
    """Inboxes of one pod."""

    async def create(
        self,
        *,
        pod_id: str,
        username: str | None = None,
        domain: str | None = None,
        display_name: str | None = None,
        client_id: str | None = None,
        status: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Inbox:
        return await self._create(
            check_id(pod_id, "pod_id"),
            username=username,
            domain=domain,
            display_name=display_name,
            client_id=client_id,
            status=status,
            metadata=metadata,
        )

    async def list(
        self,
        *,
        pod_id: str,
        limit: int | None = None,
        page_token: str | None = None,
        ascending: bool | None = None,
    ) -> ListInboxesResponse:
        return await self._list(
            check_id(pod_id, "pod_id"), limit=limit, page_token=page_token, ascending=ascending, q=None
        )

    async def search(
        self, *, pod_id: str, q: str, limit: int | None = None, page_token: str | None = None
    ) -> ListInboxesResponse:
        return await self._list(
            check_id(pod_id, "pod_id"), limit=limit, page_token=page_token, ascending=False, q=q
        )

    async def get(self, *, pod_id: str, inbox_id: str) -> Inbox:
        return await self._get(check_id(pod_id, "pod_id"), inbox_id)

    async def update(
        self,
        *,
        pod_id: str,
        inbox_id: str,
        display_name: str | Omit | None = OMIT,
        status: str | Omit | None = OMIT,
        metadata: dict[str, Any] | Omit | None = OMIT,
    ) -> Inbox:
        return await self._update(
            check_id(pod_id, "pod_id"), inbox_id, display_name=display_name, status=status, metadata=metadata
        )

    async def delete(self, *, pod_id: str, inbox_id: str) -> None:
        await self._delete(check_id(pod_id, "pod_id"), inbox_id)
