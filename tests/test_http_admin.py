"""The HTTP API's administrative routes (allow/block lists, domains, webhooks, API keys, ``auth/me``) driven
by the official ``agentmail`` SDK, plus raw httpx for what the SDK cannot send."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from agentmail import ApiKeyPermissions, CreateBearerApiKeyRequest
from agentmail.core.api_error import ApiError
from agentmail.errors import NotFoundError, UnprocessableError, ValidationError
from agentmail.inboxes import CreateInboxRequest
from agentmail.messages import MessageRejectedError
from dnsserver import LoopbackDNS
from http_api import serving


def publish(server: LoopbackDNS, domain: Any) -> None:
    """Serve every record the domain asks for from the loopback DNS server."""
    for record in domain.records:
        name = domain.domain if record.name == "@" else f"{record.name}.{domain.domain}"
        value = (record.priority, record.value) if record.type == "MX" else record.value
        server.zone.setdefault((name, record.type), []).append(value)


async def status_of(call: Any) -> int:
    """The HTTP status an SDK call failed with."""
    with pytest.raises(ApiError) as raised:
        await call
    return raised.value.status_code or 0


async def test_lists_at_each_scope(database_url: str) -> None:
    async with serving(database_url, default_domain="agents.test") as served:
        sdk = served.sdk()
        inbox = await sdk.inboxes.create(request=CreateInboxRequest(username="lists"))

        org = await sdk.lists.create("receive", "block", entry="Spam.Example", reason="noise")
        assert (org.entry, org.entry_type, org.reason) == ("spam.example", "domain", "noise")
        assert (await sdk.lists.get("receive", "block", "spam.example")).entry == "spam.example"
        listed = await sdk.lists.list("receive", "block", limit=10)
        assert listed.count == 1 and [e.entry for e in listed.entries] == ["spam.example"]

        pod = await sdk.pods.lists.create(inbox.pod_id, "receive", "allow", entry="friend@example.com")
        assert pod.pod_id == inbox.pod_id and pod.entry_type == "email"
        assert (await sdk.pods.lists.get(inbox.pod_id, "receive", "allow", "friend@example.com")).pod_id
        assert (await sdk.pods.lists.list(inbox.pod_id, "receive", "allow")).count == 1

        own = await sdk.inboxes.lists.create(inbox.inbox_id, "send", "block", entry="blocked@example.com")
        assert own.inbox_id == inbox.inbox_id and own.direction == "send" and own.list_type == "block"
        got = await sdk.inboxes.lists.get(inbox.inbox_id, "send", "block", "blocked@example.com")
        assert got.created_at == own.created_at
        assert [e.entry for e in (await sdk.inboxes.lists.list(inbox.inbox_id, "send", "block")).entries] == [
            "blocked@example.com"
        ]

        # The entry takes effect: a send to it is refused by policy.
        with pytest.raises(MessageRejectedError) as rejected:
            await sdk.inboxes.messages.send(inbox.inbox_id, to="blocked@example.com", subject="hi", text="x")
        assert rejected.value.status_code == 403

        await sdk.inboxes.lists.delete(inbox.inbox_id, "send", "block", "blocked@example.com")
        await sdk.pods.lists.delete(inbox.pod_id, "receive", "allow", "friend@example.com")
        await sdk.lists.delete("receive", "block", "spam.example")
        with pytest.raises(NotFoundError):
            await sdk.inboxes.lists.get(inbox.inbox_id, "send", "block", "blocked@example.com")
        with pytest.raises(NotFoundError):
            await sdk.lists.delete("receive", "block", "spam.example")
        assert (await sdk.lists.list("receive", "block")).count == 0

        # direction and type are the client's to check; a bad one is a 400, an unknown scope a 404.
        assert await status_of(sdk.lists.list("sideways", "block")) == 400  # type: ignore[arg-type]
        with pytest.raises(ValidationError):
            await sdk.lists.create("send", "maybe", entry="x@example.com")  # type: ignore[arg-type]
        with pytest.raises(ValidationError):
            await sdk.lists.create("send", "block", entry="not an address")
        with pytest.raises(NotFoundError):
            await sdk.pods.lists.get("no-such-pod", "send", "block", "x@example.com")
        assert await status_of(sdk.inboxes.lists.list("nobody@agents.test", "send", "block")) == 404


async def test_domains_lifecycle_and_verification(database_url: str, dns_server: LoopbackDNS) -> None:
    async with serving(
        database_url, default_domain="agents.test", hostname="mx.agents.test", dns_resolver=dns_server.address
    ) as served:
        sdk = served.sdk()
        domain = await sdk.domains.create(domain="Http.Test", subdomains_enabled=True)
        assert domain.domain_id == "http.test" and domain.status != "VERIFIED"
        kinds = {(r.type, r.name) for r in domain.records}
        assert ("MX", "@") in kinds and ("TXT", "_dmarc") in kinds and ("MX", "*") in kinds
        assert any(name.endswith("._domainkey") for _, name in kinds)
        with pytest.raises(UnprocessableError):
            await sdk.domains.create(domain="http.test")

        assert (await sdk.domains.get("http.test")).records == domain.records
        listed = await sdk.domains.list()
        assert listed.count == 1 and listed.domains[0].domain_id == "http.test"
        updated = await sdk.domains.update("http.test", subdomains_enabled=False, tracking_enabled=True)
        assert updated.tracking_enabled is True and ("MX", "*") not in {
            (r.type, r.name) for r in updated.records
        }

        zone = b"".join([chunk async for chunk in sdk.domains.get_zone_file("http.test")])
        assert zone.startswith(b"; DNS records for http.test")
        async with httpx.AsyncClient(base_url=served.base_url) as raw:
            answer = await raw.get(
                "/v0/domains/http.test/zone-file", headers={"Authorization": f"Bearer {served.api_key}"}
            )
        assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
        assert answer.content == zone

        # Nothing published yet: verify answers, the domain stays unverified with its records missing.
        assert await sdk.domains.verify("http.test") is None
        pending = await sdk.domains.get("http.test")
        assert pending.status == "PENDING" and {r.status for r in pending.records} == {"MISSING"}
        publish(dns_server, updated)
        await sdk.domains.verify("http.test")
        verified = await sdk.domains.get("http.test")
        assert verified.status == "VERIFIED" and {r.status for r in verified.records} == {"VALID"}

        await sdk.domains.delete("http.test")
        with pytest.raises(NotFoundError):
            await sdk.domains.get("http.test")
        with pytest.raises(NotFoundError):
            await sdk.domains.verify("http.test")
        with pytest.raises(ValidationError):
            await sdk.domains.create(domain="not a domain")
        assert await status_of(sdk.domains.update("nowhere.test")) == 400  # no flag given


async def test_webhooks_at_each_scope(database_url: str) -> None:
    async with serving(database_url, default_domain="agents.test", webhook_allow_private=True) as served:
        sdk = served.sdk()
        inbox = await sdk.inboxes.create(request=CreateInboxRequest(username="hooks"))
        url = "http://127.0.0.1:9/hook"

        first = await sdk.webhooks.create(
            url=url, event_types=["message.received"], inbox_ids=[inbox.inbox_id], client_id="hook-1"
        )
        assert first.secret.startswith("whsec_") and first.enabled is True
        again = await sdk.webhooks.create(
            url=url, event_types=["message.received"], inbox_ids=[inbox.inbox_id], client_id="hook-1"
        )
        assert again.webhook_id == first.webhook_id and again.secret == first.secret
        assert (await sdk.webhooks.get(first.webhook_id)).inbox_ids == [inbox.inbox_id]
        changed = await sdk.webhooks.update(
            first.webhook_id,
            event_types=["message.sent", "message.bounced"],
            remove_inbox_ids=[inbox.inbox_id],
            add_pod_ids=[inbox.pod_id],
            enabled=False,
        )
        assert sorted(changed.event_types or []) == ["message.bounced", "message.sent"]
        assert changed.pod_ids == [inbox.pod_id] and not changed.inbox_ids and changed.enabled is False

        pod_hook = await sdk.pods.webhooks.create(
            inbox.pod_id, url=url, event_types=["message.delivered"], inbox_ids=[inbox.inbox_id]
        )
        assert pod_hook.pod_id == inbox.pod_id and pod_hook.secret.startswith("whsec_")
        inbox_hook = await sdk.inboxes.webhooks.create(
            inbox.inbox_id, url=url, event_types=["message.received"]
        )
        assert inbox_hook.inbox_id == inbox.inbox_id

        assert {w.webhook_id for w in (await sdk.webhooks.list()).webhooks} == {
            first.webhook_id,
            pod_hook.webhook_id,
            inbox_hook.webhook_id,
        }
        oldest = await sdk.webhooks.list(ascending=True, limit=1)
        assert (
            oldest.count == 1 and oldest.webhooks[0].webhook_id == first.webhook_id and oldest.next_page_token
        )
        pod_listed = await sdk.pods.webhooks.list(inbox.pod_id)
        assert pod_hook.webhook_id in {w.webhook_id for w in pod_listed.webhooks}
        assert [w.webhook_id for w in (await sdk.inboxes.webhooks.list(inbox.inbox_id)).webhooks] == [
            inbox_hook.webhook_id
        ]
        assert (await sdk.pods.webhooks.get(inbox.pod_id, pod_hook.webhook_id)).url == url
        assert (await sdk.inboxes.webhooks.get(inbox.inbox_id, inbox_hook.webhook_id)).url == url
        paused = await sdk.inboxes.webhooks.update(inbox.inbox_id, inbox_hook.webhook_id, enabled=False)
        assert paused.enabled is False
        narrowed = await sdk.pods.webhooks.update(
            inbox.pod_id, pod_hook.webhook_id, remove_inbox_ids=[inbox.inbox_id]
        )
        assert not narrowed.inbox_ids

        with pytest.raises(ValidationError):
            await sdk.webhooks.create(url=url, event_types=["message.teleported"])
        with pytest.raises(ValidationError):
            await sdk.webhooks.create(url="ftp://127.0.0.1/hook", event_types=["message.sent"])

        await sdk.inboxes.webhooks.delete(inbox.inbox_id, inbox_hook.webhook_id)
        await sdk.pods.webhooks.delete(inbox.pod_id, pod_hook.webhook_id)
        await sdk.webhooks.delete(first.webhook_id)
        with pytest.raises(NotFoundError):
            await sdk.webhooks.get(first.webhook_id)
        with pytest.raises(NotFoundError):
            await sdk.pods.webhooks.delete(inbox.pod_id, pod_hook.webhook_id)
        assert (await sdk.webhooks.list()).count == 0


async def test_api_keys_scope_callers_and_revoke_at_once(database_url: str) -> None:
    async with serving(database_url, default_domain="agents.test") as served:
        sdk = served.sdk()
        mine = await sdk.inboxes.create(request=CreateInboxRequest(username="mine"))
        other = await sdk.inboxes.create(request=CreateInboxRequest(username="other"))

        me = await sdk.auth.me()
        assert me.scope_type == "organization" and not me.inbox_id

        created = await sdk.inboxes.api_keys.create(
            mine.inbox_id, request=CreateBearerApiKeyRequest(name="agent")
        )
        assert created.api_key and created.inbox_id == mine.inbox_id and created.name == "agent"
        agent = served.sdk(api_key=created.api_key)
        identity = await agent.auth.me()
        assert (identity.scope_type, identity.inbox_id, identity.api_key_id) == (
            "inbox",
            mine.inbox_id,
            created.api_key_id,
        )
        assert (await agent.inboxes.get(mine.inbox_id)).inbox_id == mine.inbox_id
        with pytest.raises(NotFoundError):
            await agent.inboxes.get(other.inbox_id)
        assert await status_of(agent.domains.list()) == 403
        assert await status_of(agent.api_keys.create(request=CreateBearerApiKeyRequest(name="wider"))) == 403

        listed = await sdk.inboxes.api_keys.list(mine.inbox_id)
        assert [k.api_key_id for k in listed.api_keys] == [created.api_key_id]
        assert all(not hasattr(k, "api_key") or k.api_key is None for k in listed.api_keys)
        assert (await sdk.api_keys.get(created.api_key_id)).name == "agent"

        # Taking a permission away applies to the very next request, not after the key cache expires.
        renamed = await sdk.inboxes.api_keys.update(
            mine.inbox_id,
            created.api_key_id,
            name="reader",
            permissions=ApiKeyPermissions(inbox_read=False, message_read=True),
        )
        assert renamed.name == "reader"
        assert await status_of(agent.inboxes.get(mine.inbox_id)) == 403

        await sdk.inboxes.api_keys.delete(mine.inbox_id, created.api_key_id)
        assert await status_of(agent.auth.me()) == 401
        with pytest.raises(NotFoundError):
            await sdk.api_keys.get(created.api_key_id)

        # Pod and organization keys, the same way.
        pod_key = await sdk.pods.api_keys.create(mine.pod_id, request=CreateBearerApiKeyRequest())
        assert pod_key.pod_id == mine.pod_id and pod_key.name
        assert (await served.sdk(api_key=pod_key.api_key).auth.me()).scope_type == "pod"
        assert [k.api_key_id for k in (await sdk.pods.api_keys.list(mine.pod_id)).api_keys] == [
            pod_key.api_key_id
        ]
        assert (await sdk.pods.api_keys.update(mine.pod_id, pod_key.api_key_id, name="pod")).name == "pod"
        await sdk.pods.api_keys.delete(mine.pod_id, pod_key.api_key_id)

        org_key = await sdk.api_keys.create(request=CreateBearerApiKeyRequest(name="ops"))
        ops = served.sdk(api_key=org_key.api_key)
        assert (await ops.auth.me()).scope_type == "organization"
        assert org_key.api_key_id in {k.api_key_id for k in (await sdk.api_keys.list(type="bearer")).api_keys}
        assert (await sdk.api_keys.list(type="public_key")).count == 0
        assert (await sdk.api_keys.update(org_key.api_key_id, name="ops-2")).name == "ops-2"
        await sdk.api_keys.delete(org_key.api_key_id)
        assert await status_of(ops.inboxes.list()) == 401
        with pytest.raises(NotFoundError):
            await sdk.api_keys.delete(org_key.api_key_id)


ODD_IDS = ["a%25b", "a%zzb", "%3Cx%3E", "<y>", "a+b@agents.test", "%"]


async def test_bad_requests_get_clear_errors(database_url: str) -> None:
    async with serving(database_url, default_domain="agents.test") as served:
        auth = {"Authorization": f"Bearer {served.api_key}"}
        async with httpx.AsyncClient(base_url=served.base_url) as raw:
            for path in ("/v0/auth/me", "/v0/api-keys", "/v0/lists/send/block", "/v0/webhooks"):
                missing = await raw.get(path)
                assert missing.status_code == 401, path
                assert {"name", "message"} <= set(missing.json())
                unknown = await raw.get(path, headers={"Authorization": "Bearer am_nobody"})
                assert unknown.status_code == 401 and unknown.json()["code"] == "unknown_api_key"

            malformed: list[tuple[str, str, Any]] = [
                ("POST", "/v0/lists/send/block", b'{"entry": '),
                ("POST", "/v0/lists/send/block", {"entry": 5}),
                ("POST", "/v0/lists/send/block", {}),
                ("POST", "/v0/webhooks", {"url": "http://127.0.0.1/", "event_types": "message.sent"}),
                ("PATCH", "/v0/webhooks/ep_x", {"enabled": "sometimes"}),
                ("POST", "/v0/domains", {"domain": ["a.test"]}),
                ("PATCH", "/v0/domains/a.test", {"feedback_enabled": "maybe"}),
                ("POST", "/v0/api-keys", {"permissions": {"fly": True}}),
                ("POST", "/v0/api-keys", {"expires_at": "tomorrow"}),
                ("GET", "/v0/webhooks?limit=0", None),
            ]
            for method, path, body in malformed:
                content = body if isinstance(body, bytes) else None
                sent = await raw.request(
                    method,
                    path,
                    headers={**auth, "Content-Type": "application/json"},
                    content=content,
                    json=None if content is not None or body is None else body,
                )
                assert sent.status_code == 400, (method, path, sent.text)
                answer = sent.json()
                assert answer["name"] == "ValidationError" and answer["errors"], answer

            for odd in ODD_IDS:
                for path in (
                    f"/v0/lists/send/block/{odd}",
                    f"/v0/inboxes/{odd}/lists/send/block",
                    f"/v0/pods/{odd}/lists/receive/allow/x@example.com",
                    f"/v0/webhooks/{odd}",
                    f"/v0/pods/{odd}/webhooks",
                    f"/v0/inboxes/{odd}/webhooks/ep_1",
                    f"/v0/api-keys/{odd}",
                    f"/v0/inboxes/{odd}/api-keys",
                    f"/v0/pods/{odd}/api-keys",
                ):
                    found = await raw.get(path, headers=auth)
                    assert found.status_code == 404, (path, found.text)
                    assert found.json()["name"] == "NotFoundError"
                # A domain id is a domain name: one that cannot be is refused as such (400), never a 500.
                domain = await raw.get(f"/v0/domains/{odd}", headers=auth)
                assert domain.status_code == 400, (odd, domain.text)
                assert "is not a valid domain name" in domain.json()["message"]
                gone = await raw.delete(f"/v0/api-keys/{odd}", headers=auth)
                assert gone.status_code == 404, (odd, gone.text)
