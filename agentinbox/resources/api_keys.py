"""``client.api_keys``, ``client.inboxes.api_keys`` and ``client.pods.api_keys``: scoped credentials.

A key authenticates SMTP submission (and the HTTP API) for everything in its scope: the organization, one
pod (with its inboxes) or one inbox. Its secret is returned once, by ``create``; only a hash is kept.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import pydantic
from sqlalchemy import Connection

from .._types import OMIT, Omit
from ..errors import ValidationError
from ..models import ApiKeyPermissions, BearerApiKey, CreateApiKeyResponse, ListApiKeysResponse
from ..store import api_keys, inboxes, pods
from ..store.pagination import clamp_limit
from ..store.scopes import Scope
from ._base import Resource, check_bool, check_id, in_scope, no_control_characters, timestamp

__all__ = ["ApiKeys", "InboxApiKeys", "PodApiKeys"]

DEFAULT_NAME = "API Key"


def _name(value: object, *, default: str | None) -> str | None:
    if value is None:
        return default
    if not isinstance(value, str) or not value.strip() or len(value) > 256:
        raise ValidationError("name must be a non-empty string of at most 256 characters", path=["name"])
    return no_control_characters(value, "name").strip()


def _permissions(value: object) -> dict[str, bool] | None:
    """Permissions as given (a mapping or ApiKeyPermissions) as the stored dict of explicit grants."""
    if value is None:
        return None
    if isinstance(value, ApiKeyPermissions):
        return value.model_dump(exclude_none=True)
    if not isinstance(value, Mapping):
        raise ValidationError(
            "permissions must be an ApiKeyPermissions or a mapping of permission name to true/false",
            path=["permissions"],
        )
    try:
        checked = ApiKeyPermissions.model_validate(dict(value), strict=True)
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        path = ["permissions", *(str(p) for p in first.get("loc", ()))]
        raise ValidationError(f"{'.'.join(path)}: {first.get('msg')}", path=list(path)) from exc
    return checked.model_dump(exclude_none=True)


def _type(value: object) -> bool:
    """Whether a ``type`` filter admits bearer keys (the only kind there is here)."""
    if value is None or value == "bearer":
        return True
    if value == "public_key":
        return False
    raise ValidationError('type must be "bearer" or "public_key"', path=["type"])


class _ApiKeyOperations(Resource):
    async def _create(
        self,
        *,
        pod_id: str | None,
        inbox_id: str | None,
        name: str | None,
        permissions: Any,
        expires_at: datetime | None,
    ) -> CreateApiKeyResponse:
        ctx = await self._ctx()
        checked_name = _name(name, default=DEFAULT_NAME)
        assert checked_name is not None
        grants = _permissions(permissions)
        expiry = timestamp(expires_at, "expires_at")
        now = ctx.clock.now()
        if expiry is not None and expiry <= now:
            raise ValidationError("expires_at must be in the future", path=["expires_at"])
        access = await self._access("api_key_create")
        within = access.exactly(Scope(inbox_id=inbox_id, pod_id=pod_id), "API keys")
        grants = access.grants(grants)  # a key never makes a key that may do more than itself

        def run(conn: Connection) -> CreateApiKeyResponse:
            owner = pod_id
            if inbox_id is not None:
                owner = inboxes.get_inbox(conn, inbox_id, pod_id=within.pod_id).pod_id
            elif pod_id is not None:
                pods.require_pod(conn, pod_id)
            return api_keys.create_api_key(
                conn,
                name=checked_name,
                pod_id=owner,
                inbox_id=inbox_id,
                permissions=grants,
                expires_at=expiry,
                now=now,
            )

        return await ctx.db.write(run)

    async def _update(self, scope: Scope, api_key_id: str, *, name: Any, permissions: Any) -> BearerApiKey:
        ctx = await self._ctx()
        access = await self._access("api_key_update")
        scope = access.within(scope)
        grants = None if permissions is OMIT else _permissions(permissions)
        return await ctx.db.write(
            api_keys.update_api_key,
            check_id(api_key_id, "api_key_id"),
            scope=scope,
            name=None if name is OMIT else _name(name, default=None),
            permissions=None if grants is None else access.grants(grants),
            now=ctx.clock.now(),
        )

    async def _list(
        self, scope: Scope, *, limit: int | None, page_token: str | None, ascending: bool | None
    ) -> ListApiKeysResponse:
        scope = await self._within(scope, "api_key_read")
        return await self._read(
            in_scope(api_keys.list_api_keys, scope),
            scope,
            limit=clamp_limit(limit),
            page_token=page_token,
            ascending=check_bool(ascending, "ascending"),
        )

    async def _delete(self, scope: Scope, api_key_id: str) -> None:
        scope = await self._within(scope, "api_key_delete")
        await self._write(api_keys.delete_api_key, check_id(api_key_id, "api_key_id"), scope=scope)


class ApiKeys(_ApiKeyOperations):
    """Every API key of the organization; ``create`` makes organization-wide keys."""

    async def list(
        self,
        *,
        type: str | None = None,
        limit: int | None = None,
        page_token: str | None = None,
        ascending: bool | None = None,
    ) -> ListApiKeysResponse:
        """Keys of every scope, newest first; ``type="bearer"`` (all of them) or ``"public_key"`` (none)."""
        if not _type(type):
            return ListApiKeysResponse(count=0, limit=clamp_limit(limit), api_keys=[])
        return await self._list(Scope(), limit=limit, page_token=page_token, ascending=ascending)

    async def get(self, *, api_key_id: str) -> BearerApiKey:
        scope = await self._within(Scope(), "api_key_read")
        return await self._read(api_keys.get_api_key, check_id(api_key_id, "api_key_id"), scope=scope)

    async def create(
        self,
        *,
        name: str | None = None,
        permissions: ApiKeyPermissions | Mapping[str, bool] | None = None,
        expires_at: datetime | None = None,
    ) -> CreateApiKeyResponse:
        """Create an organization-wide key; its secret ``api_key`` is in the result and nowhere else."""
        return await self._create(
            pod_id=None, inbox_id=None, name=name, permissions=permissions, expires_at=expires_at
        )

    async def update(
        self,
        *,
        api_key_id: str,
        name: str | Omit | None = OMIT,
        permissions: ApiKeyPermissions | Mapping[str, bool] | Omit | None = OMIT,
    ) -> BearerApiKey:
        """Rename a key or replace its permissions; its secret, scope and expiry never change."""
        return await self._update(Scope(), api_key_id, name=name, permissions=permissions)

    async def delete(self, *, api_key_id: str) -> None:
        """Revoke a key at once (sessions already authenticated with it can submit no more mail)."""
        await self._delete(Scope(), api_key_id)


class InboxApiKeys(_ApiKeyOperations):
    """Keys scoped to one inbox."""

    async def list(
        self, *, inbox_id: str, limit: int | None = None, page_token: str | None = None
    ) -> ListApiKeysResponse:
        scope = Scope(inbox_id=check_id(inbox_id, "inbox_id"))
        return await self._list(scope, limit=limit, page_token=page_token, ascending=False)

    async def create(
        self,
        *,
        inbox_id: str,
        name: str | None = None,
        permissions: ApiKeyPermissions | Mapping[str, bool] | None = None,
        expires_at: datetime | None = None,
    ) -> CreateApiKeyResponse:
        """Create a key that reaches this inbox only (for SMTP submission as it, for example)."""
        return await self._create(
            pod_id=None,
            inbox_id=check_id(inbox_id, "inbox_id"),
            name=name,
            permissions=permissions,
            expires_at=expires_at,
        )

    async def update(
        self,
        *,
        inbox_id: str,
        api_key_id: str,
        name: str | Omit | None = OMIT,
        permissions: ApiKeyPermissions | Mapping[str, bool] | Omit | None = OMIT,
    ) -> BearerApiKey:
        scope = Scope(inbox_id=check_id(inbox_id, "inbox_id"))
        return await self._update(scope, api_key_id, name=name, permissions=permissions)

    async def delete(self, *, inbox_id: str, api_key_id: str) -> None:
        await self._delete(Scope(inbox_id=check_id(inbox_id, "inbox_id")), api_key_id)


class PodApiKeys(_ApiKeyOperations):
    """Keys scoped to one pod, including those of its inboxes."""

    async def list(
        self, *, pod_id: str, limit: int | None = None, page_token: str | None = None
    ) -> ListApiKeysResponse:
        scope = Scope(pod_id=check_id(pod_id, "pod_id"))
        return await self._list(scope, limit=limit, page_token=page_token, ascending=False)

    async def create(
        self,
        *,
        pod_id: str,
        name: str | None = None,
        permissions: ApiKeyPermissions | Mapping[str, bool] | None = None,
        expires_at: datetime | None = None,
    ) -> CreateApiKeyResponse:
        """Create a key that reaches every inbox of this pod."""
        return await self._create(
            pod_id=check_id(pod_id, "pod_id"),
            inbox_id=None,
            name=name,
            permissions=permissions,
            expires_at=expires_at,
        )

    async def update(
        self,
        *,
        pod_id: str,
        api_key_id: str,
        name: str | Omit | None = OMIT,
        permissions: ApiKeyPermissions | Mapping[str, bool] | Omit | None = OMIT,
    ) -> BearerApiKey:
        scope = Scope(pod_id=check_id(pod_id, "pod_id"))
        return await self._update(scope, api_key_id, name=name, permissions=permissions)

    async def delete(self, *, pod_id: str, api_key_id: str) -> None:
        await self._delete(Scope(pod_id=check_id(pod_id, "pod_id")), api_key_id)
