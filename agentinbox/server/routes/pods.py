"""``/v0/pods``: create, list, get and delete pods (their inboxes, threads and drafts have their own modules)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from fastapi import Body as BodyParam
from fastapi.responses import Response

from ...models import ListPodsResponse, Pod
from ..auth import Client
from ..params import Ascending, Body, Limit, PageToken, given, json_model, no_content

__all__ = ["router"]

router = APIRouter(tags=["pods"])


class CreatePodRequest(Body):
    name: str | None = None
    client_id: str | None = None


#: ``client.pods.create()`` with no arguments may send no body at all: every field takes its default.
CreateBody = Annotated[CreatePodRequest | None, BodyParam()]


@router.get("/v0/pods", response_model=ListPodsResponse)
async def list_pods(
    client: Client, limit: Limit = None, page_token: PageToken = None, ascending: Ascending = None
) -> Response:
    return json_model(await client.pods.list(limit=limit, page_token=page_token, ascending=ascending))


@router.get("/v0/pods/{pod_id}", response_model=Pod)
async def get_pod(client: Client, pod_id: str) -> Response:
    return json_model(await client.pods.get(pod_id=pod_id))


@router.post("/v0/pods", response_model=Pod)
async def create_pod(client: Client, body: CreateBody = None) -> Response:
    return json_model(await client.pods.create(**given(body)))


@router.delete("/v0/pods/{pod_id}", status_code=204)
async def delete_pod(client: Client, pod_id: str) -> Response:
    await client.pods.delete(pod_id=pod_id)
    return no_content()
