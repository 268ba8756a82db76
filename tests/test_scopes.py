"""Scoped API keys: a client acting with a pod's key works inside that pod only, one with an inbox's key
inside that inbox only; what lies outside is answered as if it did not exist, organization-wide actions are
forbidden, and events, consumers and webhooks of the scoped client carry only its scope's events."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from helpers import expect

from agentinbox import (
    AgentInbox,
    AsyncAgentInbox,
    ForbiddenError,
    Inbox,
    NotFoundError,
    ValidationError,
)
from agentinbox._clock import ManualClock, to_datetime
from agentinbox.errors import AuthenticationError
from agentinbox.models import Identity, MessageReceivedEvent
from agentinbox.store import webhooks as webhook_store

URL = "https://93.184.216.34/hooks/agentinbox"  # a public address: accepted without a DNS lookup
ORG_KEY = "org-secret-0123456789"


def raw(to: str, subject: str, message_id: str | None = None) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Carol <carol@example.com>"
    msg["To"] = to
    msg["Subject"] = subject
    if message_id:
        msg["Message-ID"] = message_id
    msg.set_content(f"About {subject}\n")
    return bytes(msg)


async def until(predicate: Any, within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting"
        await asyncio.sleep(0.005)


@dataclass
class Tenant:
    """One pod with two inboxes, a received message and a draft in the first, and the pod's key."""

    pod_id: str
    desk: Inbox
    back: Inbox
    message_id: str
    thread_id: str
    draft_id: str
    pod_key: str
    desk_key: str


@pytest.fixture
async def org(database_url: str, clock: ManualClock) -> Any:
    async with AsyncAgentInbox(
        database_url=database_url, default_domain="agents.test", clock=clock, api_key=ORG_KEY
    ) as engine:
        yield engine


async def tenant(org: AsyncAgentInbox, name: str) -> Tenant:
    pod = await org.pods.create(name=name)
    desk = await org.pods.inboxes.create(pod_id=pod.pod_id, username=f"{name}-desk")
    back = await org.pods.inboxes.create(pod_id=pod.pod_id, username=f"{name}-back")
    [message] = await org.deliver(raw(desk.inbox_id, f"{name} question", f"<q-{name}@example.com>"))
    await org.deliver(raw(back.inbox_id, f"{name} back office"))
    draft = await org.inboxes.drafts.create(inbox_id=desk.inbox_id, to=["x@example.com"], text="draft")
    pod_key = await org.pods.api_keys.create(pod_id=pod.pod_id, name=f"{name} pod")
    desk_key = await org.inboxes.api_keys.create(inbox_id=desk.inbox_id, name=f"{name} desk")
    return Tenant(
        pod_id=pod.pod_id,
        desk=desk,
        back=back,
        message_id=message.message_id,
        thread_id=message.thread_id,
        draft_id=draft.draft_id,
        pod_key=pod_key.api_key,
        desk_key=desk_key.api_key,
    )


@pytest.fixture
async def two(org: AsyncAgentInbox) -> tuple[Tenant, Tenant]:
    return await tenant(org, "alpha"), await tenant(org, "beta")


async def test_identity_says_what_the_client_acts_as(
    org: AsyncAgentInbox, two: tuple[Tenant, Tenant]
) -> None:
    a, _ = two
    assert org.identity == Identity(scope_type="organization", scope_id="default", organization_id="default")
    assert (await org.with_api_key(ORG_KEY)).identity.scope_type == "organization"
    pod = await org.with_api_key(a.pod_key)
    assert pod.identity.scope_type == "pod" and pod.identity.scope_id == a.pod_id
    assert pod.identity.pod_id == a.pod_id and pod.identity.inbox_id is None
    assert pod.identity.api_key_id is not None
    keys = await org.pods.api_keys.list(pod_id=a.pod_id)
    assert pod.identity.api_key_id in {k.api_key_id for k in keys.api_keys}
    desk = await org.with_api_key(a.desk_key)
    assert desk.identity.model_dump(exclude_none=True) == {
        "scope_type": "inbox",
        "scope_id": a.desk.inbox_id,
        "organization_id": "default",
        "pod_id": a.pod_id,
        "inbox_id": a.desk.inbox_id,
        "api_key_id": desk.identity.api_key_id,
    }
    await pod.close()  # a view releases nothing: the engine goes on working
    assert (await org.inboxes.get(inbox_id=a.desk.inbox_id)).inbox_id == a.desk.inbox_id


async def test_a_pod_client_lists_only_its_pod(org: AsyncAgentInbox, two: tuple[Tenant, Tenant]) -> None:
    a, b = two
    pod = await org.with_api_key(a.pod_key)
    mine = {a.desk.inbox_id, a.back.inbox_id}
    assert {i.inbox_id for i in (await pod.inboxes.list()).inboxes} == mine
    assert {i.inbox_id for i in (await pod.inboxes.search(q="alpha")).inboxes} == mine
    assert (await pod.inboxes.search(q="beta")).inboxes == []
    assert {t.inbox_id for t in (await pod.threads.list()).threads} == mine
    assert {t.inbox_id for t in (await pod.pods.threads.list(pod_id=a.pod_id)).threads} == mine
    assert [t.inbox_id for t in (await pod.threads.search(q="question")).threads] == [a.desk.inbox_id]
    assert [d.draft_id for d in (await pod.drafts.list()).drafts] == [a.draft_id]
    assert [p.pod_id for p in (await pod.pods.list()).pods] == [a.pod_id]
    assert {k.pod_id for k in (await pod.api_keys.list()).api_keys} == {a.pod_id}
    # The organization sees both pods.
    assert len((await org.threads.list()).threads) == 4
    assert {p.pod_id for p in (await org.pods.list()).pods} >= {a.pod_id, b.pod_id}


async def test_a_pod_client_cannot_reach_another_pod(
    org: AsyncAgentInbox, two: tuple[Tenant, Tenant]
) -> None:
    a, b = two
    pod = await org.with_api_key(a.pod_key)
    other = b.desk.inbox_id
    refused: list[Any] = [
        pod.inboxes.get(inbox_id=other),
        pod.inboxes.update(inbox_id=other, display_name="taken"),
        pod.inboxes.delete(inbox_id=other),
        pod.pods.get(pod_id=b.pod_id),
        pod.pods.inboxes.list(pod_id=b.pod_id),
        pod.pods.inboxes.get(pod_id=b.pod_id, inbox_id=other),
        pod.pods.inboxes.create(pod_id=b.pod_id, username="intruder"),
        pod.pods.threads.list(pod_id=b.pod_id),
        pod.pods.drafts.list(pod_id=b.pod_id),
        pod.inboxes.messages.list(inbox_id=other),
        pod.inboxes.messages.get(inbox_id=other, message_id=b.message_id),
        pod.inboxes.messages.get_raw(inbox_id=other, message_id=b.message_id),
        pod.inboxes.messages.search(inbox_id=other, q="question"),
        pod.inboxes.messages.batch_get(inbox_id=other, message_ids=[b.message_id]),
        pod.inboxes.messages.update(inbox_id=other, message_id=b.message_id, add_labels=["seen"]),
        pod.inboxes.messages.delete(inbox_id=other, message_id=b.message_id),
        pod.inboxes.messages.send(inbox_id=other, to=["x@example.com"], text="spoof"),
        pod.inboxes.messages.reply(inbox_id=other, message_id=b.message_id, text="spoof"),
        pod.inboxes.messages.reply_all(inbox_id=other, message_id=b.message_id, text="spoof"),
        pod.inboxes.messages.forward(inbox_id=other, message_id=b.message_id, to=["x@example.com"]),
        pod.inboxes.threads.list(inbox_id=other),
        pod.inboxes.threads.get(inbox_id=other, thread_id=b.thread_id),
        pod.threads.get(thread_id=b.thread_id),
        pod.threads.update(thread_id=b.thread_id, add_labels=["seen"]),
        pod.threads.delete(thread_id=b.thread_id),
        pod.inboxes.drafts.get(inbox_id=other, draft_id=b.draft_id),
        pod.drafts.get(draft_id=b.draft_id),
        pod.inboxes.drafts.create(inbox_id=other, to=["x@example.com"], text="spoof"),
        pod.inboxes.drafts.update(inbox_id=other, draft_id=b.draft_id, text="changed"),
        pod.inboxes.drafts.send(inbox_id=other, draft_id=b.draft_id),
        pod.inboxes.drafts.delete(inbox_id=other, draft_id=b.draft_id),
        pod.inboxes.api_keys.create(inbox_id=other),
        pod.pods.api_keys.list(pod_id=b.pod_id),
        pod.inboxes.webhooks.create(inbox_id=other, url=URL, event_types=["message.received"]),
        pod.webhooks.create(url=URL, event_types=["message.received"], inbox_ids=[other]),
        pod.webhooks.create(url=URL, event_types=["message.received"], pod_ids=[b.pod_id]),
        pod.pods.lists.list(pod_id=b.pod_id, direction="receive", type="block"),
        pod.inboxes.lists.create(inbox_id=other, direction="receive", type="block", entry="x@example.com"),
    ]
    for call in refused:
        with expect(NotFoundError, "not_found"):
            await call
    # Nothing of pod B changed, and it reads exactly as an unknown id does.
    message = await org.inboxes.messages.get(inbox_id=other, message_id=b.message_id)
    assert "seen" not in message.labels
    assert (await org.inboxes.get(inbox_id=other)).display_name is None
    assert [d.draft_id for d in (await org.inboxes.drafts.list(inbox_id=other)).drafts] == [b.draft_id]
    assert (await org.inboxes.messages.list(inbox_id=other, labels=["sent"])).count == 0
    with expect(NotFoundError, "not_found") as unknown:
        await pod.inboxes.get(inbox_id="nobody@agents.test")
    with expect(NotFoundError, "not_found") as foreign:
        await pod.inboxes.get(inbox_id=other)
    assert str(foreign.value) == str(unknown.value).replace("nobody@agents.test", other)


async def test_a_pod_client_works_inside_its_pod(org: AsyncAgentInbox, two: tuple[Tenant, Tenant]) -> None:
    a, _ = two
    pod = await org.with_api_key(a.pod_key)
    created = await pod.inboxes.create(username="alpha-new")
    assert created.pod_id == a.pod_id  # a pod's key creates inboxes in its pod
    sent = await pod.inboxes.messages.reply(inbox_id=a.desk.inbox_id, message_id=a.message_id, text="On it")
    assert sent.thread_id == a.thread_id
    await pod.inboxes.messages.update(
        inbox_id=a.desk.inbox_id, message_id=a.message_id, remove_labels=["unread"]
    )
    await pod.inboxes.update(inbox_id=a.back.inbox_id, display_name="Back office")
    hook = await pod.webhooks.create(url=URL, event_types=["message.received"])
    assert hook.pod_id == a.pod_id and hook.inbox_id is None  # the pod's webhook, not the organization's
    assert [w.webhook_id for w in (await pod.webhooks.list()).webhooks] == [hook.webhook_id]
    org_hook = await org.webhooks.create(url=URL, event_types=["message.received"])
    with expect(NotFoundError, "not_found"):
        await pod.webhooks.get(webhook_id=org_hook.webhook_id)
    entry = await pod.pods.lists.create(
        pod_id=a.pod_id, direction="receive", type="block", entry="spam.example"
    )
    assert entry.pod_id == a.pod_id
    key = await pod.inboxes.api_keys.create(inbox_id=a.back.inbox_id)
    assert key.pod_id == a.pod_id and key.inbox_id == a.back.inbox_id
    await pod.inboxes.delete(inbox_id=created.inbox_id)
    with expect(NotFoundError, "not_found"):
        await org.inboxes.get(inbox_id=created.inbox_id)


async def test_organization_actions_are_forbidden(org: AsyncAgentInbox, two: tuple[Tenant, Tenant]) -> None:
    a, _ = two
    for key in (a.pod_key, a.desk_key):
        scoped = await org.with_api_key(key)
        forbidden: list[Any] = [
            scoped.pods.create(name="mine"),
            scoped.pods.delete(pod_id=a.pod_id),
            scoped.api_keys.create(name="everything"),
            scoped.domains.list(),
            scoped.domains.create(domain="alpha.example"),
            scoped.lists.list(direction="receive", type="block"),
            scoped.lists.create(direction="receive", type="block", entry="x@example.com"),
            scoped.deliver(raw(a.desk.inbox_id, "injected")),
            scoped.start(),
        ]
        for call in forbidden:
            with expect(ForbiddenError, "forbidden"):
                await call
    assert {p.name for p in (await org.pods.list()).pods} >= {"alpha", "beta"}
    assert "mine" not in {p.name for p in (await org.pods.list()).pods}


async def test_an_inbox_client_sees_only_its_inbox(org: AsyncAgentInbox, two: tuple[Tenant, Tenant]) -> None:
    a, b = two
    desk = await org.with_api_key(a.desk_key)
    assert [i.inbox_id for i in (await desk.inboxes.list()).inboxes] == [a.desk.inbox_id]
    assert [i.inbox_id for i in (await desk.inboxes.search(q="alpha")).inboxes] == [a.desk.inbox_id]
    assert (await desk.inboxes.search(q="back")).inboxes == []
    assert [t.inbox_id for t in (await desk.threads.list()).threads] == [a.desk.inbox_id]
    assert [t.inbox_id for t in (await desk.pods.threads.list(pod_id=a.pod_id)).threads] == [a.desk.inbox_id]
    assert [d.draft_id for d in (await desk.drafts.list()).drafts] == [a.draft_id]
    assert [p.pod_id for p in (await desk.pods.list()).pods] == [a.pod_id]
    assert {k.inbox_id for k in (await desk.api_keys.list()).api_keys} == {a.desk.inbox_id}
    sent = await desk.inboxes.messages.send(inbox_id=a.desk.inbox_id, to=["x@example.com"], text="hello")
    assert sent.message_id
    # Its sibling in the same pod is as invisible as another pod's inbox.
    for other in (a.back, b.desk):
        with expect(NotFoundError, "not_found"):
            await desk.inboxes.get(inbox_id=other.inbox_id)
        with expect(NotFoundError, "not_found"):
            await desk.inboxes.messages.send(inbox_id=other.inbox_id, to=["x@example.com"], text="spoof")
        with expect(NotFoundError, "not_found"):
            await desk.inboxes.threads.list(inbox_id=other.inbox_id)
    with expect(NotFoundError, "not_found"):
        await desk.threads.get(thread_id=b.thread_id)
    with expect(NotFoundError, "not_found"):
        await desk.pods.get(pod_id=b.pod_id)
    with expect(ForbiddenError, "forbidden"):
        await desk.inboxes.create(username="more")
    with expect(ForbiddenError, "forbidden"):
        await desk.pods.lists.list(pod_id=a.pod_id, direction="receive", type="block")
    with expect(ForbiddenError, "forbidden"):
        await desk.pods.api_keys.create(pod_id=a.pod_id)  # a pod key would reach beyond the inbox
    hook = await desk.webhooks.create(url=URL, event_types=["message.received"])
    assert hook.inbox_id == a.desk.inbox_id and hook.pod_id == a.pod_id
    entry = await desk.inboxes.lists.create(
        inbox_id=a.desk.inbox_id, direction="receive", type="block", entry="pest@example.com"
    )
    assert entry.inbox_id == a.desk.inbox_id


async def test_events_reach_only_their_scope(org: AsyncAgentInbox, two: tuple[Tenant, Tenant]) -> None:
    a, b = two
    pod = await org.with_api_key(a.pod_key)
    desk = await org.with_api_key(a.desk_key)
    by_pod: list[MessageReceivedEvent] = []
    by_desk: list[MessageReceivedEvent] = []
    asked_for_b: list[MessageReceivedEvent] = []
    everything: list[MessageReceivedEvent] = []
    pod.on("message.received")(by_pod.append)
    desk.on("message.received")(by_desk.append)
    pod.on("message.received", pod_ids=[b.pod_id], inbox_ids=[b.desk.inbox_id])(asked_for_b.append)
    org.on("message.received")(everything.append)
    consumed: list[str] = []
    pod.events.consume(group="work", handler=lambda e: consumed.append(e.message.subject), start="now")
    stream = pod.events.subscribe(event_types="message.received")
    waiting = asyncio.ensure_future(pod.wait_for_message(timeout=5))
    pod_hook = await pod.webhooks.create(url=URL, event_types=["message.received"])
    desk_hook = await desk.webhooks.create(url=URL, event_types=["message.received"])
    await asyncio.sleep(0.05)

    await org.deliver(raw(b.desk.inbox_id, "for beta"))
    await org.deliver(raw(b.back.inbox_id, "for beta back"))
    await org.deliver(raw(a.back.inbox_id, "for alpha back"))
    await org.deliver(raw(a.desk.inbox_id, "for alpha desk"))

    def new(events: list[MessageReceivedEvent]) -> list[str]:
        # A hook may also get events committed just before it was registered (the setup's mail).
        return [e.message.subject for e in events if (e.message.subject or "").startswith("for ")]

    await until(lambda: len(new(everything)) == 4 and len(new(by_pod)) == 2 and len(new(by_desk)) == 1)
    await until(lambda: len(consumed) == 2)
    streamed: list[MessageReceivedEvent] = []
    events = aiter(stream)
    while len(new(streamed)) < 2:
        streamed.append(await asyncio.wait_for(anext(events), 5))
    stream.close()
    assert new(streamed) == ["for alpha back", "for alpha desk"]
    assert {e.message.inbox_id for e in streamed} <= {a.desk.inbox_id, a.back.inbox_id}
    assert (await waiting).subject == "for alpha back"
    await asyncio.sleep(0.1)
    assert new(by_pod) == ["for alpha back", "for alpha desk"]
    assert {e.message.inbox_id for e in by_pod} <= {a.desk.inbox_id, a.back.inbox_id}
    assert new(by_desk) == ["for alpha desk"]
    assert {e.message.inbox_id for e in by_desk} == {a.desk.inbox_id}
    assert sorted(consumed) == ["for alpha back", "for alpha desk"]
    assert asked_for_b == []

    ctx = await org._context()
    pod_deliveries = await ctx.db.read(webhook_store.deliveries_of, pod_hook.webhook_id)
    desk_deliveries = await ctx.db.read(webhook_store.deliveries_of, desk_hook.webhook_id)
    assert len(pod_deliveries) == 2 and len(desk_deliveries) == 1
    with expect(NotFoundError, "not_found"):
        await pod.webhooks.update(webhook_id=pod_hook.webhook_id, add_pod_ids=[b.pod_id])


async def test_consumer_groups_of_different_keys_are_apart(
    org: AsyncAgentInbox, two: tuple[Tenant, Tenant]
) -> None:
    a, b = two
    alpha = await org.with_api_key(a.pod_key)
    beta = await org.with_api_key(b.pod_key)
    seen_a: list[str] = []
    seen_b: list[str] = []

    def fail_on_beta(event: MessageReceivedEvent) -> None:
        seen_b.append(event.message.subject or "")
        raise RuntimeError("handler bug")

    alpha.events.consume(group="work", handler=lambda e: seen_a.append(e.message.subject), start="now")
    beta.events.consume(group="work", handler=fail_on_beta, start="now", max_attempts=1)
    await asyncio.sleep(0.05)
    await org.deliver(raw(a.desk.inbox_id, "alpha mail"))
    await org.deliver(raw(b.desk.inbox_id, "beta mail"))
    await until(lambda: seen_a == ["alpha mail"] and seen_b == ["beta mail"])
    failed_b: list[Any] = []
    for _ in range(200):
        failed_b = await beta.events.failed("work")
        if failed_b:
            break
        await asyncio.sleep(0.005)
    assert [f.group for f in failed_b] == ["work"]
    assert await alpha.events.failed("work") == []
    assert await alpha.events.replay("work") == 0
    with expect(NotFoundError, "not_found"):
        await org.events.failed("work")  # the organization's own group of that name never ran


async def test_permissions_of_a_key_are_honoured(org: AsyncAgentInbox, two: tuple[Tenant, Tenant]) -> None:
    a, _ = two
    reader = await org.pods.api_keys.create(
        pod_id=a.pod_id, permissions={"message_read": True, "inbox_read": True}
    )
    client = await org.with_api_key(reader.api_key)
    assert (await client.inboxes.messages.get(inbox_id=a.desk.inbox_id, message_id=a.message_id)).subject
    assert (await client.inboxes.list()).count == 2
    for call in (
        client.inboxes.messages.send(inbox_id=a.desk.inbox_id, to=["x@example.com"], text="no"),
        client.inboxes.messages.reply(inbox_id=a.desk.inbox_id, message_id=a.message_id, text="no"),
        client.inboxes.messages.delete(inbox_id=a.desk.inbox_id, message_id=a.message_id),
        client.inboxes.delete(inbox_id=a.back.inbox_id),
        client.drafts.list(),
        client.webhooks.list(),
        client.api_keys.create(),
        client.threads.list(include_spam=True),
        client.inboxes.messages.list(inbox_id=a.desk.inbox_id, include_trash=True),
    ):
        with expect(ForbiddenError, "missing_permission"):
            await call
    spam_reader = await org.pods.api_keys.create(
        pod_id=a.pod_id, permissions={"message_read": True, "label_spam_read": True}
    )
    spam_client = await org.with_api_key(spam_reader.api_key)
    assert (await spam_client.threads.list(include_spam=True)).count == 2
    with expect(ForbiddenError, "missing_permission"):
        await spam_client.threads.list(include_spam=True, include_blocked=True)
    granter = await org.pods.api_keys.create(
        pod_id=a.pod_id, permissions={"api_key_create": True, "inbox_read": True}
    )
    limited = await org.with_api_key(granter.api_key)
    with expect(ForbiddenError, "missing_permission"):
        await limited.pods.api_keys.create(pod_id=a.pod_id, permissions={"message_send": True})
    made = await limited.pods.api_keys.create(pod_id=a.pod_id, permissions={"inbox_read": True})
    assert made.permissions is not None and made.permissions.inbox_read


async def test_unknown_revoked_expired_and_malformed_keys(
    org: AsyncAgentInbox, two: tuple[Tenant, Tenant], clock: ManualClock, database_url: str
) -> None:
    a, _ = two
    revoked = await org.pods.api_keys.create(pod_id=a.pod_id)
    assert (await org.with_api_key(revoked.api_key)).identity.pod_id == a.pod_id
    await org.api_keys.delete(api_key_id=revoked.api_key_id)
    expiring = await org.api_keys.create(expires_at=to_datetime(clock.now()) + timedelta(minutes=5))
    clock.advance(600)
    for key in (
        revoked.api_key,
        expiring.api_key,
        "am_" + "0" * 60,
        "garbage",
        a.pod_key + "x",
        " " + ORG_KEY,
    ):
        with expect(AuthenticationError, "unknown_api_key"):
            await org.with_api_key(key)
    for key in ("", "   "):
        with expect(AuthenticationError, "missing_authorization"):
            await org.with_api_key(key)
    for bad in (None, 42, b"am_bytes", ["am_x"]):
        with expect(ValidationError, "validation_error"):
            await org.with_api_key(bad)  # type: ignore[arg-type]
        if bad is not None:  # None is no key: the organization's client
            with expect(ValidationError, "validation_error"):
                AsyncAgentInbox(database_url=database_url, scope_api_key=bad)  # type: ignore[arg-type]
    # A key of a deleted inbox dies with it.
    doomed = await org.pods.inboxes.create(pod_id=a.pod_id, username="doomed")
    key = await org.inboxes.api_keys.create(inbox_id=doomed.inbox_id)
    await org.inboxes.delete(inbox_id=doomed.inbox_id)
    with expect(AuthenticationError, "unknown_api_key"):
        await org.with_api_key(key.api_key)
    # A client opened with a bad key refuses every call, and never acts as the organization.
    bad = AsyncAgentInbox(database_url=database_url, clock=clock, scope_api_key="am_nothing_like_a_key")
    try:
        for _ in range(2):
            with expect(AuthenticationError, "unknown_api_key"):
                await bad.inboxes.list()
    finally:
        await bad.close()


async def test_a_client_opened_with_a_key(
    org: AsyncAgentInbox, two: tuple[Tenant, Tenant], database_url: str, clock: ManualClock
) -> None:
    a, b = two
    keyed = AsyncAgentInbox(
        database_url=database_url, default_domain="agents.test", clock=clock, scope_api_key=a.pod_key
    )
    with expect(AuthenticationError, "unauthorized"):
        keyed.identity  # noqa: B018  # not known before the key is checked
    async with keyed as engine:
        assert engine.identity.scope_type == "pod" and engine.identity.pod_id == a.pod_id
        assert {i.pod_id for i in (await engine.inboxes.list()).inboxes} == {a.pod_id}
        with expect(NotFoundError, "not_found"):
            await engine.inboxes.get(inbox_id=b.desk.inbox_id)
        with expect(ForbiddenError, "forbidden"):
            await engine.pods.create()
        # A view of it with another key acts as that key.
        beta = await engine.with_api_key(b.desk_key)
        assert [i.inbox_id for i in (await beta.inboxes.list()).inboxes] == [b.desk.inbox_id]
    async with AsyncAgentInbox(
        database_url=database_url, default_domain="agents.test", api_key=ORG_KEY, scope_api_key=ORG_KEY
    ) as engine:
        assert engine.identity.scope_type == "organization"
        assert len((await engine.threads.list()).threads) == 4


def test_sync_client(tmp_path: Path) -> None:
    with AgentInbox(database_url=f"sqlite+aiosqlite:///{tmp_path / 'a.db'}", api_key=ORG_KEY) as org:
        pod = org.pods.create(name="alpha")
        desk = org.pods.inboxes.create(pod_id=pod.pod_id, username="desk")
        other = org.inboxes.create(username="elsewhere")
        key = org.pods.api_keys.create(pod_id=pod.pod_id).api_key
        scoped = org.with_api_key(key)
        assert scoped.identity.scope_type == "pod"
        assert [i.inbox_id for i in scoped.inboxes.list().inboxes] == [desk.inbox_id]
        with pytest.raises(NotFoundError):
            scoped.inboxes.messages.send(inbox_id=other.inbox_id, to=["x@example.com"], text="spoof")
        with pytest.raises(ForbiddenError):
            scoped.pods.create()
        seen: list[str] = []
        scoped.on("message.received")(lambda e: seen.append(e.message.subject))
        with scoped.events.subscribe(event_types="message.received", timeout=5) as stream:
            org.deliver(raw(other.inbox_id, "not for the pod"))
            org.deliver(raw(desk.inbox_id, "for the pod"))
            assert next(stream).message.subject == "for the pod"
        deadline = time.monotonic() + 5
        while len(seen) < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.05)
        assert seen == ["for the pod"]
        scoped.close()  # releases nothing
        assert org.inboxes.get(inbox_id=desk.inbox_id).inbox_id == desk.inbox_id
        with pytest.raises(AuthenticationError):
            org.with_api_key("am_unknown")
    with AgentInbox(database_url=f"sqlite+aiosqlite:///{tmp_path / 'a.db'}", scope_api_key=key) as keyed:
        assert keyed.identity.pod_id == pod.pod_id
        assert [i.inbox_id for i in keyed.inboxes.list().inboxes] == [desk.inbox_id]
