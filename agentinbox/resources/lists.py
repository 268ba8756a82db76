"""``client.lists``, ``client.pods.lists`` and ``client.inboxes.lists``: allow/block lists (reference §7).

``direction`` is ``send``, ``receive`` or ``reply``; ``type`` is ``allow`` or ``block``. An entry is an
address (``user@example.com``) or a domain (``example.com``), stored lower-cased. Adding an entry that is
already on the list returns the existing one (a retried create must not fail).
"""

from __future__ import annotations

from sqlalchemy import Connection

from ..errors import ValidationError
from ..mail.addresses import validate_address
from ..models import ListEntry, ListListEntriesResponse, PodListEntry, PodListListEntriesResponse
from ..store import inboxes, lists, pods
from ..store.pagination import clamp_limit
from ..store.scopes import Scope
from ._base import Resource, check_id, no_control_characters

__all__ = ["InboxLists", "Lists", "PodLists", "check_entry"]

_MAX_REASON = 1000


def _direction(value: object) -> str:
    if value not in lists.DIRECTIONS:
        raise ValidationError(
            f'direction must be "send", "receive" or "reply", not {value!r}', path=["direction"]
        )
    assert isinstance(value, str)
    return value


def _list_type(value: object) -> str:
    if value not in lists.LIST_TYPES:
        raise ValidationError(f'type must be "allow" or "block", not {value!r}', path=["type"])
    assert isinstance(value, str)
    return value


def check_entry(value: object) -> tuple[str, str]:
    """An entry as (lower-cased entry, entry_type): a bare address (``email``) or a domain (``domain``)."""
    if not isinstance(value, str) or not value.strip():
        raise ValidationError("entry must be a non-empty address or domain", path=["entry"])
    no_control_characters(value, "entry")
    text = value.strip()
    if "@" in text:
        address = validate_address(text, field="entry")
        if address.name or "<" in text:
            raise ValidationError(
                f"entry {value!r} must be a bare address such as user@example.com, without a display name",
                path=["entry"],
            )
        return address.address.lower(), "email"
    try:
        validate_address(f"postmaster@{text}", field="entry")
    except ValidationError:
        raise ValidationError(
            f"entry {value!r} is neither an address (user@example.com) nor a domain (example.com)",
            path=["entry"],
        ) from None
    domain = text.lower().rstrip(".")
    if "." not in domain or domain.startswith("["):
        raise ValidationError(
            f"entry {value!r} is not a domain name with at least two labels (example.com)", path=["entry"]
        )
    return domain, "domain"


def _reason(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > _MAX_REASON:
        raise ValidationError(f"reason must be a string of at most {_MAX_REASON} characters", path=["reason"])
    return no_control_characters(value, "reason")


def _lookup(value: object) -> str:
    """An entry named in a get or delete, normalised like a stored one (an invalid one cannot be stored)."""
    if not isinstance(value, str) or not value.strip():
        raise ValidationError("entry must be a non-empty address or domain", path=["entry"])
    return no_control_characters(value, "entry").strip().lower()


class _ListOperations(Resource):
    def _check_scope(self, conn: Connection, scope: Scope) -> str | None:
        """The pod of the scope after checking it exists (None for the organization)."""
        if scope.inbox_id is not None:
            return inboxes.get_inbox(conn, scope.inbox_id, pod_id=scope.pod_id).pod_id
        if scope.pod_id is not None:
            pods.require_pod(conn, scope.pod_id)
            return scope.pod_id
        return None

    async def _list(
        self, scope: Scope, direction: object, type: object, limit: int | None, page_token: str | None
    ) -> ListListEntriesResponse | PodListListEntriesResponse:
        checked_direction, checked_type = _direction(direction), _list_type(type)
        scope = (await self._access("list_entry_read")).exactly(scope, "lists")

        def run(conn: Connection) -> ListListEntriesResponse | PodListListEntriesResponse:
            self._check_scope(conn, scope)
            return lists.list_entries_page(
                conn, scope, checked_direction, checked_type, limit=clamp_limit(limit), page_token=page_token
            )

        return await self._read(run)

    async def _get(self, scope: Scope, direction: object, type: object, entry: object) -> ListEntry:
        checked = (_direction(direction), _list_type(type), _lookup(entry))
        scope = (await self._access("list_entry_read")).exactly(scope, "lists")

        def run(conn: Connection) -> ListEntry:
            self._check_scope(conn, scope)
            return lists.get_entry(conn, scope, *checked)

        return await self._read(run)

    async def _create(
        self, scope: Scope, direction: object, type: object, entry: object, reason: object
    ) -> ListEntry:
        ctx = await self._ctx()
        checked_direction, checked_type = _direction(direction), _list_type(type)
        value, entry_type = check_entry(entry)
        checked_reason = _reason(reason)
        scope = (await self._access("list_entry_create")).exactly(scope, "lists")

        def run(conn: Connection) -> ListEntry:
            pod_id = self._check_scope(conn, scope)
            return lists.create_entry(
                conn,
                scope,
                pod_id=pod_id,
                direction=checked_direction,
                list_type=checked_type,
                entry=value,
                entry_type=entry_type,
                reason=checked_reason,
                now=ctx.clock.now(),
            )

        return await ctx.db.write(run)

    async def _delete(self, scope: Scope, direction: object, type: object, entry: object) -> None:
        checked = (_direction(direction), _list_type(type), _lookup(entry))
        scope = (await self._access("list_entry_delete")).exactly(scope, "lists")

        def run(conn: Connection) -> None:
            self._check_scope(conn, scope)
            lists.delete_entry(conn, scope, *checked)

        await self._write(run)


class Lists(_ListOperations):
    """The organization's lists; they apply to every inbox unless a pod or inbox entry matches first."""

    async def list(
        self, *, direction: str, type: str, limit: int | None = None, page_token: str | None = None
    ) -> ListListEntriesResponse:
        """The entries of one list, ordered by entry ascending."""
        result = await self._list(Scope(), direction, type, limit, page_token)
        assert isinstance(result, ListListEntriesResponse)
        return result

    async def get(self, *, direction: str, type: str, entry: str) -> ListEntry:
        return await self._get(Scope(), direction, type, entry)

    async def create(self, *, direction: str, type: str, entry: str, reason: str | None = None) -> ListEntry:
        """Add an address or domain to a list (``reason`` is meant for block lists)."""
        return await self._create(Scope(), direction, type, entry, reason)

    async def delete(self, *, direction: str, type: str, entry: str) -> None:
        await self._delete(Scope(), direction, type, entry)


class PodLists(_ListOperations):
    """A pod's lists; they apply to its inboxes unless an inbox entry matches first."""

    async def list(
        self,
        *,
        pod_id: str,
        direction: str,
        type: str,
        limit: int | None = None,
        page_token: str | None = None,
    ) -> PodListListEntriesResponse:
        scope = Scope(pod_id=check_id(pod_id, "pod_id"))
        result = await self._list(scope, direction, type, limit, page_token)
        assert isinstance(result, PodListListEntriesResponse)
        return result

    async def get(self, *, pod_id: str, direction: str, type: str, entry: str) -> PodListEntry:
        result = await self._get(Scope(pod_id=check_id(pod_id, "pod_id")), direction, type, entry)
        assert isinstance(result, PodListEntry)
        return result

    async def create(
        self, *, pod_id: str, direction: str, type: str, entry: str, reason: str | None = None
    ) -> PodListEntry:
        result = await self._create(Scope(pod_id=check_id(pod_id, "pod_id")), direction, type, entry, reason)
        assert isinstance(result, PodListEntry)
        return result

    async def delete(self, *, pod_id: str, direction: str, type: str, entry: str) -> None:
        await self._delete(Scope(pod_id=check_id(pod_id, "pod_id")), direction, type, entry)


class InboxLists(_ListOperations):
    """An inbox's own lists, checked before its pod's and the organization's."""

    async def list(
        self,
        *,
        inbox_id: str,
        direction: str,
        type: str,
        limit: int | None = None,
        page_token: str | None = None,
    ) -> PodListListEntriesResponse:
        scope = Scope(inbox_id=check_id(inbox_id, "inbox_id"))
        result = await self._list(scope, direction, type, limit, page_token)
        assert isinstance(result, PodListListEntriesResponse)
        return result

    async def get(self, *, inbox_id: str, direction: str, type: str, entry: str) -> PodListEntry:
        result = await self._get(Scope(inbox_id=check_id(inbox_id, "inbox_id")), direction, type, entry)
        assert isinstance(result, PodListEntry)
        return result

    async def create(
        self, *, inbox_id: str, direction: str, type: str, entry: str, reason: str | None = None
    ) -> PodListEntry:
        scope = Scope(inbox_id=check_id(inbox_id, "inbox_id"))
        result = await self._create(scope, direction, type, entry, reason)
        assert isinstance(result, PodListEntry)
        return result

    async def delete(self, *, inbox_id: str, direction: str, type: str, entry: str) -> None:
        await self._delete(Scope(inbox_id=check_id(inbox_id, "inbox_id")), direction, type, entry)
