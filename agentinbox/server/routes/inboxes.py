"""``/v0/inboxes`` and ``/v0/pods/{pod_id}/inboxes``: create, list, search, get, update, delete inboxes."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi import Body as BodyParam
from fastapi.responses import Response

from ...models import Inbox, ListInboxesResponse
from ..auth import Client
from ..params import Ascending, Body, Limit, PageToken, given, json_model, no_content

__all__ = ["router"]

router = APIRouter(tags=["inboxes"])
MetadataValue = str | int | float | bool


class CreateInboxRequest(Body):
    username: str | None = None
    domain: str | None = None
    display_name: str | None = None
    client_id: str | None = None
    status: Literal["active", "paused"] | None = None
    metadata: dict[str, MetadataValue] | None = None


class UpdateInboxRequest(Body):
    display_name: str | None = None
    status: Literal["active", "paused"] | None = None
    #: Merged into the inbox's metadata: a key set to null is removed; null clears it all.
    metadata: dict[str, MetadataValue | None] | None = None


#: ``client.inboxes.create()`` sends no body at all: every field takes its default.
CreateBody = Annotated[CreateInboxRequest | None, BodyParam()]
SearchQuery = Annotated[str, Query(min_length=1, max_length=256, description="Word prefixes to find.")]


@router.get("/v0/inboxes", response_model=ListInboxesResponse)
async def list_inboxes(
    client: Client, limit: Limit = None, page_token: PageToken = None, ascending: Ascending = None
) -> Response:
    return json_model(await client.inboxes.list(limit=limit, page_token=page_token, ascending=ascending))


@router.get("/v0/inboxes/search", response_model=ListInboxesResponse)
async def search_inboxes(
    client: Client, q: SearchQuery, limit: Limit = None, page_token: PageToken = None
) -> Response:
    return json_model(await client.inboxes.search(q=q, limit=limit, page_token=page_token))


@router.get("/v0/inboxes/{inbox_id}", response_model=Inbox)
async def get_inbox(client: Client, inbox_id: str) -> Response:
    return json_model(await client.inboxes.get(inbox_id=inbox_id))


@router.post("/v0/inboxes", response_model=Inbox)
async def create_inbox(client: Client, body: CreateBody = None) -> Response:
    return json_model(await client.inboxes.create(**given(body)))


@router.patch("/v0/inboxes/{inbox_id}", response_model=Inbox)
async def update_inbox(client: Client, inbox_id: str, body: UpdateInboxRequest) -> Response:
    return json_model(await client.inboxes.update(inbox_id=inbox_id, **given(body, keep_nulls=True)))


@router.delete("/v0/inboxes/{inbox_id}", status_code=204)
async def delete_inbox(client: Client, inbox_id: str) -> Response:
    await client.inboxes.delete(inbox_id=inbox_id)
    return no_content()


@router.get("/v0/pods/{pod_id}/inboxes", response_model=ListInboxesResponse)
async def list_pod_inboxes(
    client: Client,
    pod_id: str,
    limit: Limit = None,
    page_token: PageToken = None,
    ascending: Ascending = None,
) -> Response:
    listed = await client.pods.inboxes.list(
        pod_id=pod_id, limit=limit, page_token=page_token, ascending=ascending
    )
    return json_model(listed)


@router.get("/v0/pods/{pod_id}/inboxes/search", response_model=ListInboxesResponse)
async def search_pod_inboxes(
    client: Client, pod_id: str, q: SearchQuery, limit: Limit = None, page_token: PageToken = None
) -> Response:
    return json_model(
        await client.pods.inboxes.search(pod_id=pod_id, q=q, limit=limit, page_token=page_token)
    )


@router.get("/v0/pods/{pod_id}/inboxes/{inbox_id}", response_model=Inbox)
async def get_pod_inbox(client: Client, pod_id: str, inbox_id: str) -> Response:
    return json_model(await client.pods.inboxes.get(pod_id=pod_id, inbox_id=inbox_id))


@router.post("/v0/pods/{pod_id}/inboxes", response_model=Inbox)
async def create_pod_inbox(client: Client, pod_id: str, body: CreateBody = None) -> Response:
    return json_model(await client.pods.inboxes.create(pod_id=pod_id, **given(body)))


@router.patch("/v0/pods/{pod_id}/inboxes/{inbox_id}", response_model=Inbox)
async def update_pod_inbox(client: Client, pod_id: str, inbox_id: str, body: UpdateInboxRequest) -> Response:
    updated = await client.pods.inboxes.update(
        pod_id=pod_id, inbox_id=inbox_id, **given(body, keep_nulls=True)
    )
    return json_model(updated)


@router.delete("/v0/pods/{pod_id}/inboxes/{inbox_id}", status_code=204)
async def delete_pod_inbox(client: Client, pod_id: str, inbox_id: str) -> Response:
    await client.pods.inboxes.delete(pod_id=pod_id, inbox_id=inbox_id)
    return no_content()
