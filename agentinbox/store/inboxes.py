"""Inboxes: an address in a pod. ``inbox_id`` is the lower-cased address."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement, Connection, delete, insert, select, update

from .._clock import to_datetime
from .._types import OMIT, Omit
from ..errors import NotFoundError, UnprocessableError, ValidationError
from ..models import Inbox, ListInboxesResponse
from . import lists
from .pagination import fetch_page
from .scopes import Scope
from .tables import domains, inboxes

__all__ = [
    "create_inbox",
    "delete_inbox",
    "get_inbox",
    "hosts_domain",
    "inbox_ids_on_domain",
    "inbox_pods",
    "list_inboxes",
    "update_inbox",
]

_USERNAME = re.compile(r"^[a-z0-9](?:[a-z0-9._+-]{0,62}[a-z0-9])?$")
_DOMAIN_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_MAX_METADATA_KEYS = 256
_MAX_METADATA_LENGTH = 256


def _inbox(row: Any) -> Inbox:
    return Inbox(
        pod_id=row.pod_id,
        inbox_id=row.inbox_id,
        email=row.email,
        display_name=row.display_name,
        client_id=row.client_id,
        status="paused" if row.status == "paused" else None,
        metadata=row.metadata,
        created_at=to_datetime(row.created_at),
        updated_at=to_datetime(row.updated_at),
    )


def check_username(username: str) -> str:
    value = username.strip().lower()
    if not _USERNAME.match(value) or ".." in value:
        raise ValidationError(
            f"username {username!r} is not a valid address local part: use 1 to 64 letters, digits, "
            "'.', '_', '+' or '-', starting and ending with a letter or digit",
            path=["username"],
        )
    return value


def check_domain(domain: str) -> str:
    value = domain.strip().lower().rstrip(".")
    labels = value.split(".")
    if len(value) > 253 or len(labels) < 2 or not all(_DOMAIN_LABEL.match(label) for label in labels):
        raise ValidationError(f"domain {domain!r} is not a valid domain name", path=["domain"])
    return value


def check_metadata(metadata: dict[str, Any], *, allow_none_values: bool) -> None:
    if not isinstance(metadata, dict):
        raise ValidationError("metadata must be an object of string keys", path=["metadata"])
    if len(metadata) > _MAX_METADATA_KEYS:
        raise ValidationError(f"metadata has more than {_MAX_METADATA_KEYS} keys", path=["metadata"])
    for key, value in metadata.items():
        if not isinstance(key, str) or not key or len(key) > _MAX_METADATA_LENGTH or "\x00" in key:
            raise ValidationError(
                f"metadata keys must be strings of 1 to {_MAX_METADATA_LENGTH} characters", path=["metadata"]
            )
        if value is None and allow_none_values:
            continue
        if not isinstance(value, str | int | float | bool) or (
            isinstance(value, str) and (len(value) > _MAX_METADATA_LENGTH or "\x00" in value)
        ):
            raise ValidationError(
                f"metadata[{key!r}] must be a string of at most {_MAX_METADATA_LENGTH} characters, "
                "a number or a boolean",
                path=["metadata", key],
            )


def create_inbox(
    conn: Connection,
    *,
    pod_id: str,
    username: str | None,
    domain: str,
    display_name: str | None,
    client_id: str | None,
    status: str | None,
    metadata: dict[str, Any] | None,
    now: int,
) -> Inbox:
    """A new inbox, or the existing one created with the same ``client_id``."""
    if client_id is not None:
        row = conn.execute(select(inboxes).where(inboxes.c.client_id == client_id)).first()
        if row is not None:
            if row.pod_id != pod_id:
                raise UnprocessableError(
                    f"client_id {client_id!r} already names an inbox in another pod; use another client_id",
                    code="already_exists",
                )
            return _inbox(row)
    if status not in (None, "active", "paused"):
        raise ValidationError("status must be 'active' or 'paused'", path=["status"])
    if metadata is not None:
        check_metadata(metadata, allow_none_values=False)
    _check_display_name(display_name)
    domain = check_domain(domain)
    if username is None:
        for _ in range(10):
            address = f"{secrets.token_hex(6)}@{domain}"
            if not _exists(conn, address):
                break
    else:
        address = f"{check_username(username)}@{domain}"
        if _exists(conn, address):
            raise UnprocessableError(f"the address {address} is already taken", code="already_exists")
    conn.execute(
        insert(inboxes).values(
            inbox_id=address,
            pod_id=pod_id,
            email=address,
            display_name=display_name,
            client_id=client_id,
            status=status or "active",
            metadata=metadata or None,
            created_at=now,
            updated_at=now,
        )
    )
    return get_inbox(conn, address)


def _check_display_name(display_name: str | None) -> None:
    if display_name is not None and (
        not isinstance(display_name, str)
        or len(display_name) > 256
        or any(c in display_name for c in "\r\n\0")
    ):
        raise ValidationError(
            "display_name must be at most 256 characters without line breaks", path=["display_name"]
        )


def _exists(conn: Connection, inbox_id: str) -> bool:
    return conn.execute(select(inboxes.c.inbox_id).where(inboxes.c.inbox_id == inbox_id)).first() is not None


def get_inbox(conn: Connection, inbox_id: str, *, pod_id: str | None = None) -> Inbox:
    """The inbox, or NotFoundError (also when it lives in another pod than ``pod_id``)."""
    query = select(inboxes).where(inboxes.c.inbox_id == inbox_id.strip().lower())
    if pod_id is not None:
        query = query.where(inboxes.c.pod_id == pod_id)
    row = conn.execute(query).first()
    if row is None:
        raise NotFoundError(f"inbox {inbox_id!r} does not exist")
    return _inbox(row)


def hosts_domain(conn: Connection, domain: str) -> bool:
    """Whether ``domain`` is a registered custom domain or any inbox has an address on it (so mail for it is
    ours, not to be relayed)."""
    registered = select(domains.c.domain_id).where(domains.c.domain_id == domain.lower().rstrip("."))
    if conn.execute(registered).first() is not None:
        return True
    query = select(inboxes.c.inbox_id).where(_on_domain(domain)).limit(1)
    return conn.execute(query).first() is not None


def inbox_ids_on_domain(conn: Connection, domain: str) -> list[str]:
    """The addresses of every inbox on ``domain``."""
    return [row.inbox_id for row in conn.execute(select(inboxes.c.inbox_id).where(_on_domain(domain)))]


def _on_domain(domain: str) -> ColumnElement[bool]:
    """Inboxes whose address is on ``domain`` (``%`` and ``_`` in it match themselves only)."""
    return inboxes.c.inbox_id.endswith(f"@{domain.lower()}", autoescape=True)


def inbox_pods(conn: Connection, addresses: Iterable[str]) -> dict[str, str]:
    """For each address that is one of our inboxes: inbox_id → pod_id."""
    wanted = {a.lower() for a in addresses}
    if not wanted:
        return {}
    rows = conn.execute(select(inboxes.c.inbox_id, inboxes.c.pod_id).where(inboxes.c.inbox_id.in_(wanted)))
    return {row.inbox_id: row.pod_id for row in rows}


def list_inboxes(
    conn: Connection,
    *,
    pod_id: str | None,
    limit: int,
    page_token: str | None,
    ascending: bool,
    query_text: str | None = None,
) -> ListInboxesResponse:
    kind = "inboxes" if query_text is None else "inbox-search"
    order = (inboxes.c.created_at, inboxes.c.inbox_id)
    query = select(inboxes)
    if pod_id is not None:
        query = query.where(inboxes.c.pod_id == pod_id)
    if query_text is not None:
        if not isinstance(query_text, str) or not query_text.isprintable():
            raise ValidationError("q must be a string of printable characters", path=["q"])
        term = query_text.strip().lower()
        if not 2 <= len(term) <= 256:
            raise ValidationError("q must be 2 to 256 characters", path=["q"])
        escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(
            inboxes.c.inbox_id.like(f"{escaped}%", escape="\\")
            | inboxes.c.display_name.ilike(f"{escaped}%", escape="\\")
            | inboxes.c.display_name.ilike(f"% {escaped}%", escape="\\")
        )
    rows, token = fetch_page(
        conn, query, order, kind=kind, ascending=ascending, limit=limit, page_token=page_token
    )
    return ListInboxesResponse(
        count=len(rows), limit=limit, next_page_token=token, inboxes=[_inbox(r) for r in rows]
    )


def update_inbox(
    conn: Connection,
    inbox_id: str,
    *,
    pod_id: str | None,
    display_name: str | Omit | None,
    status: str | Omit | None,
    metadata: dict[str, Any] | Omit | None,
    now: int,
) -> Inbox:
    """Change an inbox; ``metadata`` is merged (a None value removes a key, None clears it all)."""
    current = get_inbox(conn, inbox_id, pod_id=pod_id)
    if display_name is OMIT and status is OMIT and metadata is OMIT:
        raise ValidationError("give at least one of display_name, status, metadata", path=[])
    values: dict[str, Any] = {"updated_at": now}
    if display_name is not OMIT:
        _check_display_name(display_name)
        values["display_name"] = display_name
    if status is not OMIT and status is not None:
        if status not in ("active", "paused"):
            raise ValidationError("status must be 'active' or 'paused'", path=["status"])
        values["status"] = status
    if metadata is not OMIT:
        if metadata is None:
            values["metadata"] = None
        else:
            if metadata == {}:
                raise ValidationError(
                    "metadata {} changes nothing: set keys, set a key to None to remove it, or pass "
                    "metadata=None to clear all",
                    path=["metadata"],
                )
            check_metadata(metadata, allow_none_values=True)
            merged = dict(current.metadata or {})
            for key, value in metadata.items():
                if value is None:
                    merged.pop(key, None)
                else:
                    merged[key] = value
            check_metadata(merged, allow_none_values=False)
            values["metadata"] = merged or None
    conn.execute(update(inboxes).where(inboxes.c.inbox_id == current.inbox_id).values(**values))
    return get_inbox(conn, current.inbox_id)


def delete_inbox(conn: Connection, inbox_id: str, *, pod_id: str | None) -> list[str]:
    """Delete an inbox with its threads, messages and drafts; returns the blob keys it held."""
    from .messages import blob_keys_of_inbox

    inbox = get_inbox(conn, inbox_id, pod_id=pod_id)
    keys = blob_keys_of_inbox(conn, inbox.inbox_id)
    lists.drop_scope(conn, Scope(inbox_id=inbox.inbox_id))
    conn.execute(delete(inboxes).where(inboxes.c.inbox_id == inbox.inbox_id))
    return keys
