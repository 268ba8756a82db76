"""Webhook endpoints: create, list, get, update, delete (organization-, pod- and inbox-scoped), and bad input."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from helpers import expect

from agentinbox import AgentInbox, AsyncAgentInbox, ConflictError, NotFoundError, ValidationError
from agentinbox._clock import ManualClock

URL = "https://93.184.216.34/hooks/agentinbox"  # a public address: accepted without a DNS lookup
RECEIVED = ["message.received"]


async def test_create_get_list_delete(client: AsyncAgentInbox, clock: ManualClock) -> None:
    hook = await client.webhooks.create(url=URL, event_types=["message.sent", "message.received"])
    assert hook.webhook_id.startswith("ep_")
    assert hook.secret.startswith("whsec_") and len(hook.secret) == len("whsec_") + 32
    assert hook.enabled and hook.url == URL
    assert hook.event_types == ["message.received", "message.sent"]
    assert hook.pod_ids is None and hook.inbox_ids is None and hook.pod_id is None and hook.inbox_id is None
    assert "headers" not in hook.model_dump()
    assert await client.webhooks.get(webhook_id=hook.webhook_id) == hook

    created = [hook]
    for _ in range(4):
        clock.advance(1)
        created.append(await client.webhooks.create(url=URL, event_types=RECEIVED))
    first = await client.webhooks.list(limit=2)
    assert first.count == 2 and first.limit == 2 and first.next_page_token
    seen = [w.webhook_id for w in first.webhooks]
    page = first
    while page.next_page_token:
        page = await client.webhooks.list(limit=2, page_token=page.next_page_token)
        seen += [w.webhook_id for w in page.webhooks]
    assert seen == [w.webhook_id for w in reversed(created)]
    ascending = await client.webhooks.list(ascending=True)
    assert [w.webhook_id for w in ascending.webhooks] == [w.webhook_id for w in created]
    with expect(ValidationError, "validation_error"):
        await client.webhooks.list(limit=2, page_token=first.next_page_token, ascending=True)

    await client.webhooks.delete(webhook_id=hook.webhook_id)
    with expect(NotFoundError, "not_found"):
        await client.webhooks.get(webhook_id=hook.webhook_id)
    with expect(NotFoundError, "not_found"):
        await client.webhooks.delete(webhook_id=hook.webhook_id)
    with expect(NotFoundError, "not_found"):
        await client.webhooks.update(webhook_id=hook.webhook_id, enabled=False)
    assert (await client.webhooks.list()).count == 4


async def test_client_id_is_idempotent(client: AsyncAgentInbox) -> None:
    inbox = await client.inboxes.create(username="support")
    first = await client.webhooks.create(
        url=URL, event_types=RECEIVED, inbox_ids=[inbox.inbox_id], client_id="hook-1", headers={"X-A": "1"}
    )
    again = await client.webhooks.create(
        url=URL, event_types=RECEIVED, inbox_ids=[inbox.inbox_id], client_id="hook-1", headers={"X-A": "1"}
    )
    assert again == first and again.client_id == "hook-1"
    for different in (
        {"url": URL + "/other"},
        {"event_types": ["message.sent"]},
        {"inbox_ids": None},
        {"headers": {"X-A": "2"}},
    ):
        arguments: dict[str, Any] = {
            "url": URL,
            "event_types": RECEIVED,
            "inbox_ids": [inbox.inbox_id],
            "client_id": "hook-1",
            "headers": {"X-A": "1"},
            **different,
        }
        with expect(ConflictError, "conflict"):
            await client.webhooks.create(**arguments)
    assert (await client.webhooks.list()).count == 1


async def test_update_channels_types_and_enabled(client: AsyncAgentInbox) -> None:
    pod = await client.pods.create(name="tenant")
    a = await client.inboxes.create(username="a")
    b = await client.inboxes.create(username="b")
    hook = await client.webhooks.create(url=URL, event_types=RECEIVED, inbox_ids=[a.inbox_id])
    hook = await client.webhooks.update(
        webhook_id=hook.webhook_id, add_inbox_ids=[b.inbox_id.upper()], add_pod_ids=[pod.pod_id]
    )
    assert hook.inbox_ids == [a.inbox_id, b.inbox_id] and hook.pod_ids == [pod.pod_id]
    hook = await client.webhooks.update(
        webhook_id=hook.webhook_id, remove_inbox_ids=[a.inbox_id], remove_pod_ids=[pod.pod_id]
    )
    assert hook.inbox_ids == [b.inbox_id] and hook.pod_ids is None
    hook = await client.webhooks.update(webhook_id=hook.webhook_id, event_types=["message.bounced"])
    assert hook.event_types == ["message.bounced"]
    hook = await client.webhooks.update(webhook_id=hook.webhook_id, event_types=[])
    assert hook.event_types == ["message.bounced"], "an empty list leaves the types as they are"
    hook = await client.webhooks.update(webhook_id=hook.webhook_id, enabled=False)
    assert not hook.enabled
    hook = await client.webhooks.update(webhook_id=hook.webhook_id, enabled=True)
    assert hook.enabled

    many = [(await client.inboxes.create(username=f"i{n}")).inbox_id for n in range(10)]
    with expect(ValidationError, "validation_error"):
        await client.webhooks.update(webhook_id=hook.webhook_id, add_inbox_ids=many)
    with expect(NotFoundError, "not_found"):
        await client.webhooks.update(webhook_id=hook.webhook_id, add_pod_ids=["no-such-pod"])
    with expect(NotFoundError, "not_found"):
        await client.webhooks.update(webhook_id=hook.webhook_id, add_inbox_ids=["nobody@agents.test"])
    assert (await client.webhooks.get(webhook_id=hook.webhook_id)).inbox_ids == [b.inbox_id]


async def test_inbox_and_pod_scoped(client: AsyncAgentInbox) -> None:
    pod = await client.pods.create(name="tenant")
    mine = await client.pods.inboxes.create(pod_id=pod.pod_id, username="mine")
    other = await client.inboxes.create(username="other")
    of_inbox = await client.inboxes.webhooks.create(inbox_id=mine.inbox_id, url=URL, event_types=RECEIVED)
    assert of_inbox.inbox_id == mine.inbox_id and of_inbox.pod_id == pod.pod_id
    of_pod = await client.pods.webhooks.create(
        pod_id=pod.pod_id, url=URL, event_types=RECEIVED, inbox_ids=[mine.inbox_id]
    )
    assert of_pod.pod_id == pod.pod_id and of_pod.inbox_id is None and of_pod.inbox_ids == [mine.inbox_id]
    org = await client.webhooks.create(url=URL, event_types=RECEIVED)

    listed = await client.inboxes.webhooks.list(inbox_id=mine.inbox_id)
    assert [w.webhook_id for w in listed.webhooks] == [of_inbox.webhook_id]
    assert (await client.inboxes.webhooks.list(inbox_id=other.inbox_id)).count == 0
    in_pod = await client.pods.webhooks.list(pod_id=pod.pod_id)
    assert {w.webhook_id for w in in_pod.webhooks} == {of_inbox.webhook_id, of_pod.webhook_id}
    assert (await client.webhooks.list()).count == 3

    with expect(NotFoundError, "not_found"):
        await client.inboxes.webhooks.get(inbox_id=other.inbox_id, webhook_id=of_inbox.webhook_id)
    with expect(NotFoundError, "not_found"):
        await client.pods.webhooks.get(pod_id=pod.pod_id, webhook_id=org.webhook_id)
    with expect(NotFoundError, "not_found"):
        await client.pods.webhooks.create(
            pod_id=pod.pod_id, url=URL, event_types=RECEIVED, inbox_ids=[other.inbox_id]
        )
    with expect(NotFoundError, "not_found"):
        await client.pods.webhooks.update(
            pod_id=pod.pod_id, webhook_id=of_pod.webhook_id, add_inbox_ids=[other.inbox_id]
        )
    with expect(NotFoundError, "not_found"):
        await client.inboxes.webhooks.create(inbox_id="nobody@agents.test", url=URL, event_types=RECEIVED)
    with expect(NotFoundError, "not_found"):
        await client.pods.webhooks.create(pod_id="no-such-pod", url=URL, event_types=RECEIVED)
    with expect(NotFoundError, "not_found"):
        await client.inboxes.webhooks.list(inbox_id="nobody@agents.test")

    updated = await client.inboxes.webhooks.update(
        inbox_id=mine.inbox_id, webhook_id=of_inbox.webhook_id, event_types=["message.sent"], enabled=False
    )
    assert updated.event_types == ["message.sent"] and not updated.enabled
    await client.pods.webhooks.delete(pod_id=pod.pod_id, webhook_id=of_pod.webhook_id)
    await client.inboxes.webhooks.delete(inbox_id=mine.inbox_id, webhook_id=of_inbox.webhook_id)
    assert (await client.webhooks.list()).count == 1


@pytest.mark.parametrize(
    ("arguments", "path"),
    [
        ({"url": None}, "url"),
        ({"url": ""}, "url"),
        ({"url": 42}, "url"),
        ({"url": "ftp://93.184.216.34/x"}, "url"),
        ({"url": "93.184.216.34/x"}, "url"),
        ({"url": "https:///path-only"}, "url"),
        ({"url": "https://user:pw@93.184.216.34/"}, "url"),
        ({"url": "https://93.184.216.34:99999/"}, "url"),
        ({"url": "https://93.184.216.34/a b"}, "url"),
        ({"url": "https://93.184.216.34/\r\nX: y"}, "url"),
        ({"url": "https://93.184.216.34/" + "a" * 2100}, "url"),
        ({"event_types": None}, "event_types"),
        ({"event_types": []}, "event_types"),
        ({"event_types": ["message.recieved"]}, "event_types"),
        ({"event_types": [1]}, "event_types"),
        ({"event_types": 5}, "event_types"),
        ({"pod_ids": 5}, "pod_ids"),
        ({"pod_ids": [""]}, "pod_ids"),
        ({"pod_ids": [f"p{n}" for n in range(11)]}, "pod_ids"),
        ({"inbox_ids": [f"i{n}@agents.test" for n in range(11)]}, "inbox_ids"),
        ({"inbox_ids": ["a@agents.test\r\n"]}, "inbox_ids"),
        ({"client_id": ""}, "client_id"),
        ({"client_id": "x" * 257}, "client_id"),
        ({"headers": ["X-A"]}, "headers"),
        ({"headers": {"Bad Name": "x"}}, "headers"),
        ({"headers": {"": "x"}}, "headers"),
        ({"headers": {"X-A": 1}}, "headers"),
        ({"headers": {"X-A": "a\r\nX-Injected: 1"}}, "headers"),
        ({"headers": {"X-A": "a\nb"}}, "headers"),
        ({"headers": {"Content-Type": "text/plain"}}, "headers"),
        ({"headers": {"content-length": "5"}}, "headers"),
        ({"headers": {"Transfer-Encoding": "chunked"}}, "headers"),
        ({"headers": {"Connection": "close"}}, "headers"),
        ({"headers": {"Host": "example.org"}}, "headers"),
        ({"headers": {"svix-signature": "v1,forged"}}, "headers"),
        ({"headers": {"Svix-Id": "msg_1"}}, "headers"),
        ({"headers": {"X-A": "1", "x-a": "2"}}, "headers"),
        ({"headers": {f"X-{n}": "v" for n in range(33)}}, "headers"),
    ],
)
async def test_bad_create_arguments(client: AsyncAgentInbox, arguments: dict[str, Any], path: str) -> None:
    given: dict[str, Any] = {"url": URL, "event_types": RECEIVED, **arguments}
    with expect(ValidationError, "validation_error") as caught:
        await client.webhooks.create(**given)
    assert caught.value.errors[0]["path"][0] == path
    assert (await client.webhooks.list()).count == 0


async def test_unknown_channels_are_refused(client: AsyncAgentInbox) -> None:
    with expect(NotFoundError, "not_found"):
        await client.webhooks.create(url=URL, event_types=RECEIVED, pod_ids=["no-such-pod"])
    with expect(NotFoundError, "not_found"):
        await client.webhooks.create(url=URL, event_types=RECEIVED, inbox_ids=["nobody@agents.test"])
    assert (await client.webhooks.list()).count == 0


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://10.1.2.3/",
        "http://192.168.0.10/",
        "http://172.16.5.4/",
        "http://169.254.169.254/latest/meta-data/",
        "http://100.64.0.1/",
        "http://0.0.0.0/",
        "http://224.0.0.1/",
        "http://240.0.0.1/",
        "http://[::1]/",
        "http://[fe80::1]/",
        "http://[fc00::1]/",
        "http://[::ffff:127.0.0.1]/",
    ],
)
async def test_internal_targets_refused_by_default(client: AsyncAgentInbox, url: str) -> None:
    with expect(ValidationError, "validation_error") as caught:
        await client.webhooks.create(url=url, event_types=RECEIVED)
    assert caught.value.errors[0]["path"] == ["url"]
    assert "webhook_allow_private" in caught.value.message


async def test_internal_targets_allowed_by_setting(database_url: str, clock: ManualClock) -> None:
    async with AsyncAgentInbox(database_url=database_url, clock=clock, webhook_allow_private=True) as client:
        hook = await client.webhooks.create(url="http://127.0.0.1:8080/hook", event_types=RECEIVED)
        assert hook.url == "http://127.0.0.1:8080/hook"


@pytest.mark.parametrize(
    "arguments",
    [
        {"enabled": "yes"},
        {"event_types": ["nope"]},
        {"add_pod_ids": [""]},
        {"remove_inbox_ids": 7},
        {"webhook_id": ""},
        {"webhook_id": None},
    ],
)
async def test_bad_update_arguments(client: AsyncAgentInbox, arguments: dict[str, Any]) -> None:
    hook = await client.webhooks.create(url=URL, event_types=RECEIVED)
    given: dict[str, Any] = {"webhook_id": hook.webhook_id, **arguments}
    with expect(ValidationError, "validation_error"):
        await client.webhooks.update(**given)
    assert await client.webhooks.get(webhook_id=hook.webhook_id) == hook


def test_sync_client(tmp_path: Path) -> None:
    with AgentInbox(database_url=f"sqlite+aiosqlite:///{tmp_path / 'a.db'}") as client:
        inbox = client.inboxes.create(username="sync")
        hook = client.webhooks.create(url=URL, event_types=RECEIVED)
        scoped = client.inboxes.webhooks.create(inbox_id=inbox.inbox_id, url=URL, event_types=RECEIVED)
        assert client.webhooks.get(webhook_id=hook.webhook_id) == hook
        assert client.inboxes.webhooks.list(inbox_id=inbox.inbox_id).webhooks == [scoped]
        assert not client.webhooks.update(webhook_id=hook.webhook_id, enabled=False).enabled
        client.webhooks.delete(webhook_id=hook.webhook_id)
        assert client.webhooks.list().count == 1
