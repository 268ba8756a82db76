"""Pod-scoped custom domains (``client.pods.domains`` and ``/v0/pods/{pod_id}/domains``): a domain created
through a pod belongs to it, the pod sees and manages only its own, the organization sees every domain, a
pod's key manages its own pod's domains and nothing else, and domain names stay unique across the engine."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from agentmail import ApiKeyPermissions, CreateBearerApiKeyRequest
from agentmail.core.api_error import ApiError
from agentmail.errors import NotFoundError as SdkNotFoundError
from agentmail.errors import UnprocessableError as SdkUnprocessableError
from agentmail.errors import ValidationError as SdkValidationError
from dnsserver import LoopbackDNS
from helpers import expect
from http_api import serving
from sqlalchemy import select

from agentinbox import (
    AsyncAgentInbox,
    ConflictError,
    Domain,
    ForbiddenError,
    NotFoundError,
    UnprocessableError,
    ValidationError,
)
from agentinbox._clock import ManualClock
from agentinbox.store.tables import events

ORG_KEY = "org-secret-pod-domains-0123456789"


def publish(server: LoopbackDNS, domain: Any) -> None:
    """Serve every record the domain asks for from the loopback DNS server."""
    for record in domain.records:
        name = domain.domain if record.name == "@" else f"{record.name}.{domain.domain}"
        value = (record.priority, record.value) if record.type == "MX" else record.value
        server.zone.setdefault((name, record.type), []).append(value)


@pytest.fixture
async def org(
    database_url: str, clock: ManualClock, dns_server: LoopbackDNS
) -> AsyncIterator[AsyncAgentInbox]:
    """An engine with an organization key that verifies against the loopback DNS server."""
    async with AsyncAgentInbox(
        database_url=database_url,
        default_domain="agents.test",
        hostname="mx.agents.test",
        dns_resolver=dns_server.address,
        clock=clock,
        api_key=ORG_KEY,
    ) as engine:
        yield engine


async def test_a_pods_domains_are_its_own(org: AsyncAgentInbox, clock: ManualClock) -> None:
    a = (await org.pods.create(name="alpha")).pod_id
    b = (await org.pods.create(name="beta")).pod_id
    mine = await org.pods.domains.create(pod_id=a, domain="Alpha.Example.", subdomains_enabled=True)
    assert isinstance(mine, Domain)
    assert (mine.pod_id, mine.domain_id, mine.status) == (a, "alpha.example", "NOT_STARTED")
    assert ("MX", "*") in {(r.type, r.name) for r in mine.records}
    clock.advance(1)
    theirs = await org.pods.domains.create(pod_id=b, domain="beta.example")
    clock.advance(1)
    shared = await org.domains.create(domain="org.example")
    assert theirs.pod_id == b and shared.pod_id is None

    listed = await org.pods.domains.list(pod_id=a)
    assert [(d.domain_id, d.pod_id) for d in listed.domains] == [("alpha.example", a)]
    assert listed.count == 1
    assert [d.domain_id for d in (await org.pods.domains.list(pod_id=b)).domains] == ["beta.example"]
    # The organization sees every domain, each with its owner.
    everything = await org.domains.list(ascending=True)
    assert [(d.domain_id, d.pod_id) for d in everything.domains] == [
        ("alpha.example", a),
        ("beta.example", b),
        ("org.example", None),
    ]
    assert await org.domains.get(domain_id="alpha.example") == mine
    assert await org.pods.domains.get(pod_id=a, domain_id="ALPHA.example") == mine

    # Another pod's domain, or the organization's, reads as unknown through the pod.
    for other in ("beta.example", "org.example", "nowhere.example"):
        calls: list[Any] = [
            org.pods.domains.get(pod_id=a, domain_id=other),
            org.pods.domains.get_zone_file(pod_id=a, domain_id=other),
            org.pods.domains.update(pod_id=a, domain_id=other, tracking_enabled=True),
            org.pods.domains.delete(pod_id=a, domain_id=other),
            org.pods.domains.verify(pod_id=a, domain_id=other),
            org.pods.domains.rotate_dkim_key(pod_id=a, domain_id=other),
            org.pods.domains.delete_dkim_key(pod_id=a, domain_id=other, selector="s1"),
        ]
        for call in calls:
            with expect(NotFoundError, "not_found"):
                await call
    assert (await org.domains.get(domain_id="beta.example")).tracking_enabled is False

    # An unknown pod is a NotFoundError for every operation, the list included.
    unknown: list[Any] = [
        org.pods.domains.list(pod_id="pod-nowhere"),
        org.pods.domains.create(pod_id="pod-nowhere", domain="new.example"),
        org.pods.domains.get(pod_id="pod-nowhere", domain_id="alpha.example"),
        org.pods.domains.get_zone_file(pod_id="pod-nowhere", domain_id="alpha.example"),
        org.pods.domains.update(pod_id="pod-nowhere", domain_id="alpha.example", feedback_enabled=False),
        org.pods.domains.delete(pod_id="pod-nowhere", domain_id="alpha.example"),
        org.pods.domains.verify(pod_id="pod-nowhere", domain_id="alpha.example"),
    ]
    for call in unknown:
        with expect(NotFoundError, "not_found"):
            await call
    assert (await org.domains.list()).count == 3

    # Through its own pod the domain is managed like an organization's.
    updated = await org.pods.domains.update(pod_id=a, domain_id="alpha.example", subdomains_enabled=False)
    assert updated.pod_id == a and ("MX", "*") not in {(r.type, r.name) for r in updated.records}
    zone = await org.pods.domains.get_zone_file(pod_id=a, domain_id="alpha.example")
    assert zone == await org.domains.get_zone_file(domain_id="alpha.example")
    assert zone.startswith(b"; DNS records for alpha.example")
    rotated = await org.pods.domains.rotate_dkim_key(pod_id=a, domain_id="alpha.example")
    selectors = [r.name.partition(".")[0] for r in rotated.records if r.name.endswith("._domainkey")]
    assert len(selectors) == 2
    kept = await org.pods.domains.delete_dkim_key(pod_id=a, domain_id="alpha.example", selector=selectors[0])
    assert kept.pod_id == a and len([r for r in kept.records if r.name.endswith("._domainkey")]) == 1

    # A pod that owns a domain cannot be deleted until the domain is.
    with expect(ConflictError, "cannot_delete"):
        await org.pods.delete(pod_id=a)
    await org.pods.domains.delete(pod_id=a, domain_id="alpha.example")
    with expect(NotFoundError, "not_found"):
        await org.domains.get(domain_id="alpha.example")
    assert (await org.pods.domains.list(pod_id=a)).count == 0
    await org.pods.delete(pod_id=a)
    # The organization may delete a pod's domain too.
    await org.domains.delete(domain_id="beta.example")
    assert (await org.pods.domains.list(pod_id=b)).domains == []


async def test_names_are_global_and_client_ids_idempotent(org: AsyncAgentInbox) -> None:
    a = (await org.pods.create(name="alpha")).pod_id
    b = (await org.pods.create(name="beta")).pod_id
    first = await org.pods.domains.create(pod_id=a, domain="once.example", client_id="dom-1")
    again = await org.pods.domains.create(pod_id=a, domain="once.example", client_id="dom-1")
    assert again == first and first.client_id == "dom-1"
    # The same name anywhere else is already taken: another pod, the organization, the same pod again.
    taken: list[Any] = [
        org.pods.domains.create(pod_id=b, domain="once.example"),
        org.pods.domains.create(pod_id=a, domain="ONCE.example"),
        org.domains.create(domain="once.example"),
    ]
    for call in taken:
        with expect(UnprocessableError, "already_exists"):
            await call
    # A client_id names one domain: reused through another pod or the organization it is refused, not
    # answered with the other owner's domain.
    for call in (
        org.pods.domains.create(pod_id=b, domain="other.example", client_id="dom-1"),
        org.domains.create(domain="other.example", client_id="dom-1"),
    ):
        with expect(UnprocessableError, "already_exists") as raised:
            await call
        assert "client_id" in raised.value.message
    org_domain = await org.domains.create(domain="org.example", client_id="dom-2")
    assert await org.domains.create(domain="org.example", client_id="dom-2") == org_domain
    with expect(UnprocessableError, "already_exists"):
        await org.pods.domains.create(pod_id=a, domain="x.example", client_id="dom-2")
    assert {d.domain_id for d in (await org.domains.list()).domains} == {"once.example", "org.example"}


@pytest.mark.parametrize("name", ["", "not a domain", "bad..example", "-x.example", "a" * 254, 7, None])
async def test_bad_arguments_are_validation_errors(org: AsyncAgentInbox, name: Any) -> None:
    pod = (await org.pods.create(name="alpha")).pod_id
    with expect(ValidationError, "validation_error"):
        await org.pods.domains.create(pod_id=pod, domain=name)
    for bad_pod in ("", "  ", "a\nb", 5, None):
        with expect(ValidationError, "validation_error"):
            await org.pods.domains.list(pod_id=bad_pod)
        with expect(ValidationError, "validation_error"):
            await org.pods.domains.create(pod_id=bad_pod, domain="fine.example")
    with expect(ValidationError, "validation_error"):
        await org.pods.domains.update(pod_id=pod, domain_id="fine.example")  # no flag given
    with expect(ValidationError, "validation_error"):
        await org.pods.domains.create(pod_id=pod, domain="fine.example", tracking_enabled="yes")  # type: ignore[arg-type]
    assert (await org.domains.list()).count == 0


async def test_a_pod_key_manages_its_own_pods_domains(org: AsyncAgentInbox) -> None:
    a = (await org.pods.create(name="alpha")).pod_id
    b = (await org.pods.create(name="beta")).pod_id
    desk = await org.pods.inboxes.create(pod_id=a, username="desk")
    await org.pods.domains.create(pod_id=b, domain="beta.example")
    await org.domains.create(domain="org.example")
    pod = await org.with_api_key((await org.pods.api_keys.create(pod_id=a, name="alpha")).api_key)

    made = await pod.pods.domains.create(pod_id=a, domain="alpha.example")
    assert made.pod_id == a
    assert [d.domain_id for d in (await pod.pods.domains.list(pod_id=a)).domains] == ["alpha.example"]
    assert (await pod.pods.domains.get(pod_id=a, domain_id="alpha.example")) == made
    assert (
        await pod.pods.domains.update(pod_id=a, domain_id="alpha.example", tracking_enabled=True)
    ).tracking_enabled

    # Another pod is unknown to the key; so are the other owners' domains through its own pod.
    for call in (
        pod.pods.domains.list(pod_id=b),
        pod.pods.domains.get(pod_id=b, domain_id="beta.example"),
        pod.pods.domains.create(pod_id=b, domain="sneaky.example"),
        pod.pods.domains.delete(pod_id=b, domain_id="beta.example"),
        pod.pods.domains.get(pod_id=a, domain_id="org.example"),
    ):
        with expect(NotFoundError, "not_found"):
            await call
    # The organization's namespace stays organization-only for keys.
    for forbidden in (
        pod.domains.list(),
        pod.domains.get(domain_id="alpha.example"),
        pod.domains.create(domain="z.example"),
    ):
        with expect(ForbiddenError, "forbidden"):
            await forbidden
    # A name another owner holds is already taken, whoever asks.
    with expect(UnprocessableError, "already_exists"):
        await pod.pods.domains.create(pod_id=a, domain="beta.example")

    # An inbox key manages no domains, not even its own pod's.
    inbox = await org.with_api_key((await org.inboxes.api_keys.create(inbox_id=desk.inbox_id)).api_key)
    for call in (
        inbox.pods.domains.list(pod_id=a),
        inbox.pods.domains.get(pod_id=a, domain_id="alpha.example"),
        inbox.pods.domains.create(pod_id=a, domain="inbox.example"),
        inbox.pods.domains.delete(pod_id=a, domain_id="alpha.example"),
        inbox.domains.list(),
    ):
        with expect(ForbiddenError, "forbidden"):
            await call
    with expect(NotFoundError, "not_found"):
        await inbox.pods.domains.list(pod_id=b)

    # The key's permissions are honoured with the same names as the organization's domains.
    reader = await org.with_api_key(
        (await org.pods.api_keys.create(pod_id=a, permissions={"domain_read": True})).api_key
    )
    assert (await reader.pods.domains.list(pod_id=a)).count == 1
    for call in (
        reader.pods.domains.create(pod_id=a, domain="more.example"),
        reader.pods.domains.update(pod_id=a, domain_id="alpha.example", tracking_enabled=False),
        reader.pods.domains.verify(pod_id=a, domain_id="alpha.example"),
        reader.pods.domains.delete(pod_id=a, domain_id="alpha.example"),
    ):
        with expect(ForbiddenError, "missing_permission"):
            await call

    await pod.pods.domains.delete(pod_id=a, domain_id="alpha.example")
    assert {d.domain_id for d in (await org.domains.list()).domains} == {"beta.example", "org.example"}


async def test_verify_through_the_pod(org: AsyncAgentInbox, dns_server: LoopbackDNS) -> None:
    a = (await org.pods.create(name="alpha")).pod_id
    pod = await org.with_api_key((await org.pods.api_keys.create(pod_id=a)).api_key)
    domain = await pod.pods.domains.create(pod_id=a, domain="verify.example")
    pending = await pod.pods.domains.verify(pod_id=a, domain_id="verify.example")
    assert pending.status == "PENDING" and {r.status for r in pending.records} == {"MISSING"}
    publish(dns_server, domain)
    verified = await pod.pods.domains.verify(pod_id=a, domain_id="verify.example")
    assert verified.status == "VERIFIED" and verified.pod_id == a
    assert await org.domains.get(domain_id="verify.example") == verified
    # The domain.verified event belongs to the pod, so the pod's subscribers and webhooks get it.
    ctx = await org._context()
    rows = await ctx.db.read(
        lambda conn: conn.execute(select(events).where(events.c.event_type == "domain.verified")).all()
    )
    assert [(r.pod_id, r.payload["domain"]["pod_id"]) for r in rows] == [(a, a)]


# ---- over HTTP, with the official SDK -------------------------------------------------------------------


async def status_of(call: Any) -> int:
    """The HTTP status an SDK call failed with."""
    with pytest.raises(ApiError) as raised:
        await call
    return raised.value.status_code or 0


async def test_pod_domains_over_http(database_url: str, dns_server: LoopbackDNS) -> None:
    async with serving(
        database_url, default_domain="agents.test", hostname="mx.agents.test", dns_resolver=dns_server.address
    ) as served:
        sdk = served.sdk()
        a = (await sdk.pods.create(name="alpha")).pod_id
        b = (await sdk.pods.create(name="beta")).pod_id
        domain = await sdk.pods.domains.create(a, domain="Http.Example", subdomains_enabled=True)
        assert (domain.pod_id, domain.domain_id) == (a, "http.example")
        assert ("MX", "*") in {(r.type, r.name) for r in domain.records}
        await sdk.pods.domains.create(b, domain="beta.example")
        await sdk.domains.create(domain="org.example")
        with pytest.raises(SdkUnprocessableError):
            await sdk.pods.domains.create(b, domain="http.example")

        listed = await sdk.pods.domains.list(a)
        assert listed.count == 1 and [(d.domain_id, d.pod_id) for d in listed.domains] == [
            ("http.example", a)
        ]
        assert {d.domain_id for d in (await sdk.domains.list()).domains} == {
            "http.example",
            "beta.example",
            "org.example",
        }
        assert (await sdk.pods.domains.get(a, "http.example")).records == domain.records
        updated = await sdk.pods.domains.update(
            a, "http.example", subdomains_enabled=False, tracking_enabled=True
        )
        assert updated.tracking_enabled is True and updated.pod_id == a
        zone = b"".join([chunk async for chunk in sdk.pods.domains.get_zone_file(a, "http.example")])
        assert zone.startswith(b"; DNS records for http.example")

        assert await sdk.pods.domains.verify(a, "http.example") is None
        assert (await sdk.pods.domains.get(a, "http.example")).status == "PENDING"
        publish(dns_server, updated)
        await sdk.pods.domains.verify(a, "http.example")
        assert (await sdk.domains.get("http.example")).status == "VERIFIED"

        # Unknown pod, another pod's domain, the organization's domain: 404 on every route.
        with pytest.raises(SdkNotFoundError):
            await sdk.pods.domains.list("pod-nowhere")
        assert await status_of(sdk.pods.domains.create("pod-nowhere", domain="new.example")) == 404
        for pod_id, domain_id in (("pod-nowhere", "http.example"), (a, "beta.example"), (a, "org.example")):
            with pytest.raises(SdkNotFoundError):
                await sdk.pods.domains.get(pod_id, domain_id)
            with pytest.raises(SdkNotFoundError):
                await sdk.pods.domains.update(pod_id, domain_id, tracking_enabled=True)
            with pytest.raises(SdkNotFoundError):
                await sdk.pods.domains.verify(pod_id, domain_id)
            with pytest.raises(SdkNotFoundError):
                await sdk.pods.domains.delete(pod_id, domain_id)
            assert await status_of(_drain(sdk.pods.domains.get_zone_file(pod_id, domain_id))) == 404
        # Bad input: 400 with the field named.
        with pytest.raises(SdkValidationError):
            await sdk.pods.domains.create(a, domain="not a domain")
        assert await status_of(sdk.pods.domains.update(a, "http.example")) == 400  # no flag given

        # A pod's key: its own pod's domains, 404 for another pod, 403 for the organization's routes.
        pod_key = await sdk.pods.api_keys.create(a, request=CreateBearerApiKeyRequest(name="alpha"))
        mine = served.sdk(pod_key.api_key)
        made = await mine.pods.domains.create(a, domain="mine.example")
        assert made.pod_id == a
        assert {d.domain_id for d in (await mine.pods.domains.list(a)).domains} == {
            "http.example",
            "mine.example",
        }
        with pytest.raises(SdkNotFoundError):
            await mine.pods.domains.list(b)
        with pytest.raises(SdkNotFoundError):
            await mine.pods.domains.get(b, "beta.example")
        assert await status_of(mine.pods.domains.create(b, domain="sneaky.example")) == 404
        assert await status_of(mine.domains.list()) == 403
        assert await status_of(mine.domains.create(domain="sneaky.example")) == 403
        await mine.pods.domains.delete(a, "mine.example")

        # A key without domain_create reads but cannot create.
        reader_key = await sdk.pods.api_keys.create(
            a, request=CreateBearerApiKeyRequest(permissions=ApiKeyPermissions(domain_read=True))
        )
        reader = served.sdk(reader_key.api_key)
        assert (await reader.pods.domains.list(a)).count == 1
        assert await status_of(reader.pods.domains.create(a, domain="more.example")) == 403

        # An inbox key: 403 for its own pod's domains.
        inbox = await sdk.pods.inboxes.create(a, username="desk")
        inbox_key = await sdk.inboxes.api_keys.create(
            inbox.inbox_id, request=CreateBearerApiKeyRequest(name="desk")
        )
        desk = served.sdk(inbox_key.api_key)
        assert await status_of(desk.pods.domains.list(a)) == 403
        assert await status_of(desk.pods.domains.create(a, domain="desk.example")) == 403
        assert await status_of(desk.pods.domains.get(a, "http.example")) == 403

        # What the SDK cannot send: odd ids, malformed bodies, wrong types.
        headers = {"Authorization": f"Bearer {served.api_key}"}
        async with httpx.AsyncClient(base_url=served.base_url, headers=headers) as raw:
            for path in (
                "/v0/pods/a%25b%3C%3E+/domains",
                f"/v0/pods/{a}/domains/a%25b%3C%3E+",
                f"/v0/pods/{a}/domains/%20",
            ):
                answer = await raw.get(path)
                assert answer.status_code in (400, 404), (path, answer.text)
                assert answer.json()["name"]
            bad_json = await raw.post(
                f"/v0/pods/{a}/domains", content=b"{not json", headers={"Content-Type": "application/json"}
            )
            assert bad_json.status_code == 400 and bad_json.json()["name"] == "ValidationError"
            wrong_type = await raw.post(f"/v0/pods/{a}/domains", json={"domain": 5})
            assert wrong_type.status_code == 400
            missing = await raw.post(f"/v0/pods/{a}/domains", json={})
            assert missing.status_code == 400
            flag = await raw.patch(f"/v0/pods/{a}/domains/http.example", json={"tracking_enabled": "often"})
            assert flag.status_code == 400
            nulls = await raw.patch(
                f"/v0/pods/{a}/domains/http.example",
                json={"tracking_enabled": None, "feedback_enabled": False},
            )
            assert nulls.status_code == 200 and nulls.json()["feedback_enabled"] is False
            zone_file = await raw.get(f"/v0/pods/{a}/domains/http.example/zone-file")
            assert zone_file.status_code == 200 and zone_file.headers["content-type"].startswith("text/plain")

        # A pod holding a domain cannot be deleted; once its domains are gone it can.
        assert await status_of(sdk.pods.delete(b)) == 403
        await sdk.pods.domains.delete(b, "beta.example")
        await sdk.pods.delete(b)
        with pytest.raises(SdkNotFoundError):
            await sdk.pods.domains.list(b)


async def _drain(stream: Any) -> bytes:
    return b"".join([chunk async for chunk in stream])
