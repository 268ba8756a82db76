"""What every namespace shares: the engine context, the client's access (``_access.py``: the scope and
permissions of its API key, consulted by every method before it reaches the store) and argument
conversions."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Connection

from .._clock import from_datetime
from ..errors import ValidationError
from ..pipeline.context import Context
from ..store import inboxes, pods
from ..store.scopes import Scope
from ._access import Access

if TYPE_CHECKING:
    from ..client import AsyncAgentInbox

__all__ = [
    "Resource",
    "check_bool",
    "check_client_id",
    "check_id",
    "in_inbox",
    "in_pod",
    "in_scope",
    "no_control_characters",
    "strings",
    "timestamp",
]

T = TypeVar("T")


class Resource:
    """Base of the namespaces: holds the client, whose engine context opens on first use."""

    def __init__(self, client: AsyncAgentInbox) -> None:
        self._client = client

    async def _ctx(self) -> Context:
        return await self._client._context()

    async def _access(self, permission: str | None = None) -> Access:
        """The client's access once it is open (a key given to the constructor is checked on opening),
        after checking it holds ``permission``."""
        await self._client._context()
        access = self._client._access
        if permission is not None:
            access.require(permission)
        return access

    async def _within(self, scope: Scope, permission: str) -> Scope:
        """``scope`` narrowed to the client's key (see ``Access.within``), after checking ``permission``."""
        return (await self._access(permission)).within(scope)

    async def _inbox(self, inbox_id: str, permission: str) -> None:
        """Check ``inbox_id`` lies in the key's scope before an operation the pipeline carries out by inbox
        (sending, drafts); an inbox outside it is a NotFoundError, as an unknown one is."""
        access = await self._access(permission)
        if access.scoped:
            await self._read(access.inbox, inbox_id)

    async def _read(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        ctx = await self._ctx()
        return await ctx.db.read(fn, *args, **kwargs)

    async def _read_now(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``_read`` for a lookup of one row by its key (``Database.read_now``)."""
        ctx = await self._ctx()
        return await ctx.db.read_now(fn, *args, **kwargs)

    async def _write(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        ctx = await self._ctx()
        return await ctx.db.write(fn, *args, **kwargs)


def no_control_characters(value: str, name: str) -> str:
    """``value`` unchanged, or a ValidationError if it holds NUL, CR or LF (no id or filter has them)."""
    if any(ch in value for ch in "\x00\r\n"):
        raise ValidationError(f"{name} must not contain NUL or line-break characters", path=[name])
    return value


def check_id(value: object, name: str) -> str:
    """A non-empty id string, stripped; inbox ids (addresses) are lower-cased."""
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"{name} must be a non-empty string", path=[name])
    no_control_characters(value, name)
    value = value.strip()
    return value.lower() if name == "inbox_id" else value


def check_client_id(value: object) -> str | None:
    """An optional caller-chosen idempotency id: a non-empty string of at most 256 characters."""
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > 256:
        raise ValidationError(
            "client_id must be a non-empty string of at most 256 characters", path=["client_id"]
        )
    return no_control_characters(value, "client_id")


def check_bool(value: object, name: str) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise ValidationError(f"{name} must be true or false", path=[name])
    return value


def timestamp(value: datetime | None, name: str) -> int | None:
    """A datetime argument as a stored timestamp (naive datetimes are taken as UTC)."""
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise ValidationError(f"{name} must be a datetime", path=[name])
    return from_datetime(value)


def strings(value: str | Sequence[str] | None, name: str) -> list[str]:
    """A filter given as one string or a list of strings."""
    if value is None:
        return []
    if isinstance(value, str):
        return [no_control_characters(value, name)]
    if not isinstance(value, Sequence) or not all(isinstance(v, str) for v in value):
        raise ValidationError(f"{name} must be a string or a list of strings", path=[name])
    return [no_control_characters(v, name) for v in value]


def in_inbox(fn: Callable[..., T], inbox_id: str, pod_id: str | None = None) -> Callable[[Connection], T]:
    """``fn`` run after checking the inbox exists (so an unknown inbox is a NotFoundError, not an empty list),
    in pod ``pod_id`` when given."""

    def run(conn: Connection, *args: Any, **kwargs: Any) -> T:
        inboxes.get_inbox(conn, inbox_id, pod_id=pod_id)
        return fn(conn, *args, **kwargs)

    return run


def in_pod(fn: Callable[..., T], pod_id: str) -> Callable[[Connection], T]:
    """``fn`` run after checking the pod exists."""

    def run(conn: Connection, *args: Any, **kwargs: Any) -> T:
        pods.require_pod(conn, pod_id)
        return fn(conn, *args, **kwargs)

    return run


def in_scope(fn: Callable[..., T], scope: Scope) -> Callable[..., T]:
    """``fn`` run after checking the inbox or pod of ``scope`` exists (as is for the organization)."""
    if scope.inbox_id is not None:
        return in_inbox(fn, scope.inbox_id, scope.pod_id)
    if scope.pod_id is not None:
        return in_pod(fn, scope.pod_id)
    return fn
