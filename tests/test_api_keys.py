"""API keys: created with a secret shown once, stored hashed, scoped, listed, renamed, revoked, authenticated."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from helpers import expect
from sqlalchemy import select

from agentinbox import (
    AgentInbox,
    ApiKeyPermissions,
    AsyncAgentInbox,
    BearerApiKey,
    NotFoundError,
    ValidationError,
)
from agentinbox._clock import ManualClock, to_datetime
from agentinbox.store import api_keys as store
from agentinbox.store.tables import api_keys as table


async def authenticate(client: AsyncAgentInbox, secret: str) -> store.KeyGrant | None:
    ctx = await client._context()
    return await ctx.db.read(store.authenticate, secret, now=ctx.clock.now())


async def test_a_key_is_shown_once_and_stored_hashed(client: AsyncAgentInbox) -> None:
    created = await client.api_keys.create(name="deploy")
    assert created.api_key.startswith("am_") and len(created.api_key) > 40
    assert created.prefix == created.api_key[: len(created.prefix)] and created.prefix.startswith("am_")
    assert created.name == "deploy" and created.pod_id is None and created.inbox_id is None
    listed = await client.api_keys.get(api_key_id=created.api_key_id)
    assert isinstance(listed, BearerApiKey) and listed.type == "bearer"
    assert listed.prefix == created.prefix and listed.used_at is None
    assert "api_key" not in listed.model_dump()
    ctx = await client._context()
    rows = await ctx.db.read(lambda conn: [tuple(r) for r in conn.execute(select(table)).all()])
    assert rows and not any(created.api_key in str(value) for row in rows for value in row)
    grant = await authenticate(client, created.api_key)
    assert grant is not None and grant.api_key_id == created.api_key_id
    assert grant.scope.name == "org" and grant.allows("message_send")


async def test_wrong_and_malformed_secrets_authenticate_nothing(client: AsyncAgentInbox) -> None:
    created = await client.api_keys.create()
    assert created.name == "API Key"
    secret = created.api_key
    tampered = secret[:-1] + ("A" if secret[-1] != "A" else "B")
    for attempt in (tampered, secret + "x", created.prefix, "", "am_", "x" * 1000, secret.upper()):
        assert await authenticate(client, attempt) is None, attempt


async def test_expired_and_revoked_keys_stop_working(client: AsyncAgentInbox, clock: ManualClock) -> None:
    expiring = await client.api_keys.create(expires_at=to_datetime(clock.now()) + timedelta(hours=1))
    assert expiring.expires_at is not None
    assert await authenticate(client, expiring.api_key) is not None
    clock.advance(3600)
    assert await authenticate(client, expiring.api_key) is None
    revoked = await client.api_keys.create()
    await client.api_keys.delete(api_key_id=revoked.api_key_id)
    assert await authenticate(client, revoked.api_key) is None
    with expect(NotFoundError, "not_found"):
        await client.api_keys.get(api_key_id=revoked.api_key_id)
    with expect(NotFoundError, "not_found"):
        await client.api_keys.delete(api_key_id=revoked.api_key_id)
    with expect(ValidationError, "validation_error"):
        await client.api_keys.create(expires_at=to_datetime(clock.now()) - timedelta(seconds=1))


async def test_scopes_cover_their_inboxes_only(client: AsyncAgentInbox) -> None:
    pod = await client.pods.create(name="team")
    mine = await client.pods.inboxes.create(pod_id=pod.pod_id, username="mine")
    other = await client.inboxes.create(username="other")
    inbox_key = await client.inboxes.api_keys.create(inbox_id=mine.inbox_id, name="inbox")
    pod_key = await client.pods.api_keys.create(pod_id=pod.pod_id, name="pod")
    org_key = await client.api_keys.create(name="org")
    assert inbox_key.inbox_id == mine.inbox_id and inbox_key.pod_id == pod.pod_id
    assert pod_key.pod_id == pod.pod_id and pod_key.inbox_id is None

    grants = {k.name: await authenticate(client, k.api_key) for k in (inbox_key, pod_key, org_key)}
    for name, grant in grants.items():
        assert grant is not None
        assert grant.covers(inbox_id=mine.inbox_id, pod_id=pod.pod_id), name
        assert grant.covers(inbox_id=other.inbox_id, pod_id=other.pod_id) == (name == "org"), name

    def ids(listing: object) -> set[str]:
        return {k.api_key_id for k in listing.api_keys}  # type: ignore[attr-defined]

    assert ids(await client.inboxes.api_keys.list(inbox_id=mine.inbox_id)) == {inbox_key.api_key_id}
    assert ids(await client.inboxes.api_keys.list(inbox_id=other.inbox_id)) == set()
    assert ids(await client.pods.api_keys.list(pod_id=pod.pod_id)) == {
        inbox_key.api_key_id,
        pod_key.api_key_id,
    }
    assert len(ids(await client.api_keys.list())) == 3
    assert (await client.api_keys.list(type="public_key")).count == 0

    # Another scope cannot see, change or revoke the key.
    with expect(NotFoundError, "not_found"):
        await client.inboxes.api_keys.delete(inbox_id=other.inbox_id, api_key_id=inbox_key.api_key_id)
    with expect(NotFoundError, "not_found"):
        await client.inboxes.api_keys.update(
            inbox_id=other.inbox_id, api_key_id=inbox_key.api_key_id, name="x"
        )
    await client.pods.api_keys.delete(pod_id=pod.pod_id, api_key_id=inbox_key.api_key_id)
    assert await authenticate(client, inbox_key.api_key) is None

    with expect(NotFoundError, "not_found"):
        await client.inboxes.api_keys.create(inbox_id="ghost@agents.test")
    with expect(NotFoundError, "not_found"):
        await client.pods.api_keys.create(pod_id="no-such-pod")
    with expect(NotFoundError, "not_found"):
        await client.inboxes.api_keys.list(inbox_id="ghost@agents.test")


async def test_an_inbox_key_dies_with_its_inbox(client: AsyncAgentInbox, clock: ManualClock) -> None:
    inbox = await client.inboxes.create(username="desk")
    key = await client.inboxes.api_keys.create(inbox_id=inbox.inbox_id)
    await client.inboxes.delete(inbox_id=inbox.inbox_id)
    assert await authenticate(client, key.api_key) is None
    clock.advance(1)
    await client.inboxes.create(username="desk")  # the same address again: a new owner, perhaps
    assert await authenticate(client, key.api_key) is None


async def test_update_names_and_permissions(client: AsyncAgentInbox, clock: ManualClock) -> None:
    key = await client.api_keys.create(name="first", permissions={"message_send": False, "inbox_read": True})
    assert key.permissions == ApiKeyPermissions(message_send=False, inbox_read=True)
    grant = await authenticate(client, key.api_key)
    assert grant is not None and not grant.allows("message_send") and grant.allows("inbox_read")
    assert not grant.allows("domain_read")  # not granted explicitly
    clock.advance(5)
    updated = await client.api_keys.update(
        api_key_id=key.api_key_id, name="second", permissions=ApiKeyPermissions(message_send=True)
    )
    assert updated.name == "second" and updated.permissions == ApiKeyPermissions(message_send=True)
    assert updated.updated_at > updated.created_at
    kept = await client.api_keys.update(api_key_id=key.api_key_id)
    assert kept.name == "second"
    grant = await authenticate(client, key.api_key)
    assert grant is not None and grant.allows("message_send")
    with expect(ValidationError, "validation_error"):
        await client.api_keys.create(permissions={"send_everything": True})
    with expect(ValidationError, "validation_error"):
        await client.api_keys.create(permissions={"message_send": "yes"})
    with expect(ValidationError, "validation_error"):
        await client.api_keys.update(api_key_id=key.api_key_id, name="  ")
    with expect(ValidationError, "validation_error"):
        await client.api_keys.list(type="magic")


async def test_keyset_pages_cover_every_key_once(client: AsyncAgentInbox, clock: ManualClock) -> None:
    created = []
    for index in range(7):
        created.append((await client.api_keys.create(name=f"k{index}")).api_key_id)
        clock.advance(1)
    for ascending in (False, True):
        seen: list[str] = []
        token = None
        while True:
            page = await client.api_keys.list(limit=3, page_token=token, ascending=ascending)
            assert page.count == len(page.api_keys) <= 3
            seen.extend(k.api_key_id for k in page.api_keys)
            token = page.next_page_token
            if token is None:
                break
        assert seen == (created if ascending else created[::-1])
    with expect(ValidationError, "validation_error"):
        await client.api_keys.list(page_token="not-a-token")


def test_the_sync_client_manages_keys(tmp_path: Path) -> None:
    with AgentInbox(database_url=f"sqlite+aiosqlite:///{tmp_path}/k.db") as client:
        inbox = client.inboxes.create(username="desk")
        key = client.inboxes.api_keys.create(inbox_id=inbox.inbox_id, name="smtp")
        assert client.api_keys.get(api_key_id=key.api_key_id).inbox_id == inbox.inbox_id
        assert client.inboxes.api_keys.list(inbox_id=inbox.inbox_id).count == 1
        client.api_keys.delete(api_key_id=key.api_key_id)
        assert client.api_keys.list().count == 0
