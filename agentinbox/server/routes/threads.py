"""``/v0/inboxes/{inbox_id}/threads``, ``/v0/threads`` and ``/v0/pods/{pod_id}/threads``: list, search, get,
label, delete threads and link to their attachments, the same set at each of the three scopes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from ...models import ListThreadsResponse, SearchThreadsResponse, Thread, UpdateThreadResponse
from ..auth import Client
from ..downloads import attachment_download
from ..params import (
    Ascending,
    LabelChange,
    Limit,
    PageToken,
    StringList,
    given,
    json_model,
    no_content,
    query_list,
)
from ..wire import AttachmentDownload

__all__ = ["router"]

router = APIRouter(tags=["threads"])
Before = Annotated[datetime | None, Query(description="Only threads before this time.")]
After = Annotated[datetime | None, Query(description="Only threads at or after this time.")]
Include = Annotated[bool | None, Query()]


def list_filters(
    limit: Limit = None,
    page_token: PageToken = None,
    labels: StringList = None,
    before: Before = None,
    after: After = None,
    ascending: Ascending = None,
    include_spam: Include = None,
    include_blocked: Include = None,
    include_unauthenticated: Include = None,
    include_trash: Include = None,
    senders: StringList = None,
    recipients: StringList = None,
    subject: StringList = None,
) -> dict[str, Any]:
    """The query of a thread list (the same at every scope) as keyword arguments of ``threads.list``."""
    return {
        "limit": limit,
        "page_token": page_token,
        "labels": query_list(labels, "labels"),
        "before": before,
        "after": after,
        "ascending": ascending,
        "include_spam": include_spam,
        "include_blocked": include_blocked,
        "include_unauthenticated": include_unauthenticated,
        "include_trash": include_trash,
        "senders": query_list(senders, "senders"),
        "recipients": query_list(recipients, "recipients"),
        "subject": query_list(subject, "subject"),
    }


def search_query(
    q: Annotated[str, Query(max_length=1000)],
    limit: Limit = None,
    page_token: PageToken = None,
    before: Before = None,
    after: After = None,
) -> dict[str, Any]:
    """The query of a thread search as keyword arguments of ``threads.search``."""
    return {"q": q, "limit": limit, "page_token": page_token, "before": before, "after": after}


ListFilters = Annotated[dict[str, Any], Depends(list_filters)]
SearchQuery = Annotated[dict[str, Any], Depends(search_query)]


# Inbox scope.


@router.get("/v0/inboxes/{inbox_id}/threads", response_model=ListThreadsResponse)
async def list_inbox_threads(client: Client, inbox_id: str, filters: ListFilters) -> Response:
    return json_model(await client.inboxes.threads.list(inbox_id=inbox_id, **filters))


@router.get("/v0/inboxes/{inbox_id}/threads/search", response_model=SearchThreadsResponse)
async def search_inbox_threads(client: Client, inbox_id: str, query: SearchQuery) -> Response:
    return json_model(await client.inboxes.threads.search(inbox_id=inbox_id, **query))


@router.get("/v0/inboxes/{inbox_id}/threads/{thread_id}", response_model=Thread)
async def get_inbox_thread(
    client: Client, inbox_id: str, thread_id: str, limit: Limit = None, page_token: PageToken = None
) -> Response:
    thread = await client.inboxes.threads.get(
        inbox_id=inbox_id, thread_id=thread_id, limit=limit, page_token=page_token
    )
    return json_model(thread)


@router.patch("/v0/inboxes/{inbox_id}/threads/{thread_id}", response_model=UpdateThreadResponse)
async def update_inbox_thread(client: Client, inbox_id: str, thread_id: str, body: LabelChange) -> Response:
    updated = await client.inboxes.threads.update(inbox_id=inbox_id, thread_id=thread_id, **given(body))
    return json_model(updated)


@router.delete("/v0/inboxes/{inbox_id}/threads/{thread_id}", status_code=204)
async def delete_inbox_thread(client: Client, inbox_id: str, thread_id: str) -> Response:
    await client.inboxes.threads.delete(inbox_id=inbox_id, thread_id=thread_id)
    return no_content()


@router.get(
    "/v0/inboxes/{inbox_id}/threads/{thread_id}/attachments/{attachment_id}",
    response_model=AttachmentDownload,
)
async def get_inbox_thread_attachment(
    client: Client, request: Request, inbox_id: str, thread_id: str, attachment_id: str
) -> Response:
    found = await client.inboxes.threads.get_attachment(
        inbox_id=inbox_id, thread_id=thread_id, attachment_id=attachment_id
    )
    return attachment_download(request, ["thread", thread_id, attachment_id], found)


# Organization scope.


@router.get("/v0/threads", response_model=ListThreadsResponse)
async def list_threads(client: Client, filters: ListFilters) -> Response:
    return json_model(await client.threads.list(**filters))


@router.get("/v0/threads/search", response_model=SearchThreadsResponse)
async def search_threads(client: Client, query: SearchQuery) -> Response:
    return json_model(await client.threads.search(**query))


@router.get("/v0/threads/{thread_id}", response_model=Thread)
async def get_thread(
    client: Client, thread_id: str, limit: Limit = None, page_token: PageToken = None
) -> Response:
    return json_model(await client.threads.get(thread_id=thread_id, limit=limit, page_token=page_token))


@router.patch("/v0/threads/{thread_id}", response_model=UpdateThreadResponse)
async def update_thread(client: Client, thread_id: str, body: LabelChange) -> Response:
    return json_model(await client.threads.update(thread_id=thread_id, **given(body)))


@router.delete("/v0/threads/{thread_id}", status_code=204)
async def delete_thread(client: Client, thread_id: str) -> Response:
    await client.threads.delete(thread_id=thread_id)
    return no_content()


@router.get("/v0/threads/{thread_id}/attachments/{attachment_id}", response_model=AttachmentDownload)
async def get_thread_attachment(
    client: Client, request: Request, thread_id: str, attachment_id: str
) -> Response:
    found = await client.threads.get_attachment(thread_id=thread_id, attachment_id=attachment_id)
    return attachment_download(request, ["thread", thread_id, attachment_id], found)


# Pod scope.


@router.get("/v0/pods/{pod_id}/threads", response_model=ListThreadsResponse)
async def list_pod_threads(client: Client, pod_id: str, filters: ListFilters) -> Response:
    return json_model(await client.pods.threads.list(pod_id=pod_id, **filters))


@router.get("/v0/pods/{pod_id}/threads/search", response_model=SearchThreadsResponse)
async def search_pod_threads(client: Client, pod_id: str, query: SearchQuery) -> Response:
    return json_model(await client.pods.threads.search(pod_id=pod_id, **query))


@router.get("/v0/pods/{pod_id}/threads/{thread_id}", response_model=Thread)
async def get_pod_thread(
    client: Client, pod_id: str, thread_id: str, limit: Limit = None, page_token: PageToken = None
) -> Response:
    thread = await client.pods.threads.get(
        pod_id=pod_id, thread_id=thread_id, limit=limit, page_token=page_token
    )
    return json_model(thread)


@router.patch("/v0/pods/{pod_id}/threads/{thread_id}", response_model=UpdateThreadResponse)
async def update_pod_thread(client: Client, pod_id: str, thread_id: str, body: LabelChange) -> Response:
    return json_model(await client.pods.threads.update(pod_id=pod_id, thread_id=thread_id, **given(body)))


@router.delete("/v0/pods/{pod_id}/threads/{thread_id}", status_code=204)
async def delete_pod_thread(client: Client, pod_id: str, thread_id: str) -> Response:
    await client.pods.threads.delete(pod_id=pod_id, thread_id=thread_id)
    return no_content()


@router.get(
    "/v0/pods/{pod_id}/threads/{thread_id}/attachments/{attachment_id}", response_model=AttachmentDownload
)
async def get_pod_thread_attachment(
    client: Client, request: Request, pod_id: str, thread_id: str, attachment_id: str
) -> Response:
    found = await client.pods.threads.get_attachment(
        pod_id=pod_id, thread_id=thread_id, attachment_id=attachment_id
    )
    return attachment_download(request, ["thread", thread_id, attachment_id], found)
