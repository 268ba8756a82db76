"""``/v0/lists``, ``/v0/pods/{pod_id}/lists`` and ``/v0/inboxes/{inbox_id}/lists``: allow/block list entries
(list, get, add, remove) at the organization, pod and inbox scopes. ``direction`` and ``type`` are checked
by the client, so a wrong one is its ValidationError (400), not a routing failure."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from ...models import ListEntry, ListListEntriesResponse, PodListEntry, PodListListEntriesResponse
from ..auth import Client
from ..params import Body, Limit, PageToken, json_model, no_content

__all__ = ["router"]

router = APIRouter(tags=["lists"])


class CreateListEntryRequest(Body):
    entry: str
    reason: str | None = None


@router.get("/v0/lists/{direction}/{type}", response_model=ListListEntriesResponse)
async def list_entries(
    client: Client, direction: str, type: str, limit: Limit = None, page_token: PageToken = None
) -> Response:
    listed = await client.lists.list(direction=direction, type=type, limit=limit, page_token=page_token)
    return json_model(listed)


@router.get("/v0/lists/{direction}/{type}/{entry}", response_model=ListEntry)
async def get_entry(client: Client, direction: str, type: str, entry: str) -> Response:
    return json_model(await client.lists.get(direction=direction, type=type, entry=entry))


@router.post("/v0/lists/{direction}/{type}", response_model=ListEntry)
async def create_entry(client: Client, direction: str, type: str, body: CreateListEntryRequest) -> Response:
    created = await client.lists.create(direction=direction, type=type, entry=body.entry, reason=body.reason)
    return json_model(created)


@router.delete("/v0/lists/{direction}/{type}/{entry}", status_code=204)
async def delete_entry(client: Client, direction: str, type: str, entry: str) -> Response:
    await client.lists.delete(direction=direction, type=type, entry=entry)
    return no_content()


@router.get("/v0/pods/{pod_id}/lists/{direction}/{type}", response_model=PodListListEntriesResponse)
async def list_pod_entries(
    client: Client,
    pod_id: str,
    direction: str,
    type: str,
    limit: Limit = None,
    page_token: PageToken = None,
) -> Response:
    listed = await client.pods.lists.list(
        pod_id=pod_id, direction=direction, type=type, limit=limit, page_token=page_token
    )
    return json_model(listed)


@router.get("/v0/pods/{pod_id}/lists/{direction}/{type}/{entry}", response_model=PodListEntry)
async def get_pod_entry(client: Client, pod_id: str, direction: str, type: str, entry: str) -> Response:
    return json_model(await client.pods.lists.get(pod_id=pod_id, direction=direction, type=type, entry=entry))


@router.post("/v0/pods/{pod_id}/lists/{direction}/{type}", response_model=PodListEntry)
async def create_pod_entry(
    client: Client, pod_id: str, direction: str, type: str, body: CreateListEntryRequest
) -> Response:
    created = await client.pods.lists.create(
        pod_id=pod_id, direction=direction, type=type, entry=body.entry, reason=body.reason
    )
    return json_model(created)


@router.delete("/v0/pods/{pod_id}/lists/{direction}/{type}/{entry}", status_code=204)
async def delete_pod_entry(client: Client, pod_id: str, direction: str, type: str, entry: str) -> Response:
    await client.pods.lists.delete(pod_id=pod_id, direction=direction, type=type, entry=entry)
    return no_content()


@router.get("/v0/inboxes/{inbox_id}/lists/{direction}/{type}", response_model=PodListListEntriesResponse)
async def list_inbox_entries(
    client: Client,
    inbox_id: str,
    direction: str,
    type: str,
    limit: Limit = None,
    page_token: PageToken = None,
) -> Response:
    listed = await client.inboxes.lists.list(
        inbox_id=inbox_id, direction=direction, type=type, limit=limit, page_token=page_token
    )
    return json_model(listed)


@router.get("/v0/inboxes/{inbox_id}/lists/{direction}/{type}/{entry}", response_model=PodListEntry)
async def get_inbox_entry(client: Client, inbox_id: str, direction: str, type: str, entry: str) -> Response:
    found = await client.inboxes.lists.get(inbox_id=inbox_id, direction=direction, type=type, entry=entry)
    return json_model(found)


@router.post("/v0/inboxes/{inbox_id}/lists/{direction}/{type}", response_model=PodListEntry)
async def create_inbox_entry(
    client: Client, inbox_id: str, direction: str, type: str, body: CreateListEntryRequest
) -> Response:
    created = await client.inboxes.lists.create(
        inbox_id=inbox_id, direction=direction, type=type, entry=body.entry, reason=body.reason
    )
    return json_model(created)


@router.delete("/v0/inboxes/{inbox_id}/lists/{direction}/{type}/{entry}", status_code=204)
async def delete_inbox_entry(
    client: Client, inbox_id: str, direction: str, type: str, entry: str
) -> Response:
    await client.inboxes.lists.delete(inbox_id=inbox_id, direction=direction, type=type, entry=entry)
    return no_content()
