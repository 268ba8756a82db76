"""Scheduled send: drafts with ``send_at`` are sent by the scheduler when the engine's clock reaches it.

The engine runs with a ManualClock: a test moves the clock, wakes the scheduler and waits until it is idle,
so "not sent before the time" and "sent at the time" are checked without sleeping.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from helpers import expect
from sqlalchemy import update

from agentinbox import AgentInbox, AsyncAgentInbox, ConflictError, NotFoundError, ValidationError
from agentinbox._clock import ManualClock, to_datetime
from agentinbox.pipeline.scheduler import LEASE_SECONDS, POLL_SECONDS
from agentinbox.store import drafts as drafts_store
from agentinbox.store.scopes import Scope
from agentinbox.store.tables import drafts as drafts_table


async def pair(client: AsyncAgentInbox) -> tuple[Any, Any]:
    return await client.inboxes.create(username="me"), await client.inboxes.create(username="you")


def later(clock: ManualClock, seconds: float) -> datetime:
    return to_datetime(clock.now()) + timedelta(seconds=seconds)


async def settle(client: AsyncAgentInbox, clock: ManualClock | None = None, seconds: float = 0) -> None:
    """Move the clock on, wake the scheduler and wait until it has nothing due."""
    if clock is not None:
        clock.advance(seconds)
    assert client._scheduler is not None
    client._scheduler.wake()
    await asyncio.wait_for(client._scheduler.idle(), timeout=30)


async def sent_messages(client: AsyncAgentInbox, inbox_id: str) -> list[Any]:
    listed = await client.inboxes.messages.list(inbox_id=inbox_id, labels=["sent"])
    return listed.messages


async def test_sent_at_the_time_not_before(client: AsyncAgentInbox, clock: ManualClock) -> None:
    me, you = await pair(client)
    await client.start()
    when = later(clock, 3600)
    draft = await client.inboxes.drafts.create(
        inbox_id=me.inbox_id, to=[you.inbox_id], subject="Later", text="Hello later", send_at=when
    )
    assert draft.send_status == "scheduled" and draft.send_at == when and "scheduled" in draft.labels

    await settle(client, clock, 3599)
    kept = await client.inboxes.drafts.get(inbox_id=me.inbox_id, draft_id=draft.draft_id)
    assert kept.send_status == "scheduled"
    assert await sent_messages(client, me.inbox_id) == []

    await settle(client, clock, 1)
    with expect(NotFoundError, "not_found"):
        await client.inboxes.drafts.get(inbox_id=me.inbox_id, draft_id=draft.draft_id)
    [message] = await sent_messages(client, me.inbox_id)
    assert message.subject == "Later"
    assert "scheduled" not in message.labels and "sent" in message.labels
    # A local recipient gets its copy in the same transaction.
    inbound = await client.inboxes.messages.list(inbox_id=you.inbox_id)
    assert [m.subject for m in inbound.messages] == ["Later"]


async def test_reschedule_moves_the_send(client: AsyncAgentInbox, clock: ManualClock) -> None:
    me, you = await pair(client)
    await client.start()
    draft = await client.inboxes.drafts.create(
        inbox_id=me.inbox_id, to=[you.inbox_id], subject="Moved", text="x", send_at=later(clock, 60)
    )
    moved_to = later(clock, 600)
    moved = await client.inboxes.drafts.update(
        inbox_id=me.inbox_id, draft_id=draft.draft_id, send_at=moved_to
    )
    assert moved.send_at == moved_to and moved.send_status == "scheduled"
    assert moved.labels.count("scheduled") == 1

    await settle(client, clock, 120)  # past the first time: nothing is sent
    assert await sent_messages(client, me.inbox_id) == []
    await settle(client, clock, 480)
    assert [m.subject for m in await sent_messages(client, me.inbox_id)] == ["Moved"]
    assert (await client.inboxes.drafts.list(inbox_id=me.inbox_id)).count == 0


async def test_unschedule_keeps_the_draft(client: AsyncAgentInbox, clock: ManualClock) -> None:
    me, you = await pair(client)
    await client.start()
    draft = await client.inboxes.drafts.create(
        inbox_id=me.inbox_id, to=[you.inbox_id], subject="Kept", text="x", send_at=later(clock, 60)
    )
    plain = await client.inboxes.drafts.update(inbox_id=me.inbox_id, draft_id=draft.draft_id, send_at=None)
    assert plain.send_at is None and plain.send_status is None and "scheduled" not in plain.labels

    await settle(client, clock, 3600)
    kept = await client.inboxes.drafts.get(inbox_id=me.inbox_id, draft_id=draft.draft_id)
    assert kept.send_status is None
    assert await sent_messages(client, me.inbox_id) == []


async def test_delete_cancels(client: AsyncAgentInbox, clock: ManualClock) -> None:
    me, you = await pair(client)
    await client.start()
    draft = await client.inboxes.drafts.create(
        inbox_id=me.inbox_id, to=[you.inbox_id], subject="Never", text="x", send_at=later(clock, 60)
    )
    await client.inboxes.drafts.delete(inbox_id=me.inbox_id, draft_id=draft.draft_id)
    await settle(client, clock, 3600)
    assert await sent_messages(client, me.inbox_id) == []
    assert (await client.inboxes.messages.list(inbox_id=you.inbox_id)).count == 0


async def test_past_due_while_down_is_sent_at_start(client: AsyncAgentInbox, clock: ManualClock) -> None:
    me, you = await pair(client)
    # Scheduled while no scheduler runs; the time passes before start().
    draft = await client.inboxes.drafts.create(
        inbox_id=me.inbox_id, to=[you.inbox_id], subject="Overdue", text="x", send_at=later(clock, 60)
    )
    clock.advance(3600)
    assert (await client.inboxes.drafts.get(inbox_id=me.inbox_id, draft_id=draft.draft_id)).send_status == (
        "scheduled"
    )
    await client.start()
    await settle(client)
    assert [m.subject for m in await sent_messages(client, me.inbox_id)] == ["Overdue"]


async def test_send_at_in_the_past_is_sent_promptly(client: AsyncAgentInbox, clock: ManualClock) -> None:
    me, you = await pair(client)
    await client.start()
    draft = await client.inboxes.drafts.create(
        inbox_id=me.inbox_id, to=[you.inbox_id], subject="Now", text="x", send_at=later(clock, -60)
    )
    assert draft.send_status == "scheduled"
    # Creating it woke the scheduler: no clock move and no explicit wake needed.
    assert client._scheduler is not None
    await asyncio.wait_for(client._scheduler.idle(), timeout=30)
    assert [m.subject for m in await sent_messages(client, me.inbox_id)] == ["Now"]


async def test_crashed_claim_is_retried_after_its_lease(client: AsyncAgentInbox, clock: ManualClock) -> None:
    """A draft left ``sending`` by a scheduler that died is claimed again once its lease expires."""
    me, you = await pair(client)
    draft = await client.inboxes.drafts.create(
        inbox_id=me.inbox_id, to=[you.inbox_id], subject="Orphan", text="x", send_at=later(clock, 60)
    )
    ctx = await client._context()
    lease_until = clock.now() + 60 * 1_000_000

    def orphan(conn: Any) -> None:
        conn.execute(
            update(drafts_table)
            .where(drafts_table.c.draft_id == draft.draft_id)
            .values(send_status="sending", send_lease_until=lease_until)
        )

    await ctx.db.write(orphan)
    await client.start()
    await settle(client, clock, 59)  # the lease still holds
    held = await client.inboxes.drafts.get(inbox_id=me.inbox_id, draft_id=draft.draft_id)
    assert held.send_status == "sending"
    await settle(client, clock, 1)
    assert [m.subject for m in await sent_messages(client, me.inbox_id)] == ["Orphan"]
    assert LEASE_SECONDS > 0


async def test_failing_send_is_marked_failed_once(client: AsyncAgentInbox, clock: ManualClock) -> None:
    me, you = await pair(client)
    await client.start()
    # No recipients: the send can never pass.
    draft = await client.inboxes.drafts.create(
        inbox_id=me.inbox_id, subject="Nobody", text="x", send_at=later(clock, 60)
    )
    await settle(client, clock, 60)
    failed = await client.inboxes.drafts.get(inbox_id=me.inbox_id, draft_id=draft.draft_id)
    assert failed.send_status == "failed"
    assert failed.send_error and "recipient" in failed.send_error
    assert failed.send_at is not None and "scheduled" in failed.labels
    stamp = failed.updated_at

    # Not retried: time passing (beyond any lease) leaves it untouched.
    await settle(client, clock, LEASE_SECONDS * 10)
    again = await client.inboxes.drafts.get(inbox_id=me.inbox_id, draft_id=draft.draft_id)
    assert again.send_status == "failed" and again.updated_at == stamp
    listed = await client.inboxes.drafts.list(inbox_id=me.inbox_id, labels=["scheduled"])
    assert listed.drafts[0].send_status == "failed" and listed.drafts[0].send_error == failed.send_error

    # Fixing the draft and rescheduling clears the failure and sends it.
    fixed = await client.inboxes.drafts.update(
        inbox_id=me.inbox_id, draft_id=draft.draft_id, to=[you.inbox_id], send_at=later(clock, 30)
    )
    assert fixed.send_status == "scheduled" and fixed.send_error is None
    await settle(client, clock, 30)
    assert [m.subject for m in await sent_messages(client, me.inbox_id)] == ["Nobody"]


async def test_reply_to_a_deleted_message_fails(client: AsyncAgentInbox, clock: ManualClock) -> None:
    me, you = await pair(client)
    await client.start()
    sent = await client.inboxes.messages.send(inbox_id=you.inbox_id, to=[me.inbox_id], subject="Q", text="?")
    clock.advance(1)
    draft = await client.inboxes.drafts.create(
        inbox_id=me.inbox_id, in_reply_to=sent.message_id, text="A", send_at=later(clock, 60)
    )
    assert draft.to == [you.inbox_id]
    original = await client.inboxes.messages.get(inbox_id=me.inbox_id, message_id=sent.message_id)
    await client.inboxes.threads.delete(inbox_id=me.inbox_id, thread_id=original.thread_id)
    await settle(client, clock, 60)
    failed = await client.inboxes.drafts.get(inbox_id=me.inbox_id, draft_id=draft.draft_id)
    assert failed.send_status == "failed" and failed.send_error


@pytest.mark.parametrize(
    "value",
    [
        "2030-01-01T00:00:00Z",
        1_900_000_000,
        True,
    ],
)
async def test_bad_send_at(client: AsyncAgentInbox, value: Any) -> None:
    me, you = await pair(client)
    with expect(ValidationError, "validation_error"):
        await client.inboxes.drafts.create(inbox_id=me.inbox_id, to=[you.inbox_id], send_at=value)
    draft = await client.inboxes.drafts.create(inbox_id=me.inbox_id, to=[you.inbox_id])
    with expect(ValidationError, "validation_error"):
        await client.inboxes.drafts.update(inbox_id=me.inbox_id, draft_id=draft.draft_id, send_at=value)
    assert (await client.inboxes.drafts.get(inbox_id=me.inbox_id, draft_id=draft.draft_id)).send_at is None


async def test_scheduled_label_follows_send_at_only(client: AsyncAgentInbox) -> None:
    me, you = await pair(client)
    with expect(ValidationError, "validation_error"):
        await client.inboxes.drafts.create(inbox_id=me.inbox_id, to=[you.inbox_id], labels=["scheduled"])
    draft = await client.inboxes.drafts.create(inbox_id=me.inbox_id, to=[you.inbox_id])
    with expect(ValidationError, "validation_error"):
        await client.inboxes.drafts.update(
            inbox_id=me.inbox_id, draft_id=draft.draft_id, add_labels=["scheduled"]
        )
    with expect(ValidationError, "validation_error"):
        await client.inboxes.drafts.update(
            inbox_id=me.inbox_id, draft_id=draft.draft_id, remove_labels=["scheduled"]
        )


async def test_offsets_and_listing(client: AsyncAgentInbox, clock: ManualClock) -> None:
    """Any timezone works; scheduled drafts carry the label across inbox, pod and org lists."""
    me, you = await pair(client)
    plus_two = timezone(timedelta(hours=2))
    when = later(clock, 3600).astimezone(plus_two)
    draft = await client.inboxes.drafts.create(
        inbox_id=me.inbox_id, to=[you.inbox_id], subject="Zoned", send_at=when
    )
    assert draft.send_at == when and draft.send_at is not None and draft.send_at.tzinfo is not None
    await client.inboxes.drafts.create(inbox_id=me.inbox_id, to=[you.inbox_id], subject="Plain")
    for listed in (
        await client.inboxes.drafts.list(inbox_id=me.inbox_id, labels=["scheduled"]),
        await client.drafts.list(labels="scheduled"),
        await client.pods.drafts.list(pod_id=me.pod_id, labels=["scheduled"]),
    ):
        assert [(d.draft_id, d.send_status, d.send_at) for d in listed.drafts] == [
            (draft.draft_id, "scheduled", when)
        ]


async def test_sync_client(database_url: str, clock: ManualClock) -> None:
    with AgentInbox(database_url=database_url, default_domain="agents.test", clock=clock) as client:
        me = client.inboxes.create(username="me")
        you = client.inboxes.create(username="you")
        client.start()
        draft = client.inboxes.drafts.create(
            inbox_id=me.inbox_id, to=[you.inbox_id], subject="Sync", send_at=later(clock, 60)
        )
        assert draft.send_status == "scheduled" and "scheduled" in draft.labels
        client._portal.call(settle(client.async_client, clock, 60))
        assert client.drafts.list().count == 0
        sent = client.inboxes.messages.list(inbox_id=me.inbox_id, labels=["sent"])
        assert [m.subject for m in sent.messages] == ["Sync"]


async def test_two_engines_send_each_draft_once(database_url: str, clock: ManualClock) -> None:
    """Two engines on one database: every due draft is claimed and sent by exactly one of them."""
    engines = [
        AsyncAgentInbox(database_url=database_url, default_domain="agents.test", clock=clock)
        for _ in range(2)
    ]
    try:
        first, second = engines
        me, you = await pair(first)
        for engine in engines:
            await engine.start()
        for index in range(40):
            await first.inboxes.drafts.create(
                inbox_id=me.inbox_id, to=[you.inbox_id], subject=f"n{index}", send_at=later(clock, 60)
            )
        clock.advance(60)
        for engine in engines:
            assert engine._scheduler is not None
            engine._scheduler.wake()
        for engine in engines:
            await settle(engine)
        assert (await second.drafts.list()).count == 0
        subjects = [m.subject for m in (await second.inboxes.messages.list(inbox_id=you.inbox_id)).messages]
        assert sorted(s or "" for s in subjects) == sorted(f"n{index}" for index in range(40))
    finally:
        for engine in engines:
            await engine.close()


async def test_real_clock_sleeps_until_send_at(database_url: str) -> None:
    """With the wall clock, a draft due in 0.3 s is sent about then, well before the safety-net poll."""
    async with AsyncAgentInbox(database_url=database_url, default_domain="agents.test") as engine:
        me, you = await pair(engine)
        await engine.start()
        assert engine._scheduler is not None
        await asyncio.wait_for(engine._scheduler.idle(), timeout=30)
        loop = asyncio.get_running_loop()
        started = loop.time()
        await engine.inboxes.drafts.create(
            inbox_id=me.inbox_id,
            to=[you.inbox_id],
            subject="Soon",
            send_at=datetime.now(tz=UTC) + timedelta(seconds=0.3),
        )
        while not (await sent_messages(engine, me.inbox_id)):
            assert loop.time() - started < POLL_SECONDS - 1, "the scheduler did not wake at send_at"
            await asyncio.sleep(0.05)
        assert loop.time() - started >= 0.25


async def test_a_stale_sender_cannot_send_a_claimed_draft(
    client: AsyncAgentInbox, clock: ManualClock
) -> None:
    """A sender that read the draft before the scheduler claimed it gets a conflict, not a second send."""
    me, you = await pair(client)
    draft = await client.inboxes.drafts.create(
        inbox_id=me.inbox_id, to=[you.inbox_id], subject="Once", send_at=later(clock, 0)
    )
    ctx = await client._context()

    def race(conn: Any) -> None:
        stale = drafts_store.draft_row(conn, Scope(), draft.draft_id)
        now = clock.now()
        assert [r.draft_id for r in drafts_store.claim_due(conn, now=now, lease_until=now + 1, limit=5)] == [
            draft.draft_id
        ]
        with expect(ConflictError, "conflict"):
            drafts_store.take_for_sending(conn, stale)

    await ctx.db.write(race)
    claimed = await client.inboxes.drafts.get(inbox_id=me.inbox_id, draft_id=draft.draft_id)
    assert claimed.send_status == "sending"
    with expect(ConflictError, "conflict"):
        await client.inboxes.drafts.send(inbox_id=me.inbox_id, draft_id=draft.draft_id)
