"""Outbound delivery over SMTP: through a relay and straight to MX hosts found in (loopback) DNS.

The peers are real SMTP servers on loopback: scripted aiosmtpd servers (4xx then 250, 5xx, down, TLS,
AUTH) and Postfix's smtp-sink. Every sent message ends ``delivered`` or ``bounced``, with ``delayed`` on the
way when a peer fails temporarily, and an event for each change.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from peers import Peer, SmtpSink, free_port
from sqlalchemy import select

from agentinbox import AsyncAgentInbox
from agentinbox._clock import ManualClock
from agentinbox.errors import ValidationError
from agentinbox.store.tables import deliveries, events

Factory = Callable[..., Any]


@pytest.fixture
async def engines(database_url: str, clock: ManualClock) -> AsyncIterator[Factory]:
    """Make started engines with extra settings; all are closed at the end."""
    made: list[AsyncAgentInbox] = []

    async def make(**settings: Any) -> AsyncAgentInbox:
        engine = AsyncAgentInbox(
            database_url=database_url,
            default_domain="agents.test",
            clock=clock,
            delivery_timeout=10,
            **settings,
        )
        made.append(engine)
        await engine.inboxes.create(username="agent", display_name="Agent", client_id="agent")
        await engine.start()
        return engine

    yield make
    for engine in made:
        await engine.close()


@pytest.fixture
def sink() -> Iterator[Callable[..., SmtpSink]]:
    started: list[SmtpSink] = []

    def start(**options: Any) -> SmtpSink:
        server = SmtpSink(**options)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


async def settled(engine: AsyncAgentInbox) -> None:
    """Wait until the delivery worker has nothing due and nothing running."""
    assert engine._delivery is not None
    await asyncio.wait_for(engine._delivery.idle(), timeout=30)


async def retry_now(engine: AsyncAgentInbox, clock: ManualClock, seconds: float) -> None:
    clock.advance(seconds)
    assert engine._delivery is not None
    engine._delivery.wake()
    await settled(engine)


async def event_list(engine: AsyncAgentInbox, event_type: str) -> list[Any]:
    ctx = await engine._context()
    return await ctx.db.read(
        lambda conn: list(
            conn.execute(select(events).where(events.c.event_type == event_type).order_by(events.c.id))
        )
    )


async def delivery_rows(engine: AsyncAgentInbox) -> list[Any]:
    ctx = await engine._context()
    return await ctx.db.read(
        lambda conn: list(conn.execute(select(deliveries).order_by(deliveries.c.recipient)))
    )


async def labels_of(engine: AsyncAgentInbox, message_id: str) -> set[str]:
    message = await engine.inboxes.messages.get(inbox_id="agent@agents.test", message_id=message_id)
    return set(message.labels)


async def send(engine: AsyncAgentInbox, to: list[str], **extra: Any) -> str:
    sent = await engine.inboxes.messages.send(
        inbox_id="agent@agents.test", to=to, subject="Your order", text="It has shipped.\n", **extra
    )
    return sent.message_id


# --- relay mode ---------------------------------------------------------------------------------------


async def test_relay_delivers_every_recipient_in_one_transaction(engines: Factory, peer: Peer) -> None:
    engine = await engines(relay_url=f"smtp://127.0.0.1:{peer.port}")
    message_id = await send(engine, ["ann@example.com", "bob@example.org"], cc=["cy@example.net"])
    await settled(engine)

    assert len(peer.received) == 1
    got = peer.received[0]
    assert got.mail_from == "agent@agents.test"
    assert sorted(got.rcpt_tos) == ["ann@example.com", "bob@example.org", "cy@example.net"]
    raw = await engine.inboxes.messages.get_raw(inbox_id="agent@agents.test", message_id=message_id)
    assert got.data == raw.content  # byte for byte what is stored as sent
    assert {"sent", "delivered"} <= await labels_of(engine, message_id)
    assert "delayed" not in await labels_of(engine, message_id)
    assert [row.status for row in await delivery_rows(engine)] == ["delivered"] * 3
    delivered = await event_list(engine, "message.delivered")
    assert len(delivered) == 1 and sorted(delivered[0].payload["delivery"]["recipients"]) == sorted(
        got.rcpt_tos
    )
    assert delivered[0].message_id == message_id


async def test_bcc_recipients_get_the_mail_but_not_the_header(engines: Factory, peer: Peer) -> None:
    engine = await engines(relay_url=f"smtp://127.0.0.1:{peer.port}")
    await send(engine, ["ann@example.com"], bcc=["hidden@example.com"])
    await settled(engine)
    assert sorted(peer.received[0].rcpt_tos) == ["ann@example.com", "hidden@example.com"]
    assert b"hidden@example.com" not in peer.received[0].data


async def test_temporary_failure_is_delayed_then_delivered(
    engines: Factory, peer: Peer, clock: ManualClock
) -> None:
    peer.handler.data_replies = ["451 4.3.0 Try again later"]
    engine = await engines(relay_url=f"smtp://127.0.0.1:{peer.port}", delivery_retry_delay=60)
    message_id = await send(engine, ["ann@example.com"])
    await settled(engine)
    assert peer.received == []
    assert "delayed" in await labels_of(engine, message_id)
    [row] = await delivery_rows(engine)
    assert row.status == "deferred" and row.attempts == 1 and "451" in row.last_error

    await retry_now(engine, clock, 30)  # not due yet
    assert peer.handler.transactions == 1

    await retry_now(engine, clock, 31)
    assert len(peer.received) == 1
    labels = await labels_of(engine, message_id)
    assert "delivered" in labels and "delayed" not in labels
    [row] = await delivery_rows(engine)
    assert row.status == "delivered" and row.attempts == 2
    assert len(await event_list(engine, "message.delivered")) == 1


async def test_queued_messages_share_connections_and_a_refusal_ends_only_its_own_message(
    engines: Factory, peer: Peer
) -> None:
    engine = await engines(relay_url=f"smtp://127.0.0.1:{peer.port}", delivery_concurrency=2)
    assert engine._delivery is not None
    await engine._delivery.stop()  # queue everything first
    peer.handler.data_replies = ["554 5.7.1 not this one"]
    ids = [await send(engine, [f"c{i}@example.com"]) for i in range(30)]
    engine._delivery.start()
    await settled(engine)

    assert len(peer.received) == 29
    assert len({r.session for r in peer.received}) <= 4  # 2 slots, up to 20 messages per connection
    labels = [await labels_of(engine, message_id) for message_id in ids]
    assert sum("rejected" in label for label in labels) == 1
    assert sum("delivered" in label for label in labels) == 29


async def test_permanent_refusal_bounces_that_recipient_only(engines: Factory, peer: Peer) -> None:
    peer.handler.rcpt_replies["nobody@example.com"] = "550 5.1.1 <nobody@example.com>: no such user"
    engine = await engines(relay_url=f"smtp://127.0.0.1:{peer.port}")
    message_id = await send(engine, ["ann@example.com", "nobody@example.com"])
    await settled(engine)

    assert peer.received[0].rcpt_tos == ["ann@example.com"]
    assert {"delivered", "bounced"} <= await labels_of(engine, message_id)
    statuses = {row.recipient: row.status for row in await delivery_rows(engine)}
    assert statuses == {"ann@example.com": "delivered", "nobody@example.com": "bounced"}
    [bounce] = await event_list(engine, "message.bounced")
    assert bounce.payload["bounce"]["recipients"][0]["address"] == "nobody@example.com"
    assert bounce.payload["bounce"]["recipients"][0]["status"] == "5.1.1"


async def test_refused_data_rejects_the_message(engines: Factory, peer: Peer) -> None:
    peer.handler.data_replies = ["554 5.7.1 Message rejected as spam"]
    engine = await engines(relay_url=f"smtp://127.0.0.1:{peer.port}")
    message_id = await send(engine, ["ann@example.com"])
    await settled(engine)
    labels = await labels_of(engine, message_id)
    assert "rejected" in labels and "bounced" not in labels and "delivered" not in labels
    [row] = await delivery_rows(engine)
    assert row.status == "rejected" and "554" in row.last_error


async def test_a_peer_that_is_down_is_delayed_then_bounced_after_the_maximum_age(
    engines: Factory, clock: ManualClock
) -> None:
    port = free_port()  # nothing listens here
    engine = await engines(
        relay_url=f"smtp://127.0.0.1:{port}", delivery_retry_delay=60, delivery_max_age=3600
    )
    message_id = await send(engine, ["ann@example.com"])
    await settled(engine)
    assert "delayed" in await labels_of(engine, message_id)

    attempts = 1
    for _ in range(20):
        await retry_now(engine, clock, 600)
        [row] = await delivery_rows(engine)
        attempts = row.attempts
        if row.status == "bounced":
            break
    assert row.status == "bounced"
    assert 3 <= attempts <= 12
    labels = await labels_of(engine, message_id)
    assert "bounced" in labels and "delayed" not in labels
    [bounce] = await event_list(engine, "message.bounced")
    assert "gave up" in bounce.payload["bounce"]["recipients"][0]["diagnostic"]


async def test_pending_deliveries_wait_for_start_and_survive_a_restart(
    database_url: str, clock: ManualClock, peer: Peer
) -> None:
    settings = {"database_url": database_url, "default_domain": "agents.test", "clock": clock}
    relay = f"smtp://127.0.0.1:{peer.port}"
    async with AsyncAgentInbox(**settings, relay_url=relay) as offline:
        await offline.inboxes.create(username="agent")
        message_id = await send(offline, ["ann@example.com"])
    assert peer.received == []  # never started: nothing left the process

    engine = AsyncAgentInbox(**settings, relay_url=relay)
    try:
        await engine.start()
        await settled(engine)
        assert len(peer.received) == 1
        assert "delivered" in await labels_of(engine, message_id)
    finally:
        await engine.close()


async def test_a_claim_left_by_a_crashed_worker_is_retried_after_its_lease(
    engines: Factory, peer: Peer, clock: ManualClock
) -> None:
    engine = await engines(relay_url=f"smtp://127.0.0.1:{peer.port}")
    assert engine._delivery is not None
    await engine._delivery.stop()  # a worker that will not come back
    message_id = await send(engine, ["ann@example.com"])
    ctx = await engine._context()
    from agentinbox.store import deliveries as queue

    claimed = await ctx.db.write(
        queue.claim, now=clock.now(), lease_until=clock.now() + 600_000_000, limit=10
    )
    assert len(claimed) == 1  # claimed, then the process "crashed"

    engine._delivery.start()
    await settled(engine)
    assert peer.received == []  # still leased
    await retry_now(engine, clock, 601)
    assert len(peer.received) == 1
    assert "delivered" in await labels_of(engine, message_id)


async def test_local_recipients_are_delivered_in_process_not_over_smtp(engines: Factory, peer: Peer) -> None:
    engine = await engines(relay_url=f"smtp://127.0.0.1:{peer.port}")
    await engine.inboxes.create(username="colleague")
    await send(engine, ["colleague@agents.test", "ann@example.com"])
    await settled(engine)
    assert peer.received[0].rcpt_tos == ["ann@example.com"]
    threads = await engine.inboxes.threads.list(inbox_id="colleague@agents.test")
    assert threads.count == 1


async def test_replies_drafts_and_forwards_are_delivered_too(engines: Factory, peer: Peer) -> None:
    engine = await engines(relay_url=f"smtp://127.0.0.1:{peer.port}")
    first = await send(engine, ["ann@example.com"])
    await engine.inboxes.messages.forward(
        inbox_id="agent@agents.test", message_id=first, to=["fw@example.com"]
    )
    draft = await engine.inboxes.drafts.create(inbox_id="agent@agents.test", to=["dr@example.com"], text="x")
    await engine.inboxes.drafts.send(inbox_id="agent@agents.test", draft_id=draft.draft_id)
    await settled(engine)
    assert sorted(r.rcpt_tos[0] for r in peer.received) == [
        "ann@example.com",
        "dr@example.com",
        "fw@example.com",
    ]


@pytest.mark.parametrize(
    "url",
    ["http://relay.example.com", "smtp://", "smtp://host:99999", "smtp://host?tls=maybe", "smtp://h?x=1"],
)
async def test_a_bad_relay_url_is_a_validation_error_at_start(database_url: str, url: str) -> None:
    engine = AsyncAgentInbox(database_url=database_url, relay_url=url)
    try:
        with pytest.raises(ValidationError) as error:
            await engine.start()
        assert "relay_url" in str(error.value)
    finally:
        await engine.close()


# --- TLS and authentication with the relay ---------------------------------------------------------------


def _server_tls(tls_files: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(tls_files[0]), str(tls_files[1]))
    return context


async def test_relay_with_required_starttls_and_login(engines: Factory, tls_files: tuple[Path, Path]) -> None:
    peer = await Peer(tls_context=_server_tls(tls_files), credentials=("relay-user", "s3cret/pw")).start()
    try:
        engine = await engines(
            relay_url=f"smtp://relay-user:s3cret%2Fpw@127.0.0.1:{peer.port}?tls=required&verify=false"
        )
        message_id = await send(engine, ["ann@example.com"])
        await settled(engine)
        assert len(peer.received) == 1
        assert peer.received[0].tls and peer.received[0].login == "relay-user"
        assert "delivered" in await labels_of(engine, message_id)
    finally:
        await peer.stop()


async def test_relay_with_implicit_tls(engines: Factory, tls_files: tuple[Path, Path]) -> None:
    peer = await Peer(tls_context=_server_tls(tls_files), implicit_tls=True).start()
    try:
        engine = await engines(relay_url=f"smtps://127.0.0.1:{peer.port}?verify=false")
        await send(engine, ["ann@example.com"])
        await settled(engine)
        assert len(peer.received) == 1 and peer.received[0].tls
    finally:
        await peer.stop()


async def test_an_unverifiable_relay_certificate_is_not_trusted(
    engines: Factory, tls_files: tuple[Path, Path]
) -> None:
    peer = await Peer(tls_context=_server_tls(tls_files)).start()
    try:
        engine = await engines(relay_url=f"smtp://127.0.0.1:{peer.port}?tls=required")
        message_id = await send(engine, ["ann@example.com"])
        await settled(engine)
        assert peer.received == []
        assert "delayed" in await labels_of(engine, message_id)
        [row] = await delivery_rows(engine)
        assert "certificate" in row.last_error.lower() or "ssl" in row.last_error.lower()
    finally:
        await peer.stop()


async def test_wrong_relay_credentials_are_a_permanent_failure(engines: Factory) -> None:
    peer = await Peer(credentials=("relay-user", "right")).start()
    try:
        engine = await engines(relay_url=f"smtp://relay-user:wrong@127.0.0.1:{peer.port}")
        message_id = await send(engine, ["ann@example.com"])
        await settled(engine)
        assert peer.received == []
        assert "bounced" in await labels_of(engine, message_id)
        [row] = await delivery_rows(engine)
        assert row.last_error.startswith("535")
    finally:
        await peer.stop()


# --- direct to MX -----------------------------------------------------------------------------------------


async def test_direct_delivery_groups_recipients_per_domain_and_follows_mx(
    engines: Factory, dns_server: Any
) -> None:
    # Two mail servers on one port (the delivery port), at two loopback addresses.
    example = await Peer(host="127.0.0.1").start()
    other = await Peer(host="127.0.0.3", port=example.port).start()
    try:
        # example.com's preferred MX has no server listening: the next one takes the mail.
        dns_server.zone[("example.com", "MX")] = [(5, "down.example.com"), (10, "mx.example.com")]
        dns_server.zone[("down.example.com", "A")] = ["127.0.0.2"]
        dns_server.zone[("mx.example.com", "A")] = ["127.0.0.1"]
        # example.org has no MX: its own address record is used.
        dns_server.zone[("example.org", "A")] = ["127.0.0.3"]

        engine = await engines(dns_resolver=dns_server.address, delivery_port=example.port)
        message_id = await send(engine, ["a1@example.com", "a2@example.com", "o1@example.org"])
        await settled(engine)

        assert [sorted(r.rcpt_tos) for r in example.received] == [["a1@example.com", "a2@example.com"]]
        assert [r.rcpt_tos for r in other.received] == [["o1@example.org"]]
        assert "delivered" in await labels_of(engine, message_id)
        assert ("example.com", "MX") in dns_server.resolver.queries
    finally:
        await example.stop()
        await other.stop()


async def test_null_mx_and_missing_domains_bounce(engines: Factory, dns_server: Any) -> None:
    dns_server.zone[("nomail.example", "MX")] = [(0, ".")]
    engine = await engines(dns_resolver=dns_server.address, delivery_port=free_port())
    message_id = await send(engine, ["a@nomail.example", "b@does-not-exist.example"])
    await settled(engine)
    rows = await delivery_rows(engine)
    assert [row.status for row in rows] == ["bounced", "bounced"]
    assert "null MX" in rows[0].last_error and "does not exist" in rows[1].last_error
    assert "bounced" in await labels_of(engine, message_id)


# --- Postfix's smtp-sink ----------------------------------------------------------------------------------


async def test_delivery_to_postfix_smtp_sink(engines: Factory, sink: Callable[..., SmtpSink]) -> None:
    server = sink()
    engine = await engines(relay_url=f"smtp://127.0.0.1:{server.port}")
    message_id = await send(
        engine, ["ann@example.com"], attachments=[{"filename": "a.txt", "content": "aGk="}]
    )
    await settled(engine)
    assert "delivered" in await labels_of(engine, message_id)
    for _ in range(50):
        if server.dumps():
            break
        await asyncio.sleep(0.05)
    [dump] = server.dumps()
    assert b"RCPT TO:<ann@example.com>" in dump or b"ann@example.com" in dump
    assert message_id.encode() in dump


async def test_smtp_sink_soft_rejects_are_retried_hard_rejects_bounce(
    engines: Factory, sink: Callable[..., SmtpSink], clock: ManualClock
) -> None:
    soft = sink(reject_soft="data")
    engine = await engines(relay_url=f"smtp://127.0.0.1:{soft.port}", delivery_retry_delay=60)
    first = await send(engine, ["ann@example.com"])
    await settled(engine)
    assert "delayed" in await labels_of(engine, first)
    # Engines on one database share the delivery queue (a notification wakes them all), so the first one,
    # relaying elsewhere, stops before the second sends.
    await engine.close()

    hard = sink(reject_hard="rcpt")
    engine2 = await engines(relay_url=f"smtp://127.0.0.1:{hard.port}")
    second = await send(engine2, ["bob@example.com"])
    await settled(engine2)
    assert "bounced" in await labels_of(engine2, second)


# --- delivery status notifications ----------------------------------------------------------------------


def _dsn(original_id: str, recipient: str) -> bytes:
    return (
        "From: Mail Delivery System <MAILER-DAEMON@relay.example.com>\r\n"
        "To: agent@agents.test\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        "Message-ID: <dsn-1@relay.example.com>\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b1"\r\n'
        "\r\n"
        "--b1\r\n"
        "Content-Type: text/plain\r\n"
        "\r\n"
        f"Your message to {recipient} could not be delivered.\r\n"
        "--b1\r\n"
        "Content-Type: message/delivery-status\r\n"
        "\r\n"
        "Reporting-MTA: dns; relay.example.com\r\n"
        "\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\n"
        "Action: failed\r\n"
        "Status: 5.1.1\r\n"
        f"Diagnostic-Code: smtp; 550 5.1.1 <{recipient}>: Recipient address rejected\r\n"
        "--b1\r\n"
        "Content-Type: text/rfc822-headers\r\n"
        "\r\n"
        "From: Agent <agent@agents.test>\r\n"
        f"To: {recipient}\r\n"
        f"Message-ID: {original_id}\r\n"
        "Subject: Your order\r\n"
        "--b1--\r\n"
    ).encode()


async def test_a_bounce_report_after_acceptance_bounces_the_sent_message(
    engines: Factory, peer: Peer
) -> None:
    engine = await engines(relay_url=f"smtp://127.0.0.1:{peer.port}")
    message_id = await send(engine, ["ann@example.com"])
    await settled(engine)
    assert "delivered" in await labels_of(engine, message_id)

    await engine.deliver(_dsn(message_id, "ann@example.com"), rcpt_to=["agent@agents.test"])
    labels = await labels_of(engine, message_id)
    assert "bounced" in labels
    [row] = await delivery_rows(engine)
    assert row.status == "bounced" and "Recipient address rejected" in row.last_error
    [bounce] = await event_list(engine, "message.bounced")
    assert bounce.message_id == message_id
    assert bounce.payload["bounce"]["recipients"] == [
        {
            "address": "ann@example.com",
            "status": "5.1.1",
            "diagnostic": "smtp; 550 5.1.1 <ann@example.com>: Recipient address rejected",
        }
    ]
    # The same report again changes nothing; the report itself is kept as mail.
    await engine.deliver(
        _dsn(message_id, "ann@example.com").replace(b"dsn-1", b"dsn-2"), rcpt_to=["agent@agents.test"]
    )
    assert len(await event_list(engine, "message.bounced")) == 1


async def test_a_report_about_unknown_mail_matches_nothing(engines: Factory) -> None:
    engine = await engines()
    stored = await engine.deliver(
        _dsn("<not-ours@example.com>", "x@example.com"), rcpt_to=["agent@agents.test"]
    )
    assert len(stored) == 1
    assert await event_list(engine, "message.bounced") == []
