"""API keys: create, list, read, rename, delete, and authenticate a presented secret.

A key is ``am_`` + a 16-hex-digit lookup prefix + a 256-bit random secret. Only the prefix (to find the row)
and a SHA-256 of the whole key are stored; the key itself is returned once, by ``create_api_key``. A plain
hash is enough because the secret is random and long (no dictionary to try), and comparing hashes with
``hmac.compare_digest`` keeps the check constant-time. Keys are scoped to the organization, a pod or an
inbox; a key scoped to an inbox also records that inbox's pod, so a pod's keys include its inboxes' keys.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, exists, insert, select, update

from .._clock import to_datetime
from ..errors import NotFoundError
from ..models import ApiKeyPermissions, BearerApiKey, CreateApiKeyResponse, ListApiKeysResponse
from .pagination import fetch_page
from .scopes import Scope
from .tables import api_keys, inboxes, pods

__all__ = [
    "KEY_PREFIX",
    "KeyGrant",
    "authenticate",
    "create_api_key",
    "delete_api_key",
    "get_api_key",
    "list_api_keys",
    "mark_used",
    "update_api_key",
]

KEY_PREFIX = "am_"
_LOOKUP_HEX = 16  # hex digits of the lookup part: 64 bits, so prefixes never collide in practice
_PREFIX_LENGTH = len(KEY_PREFIX) + _LOOKUP_HEX
_SECRET_BYTES = 32
_HASH_SCHEME = "sha256$"
#: Longest string ever taken for a key; anything longer is refused before hashing.
_MAX_KEY_LENGTH = 256


@dataclass(frozen=True, slots=True)
class KeyGrant:
    """What an authenticated key may reach: its scope, and its permissions (None grants everything)."""

    api_key_id: str
    scope: Scope
    permissions: dict[str, bool] | None

    def allows(self, permission: str) -> bool:
        """Whether the key holds ``permission`` (an ApiKeyPermissions field name)."""
        return self.permissions is None or self.permissions.get(permission) is True

    def covers(self, *, inbox_id: str, pod_id: str) -> bool:
        """Whether the key's scope includes the inbox ``inbox_id`` of pod ``pod_id``."""
        if self.scope.inbox_id is not None:
            return self.scope.inbox_id == inbox_id
        return self.scope.pod_id is None or self.scope.pod_id == pod_id


def _hash(key: str) -> str:
    return _HASH_SCHEME + hashlib.sha256(key.encode("utf-8")).hexdigest()


def _permissions(value: dict[str, Any] | None) -> ApiKeyPermissions | None:
    return None if value is None else ApiKeyPermissions(**value)


def _key(row: Any) -> BearerApiKey:
    return BearerApiKey(
        api_key_id=row.api_key_id,
        prefix=row.prefix,
        name=row.name or "",
        pod_id=row.pod_id,
        inbox_id=row.inbox_id,
        used_at=None if row.used_at is None else to_datetime(row.used_at),
        permissions=_permissions(row.permissions),
        created_at=to_datetime(row.created_at),
        updated_at=to_datetime(row.updated_at),
        expires_at=None if row.expires_at is None else to_datetime(row.expires_at),
    )


def create_api_key(
    conn: Connection,
    *,
    name: str,
    pod_id: str | None,
    inbox_id: str | None,
    permissions: dict[str, bool] | None,
    expires_at: int | None,
    now: int,
) -> CreateApiKeyResponse:
    """Store a new key for the scope (both None: the organization) and return it with its secret."""
    api_key_id = str(uuid.uuid4())
    lookup = secrets.token_hex(_LOOKUP_HEX // 2)
    secret = f"{KEY_PREFIX}{lookup}{secrets.token_urlsafe(_SECRET_BYTES)}"
    prefix = secret[:_PREFIX_LENGTH]
    conn.execute(
        insert(api_keys).values(
            api_key_id=api_key_id,
            name=name,
            prefix=prefix,
            secret_hash=_hash(secret),
            pod_id=pod_id,
            inbox_id=inbox_id,
            permissions=permissions,
            created_at=now,
            updated_at=now,
            expires_at=expires_at,
        )
    )
    return CreateApiKeyResponse(
        api_key_id=api_key_id,
        api_key=secret,
        prefix=prefix,
        name=name,
        pod_id=pod_id,
        inbox_id=inbox_id,
        permissions=_permissions(permissions),
        created_at=to_datetime(now),
        expires_at=None if expires_at is None else to_datetime(expires_at),
    )


def _row(conn: Connection, api_key_id: str, scope: Scope) -> Any:
    row = conn.execute(
        select(api_keys).where(api_keys.c.api_key_id == api_key_id, scope.where(api_keys))
    ).first()
    if row is None:
        where = "" if scope.name == "org" else f" in this {scope.name}"
        raise NotFoundError(f"API key {api_key_id!r} does not exist{where}")
    return row


def get_api_key(conn: Connection, api_key_id: str, *, scope: Scope | None = None) -> BearerApiKey:
    return _key(_row(conn, api_key_id, scope or Scope()))


def list_api_keys(
    conn: Connection, scope: Scope, *, limit: int, page_token: str | None, ascending: bool
) -> ListApiKeysResponse:
    """Keys within ``scope``, newest first (an organization sees every key)."""
    order = (api_keys.c.created_at, api_keys.c.api_key_id)
    rows, token = fetch_page(
        conn,
        select(api_keys).where(scope.where(api_keys)),
        order,
        kind="api_keys",
        ascending=ascending,
        limit=limit,
        page_token=page_token,
    )
    return ListApiKeysResponse(
        count=len(rows), limit=limit, next_page_token=token, api_keys=[_key(r) for r in rows]
    )


def update_api_key(
    conn: Connection,
    api_key_id: str,
    *,
    scope: Scope,
    name: str | None,
    permissions: dict[str, bool] | None,
    now: int,
) -> BearerApiKey:
    """Rename a key or replace its permissions (None leaves a field as it is)."""
    _row(conn, api_key_id, scope)
    values: dict[str, Any] = {"updated_at": now}
    if name is not None:
        values["name"] = name
    if permissions is not None:
        values["permissions"] = permissions
    conn.execute(update(api_keys).where(api_keys.c.api_key_id == api_key_id).values(**values))
    return get_api_key(conn, api_key_id)


def delete_api_key(conn: Connection, api_key_id: str, *, scope: Scope) -> None:
    """Revoke a key: from now on it authenticates nothing."""
    _row(conn, api_key_id, scope)
    conn.execute(delete(api_keys).where(api_keys.c.api_key_id == api_key_id))


def authenticate(conn: Connection, key: str, *, now: int) -> KeyGrant | None:
    """The grant of a presented key, or None if it is unknown, revoked, expired or its scope is gone.

    A key scoped to an inbox is valid only while that inbox exists and is not younger than the key, so a
    deleted inbox's keys do not come back to life when the same address is created again.
    """
    if not key.startswith(KEY_PREFIX) or not _PREFIX_LENGTH < len(key) <= _MAX_KEY_LENGTH:
        return None
    row = conn.execute(select(api_keys).where(api_keys.c.prefix == key[:_PREFIX_LENGTH])).first()
    if row is None or not hmac.compare_digest(_hash(key), row.secret_hash):
        return None
    if row.expires_at is not None and now >= row.expires_at:
        return None
    if row.inbox_id is not None:
        alive = exists().where(inboxes.c.inbox_id == row.inbox_id, inboxes.c.created_at <= row.created_at)
    elif row.pod_id is not None:
        alive = exists().where(pods.c.pod_id == row.pod_id)
    else:
        alive = None
    if alive is not None and not conn.execute(select(alive)).scalar():
        return None
    scope = Scope(inbox_id=row.inbox_id, pod_id=row.pod_id)
    return KeyGrant(api_key_id=row.api_key_id, scope=scope, permissions=row.permissions)


def mark_used(conn: Connection, api_key_id: str, *, now: int) -> bool:
    """Record that a key was just used; False if it has been revoked meanwhile."""
    result = conn.execute(update(api_keys).where(api_keys.c.api_key_id == api_key_id).values(used_at=now))
    return bool(result.rowcount)
