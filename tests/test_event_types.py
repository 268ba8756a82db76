"""The event types beyond received/sent/delivered/bounced: ``message.complained`` from abuse feedback reports,
``message.rejected`` when a server refuses a message as a whole, and the ``message.received.spam``,
``.blocked`` and ``.unauthenticated`` variants chosen from the labels classifiers give inbound mail.

Each is checked for its payload shape (reference §9.3), its label, and that it is written with the change it
reports. Outbound mail goes to a scripted SMTP peer on loopback; classifiers are real functions on the
engine context, the seam the verdict step uses.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from email.message import EmailMessage
from typing import Any

import aiosmtplib
import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session
from helpers import serving
from peers import Peer, PeerHandler
from sqlalchemy import Connection, select

from agentinbox import AsyncAgentInbox
from agentinbox._clock import ManualClock
from agentinbox.errors import WaitTimeoutError
from agentinbox.models import MessageComplainedEvent, MessageReceivedEvent, MessageRejectedEvent
from agentinbox.pipeline.classify import Arrival, received_event_type
from agentinbox.store.events import event_object
from agentinbox.store.tables import deliveries, events

AGENT = "agent@agents.test"
OTHER = "other@agents.test"
COMPLAINT_KEYS = {"inbox_id", "thread_id", "message_id", "timestamp", "type", "sub_type", "recipients"}
REJECT_KEYS = {"inbox_id", "thread_id", "message_id", "timestamp", "reason"}


@pytest.fixture
async def engine(database_url: str, clock: ManualClock) -> AsyncIterator[AsyncAgentInbox]:
    """An engine with two inboxes that is not started: sent mail is stored and queued, nothing leaves."""
    async with AsyncAgentInbox(database_url=database_url, default_domain="agents.test", clock=clock) as made:
        await made.inboxes.create(username="agent")
        await made.inboxes.create(username="other")
        yield made


async def event_rows(engine: AsyncAgentInbox, event_type: str | None = None) -> list[Any]:
    ctx = await engine._context()
    query = select(events).order_by(events.c.id)
    if event_type is not None:
        query = query.where(events.c.event_type == event_type)
    return await ctx.db.read(lambda conn: list(conn.execute(query)))


async def labels_of(engine: AsyncAgentInbox, message_id: str, inbox_id: str = AGENT) -> set[str]:
    message = await engine.inboxes.messages.get(inbox_id=inbox_id, message_id=message_id)
    return set(message.labels)


async def send(engine: AsyncAgentInbox, to: list[str], inbox_id: str = AGENT) -> str:
    sent = await engine.inboxes.messages.send(inbox_id=inbox_id, to=to, subject="Offer", text="Buy now.\n")
    return sent.message_id


# --- message.complained -----------------------------------------------------------------------------------


def arf(
    original_id: str,
    *,
    recipients: Iterable[str] = ("ann@example.com",),
    feedback_type: str | None = "abuse",
    report_id: str = "<fbl-1@feedback.example.net>",
    extra: str = "",
) -> bytes:
    """An abuse feedback report (RFC 5965) about the message ``original_id``, sent to the agent's inbox."""
    fields = f"Feedback-Type: {feedback_type}\r\n" if feedback_type is not None else ""
    fields += "User-Agent: ExampleFBL/1.0\r\nVersion: 1\r\nOriginal-Mail-From: <agent@agents.test>\r\n"
    fields += "".join(f"Original-Rcpt-To: <{address}>\r\n" for address in recipients) + extra
    return (
        "From: Feedback Loop <fbl@feedback.example.net>\r\n"
        f"To: {AGENT}\r\n"
        "Subject: Abuse report\r\n"
        f"Message-ID: {report_id}\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=feedback-report; boundary="fb"\r\n'
        "\r\n"
        "--fb\r\n"
        "Content-Type: text/plain\r\n"
        "\r\n"
        "A recipient marked this message as spam.\r\n"
        "--fb\r\n"
        "Content-Type: message/feedback-report\r\n"
        "\r\n"
        f"{fields}"
        "\r\n"
        "--fb\r\n"
        "Content-Type: text/rfc822-headers\r\n"
        "\r\n"
        "From: Agent <agent@agents.test>\r\n"
        "To: ann@example.com\r\n"
        f"Message-ID: {original_id}\r\n"
        "Subject: Offer\r\n"
        "--fb--\r\n"
    ).encode()


async def test_a_feedback_report_marks_the_sent_message_complained(engine: AsyncAgentInbox) -> None:
    message_id = await send(engine, ["ann@example.com", "bob@example.com"])
    seen: list[Any] = []
    engine.on("message.complained")(seen.append)

    [report] = await engine.deliver(
        arf(message_id, recipients=["Ann@Example.com", "bob@example.com"]), rcpt_to=[AGENT]
    )

    # The report itself is kept as received mail, like a delivery status notification.
    assert "received" in report.labels and report.subject == "Abuse report"
    assert "complained" in await labels_of(engine, message_id)
    sent = await engine.inboxes.messages.get(inbox_id=AGENT, message_id=message_id)
    [row] = await event_rows(engine, "message.complained")
    assert row.message_id == message_id and row.inbox_id == AGENT
    complaint = row.payload["complaint"]
    assert set(row.payload) == {"complaint"} and set(complaint) == COMPLAINT_KEYS
    assert complaint["type"] == "abuse" and complaint["sub_type"] == "General"
    assert complaint["recipients"] == ["ann@example.com", "bob@example.com"]
    assert (complaint["inbox_id"], complaint["thread_id"], complaint["message_id"]) == (
        AGENT,
        sent.thread_id,
        message_id,
    )
    assert complaint["timestamp"].startswith("2027-01-15T")  # the engine clock's now
    # Written with the report: right after its message.received, with a larger id.
    kinds = [(r.event_type, r.message_id) for r in await event_rows(engine)]
    assert kinds[-2:] == [("message.received", report.message_id), ("message.complained", message_id)]

    for _ in range(200):
        if seen:
            break
        await asyncio.sleep(0.01)
    [event] = seen
    assert isinstance(event, MessageComplainedEvent) and event.complaint.recipients == complaint["recipients"]
    body = event.model_dump(mode="json")
    assert body["type"] == "event" and body["event_type"] == "message.complained" and body["event_id"]


async def test_the_same_report_twice_is_one_complaint_another_report_is_another(
    engine: AsyncAgentInbox,
) -> None:
    message_id = await send(engine, ["ann@example.com"])
    await engine.deliver(arf(message_id), rcpt_to=[AGENT])
    await engine.deliver(arf(message_id), rcpt_to=[AGENT])  # a redelivery of the same report
    assert len(await event_rows(engine, "message.complained")) == 1
    await engine.deliver(
        arf(message_id, recipients=["cy@example.com"], report_id="<fbl-2@feedback.example.net>"),
        rcpt_to=[AGENT],
    )
    rows = await event_rows(engine, "message.complained")
    assert [r.payload["complaint"]["recipients"] for r in rows] == [["ann@example.com"], ["cy@example.com"]]
    assert rows[0].id < rows[1].id


async def test_an_authentication_failure_report_and_one_without_recipients(engine: AsyncAgentInbox) -> None:
    message_id = await send(engine, ["ann@example.com"])
    await engine.deliver(
        arf(message_id, recipients=[], feedback_type="auth-failure", extra="Auth-Failure: dmarc\r\n"),
        rcpt_to=[AGENT],
    )
    [row] = await event_rows(engine, "message.complained")
    complaint = row.payload["complaint"]
    assert (complaint["type"], complaint["sub_type"], complaint["recipients"]) == (
        "auth-failure",
        "dmarc",
        [],
    )


async def test_reports_that_match_no_message_of_the_inbox_are_plain_mail(engine: AsyncAgentInbox) -> None:
    others = await send(engine, ["ann@example.com"], inbox_id=OTHER)
    [received] = await engine.deliver(
        b"From: carol@example.com\r\nTo: agent@agents.test\r\nMessage-ID: <in-1@example.com>\r\n\r\nhi\r\n",
        rcpt_to=[AGENT],
    )
    bad = [
        arf("<unknown@example.com>", report_id="<r1@x>"),  # no such message
        arf(others, report_id="<r2@x>"),  # sent by another inbox: not this inbox's to mark
        arf(received.message_id, report_id="<r3@x>"),  # a message the inbox received, not sent
        arf(others, feedback_type=None, report_id="<r4@x>"),  # malformed: no Feedback-Type
        arf(others, feedback_type="not-spam", report_id="<r5@x>"),  # the opposite of a complaint
    ]
    for raw in bad:
        [stored] = await engine.deliver(raw, rcpt_to=[AGENT])
        assert "received" in stored.labels
    # Delivered to the other inbox, the not-spam report still changes nothing; a malformed one neither.
    await engine.deliver(arf(others, feedback_type="not-spam", report_id="<r6@x>"), rcpt_to=[OTHER])
    broken = arf(others, report_id="<r7@x>").replace(b'boundary="fb"', b'boundary="zz"')
    await engine.deliver(broken, rcpt_to=[OTHER])
    assert await event_rows(engine, "message.complained") == []
    assert "complained" not in await labels_of(engine, others, OTHER)
    assert "complained" not in await labels_of(engine, received.message_id)
    assert len(await event_rows(engine, "message.received")) == 1 + len(bad) + 2


async def test_a_report_reaching_two_inboxes_marks_only_the_sender(engine: AsyncAgentInbox) -> None:
    message_id = await send(engine, ["ann@example.com"])
    stored = await engine.deliver(arf(message_id), rcpt_to=[AGENT, OTHER])
    assert len(stored) == 2
    [row] = await event_rows(engine, "message.complained")
    assert row.inbox_id == AGENT


async def test_a_complaint_over_smtp(database_url: str, clock: ManualClock, peer: Peer) -> None:
    relay = f"smtp://127.0.0.1:{peer.port}"  # the sent message goes to the loopback peer, nowhere else
    async with serving(database_url, clock, "agent", smtp_listen="127.0.0.1:0", relay_url=relay) as server:
        message_id = await send(server, ["ann@example.com"])
        waiting = asyncio.create_task(server.wait_for_message(inbox_id=AGENT, timeout=10))
        await asyncio.sleep(0.01)
        host, port = server.smtp_address or ("", 0)
        errors, _ = await aiosmtplib.send(
            arf(message_id), sender="fbl@feedback.example.net", recipients=[AGENT], hostname=host, port=port
        )
        assert errors == {}
        report = await waiting
        assert report.subject == "Abuse report"
        assert "complained" in await labels_of(server, message_id)
        assert len(await event_rows(server, "message.complained")) == 1


# --- message.rejected -------------------------------------------------------------------------------------


class RefusingSender(PeerHandler):
    """A peer that refuses every envelope sender."""

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        return "550 5.7.1 <agent@agents.test>: sender rejected by policy"


@pytest.fixture
async def relayed(database_url: str, clock: ManualClock, peer: Peer) -> AsyncIterator[AsyncAgentInbox]:
    """A started engine relaying through ``peer``."""
    async with serving(database_url, clock, "agent", relay_url=f"smtp://127.0.0.1:{peer.port}") as server:
        yield server


async def settled(engine: AsyncAgentInbox) -> None:
    assert engine._delivery is not None
    engine._delivery.wake()
    await asyncio.wait_for(engine._delivery.idle(), timeout=30)


async def delivery_statuses(engine: AsyncAgentInbox) -> dict[str, tuple[str, str | None]]:
    ctx = await engine._context()
    rows = await ctx.db.read(lambda conn: list(conn.execute(select(deliveries))))
    return {row.recipient: (row.status, row.last_error) for row in rows}


async def test_refused_data_rejects_the_message_with_the_reply_as_reason(
    relayed: AsyncAgentInbox, peer: Peer
) -> None:
    peer.handler.data_replies = ["554 5.7.1 Message content rejected"]
    seen: list[Any] = []
    relayed.on("message.rejected")(seen.append)
    message_id = await send(relayed, ["ann@example.com", "bob@example.com"])
    await settled(relayed)

    assert peer.received == []
    labels = await labels_of(relayed, message_id)
    assert "rejected" in labels and not labels & {"bounced", "delivered", "delayed"}
    [row] = await event_rows(relayed, "message.rejected")
    assert set(row.payload) == {"reject"} and set(row.payload["reject"]) == REJECT_KEYS
    assert row.payload["reject"]["reason"] == "554 5.7.1 Message content rejected"
    assert row.payload["reject"]["message_id"] == message_id and row.inbox_id == AGENT
    assert await event_rows(relayed, "message.bounced") == []
    statuses = await delivery_statuses(relayed)
    assert {status for status, _ in statuses.values()} == {"rejected"}
    for _ in range(200):
        if seen:
            break
        await asyncio.sleep(0.01)
    assert isinstance(seen[0], MessageRejectedEvent) and seen[0].reject.reason.startswith("554")


async def test_a_refused_sender_rejects_the_message(relayed: AsyncAgentInbox, peer: Peer) -> None:
    peer.handler = RefusingSender()
    message_id = await send(relayed, ["ann@example.com"])
    await settled(relayed)
    assert "rejected" in await labels_of(relayed, message_id)
    [row] = await event_rows(relayed, "message.rejected")
    assert row.payload["reject"]["reason"] == "550 5.7.1 <agent@agents.test>: sender rejected by policy"
    assert await event_rows(relayed, "message.bounced") == []


async def test_refused_recipients_bounce_and_the_others_are_rejected(
    relayed: AsyncAgentInbox, peer: Peer
) -> None:
    peer.handler.rcpt_replies["nobody@example.com"] = "550 5.1.1 <nobody@example.com>: no such user"
    peer.handler.data_replies = ["554 5.7.1 Message content rejected"]
    message_id = await send(relayed, ["ann@example.com", "nobody@example.com"])
    await settled(relayed)

    assert {"rejected", "bounced"} <= await labels_of(relayed, message_id)
    statuses = await delivery_statuses(relayed)
    assert statuses["ann@example.com"][0] == "rejected" and statuses["nobody@example.com"][0] == "bounced"
    [bounce] = await event_rows(relayed, "message.bounced")
    assert [r["address"] for r in bounce.payload["bounce"]["recipients"]] == ["nobody@example.com"]
    [reject] = await event_rows(relayed, "message.rejected")
    assert reject.payload["reject"]["reason"].startswith("554 5.7.1")


async def test_temporary_refusal_of_the_message_is_not_a_rejection(
    relayed: AsyncAgentInbox, peer: Peer
) -> None:
    peer.handler.data_replies = ["451 4.7.1 Try again later"]
    message_id = await send(relayed, ["ann@example.com"])
    await settled(relayed)
    labels = await labels_of(relayed, message_id)
    assert "delayed" in labels and "rejected" not in labels
    assert await event_rows(relayed, "message.rejected") == []


async def test_a_bounce_report_after_a_rejection_changes_nothing(
    relayed: AsyncAgentInbox, peer: Peer
) -> None:
    peer.handler.data_replies = ["554 5.7.1 Message content rejected"]
    message_id = await send(relayed, ["ann@example.com"])
    await settled(relayed)
    dsn = (
        "From: MAILER-DAEMON@relay.example.com\r\nTo: agent@agents.test\r\nMessage-ID: <dsn@relay>\r\n"
        'MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n'
        "\r\n--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; relay\r\n\r\n"
        "Final-Recipient: rfc822; ann@example.com\r\nAction: failed\r\nStatus: 5.7.1\r\n"
        f"--b\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: {message_id}\r\n--b--\r\n"
    ).encode()
    await relayed.deliver(dsn, rcpt_to=[AGENT])
    assert await event_rows(relayed, "message.bounced") == []
    assert (await delivery_statuses(relayed))["ann@example.com"][0] == "rejected"


# --- message.received.spam / .blocked / .unauthenticated --------------------------------------------------


def raw(subject: str, sender: str = "carol@example.com", *, signed: bool = True) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = AGENT
    msg["Subject"] = subject
    if signed:
        msg["Authentication-Results"] = "mx.agents.test; dkim=pass header.d=example.com"
    msg.set_content("Hello\n")
    return bytes(msg)


class Verdicts:
    """Real classifiers of the kind the verdict step will have: a sender block list, a content check and
    an authentication check; each remembers what it saw."""

    def __init__(self, blocked_senders: set[str]) -> None:
        self.blocked_senders = blocked_senders
        self.seen: list[Arrival] = []

    def block_list(self, conn: Connection, arrival: Arrival) -> list[str]:
        self.seen.append(arrival)
        sender = (arrival.parsed.from_ or "").rpartition("<")[2].rstrip(">").lower()
        return ["blocked"] if sender in self.blocked_senders else []

    @staticmethod
    def content(conn: Connection, arrival: Arrival) -> Iterable[str]:
        return ("Spam",) if "WIN MONEY" in (arrival.parsed.subject or "").upper() else ()

    @staticmethod
    def authentication(conn: Connection, arrival: Arrival) -> list[str]:
        headers = {name.lower(): value for name, value in arrival.parsed.headers.items()}
        return [] if "dkim=pass" in headers.get("authentication-results", "") else ["unauthenticated"]

    def install(self, ctx: Any) -> None:
        ctx.classifiers.extend([self.block_list, self.content, self.authentication])


def test_the_variant_follows_the_labels_blocked_before_spam_before_unauthenticated() -> None:
    assert received_event_type(["received", "unread"]) == "message.received"
    assert received_event_type(["received", "unauthenticated"]) == "message.received.unauthenticated"
    assert received_event_type(["unauthenticated", "spam"]) == "message.received.spam"
    assert received_event_type(["spam", "blocked", "unauthenticated"]) == "message.received.blocked"


async def test_classified_mail_gets_only_its_variant_event(engine: AsyncAgentInbox) -> None:
    verdicts = Verdicts({"mallory@bad.example"})
    verdicts.install(await engine._context())
    plain_hooks: list[Any] = []
    spam_hooks: list[Any] = []
    variant_hooks: list[Any] = []
    engine.on("message.received")(plain_hooks.append)
    engine.on("message.received.spam")(spam_hooks.append)
    engine.on(["message.received.blocked", "message.received.unauthenticated"])(variant_hooks.append)
    waiting = asyncio.create_task(engine.wait_for_message(inbox_id=AGENT, timeout=10))
    await asyncio.sleep(0.01)

    [spam] = await engine.deliver(raw("WIN MONEY now"), rcpt_to=[AGENT], mail_from="carol@example.com")
    [blocked] = await engine.deliver(raw("win money", "Mallory <mallory@bad.example>"), rcpt_to=[AGENT])
    [unsigned] = await engine.deliver(raw("Lunch?", signed=False), rcpt_to=[AGENT])
    [plain] = await engine.deliver(raw("Minutes"), rcpt_to=[AGENT])

    assert (await waiting).message_id == plain.message_id  # wait_for_message skipped the three before
    assert set(spam.labels) >= {"received", "unread", "spam"}
    assert {"blocked", "spam"} <= set(blocked.labels) and "unauthenticated" in unsigned.labels
    assert not set(plain.labels) & {"spam", "blocked", "unauthenticated"}
    by_message = {row.message_id: row.event_type for row in await event_rows(engine)}
    assert by_message == {
        spam.message_id: "message.received.spam",
        blocked.message_id: "message.received.blocked",
        unsigned.message_id: "message.received.unauthenticated",
        plain.message_id: "message.received",
    }
    assert len(await event_rows(engine)) == 4  # one event per message: never plain received as well
    variant = event_object((await event_rows(engine, "message.received.spam"))[0])
    assert isinstance(variant, MessageReceivedEvent) and "spam" in variant.message.labels
    assert "spam" in variant.thread.labels

    for _ in range(200):
        if plain_hooks and spam_hooks and len(variant_hooks) == 2:
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)
    assert [e.message.message_id for e in plain_hooks] == [plain.message_id]
    assert [e.message.message_id for e in spam_hooks] == [spam.message_id]
    assert [e.event_type for e in variant_hooks] == [
        "message.received.blocked",
        "message.received.unauthenticated",
    ]
    # The classifiers saw each message once, for its inbox, with the envelope sender when given.
    assert [(a.inbox_id, a.mail_from) for a in verdicts.seen] == [
        (AGENT, "carol@example.com"),
        (AGENT, None),
        (AGENT, None),
        (AGENT, None),
    ]


async def test_lists_hide_classified_mail_unless_asked(engine: AsyncAgentInbox) -> None:
    Verdicts({"mallory@bad.example"}).install(await engine._context())
    [spam] = await engine.deliver(raw("WIN MONEY"), rcpt_to=[AGENT])
    [blocked] = await engine.deliver(raw("hi", "mallory@bad.example"), rcpt_to=[AGENT])
    [plain] = await engine.deliver(raw("Minutes"), rcpt_to=[AGENT])
    listed = await engine.inboxes.messages.list(inbox_id=AGENT)
    assert [m.message_id for m in listed.messages] == [plain.message_id]
    with_spam = await engine.inboxes.messages.list(inbox_id=AGENT, include_spam=True)
    assert {m.message_id for m in with_spam.messages} == {plain.message_id, spam.message_id}
    with_blocked = await engine.inboxes.messages.list(inbox_id=AGENT, include_blocked=True)
    assert {m.message_id for m in with_blocked.messages} == {plain.message_id, blocked.message_id}
    threads = await engine.inboxes.threads.list(inbox_id=AGENT)
    assert [t.thread_id for t in threads.threads] == [plain.thread_id]


async def test_a_classifier_giving_another_label_fails_the_store(engine: AsyncAgentInbox) -> None:
    def confused(conn: Connection, arrival: Arrival) -> list[str]:
        return ["important"]

    (await engine._context()).classifiers.append(confused)
    with pytest.raises(ValueError, match="important"):
        await engine.deliver(raw("Hello"), rcpt_to=[AGENT])
    assert await event_rows(engine) == []
    assert (await engine.inboxes.messages.list(inbox_id=AGENT, include_spam=True)).count == 0


async def test_no_classifiers_no_verdict_and_local_mail_is_classified_too(engine: AsyncAgentInbox) -> None:
    [first] = await engine.deliver(raw("WIN MONEY"), rcpt_to=[AGENT])
    assert "spam" not in first.labels
    verdicts = Verdicts(set())
    verdicts.install(await engine._context())
    await engine.inboxes.messages.send(inbox_id=OTHER, to=[AGENT], subject="WIN MONEY", text="x")
    [row] = await event_rows(engine, "message.received.spam")  # spam outranks its missing DKIM result
    assert row.inbox_id == AGENT
    assert {"spam", "unauthenticated"} <= set(row.payload["message"]["labels"])
    assert [(a.inbox_id, a.mail_from) for a in verdicts.seen] == [(AGENT, OTHER)]


async def test_classified_mail_over_smtp(database_url: str, clock: ManualClock) -> None:
    async with serving(database_url, clock, "agent", smtp_listen="127.0.0.1:0") as server:
        verdicts = Verdicts(set())
        verdicts.install(await server._context())
        spam_seen: list[MessageReceivedEvent] = []
        plain_seen: list[MessageReceivedEvent] = []
        server.on("message.received.spam")(spam_seen.append)
        server.on("message.received")(plain_seen.append)
        host, port = server.smtp_address or ("", 0)
        for subject in ("WIN MONEY", "Minutes"):
            errors, _ = await aiosmtplib.send(
                raw(subject), sender="carol@example.com", recipients=[AGENT], hostname=host, port=port
            )
            assert errors == {}
        for _ in range(500):
            if spam_seen and plain_seen:
                break
            await asyncio.sleep(0.01)
        assert [e.message.subject for e in spam_seen] == ["WIN MONEY"]
        assert [e.message.subject for e in plain_seen] == ["Minutes"]
        # Classifiers see the envelope sender of SMTP mail on both databases (PostgreSQL claims its batches).
        assert [a.mail_from for a in verdicts.seen] == ["carol@example.com"] * 2
        with pytest.raises(WaitTimeoutError):
            await server.wait_for_message(
                inbox_id=AGENT, thread_id=spam_seen[0].message.thread_id, timeout=0.05
            )
