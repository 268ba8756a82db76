"""client.domains: custom domains with their DKIM keys and DNS records, verified against a loopback DNS server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiosmtplib
import dns.rdatatype
import dns.zone
import pytest
from dnslib import RCODE, DNSRecord
from dnslib.server import BaseResolver, DNSServer
from dnsserver import LoopbackDNS
from helpers import expect
from sqlalchemy import select

from agentinbox import (
    AgentInbox,
    AgentInboxError,
    AsyncAgentInbox,
    Domain,
    NotFoundError,
    UnprocessableError,
    ValidationError,
)
from agentinbox._clock import ManualClock
from agentinbox.security.dkim import txt_record
from agentinbox.store import inboxes as inbox_store
from agentinbox.store.tables import events


def by_name(domain: Domain) -> dict[tuple[str, str], str]:
    return {(r.type, r.name): r.value for r in domain.records}


def selector_of(domain: Domain) -> list[str]:
    return [r.name.partition(".")[0] for r in domain.records if r.name.endswith("._domainkey")]


def publish(server: LoopbackDNS, domain: Domain, *, skip: tuple[str, ...] = ()) -> None:
    """Serve the domain's records from the loopback DNS server, except those whose name is in ``skip``."""
    for record in domain.records:
        if record.name in skip:
            continue
        name = domain.domain if record.name == "@" else f"{record.name}.{domain.domain}"
        value = (record.priority, record.value) if record.type == "MX" else record.value
        server.zone.setdefault((name, record.type), []).append(value)


@pytest.fixture
async def checked(
    database_url: str, clock: ManualClock, dns_server: LoopbackDNS
) -> AsyncIterator[AsyncAgentInbox]:
    """An engine that asks the loopback DNS server and publishes ``mx.agents.test`` as its host."""
    async with AsyncAgentInbox(
        database_url=database_url,
        default_domain="agents.test",
        hostname="MX.Agents.Test.",
        dns_resolver=dns_server.address,
        clock=clock,
    ) as engine:
        yield engine


async def test_create_returns_the_records_to_publish(client: AsyncAgentInbox) -> None:
    domain = await client.domains.create(domain="Example.COM.")
    assert domain.domain_id == domain.domain == "example.com"
    assert domain.status == "NOT_STARTED" and domain.reason is None and domain.pod_id is None
    assert domain.feedback_enabled and domain.inbound_enabled
    assert not domain.subdomains_enabled and not domain.tracking_enabled
    [selector] = selector_of(domain)
    records = by_name(domain)
    assert records == {
        ("MX", "@"): "agents.test",  # the hostname setting defaults to default_domain
        ("TXT", "@"): "v=spf1 a:agents.test ~all",
        ("TXT", f"{selector}._domainkey"): records[("TXT", f"{selector}._domainkey")],
        ("TXT", "_dmarc"): "v=DMARC1; p=none",
    }
    assert records[("TXT", f"{selector}._domainkey")].startswith("v=DKIM1; k=rsa; p=MII")
    assert all(r.status == "MISSING" for r in domain.records)
    assert [r.priority for r in domain.records if r.type == "MX"] == [10]
    assert await client.domains.get(domain_id="EXAMPLE.com") == domain
    # JSON uses the reference's field names and leaves unset optionals out.
    dumped = domain.model_dump(mode="json", exclude_none=True)
    assert {"domain_id", "domain", "status", "records", "feedback_enabled", "created_at"} <= set(dumped)
    assert set(dumped["records"][0]) == {"type", "name", "value", "status", "priority"}


async def test_flags_shape_the_records(client: AsyncAgentInbox) -> None:
    domain = await client.domains.create(
        domain="send-only.test",
        inbound_enabled=False,
        subdomains_enabled=True,
        feedback_enabled=False,
        tracking_enabled=True,
        allow_conflicting_provider=True,
    )
    assert not domain.inbound_enabled and domain.subdomains_enabled and domain.tracking_enabled
    assert not domain.feedback_enabled
    assert [(r.type, r.name) for r in domain.records if r.type == "MX"] == [("MX", "*")]
    updated = await client.domains.update(
        domain_id="send-only.test", inbound_enabled=True, subdomains_enabled=False
    )
    assert [(r.type, r.name) for r in updated.records if r.type == "MX"] == [("MX", "@")]
    assert updated.tracking_enabled and not updated.feedback_enabled  # untouched flags stay
    assert selector_of(updated) == selector_of(domain)  # the key did not change


async def test_client_id_is_idempotent_and_duplicates_are_refused(client: AsyncAgentInbox) -> None:
    first = await client.domains.create(domain="one.test", client_id="domain-1")
    again = await client.domains.create(domain="one.test", client_id="domain-1")
    assert again == first
    # The same client_id returns the first domain whatever else is asked.
    assert await client.domains.create(domain="two.test", client_id="domain-1") == first
    with expect(UnprocessableError, "already_exists"):
        await client.domains.create(domain="ONE.test")
    with expect(UnprocessableError, "already_exists"):
        await client.domains.create(domain="one.test", client_id="domain-2")
    assert (await client.domains.list()).count == 1


@pytest.mark.parametrize(
    "name",
    ["", "   ", "localhost", "under_score.test", "-lead.test", "trail-.test", "a..b.test", "x" * 64 + ".test",
     "é.test", "spa ce.test", "new\nline.test", "nul\x00.test", ("a." * 130) + "test", 42, None, b"bytes.test"],
)  # fmt: skip
async def test_bad_domain_names_are_validation_errors(client: AsyncAgentInbox, name: object) -> None:
    with expect(ValidationError, "validation_error"):
        await client.domains.create(domain=name)  # type: ignore[arg-type]
    with expect(ValidationError, "validation_error"):
        await client.domains.get(domain_id=name)  # type: ignore[arg-type]


async def test_bad_flags_and_client_ids(client: AsyncAgentInbox) -> None:
    cases: list[dict[str, Any]] = [
        {"feedback_enabled": "yes"},
        {"inbound_enabled": 1},
        {"subdomains_enabled": []},
        {"tracking_enabled": "false"},
        {"allow_conflicting_provider": "no"},
        {"client_id": ""},
        {"client_id": "x" * 300},
        {"client_id": 7},
    ]
    for arguments in cases:
        with expect(ValidationError, "validation_error"):
            await client.domains.create(domain="flags.test", **arguments)
    assert (await client.domains.list()).count == 0
    await client.domains.create(domain="flags.test")
    with expect(ValidationError, "validation_error"):
        await client.domains.update(domain_id="flags.test")
    with expect(ValidationError, "validation_error"):
        await client.domains.update(domain_id="flags.test", tracking_enabled="on")  # type: ignore[arg-type]


async def test_unknown_domains_are_not_found(client: AsyncAgentInbox) -> None:
    for call in (
        client.domains.get(domain_id="nowhere.test"),
        client.domains.delete(domain_id="nowhere.test"),
        client.domains.update(domain_id="nowhere.test", tracking_enabled=True),
        client.domains.get_zone_file(domain_id="nowhere.test"),
        client.domains.verify(domain_id="nowhere.test"),
        client.domains.rotate_dkim_key(domain_id="nowhere.test"),
        client.domains.delete_dkim_key(domain_id="nowhere.test", selector="s1"),
    ):
        with expect(NotFoundError, "not_found"):
            await call


async def test_list_pages_newest_first(client: AsyncAgentInbox, clock: ManualClock) -> None:
    names = ["a.test", "b.test", "c.test"]
    for name in names:
        await client.domains.create(domain=name)
        clock.advance(1)
    first = await client.domains.list(limit=2)
    assert [d.domain_id for d in first.domains] == ["c.test", "b.test"]
    assert first.count == 2 and first.limit == 2 and first.next_page_token
    second = await client.domains.list(limit=2, page_token=first.next_page_token)
    assert [d.domain_id for d in second.domains] == ["a.test"] and second.next_page_token is None
    oldest = await client.domains.list(ascending=True)
    assert [d.domain_id for d in oldest.domains] == names
    assert "records" not in oldest.domains[0].model_dump() and "status" not in oldest.domains[0].model_dump()
    with expect(ValidationError, "validation_error"):
        await client.domains.list(limit=2, page_token=first.next_page_token, ascending=True)
    with expect(ValidationError, "validation_error"):
        await client.domains.list(page_token="garbage")
    with expect(ValidationError, "validation_error"):
        await client.domains.list(limit=0)


async def test_delete_keeps_inboxes_and_stops_signing(client: AsyncAgentInbox) -> None:
    await client.domains.create(domain="gone.test")
    inbox = await client.inboxes.create(username="agent", domain="gone.test")
    await client.domains.delete(domain_id="gone.test")
    with expect(NotFoundError, "not_found"):
        await client.domains.get(domain_id="gone.test")
    assert (await client.inboxes.get(inbox_id=inbox.inbox_id)).email == "agent@gone.test"
    sent = await client.inboxes.messages.send(inbox_id=inbox.inbox_id, to=["x@example.org"], text="hi")
    raw = await client.inboxes.messages.get_raw(inbox_id=inbox.inbox_id, message_id=sent.message_id)
    assert b"dkim-signature" not in raw.content.lower()
    # The name can be registered again, with a new key.
    again = await client.domains.create(domain="gone.test")
    assert again.status == "NOT_STARTED"


async def test_zone_file_parses_back_to_the_records(client: AsyncAgentInbox) -> None:
    domain = await client.domains.create(domain="zone.test", subdomains_enabled=True)
    text = await client.domains.get_zone_file(domain_id="zone.test")
    assert isinstance(text, bytes) and text.startswith(b"; DNS records for zone.test")
    zone = dns.zone.from_text(text.decode(), origin="zone.test.", relativize=True, check_origin=False)
    found: set[tuple[str, str, str]] = set()
    for name, node in zone.nodes.items():
        for rdataset in node.rdatasets:
            for rdata in rdataset:
                if rdataset.rdtype == dns.rdatatype.MX:
                    value = f"{rdata.preference} {rdata.exchange.to_text(omit_final_dot=True)}"
                else:
                    value = b"".join(rdata.strings).decode()
                found.add((dns.rdatatype.to_text(rdataset.rdtype), name.to_text(), value))
    expected = {
        (r.type, r.name, f"{r.priority} {r.value}" if r.type == "MX" else r.value) for r in domain.records
    }
    assert found == expected


async def test_verify_follows_what_dns_publishes(checked: AsyncAgentInbox, dns_server: LoopbackDNS) -> None:
    client = checked
    domain = await client.domains.create(domain="verify.test")
    assert by_name(domain)[("MX", "@")] == "mx.agents.test"
    assert by_name(domain)[("TXT", "@")] == "v=spf1 a:mx.agents.test ~all"

    nothing = await client.domains.verify(domain_id="verify.test")
    assert nothing.status == "PENDING" and nothing.reason == "dns_records_missing"
    assert all(r.status == "MISSING" for r in nothing.records)

    [selector] = selector_of(domain)
    publish(dns_server, domain, skip=("_dmarc",))
    partly = await client.domains.verify(domain_id="verify.test")
    assert partly.status == "PENDING"
    assert {r.name: r.status for r in partly.records} == {
        "@": "VALID",
        f"{selector}._domainkey": "VALID",
        "_dmarc": "MISSING",
    }
    assert await client.domains.get(domain_id="verify.test") == partly

    # The owner's own DMARC policy is as good as the suggested one.
    dns_server.zone[("_dmarc.verify.test", "TXT")] = ["v=DMARC1; p=reject; rua=mailto:d@verify.test"]
    verified = await client.domains.verify(domain_id="verify.test")
    assert verified.status == "VERIFIED" and verified.reason is None
    assert all(r.status == "VALID" for r in verified.records)
    # Verifying again changes nothing and writes no second event.
    assert (await client.domains.verify(domain_id="verify.test")).status == "VERIFIED"
    ctx = await client._context()
    rows = await ctx.db.read(
        lambda conn: conn.execute(select(events).where(events.c.event_type == "domain.verified")).all()
    )
    assert len(rows) == 1
    assert rows[0].payload["domain"]["domain_id"] == "verify.test"
    assert rows[0].payload["domain"]["status"] == "VERIFIED"

    # Enabling subdomains needs a new record: back to PENDING until it is published.
    pending = await client.domains.update(domain_id="verify.test", subdomains_enabled=True)
    assert pending.status == "PENDING"
    assert {(r.name, r.status) for r in pending.records if r.type == "MX"} == {
        ("@", "VALID"),
        ("*", "MISSING"),
    }
    # Turning it off again needs nothing new: verified at once, which is a new transition and event.
    assert (
        await client.domains.update(domain_id="verify.test", subdomains_enabled=False)
    ).status == "VERIFIED"
    await client.domains.update(domain_id="verify.test", subdomains_enabled=True)
    dns_server.zone[("*.verify.test", "MX")] = [(10, "mx.agents.test")]
    assert (await client.domains.verify(domain_id="verify.test")).status == "VERIFIED"
    rows = await ctx.db.read(
        lambda conn: conn.execute(select(events).where(events.c.event_type == "domain.verified")).all()
    )
    assert len(rows) == 3


async def test_verify_reports_wrong_and_duplicate_records(
    checked: AsyncAgentInbox, dns_server: LoopbackDNS
) -> None:
    client = checked
    domain = await client.domains.create(domain="wrong.test")
    publish(dns_server, domain)
    [selector] = selector_of(domain)
    from agentinbox.security.dkim import generate_key

    dns_server.zone[(f"{selector}._domainkey.wrong.test", "TXT")] = [
        txt_record(generate_key().public_key_pem)
    ]
    dns_server.zone[("wrong.test", "MX")] = [(10, "mx.elsewhere.test")]
    dns_server.zone[("wrong.test", "TXT")] = [
        "v=spf1 a:mx.agents.test ~all",
        "v=spf1 -all",
        "site-verification=x",
    ]
    dns_server.zone[("_dmarc.wrong.test", "TXT")] = ["v=DMARC1; p=sometimes"]
    result = await client.domains.verify(domain_id="wrong.test")
    assert result.status == "INVALID" and result.reason == "dns_records_invalid"
    states = {(r.type, r.name): (r.status, r.reason) for r in result.records}
    assert states == {
        ("MX", "@"): ("INVALID", "value_mismatch"),
        ("TXT", "@"): ("INVALID", "duplicate_records"),
        ("TXT", f"{selector}._domainkey"): ("INVALID", "value_mismatch"),
        ("TXT", "_dmarc"): ("INVALID", "value_mismatch"),
    }
    # An SPF policy of the owner's that includes the engine's host is fine.
    dns_server.zone[("wrong.test", "TXT")] = ["v=spf1 include:_spf.example.net a:mx.agents.test -all"]
    dns_server.zone[("wrong.test", "MX")] = [(5, "backup.example.net"), (10, "MX.AGENTS.TEST.")]
    result = await client.domains.verify(domain_id="wrong.test")
    valid = {(r.type, r.name): r.status for r in result.records}
    assert valid[("TXT", "@")] == "VALID" and valid[("MX", "@")] == "VALID"


class _Failing(BaseResolver):
    def resolve(self, request: DNSRecord, handler: object) -> DNSRecord:
        reply = request.reply()
        reply.header.rcode = RCODE.SERVFAIL
        return reply


async def test_verify_when_dns_fails(database_url: str, clock: ManualClock) -> None:
    server = DNSServer(_Failing(), address="127.0.0.1", port=0)
    server.start_thread()
    try:
        port = server.server.server_address[1]
        async with AsyncAgentInbox(
            database_url=database_url,
            default_domain="agents.test",
            dns_resolver=f"127.0.0.1:{port}",
            clock=clock,
        ) as client:
            await client.domains.create(domain="broken-dns.test")
            with expect(AgentInboxError, "service_unavailable"):
                await client.domains.verify(domain_id="broken-dns.test")
            assert (await client.domains.get(domain_id="broken-dns.test")).status == "NOT_STARTED"
    finally:
        server.stop()


async def test_bad_settings_are_validation_errors(database_url: str, clock: ManualClock) -> None:
    for hostname in ("not a host", "127.0.0.1", "-bad.test"):
        async with AsyncAgentInbox(
            database_url=database_url, default_domain="agents.test", hostname=hostname, clock=clock
        ) as client:
            with expect(ValidationError, "validation_error"):
                await client.domains.create(domain="host.test")
    # A resolver that is no server address is refused when the engine opens (inbound authentication asks
    # it too), before any domain could be created or verified through it.
    client = AsyncAgentInbox(
        database_url=database_url, default_domain="agents.test", dns_resolver="not-an-address:53", clock=clock
    )
    try:
        with expect(ValidationError, "validation_error") as caught:
            await client.domains.create(domain="resolver.test")
        assert caught.value.errors[0]["path"] == ["dns_resolver"]
    finally:
        await client.close()


async def test_key_rotation_and_removal(checked: AsyncAgentInbox, dns_server: LoopbackDNS) -> None:
    client = checked
    domain = await client.domains.create(domain="rotate.test")
    publish(dns_server, domain)
    assert (await client.domains.verify(domain_id="rotate.test")).status == "VERIFIED"
    [old] = selector_of(domain)

    rotated = await client.domains.rotate_dkim_key(domain_id="rotate.test")
    assert rotated.status == "PENDING"  # the new key's record is not published yet
    [kept, new] = selector_of(rotated)
    assert kept == old and new != old
    statuses = {r.name: r.status for r in rotated.records}
    assert statuses[f"{old}._domainkey"] == "VALID" and statuses[f"{new}._domainkey"] == "MISSING"

    with expect(UnprocessableError, "cannot_delete"):
        await client.domains.delete_dkim_key(domain_id="rotate.test", selector=new)
    with expect(NotFoundError, "not_found"):
        await client.domains.delete_dkim_key(domain_id="rotate.test", selector="nosuchselector")
    for bad in ("", "x" * 64, 5, None, "a\nb"):
        with expect(ValidationError, "validation_error"):
            await client.domains.delete_dkim_key(domain_id="rotate.test", selector=bad)  # type: ignore[arg-type]

    publish(dns_server, rotated, skip=("@", "_dmarc", f"{old}._domainkey"))
    assert (await client.domains.verify(domain_id="rotate.test")).status == "VERIFIED"
    trimmed = await client.domains.delete_dkim_key(domain_id="rotate.test", selector=old.upper())
    assert selector_of(trimmed) == [new] and trimmed.status == "VERIFIED"


async def test_registered_domains_are_ours_at_smtp(database_url: str, clock: ManualClock) -> None:
    async with AsyncAgentInbox(
        database_url=database_url, default_domain="agents.test", smtp_listen="127.0.0.1:0", clock=clock
    ) as client:
        await client.inboxes.create(username="desk")
        await client.start()
        host, port = client.smtp_address or ("", 0)
        raw = b"From: c@example.org\r\nTo: x@custom.test\r\nSubject: hi\r\n\r\nhello\r\n"
        recipients = ["desk@agents.test", "ghost@custom.test"]

        errors, _ = await aiosmtplib.send(
            raw, sender="c@example.org", recipients=recipients, hostname=host, port=port
        )
        assert errors["ghost@custom.test"][0] == 550 and "relay" in errors["ghost@custom.test"][1].lower()

        await client.domains.create(domain="custom.test")
        ctx = await client._context()
        assert await ctx.db.read(inbox_store.hosts_domain, "Custom.Test")
        errors, _ = await aiosmtplib.send(
            raw, sender="c@example.org", recipients=recipients, hostname=host, port=port
        )
        assert errors["ghost@custom.test"][0] == 550 and "5.1.1" in errors["ghost@custom.test"][1]


def test_the_sync_client_has_domains(tmp_path: object) -> None:
    with AgentInbox(
        database_url=f"sqlite+aiosqlite:///{tmp_path}/d.db", default_domain="agents.test"
    ) as client:
        domain = client.domains.create(domain="sync.test")
        assert isinstance(domain, Domain)
        assert client.domains.get(domain_id="sync.test") == domain
        assert client.domains.list().count == 1
        assert b"_domainkey" in client.domains.get_zone_file(domain_id="sync.test")
        client.domains.delete(domain_id="sync.test")
        with pytest.raises(NotFoundError):
            client.domains.get(domain_id="sync.test")
