"""idempotency_key on send, reply, reply_all, forward and drafts.send: a retry returns the first result only."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from helpers import expect

from agentinbox import AgentInboxError, AsyncAgentInbox, ConflictError, ValidationError
from agentinbox._clock import ManualClock


async def count(client: AsyncAgentInbox, inbox_id: str) -> int:
    """Every message the inbox holds (sent and received, hidden ones included)."""
    page = await client.inboxes.messages.list(
        inbox_id=inbox_id, include_trash=True, include_spam=True, limit=100
    )
    return page.count


async def setup(client: AsyncAgentInbox, clock: ManualClock) -> dict[str, Any]:
    """a sends b a message with an attachment; returns the inboxes and b's received copy's id."""
    a = await client.inboxes.create(username="a")
    b = await client.inboxes.create(username="b")
    c = await client.inboxes.create(username="c")
    first = await client.inboxes.messages.send(
        inbox_id=a.inbox_id,
        to=[b.inbox_id],
        cc=[c.inbox_id],
        subject="Start",
        text="Hello",
        attachments=[{"filename": "f.txt", "content": b"file"}],
    )
    clock.advance(60)
    return {"a": a, "b": b, "c": c, "first": first}


async def test_send_with_key_sends_once(client: AsyncAgentInbox, clock: ManualClock) -> None:
    w = await setup(client, clock)
    a, b = w["a"], w["b"]
    kwargs: dict[str, Any] = dict(inbox_id=a.inbox_id, to=[b.inbox_id], subject="Once", text="Only once")
    first = await client.inboxes.messages.send(**kwargs, idempotency_key="send-1")
    clock.advance(5)
    second = await client.inboxes.messages.send(**kwargs, idempotency_key="send-1")
    assert second == first
    assert await count(client, a.inbox_id) == 2
    assert await count(client, b.inbox_id) == 2
    # Without a key, or with another key, the same content is sent again.
    third = await client.inboxes.messages.send(**kwargs, idempotency_key="send-2")
    fourth = await client.inboxes.messages.send(**kwargs)
    assert len({first.message_id, third.message_id, fourth.message_id}) == 3
    assert await count(client, b.inbox_id) == 4


async def test_reply_with_key_sends_once(client: AsyncAgentInbox, clock: ManualClock) -> None:
    w = await setup(client, clock)
    b, first = w["b"], w["first"]
    before_a = await count(client, w["a"].inbox_id)
    kwargs: dict[str, Any] = dict(inbox_id=b.inbox_id, message_id=first.message_id, text="Thanks")
    one = await client.inboxes.messages.reply(**kwargs, idempotency_key="reply-1")
    clock.advance(5)
    two = await client.inboxes.messages.reply(**kwargs, idempotency_key="reply-1")
    assert one == two
    assert (
        one.thread_id
        == (await client.inboxes.messages.get(inbox_id=b.inbox_id, message_id=first.message_id)).thread_id
    )
    assert await count(client, b.inbox_id) == 2
    assert await count(client, w["a"].inbox_id) == before_a + 1


async def test_reply_all_with_key_sends_once(client: AsyncAgentInbox, clock: ManualClock) -> None:
    w = await setup(client, clock)
    b, c, first = w["b"], w["c"], w["first"]
    kwargs: dict[str, Any] = dict(inbox_id=b.inbox_id, message_id=first.message_id, text="All of you")
    one = await client.inboxes.messages.reply_all(**kwargs, idempotency_key="all-1")
    two = await client.inboxes.messages.reply_all(**kwargs, idempotency_key="all-1")
    assert one == two
    assert await count(client, b.inbox_id) == 2
    assert await count(client, c.inbox_id) == 2


async def test_forward_with_key_sends_once(client: AsyncAgentInbox, clock: ManualClock) -> None:
    w = await setup(client, clock)
    b, c, first = w["b"], w["c"], w["first"]
    kwargs: dict[str, Any] = dict(
        inbox_id=b.inbox_id, message_id=first.message_id, to=["boss@example.com"], text="FYI"
    )
    one = await client.inboxes.messages.forward(**kwargs, idempotency_key="fwd-1")
    two = await client.inboxes.messages.forward(**kwargs, idempotency_key="fwd-1")
    assert one == two
    assert await count(client, b.inbox_id) == 2
    assert await count(client, c.inbox_id) == 1


async def test_draft_send_with_key_sends_once(client: AsyncAgentInbox, clock: ManualClock) -> None:
    w = await setup(client, clock)
    a, b = w["a"], w["b"]
    draft = await client.inboxes.drafts.create(
        inbox_id=a.inbox_id, to=[b.inbox_id], subject="Draft", text="d"
    )
    one = await client.inboxes.drafts.send(
        inbox_id=a.inbox_id, draft_id=draft.draft_id, idempotency_key="draft-1"
    )
    clock.advance(5)
    # The draft is gone after the first send, yet the retry answers with the first result.
    two = await client.inboxes.drafts.send(
        inbox_id=a.inbox_id, draft_id=draft.draft_id, idempotency_key="draft-1"
    )
    assert one == two
    assert await count(client, a.inbox_id) == 2
    assert await count(client, b.inbox_id) == 2


async def test_same_key_other_content_conflicts(client: AsyncAgentInbox, clock: ManualClock) -> None:
    w = await setup(client, clock)
    a, b = w["a"], w["b"]
    await client.inboxes.messages.send(
        inbox_id=a.inbox_id, to=[b.inbox_id], subject="S", text="one", idempotency_key="k"
    )
    variants: list[dict[str, Any]] = [
        {"to": [b.inbox_id], "subject": "S", "text": "two"},
        {"to": [b.inbox_id], "subject": "Other", "text": "one"},
        {"to": [w["c"].inbox_id], "subject": "S", "text": "one"},
        {"to": [b.inbox_id], "subject": "S", "text": "one", "labels": ["x"]},
        {
            "to": [b.inbox_id],
            "subject": "S",
            "text": "one",
            "attachments": [{"filename": "x", "content": b"1"}],
        },
    ]
    for variant in variants:
        with expect(ConflictError, "conflict"):
            await client.inboxes.messages.send(inbox_id=a.inbox_id, idempotency_key="k", **variant)
    # Another inbox with the same key and the same content is another request too.
    with expect(ConflictError, "conflict"):
        await client.inboxes.messages.send(
            inbox_id=b.inbox_id, to=[b.inbox_id], subject="S", text="one", idempotency_key="k"
        )
    assert await count(client, a.inbox_id) == 2
    assert await count(client, b.inbox_id) == 2


async def test_same_key_other_endpoint_conflicts(client: AsyncAgentInbox, clock: ManualClock) -> None:
    w = await setup(client, clock)
    a, b, first = w["a"], w["b"], w["first"]
    await client.inboxes.messages.send(
        inbox_id=b.inbox_id, to=[a.inbox_id], text="x", idempotency_key="shared"
    )
    before_b = await count(client, b.inbox_id)
    with expect(ConflictError, "conflict"):
        await client.inboxes.messages.reply(
            inbox_id=b.inbox_id, message_id=first.message_id, text="x", idempotency_key="shared"
        )
    with expect(ConflictError, "conflict"):
        await client.inboxes.messages.reply_all(
            inbox_id=b.inbox_id, message_id=first.message_id, text="x", idempotency_key="shared"
        )
    with expect(ConflictError, "conflict"):
        await client.inboxes.messages.forward(
            inbox_id=b.inbox_id,
            message_id=first.message_id,
            to=[a.inbox_id],
            text="x",
            idempotency_key="shared",
        )
    draft = await client.inboxes.drafts.create(inbox_id=b.inbox_id, to=[a.inbox_id], text="x")
    with expect(ConflictError, "conflict"):
        await client.inboxes.drafts.send(
            inbox_id=b.inbox_id, draft_id=draft.draft_id, idempotency_key="shared"
        )
    assert await count(client, b.inbox_id) == before_b
    assert (
        await client.inboxes.drafts.get(inbox_id=b.inbox_id, draft_id=draft.draft_id)
    ).draft_id == draft.draft_id
    # reply vs reply_all with the same key and text are different requests as well.
    await client.inboxes.messages.reply(
        inbox_id=b.inbox_id, message_id=first.message_id, text="y", idempotency_key="r"
    )
    with expect(ConflictError, "conflict"):
        await client.inboxes.messages.reply_all(
            inbox_id=b.inbox_id, message_id=first.message_id, text="y", idempotency_key="r"
        )


async def test_draft_send_key_reused_for_other_draft_conflicts(
    client: AsyncAgentInbox, clock: ManualClock
) -> None:
    w = await setup(client, clock)
    a, b = w["a"], w["b"]
    d1 = await client.inboxes.drafts.create(inbox_id=a.inbox_id, to=[b.inbox_id], text="1")
    d2 = await client.inboxes.drafts.create(inbox_id=a.inbox_id, to=[b.inbox_id], text="2")
    await client.inboxes.drafts.send(inbox_id=a.inbox_id, draft_id=d1.draft_id, idempotency_key="dk")
    with expect(ConflictError, "conflict"):
        await client.inboxes.drafts.send(inbox_id=a.inbox_id, draft_id=d2.draft_id, idempotency_key="dk")
    with expect(ConflictError, "conflict"):
        await client.inboxes.drafts.send(
            inbox_id=a.inbox_id, draft_id=d1.draft_id, idempotency_key="dk", add_labels=["other"]
        )
    assert (await client.inboxes.drafts.list(inbox_id=a.inbox_id)).count == 1
    assert await count(client, b.inbox_id) == 2


async def test_failed_send_does_not_consume_the_key(client: AsyncAgentInbox, clock: ManualClock) -> None:
    w = await setup(client, clock)
    a, b = w["a"], w["b"]
    with pytest.raises(AgentInboxError):
        await client.inboxes.messages.send(
            inbox_id=a.inbox_id, subject="nobody", text="x", idempotency_key="retry"
        )
    fixed = await client.inboxes.messages.send(
        inbox_id=a.inbox_id, to=[b.inbox_id], subject="nobody", text="x", idempotency_key="retry"
    )
    again = await client.inboxes.messages.send(
        inbox_id=a.inbox_id, to=[b.inbox_id], subject="nobody", text="x", idempotency_key="retry"
    )
    assert fixed == again
    assert await count(client, b.inbox_id) == 2


async def test_key_expires_after_a_day(client: AsyncAgentInbox, clock: ManualClock) -> None:
    w = await setup(client, clock)
    a, b = w["a"], w["b"]
    kwargs: dict[str, Any] = dict(
        inbox_id=a.inbox_id, to=[b.inbox_id], subject="Daily", text="x", idempotency_key="day"
    )
    first = await client.inboxes.messages.send(**kwargs)
    clock.advance(23 * 3600)
    assert await client.inboxes.messages.send(**kwargs) == first
    clock.advance(2 * 3600)
    later = await client.inboxes.messages.send(**kwargs)
    assert later.message_id != first.message_id
    assert await count(client, b.inbox_id) == 3


@pytest.mark.parametrize("key", ["", "   ", 5])
async def test_invalid_key(client: AsyncAgentInbox, clock: ManualClock, key: Any) -> None:
    w = await setup(client, clock)
    a, b = w["a"], w["b"]
    with expect(ValidationError, "validation_error"):
        await client.inboxes.messages.send(
            inbox_id=a.inbox_id, to=[b.inbox_id], text="x", idempotency_key=key
        )
    draft = await client.inboxes.drafts.create(inbox_id=a.inbox_id, to=[b.inbox_id], text="x")
    with expect(ValidationError, "validation_error"):
        await client.inboxes.drafts.send(inbox_id=a.inbox_id, draft_id=draft.draft_id, idempotency_key=key)
    assert await count(client, b.inbox_id) == 1


async def test_concurrent_sends_with_one_key_send_once(client: AsyncAgentInbox, clock: ManualClock) -> None:
    w = await setup(client, clock)
    a, b = w["a"], w["b"]
    kwargs: dict[str, Any] = dict(
        inbox_id=a.inbox_id, to=[b.inbox_id], subject="Race", text="x", idempotency_key="race"
    )
    results = await asyncio.gather(
        *(client.inboxes.messages.send(**kwargs) for _ in range(6)), return_exceptions=True
    )
    successes = [r for r in results if not isinstance(r, BaseException)]
    failures = [r for r in results if isinstance(r, BaseException)]
    # A retry racing the first attempt may get the first result or a ConflictError, never anything else.
    assert successes, results
    assert all(r == successes[0] for r in successes)
    assert all(isinstance(f, ConflictError) and f.code == "conflict" for f in failures), failures
    assert await count(client, b.inbox_id) == 2
    assert await client.inboxes.messages.send(**kwargs) == successes[0]
