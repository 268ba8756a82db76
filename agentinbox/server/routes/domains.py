"""``/v0/domains`` and ``/v0/pods/{pod_id}/domains``: register, list, get, update, delete and verify custom
domains, and their zone file. The organization's routes see every domain and need an organization key; a
pod's routes see only the domains created through that pod, and the pod's own key may use them."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from ...models import Domain, ListDomainsResponse
from ..auth import Client
from ..params import Ascending, Body, Limit, PageToken, given, json_model, no_content

__all__ = ["router"]

router = APIRouter(tags=["domains"])


class CreateDomainRequest(Body):
    domain: str
    allow_conflicting_provider: bool | None = None
    feedback_enabled: bool | None = None
    inbound_enabled: bool | None = None
    subdomains_enabled: bool | None = None
    tracking_enabled: bool | None = None
    client_id: str | None = None


class UpdateDomainRequest(Body):
    feedback_enabled: bool | None = None
    inbound_enabled: bool | None = None
    subdomains_enabled: bool | None = None
    tracking_enabled: bool | None = None


@router.get("/v0/domains", response_model=ListDomainsResponse)
async def list_domains(
    client: Client, limit: Limit = None, page_token: PageToken = None, ascending: Ascending = None
) -> Response:
    return json_model(await client.domains.list(limit=limit, page_token=page_token, ascending=ascending))


@router.get("/v0/domains/{domain_id}", response_model=Domain)
async def get_domain(client: Client, domain_id: str) -> Response:
    return json_model(await client.domains.get(domain_id=domain_id))


@router.get(
    "/v0/domains/{domain_id}/zone-file",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "The records as a BIND zone file."}},
)
async def get_zone_file(client: Client, domain_id: str) -> Response:
    zone = await client.domains.get_zone_file(domain_id=domain_id)
    return Response(zone, media_type="text/plain; charset=utf-8")


@router.post("/v0/domains", response_model=Domain)
async def create_domain(client: Client, body: CreateDomainRequest) -> Response:
    return json_model(await client.domains.create(**given(body)))


@router.patch("/v0/domains/{domain_id}", response_model=Domain)
async def update_domain(client: Client, domain_id: str, body: UpdateDomainRequest) -> Response:
    return json_model(await client.domains.update(domain_id=domain_id, **given(body)))


@router.delete("/v0/domains/{domain_id}", status_code=204)
async def delete_domain(client: Client, domain_id: str) -> Response:
    await client.domains.delete(domain_id=domain_id)
    return no_content()


@router.post("/v0/domains/{domain_id}/verify", response_model=Domain)
async def verify_domain(client: Client, domain_id: str) -> Response:
    """Check the domain's records through DNS now; answers the domain with the statuses found."""
    return json_model(await client.domains.verify(domain_id=domain_id))


@router.get("/v0/pods/{pod_id}/domains", response_model=ListDomainsResponse)
async def list_pod_domains(
    client: Client,
    pod_id: str,
    limit: Limit = None,
    page_token: PageToken = None,
    ascending: Ascending = None,
) -> Response:
    return json_model(
        await client.pods.domains.list(pod_id=pod_id, limit=limit, page_token=page_token, ascending=ascending)
    )


@router.get("/v0/pods/{pod_id}/domains/{domain_id}", response_model=Domain)
async def get_pod_domain(client: Client, pod_id: str, domain_id: str) -> Response:
    return json_model(await client.pods.domains.get(pod_id=pod_id, domain_id=domain_id))


@router.get(
    "/v0/pods/{pod_id}/domains/{domain_id}/zone-file",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "The records as a BIND zone file."}},
)
async def get_pod_zone_file(client: Client, pod_id: str, domain_id: str) -> Response:
    zone = await client.pods.domains.get_zone_file(pod_id=pod_id, domain_id=domain_id)
    return Response(zone, media_type="text/plain; charset=utf-8")


@router.post("/v0/pods/{pod_id}/domains", response_model=Domain)
async def create_pod_domain(client: Client, pod_id: str, body: CreateDomainRequest) -> Response:
    return json_model(await client.pods.domains.create(pod_id=pod_id, **given(body)))


@router.patch("/v0/pods/{pod_id}/domains/{domain_id}", response_model=Domain)
async def update_pod_domain(
    client: Client, pod_id: str, domain_id: str, body: UpdateDomainRequest
) -> Response:
    return json_model(await client.pods.domains.update(pod_id=pod_id, domain_id=domain_id, **given(body)))


@router.delete("/v0/pods/{pod_id}/domains/{domain_id}", status_code=204)
async def delete_pod_domain(client: Client, pod_id: str, domain_id: str) -> Response:
    await client.pods.domains.delete(pod_id=pod_id, domain_id=domain_id)
    return no_content()


@router.post("/v0/pods/{pod_id}/domains/{domain_id}/verify", response_model=Domain)
async def verify_pod_domain(client: Client, pod_id: str, domain_id: str) -> Response:
    """Check the pod's domain's records through DNS now; answers the domain with the statuses found."""
    return json_model(await client.pods.domains.verify(pod_id=pod_id, domain_id=domain_id))
