"""DKIM signing: outbound mail from a domain with a key is signed, and dkimpy verifies the stored bytes
independently against the key the loopback DNS server publishes; tampering breaks the signature."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import aiosmtplib
import dkim as dkimpy
import dns.rdatatype
import dns.resolver
import pytest
from dnsserver import LoopbackDNS
from peers import Peer
from sqlalchemy import update

from agentinbox import AsyncAgentInbox, Domain
from agentinbox._clock import ManualClock
from agentinbox.security import dkim
from agentinbox.security.dns_records import zone_file
from agentinbox.store.tables import domain_keys

MESSAGE = (
    b"From: Agent <agent@signed.test>\r\n"
    b"To: someone@example.org\r\n"
    b"Subject: Quarterly numbers\r\n"
    b"Date: Sun, 29 Nov 2026 02:00:00 +0000\r\n"
    b"Message-ID: <m1@signed.test>\r\n"
    b"X-Unsigned: yes\r\n"
    b"\r\n"
    b"The numbers are in.\r\n"
)


def loopback_dnsfunc(server: LoopbackDNS) -> Callable[..., bytes | None]:
    """dkimpy's ``dnsfunc``: TXT lookups through dnspython, asking only the loopback server."""
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = ["127.0.0.1"]
    resolver.port = server.port

    def lookup(name: bytes | str, timeout: float = 5) -> bytes | None:
        text = name.decode() if isinstance(name, bytes) else name
        try:
            answer = resolver.resolve(text, dns.rdatatype.TXT, lifetime=timeout)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return None
        return b"".join(answer[0].strings)

    return lookup


def publish(server: LoopbackDNS, domain: Domain) -> None:
    """Serve every TXT record the domain needs from the loopback DNS server."""
    for record in domain.records:
        if record.type == "TXT":
            name = domain.domain if record.name == "@" else f"{record.name}.{domain.domain}"
            server.zone.setdefault((name, "TXT"), []).append(record.value)


# --- the pure signing functions ---------------------------------------------------------------------------


def test_sign_verifies_and_tampering_fails() -> None:
    key = dkim.generate_key()
    record = dkim.txt_record(key.public_key_pem).encode()
    signed = dkim.sign(MESSAGE, domain="signed.test", selector="s1", private_key_pem=key.private_key_pem)
    assert signed.endswith(MESSAGE) and signed.startswith(b"DKIM-Signature: ")
    header = signed[: -len(MESSAGE)].decode()
    assert "a=rsa-sha256" in header and "c=relaxed/relaxed" in header and "d=signed.test" in header
    assert "s=s1" in header
    tags = header.replace("\r\n", "").replace(" ", "")
    assert "h=from:to:subject:date:message-id:from;" in tags  # present ones, From oversigned
    dnsfunc = lambda name, timeout=5: record  # noqa: E731
    assert dkimpy.verify(signed, dnsfunc=dnsfunc)
    # Relaxed canonicalization tolerates whitespace changes; content changes break the signature.
    assert dkimpy.verify(signed.replace(b"Subject: Quarterly", b"Subject:  Quarterly"), dnsfunc=dnsfunc)
    assert not dkimpy.verify(signed.replace(b"numbers are in", b"numbers are IN"), dnsfunc=dnsfunc)
    assert not dkimpy.verify(signed.replace(b"Quarterly", b"Yearly"), dnsfunc=dnsfunc)
    assert not dkimpy.verify(b"From: mallory@evil.test\r\n" + signed, dnsfunc=dnsfunc)
    # An unsigned header may change.
    assert dkimpy.verify(signed.replace(b"X-Unsigned: yes", b"X-Unsigned: no"), dnsfunc=dnsfunc)


def test_sign_is_byte_for_byte_what_dkimpy_alone_produces(monkeypatch: pytest.MonkeyPatch) -> None:
    """The RSA step runs in OpenSSL, but PKCS#1 v1.5 is deterministic: the header must equal dkimpy's own."""
    monkeypatch.setattr(dkimpy.time, "time", lambda: 1_795_918_440.5)
    key = dkim.generate_key()
    ours = dkim.sign(MESSAGE, domain="signed.test", selector="s1", private_key_pem=key.private_key_pem)
    headers = [b"from", b"to", b"subject", b"date", b"message-id", b"from"]
    stock = dkimpy.sign(
        MESSAGE,
        b"s1",
        b"signed.test",
        key.private_key_pem.encode(),
        canonicalize=(b"relaxed", b"relaxed"),
        include_headers=headers,
    )
    assert ours == stock + MESSAGE


def test_sign_keeps_bare_lf_messages_consistent() -> None:
    key = dkim.generate_key()
    lf = MESSAGE.replace(b"\r\n", b"\n")
    signed = dkim.sign(lf, domain="signed.test", selector="s1", private_key_pem=key.private_key_pem)
    assert b"\r\n" not in signed
    record = dkim.txt_record(key.public_key_pem).encode()
    assert dkimpy.verify(signed, dnsfunc=lambda name, timeout=5: record)


@pytest.mark.parametrize(
    ("raw", "domain", "selector", "private_key"),
    [
        (b"no header block at all", "signed.test", "s1", None),
        (b"Subject: no sender\r\n\r\nbody\r\n", "signed.test", "s1", None),
        (MESSAGE, "signed.test", "s1", "not a key"),
        (MESSAGE, "signed.test", "bad selector", None),
        (MESSAGE, "bad;domain", "s1", None),
        ("text, not bytes", "signed.test", "s1", None),
    ],
)
def test_signing_failures_are_typed(raw: bytes, domain: str, selector: str, private_key: str | None) -> None:
    pem = private_key or dkim.generate_key().private_key_pem
    with pytest.raises(dkim.SigningError):
        dkim.sign(raw, domain=domain, selector=selector, private_key_pem=pem)


def test_generated_key_and_record() -> None:
    key = dkim.generate_key()
    assert key.private_key_pem.startswith("-----BEGIN RSA PRIVATE KEY-----")
    record = dkim.txt_record(key.public_key_pem)
    assert record.startswith("v=DKIM1; k=rsa; p=MII")
    # RSA-2048: a 294-byte SubjectPublicKeyInfo is 392 base64 characters.
    assert len(dkim.public_key_base64(key.public_key_pem)) == 392


# --- the outbound pipeline --------------------------------------------------------------------------------


async def test_mail_from_a_domain_with_a_key_is_signed(
    client: AsyncAgentInbox, dns_server: LoopbackDNS
) -> None:
    domain = await client.domains.create(domain="signed.test")
    publish(dns_server, domain)
    dnsfunc = loopback_dnsfunc(dns_server)
    agent = await client.inboxes.create(username="agent", domain="signed.test", display_name="Agent")
    colleague = await client.inboxes.create(username="colleague")
    sent = await client.inboxes.messages.send(
        inbox_id=agent.inbox_id,
        to=["someone@example.org", colleague.inbox_id],
        subject="Signed mail",
        text="Hello from a signed domain.",
        attachments=[{"filename": "a.txt", "content": b"attached"}],
    )
    raw = (await client.inboxes.messages.get_raw(inbox_id=agent.inbox_id, message_id=sent.message_id)).content
    assert raw.startswith(b"DKIM-Signature: ")
    assert dkimpy.verify(raw, dnsfunc=dnsfunc)
    selector = next(r.name for r in domain.records if r.name.endswith("._domainkey")).partition(".")[0]
    assert f"s={selector};".encode() in raw.replace(b"\r\n ", b"").replace(b" ", b"")
    # The loopback server really answered the key lookup.
    assert (f"{selector}._domainkey.signed.test", "TXT") in dns_server.resolver.queries

    # The local recipient's copy is the same signed bytes.
    received = await client.inboxes.messages.get_raw(inbox_id=colleague.inbox_id, message_id=sent.message_id)
    assert received.content == raw

    body_end = raw.rindex(b"Hello from a signed domain.")
    tampered_body = raw[:body_end] + b"Hello from an evil domain." + raw[body_end + 27 :]
    assert not dkimpy.verify(tampered_body, dnsfunc=dnsfunc)
    assert not dkimpy.verify(raw.replace(b"Subject: Signed mail", b"Subject: Signed mall"), dnsfunc=dnsfunc)
    stored = await client.inboxes.messages.get(inbox_id=agent.inbox_id, message_id=sent.message_id)
    assert stored.subject == "Signed mail" and "sent" in stored.labels


async def test_a_reply_is_signed_too(client: AsyncAgentInbox, dns_server: LoopbackDNS) -> None:
    domain = await client.domains.create(domain="Signed.Test")
    publish(dns_server, domain)
    agent = await client.inboxes.create(username="agent", domain="signed.test")
    [incoming] = await client.deliver(
        b"From: carol@example.org\r\nTo: agent@signed.test\r\nSubject: Question\r\n"
        b"Message-ID: <q1@example.org>\r\n\r\nWhat time is it?\r\n"
    )
    reply = await client.inboxes.messages.reply(
        inbox_id=agent.inbox_id, message_id=incoming.message_id, text="Time to sign."
    )
    raw = (
        await client.inboxes.messages.get_raw(inbox_id=agent.inbox_id, message_id=reply.message_id)
    ).content
    assert dkimpy.verify(raw, dnsfunc=loopback_dnsfunc(dns_server))
    assert b"in-reply-to" in raw.split(b"\r\n\r\n", 1)[0].lower()


async def test_mail_from_a_domain_without_a_key_is_unsigned(client: AsyncAgentInbox) -> None:
    await client.domains.create(domain="signed.test")
    plain = await client.inboxes.create(username="plain")  # on the default domain, which has no key
    other = await client.inboxes.create(username="other", domain="elsewhere.test")
    for inbox in (plain, other):
        sent = await client.inboxes.messages.send(inbox_id=inbox.inbox_id, to=["x@example.org"], text="hi")
        raw = await client.inboxes.messages.get_raw(inbox_id=inbox.inbox_id, message_id=sent.message_id)
        assert b"dkim-signature" not in raw.content.lower()


async def test_a_broken_key_sends_unsigned_and_logs(
    client: AsyncAgentInbox, caplog: pytest.LogCaptureFixture
) -> None:
    await client.domains.create(domain="signed.test")
    agent = await client.inboxes.create(username="agent", domain="signed.test")
    ctx = await client._context()
    await ctx.db.write(lambda conn: conn.execute(update(domain_keys).values(private_key="corrupted")))
    with caplog.at_level(logging.WARNING, logger="agentinbox.dkim"):
        sent = await client.inboxes.messages.send(inbox_id=agent.inbox_id, to=["x@example.org"], text="hi")
    raw = await client.inboxes.messages.get_raw(inbox_id=agent.inbox_id, message_id=sent.message_id)
    assert b"dkim-signature" not in raw.content.lower()
    assert any("signed.test" in r.getMessage() and "unsigned" in r.getMessage() for r in caplog.records)


async def test_rotation_signs_with_the_new_key_and_old_mail_still_verifies(
    client: AsyncAgentInbox, dns_server: LoopbackDNS
) -> None:
    domain = await client.domains.create(domain="signed.test")
    agent = await client.inboxes.create(username="agent", domain="signed.test")
    first = await client.inboxes.messages.send(inbox_id=agent.inbox_id, to=["x@example.org"], text="one")
    rotated = await client.domains.rotate_dkim_key(domain_id="signed.test")
    publish(dns_server, rotated)
    second = await client.inboxes.messages.send(inbox_id=agent.inbox_id, to=["x@example.org"], text="two")
    dnsfunc = loopback_dnsfunc(dns_server)
    old = next(r.name for r in domain.records if r.name.endswith("._domainkey")).partition(".")[0]
    selectors = [r.name.partition(".")[0] for r in rotated.records if r.name.endswith("._domainkey")]
    assert selectors[0] == old and len(selectors) == 2
    for message, selector in ((first, selectors[0]), (second, selectors[1])):
        raw = (
            await client.inboxes.messages.get_raw(inbox_id=agent.inbox_id, message_id=message.message_id)
        ).content
        assert f"s={selector};".encode() in raw.replace(b"\r\n ", b"").replace(b" ", b"")
        assert dkimpy.verify(raw, dnsfunc=dnsfunc)
    # The zone file publishes both keys until the old one is removed.
    assert zone_file("signed.test", rotated.records).count(b"._domainkey") == 2


async def test_what_leaves_over_smtp_is_signed(
    database_url: str, clock: ManualClock, dns_server: LoopbackDNS
) -> None:
    """Both ways out, an API send and SMTP submission, reach a relay peer as bytes that verify."""
    peer = await Peer().start()
    client = AsyncAgentInbox(
        database_url=database_url,
        default_domain="agents.test",
        relay_url=f"smtp://127.0.0.1:{peer.port}",
        submission_listen="127.0.0.1:0",
        api_key="org-secret-for-dkim-tests",
        clock=clock,
    )
    try:
        domain = await client.domains.create(domain="signed.test")
        publish(dns_server, domain)
        agent = await client.inboxes.create(username="agent", domain="signed.test", display_name="Agent")
        await client.start()
        await client.inboxes.messages.send(
            inbox_id=agent.inbox_id, to=["ann@example.com"], subject="Via the API", text="one"
        )
        host, port = client.submission_address or ("", 0)
        smtp = aiosmtplib.SMTP(hostname=host, port=port, start_tls=False, timeout=30)
        await smtp.connect()
        await smtp.ehlo()
        await smtp.auth_plain(agent.inbox_id, "org-secret-for-dkim-tests")
        submitted = MESSAGE.replace(b"someone@example.org", b"bob@example.com")
        await smtp.sendmail(agent.inbox_id, ["bob@example.com"], submitted)
        smtp.close()
        assert client._delivery is not None
        await asyncio.wait_for(client._delivery.idle(), timeout=30)
        dnsfunc = loopback_dnsfunc(dns_server)
        assert len(peer.received) == 2
        for got in peer.received:
            assert got.data.startswith(b"DKIM-Signature: ")
            assert dkimpy.verify(got.data, dnsfunc=dnsfunc)
        assert {b"Subject: Via the API" in got.data for got in peer.received} == {True, False}
    finally:
        await client.close()
        await peer.stop()
