"""``/v0/api-keys``, ``/v0/pods/{pod_id}/api-keys`` and ``/v0/inboxes/{inbox_id}/api-keys``: create, list,
rename and revoke bearer keys at each scope; and ``/v0/auth/me``, who the caller's key acts as. A key changed
or revoked here is dropped from the server's cache of key views at once, so it stops working on the next
request."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi import Body as BodyParam
from fastapi.responses import Response

from ...models import ApiKeyPermissions, BearerApiKey, CreateApiKeyResponse, Identity, ListApiKeysResponse
from ..auth import Client, KeyViews
from ..params import Ascending, Body, Limit, PageToken, given, json_model, no_content

__all__ = ["router"]

router = APIRouter(tags=["api-keys"])
KeyType = Annotated[
    Literal["bearer", "public_key"] | None, Query(description="Only keys of this kind (all are bearer keys).")
]


class CreateApiKeyRequest(Body):
    name: str | None = None
    #: Without permissions the key may do everything its scope allows; otherwise only what is true.
    permissions: ApiKeyPermissions | None = None
    #: Must be in the future; the key stops working then.
    expires_at: datetime | None = None


class UpdateApiKeyRequest(Body):
    name: str | None = None
    #: Replaces the key's permissions.
    permissions: ApiKeyPermissions | None = None


#: ``client.api_keys.create()`` with an empty request may send no body.
CreateBody = Annotated[CreateApiKeyRequest | None, BodyParam()]


def _forget_keys(request: Request) -> None:
    """Drop the cached key views, so a revoked or changed key takes effect on the next request."""
    keys: KeyViews = request.app.state.keys
    keys.forget()


@router.get("/v0/auth/me", response_model=Identity, tags=["auth"])
async def get_identity(client: Client) -> Response:
    return json_model(client.identity)


@router.get("/v0/api-keys", response_model=ListApiKeysResponse)
async def list_api_keys(
    client: Client,
    type: KeyType = None,
    limit: Limit = None,
    page_token: PageToken = None,
    ascending: Ascending = None,
) -> Response:
    listed = await client.api_keys.list(type=type, limit=limit, page_token=page_token, ascending=ascending)
    return json_model(listed)


@router.get("/v0/api-keys/{api_key_id}", response_model=BearerApiKey)
async def get_api_key(client: Client, api_key_id: str) -> Response:
    return json_model(await client.api_keys.get(api_key_id=api_key_id))


@router.post("/v0/api-keys", response_model=CreateApiKeyResponse)
async def create_api_key(client: Client, body: CreateBody = None) -> Response:
    return json_model(await client.api_keys.create(**given(body)))


@router.patch("/v0/api-keys/{api_key_id}", response_model=BearerApiKey)
async def update_api_key(
    client: Client, request: Request, api_key_id: str, body: UpdateApiKeyRequest
) -> Response:
    updated = await client.api_keys.update(api_key_id=api_key_id, **given(body))
    _forget_keys(request)
    return json_model(updated)


@router.delete("/v0/api-keys/{api_key_id}", status_code=204)
async def delete_api_key(client: Client, request: Request, api_key_id: str) -> Response:
    await client.api_keys.delete(api_key_id=api_key_id)
    _forget_keys(request)
    return no_content()


@router.get("/v0/pods/{pod_id}/api-keys", response_model=ListApiKeysResponse)
async def list_pod_api_keys(
    client: Client, pod_id: str, limit: Limit = None, page_token: PageToken = None
) -> Response:
    return json_model(await client.pods.api_keys.list(pod_id=pod_id, limit=limit, page_token=page_token))


@router.post("/v0/pods/{pod_id}/api-keys", response_model=CreateApiKeyResponse)
async def create_pod_api_key(client: Client, pod_id: str, body: CreateBody = None) -> Response:
    return json_model(await client.pods.api_keys.create(pod_id=pod_id, **given(body)))


@router.patch("/v0/pods/{pod_id}/api-keys/{api_key_id}", response_model=BearerApiKey)
async def update_pod_api_key(
    client: Client, request: Request, pod_id: str, api_key_id: str, body: UpdateApiKeyRequest
) -> Response:
    updated = await client.pods.api_keys.update(pod_id=pod_id, api_key_id=api_key_id, **given(body))
    _forget_keys(request)
    return json_model(updated)


@router.delete("/v0/pods/{pod_id}/api-keys/{api_key_id}", status_code=204)
async def delete_pod_api_key(client: Client, request: Request, pod_id: str, api_key_id: str) -> Response:
    await client.pods.api_keys.delete(pod_id=pod_id, api_key_id=api_key_id)
    _forget_keys(request)
    return no_content()


@router.get("/v0/inboxes/{inbox_id}/api-keys", response_model=ListApiKeysResponse)
async def list_inbox_api_keys(
    client: Client, inbox_id: str, limit: Limit = None, page_token: PageToken = None
) -> Response:
    listed = await client.inboxes.api_keys.list(inbox_id=inbox_id, limit=limit, page_token=page_token)
    return json_model(listed)


@router.post("/v0/inboxes/{inbox_id}/api-keys", response_model=CreateApiKeyResponse)
async def create_inbox_api_key(client: Client, inbox_id: str, body: CreateBody = None) -> Response:
    return json_model(await client.inboxes.api_keys.create(inbox_id=inbox_id, **given(body)))


@router.patch("/v0/inboxes/{inbox_id}/api-keys/{api_key_id}", response_model=BearerApiKey)
async def update_inbox_api_key(
    client: Client, request: Request, inbox_id: str, api_key_id: str, body: UpdateApiKeyRequest
) -> Response:
    updated = await client.inboxes.api_keys.update(inbox_id=inbox_id, api_key_id=api_key_id, **given(body))
    _forget_keys(request)
    return json_model(updated)


@router.delete("/v0/inboxes/{inbox_id}/api-keys/{api_key_id}", status_code=204)
async def delete_inbox_api_key(client: Client, request: Request, inbox_id: str, api_key_id: str) -> Response:
    await client.inboxes.api_keys.delete(inbox_id=inbox_id, api_key_id=api_key_id)
    _forget_keys(request)
    return no_content()
