"""What a client may reach: the scope and permissions of the API key it acts with, and the one place that
narrows every call to them.

A client opened with a pod's key works inside that pod, one opened with an inbox's key inside that inbox.
Whatever lies outside the key's scope is answered exactly as if it did not exist (NotFoundError, AgentMail's
404), so a key never learns what other pods hold; what the key's scope can never do (create pods, manage the
organization's domains, lists or keys) and what its permissions leave out are ForbiddenError. No I/O here
beyond the checks that run inside the caller's transaction.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from sqlalchemy import Connection

from ..errors import AuthenticationError, ForbiddenError, NotFoundError, ValidationError
from ..models import Identity, Inbox
from ..store import api_keys, inboxes
from ..store.api_keys import KeyGrant
from ..store.events import EventRow
from ..store.lists import ORGANIZATION_ID
from ..store.scopes import Scope

__all__ = ["ORGANIZATION", "Access", "authenticate", "check_key", "consumer_namespace"]


@dataclass(frozen=True, slots=True)
class Access:
    """The key a client acts with: its scope (both ids None for the organization) and its permissions
    (None grants every permission)."""

    scope: Scope = field(default_factory=Scope)
    api_key_id: str | None = None
    permissions: dict[str, bool] | None = None

    @property
    def scoped(self) -> bool:
        """Whether the key reaches less than the whole organization."""
        return self.scope.pod_id is not None

    @property
    def identity(self) -> Identity:
        """The key as AgentMail's ``GET /v0/auth/me`` describes it."""
        scope = self.scope
        scope_type: Literal["organization", "pod", "inbox"]
        if scope.inbox_id is not None:
            scope_type, scope_id = "inbox", scope.inbox_id
        elif scope.pod_id is not None:
            scope_type, scope_id = "pod", scope.pod_id
        else:
            scope_type, scope_id = "organization", ORGANIZATION_ID
        return Identity(
            scope_type=scope_type,
            scope_id=scope_id,
            organization_id=ORGANIZATION_ID,
            pod_id=scope.pod_id,
            inbox_id=scope.inbox_id,
            api_key_id=self.api_key_id,
        )

    # -- the guard -----------------------------------------------------------------------------------

    def require(self, permission: str) -> None:
        """ForbiddenError (``missing_permission``) unless the key holds ``permission``."""
        if self.permissions is not None and self.permissions.get(permission) is not True:
            raise ForbiddenError(
                f"this API key lacks the {permission!r} permission", code="missing_permission"
            )

    def hidden_labels(self, listing: object) -> None:
        """A listing that includes spam, blocked, unauthenticated or trashed mail (its ``include_*`` flags)
        needs the key's ``label_<name>_read`` permission for each."""
        if self.permissions is None:
            return
        for name in ("spam", "blocked", "unauthenticated", "trash"):
            if getattr(listing, f"include_{name}", False):
                self.require(f"label_{name}_read")

    def organization_only(self, what: str) -> None:
        """ForbiddenError when ``what`` (an organization-wide action) is asked with a pod or inbox key."""
        if self.scoped:
            kind = "inbox" if self.scope.inbox_id is not None else "pod"
            raise ForbiddenError(f"{what} needs an organization API key, not a {kind} key")

    def within(self, requested: Scope) -> Scope:
        """``requested`` narrowed to the key's scope: the organization becomes the key's pod or inbox, a pod
        or inbox outside it a NotFoundError. Whether a named inbox lies in the key's pod is left to the query,
        which is given the key's pod as well (every scoped table has both columns)."""
        key = self.scope
        if key.pod_id is None:
            return requested
        if requested.pod_id is not None and requested.pod_id != key.pod_id:
            raise NotFoundError(f"pod {requested.pod_id!r} does not exist")
        if key.inbox_id is not None:
            if requested.inbox_id is not None and requested.inbox_id != key.inbox_id:
                raise NotFoundError(f"inbox {requested.inbox_id!r} does not exist")
            return key
        if requested.inbox_id is None:
            return key
        return Scope(inbox_id=requested.inbox_id, pod_id=key.pod_id)

    def exactly(self, requested: Scope, what: str) -> Scope:
        """For what belongs to one level and governs everything below it (allow/block lists, API keys): the
        level must be the key's own or below it; a level above it is ForbiddenError, one outside it
        NotFoundError. ``what`` names the thing in the error (e.g. ``"lists"``)."""
        if not self.scoped:
            return requested
        if requested.pod_id is None and requested.inbox_id is None:
            self.organization_only(f"the organization's {what}")
        narrowed = self.within(requested)
        if self.scope.inbox_id is not None and requested.inbox_id is None:
            raise ForbiddenError(f"a pod's {what} need a pod or organization API key, not an inbox key")
        return narrowed

    def inbox(self, conn: Connection, inbox_id: str) -> Inbox:
        """The inbox, checked to lie in the key's scope (NotFoundError otherwise), in the caller's
        transaction."""
        scope = self.within(Scope(inbox_id=inbox_id))
        return inboxes.get_inbox(conn, inbox_id, pod_id=scope.pod_id)

    def pod(self, pod_id: str) -> str:
        """``pod_id`` when it is the key's pod (or the key is the organization's), else NotFoundError."""
        self.within(Scope(pod_id=pod_id))
        return pod_id

    def ids(self, values: list[str], kind: str) -> list[str]:
        """Pod or inbox ids given as channels (webhooks): each must lie in the key's scope. Inboxes of the
        key's pod are checked by the store, which is told the owner pod."""
        for value in values:
            self.within(Scope(pod_id=value) if kind == "pod" else Scope(inbox_id=value))
        return values

    def grants(self, permissions: dict[str, bool] | None) -> dict[str, bool] | None:
        """Permissions for a key this key creates: never more than its own."""
        if self.permissions is None:
            return permissions
        if permissions is None:
            return dict(self.permissions)
        extra = sorted(
            name for name, on in permissions.items() if on and self.permissions.get(name) is not True
        )
        if extra:
            raise ForbiddenError(
                f"a key cannot grant the {extra[0]!r} permission it does not hold", code="missing_permission"
            )
        return permissions

    def admits(self, row: EventRow) -> bool:
        """Whether an event belongs to the key's scope (an organization's domain event belongs to no pod)."""
        key = self.scope
        return (key.pod_id is None or row.pod_id == key.pod_id) and (
            key.inbox_id is None or row.inbox_id == key.inbox_id
        )


ORGANIZATION = Access()


def check_key(api_key: object) -> str:
    """A presented key as a string: ValidationError for another type, AuthenticationError when empty."""
    if not isinstance(api_key, str):
        raise ValidationError("api_key must be a string", path=["api_key"])
    if not api_key.strip():
        raise AuthenticationError("no API key was given", code="missing_authorization")
    return api_key


def authenticate(conn: Connection, api_key: str, *, organization_key: str, now: int) -> Access:
    """The access of a presented key: the settings ``api_key`` is the organization; any other key must be a
    stored one that is neither revoked nor expired (AuthenticationError, ``unknown_api_key``)."""
    if organization_key and hmac.compare_digest(api_key.encode(), organization_key.encode()):
        return ORGANIZATION
    grant: KeyGrant | None = api_keys.authenticate(conn, api_key, now=now)
    if grant is None:
        raise AuthenticationError("the API key is unknown, revoked or expired")
    return Access(scope=grant.scope, api_key_id=grant.api_key_id, permissions=grant.permissions)


def consumer_namespace(api_key: str, organization_key: str) -> Callable[[str], str] | None:
    """How durable consumer group names of a client opened with ``api_key`` are kept apart from other keys':
    a stored key's groups are its own (prefixed with a digest of the key), so a pod's consumer never takes
    over another pod's group; the organization key's groups are the organization's."""
    if organization_key and hmac.compare_digest(api_key.encode(), organization_key.encode()):
        return None
    tag = "key-" + hashlib.sha256(api_key.encode()).hexdigest()[:16] + "/"

    def name(group: str) -> str:
        return tag + group

    return name
