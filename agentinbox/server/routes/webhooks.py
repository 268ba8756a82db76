"""``/v0/webhooks``, ``/v0/pods/{pod_id}/webhooks`` and ``/v0/inboxes/{inbox_id}/webhooks``: create, list,
get, update and delete webhooks at the organization, pod and inbox scopes. Each one carries the ``secret``
(``whsec_…``) its calls are signed with."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from ...models import ListWebhooksResponse, Webhook
from ..auth import Client
from ..params import Ascending, Body, Limit, PageToken, given, json_model, no_content

__all__ = ["router"]

router = APIRouter(tags=["webhooks"])


class CreateInboxWebhookRequest(Body):
    url: str
    event_types: list[str]
    client_id: str | None = None
    #: Sent with every call; never read back.
    headers: dict[str, str] | None = None


class CreatePodWebhookRequest(CreateInboxWebhookRequest):
    inbox_ids: list[str] | None = None


class CreateWebhookRequest(CreatePodWebhookRequest):
    pod_ids: list[str] | None = None


class UpdateInboxWebhookRequest(Body):
    #: A non-empty list replaces the webhook's event types.
    event_types: list[str] | None = None
    enabled: bool | None = None


class UpdatePodWebhookRequest(UpdateInboxWebhookRequest):
    add_inbox_ids: list[str] | None = None
    remove_inbox_ids: list[str] | None = None


class UpdateWebhookRequest(UpdatePodWebhookRequest):
    add_pod_ids: list[str] | None = None
    remove_pod_ids: list[str] | None = None


@router.get("/v0/webhooks", response_model=ListWebhooksResponse)
async def list_webhooks(
    client: Client, limit: Limit = None, page_token: PageToken = None, ascending: Ascending = None
) -> Response:
    return json_model(await client.webhooks.list(limit=limit, page_token=page_token, ascending=ascending))


@router.get("/v0/webhooks/{webhook_id}", response_model=Webhook)
async def get_webhook(client: Client, webhook_id: str) -> Response:
    return json_model(await client.webhooks.get(webhook_id=webhook_id))


@router.post("/v0/webhooks", response_model=Webhook)
async def create_webhook(client: Client, body: CreateWebhookRequest) -> Response:
    return json_model(await client.webhooks.create(**given(body)))


@router.patch("/v0/webhooks/{webhook_id}", response_model=Webhook)
async def update_webhook(client: Client, webhook_id: str, body: UpdateWebhookRequest) -> Response:
    return json_model(await client.webhooks.update(webhook_id=webhook_id, **given(body)))


@router.delete("/v0/webhooks/{webhook_id}", status_code=204)
async def delete_webhook(client: Client, webhook_id: str) -> Response:
    await client.webhooks.delete(webhook_id=webhook_id)
    return no_content()


@router.get("/v0/pods/{pod_id}/webhooks", response_model=ListWebhooksResponse)
async def list_pod_webhooks(
    client: Client, pod_id: str, limit: Limit = None, page_token: PageToken = None
) -> Response:
    return json_model(await client.pods.webhooks.list(pod_id=pod_id, limit=limit, page_token=page_token))


@router.get("/v0/pods/{pod_id}/webhooks/{webhook_id}", response_model=Webhook)
async def get_pod_webhook(client: Client, pod_id: str, webhook_id: str) -> Response:
    return json_model(await client.pods.webhooks.get(pod_id=pod_id, webhook_id=webhook_id))


@router.post("/v0/pods/{pod_id}/webhooks", response_model=Webhook)
async def create_pod_webhook(client: Client, pod_id: str, body: CreatePodWebhookRequest) -> Response:
    return json_model(await client.pods.webhooks.create(pod_id=pod_id, **given(body)))


@router.patch("/v0/pods/{pod_id}/webhooks/{webhook_id}", response_model=Webhook)
async def update_pod_webhook(
    client: Client, pod_id: str, webhook_id: str, body: UpdatePodWebhookRequest
) -> Response:
    updated = await client.pods.webhooks.update(pod_id=pod_id, webhook_id=webhook_id, **given(body))
    return json_model(updated)


@router.delete("/v0/pods/{pod_id}/webhooks/{webhook_id}", status_code=204)
async def delete_pod_webhook(client: Client, pod_id: str, webhook_id: str) -> Response:
    await client.pods.webhooks.delete(pod_id=pod_id, webhook_id=webhook_id)
    return no_content()


@router.get("/v0/inboxes/{inbox_id}/webhooks", response_model=ListWebhooksResponse)
async def list_inbox_webhooks(
    client: Client, inbox_id: str, limit: Limit = None, page_token: PageToken = None
) -> Response:
    listed = await client.inboxes.webhooks.list(inbox_id=inbox_id, limit=limit, page_token=page_token)
    return json_model(listed)


@router.get("/v0/inboxes/{inbox_id}/webhooks/{webhook_id}", response_model=Webhook)
async def get_inbox_webhook(client: Client, inbox_id: str, webhook_id: str) -> Response:
    return json_model(await client.inboxes.webhooks.get(inbox_id=inbox_id, webhook_id=webhook_id))


@router.post("/v0/inboxes/{inbox_id}/webhooks", response_model=Webhook)
async def create_inbox_webhook(client: Client, inbox_id: str, body: CreateInboxWebhookRequest) -> Response:
    return json_model(await client.inboxes.webhooks.create(inbox_id=inbox_id, **given(body)))


@router.patch("/v0/inboxes/{inbox_id}/webhooks/{webhook_id}", response_model=Webhook)
async def update_inbox_webhook(
    client: Client, inbox_id: str, webhook_id: str, body: UpdateInboxWebhookRequest
) -> Response:
    updated = await client.inboxes.webhooks.update(inbox_id=inbox_id, webhook_id=webhook_id, **given(body))
    return json_model(updated)


@router.delete("/v0/inboxes/{inbox_id}/webhooks/{webhook_id}", status_code=204)
async def delete_inbox_webhook(client: Client, inbox_id: str, webhook_id: str) -> Response:
    await client.inboxes.webhooks.delete(inbox_id=inbox_id, webhook_id=webhook_id)
    return no_content()
