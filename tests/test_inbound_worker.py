"""The inbound worker: queued mail is stored in batches, exactly once, and a bad message holds back no other.

Messages are queued as the SMTP receiver queues them (``inbound_queue.enqueue``), then the worker is started
and awaited until idle.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select

from agentinbox import AsyncAgentInbox
from agentinbox._clock import ManualClock
from agentinbox.pipeline import inbound_worker
from agentinbox.store import inbound_queue
from agentinbox.store.tables import events
from agentinbox.store.tables import inbound_queue as queue_table

INBOX = "desk@agents.test"


def mail(n: int, *, in_reply_to: int | None = None, body: str = "Hello") -> bytes:
    reply = f"In-Reply-To: <m{in_reply_to}@example.com>\r\n" if in_reply_to is not None else ""
    return (
        f"From: Carol <carol{n}@example.com>\r\nTo: {INBOX}\r\nSubject: Note {n}\r\n"
        f"Message-ID: <m{n}@example.com>\r\n{reply}\r\n{body} {n}\r\n"
    ).encode()


@pytest.fixture
async def engine(database_url: str, clock: ManualClock) -> AsyncIterator[AsyncAgentInbox]:
    client = AsyncAgentInbox(database_url=database_url, default_domain="agents.test", clock=clock)
    await client.inboxes.create(username="desk")
    yield client
    await client.close()


async def enqueue(client: AsyncAgentInbox, raw: bytes, rcpt_to: list[str] | None = None) -> int:
    ctx = await client._context()
    return await ctx.db.write(
        inbound_queue.enqueue, raw, mail_from="c@example.com", rcpt_to=rcpt_to or [INBOX], now=ctx.clock.now()
    )


async def run_worker(client: AsyncAgentInbox) -> None:
    """Start the worker (or wake it) and wait until it has nothing left to do."""
    if client._receiving is None:
        await client.start()
    else:
        client._receiving.worker.wake()
    assert client._receiving is not None
    await client._receiving.worker.idle()


async def queue_rows(client: AsyncAgentInbox) -> list[Any]:
    ctx = await client._context()
    return await ctx.db.read(lambda conn: conn.execute(select(queue_table).order_by(queue_table.c.id)).all())


async def stored_ids(client: AsyncAgentInbox) -> set[str]:
    found: set[str] = set()
    token = None
    while True:
        page = await client.inboxes.messages.list(inbox_id=INBOX, limit=100, page_token=token)
        found.update(m.message_id for m in page.messages)
        token = page.next_page_token
        if token is None:
            return found


async def test_more_than_a_batch_is_stored_once_each_with_threads_and_events(engine: AsyncAgentInbox) -> None:
    count = inbound_worker._BATCH * 2 + 5
    for n in range(count):
        # Every fifth message replies to the one before it, usually inside the same batch.
        await enqueue(engine, mail(n, in_reply_to=n - 1 if n % 5 == 4 else None))
    await enqueue(engine, mail(7))  # the same message accepted twice
    await run_worker(engine)
    assert await queue_rows(engine) == []
    assert await stored_ids(engine) == {f"<m{n}@example.com>" for n in range(count)}
    reply = await engine.inboxes.messages.get(inbox_id=INBOX, message_id="<m9@example.com>")
    original = await engine.inboxes.messages.get(inbox_id=INBOX, message_id="<m8@example.com>")
    assert reply.thread_id == original.thread_id
    thread = await engine.threads.get(thread_id=reply.thread_id)
    assert thread.message_count == 2
    ctx = await engine._context()
    received = await ctx.db.read(
        lambda conn: conn.execute(
            select(events.c.message_id).where(events.c.event_type == "message.received")
        ).all()
    )
    assert len(received) == count


async def test_a_poison_message_is_postponed_with_backoff_and_the_rest_of_its_batch_is_stored(
    engine: AsyncAgentInbox, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = inbound_worker.store_received

    def store_received(conn: Any, prepared: Any, *args: Any, **kwargs: Any) -> Any:
        if b"poison" in prepared.raw:
            raise RuntimeError("bug while storing")
        return real(conn, prepared, *args, **kwargs)

    monkeypatch.setattr(inbound_worker, "store_received", store_received)
    for n in range(5):
        await enqueue(engine, mail(n, body="poison" if n == 2 else "Hello"))
    await run_worker(engine)
    assert await stored_ids(engine) == {
        "<m0@example.com>",
        "<m1@example.com>",
        "<m3@example.com>",
        "<m4@example.com>",
    }
    (row,) = await queue_rows(engine)
    assert row.attempts == 1 and "bug while storing" in row.last_error
    assert row.next_attempt_at == clock.now() + inbound_worker._FIRST_RETRY_SECONDS * 1_000_000

    # Not due yet: nothing happens. Due and failing again: the delay doubles.
    clock.advance(inbound_worker._FIRST_RETRY_SECONDS - 1)
    await run_worker(engine)
    assert (await queue_rows(engine))[0].attempts == 1
    clock.advance(1)
    await run_worker(engine)
    (row,) = await queue_rows(engine)
    assert row.attempts == 2
    assert row.next_attempt_at == clock.now() + 2 * inbound_worker._FIRST_RETRY_SECONDS * 1_000_000

    monkeypatch.undo()
    clock.advance(2 * inbound_worker._FIRST_RETRY_SECONDS)
    await run_worker(engine)
    assert await queue_rows(engine) == []
    assert "<m2@example.com>" in await stored_ids(engine)


async def test_a_batch_whose_transaction_fails_is_stored_one_by_one(
    engine: AsyncAgentInbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An error fails the batch's transaction as a whole; the batch is then stored one message per
    transaction, where only the bad message is postponed."""
    real = inbound_worker.store_received
    seen: list[int] = []

    def store_received(conn: Any, prepared: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(len(prepared.raw))
        if b"poison" in prepared.raw:
            raise ValueError("duplicate key")
        return real(conn, prepared, *args, **kwargs)

    monkeypatch.setattr(inbound_worker, "store_received", store_received)
    for n in range(4):
        await enqueue(engine, mail(n, body="poison" if n == 1 else "Hello"))
    await run_worker(engine)
    assert await stored_ids(engine) == {"<m0@example.com>", "<m2@example.com>", "<m3@example.com>"}
    (row,) = await queue_rows(engine)
    assert row.attempts == 1 and "duplicate key" in row.last_error
    assert len(seen) > 4  # the batch was tried whole first


async def test_a_message_that_cannot_be_parsed_waits_and_the_others_go_on(
    engine: AsyncAgentInbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = inbound_worker.prepare

    def prepare(raw: bytes) -> Any:
        if b"poison" in raw:
            raise ValueError("parser bug")
        return real(raw)

    monkeypatch.setattr(inbound_worker, "prepare", prepare)
    for n in range(3):
        await enqueue(engine, mail(n, body="poison" if n == 0 else "Hello"))
    await run_worker(engine)
    assert await stored_ids(engine) == {"<m1@example.com>", "<m2@example.com>"}
    (row,) = await queue_rows(engine)
    assert row.attempts == 1 and "parser bug" in row.last_error


async def test_mail_for_an_inbox_deleted_since_it_was_accepted_is_dequeued_unstored(
    engine: AsyncAgentInbox,
) -> None:
    other = await engine.inboxes.create(username="gone")
    await enqueue(engine, mail(1), rcpt_to=[other.inbox_id, INBOX])
    await enqueue(engine, mail(2), rcpt_to=[other.inbox_id])
    await engine.inboxes.delete(inbox_id=other.inbox_id)
    await run_worker(engine)
    assert await queue_rows(engine) == []
    assert await stored_ids(engine) == {"<m1@example.com>"}


async def test_a_stale_batch_never_takes_a_message_queued_after_it_was_read(
    engine: AsyncAgentInbox, database_url: str
) -> None:
    """Two workers read the same queue row; one stores it, then a new message is queued. The other worker's
    stale batch must leave the new message queued (queue ids are never reused, and a take also matches the
    message's key and arrival time)."""
    ctx = await engine._context()
    await enqueue(engine, mail(1))
    stale = await ctx.db.read(inbound_worker._load_due, now=ctx.clock.now(), limit=10)
    fresh = await ctx.db.read(inbound_worker._load_due, now=ctx.clock.now(), limit=10)
    for batch in (fresh, stale):
        inbound_worker._prepare_all(batch)
    await ctx.db.write(inbound_worker._store_batch, fresh, clock=ctx.clock, subject_window=0)
    new_id = await enqueue(engine, mail(2))
    assert new_id != stale[0].queue_id  # SQLite without AUTOINCREMENT would hand out the freed id again
    await ctx.db.write(inbound_worker._store_batch, stale, clock=ctx.clock, subject_window=0)
    assert [row.id for row in await queue_rows(engine)] == [new_id]
    await run_worker(engine)
    assert await stored_ids(engine) == {"<m1@example.com>", "<m2@example.com>"}
