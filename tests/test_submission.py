"""SMTP submission: real clients (aiosmtplib, swaks) authenticate as an inbox and send through it on loopback.

What is accepted is stored ``sent`` (threaded, queued for remote delivery, handed to local inboxes) before
the 250; everything refused gets its SMTP reply code and leaves nothing behind.
"""

from __future__ import annotations

import asyncio
import base64
import smtplib
import socket
import ssl
from collections.abc import AsyncIterator
from email.message import EmailMessage
from pathlib import Path

import aiosmtplib
import dkim as dkimpy
import pytest
from dnsserver import LoopbackDNS
from helpers import expect_start_refused, serving, swaks
from peers import Peer
from sqlalchemy import func, select
from test_dkim import loopback_dnsfunc, publish

from agentinbox import AgentInbox, AsyncAgentInbox
from agentinbox._clock import ManualClock
from agentinbox.smtp import submission as smtp_submission
from agentinbox.store.tables import deliveries, messages

ORG_KEY = "org-wide-secret-for-tests"
DESK = "desk@agents.test"


def closed_port() -> int:
    """A loopback port nothing listens on: the relay the delivery workers would try (never the internet)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def message(
    *,
    from_: str = f"Desk <{DESK}>",
    to: str = "carol@example.com",
    subject: str = "Hello",
    extra: bytes = b"",
    body: bytes = b"Hello from the desk.\r\n",
) -> bytes:
    return f"From: {from_}\r\nTo: {to}\r\nSubject: {subject}\r\n".encode() + extra + b"\r\n" + body


@pytest.fixture
async def server(
    database_url: str, clock: ManualClock, tls_files: tuple[Path, Path]
) -> AsyncIterator[AsyncAgentInbox]:
    cert, key = tls_files
    async with serving(
        database_url,
        clock,
        "desk",
        "sales",
        submission_listen="127.0.0.1:0",
        api_key=ORG_KEY,
        max_message_size=100_000,
        tls_cert_file=str(cert),
        tls_key_file=str(key),
        relay_url=f"smtp://127.0.0.1:{closed_port()}",
        dns_resolver=f"127.0.0.1:{closed_port()}",
    ) as client:
        yield client


async def connect(server: AsyncAgentInbox, **kwargs: object) -> aiosmtplib.SMTP:
    host, port = server.submission_address or ("", 0)
    smtp = aiosmtplib.SMTP(hostname=host, port=port, start_tls=False, timeout=30, **kwargs)  # type: ignore[arg-type]
    await smtp.connect()
    await smtp.ehlo()
    return smtp


async def submit(
    server: AsyncAgentInbox,
    raw: bytes,
    *,
    recipients: list[str],
    sender: str = DESK,
    username: str = DESK,
    password: str = ORG_KEY,
    mechanism: str = "PLAIN",
    mail_options: list[str] | None = None,
) -> str:
    """Authenticate and send one message; returns the final reply's message (raises on refusals)."""
    smtp = await connect(server)
    try:
        if mechanism == "PLAIN":
            await smtp.auth_plain(username, password)
        else:
            await smtp.auth_login(username, password)
        _, reply = await smtp.sendmail(sender, recipients, raw, mail_options=mail_options)
        return reply
    finally:
        smtp.close()


async def stored(server: AsyncAgentInbox) -> tuple[int, int]:
    """(messages, delivery rows) in the whole store."""
    ctx = await server._context()

    def count(conn: object) -> tuple[int, int]:
        total = conn.execute(select(func.count()).select_from(messages)).scalar()  # type: ignore[attr-defined]
        queued = conn.execute(select(func.count()).select_from(deliveries)).scalar()  # type: ignore[attr-defined]
        return int(total), int(queued)

    return await ctx.db.read(count)


async def raw_of(server: AsyncAgentInbox, inbox_id: str, message_id: str) -> bytes:
    return (await server.inboxes.messages.get_raw(inbox_id=inbox_id, message_id=message_id)).content


# -- accepted mail ------------------------------------------------------------------------------------


async def test_plain_auth_to_a_local_inbox(server: AsyncAgentInbox) -> None:
    reply = await submit(server, message(to="sales@agents.test"), recipients=["sales@agents.test"])
    assert reply.startswith("2.0.0")
    sent = (await server.inboxes.messages.list(inbox_id=DESK)).messages
    assert len(sent) == 1 and "sent" in sent[0].labels and "delivered" in sent[0].labels
    received = (await server.inboxes.messages.list(inbox_id="sales@agents.test")).messages
    assert len(received) == 1 and received[0].labels == ["received", "unread"]
    assert received[0].message_id == sent[0].message_id and received[0].subject == "Hello"
    raw = await raw_of(server, DESK, sent[0].message_id)
    # Message-ID and Date were missing and have been added; the stored bytes are what was delivered.
    assert f"Message-ID: {sent[0].message_id}".encode() in raw and b"\r\nDate: " in raw
    assert sent[0].message_id.endswith("@agents.test>")
    assert await stored(server) == (2, 0)


async def test_login_with_an_inbox_key_to_a_remote_address(server: AsyncAgentInbox) -> None:
    key = await server.inboxes.api_keys.create(inbox_id=DESK, name="mail client")
    raw = message(extra=b"Message-ID: <remote-1@client.example>\r\n")
    reply = await submit(
        server, raw, recipients=["carol@example.com"], password=key.api_key, mechanism="LOGIN"
    )
    assert "<remote-1@client.example>" in reply
    sent = await server.inboxes.messages.get(inbox_id=DESK, message_id="<remote-1@client.example>")
    assert "sent" in sent.labels and "delivered" not in sent.labels and sent.to == ["carol@example.com"]
    ctx = await server._context()
    rows = await ctx.db.read(
        lambda conn: conn.execute(select(deliveries.c.recipient, deliveries.c.created_at)).all()
    )
    assert [r.recipient for r in rows] == ["carol@example.com"]
    assert (await server.api_keys.get(api_key_id=key.api_key_id)).used_at is not None


async def test_remote_mail_is_relayed_without_its_bcc_header(database_url: str, clock: ManualClock) -> None:
    """End to end: submitted over SMTP, stored, then delivered by the delivery workers to a relay peer."""
    relay = await Peer().start()
    engine = AsyncAgentInbox(
        database_url=database_url,
        default_domain="agents.test",
        submission_listen="127.0.0.1:0",
        api_key=ORG_KEY,
        relay_url=f"smtp://127.0.0.1:{relay.port}",
        clock=clock,
    )
    try:
        await engine.inboxes.create(username="desk")
        await engine.inboxes.create(username="sales")
        await engine.start()
        raw = message(
            to="Carol <carol@example.com>",
            extra=b"Cc: sales@agents.test\r\nBcc: dave@example.org\r\nMessage-ID: <relayed@client.example>\r\n",
        )
        await submit(engine, raw, recipients=["carol@example.com", "dave@example.org", "sales@agents.test"])
        assert engine._delivery is not None
        await asyncio.wait_for(engine._delivery.idle(), timeout=30)
        [delivered] = relay.received
        assert sorted(delivered.rcpt_tos) == ["carol@example.com", "dave@example.org"]
        assert delivered.mail_from == DESK and b"dave@example.org" not in delivered.data
        assert delivered.data == await raw_of(engine, DESK, "<relayed@client.example>")
        sent = await engine.inboxes.messages.get(inbox_id=DESK, message_id="<relayed@client.example>")
        assert {"sent", "delivered"} <= set(sent.labels) and sent.bcc == ["dave@example.org"]
        assert (await engine.inboxes.messages.list(inbox_id="sales@agents.test")).count == 1
    finally:
        await engine.close()
        await relay.stop()


async def test_mail_from_a_domain_with_a_key_is_dkim_signed(
    server: AsyncAgentInbox, dns_server: LoopbackDNS
) -> None:
    domain = await server.domains.create(domain="signed.test")
    publish(dns_server, domain)
    agent = await server.inboxes.create(username="agent", domain="signed.test")
    raw = message(from_=f"Agent <{agent.inbox_id}>", extra=b"Message-ID: <signed@client.example>\r\n")
    await submit(
        server, raw, recipients=["carol@example.com"], sender=agent.inbox_id, username=agent.inbox_id
    )
    stored_raw = await raw_of(server, agent.inbox_id, "<signed@client.example>")
    assert stored_raw.startswith(b"DKIM-Signature: ")
    assert dkimpy.verify(stored_raw, dnsfunc=loopback_dnsfunc(dns_server))
    assert not dkimpy.verify(
        stored_raw.replace(b"Hello from", b"Hello frum"), dnsfunc=loopback_dnsfunc(dns_server)
    )


async def test_pod_and_org_keys_may_send_as_their_inboxes(server: AsyncAgentInbox) -> None:
    desk = await server.inboxes.get(inbox_id=DESK)
    pod_key = await server.pods.api_keys.create(pod_id=desk.pod_id)
    org_key = await server.api_keys.create()
    for index, key in enumerate((pod_key, org_key)):
        raw = message(extra=f"Message-ID: <scoped-{index}@client.example>\r\n".encode())
        await submit(server, raw, recipients=["sales@agents.test"], password=key.api_key)
    assert (await server.inboxes.messages.list(inbox_id="sales@agents.test")).count == 2


async def test_a_reply_joins_the_thread_of_the_message_it_answers(server: AsyncAgentInbox) -> None:
    original = (
        b"From: Carol <carol@example.com>\r\nTo: desk@agents.test\r\nSubject: Order 42\r\n"
        b"Message-ID: <order-42@example.com>\r\n\r\nWhere is my order?\r\n"
    )
    [incoming] = await server.deliver(original, rcpt_to=[DESK])
    reply = message(
        to="Carol <carol@example.com>",
        subject="Re: Order 42",
        extra=b"In-Reply-To: <order-42@example.com>\r\nReferences: <order-42@example.com>\r\n",
        body=b"It ships today.\r\n",
    )
    await submit(server, reply, recipients=["carol@example.com"])
    thread = await server.inboxes.threads.get(inbox_id=DESK, thread_id=incoming.thread_id)
    assert [m.subject for m in thread.messages] == ["Order 42", "Re: Order 42"]
    assert thread.messages[-1].in_reply_to == "<order-42@example.com>"


async def test_bcc_is_stripped_and_envelope_only_recipients_are_bcc(server: AsyncAgentInbox) -> None:
    raw = message(
        to="sales@agents.test",
        extra=b"Bcc: Secret <carol@example.com>,\r\n  dave@example.org\r\nMessage-ID: <bcc-1@client.example>\r\n",
    )
    await submit(server, raw, recipients=["sales@agents.test", "carol@example.com", "dave@example.org"])
    sent = await server.inboxes.messages.get(inbox_id=DESK, message_id="<bcc-1@client.example>")
    assert sent.to == ["sales@agents.test"] and sorted(sent.bcc or []) == [
        "carol@example.com",
        "dave@example.org",
    ]
    for inbox in (DESK, "sales@agents.test"):
        stored_raw = await raw_of(server, inbox, "<bcc-1@client.example>")
        assert b"\nbcc:" not in stored_raw.lower() and b"dave@example.org" not in stored_raw
    assert (await stored(server))[1] == 2


async def test_a_resent_message_is_stored_once(server: AsyncAgentInbox) -> None:
    raw = message(extra=b"Message-ID: <again@client.example>\r\n")
    first = await submit(server, raw, recipients=["carol@example.com"])
    second = await submit(server, raw, recipients=["carol@example.com"])
    assert "accepted" in first and "already accepted" in second
    assert await stored(server) == (1, 1)


async def test_utf8_headers_with_smtputf8(server: AsyncAgentInbox) -> None:
    raw = message(subject="Grüße", to="sales@agents.test", extra=b"Message-ID: <utf8@client.example>\r\n")
    await submit(server, raw, recipients=["sales@agents.test"], mail_options=["SMTPUTF8"])
    sent = await server.inboxes.messages.get(inbox_id=DESK, message_id="<utf8@client.example>")
    assert sent.subject == "Grüße"


async def test_starttls_then_auth(server: AsyncAgentInbox, tls_files: tuple[Path, Path]) -> None:
    context = ssl.create_default_context(cafile=str(tls_files[0]))
    smtp = await connect(server)
    assert smtp.supports_extension("starttls")
    await smtp.starttls(tls_context=context)
    await smtp.ehlo()
    assert smtp.supports_extension("auth")
    await smtp.auth_plain(DESK, ORG_KEY)
    await smtp.sendmail(DESK, ["sales@agents.test"], message(to="sales@agents.test"))
    smtp.close()
    assert (await server.inboxes.messages.list(inbox_id="sales@agents.test")).count == 1


async def test_away_from_loopback_auth_needs_tls(
    server: AsyncAgentInbox, tls_files: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every address here is loopback, so the peer is declared remote to see the rule for one (RFC 4954).
    monkeypatch.setattr(smtp_submission, "_is_loopback", lambda peer: False)
    smtp = await connect(server)
    assert not smtp.supports_extension("auth") and smtp.supports_extension("starttls")
    response = await smtp.execute_command(b"AUTH", b"PLAIN", b"AGRlc2tAYWdlbnRzLnRlc3QAeA==")
    assert response.code == 538 and response.message.startswith("5.7.11")
    with pytest.raises(aiosmtplib.SMTPSenderRefused) as caught:
        await smtp.mail(DESK)
    assert caught.value.code == 530 and "5.7.0" in caught.value.message
    await smtp.starttls(tls_context=ssl.create_default_context(cafile=str(tls_files[0])))
    await smtp.ehlo()
    assert smtp.supports_extension("auth")
    await smtp.auth_login(DESK, ORG_KEY)
    await smtp.sendmail(DESK, ["sales@agents.test"], message(to="sales@agents.test"))
    smtp.close()
    assert (await stored(server))[0] == 2


@pytest.mark.parametrize(
    ("auth", "tls"),
    [("PLAIN", False), ("LOGIN", False), ("PLAIN", True)],
    ids=["plain", "login", "plain-tls"],
)
async def test_swaks_submits(server: AsyncAgentInbox, auth: str, tls: bool) -> None:
    key = await server.inboxes.api_keys.create(inbox_id=DESK)
    status, text = await swaks(
        server.submission_address,
        "--from", DESK, "--to", "sales@agents.test",
        "--header", "Subject: via swaks", "--helo", "client.example.com",
        "--auth", auth, "--auth-user", DESK, "--auth-password", key.api_key, *(["--tls"] if tls else []),
    )  # fmt: skip
    assert status == 0, text
    assert "235 2.7.0 Authentication successful" in text and "250 2.0.0 Message" in text
    if tls:
        assert "220 Ready to start TLS" in text
    listing = await server.inboxes.messages.list(inbox_id="sales@agents.test")
    assert listing.count == 1 and listing.messages[0].subject == "via swaks"


async def test_swaks_with_a_wrong_password_gets_535(server: AsyncAgentInbox) -> None:
    status, output = await swaks(
        server.submission_address, "--from", DESK, "--to", "sales@agents.test",
        "--auth", "PLAIN", "--auth-user", DESK, "--auth-password", "wrong",
    )  # fmt: skip
    assert status != 0 and "535 5.7.8" in output
    assert await stored(server) == (0, 0)


# -- refused mail -------------------------------------------------------------------------------------


async def test_mail_without_auth_gets_530(server: AsyncAgentInbox) -> None:
    smtp = await connect(server)
    assert smtp.supports_extension("auth")  # on loopback, AUTH is offered without TLS
    assert "PLAIN" in smtp.esmtp_extensions["auth"] and "LOGIN" in smtp.esmtp_extensions["auth"]
    with pytest.raises(aiosmtplib.SMTPSenderRefused) as caught:
        await smtp.sendmail(DESK, ["sales@agents.test"], message())
    assert caught.value.code == 530 and "5.7.0" in caught.value.message
    smtp.close()
    assert await stored(server) == (0, 0)


async def test_bad_credentials_get_535(server: AsyncAgentInbox) -> None:
    other_key = await server.inboxes.api_keys.create(inbox_id="sales@agents.test")
    mute_key = await server.inboxes.api_keys.create(inbox_id=DESK, permissions={"message_send": False})
    revoked = await server.inboxes.api_keys.create(inbox_id=DESK)
    await server.api_keys.delete(api_key_id=revoked.api_key_id)
    other_pod = await server.pods.create(name="elsewhere")
    pod_key = await server.pods.api_keys.create(pod_id=other_pod.pod_id)
    cases = {
        "wrong password": (DESK, "not-the-key"),
        "revoked key": (DESK, revoked.api_key),
        "another inbox's key": (DESK, other_key.api_key),
        "another pod's key": (DESK, pod_key.api_key),
        "key without message_send": (DESK, mute_key.api_key),
        "unknown inbox": ("ghost@agents.test", ORG_KEY),
        "empty password": (DESK, ""),
    }
    for case, (username, password) in cases.items():
        for mechanism in ("PLAIN", "LOGIN"):
            smtp = await connect(server)
            with pytest.raises(aiosmtplib.SMTPAuthenticationError) as caught:
                if mechanism == "PLAIN":
                    await smtp.auth_plain(username, password)
                else:
                    await smtp.auth_login(username, password)
            assert caught.value.code == 535 and "5.7.8" in caught.value.message, (case, mechanism)
            smtp.close()
    assert await stored(server) == (0, 0)


async def test_too_many_auth_attempts_close_the_connection(server: AsyncAgentInbox) -> None:
    smtp = await connect(server)
    for _ in range(3):
        with pytest.raises(aiosmtplib.SMTPAuthenticationError):
            await smtp.auth_plain(DESK, "guess")
    response = await smtp.execute_command(b"AUTH", b"PLAIN", b"AGRlc2tAYWdlbnRzLnRlc3QAeA==")
    assert response.code == 421
    smtp.close()


async def test_a_key_revoked_during_the_session_stops_it(server: AsyncAgentInbox) -> None:
    key = await server.inboxes.api_keys.create(inbox_id=DESK)
    smtp = await connect(server)
    await smtp.auth_plain(DESK, key.api_key)
    await server.inboxes.api_keys.delete(inbox_id=DESK, api_key_id=key.api_key_id)
    with pytest.raises(aiosmtplib.SMTPDataError) as caught:
        await smtp.sendmail(DESK, ["sales@agents.test"], message(to="sales@agents.test"))
    assert caught.value.code == 535
    smtp.close()
    assert await stored(server) == (0, 0)


async def test_wrong_envelope_sender_gets_553(server: AsyncAgentInbox) -> None:
    with pytest.raises(aiosmtplib.SMTPSenderRefused) as caught:
        await submit(server, message(), recipients=["carol@example.com"], sender="sales@agents.test")
    assert caught.value.code == 553 and "5.7.1" in caught.value.message
    assert await stored(server) == (0, 0)


@pytest.mark.parametrize(
    ("raw", "code", "status"),
    [
        (message(from_="Sales <sales@agents.test>"), 550, "5.7.1"),
        (message(from_="Desk <desk@agents.test>, sales@agents.test"), 550, "5.7.1"),
        (message(extra=b"Sender: ceo@example.com\r\n"), 550, "5.7.1"),
        (b"To: carol@example.com\r\nSubject: no from\r\n\r\nbody\r\n", 550, "5.7.1"),
        (message(extra=b"From: ceo@example.com\r\n"), 554, "5.6.0"),
        (message(extra=b"Subject: second subject\r\n"), 554, "5.6.0"),
        (message(subject="nul \x00 here"), 554, "5.6.0"),
        (message(body=b"a NUL \x00 in the body\r\n"), 554, "5.6.0"),
        (message(subject="Gr\u00fc\u00dfe"), 554, "5.6.7"),
        (message(extra=b"not a header line\r\n"), 554, "5.6.0"),
        (b" continuation first\r\n" + message(), 554, "5.6.0"),
        (message(extra=b"Message-ID: <a/b?c@client.example>\r\n"), 554, "5.6.0"),
        (message(extra=b"Message-ID: no-brackets@client.example\r\n"), 554, "5.6.0"),
    ],
    ids=[
        "from-other-inbox", "two-from-addresses", "foreign-sender", "no-from", "second-from",
        "second-subject", "nul-header", "nul-body", "8bit-without-smtputf8",
        "malformed-line", "leading-continuation", "unsafe-message-id", "bare-message-id",
    ],
)  # fmt: skip
async def test_refused_content(server: AsyncAgentInbox, raw: bytes, code: int, status: str) -> None:
    with pytest.raises(aiosmtplib.SMTPDataError) as caught:
        await submit(server, raw, recipients=["carol@example.com", "sales@agents.test"])
    assert caught.value.code == code and caught.value.message.startswith(status), caught.value
    assert await stored(server) == (0, 0)


@pytest.mark.parametrize("injected", [b"\n", b"\r", b"\r\r\n"], ids=["bare-lf", "bare-cr", "cr-cr-lf"])
async def test_header_injection_with_bare_line_breaks_gets_554(
    server: AsyncAgentInbox, injected: bytes
) -> None:
    """Sent byte for byte (SMTP client libraries would normalise the line ends first)."""
    host, port = server.submission_address or ("", 0)
    reader, writer = await asyncio.open_connection(host, port)
    credentials = base64.b64encode(f"\0{DESK}\0{ORG_KEY}".encode())
    data = message(subject="hi").replace(
        b"Subject: hi", b"Subject: hi" + injected + b"Bcc: victim@example.org"
    )
    replies = []
    try:
        await reader.readline()
        for command in (
            b"EHLO client.example", b"AUTH PLAIN " + credentials, f"MAIL FROM:<{DESK}>".encode(),
            b"RCPT TO:<sales@agents.test>", b"DATA",
        ):  # fmt: skip
            writer.write(command + b"\r\n")
            line = await reader.readline()
            while line[3:4] == b"-":
                line = await reader.readline()
            replies.append(line)
        writer.write(data + b".\r\n")
        replies.append(await reader.readline())
    finally:
        writer.close()
    assert [r[:3] for r in replies] == [b"250", b"235", b"250", b"250", b"354", b"554"], replies
    assert replies[-1].startswith(b"554 5.6.0")
    assert await stored(server) == (0, 0)


async def test_bad_recipient_syntax_gets_553(server: AsyncAgentInbox) -> None:
    smtp = await connect(server)
    await smtp.auth_plain(DESK, ORG_KEY)
    await smtp.mail(DESK)
    with pytest.raises(aiosmtplib.SMTPRecipientRefused) as caught:
        await smtp.rcpt("no-at-sign")
    assert caught.value.code == 553
    with pytest.raises(aiosmtplib.SMTPRecipientRefused) as caught:
        await smtp.rcpt("ghost@agents.test")  # our domain, but no such inbox: refused now, not bounced later
    assert caught.value.code == 550 and "5.1.1" in caught.value.message
    await smtp.rcpt("sales@agents.test")
    smtp.close()


async def test_oversized_message_gets_552(server: AsyncAgentInbox) -> None:
    big = message(body=(b"x" * 998 + b"\r\n") * 120)
    with pytest.raises(aiosmtplib.SMTPResponseException) as caught:
        await submit(server, big, recipients=["carol@example.com"])
    assert caught.value.code == 552
    assert await stored(server) == (0, 0)


# -- configuration ------------------------------------------------------------------------------------


async def test_without_submission_listen_nothing_listens(client: AsyncAgentInbox) -> None:
    await client.start()
    assert client.submission_address is None


async def test_bad_submission_listen_is_a_validation_error(database_url: str) -> None:
    await expect_start_refused(database_url, "submission_listen", submission_listen="nowhere")


async def test_an_unreadable_certificate_is_a_validation_error(database_url: str, tmp_path: Path) -> None:
    await expect_start_refused(
        database_url,
        "tls_cert_file",
        submission_listen="127.0.0.1:0",
        tls_cert_file=str(tmp_path / "missing.pem"),
        tls_key_file=str(tmp_path / "missing.key"),
    )


async def test_without_a_certificate_no_starttls_and_the_hostname_greets(database_url: str) -> None:
    engine = AsyncAgentInbox(
        database_url=database_url, submission_listen="127.0.0.1:0", hostname="mail.agents.test"
    )
    await engine.start()
    try:
        smtp = await connect(engine)
        assert not smtp.supports_extension("starttls") and smtp.supports_extension("auth")
        assert "mail.agents.test" in smtp.last_ehlo_response.message.splitlines()[0]  # type: ignore[union-attr]
        smtp.close()
    finally:
        await engine.close()


def test_the_sync_client_serves_submission(tmp_path: Path) -> None:
    with AgentInbox(
        database_url=f"sqlite+aiosqlite:///{tmp_path}/s.db",
        submission_listen="127.0.0.1:0",
        default_domain="agents.test",
    ) as client:
        desk = client.inboxes.create(username="desk")
        sales = client.inboxes.create(username="sales")
        key = client.inboxes.api_keys.create(inbox_id=desk.inbox_id)
        client.start()
        host, port = client.submission_address or ("", 0)
        email = EmailMessage()
        email["From"], email["To"], email["Subject"] = desk.inbox_id, sales.inbox_id, "sync"
        email.set_content("hello")
        with smtplib.SMTP(host, port) as smtp:
            smtp.login(desk.inbox_id, key.api_key)
            smtp.send_message(email)
        assert client.inboxes.messages.list(inbox_id=sales.inbox_id).count == 1


@pytest.mark.parametrize("peer", [("127.0.0.1", 1), ("::1", 1, 0, 0), ("::ffff:127.0.0.2", 1, 0, 0)])
def test_loopback_peers(peer: tuple[object, ...]) -> None:
    assert smtp_submission._is_loopback(peer)
    assert not smtp_submission._is_loopback(("192.0.2.1", 1))
    assert not smtp_submission._is_loopback(None) and not smtp_submission._is_loopback(("not an address", 1))


# -- the header screen alone (pure) -------------------------------------------------------------------


def test_screen_adds_only_what_is_missing_and_keeps_the_rest_byte_for_byte() -> None:
    from agentinbox.pipeline.submission import screen

    raw = message(extra=b"Date: Mon, 1 Jan 2029 10:00:00 +0000\r\nMessage-ID: <kept@client.example>\r\n")
    screened = screen(raw, inbox_id=DESK, smtputf8=False, now=1_800_000_000_000_000)
    assert screened.raw == raw and screened.message_id == "<kept@client.example>"
    headers_only = b"From: desk@agents.test\r\nSubject: no body\r\n"
    screened = screen(headers_only, inbox_id=DESK, smtputf8=False, now=1_800_000_000_000_000)
    assert screened.raw.startswith(headers_only) and screened.raw.endswith(b"\r\n\r\n")
    assert (
        screened.raw.count(b"Message-ID: ") == 1 and b"Date: Fri, 15 Jan 2027 08:00:00 +0000" in screened.raw
    )


def test_screen_refuses_an_empty_header() -> None:
    from agentinbox.pipeline.submission import Refusal, screen

    with pytest.raises(Refusal) as caught:
        screen(b"\r\nJust a body\r\n", inbox_id=DESK, smtputf8=False, now=0)
    assert caught.value.reply.startswith("550 5.7.1")
