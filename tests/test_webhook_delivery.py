"""Webhook delivery: real calls to an HTTP receiver on loopback, verified with the ``svix`` library.

Engines run with a ManualClock that starts at the real time (receivers reject signatures whose timestamp is
more than five minutes off); retry tests move it through the Svix schedule, wake the dispatcher and wait
until it is idle, so nothing sleeps.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from svix.webhooks import Webhook as SvixWebhook
from svix.webhooks import WebhookVerificationError

from agentinbox import AsyncAgentInbox
from agentinbox._clock import ManualClock
from agentinbox.events.signing import signature
from agentinbox.events.webhooks import RETRY_DELAYS
from agentinbox.store import webhooks as store


@dataclass
class Request:
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A tiny HTTP/1.1 server on 127.0.0.1 that records requests and answers with scripted statuses."""

    statuses: list[int] = field(default_factory=list)
    hang: bool = False
    requests: list[Request] = field(default_factory=list)
    arrived: asyncio.Queue[Request] = field(default_factory=asyncio.Queue)
    _server: asyncio.Server | None = None
    _writers: list[asyncio.StreamWriter] = field(default_factory=list)

    async def start(self) -> Receiver:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return self

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}/hook?x=1"

    async def next(self) -> Request:
        return await asyncio.wait_for(self.arrived.get(), 10)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.append(writer)
        try:
            await reader.readline()
            headers: dict[str, str] = {}
            while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            request = Request(headers, body)
            self.requests.append(request)
            self.arrived.put_nowait(request)
            if self.hang:
                await reader.read()  # until the caller gives up and closes
                return
            status = self.statuses.pop(0) if self.statuses else 200
            answer = b"nope" if status >= 300 else b"ok"
            writer.write(
                f"HTTP/1.1 {status} X\r\ncontent-length: {len(answer)}\r\nconnection: close\r\n\r\n".encode()
                + answer
            )
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.close()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    server = await Receiver().start()
    yield server
    await server.stop()


@pytest.fixture
def now_clock() -> ManualClock:
    return ManualClock()


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def engine(database_url: str, clock: ManualClock, **settings: Any) -> AsyncAgentInbox:
    settings.setdefault("webhook_allow_private", True)
    return AsyncAgentInbox(database_url=database_url, default_domain="agents.test", clock=clock, **settings)


def mail(to: str, subject: str = "hello") -> bytes:
    return (
        f"From: Ann <ann@example.org>\r\nTo: {to}\r\nSubject: {subject}\r\n"
        f"Message-ID: <{subject.replace(' ', '.')}@example.org>\r\n\r\nHi there.\r\n"
    ).encode()


async def settle(client: AsyncAgentInbox, clock: ManualClock | None = None, seconds: float = 0) -> None:
    """Move the clock on, wake the dispatcher and wait until nothing is due or in flight."""
    if clock is not None:
        clock.advance(seconds)
    dispatcher = client._webhook_dispatcher
    assert dispatcher is not None
    dispatcher.wake()
    await asyncio.wait_for(dispatcher.idle(), timeout=30)


async def deliveries(client: AsyncAgentInbox, webhook_id: str) -> list[Any]:
    ctx = await client._context()
    return await ctx.db.read(store.deliveries_of, webhook_id)


async def attempts(client: AsyncAgentInbox, delivery_id: int) -> list[Any]:
    ctx = await client._context()
    return await ctx.db.read(store.attempts_of, delivery_id)


def test_signature_matches_the_published_vector() -> None:
    assert (
        signature(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            b'{"test": 2432232314}',
        )
        == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    )


async def test_received_mail_is_posted_signed(
    database_url: str, now_clock: ManualClock, receiver: Receiver
) -> None:
    async with engine(database_url, now_clock) as client:
        inbox = await client.inboxes.create(username="support")
        hook = await client.webhooks.create(
            url=receiver.url, event_types=["message.received"], headers={"X-Tenant": "acme"}
        )
        await client.start()
        subscription = client.events.subscribe("message.received")
        [message] = await client.deliver(mail(inbox.inbox_id), rcpt_to=[inbox.inbox_id])
        request = await receiver.next()
        event = await asyncio.wait_for(anext(aiter(subscription)), 10)
        subscription.close()

        SvixWebhook(hook.secret).verify(request.body, request.headers)
        with pytest.raises(WebhookVerificationError):
            SvixWebhook(hook.secret).verify(request.body.replace(b"Hi there", b"Hi thera"), request.headers)
        other = await client.webhooks.create(url=receiver.url + "&other", event_types=["message.sent"])
        with pytest.raises(WebhookVerificationError):
            SvixWebhook(other.secret).verify(request.body, request.headers)

        body = json.loads(request.body)
        assert body == event.model_dump(mode="json", exclude_none=True)
        assert body["type"] == "event" and body["event_type"] == "message.received"
        assert body["message"]["message_id"] == message.message_id
        assert request.headers["svix-id"] == body["event_id"]
        assert request.headers["content-type"] == "application/json"
        assert request.headers["x-tenant"] == "acme"
        assert abs(int(request.headers["svix-timestamp"]) - now_clock.now() // 1_000_000) <= 1

        await settle(client)
        [row] = await deliveries(client, hook.webhook_id)
        assert (row.status, row.attempts, row.event_id) == ("succeeded", 1, body["event_id"])
        [attempt] = await attempts(client, row.id)
        assert (attempt.status_code, attempt.error) == (200, None)
        assert await deliveries(client, other.webhook_id) == []


async def test_failed_call_is_retried_on_schedule(
    database_url: str, now_clock: ManualClock, receiver: Receiver
) -> None:
    receiver.statuses = [500, 503]
    async with engine(database_url, now_clock) as client:
        inbox = await client.inboxes.create(username="support")
        hook = await client.webhooks.create(url=receiver.url, event_types=["message.received"])
        await client.start()
        await client.deliver(mail(inbox.inbox_id), rcpt_to=[inbox.inbox_id])
        first = await receiver.next()
        await settle(client)
        [row] = await deliveries(client, hook.webhook_id)
        assert (row.status, row.attempts) == ("pending", 1)
        assert row.last_error == "HTTP 500: nope"

        await settle(client, now_clock, RETRY_DELAYS[0] - 1)
        assert len(receiver.requests) == 1, "not before its time"
        await settle(client, now_clock, 1)
        second = await receiver.next()
        await settle(client)
        await settle(client, now_clock, RETRY_DELAYS[1])
        third = await receiver.next()
        await settle(client)

        assert first.headers["svix-id"] == second.headers["svix-id"] == third.headers["svix-id"]
        assert first.body == second.body == third.body
        [row] = await deliveries(client, hook.webhook_id)
        assert (row.status, row.attempts) == ("succeeded", 3)
        tries = await attempts(client, row.id)
        assert [a.status_code for a in tries] == [500, 503, 200]
        assert [a.attempted_at for a in tries] == sorted(a.attempted_at for a in tries)
        ctx = await client._context()
        assert (await ctx.db.read(store.dispatch_state)) == (True, None)


async def test_timeout_and_refused_connection_are_recorded(
    database_url: str, now_clock: ManualClock, receiver: Receiver
) -> None:
    receiver.hang = True
    async with engine(database_url, now_clock, webhook_timeout=0.3) as client:
        inbox = await client.inboxes.create(username="support")
        slow = await client.webhooks.create(url=receiver.url, event_types=["message.received"])
        gone = await client.webhooks.create(url=closed_port_url(), event_types=["message.received"])
        await client.start()
        await client.deliver(mail(inbox.inbox_id), rcpt_to=[inbox.inbox_id])
        await receiver.next()
        await settle(client)
        [slow_row] = await deliveries(client, slow.webhook_id)
        [slow_try] = await attempts(client, slow_row.id)
        assert slow_try.status_code is None and slow_try.duration_ms >= 250
        assert "no answer within 0.3 s" in slow_try.error
        [gone_row] = await deliveries(client, gone.webhook_id)
        [gone_try] = await attempts(client, gone_row.id)
        assert gone_try.status_code is None and "Connect" in gone_try.error
        assert slow_row.status == gone_row.status == "pending"


async def test_a_hanging_target_does_not_hold_up_others(
    database_url: str, now_clock: ManualClock, receiver: Receiver
) -> None:
    receiver.hang = True
    good = await Receiver().start()
    try:
        async with engine(database_url, now_clock, webhook_concurrency=2, webhook_timeout=30) as client:
            inbox = await client.inboxes.create(username="support")
            await client.webhooks.create(url=receiver.url, event_types=["message.received"])
            await client.webhooks.create(url=good.url, event_types=["message.received"])
            await client.start()
            for index in range(3):
                await client.deliver(mail(inbox.inbox_id, f"m{index}"), rcpt_to=[inbox.inbox_id])
            for _ in range(3):
                await good.next()  # all three arrive while the other target holds its call open
            assert len(receiver.requests) == 1, "one webhook gets at most half of the slots"
            assert len(good.requests) == 3
            await receiver.stop()  # the hanging call ends (connection closed) before the engine closes
    finally:
        await good.stop()


async def test_gives_up_after_the_schedule(database_url: str, now_clock: ManualClock) -> None:
    async with engine(database_url, now_clock) as client:
        inbox = await client.inboxes.create(username="support")
        hook = await client.webhooks.create(url=closed_port_url(), event_types=["message.received"])
        await client.start()
        await client.deliver(mail(inbox.inbox_id), rcpt_to=[inbox.inbox_id])
        await settle(client)
        for delay in RETRY_DELAYS:
            await settle(client, now_clock, delay)
        await settle(client, now_clock, 24 * 3600)
        [row] = await deliveries(client, hook.webhook_id)
        assert (row.status, row.attempts) == ("failed", len(RETRY_DELAYS) + 1)
        assert len(await attempts(client, row.id)) == len(RETRY_DELAYS) + 1
        assert (await client.webhooks.get(webhook_id=hook.webhook_id)).enabled


async def test_disabled_after_failures_and_enabled_again(
    database_url: str, now_clock: ManualClock, receiver: Receiver
) -> None:
    async with engine(database_url, now_clock, webhook_disable_after=3) as client:
        inbox = await client.inboxes.create(username="support")
        hook = await client.webhooks.create(url=closed_port_url(), event_types=["message.received"])
        await client.start()
        await client.deliver(mail(inbox.inbox_id, "one"), rcpt_to=[inbox.inbox_id])
        await client.deliver(mail(inbox.inbox_id, "two"), rcpt_to=[inbox.inbox_id])
        await settle(client)  # two failures
        await client.deliver(mail(inbox.inbox_id, "three"), rcpt_to=[inbox.inbox_id])
        await settle(client)  # the third disables it
        assert not (await client.webhooks.get(webhook_id=hook.webhook_id)).enabled
        rows = await deliveries(client, hook.webhook_id)
        assert [r.status for r in rows] == ["failed"] * 3
        assert any("disabled" in (r.last_error or "") for r in rows)

        await client.deliver(mail(inbox.inbox_id, "while disabled"), rcpt_to=[inbox.inbox_id])
        await settle(client, now_clock, 3600)
        assert len(await deliveries(client, hook.webhook_id)) == 3, "nothing queued while disabled"

        # Re-enabled (pointing at a working receiver through a new webhook's URL is not possible: the URL is
        # fixed), the failure count starts again from zero.
        again = await client.webhooks.update(webhook_id=hook.webhook_id, enabled=True)
        assert again.enabled
        await client.deliver(mail(inbox.inbox_id, "four"), rcpt_to=[inbox.inbox_id])
        await settle(client)
        rows = await deliveries(client, hook.webhook_id)
        assert len(rows) == 4 and rows[-1].status == "pending"
        assert (await client.webhooks.get(webhook_id=hook.webhook_id)).enabled


async def test_private_target_refused_at_send_time(
    database_url: str, now_clock: ManualClock, receiver: Receiver
) -> None:
    async with engine(database_url, now_clock) as client:
        inbox = await client.inboxes.create(username="support")
        hook = await client.webhooks.create(url=receiver.url, event_types=["message.received"])
    async with engine(database_url, now_clock, webhook_allow_private=False) as client:
        await client.start()
        await client.deliver(mail(inbox.inbox_id), rcpt_to=[inbox.inbox_id])
        await settle(client)
        [row] = await deliveries(client, hook.webhook_id)
        [attempt] = await attempts(client, row.id)
        assert attempt.status_code is None
        assert "refused" in attempt.error and "127.0.0.1" in attempt.error
        assert receiver.requests == []


async def test_scoped_webhooks_get_their_events_only(database_url: str, now_clock: ManualClock) -> None:
    async with engine(database_url, now_clock) as client:
        pod = await client.pods.create(name="tenant")
        in_pod = await client.pods.inboxes.create(pod_id=pod.pod_id, username="p1")
        in_pod2 = await client.pods.inboxes.create(pod_id=pod.pod_id, username="p2")
        a = await client.inboxes.create(username="a")
        b = await client.inboxes.create(username="b")
        url = "http://127.0.0.1:9/"
        received = ["message.received"]
        everything = await client.webhooks.create(url=url, event_types=received)
        only_b = await client.webhooks.create(url=url, event_types=received, inbox_ids=[b.inbox_id])
        only_pod = await client.webhooks.create(url=url, event_types=received, pod_ids=[pod.pod_id])
        of_a = await client.inboxes.webhooks.create(inbox_id=a.inbox_id, url=url, event_types=received)
        of_pod = await client.pods.webhooks.create(pod_id=pod.pod_id, url=url, event_types=received)
        of_pod2 = await client.pods.webhooks.create(
            pod_id=pod.pod_id, url=url, event_types=received, inbox_ids=[in_pod2.inbox_id]
        )
        sent_only = await client.webhooks.create(url=url, event_types=["message.sent"])
        for inbox in (a, b, in_pod, in_pod2):
            await client.deliver(mail(inbox.inbox_id, inbox.inbox_id), rcpt_to=[inbox.inbox_id])

        async def inboxes_of(webhook_id: str) -> set[str]:
            rows = await deliveries(client, webhook_id)
            ctx = await client._context()
            found = set()
            for row in rows:
                event = await ctx.db.read(_event_inbox, row.event_pk)
                found.add(event)
            return found

        assert await inboxes_of(everything.webhook_id) == {
            a.inbox_id,
            b.inbox_id,
            in_pod.inbox_id,
            in_pod2.inbox_id,
        }
        assert await inboxes_of(only_b.webhook_id) == {b.inbox_id}
        assert await inboxes_of(only_pod.webhook_id) == {in_pod.inbox_id, in_pod2.inbox_id}
        assert await inboxes_of(of_a.webhook_id) == {a.inbox_id}
        assert await inboxes_of(of_pod.webhook_id) == {in_pod.inbox_id, in_pod2.inbox_id}
        assert await inboxes_of(of_pod2.webhook_id) == {in_pod2.inbox_id}
        assert await inboxes_of(sent_only.webhook_id) == set()

        # A webhook created now gets only later events; a disabled one gets none.
        later = await client.webhooks.create(url=url, event_types=received)
        await client.webhooks.update(webhook_id=only_b.webhook_id, enabled=False)
        await client.deliver(mail(b.inbox_id, "again"), rcpt_to=[b.inbox_id])
        assert len(await deliveries(client, later.webhook_id)) == 1
        assert [r.status for r in await deliveries(client, only_b.webhook_id)] == ["failed"]


def _event_inbox(conn: Any, event_pk: int) -> str:
    from sqlalchemy import select

    from agentinbox.store.tables import events

    return str(conn.execute(select(events.c.inbox_id).where(events.c.id == event_pk)).scalar_one())


async def test_delete_stops_deliveries(database_url: str, now_clock: ManualClock, receiver: Receiver) -> None:
    receiver.statuses = [500]
    async with engine(database_url, now_clock) as client:
        inbox = await client.inboxes.create(username="support")
        hook = await client.webhooks.create(url=receiver.url, event_types=["message.received"])
        await client.start()
        await client.deliver(mail(inbox.inbox_id), rcpt_to=[inbox.inbox_id])
        await receiver.next()
        await settle(client)
        await client.webhooks.delete(webhook_id=hook.webhook_id)
        assert await deliveries(client, hook.webhook_id) == []
        await client.deliver(mail(inbox.inbox_id, "later"), rcpt_to=[inbox.inbox_id])
        await settle(client, now_clock, 3600)
        assert len(receiver.requests) == 1


async def test_two_dispatchers_call_each_event_once(
    database_url: str, now_clock: ManualClock, receiver: Receiver
) -> None:
    count = 20
    async with engine(database_url, now_clock) as one, engine(database_url, now_clock) as two:
        inbox = await one.inboxes.create(username="support")
        hook = await one.webhooks.create(url=receiver.url, event_types=["message.received"])
        await one.start()
        await two.start()
        for index in range(count):
            await one.deliver(mail(inbox.inbox_id, f"m{index}"), rcpt_to=[inbox.inbox_id])
        ids = [(await receiver.next()).headers["svix-id"] for _ in range(count)]
        await settle(one)
        await settle(two)
        assert len(set(ids)) == count and len(receiver.requests) == count
        rows = await deliveries(one, hook.webhook_id)
        assert [r.status for r in rows] == ["succeeded"] * count
        assert all(r.attempts == 1 for r in rows)
