"""``/v0/inboxes/{inbox_id}/drafts`` (create, list, get, update, delete, send), and the read-only
``/v0/drafts`` and ``/v0/pods/{pod_id}/drafts``, with signed links to draft attachments."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi import Body as BodyParam
from fastapi.responses import Response

from ...models import Draft, ListDraftsResponse, SendMessageResponse
from ..auth import Client
from ..downloads import attachment_download
from ..params import (
    Ascending,
    Body,
    IdempotencyKey,
    LabelChange,
    Limit,
    PageToken,
    StringList,
    StringOrList,
    given,
    json_model,
    no_content,
    query_list,
)
from ..wire import AttachmentDownload
from .messages import SendAttachment

__all__ = ["router"]

router = APIRouter(tags=["drafts"])
Before = Annotated[datetime | None, Query(description="Only drafts updated before this time.")]
After = Annotated[datetime | None, Query(description="Only drafts updated at or after this time.")]


class CreateDraftRequest(Body):
    labels: StringOrList | None = None
    reply_to: StringOrList | None = None
    to: StringOrList | None = None
    cc: StringOrList | None = None
    bcc: StringOrList | None = None
    subject: str | None = None
    text: str | None = None
    html: str | None = None
    attachments: list[SendAttachment] | None = None
    in_reply_to: str | None = None
    forward_of: str | None = None
    reply_all: bool | None = None
    #: When to send it by itself (ISO 8601 with ``Z`` or an offset); sets the ``scheduled`` label.
    send_at: datetime | None = None
    client_id: str | None = None


class UpdateDraftRequest(Body):
    """A draft change: a field left out stays as it is, and a field sent as null is cleared."""

    reply_to: StringOrList | None = None
    to: StringOrList | None = None
    cc: StringOrList | None = None
    bcc: StringOrList | None = None
    subject: str | None = None
    text: str | None = None
    html: str | None = None
    add_attachments: list[SendAttachment] | None = None
    remove_attachments: StringOrList | None = None
    add_labels: StringOrList | None = None
    remove_labels: StringOrList | None = None
    #: null un-schedules the draft.
    send_at: datetime | None = None


def list_filters(
    limit: Limit = None,
    page_token: PageToken = None,
    labels: StringList = None,
    before: Before = None,
    after: After = None,
    ascending: Ascending = None,
) -> dict[str, Any]:
    """The query of a draft list (the same at every scope) as keyword arguments of ``drafts.list``."""
    return {
        "limit": limit,
        "page_token": page_token,
        "labels": query_list(labels, "labels"),
        "before": before,
        "after": after,
        "ascending": ascending,
    }


ListFilters = Annotated[dict[str, Any], Depends(list_filters)]
#: ``drafts.send()`` without labels may send no body at all.
SendBody = Annotated[LabelChange | None, BodyParam()]


# Inbox scope: the full set.


@router.get("/v0/inboxes/{inbox_id}/drafts", response_model=ListDraftsResponse)
async def list_inbox_drafts(client: Client, inbox_id: str, filters: ListFilters) -> Response:
    return json_model(await client.inboxes.drafts.list(inbox_id=inbox_id, **filters))


@router.post("/v0/inboxes/{inbox_id}/drafts", response_model=Draft)
async def create_draft(client: Client, inbox_id: str, body: CreateDraftRequest) -> Response:
    return json_model(await client.inboxes.drafts.create(inbox_id=inbox_id, **given(body)))


@router.get("/v0/inboxes/{inbox_id}/drafts/{draft_id}", response_model=Draft)
async def get_inbox_draft(client: Client, inbox_id: str, draft_id: str) -> Response:
    return json_model(await client.inboxes.drafts.get(inbox_id=inbox_id, draft_id=draft_id))


@router.patch("/v0/inboxes/{inbox_id}/drafts/{draft_id}", response_model=Draft)
async def update_draft(client: Client, inbox_id: str, draft_id: str, body: UpdateDraftRequest) -> Response:
    updated = await client.inboxes.drafts.update(
        inbox_id=inbox_id, draft_id=draft_id, **given(body, keep_nulls=True)
    )
    return json_model(updated)


@router.delete("/v0/inboxes/{inbox_id}/drafts/{draft_id}", status_code=204)
async def delete_draft(client: Client, inbox_id: str, draft_id: str) -> Response:
    await client.inboxes.drafts.delete(inbox_id=inbox_id, draft_id=draft_id)
    return no_content()


@router.post("/v0/inboxes/{inbox_id}/drafts/{draft_id}/send", response_model=SendMessageResponse)
async def send_draft(
    client: Client,
    inbox_id: str,
    draft_id: str,
    body: SendBody = None,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    sent = await client.inboxes.drafts.send(
        inbox_id=inbox_id, draft_id=draft_id, idempotency_key=idempotency_key, **given(body)
    )
    return json_model(sent)


@router.get(
    "/v0/inboxes/{inbox_id}/drafts/{draft_id}/attachments/{attachment_id}",
    response_model=AttachmentDownload,
)
async def get_inbox_draft_attachment(
    client: Client, request: Request, inbox_id: str, draft_id: str, attachment_id: str
) -> Response:
    found = await client.inboxes.drafts.get_attachment(
        inbox_id=inbox_id, draft_id=draft_id, attachment_id=attachment_id
    )
    return attachment_download(request, ["draft", draft_id, attachment_id], found)


# Organization scope: read-only.


@router.get("/v0/drafts", response_model=ListDraftsResponse)
async def list_drafts(client: Client, filters: ListFilters) -> Response:
    return json_model(await client.drafts.list(**filters))


@router.get("/v0/drafts/{draft_id}", response_model=Draft)
async def get_draft(client: Client, draft_id: str) -> Response:
    return json_model(await client.drafts.get(draft_id=draft_id))


@router.get("/v0/drafts/{draft_id}/attachments/{attachment_id}", response_model=AttachmentDownload)
async def get_draft_attachment(
    client: Client, request: Request, draft_id: str, attachment_id: str
) -> Response:
    found = await client.drafts.get_attachment(draft_id=draft_id, attachment_id=attachment_id)
    return attachment_download(request, ["draft", draft_id, attachment_id], found)


# Pod scope: read-only.


@router.get("/v0/pods/{pod_id}/drafts", response_model=ListDraftsResponse)
async def list_pod_drafts(client: Client, pod_id: str, filters: ListFilters) -> Response:
    return json_model(await client.pods.drafts.list(pod_id=pod_id, **filters))


@router.get("/v0/pods/{pod_id}/drafts/{draft_id}", response_model=Draft)
async def get_pod_draft(client: Client, pod_id: str, draft_id: str) -> Response:
    return json_model(await client.pods.drafts.get(pod_id=pod_id, draft_id=draft_id))


@router.get(
    "/v0/pods/{pod_id}/drafts/{draft_id}/attachments/{attachment_id}", response_model=AttachmentDownload
)
async def get_pod_draft_attachment(
    client: Client, request: Request, pod_id: str, draft_id: str, attachment_id: str
) -> Response:
    found = await client.pods.drafts.get_attachment(
        pod_id=pod_id, draft_id=draft_id, attachment_id=attachment_id
    )
    return attachment_download(request, ["draft", draft_id, attachment_id], found)
