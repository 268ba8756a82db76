"""In-process events: hooks, subscriptions and wait_for_message see committed events at once, in order,
with the reference's payload shapes (§9.3), for mail delivered in-process, sent locally and received over SMTP."""

from __future__ import annotations

import asyncio
import threading
import time
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import aiosmtplib
import pytest
from helpers import serving

from agentinbox import AgentInbox, AsyncAgentInbox, ValidationError
from agentinbox._clock import ManualClock
from agentinbox.errors import WaitTimeoutError
from agentinbox.models import (
    MessageDeliveredEvent,
    MessageReceivedEvent,
    MessageSentEvent,
)

RECEIPT_KEYS = {"inbox_id", "thread_id", "message_id", "timestamp", "recipients"}


def raw(to: str, subject: str = "Hello", body: str = "Hi there\n", message_id: str | None = None) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Carol <carol@example.com>"
    msg["To"] = to
    msg["Subject"] = subject
    if message_id:
        msg["Message-ID"] = message_id
    msg.set_content(body)
    return bytes(msg)


async def until(predicate: Any, within: float = 5.0) -> None:
    """Wait until ``predicate()`` is true; fail after ``within`` seconds."""
    deadline = time.monotonic() + within
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting"
        await asyncio.sleep(0.005)


async def test_a_hook_gets_delivered_mail_with_the_reference_shape(client: AsyncAgentInbox) -> None:
    inbox = await client.inboxes.create(username="desk")
    seen: list[Any] = []

    @client.on("message.received")
    async def handler(event: Any) -> None:
        seen.append(event)

    [stored] = await client.deliver(raw("desk@agents.test", body="Can we meet?\n"))
    await until(lambda: len(seen) == 1)
    event = seen[0]
    assert isinstance(event, MessageReceivedEvent)
    assert event.message.message_id == stored.message_id and event.message.inbox_id == inbox.inbox_id
    body = event.model_dump(mode="json")
    assert {"type", "event_type", "event_id", "message", "thread"} <= set(body)
    assert body["type"] == "event" and body["event_type"] == "message.received"
    assert body["event_id"].startswith("evt_")
    assert {"from", "to", "text", "extracted_text", "labels", "timestamp"} <= set(body["message"])
    assert body["message"]["text"].startswith("Can we meet?") and "from_" not in body["message"]
    thread = body["thread"]
    assert thread["thread_id"] == stored.thread_id and thread["message_count"] == 1
    assert thread["last_message_id"] == stored.message_id and "received" in thread["labels"]
    assert event.message == stored


async def test_local_send_gives_sent_received_and_delivered_in_order(client: AsyncAgentInbox) -> None:
    sender = await client.inboxes.create(username="ann")
    receiver = await client.inboxes.create(username="bob")
    stream = client.events.subscribe()
    sent = await client.inboxes.messages.send(
        inbox_id=sender.inbox_id, to=[receiver.inbox_id], subject="Ping", text="ping"
    )
    got: list[Any] = []
    async for event in stream:
        got.append(event)
        if len(got) == 3:
            break
    assert [e.event_type for e in got] == ["message.sent", "message.received", "message.delivered"]
    send, received, delivered = got
    assert isinstance(send, MessageSentEvent) and isinstance(delivered, MessageDeliveredEvent)
    assert set(send.model_dump(mode="json")["send"]) == RECEIPT_KEYS
    assert set(delivered.model_dump(mode="json")["delivery"]) == RECEIPT_KEYS
    assert send.send.inbox_id == sender.inbox_id and send.send.thread_id == sent.thread_id
    assert send.send.recipients == [receiver.inbox_id] and delivered.delivery.recipients == [
        receiver.inbox_id
    ]
    assert received.message.inbox_id == receiver.inbox_id and received.message.subject == "Ping"
    assert len({e.event_id for e in got}) == 3


async def test_filters_by_type_inbox_and_pod(client: AsyncAgentInbox) -> None:
    pod = await client.pods.create(name="team")
    desk = await client.inboxes.create(username="desk")
    other = await client.inboxes.create(username="other")
    in_pod = await client.pods.inboxes.create(pod_id=pod.pod_id, username="podded")
    by_inbox: list[Any] = []
    by_pod: list[Any] = []
    sent_only: list[Any] = []
    client.on("message.received", inbox_ids=[desk.inbox_id])(by_inbox.append)
    client.on(pod_ids=pod.pod_id)(by_pod.append)
    client.on(["message.sent"])(sent_only.append)
    everything = client.events.subscribe()
    await client.deliver(raw(f"{other.inbox_id}", subject="other"))
    await client.deliver(raw(f"{in_pod.inbox_id}", subject="podded"))
    await client.deliver(raw(f"{desk.inbox_id}", subject="desk"))
    await client.inboxes.messages.send(inbox_id=other.inbox_id, to=["someone@example.com"], text="out")
    count = 0
    async for _ in everything:
        count += 1
        if count == 4:
            break
    await until(lambda: len(by_inbox) == 1 and len(by_pod) == 1 and len(sent_only) == 1)
    await asyncio.sleep(0.05)
    assert [e.message.subject for e in by_inbox] == ["desk"]
    assert [e.message.subject for e in by_pod] == ["podded"]
    assert [e.event_type for e in sent_only] == ["message.sent"]
    with pytest.raises(ValidationError):
        client.on("message.arrived")
    with pytest.raises(ValidationError):
        client.events.subscribe(event_types=["message.recieved"])


async def test_sync_and_failing_and_slow_handlers(client: AsyncAgentInbox, caplog: Any) -> None:
    await client.inboxes.create(username="desk")
    loop_thread = threading.current_thread()
    sync_threads: list[threading.Thread] = []
    after_failure: list[str] = []
    fast: list[float] = []
    release = asyncio.Event()

    @client.on("message.received")
    def sync_handler(event: MessageReceivedEvent) -> None:
        sync_threads.append(threading.current_thread())

    @client.on("message.received")
    async def failing(event: MessageReceivedEvent) -> None:
        if event.message.subject == "first":
            raise RuntimeError("handler bug")
        after_failure.append(event.message.subject or "")

    @client.on("message.received")
    async def slow(event: MessageReceivedEvent) -> None:
        await release.wait()

    @client.on("message.received")
    async def quick(event: MessageReceivedEvent) -> None:
        fast.append(time.monotonic())

    started = time.monotonic()
    await client.deliver(raw("desk@agents.test", subject="first"))
    await client.deliver(raw("desk@agents.test", subject="second"))
    await until(lambda: len(fast) == 2 and after_failure == ["second"] and len(sync_threads) == 2)
    # The slow handler is still waiting on its first event: neither the others nor delivery waited for it.
    assert not release.is_set() and fast[-1] - started < 2.0
    assert all(t is not loop_thread for t in sync_threads)
    assert any("handler bug" in r.getMessage() or r.exc_info for r in caplog.records)
    release.set()


async def test_wait_for_message(client: AsyncAgentInbox) -> None:
    desk = await client.inboxes.create(username="desk")
    await client.inboxes.create(username="other")
    [first] = await client.deliver(raw("desk@agents.test", subject="Start", message_id="<start@example.com>"))
    waiting = asyncio.create_task(
        client.wait_for_message(inbox_id=desk.inbox_id, thread_id=first.thread_id, timeout=5)
    )
    await asyncio.sleep(0.01)
    await client.deliver(raw("other@agents.test", subject="Not this"))
    await client.deliver(raw("desk@agents.test", subject="Nor this, a new thread"))
    reply = raw("desk@agents.test", subject="Re: Start")
    reply = reply.replace(b"Subject:", b"In-Reply-To: <start@example.com>\nSubject:", 1)
    [answer] = await client.deliver(reply)
    got = await waiting
    assert got.message_id == answer.message_id and got.thread_id == first.thread_id
    started = time.monotonic()
    with pytest.raises(WaitTimeoutError) as caught:
        await client.wait_for_message(inbox_id=desk.inbox_id, timeout=0.05)
    assert isinstance(caught.value, TimeoutError) and caught.value.code == "timeout"
    assert time.monotonic() - started < 1.0
    with pytest.raises(ValidationError):
        await client.wait_for_message(inbox_id=desk.inbox_id, timeout=-1)


async def test_hooks_fire_for_mail_received_over_smtp(database_url: str, clock: ManualClock) -> None:
    async with serving(database_url, clock, "desk", smtp_listen="127.0.0.1:0") as server:
        seen: list[MessageReceivedEvent] = []
        server.on("message.received", inbox_ids="desk@agents.test")(seen.append)
        waiting = asyncio.create_task(server.wait_for_message(inbox_id="desk@agents.test", timeout=10))
        await asyncio.sleep(0.01)
        host, port = server.smtp_address or ("", 0)
        errors, _ = await aiosmtplib.send(
            raw("desk@agents.test", subject="Over SMTP"),
            sender="carol@example.com",
            recipients=["desk@agents.test"],
            hostname=host,
            port=port,
        )
        assert errors == {}
        message = await waiting
        assert message.subject == "Over SMTP"
        await until(lambda: len(seen) == 1)
        assert seen[0].message.message_id == message.message_id


def test_the_sync_client(tmp_path: Path) -> None:
    with AgentInbox(database_url=f"sqlite:///{tmp_path / 'sync.db'}", default_domain="agents.test") as client:
        inbox = client.inboxes.create(username="desk")
        fetched: list[str] = []
        done = threading.Event()

        @client.on("message.received", inbox_ids=[inbox.inbox_id])
        def handler(event: MessageReceivedEvent) -> None:
            # A sync handler may call the sync client: it runs in a worker thread, not on the loop.
            got = client.inboxes.messages.get(inbox_id=inbox.inbox_id, message_id=event.message.message_id)
            fetched.append(got.subject or "")
            done.set()

        with client.events.subscribe(event_types="message.received", timeout=5) as stream:
            result: list[Any] = []
            waiter = threading.Thread(
                target=lambda: result.append(client.wait_for_message(inbox_id=inbox.inbox_id, timeout=5))
            )
            waiter.start()
            time.sleep(0.05)
            client.deliver(raw("desk@agents.test", subject="Sync"))
            event = next(stream)
            waiter.join()
        assert event.message.subject == "Sync" and result[0].subject == "Sync"
        assert done.wait(5) and fetched == ["Sync"]
        with pytest.raises(WaitTimeoutError):
            client.wait_for_message(inbox_id=inbox.inbox_id, timeout=0.05)
