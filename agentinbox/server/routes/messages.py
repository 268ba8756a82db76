"""``/v0/inboxes/{inbox_id}/messages``: send, reply, reply-all, forward, and list, get, label, search, delete,
batch-get and batch-update messages, with signed links to raw messages and attachments."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import Field

from ...models import (
    BatchGetMessagesResponse,
    BatchUpdateMessagesResponse,
    ListMessagesResponse,
    Message,
    SearchMessagesResponse,
    SendMessageResponse,
    UpdateMessageResponse,
)
from ..auth import Client
from ..downloads import attachment_download, raw_download
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
from ..wire import AttachmentDownload, RawMessageDownload

__all__ = ["SendAttachment", "router"]

router = APIRouter(tags=["messages"])
Before = Annotated[datetime | None, Query(description="Only items before this time.")]
After = Annotated[datetime | None, Query(description="Only items at or after this time.")]
Include = Annotated[bool | None, Query()]


class SendAttachment(Body):
    """An attachment to send: ``content`` is standard base64."""

    filename: str | None = None
    content_type: str | None = None
    content_disposition: Literal["inline", "attachment"] | None = None
    content_id: str | None = None
    content: str | None = None
    url: str | None = None


class _Outgoing(Body):
    labels: StringOrList | None = None
    reply_to: StringOrList | None = None
    text: str | None = None
    html: str | None = None
    attachments: list[SendAttachment] | None = None
    headers: dict[str, str] | None = None
    #: Accepted for compatibility; opens are not tracked.
    track_opens: bool | None = None


class SendMessageRequest(_Outgoing):
    to: StringOrList | None = None
    cc: StringOrList | None = None
    bcc: StringOrList | None = None
    subject: str | None = None


class ReplyToMessageRequest(_Outgoing):
    to: StringOrList | None = None
    cc: StringOrList | None = None
    bcc: StringOrList | None = None
    reply_all: bool | None = None


class ReplyAllMessageRequest(_Outgoing):
    pass


class BatchGetMessagesRequest(Body):
    message_ids: list[str] = Field(max_length=500)


class BatchUpdateMessagesRequest(LabelChange):
    message_ids: list[str] = Field(max_length=50)


def _outgoing(body: _Outgoing) -> dict[str, Any]:
    fields = given(body)
    fields.pop("track_opens", None)
    return fields


@router.get("/v0/inboxes/{inbox_id}/messages", response_model=ListMessagesResponse)
async def list_messages(
    client: Client,
    inbox_id: str,
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
    from_: Annotated[list[str] | None, Query(alias="from", description="Substrings of the sender.")] = None,
    to: StringList = None,
    subject: StringList = None,
) -> Response:
    listed = await client.inboxes.messages.list(
        inbox_id=inbox_id,
        limit=limit,
        page_token=page_token,
        labels=query_list(labels, "labels"),
        before=before,
        after=after,
        ascending=ascending,
        include_spam=include_spam,
        include_blocked=include_blocked,
        include_unauthenticated=include_unauthenticated,
        include_trash=include_trash,
        from_=query_list(from_, "from"),
        to=query_list(to, "to"),
        subject=query_list(subject, "subject"),
    )
    return json_model(listed)


@router.get("/v0/inboxes/{inbox_id}/messages/search", response_model=SearchMessagesResponse)
async def search_messages(
    client: Client,
    inbox_id: str,
    q: Annotated[str, Query(max_length=1000)],
    limit: Limit = None,
    page_token: PageToken = None,
    before: Before = None,
    after: After = None,
) -> Response:
    found = await client.inboxes.messages.search(
        inbox_id=inbox_id, q=q, limit=limit, page_token=page_token, before=before, after=after
    )
    return json_model(found)


@router.get("/v0/inboxes/{inbox_id}/messages/{message_id}", response_model=Message)
async def get_message(client: Client, inbox_id: str, message_id: str) -> Response:
    return json_model(await client.inboxes.messages.get(inbox_id=inbox_id, message_id=message_id))


@router.patch("/v0/inboxes/{inbox_id}/messages/{message_id}", response_model=UpdateMessageResponse)
async def update_message(client: Client, inbox_id: str, message_id: str, body: LabelChange) -> Response:
    updated = await client.inboxes.messages.update(inbox_id=inbox_id, message_id=message_id, **given(body))
    return json_model(updated)


@router.delete("/v0/inboxes/{inbox_id}/messages/{message_id}", status_code=204)
async def delete_message(client: Client, inbox_id: str, message_id: str) -> Response:
    await client.inboxes.messages.delete(inbox_id=inbox_id, message_id=message_id)
    return no_content()


@router.post("/v0/inboxes/{inbox_id}/messages/batch-get", response_model=BatchGetMessagesResponse)
async def batch_get_messages(client: Client, inbox_id: str, body: BatchGetMessagesRequest) -> Response:
    found = await client.inboxes.messages.batch_get(inbox_id=inbox_id, message_ids=body.message_ids)
    return json_model(found)


@router.post("/v0/inboxes/{inbox_id}/messages/batch-update", response_model=BatchUpdateMessagesResponse)
async def batch_update_messages(client: Client, inbox_id: str, body: BatchUpdateMessagesRequest) -> Response:
    updated = await client.inboxes.messages.batch_update(inbox_id=inbox_id, **given(body))
    return json_model(updated)


@router.get(
    "/v0/inboxes/{inbox_id}/messages/{message_id}/attachments/{attachment_id}",
    response_model=AttachmentDownload,
)
async def get_message_attachment(
    client: Client, request: Request, inbox_id: str, message_id: str, attachment_id: str
) -> Response:
    found = await client.inboxes.messages.get_attachment(
        inbox_id=inbox_id, message_id=message_id, attachment_id=attachment_id
    )
    return attachment_download(request, ["message", inbox_id, message_id, attachment_id], found)


@router.get("/v0/inboxes/{inbox_id}/messages/{message_id}/raw", response_model=RawMessageDownload)
async def get_raw_message(client: Client, request: Request, inbox_id: str, message_id: str) -> Response:
    found = await client.inboxes.messages.get_raw(inbox_id=inbox_id, message_id=message_id)
    return raw_download(request, ["raw", inbox_id, message_id], found)


@router.post("/v0/inboxes/{inbox_id}/messages/send", response_model=SendMessageResponse)
async def send_message(
    client: Client, inbox_id: str, body: SendMessageRequest, idempotency_key: IdempotencyKey = None
) -> Response:
    sent = await client.inboxes.messages.send(
        inbox_id=inbox_id, idempotency_key=idempotency_key, **_outgoing(body)
    )
    return json_model(sent)


@router.post("/v0/inboxes/{inbox_id}/messages/{message_id}/reply", response_model=SendMessageResponse)
async def reply_to_message(
    client: Client,
    inbox_id: str,
    message_id: str,
    body: ReplyToMessageRequest,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    sent = await client.inboxes.messages.reply(
        inbox_id=inbox_id, message_id=message_id, idempotency_key=idempotency_key, **_outgoing(body)
    )
    return json_model(sent)


@router.post("/v0/inboxes/{inbox_id}/messages/{message_id}/reply-all", response_model=SendMessageResponse)
async def reply_all_message(
    client: Client,
    inbox_id: str,
    message_id: str,
    body: ReplyAllMessageRequest,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    sent = await client.inboxes.messages.reply_all(
        inbox_id=inbox_id, message_id=message_id, idempotency_key=idempotency_key, **_outgoing(body)
    )
    return json_model(sent)


@router.post("/v0/inboxes/{inbox_id}/messages/{message_id}/forward", response_model=SendMessageResponse)
async def forward_message(
    client: Client,
    inbox_id: str,
    message_id: str,
    body: SendMessageRequest,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    sent = await client.inboxes.messages.forward(
        inbox_id=inbox_id, message_id=message_id, idempotency_key=idempotency_key, **_outgoing(body)
    )
    return json_model(sent)
