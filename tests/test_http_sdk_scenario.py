"""One whole AgentMail scenario through the official ``agentmail`` Python SDK against a served engine (HTTP API
and a real SMTP receiver), on SQLite and PostgreSQL: inboxes, sending, mail arriving over SMTP, threads,
labels, replies, forwards, drafts and a scheduled send, block lists, attachments by download link,
idempotency, and every event checked as it arrives by webhook (signatures verified with ``svix``) and over
the SDK's WebSocket client.

Outbound mail to outside addresses goes to a loopback SMTP peer (``relay_url``); steps wait on the engine's
own event stream rather than sleeping.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import make_msgid, parseaddr
from typing import Any

import aiosmtplib
import httpx
import pytest
from agentmail import AsyncAgentMail, SendAttachment, Subscribe, Subscribed
from agentmail.core.api_error import ApiError
from agentmail.errors import NotFoundError
from agentmail.inboxes import CreateInboxRequest
from http_api import Served, serving
from peers import Peer
from svix.webhooks import Webhook as SvixWebhook
from svix.webhooks import WebhookVerificationError

from agentinbox import AsyncAgentInbox
from agentinbox.models import Event, MessageDeliveredEvent, MessageReceivedEvent

DOMAIN = "agents.test"
AGENT = f"agent@{DOMAIN}"
PARTNER = f"partner@{DOMAIN}"
CAROL = "carol@outside.test"
DAVE = "dave@outside.test"
SPAMMER = "spammer@outside.test"
REPORT = b"quarter,revenue\nQ1,100\nQ2,140\n"
#: What the webhook and the WebSocket subscribe to.
WATCHED = ["message.received", "message.received.blocked", "message.sent", "message.delivered"]

#: The SDK's class for each watched event type.
SDK_EVENT_CLASS = {
    "message.received": "MessageReceivedEvent",
    "message.received.blocked": "MessageReceivedEvent",
    "message.sent": "MessageSentEvent",
    "message.delivered": "MessageDeliveredEvent",
}

pytestmark = [
    # The SDK's async WebSocket client is built on the legacy websockets API.
    pytest.mark.filterwarnings("ignore::DeprecationWarning:agentmail.*"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning:websockets.*"),
]


def _inbox_of(event: Event) -> str:
    if isinstance(event, MessageReceivedEvent):
        return event.message.inbox_id
    receipt = getattr(event, "send", None) or getattr(event, "delivery", None)
    return str(getattr(receipt, "inbox_id", ""))


class EventLog:
    """Every event the engine commits while the scenario runs, from its own subscription: what steps wait
    on, and the record the webhook and WebSocket deliveries are checked against."""

    def __init__(self, engine: AsyncAgentInbox) -> None:
        self.events: list[Event] = []
        self._changed = asyncio.Condition()
        self._subscription = engine.events.subscribe()
        self._task = asyncio.create_task(self._collect())

    async def _collect(self) -> None:
        async for event in self._subscription:
            async with self._changed:
                self.events.append(event)
                self._changed.notify_all()

    async def wait(self, event_type: str, inbox_id: str, subject: str | None = None) -> Event:
        """The first event of ``event_type`` in ``inbox_id`` (a received one with ``subject``)."""

        def matches(event: Event) -> bool:
            if event.event_type != event_type or _inbox_of(event) != inbox_id:
                return False
            return subject is None or (
                isinstance(event, MessageReceivedEvent) and event.message.subject == subject
            )

        return await self.first(matches)

    async def first(self, matches: Callable[[Event], bool]) -> Event:
        """The first event (already seen or still to come) that ``matches``."""

        def found() -> Event | None:
            return next((event for event in self.events if matches(event)), None)

        async with asyncio.timeout(20), self._changed:
            await self._changed.wait_for(lambda: found() is not None)
        event = found()
        assert event is not None
        return event

    def watched_since(self, index: int, inbox_ids: set[str]) -> list[Event]:
        return [e for e in self.events[index:] if e.event_type in WATCHED and _inbox_of(e) in inbox_ids]

    async def close(self) -> None:
        self._subscription.close()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


@dataclass
class Delivery:
    headers: dict[str, str]
    body: bytes


@dataclass
class WebhookReceiver:
    """A minimal HTTP/1.1 server on 127.0.0.1 that answers 200 to every POST and keeps what arrived."""

    deliveries: list[Delivery] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    _server: asyncio.Server | None = None

    async def start(self) -> WebhookReceiver:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return self

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}/agentmail/events"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readline()
            headers: dict[str, str] = {}
            while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            self.deliveries.append(Delivery(headers, body))
            self.arrived.set()
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def wait_for(self, event_ids: set[str]) -> dict[str, Delivery]:
        """The deliveries of ``event_ids`` (by the event id in their body), once all have come."""
        async with asyncio.timeout(20):
            while True:
                got = {json.loads(d.body)["event_id"]: d for d in self.deliveries}
                if event_ids <= got.keys():
                    return got
                self.arrived.clear()
                await self.arrived.wait()

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


class SocketFrames:
    """The frames of one SDK WebSocket connection, read in the background as the SDK types them."""

    def __init__(self, socket: Any) -> None:
        self.frames: list[Any] = []
        self._socket = socket
        self._arrived = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for frame in self._socket:
            self.frames.append(frame)
            self._arrived.set()

    async def wait_for(self, event_ids: set[str]) -> dict[str, Any]:
        async with asyncio.timeout(20):
            while True:
                got = {f.event_id: f for f in self.frames if getattr(f, "type", None) == "event"}
                if event_ids <= got.keys():
                    return got
                self._arrived.clear()
                await self._arrived.wait()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


@pytest.fixture
async def served(database_url: str, peer: Peer) -> AsyncIterator[Served]:
    async with serving(
        database_url,
        default_domain=DOMAIN,
        smtp_listen="127.0.0.1:0",
        relay_url=f"smtp://127.0.0.1:{peer.port}",
        webhook_allow_private=True,
    ) as running:
        yield running


async def smtp_in(served: Served, message: EmailMessage, recipients: list[str]) -> None:
    """Hand ``message`` to the engine's SMTP receiver as an outside mail server would."""
    address = served.engine.smtp_address
    assert address is not None
    await aiosmtplib.send(
        message,
        hostname=address[0],
        port=address[1],
        sender=str(message["From"]).rpartition("<")[2].rstrip(">"),
        recipients=recipients,
        start_tls=False,
    )


def outside_mail(sender: str, to: str, subject: str, text: str, *, cc: str | None = None) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    if cc:
        message["Cc"] = cc
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain="outside.test")
    message["Date"] = "Mon, 01 Jun 2026 10:00:00 +0000"
    message.set_content(text)
    return message


async def test_full_scenario_through_the_official_sdk(served: Served, peer: Peer) -> None:
    sdk: AsyncAgentMail = served.sdk()
    log = EventLog(served.engine)
    hooks = await WebhookReceiver().start()
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(log.close)
        stack.push_async_callback(hooks.stop)

        # Inboxes: create is idempotent on client_id (200 and the same inbox, not a conflict).
        request = CreateInboxRequest(username="agent", display_name="Agent", client_id="agent-v1")
        first = await sdk.inboxes.with_raw_response.create(request=request)
        again = await sdk.inboxes.with_raw_response.create(request=request)
        assert (first.status_code, again.status_code) == (200, 200)
        assert first.data.inbox_id == again.data.inbox_id == AGENT
        assert again.data.client_id == "agent-v1" and again.data.display_name == "Agent"
        partner = await sdk.inboxes.create(request=CreateInboxRequest(username="partner", client_id="p-1"))
        assert partner.inbox_id == PARTNER
        listed = await sdk.inboxes.list()
        assert {inbox.inbox_id for inbox in listed.inboxes} == {AGENT, PARTNER} and listed.count == 2

        # Webhook to a loopback receiver, and a WebSocket subscription, both watching the two inboxes.
        webhook = await sdk.webhooks.create(url=hooks.url, event_types=WATCHED, client_id="hook-1")
        assert webhook.secret.startswith("whsec_") and webhook.enabled
        assert (
            await sdk.webhooks.create(url=hooks.url, event_types=WATCHED, client_id="hook-1")
        ).webhook_id == (webhook.webhook_id)
        socket = await stack.enter_async_context(sdk.websockets.connect())
        await socket.send_subscribe(Subscribe(event_types=WATCHED, inbox_ids=[AGENT, PARTNER]))
        ack = await asyncio.wait_for(socket.recv(), 10)
        assert isinstance(ack, Subscribed) and ack.type == "subscribed"
        frames = SocketFrames(socket)
        frames.start()
        stack.push_async_callback(frames.stop)
        watched_from = len(log.events)

        # Send between inboxes, with an attachment and an Idempotency-Key: a retry sends nothing twice.
        attachment = SendAttachment(filename="numbers.csv", content=base64.b64encode(REPORT).decode())
        send = dict(to=[PARTNER], subject="Quarterly numbers", text="Numbers attached.", labels=["Project-X"])
        sent = await sdk.inboxes.messages.send(AGENT, **send, attachments=[attachment], idempotency_key="q-1")
        retried = await sdk.inboxes.messages.send(
            AGENT, **send, attachments=[attachment], idempotency_key="q-1"
        )
        assert (retried.message_id, retried.thread_id) == (sent.message_id, sent.thread_id)
        arrived = await log.wait("message.received", PARTNER, "Quarterly numbers")
        assert isinstance(arrived, MessageReceivedEvent)
        outbox = await sdk.inboxes.messages.list(AGENT, labels=["sent"])
        assert [m.message_id for m in outbox.messages] == [sent.message_id]
        assert set(outbox.messages[0].labels) >= {"sent", "project-x"}
        inbox = await sdk.inboxes.messages.list(PARTNER)
        assert [m.subject for m in inbox.messages] == ["Quarterly numbers"]

        # The attachment through its signed download_url, fetched without any credentials.
        got = await sdk.inboxes.messages.get(PARTNER, arrived.message.message_id)
        assert (
            got.from_ == f"Agent <{AGENT}>"
            and got.attachments
            and got.attachments[0].filename == "numbers.csv"
        )
        link = await sdk.inboxes.messages.get_attachment(
            PARTNER, got.message_id, got.attachments[0].attachment_id
        )
        assert link.size == len(REPORT) and link.expires_at > datetime.now(UTC)
        async with httpx.AsyncClient() as plain:
            download = await plain.get(link.download_url)
            assert download.status_code == 200 and download.content == REPORT
            tampered = await plain.get(link.download_url[:-4] + "AAAA")
            assert tampered.status_code == 404 and tampered.json()["name"] == "NotFoundError"
        by_thread = await sdk.inboxes.threads.get_attachment(
            PARTNER, got.thread_id, got.attachments[0].attachment_id
        )
        assert by_thread.filename == "numbers.csv" and by_thread.download_url

        # Mail arriving over SMTP from outside, to both inboxes (one copy each).
        question = outside_mail(
            f"Carol <{CAROL}>",
            AGENT,
            "Ship date",
            "Sounds good, ship it Friday.\n\n"
            "On Sun, 31 May 2026 at 09:00, Agent <agent@agents.test> wrote:\n> Can we ship Friday?\n",
            cc=f"{PARTNER}, {DAVE}",
        )
        await smtp_in(served, question, [AGENT, PARTNER])
        received = await log.wait("message.received", AGENT, "Ship date")
        await log.wait("message.received", PARTNER, "Ship date")
        assert isinstance(received, MessageReceivedEvent)
        carol_id = received.message.message_id
        assert carol_id == question["Message-ID"]

        # Threads listed with a labels filter (a JSON array on the wire), and the message read.
        unread = await sdk.inboxes.threads.list(AGENT, labels=["unread"])
        assert [t.subject for t in unread.threads] == ["Ship date"]
        assert unread.threads[0].senders and CAROL in unread.threads[0].senders[0]
        org_wide = await sdk.threads.list(labels=["unread", "received"])
        assert {t.inbox_id for t in org_wide.threads} == {AGENT, PARTNER}
        message = await sdk.inboxes.messages.get(AGENT, carol_id)
        assert message.from_ == f"Carol <{CAROL}>"
        assert message.to == [AGENT] and set(message.cc or []) == {PARTNER, DAVE}
        assert message.text is not None and "Can we ship Friday?" in message.text
        assert message.extracted_text is not None
        assert message.extracted_text.strip() == "Sounds good, ship it Friday."
        assert set(message.labels) >= {"received", "unread"}

        # Labels: removing unread marks it read; the unread filter no longer finds it.
        updated = await sdk.inboxes.messages.update(AGENT, carol_id, remove_labels=["unread"])
        assert "unread" not in updated.labels and "received" in updated.labels
        assert (await sdk.inboxes.threads.list(AGENT, labels=["unread"])).threads == []
        with pytest.raises(ApiError) as refused:
            await sdk.inboxes.messages.update(AGENT, carol_id, add_labels=["sent"])
        assert refused.value.status_code == 400

        # Reply, reply-all and forward: the outside recipients' copies go out through the relay peer.
        reply = await sdk.inboxes.messages.reply(AGENT, carol_id, text="Friday it is.")
        assert reply.thread_id == received.message.thread_id
        reply_all = await sdk.inboxes.messages.reply_all(AGENT, carol_id, text="Looping everyone in.")
        await log.wait("message.received", PARTNER, "Re: Ship date")
        forward = await sdk.inboxes.messages.forward(AGENT, carol_id, to=[PARTNER], text="FYI")
        await log.wait("message.received", PARTNER, "Fwd: Ship date")
        for sent_out in (reply, reply_all):
            await log.first(
                lambda e, m=sent_out.message_id: (
                    isinstance(e, MessageDeliveredEvent)
                    and e.delivery.message_id == m
                    and CAROL in e.delivery.recipients
                )
            )
        by_recipients = {tuple(sorted(r.rcpt_tos)): r for r in peer.received}
        assert set(by_recipients) == {(CAROL,), (CAROL, DAVE)}
        assert f"In-Reply-To: {carol_id}".encode() in by_recipients[(CAROL,)].data
        thread = await sdk.inboxes.threads.get(AGENT, received.message.thread_id)
        assert [m.message_id for m in thread.messages][:3] == [
            carol_id,
            reply.message_id,
            reply_all.message_id,
        ]
        reply_all_copy = await sdk.inboxes.messages.get(AGENT, reply_all.message_id)
        recipients = [*reply_all_copy.to, *(reply_all_copy.cc or [])]
        assert {parseaddr(r)[1] for r in recipients} == {CAROL, PARTNER, DAVE}
        forwarded = await sdk.inboxes.messages.get(AGENT, forward.message_id)
        assert forwarded.subject == "Fwd: Ship date" and forwarded.to == [PARTNER]

        # Drafts: create, update, send; the draft is gone once sent.
        draft = await sdk.inboxes.drafts.create(
            AGENT, to=[PARTNER], subject="Agenda", text="v1", client_id="d-1"
        )
        assert draft.text == "v1" and draft.client_id == "d-1"
        draft = await sdk.inboxes.drafts.update(AGENT, draft.draft_id, text="v2", cc=[DAVE])
        assert draft.text == "v2" and draft.cc == [DAVE]
        # In a draft PATCH a null clears the field.
        draft = await sdk.inboxes.drafts.update(AGENT, draft.draft_id, cc=None)
        assert not draft.cc
        listed_drafts = await sdk.inboxes.drafts.list(AGENT)
        assert [d.draft_id for d in listed_drafts.drafts] == [draft.draft_id]
        sent_draft = await sdk.inboxes.drafts.send(AGENT, draft.draft_id, add_labels=["agenda"])
        agenda = await log.wait("message.received", PARTNER, "Agenda")
        assert isinstance(agenda, MessageReceivedEvent) and agenda.message.text is not None
        assert agenda.message.text.strip() == "v2"
        assert "agenda" in (await sdk.inboxes.messages.get(AGENT, sent_draft.message_id)).labels
        with pytest.raises(NotFoundError):
            await sdk.inboxes.drafts.get(AGENT, draft.draft_id)

        # A scheduled send: the engine's scheduler sends it when send_at comes.
        send_at = datetime.now(UTC) + timedelta(seconds=1.5)
        scheduled = await sdk.inboxes.drafts.create(
            AGENT, to=[PARTNER], subject="Reminder", text="Later", send_at=send_at
        )
        assert scheduled.send_status == "scheduled" and "scheduled" in scheduled.labels
        assert scheduled.send_at is not None and abs((scheduled.send_at - send_at).total_seconds()) < 0.01
        reminder = await log.wait("message.received", PARTNER, "Reminder")
        assert isinstance(reminder, MessageReceivedEvent)
        assert reminder.message.timestamp >= send_at - timedelta(milliseconds=5)
        assert (await sdk.inboxes.drafts.list(AGENT)).count == 0  # removed as it was sent

        # A receive-block entry: the sender's next mail is kept, labelled blocked, hidden from lists.
        entry = await sdk.inboxes.lists.create(AGENT, "receive", "block", entry=SPAMMER, reason="unwanted")
        assert (entry.entry, entry.direction, entry.list_type, entry.entry_type) == (
            SPAMMER,
            "receive",
            "block",
            "email",
        )
        assert (await sdk.inboxes.lists.get(AGENT, "receive", "block", SPAMMER)).reason == "unwanted"
        await smtp_in(served, outside_mail(SPAMMER, AGENT, "Cheap watches", "Buy now"), [AGENT])
        blocked = await log.wait("message.received.blocked", AGENT, "Cheap watches")
        assert isinstance(blocked, MessageReceivedEvent) and "blocked" in blocked.message.labels
        visible = await sdk.inboxes.messages.list(AGENT)
        assert blocked.message.message_id not in {m.message_id for m in visible.messages}
        everything = await sdk.inboxes.messages.list(AGENT, include_blocked=True)
        assert blocked.message.message_id in {m.message_id for m in everything.messages}
        assert "Cheap watches" not in {t.subject for t in (await sdk.inboxes.threads.list(AGENT)).threads}

        # Every watched event so far came by webhook, signed as Svix signs, and over the WebSocket.
        expected = log.watched_since(watched_from, {AGENT, PARTNER})
        assert {e.event_type for e in expected} == set(WATCHED)
        ids = {e.event_id for e in expected}
        deliveries = await hooks.wait_for(ids)
        verifier = SvixWebhook(webhook.secret)
        for event in expected:
            delivery = deliveries[event.event_id]
            verifier.verify(delivery.body, delivery.headers)  # raises WebhookVerificationError if wrong
            payload = json.loads(delivery.body)
            assert payload["event_type"] == event.event_type and payload["type"] == "event"
        forged = dict(deliveries[expected[0].event_id].headers, **{"svix-id": "msg_forged"})
        with pytest.raises(WebhookVerificationError):
            verifier.verify(deliveries[expected[0].event_id].body, forged)
        socket_events = await frames.wait_for(ids)
        for event in expected:
            frame = socket_events[event.event_id]
            # The SDK types a frame by strict validation, model by model: an incomplete frame ends up as
            # the wrong class (or Subscribed), so the class is the check that every field was there.
            assert frame.event_type == event.event_type
            assert type(frame).__name__ == SDK_EVENT_CLASS[event.event_type], frame
        blocked_frame = socket_events[blocked.event_id]
        assert blocked_frame.message.message_id == blocked.message.message_id
        assert blocked_frame.thread.thread_id == blocked.message.thread_id

        # Typed errors for unknown things, whatever characters their ids hold.
        with pytest.raises(NotFoundError):
            await sdk.inboxes.messages.get(AGENT, "<no-such+id%41@outside.test>")
        with pytest.raises(NotFoundError):
            await sdk.inboxes.threads.get(AGENT, "no-such-thread")
