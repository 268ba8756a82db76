"""The SMTP receiver: real SMTP clients (aiosmtplib, swaks) deliver into inboxes on loopback.

Accepted mail is durable before the 250 (it sits in the inbound queue) and is processed exactly once, even
across a restart; unknown recipients, relaying and oversized mail get the right refusals.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from email.message import EmailMessage

import aiosmtplib
import pytest
from helpers import expect_start_refused, serving, swaks
from sqlalchemy import func, select

from agentinbox import AsyncAgentInbox
from agentinbox._clock import ManualClock
from agentinbox.models import Message
from agentinbox.pipeline import inbound_worker
from agentinbox.store import inbound_queue
from agentinbox.store.tables import inbound_queue as queue_table

RAW = (
    b"From: Carol <carol@example.com>\r\n"
    b"To: desk@agents.test\r\n"
    b"Subject: Over SMTP\r\n"
    b"Message-ID: <smtp-1@example.com>\r\n"
    b"\r\n"
    b"Hello over the wire.\r\n"
)


@pytest.fixture
async def server(database_url: str, clock: ManualClock) -> AsyncIterator[AsyncAgentInbox]:
    settings = {"smtp_listen": "127.0.0.1:0", "max_message_size": 200_000}
    async with serving(database_url, clock, "desk", "sales", **settings) as client:
        yield client


async def processed(client: AsyncAgentInbox) -> None:
    """Wait until the inbound worker has stored everything accepted so far."""
    assert client._receiving is not None
    await asyncio.wait_for(client._receiving.worker.idle(), timeout=30)


async def only_message(client: AsyncAgentInbox, inbox_id: str = "desk@agents.test") -> Message:
    """The one message the inbox holds (after asserting it holds exactly one)."""
    listing = await client.inboxes.messages.list(inbox_id=inbox_id)
    assert listing.count == 1
    return await client.inboxes.messages.get(inbox_id=inbox_id, message_id=listing.messages[0].message_id)


async def queued(client: AsyncAgentInbox) -> int:
    ctx = await client._context()
    return await ctx.db.read(
        lambda conn: conn.execute(select(func.count()).select_from(queue_table)).scalar()
    )


async def test_mail_over_smtp_lands_in_the_inbox(server: AsyncAgentInbox) -> None:
    host, port = server.smtp_address or ("", 0)
    errors, reply = await aiosmtplib.send(
        RAW, sender="carol@example.com", recipients=["desk@agents.test"], hostname=host, port=port
    )
    assert errors == {} and reply.startswith("2.0.0")
    await processed(server)
    listing = await server.inboxes.messages.list(inbox_id="desk@agents.test")
    assert listing.count == 1
    message = listing.messages[0]
    assert message.subject == "Over SMTP" and message.labels == ["received", "unread"]
    raw = await server.inboxes.messages.get_raw(inbox_id="desk@agents.test", message_id=message.message_id)
    assert raw.content == RAW
    assert await queued(server) == 0


async def test_one_message_per_inbox_and_refusals(server: AsyncAgentInbox) -> None:
    host, port = server.smtp_address or ("", 0)
    errors, _ = await aiosmtplib.send(
        RAW,
        sender="carol@example.com",
        recipients=["desk@agents.test", "SALES@agents.test", "ghost@agents.test", "someone@example.org"],
        hostname=host,
        port=port,
    )
    assert errors["ghost@agents.test"][0] == 550 and "5.1.1" in errors["ghost@agents.test"][1]
    assert errors["someone@example.org"][0] == 550 and "relaying denied" in errors["someone@example.org"][1]
    await processed(server)
    for inbox in ("desk@agents.test", "sales@agents.test"):
        assert (await server.inboxes.messages.list(inbox_id=inbox)).count == 1


async def test_every_recipient_refused_means_no_data(server: AsyncAgentInbox) -> None:
    host, port = server.smtp_address or ("", 0)
    with pytest.raises(aiosmtplib.SMTPRecipientsRefused):
        await aiosmtplib.send(
            RAW, sender="c@example.com", recipients=["x@example.org"], hostname=host, port=port
        )
    assert await queued(server) == 0


async def test_oversized_mail_gets_552(server: AsyncAgentInbox) -> None:
    host, port = server.smtp_address or ("", 0)
    big = RAW + b"x" * 250_000 + b"\r\n"
    with pytest.raises(aiosmtplib.SMTPResponseException) as caught:
        await aiosmtplib.send(
            big, sender="c@example.com", recipients=["desk@agents.test"], hostname=host, port=port
        )
    assert caught.value.code == 552
    assert await queued(server) == 0


async def test_storage_failure_gets_451_and_nothing_is_lost(
    server: AsyncAgentInbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(inbound_queue, "enqueue_many", broken)
    host, port = server.smtp_address or ("", 0)
    with pytest.raises(aiosmtplib.SMTPDataError) as caught:
        await aiosmtplib.send(
            RAW, sender="c@example.com", recipients=["desk@agents.test"], hostname=host, port=port
        )
    assert caught.value.code == 451
    monkeypatch.undo()
    # The client retries later, and this time it is stored.
    await aiosmtplib.send(
        RAW, sender="c@example.com", recipients=["desk@agents.test"], hostname=host, port=port
    )
    await processed(server)
    assert (await server.inboxes.messages.list(inbox_id="desk@agents.test")).count == 1


async def test_queued_mail_survives_a_restart_and_is_stored_once(
    database_url: str, clock: ManualClock
) -> None:
    """Mail accepted (queued) by a run that stopped before processing it is stored by the next start."""
    first = AsyncAgentInbox(database_url=database_url, default_domain="agents.test", clock=clock)
    await first.inboxes.create(username="desk")
    ctx = await first._context()
    for _ in range(2):  # the same message accepted twice: a client that never saw the first 250
        await ctx.db.write(
            inbound_queue.enqueue, RAW, mail_from="c@example.com", rcpt_to=["desk@agents.test"], now=1
        )
    await first.close()
    second = AsyncAgentInbox(database_url=database_url, default_domain="agents.test", clock=clock)
    await second.start()
    await processed(second)
    assert (await second.inboxes.messages.list(inbox_id="desk@agents.test")).count == 1
    assert await queued(second) == 0
    await second.close()


async def test_a_failing_message_stays_queued_and_is_retried(
    server: AsyncAgentInbox, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> list[object]:
        raise RuntimeError("bug while storing")

    monkeypatch.setattr(inbound_worker, "store_received", broken)
    host, port = server.smtp_address or ("", 0)
    await aiosmtplib.send(
        RAW, sender="c@example.com", recipients=["desk@agents.test"], hostname=host, port=port
    )
    await processed(server)
    assert await queued(server) == 1
    assert (await server.inboxes.messages.list(inbox_id="desk@agents.test")).count == 0
    monkeypatch.undo()
    clock.advance(3600)
    assert server._receiving is not None
    server._receiving.worker.wake()
    await processed(server)
    assert await queued(server) == 0
    assert (await server.inboxes.messages.list(inbox_id="desk@agents.test")).count == 1


@pytest.mark.parametrize(
    "extra",
    [
        [],
        ["--pipeline"],
        ["--attach", "-"],
        [
            "--body",
            "Gr\u00fc\u00dfe aus K\u00f6ln, 8-bit body",
            "--add-header",
            "Content-Type: text/plain; charset=utf-8",
        ],
    ],
    ids=["plain", "pipelining", "attachment", "8bit"],
)
async def test_swaks_delivers(server: AsyncAgentInbox, extra: list[str]) -> None:
    status, output = await swaks(
        server.smtp_address,
        "--from", "carol@example.com", "--to", "desk@agents.test",
        "--header", "Subject: via swaks", "--helo", "client.example.com", *extra,
        stdin=b"attached file content\n",
    )  # fmt: skip
    assert status == 0, output
    assert "250 2.0.0 Message accepted" in output
    await processed(server)
    message = await only_message(server)
    assert message.subject == "via swaks"
    if "--attach" in extra:
        assert message.attachments
    if "8-bit body" in " ".join(extra):
        assert "Grüße aus Köln" in (message.text or "")


async def test_client_without_smtp_listen_serves_nothing(client: AsyncAgentInbox) -> None:
    await client.start()
    assert client.smtp_address is None


async def test_bad_smtp_listen_is_a_validation_error(database_url: str) -> None:
    await expect_start_refused(database_url, "smtp_listen", smtp_listen="no-port-here")


def test_the_sync_client_serves_smtp(tmp_path: object) -> None:
    import smtplib

    from agentinbox import AgentInbox

    with AgentInbox(database_url=f"sqlite+aiosqlite:///{tmp_path}/s.db", smtp_listen="127.0.0.1:0") as client:
        inbox = client.inboxes.create(username="desk")
        client.start()
        host, port = client.smtp_address or ("", 0)
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = "c@example.com", inbox.inbox_id, "sync"
        message.set_content("hello")
        with smtplib.SMTP(host, port) as smtp:
            smtp.send_message(message)
        client._portal.call(processed(client.async_client))
        assert client.inboxes.messages.list(inbox_id=inbox.inbox_id).count == 1


@pytest.fixture
async def tls_server(
    database_url: str, clock: ManualClock, tls_files: tuple[object, object]
) -> AsyncIterator[AsyncAgentInbox]:
    """The receiver with a certificate configured, so it offers STARTTLS."""
    cert, key = tls_files
    settings = {"smtp_listen": "127.0.0.1:0", "tls_cert_file": str(cert), "tls_key_file": str(key)}
    async with serving(database_url, clock, "desk", **settings) as client:
        yield client


async def test_starttls_with_aiosmtplib(
    tls_server: AsyncAgentInbox, tls_files: tuple[object, object]
) -> None:
    from agentinbox.smtp.tls import client_context

    host, port = tls_server.smtp_address or ("", 0)
    smtp = aiosmtplib.SMTP(hostname=host, port=port, start_tls=False, tls_context=None)
    await smtp.connect()
    await smtp.ehlo()
    assert smtp.supports_extension("starttls")
    await smtp.starttls(tls_context=client_context(cafile=str(tls_files[0])))  # verifies the certificate
    await smtp.ehlo()
    assert not smtp.supports_extension("starttls")  # offered only before TLS (RFC 3207 §4.2)
    assert smtp.get_transport_info("sslcontext") is not None
    errors, reply = await smtp.sendmail("carol@example.com", ["desk@agents.test"], RAW)
    assert errors == {} and reply.startswith("2.0.0")
    await smtp.quit()
    await processed(tls_server)
    listing = await tls_server.inboxes.messages.list(inbox_id="desk@agents.test")
    assert listing.count == 1 and listing.messages[0].subject == "Over SMTP"


async def test_starttls_with_swaks(tls_server: AsyncAgentInbox) -> None:
    status, text = await swaks(
        tls_server.smtp_address, "--tls", "--from", "carol@example.com",
        "--to", "desk@agents.test", "--header", "Subject: via swaks over TLS", "--helo", "client.example.com",
    )  # fmt: skip
    assert status == 0, text
    assert "STARTTLS" in text and "TLS started" in text and "250 2.0.0 Message accepted" in text
    await processed(tls_server)
    listing = await tls_server.inboxes.messages.list(inbox_id="desk@agents.test")
    assert listing.count == 1 and listing.messages[0].subject == "via swaks over TLS"


async def test_no_starttls_without_a_certificate(server: AsyncAgentInbox) -> None:
    host, port = server.smtp_address or ("", 0)
    smtp = aiosmtplib.SMTP(hostname=host, port=port, start_tls=False)
    await smtp.connect()
    await smtp.ehlo()
    assert not smtp.supports_extension("starttls")
    response = await smtp.execute_command(b"STARTTLS")
    assert response.code == 454
    await smtp.quit()


async def test_an_unreadable_certificate_is_a_validation_error(database_url: str, tmp_path: object) -> None:
    settings = {"smtp_listen": "127.0.0.1:0", "tls_cert_file": f"{tmp_path}/missing.pem"}
    await expect_start_refused(database_url, "tls_cert_file", **settings)


async def test_smtputf8_with_aiosmtplib(server: AsyncAgentInbox) -> None:
    """A non-ASCII sender with MAIL's SMTPUTF8 parameter (RFC 6531); the UTF-8 headers arrive intact."""
    host, port = server.smtp_address or ("", 0)
    raw = (
        "From: Jörg Müller <jörg@bücher.example>\r\nTo: desk@agents.test\r\nSubject: Grüße, 你好\r\n"
        "Message-ID: <utf8-1@bücher.example>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nSchöne Grüße\r\n"
    ).encode()
    async with aiosmtplib.SMTP(hostname=host, port=port, start_tls=False) as smtp:
        await smtp.ehlo()
        assert smtp.supports_extension("smtputf8")
        await smtp.mail("jörg@bücher.example", options=["SMTPUTF8", "BODY=8BITMIME"], encoding="utf-8")
        await smtp.rcpt("desk@agents.test")
        reply = await smtp.data(raw)
    assert reply.code == 250
    await processed(server)
    message = await only_message(server)
    assert message.subject == "Grüße, 你好" and "jörg@bücher.example" in message.from_
    assert "Schöne Grüße" in (message.text or "")
    stored = await server.inboxes.messages.get_raw(inbox_id="desk@agents.test", message_id=message.message_id)
    assert stored.content == raw


async def test_smtputf8_with_swaks(server: AsyncAgentInbox) -> None:
    """swaks (no SMTPUTF8 option of its own) with a non-ASCII sender and 8-bit UTF-8 headers."""
    status, output = await swaks(
        server.smtp_address, "--from", "jörg@bücher.example", "--to", "desk@agents.test",
        "--header", "Subject: Grüße aus Köln", "--header", "Content-Type: text/plain; charset=utf-8",
        "--body", "Schöne Grüße", "--helo", "client.example.com",
    )  # fmt: skip
    assert status == 0, output
    await processed(server)
    message = await only_message(server)
    assert message.subject == "Grüße aus Köln" and "jörg@bücher.example" in message.from_
    assert "Schöne Grüße" in (message.text or "")


async def test_concurrent_accepts_share_one_commit(
    server: AsyncAgentInbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Accepts that arrive while one commits go into one transaction (on PostgreSQL as on SQLite)."""
    groups: list[int] = []
    original = inbound_queue.enqueue_many

    def counting(conn: object, messages: list[inbound_queue.Accepted], *, now: int) -> None:
        groups.append(len(messages))
        original(conn, messages, now=now)  # type: ignore[arg-type]

    monkeypatch.setattr(inbound_queue, "enqueue_many", counting)
    receiving = server._receiving
    assert receiving is not None
    raws = [RAW.replace(b"smtp-1@", f"smtp-{n}@".encode()) for n in range(10)]
    await asyncio.gather(*(receiving.accept(raw, "c@example.com", ["desk@agents.test"]) for raw in raws))
    assert groups == [10]
    await processed(server)
    assert (await server.inboxes.messages.list(inbox_id="desk@agents.test")).count == 10


async def test_recipient_checks_remember_inboxes_but_not_refusals(server: AsyncAgentInbox) -> None:
    """A new inbox receives mail at once after a refusal; one deleted while remembered is accepted, then
    dropped by the worker, as after any deletion between accept and processing."""
    host, port = server.smtp_address or ("", 0)

    async def rcpt(address: str) -> int:
        async with aiosmtplib.SMTP(hostname=host, port=port, start_tls=False) as smtp:
            await smtp.ehlo()
            await smtp.mail("c@example.com")
            code = (await smtp.execute_command(f"RCPT TO:<{address}>".encode())).code
            if code == 250:
                assert (await smtp.data(RAW)).code == 250
            return code

    assert await rcpt("late@agents.test") == 550
    await server.inboxes.create(username="late")
    assert await rcpt("late@agents.test") == 250
    await processed(server)
    assert (await server.inboxes.messages.list(inbox_id="late@agents.test")).count == 1
    await server.inboxes.delete(inbox_id="late@agents.test")
    assert await rcpt("late@agents.test") == 250  # still remembered
    await processed(server)
    assert await queued(server) == 0
