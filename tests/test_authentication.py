"""Inbound authentication: SPF, DKIM and DMARC against a loopback DNS server, the check's verdicts and
labels, and mail received over real SMTP carrying its Authentication-Results header.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import socket
import statistics
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

import aiosmtplib
import dkim
import nacl.signing
import pytest
from dnsserver import LoopbackDNS
from helpers import corpus

from agentinbox import AsyncAgentInbox, ValidationError
from agentinbox._clock import ManualClock
from agentinbox.mail.parse import parse_message
from agentinbox.models import Authentication, MessageReceivedEvent
from agentinbox.security import dmarc, spf
from agentinbox.security.authentication import (
    AuthenticationCheck,
    authentication_check,
    from_domains,
    trusted_networks,
)
from agentinbox.security.dkim import KeyPair, generate_key, sign, txt_record
from agentinbox.security.dkim_verify import verify_message
from agentinbox.security.inspection import Finding, Inspection
from agentinbox.security.lookups import Lookups
from agentinbox.settings import Settings

OUTSIDE_IP = "192.0.2.10"  # TEST-NET-1: never in the trusted networks
AUTHSERV = "mx.agents.test"


# --- helpers ------------------------------------------------------------------------------------------------


def message(
    *,
    from_: str = "Alice <alice@sender.test>",
    to: str = "desk@agents.test",
    subject: str = "Hello",
    body: str = "Hi there.\r\n",
    extra: Sequence[str] = (),
) -> bytes:
    headers = [f"From: {from_}", f"To: {to}", f"Subject: {subject}", "Message-ID: <m1@sender.test>", *extra]
    return ("\r\n".join(headers) + "\r\n\r\n" + body).encode()


@pytest.fixture(scope="module")
def key() -> KeyPair:
    return generate_key()


def publish_key(dns: LoopbackDNS, key: KeyPair, domain: str, selector: str = "sel") -> None:
    dns.zone[(f"{selector}._domainkey.{domain}", "TXT")] = [txt_record(key.public_key_pem)]


def signed(raw: bytes, key: KeyPair, domain: str = "sender.test", selector: str = "sel") -> bytes:
    return sign(raw, domain=domain, selector=selector, private_key_pem=key.private_key_pem)


def closed_port() -> int:
    """A loopback UDP port nothing listens on: DNS asked there never answers."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def make_check(
    address: str, *, own: Sequence[str] = ("agents.test",), timeout: float = 2.0, trusted: Sequence[str] = ()
) -> AuthenticationCheck:
    async def own_domains() -> set[str]:
        return set(own)

    return AuthenticationCheck(
        lookups=Lookups.for_nameserver(address, timeout=timeout),
        own_domains=own_domains,
        authserv_id=AUTHSERV,
        trusted=trusted_networks(trusted),
        seconds=8,
    )


async def check(
    checker: AuthenticationCheck,
    raw: bytes,
    *,
    mail_from: str | None = "alice@sender.test",
    ip: str | None = OUTSIDE_IP,
    helo: str | None = "mail.sender.test",
) -> Finding:
    inspection = Inspection(raw, parse_message(raw), mail_from=mail_from, client_ip=ip, helo=helo)
    return await checker(inspection)


def verdict(finding: Finding) -> Authentication:
    """The finding's verdict, as the Message model reads it back (so it has every field it must)."""
    found = Authentication.model_validate(finding.verdicts["authentication"])
    [(name, value)] = finding.headers
    assert name == "Authentication-Results"
    assert found.header == " ".join(value.split())
    assert found.header.startswith(f"{AUTHSERV}; spf=")
    assert value.isascii() and "\r" not in value
    return found


@pytest.fixture(scope="module")
def loopback_dns() -> Iterator[LoopbackDNS]:
    """One loopback DNS server for the module (stopping one takes a second); each test gets it empty."""
    for attempt in range(3):
        try:
            server = LoopbackDNS()  # its TCP half may find the UDP port taken over TCP: try another
            break
        except OSError:
            if attempt == 2:
                raise
    server.start()
    yield server
    server.stop()


@pytest.fixture
def dns(loopback_dns: LoopbackDNS) -> LoopbackDNS:
    loopback_dns.zone.clear()
    loopback_dns.resolver.queries.clear()
    return loopback_dns


# --- DKIM ---------------------------------------------------------------------------------------------------


async def test_dkim_vectors(dns: LoopbackDNS) -> None:
    """The shared DKIM verify vectors (dkimpy, MimeKit's real Gmail mail, RFC 8463, flanker): each
    signature gives the expected result with the recorded key served from loopback DNS."""
    root = corpus("dkim")
    vectors = json.loads((root / "vectors.json").read_text())["verify"]
    assert vectors
    mismatches = []
    for vector in vectors:
        dns.zone.clear()
        for name, record in vector["dns"].items():
            dns.zone[(name.lower(), "TXT")] = [record]
        result = await verify_message(
            (root / vector["file"]).read_bytes(), Lookups.for_nameserver(dns.address)
        )
        chosen = (
            result.signatures if vector["signature"] == "all" else [result.signatures[vector["signature"]]]
        )
        if vector["expected"] == "pass":
            good = result.result == "pass" and all(s.result == "pass" for s in chosen)
        else:
            good = all(s.result in ("fail", "permerror") for s in chosen)
            good = good and (result.result == "fail" or len(result.signatures) > 1)
        if not good:
            mismatches.append((vector["file"], vector["expected"], result))
    assert mismatches == []


async def test_own_signature_passes_and_tampered_body_fails(dns: LoopbackDNS, key: KeyPair) -> None:
    publish_key(dns, key, "sender.test")
    checker = make_check(dns.address)
    raw = signed(message(), key)
    good = verdict(await check(checker, raw))
    assert good.dkim == "pass" and good.dkim_domains == ["sender.test"]
    assert "dkim=pass header.d=sender.test header.s=sel header.b=" in good.header
    tampered = raw.replace(b"Hi there.", b"Hi there!")
    bad = verdict(await check(checker, tampered))
    assert bad.dkim == "fail" and bad.dkim_domains == []
    assert "dkim=fail (body hash mismatch" in bad.header
    # A signed header changed after signing fails too.
    assert verdict(await check(checker, raw.replace(b"Subject: Hello", b"Subject: Pay now"))).dkim == "fail"


async def test_ed25519_signature(dns: LoopbackDNS) -> None:
    signer = nacl.signing.SigningKey.generate()
    seed = base64.b64encode(bytes(signer))
    public = base64.b64encode(bytes(signer.verify_key)).decode()
    dns.zone[("ed._domainkey.sender.test", "TXT")] = [f"v=DKIM1; k=ed25519; p={public}"]
    raw = message()
    header = dkim.sign(
        raw, b"ed", b"sender.test", seed, signature_algorithm=b"ed25519-sha256",
        include_headers=[b"from", b"to", b"subject"],
    )  # fmt: skip
    result = await verify_message(header + raw, Lookups.for_nameserver(dns.address))
    assert result.result == "pass" and result.domains == ["sender.test"]
    forged = await verify_message(
        header + raw.replace(b"Hello", b"Hullo"), Lookups.for_nameserver(dns.address)
    )
    assert forged.result == "fail"


async def test_dkim_without_key_or_dns(dns: LoopbackDNS, key: KeyPair) -> None:
    raw = signed(message(), key)
    missing = await verify_message(raw, Lookups.for_nameserver(dns.address))
    assert missing.result == "fail"
    assert [(s.result, s.domain) for s in missing.signatures] == [("permerror", "sender.test")]
    assert "no key" in missing.signatures[0].reason
    down = await verify_message(raw, Lookups.for_nameserver(f"127.0.0.1:{closed_port()}", timeout=0.3))
    assert down.result == "temperror" and down.signatures[0].result == "temperror"
    unsigned = await verify_message(message(), Lookups.for_nameserver(dns.address))
    assert unsigned.result == "none" and unsigned.signatures == []


async def test_dkim_signature_must_sign_from(dns: LoopbackDNS, key: KeyPair) -> None:
    """A signature that leaves From unsigned is not accepted (RFC 6376 §6.1.1)."""
    publish_key(dns, key, "sender.test")
    raw = signed(message(), key)

    def without_from(match: re.Match[bytes]) -> bytes:
        names = [n.strip() for n in match.group(1).split(b":") if n.strip().lower() != b"from"]
        return b"h=" + b":".join(names) + b";"

    # The same signature with From left out of h= (its b= no longer matches either; From is checked first).
    raw = re.sub(rb"h=([^;]*);", without_from, raw, count=1)
    unsigned_from = await verify_message(raw, Lookups.for_nameserver(dns.address))
    assert unsigned_from.result == "fail"
    assert unsigned_from.signatures[0].reason == "the From header is not signed"


async def test_large_message_is_verified_off_the_loop(dns: LoopbackDNS, key: KeyPair) -> None:
    """A message over the in-loop size is hashed in a worker thread, with the same results."""
    publish_key(dns, key, "sender.test")
    raw = signed(message(body="0123456789abcdef" * 40_000 + "\r\n"), key)
    assert len(raw) > 600_000
    lookups = Lookups.for_nameserver(dns.address)
    assert (await verify_message(raw, lookups)).result == "pass"
    assert (await verify_message(raw.replace(b"0123", b"3210", 1), lookups)).result == "fail"


# --- SPF ----------------------------------------------------------------------------------------------------


SPF_CASES = [
    ("v=spf1 ip4:192.0.2.0/24 -all", "192.0.2.10", "pass"),
    ("v=spf1 ip4:192.0.2.0/24 -all", "198.51.100.1", "fail"),
    ("v=spf1 ip4:198.51.100.0/24 ~all", "192.0.2.10", "softfail"),
    ("v=spf1 ?all", "192.0.2.10", "neutral"),
    ("v=spf1", "192.0.2.10", "neutral"),
    ("v=spf1 -ip4:192.0.2.10 +all", "192.0.2.10", "fail"),
    ("v=spf1 a -all", "192.0.2.1", "pass"),
    ("v=spf1 a:mail.sender.test/24 -all", "192.0.2.99", "pass"),
    ("v=spf1 a:mail.sender.test -all", "192.0.2.99", "fail"),
    ("v=spf1 mx -all", "192.0.2.25", "pass"),
    ("v=spf1 mx:sender.test/30 -all", "192.0.2.26", "pass"),
    ("v=spf1 ip6:2001:db8::/32 -all", "2001:db8::5", "pass"),
    ("v=spf1 ip6:2001:db8::/32 -all", "192.0.2.10", "fail"),
    ("v=spf1 ip4:192.0.2.0/24 -all", "::ffff:192.0.2.10", "pass"),
    ("v=spf1 a//64 -all", "2001:db8:1::9", "pass"),
    ("v=spf1 include:_spf.provider.test -all", "198.51.100.7", "pass"),
    ("v=spf1 include:_spf.provider.test -all", "203.0.113.1", "fail"),
    ("v=spf1 include:_spf.softer.test ?all", "203.0.113.1", "neutral"),
    ("v=spf1 redirect=_spf.provider.test", "198.51.100.7", "pass"),
    ("v=spf1 redirect=_spf.provider.test", "203.0.113.1", "softfail"),
    ("v=spf1 exists:%{i}.allowed.sender.test -all", "192.0.2.10", "pass"),
    ("v=spf1 exists:%{i}.allowed.sender.test -all", "192.0.2.11", "fail"),
    ("v=spf1 ptr -all", "192.0.2.10", "fail"),
    ("v=spf1 ptr:sender.test/24 -all", "192.0.2.10", "permerror"),
    ("v=spf1 foo:bar -all", "192.0.2.10", "permerror"),
    ("v=spf1 include:nowhere -all", "192.0.2.10", "permerror"),
    ("v=spf1 include:norecord.test -all", "192.0.2.10", "permerror"),
    ("v=spf1 redirect=norecord.test", "192.0.2.10", "permerror"),
    ("v=spf1 ip4:192.0.2.300 -all", "192.0.2.10", "permerror"),
    ("v=spf1 ip4:192.0.2.0/33 -all", "192.0.2.10", "permerror"),
    ("v=spf1 exists:%{x}.sender.test -all", "192.0.2.10", "permerror"),
    ("v=spf1 redirect=a.test redirect=b.test", "192.0.2.10", "permerror"),
    ("v=spf1 a:n1.sender.test a:n2.sender.test a:n3.sender.test -all", "192.0.2.10", "permerror"),
    ("v=spf1 unknown-modifier=%{d} ip4:192.0.2.10 -all", "192.0.2.10", "pass"),
    ("spf2.0/pra ip4:192.0.2.10 -all", "192.0.2.10", "none"),
    (None, "192.0.2.10", "none"),
]


@pytest.mark.parametrize(("record", "ip", "expected"), SPF_CASES)
async def test_spf(dns: LoopbackDNS, record: str | None, ip: str, expected: str) -> None:
    zone = dns.zone
    zone[("sender.test", "TXT")] = [record] if record is not None else ["unrelated text"]
    zone[("sender.test", "A")] = ["192.0.2.1"]
    zone[("sender.test", "AAAA")] = ["2001:db8:1::1"]
    zone[("sender.test", "MX")] = [(10, "mx1.sender.test"), (20, "mx2.sender.test")]
    zone[("mx1.sender.test", "A")] = ["192.0.2.24"]
    zone[("mx2.sender.test", "A")] = ["192.0.2.25"]
    zone[("mail.sender.test", "A")] = ["192.0.2.1"]
    zone[("192.0.2.10.allowed.sender.test", "A")] = ["127.0.0.2"]
    zone[("_spf.provider.test", "TXT")] = ["v=spf1 ip4:198.51.100.0/24 ~all"]
    zone[("_spf.softer.test", "TXT")] = ["v=spf1 ?all"]
    zone[("norecord.test", "TXT")] = ["not spf"]
    result = await spf.check_host(Lookups.for_nameserver(dns.address), ip=ip, sender="alice@sender.test")
    assert (result.result, result.domain) == (expected, "sender.test"), result.reason


async def test_spf_lookup_limit(dns: LoopbackDNS) -> None:
    """A chain of 11 includes is over the limit of 10 DNS-querying terms: permerror; 10 are fine."""
    for n in range(11):
        dns.zone[(f"l{n}.sender.test", "TXT")] = [f"v=spf1 include:l{n + 1}.sender.test"]
    dns.zone[("l11.sender.test", "TXT")] = ["v=spf1 +all"]
    lookups = Lookups.for_nameserver(dns.address)
    over = await spf.check_host(lookups, ip="192.0.2.10", sender="x@l0.sender.test")
    assert over.result == "permerror" and "more than 10" in over.reason
    within = await spf.check_host(lookups, ip="192.0.2.10", sender="x@l1.sender.test")
    assert within.result == "pass"


async def test_spf_two_records_and_bad_domains(dns: LoopbackDNS) -> None:
    dns.zone[("two.test", "TXT")] = ["v=spf1 +all", "v=spf1 -all"]
    lookups = Lookups.for_nameserver(dns.address)
    assert (await spf.check_host(lookups, ip="192.0.2.1", sender="a@two.test")).result == "permerror"
    for sender in ("a@localhost", "a@", "a@bad..name.test", "a@" + "x" * 64 + ".test", "a@[192.0.2.1]"):
        assert (await spf.check_host(lookups, ip="192.0.2.1", sender=sender)).result == "none", sender


async def test_spf_for_an_internationalized_sender(dns: LoopbackDNS) -> None:
    dns.zone[("xn--bcher-kva.test", "TXT")] = ["v=spf1 ip4:192.0.2.10 -all"]
    result = await spf.check_host(
        Lookups.for_nameserver(dns.address), ip="192.0.2.10", sender="zoë@bücher.test"
    )
    assert (result.result, result.domain) == ("pass", "xn--bcher-kva.test")


async def test_spf_temperror_when_dns_does_not_answer() -> None:
    lookups = Lookups.for_nameserver(f"127.0.0.1:{closed_port()}", timeout=0.3)
    started = time.monotonic()
    result = await spf.check_host(lookups, ip="192.0.2.1", sender="a@sender.test")
    assert result.result == "temperror" and "timed out" in result.reason
    assert time.monotonic() - started < 3


# RFC 7208 Appendix C: sender strong-bad@email.example.com, client 192.0.2.3 (or 2001:db8::cb01).
MACRO_CASES = [
    ("%{s}", "192.0.2.3", "strong-bad@email.example.com"),
    ("%{o}", "192.0.2.3", "email.example.com"),
    ("%{d}", "192.0.2.3", "email.example.com"),
    ("%{d4}", "192.0.2.3", "email.example.com"),
    ("%{d3}", "192.0.2.3", "email.example.com"),
    ("%{d2}", "192.0.2.3", "example.com"),
    ("%{d1}", "192.0.2.3", "com"),
    ("%{dr}", "192.0.2.3", "com.example.email"),
    ("%{d2r}", "192.0.2.3", "example.email"),
    ("%{l}", "192.0.2.3", "strong-bad"),
    ("%{l-}", "192.0.2.3", "strong.bad"),
    ("%{lr}", "192.0.2.3", "strong-bad"),
    ("%{lr-}", "192.0.2.3", "bad.strong"),
    ("%{l1r-}", "192.0.2.3", "strong"),
    ("%{ir}.%{v}._spf.%{d2}", "192.0.2.3", "3.2.0.192.in-addr._spf.example.com"),
    ("%{lr-}.lp._spf.%{d2}", "192.0.2.3", "bad.strong.lp._spf.example.com"),
    ("%{lr-}.lp.%{ir}.%{v}._spf.%{d2}", "192.0.2.3", "bad.strong.lp.3.2.0.192.in-addr._spf.example.com"),
    ("%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}", "192.0.2.3", "3.2.0.192.in-addr.strong.lp._spf.example.com"),
    ("%{d2}.trusted-domains.example.net", "192.0.2.3", "example.com.trusted-domains.example.net"),
    (
        "%{ir}.%{v}._spf.%{d2}",
        "2001:db8::cb01",
        "1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6._spf.example.com",
    ),
    ("%{h}.helo.example.com", "192.0.2.3", "mx.sender.example.helo.example.com"),
    ("%{i}.x%%y%-w.example.com", "192.0.2.3", "192.0.2.3.x%y%20w.example.com"),
    ("%{S}.esc.example.com", "192.0.2.3", "strong-bad%40email.example.com.esc.example.com"),
]


@pytest.mark.parametrize(("macro", "ip", "expanded"), MACRO_CASES)
async def test_spf_macros(dns: LoopbackDNS, macro: str, ip: str, expanded: str) -> None:
    """Each macro of RFC 7208 §7 expands as Appendix C shows: the expanded name is what gets asked."""
    dns.zone[("email.example.com", "TXT")] = [f"v=spf1 exists:{macro} -all"]
    dns.zone[(expanded.lower(), "A")] = ["127.0.0.2"]
    result = await spf.check_host(
        Lookups.for_nameserver(dns.address),
        ip=ip,
        sender="strong-bad@email.example.com",
        helo="mx.sender.example",
    )
    assert result.result == "pass", (result, dns.resolver.queries)
    assert (expanded.lower(), "A") in dns.resolver.queries


async def test_spf_identity_is_helo_when_mail_from_is_empty(dns: LoopbackDNS) -> None:
    dns.zone[("mail.sender.test", "TXT")] = ["v=spf1 ip4:192.0.2.10 -all"]
    checker = make_check(dns.address)
    found = verdict(await check(checker, message(), mail_from=None, helo="mail.sender.test"))
    assert (found.spf, found.spf_domain) == ("pass", "mail.sender.test")
    assert "spf=pass smtp.helo=mail.sender.test;" in found.header
    nothing = verdict(await check(checker, message(), mail_from="", helo=None))
    assert (nothing.spf, nothing.spf_domain) == ("none", None)


# --- DMARC --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("record", "signed_by", "expected", "policy", "labelled"),
    [
        ("v=DMARC1; p=reject", "sender.test", "pass", "reject", False),
        ("v=DMARC1; p=reject", None, "fail", "reject", True),
        ("v=DMARC1; p=quarantine; rua=mailto:d@sender.test", None, "fail", "quarantine", True),
        ("v=DMARC1; p=none", None, "fail", "none", False),
        ("v=DMARC1; p=reject", "other.test", "fail", "reject", True),
        ("v=DMARC1; p=reject; adkim=s", "sender.test", "pass", "reject", False),
        ("v=DMARC1; rua=mailto:d@sender.test", None, "fail", "none", False),
        ("v=DMARC1; p=bogus", None, "permerror", None, False),
        ("v=spf1 -all", None, "none", None, False),
        (None, None, "none", None, False),
    ],
)
async def test_dmarc_policy(
    dns: LoopbackDNS,
    key: KeyPair,
    record: str | None,
    signed_by: str | None,
    expected: str,
    policy: str | None,
    labelled: bool,
) -> None:
    if record is not None:
        dns.zone[("_dmarc.sender.test", "TXT")] = [record]
    dns.zone[("sender.test", "TXT")] = ["v=spf1 -all"]
    raw = message()
    if signed_by is not None:
        publish_key(dns, key, signed_by)
        raw = signed(raw, key, domain=signed_by)
    finding = await check(make_check(dns.address), raw)
    found = verdict(finding)
    assert (found.spf, found.dmarc, found.dmarc_policy, found.from_domain) == (
        "fail",
        expected,
        policy,
        "sender.test",
    )
    assert ("unauthenticated" in finding.labels) is labelled
    assert f"dmarc={expected}" in found.header and found.header.endswith("header.from=sender.test")


async def test_dmarc_alignment(dns: LoopbackDNS, key: KeyPair) -> None:
    """Relaxed alignment accepts the same organizational domain, strict only the same name; a subdomain
    without a record of its own gets the organizational domain's sp= policy (RFC 7489 §6.6.3)."""
    dns.zone[("_dmarc.sender.test", "TXT")] = ["v=DMARC1; p=none; sp=reject"]
    publish_key(dns, key, "sender.test")
    checker = make_check(dns.address)
    raw = signed(message(from_="news@news.sender.test"), key)
    relaxed = verdict(await check(checker, raw))
    assert (relaxed.dmarc, relaxed.dmarc_policy, relaxed.from_domain) == (
        "pass",
        "reject",
        "news.sender.test",
    )
    dns.zone[("_dmarc.sender.test", "TXT")] = ["v=DMARC1; p=none; sp=quarantine; adkim=s"]
    strict = await check(make_check(dns.address), raw)
    assert (verdict(strict).dmarc, verdict(strict).dmarc_policy) == ("fail", "quarantine")
    assert strict.labels == ["unauthenticated"]
    # SPF of the envelope domain aligns too: relaxed for a subdomain, not with aspf=s.
    dns.zone[("bounces.sender.test", "TXT")] = ["v=spf1 ip4:192.0.2.10 -all"]
    dns.zone[("_dmarc.sender.test", "TXT")] = ["v=DMARC1; p=reject"]
    spf_aligned = verdict(await check(make_check(dns.address), message(), mail_from="b@bounces.sender.test"))
    assert (spf_aligned.spf, spf_aligned.dmarc) == ("pass", "pass")
    dns.zone[("_dmarc.sender.test", "TXT")] = ["v=DMARC1; p=reject; aspf=s"]
    strict_spf = verdict(await check(make_check(dns.address), message(), mail_from="b@bounces.sender.test"))
    assert (strict_spf.spf, strict_spf.dmarc) == ("pass", "fail")


def test_organizational_domain_and_records() -> None:
    assert dmarc.organizational_domain("a.b.example.co.uk") == "example.co.uk"
    assert dmarc.organizational_domain("Mail.Example.COM.") == "example.com"
    assert dmarc.organizational_domain("agents.test") == "agents.test"
    assert dmarc.organizational_domain("co.uk") == "co.uk"
    assert dmarc.aligned("mail.example.co.uk", "example.co.uk", "r")
    assert not dmarc.aligned("example.co.uk", "other.co.uk", "r")
    assert not dmarc.aligned("mail.example.com", "example.com", "s")
    record = dmarc.parse_record("v=DMARC1;p=Quarantine; sp=reject;adkim=s; aspf=x; pct=20")
    assert record == dmarc.DMARCRecord("quarantine", "reject", "s", "r", 20)
    for bad in (
        "v=DMARC1",
        "v=DMARC1; p=maybe",
        "v=DMARC2; p=none",
        "p=none; v=DMARC1",
        "v=DMARC1; =x; p=none",
    ):
        with pytest.raises(dmarc.RecordError):
            dmarc.parse_record(bad)


async def test_dmarc_temperror_and_several_records(dns: LoopbackDNS) -> None:
    dns.zone[("_dmarc.sender.test", "TXT")] = ["v=DMARC1; p=reject", "v=DMARC1; p=none"]
    several = verdict(await check(make_check(dns.address), message()))
    assert (several.dmarc, several.dmarc_policy) == ("none", None)
    down = make_check(f"127.0.0.1:{closed_port()}", timeout=0.3)
    found = verdict(await check(down, message()))
    assert (found.spf, found.dkim, found.dmarc) == ("temperror", "none", "temperror")


# --- the check: labels, trust, malformed mail ---------------------------------------------------------------


async def test_check_ends_in_time_when_dns_is_silent(key: KeyPair) -> None:
    """A DNS server that takes every query and never answers: the check still ends within its own time
    budget (well before run_checks would give up on it), with temperror verdicts."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        checker = AuthenticationCheck(
            lookups=Lookups.for_nameserver(f"127.0.0.1:{silent.getsockname()[1]}", timeout=5),
            own_domains=lambda: asyncio.sleep(0, result={"agents.test"}),
            authserv_id=AUTHSERV,
            seconds=0.6,
        )
        started = time.monotonic()
        found = verdict(await check(checker, signed(message(), key)))
        elapsed = time.monotonic() - started
    assert (found.spf, found.dkim, found.dmarc) == ("temperror", "temperror", "temperror")
    assert (found.spf_domain, found.from_domain) == ("sender.test", "sender.test")
    assert elapsed < 0.6


async def test_own_domain_spoofing_is_unauthenticated(dns: LoopbackDNS, key: KeyPair) -> None:
    """Mail from outside claiming one of our domains is labelled unless DMARC passes; a foreign domain
    without a policy is not."""
    checker = make_check(dns.address, own=("agents.test", "custom.test"))
    for claimed in ("ceo@agents.test", "Boss <boss@custom.test>", "x@AGENTS.TEST"):
        finding = await check(checker, message(from_=claimed))
        assert finding.labels == ["unauthenticated"], claimed
        assert verdict(finding).dmarc == "none"
    assert (await check(checker, message(from_="someone@elsewhere.test"))).labels == []
    # Signed by the domain itself (a DKIM key of ours published in DNS): DMARC passes, no label.
    publish_key(dns, key, "custom.test")
    dns.zone[("_dmarc.custom.test", "TXT")] = ["v=DMARC1; p=reject"]
    raw = signed(message(from_="boss@custom.test"), key, domain="custom.test")
    checker = make_check(dns.address, own=("agents.test", "custom.test"))  # one that cached no NXDOMAIN
    finding = await check(checker, raw)
    assert (verdict(finding).dmarc, finding.labels) == ("pass", [])


async def test_trusted_and_local_mail_is_not_checked(dns: LoopbackDNS) -> None:
    checker = make_check(dns.address, trusted=["10.0.0.0/8", "2001:db8::/32", "192.0.2.77"])
    for ip in (None, "10.1.2.3", "2001:db8::1", "::ffff:10.0.0.1", "192.0.2.77"):
        finding = await check(checker, message(from_="ceo@agents.test"), ip=ip)
        assert finding == Finding(), ip
    assert dns.resolver.queries == []
    assert (await check(checker, message(), ip="192.0.2.78")).verdicts
    with pytest.raises(ValidationError) as caught:
        trusted_networks(["10.0.0.0/8", "not-a-network"])
    assert caught.value.errors[0]["path"] == ["trusted_networks", 1]
    assert authentication_check(Settings(inbound_authentication=False), checker._own_domains) is None


MALFORMED: list[tuple[str, bytes, dict[str, Any]]] = [
    (
        "no From",
        b"To: desk@agents.test\r\nSubject: x\r\n\r\nbody\r\n",
        {"dmarc": "none", "from_domain": None},
    ),
    (
        "two From headers",
        b"From: a@one.test\r\nFrom: b@two.test\r\nTo: desk@agents.test\r\n\r\nbody\r\n",
        {"dmarc": "permerror", "from_domain": "one.test"},
    ),
    (
        "two From addresses",
        b"From: a@one.test, b@two.test\r\nTo: desk@agents.test\r\n\r\nbody\r\n",
        {"dmarc": "permerror"},
    ),
    (
        "same domain twice",
        b"From: a@one.test, b@ONE.test\r\nTo: desk@agents.test\r\n\r\nbody\r\n",
        {"dmarc": "none", "from_domain": "one.test"},
    ),
    ("From without domain", b"From: nobody\r\n\r\nbody\r\n", {"dmarc": "permerror", "from_domain": None}),
    ("From with a bad domain", b"From: a@bad..test\r\n\r\nx\r\n", {"dmarc": "permerror"}),
    (
        "broken DKIM-Signature",
        message(extra=["DKIM-Signature: v=1; a=rsa-sha256; d=;;; b=%%%"]),
        {"dkim": "fail", "dmarc": "none"},
    ),
    (
        "DKIM-Signature without tags",
        b"DKIM-Signature: garbage\r\n" + message(),
        {"dkim": "fail"},
    ),
    (
        "garbage header block",
        b"\x00\x01\xff not a header\r\nFrom: a@sender.test\r\n\x80\x81: x\r\n\r\n\xff\xfe",
        {"dkim": "none"},
    ),
    (
        "garbage with a signature",
        b"DKIM-Signature: v=1\r\n \r\n\x00junk line\r\n\r\nx",
        {"dkim": "permerror"},
    ),
    (
        "non-ASCII",
        "From: Zoë <zoë@bücher.test>\r\nSubject: Grüße\r\n\r\nHällo\r\n".encode(),
        {"from_domain": "xn--bcher-kva.test", "dmarc": "none"},
    ),
    ("Latin-1 bytes", b"From: J\xe9r\xf4me <j@sender.test>\r\n\r\n\xe9\r\n", {"from_domain": "sender.test"}),
    ("empty", b"", {"dmarc": "none", "dkim": "none"}),
    ("only a body", b"\r\n\r\nhello", {"dmarc": "none"}),
    ("continuation first", b" folded\r\nFrom: a@sender.test\r\n\r\nx", {"dkim": "none"}),
]


@pytest.mark.parametrize(("name", "raw", "expected"), MALFORMED, ids=[m[0] for m in MALFORMED])
async def test_malformed_mail_gets_a_verdict(
    dns: LoopbackDNS, name: str, raw: bytes, expected: dict[str, Any]
) -> None:
    finding = await check(make_check(dns.address), raw)
    found = verdict(finding).model_dump()
    assert {key: found[key] for key in expected} == expected


async def test_malformed_mime_corpus_gets_verdicts(dns: LoopbackDNS) -> None:
    """Every message of the malformed-MIME corpus gets a complete verdict and a well-formed header."""
    folder = corpus("malformed_mime")
    checker = make_check(dns.address)
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix not in (".txt", ".tsv"))
    assert len(files) > 100
    for path in files:
        verdict(await check(checker, path.read_bytes()))


def test_from_domains() -> None:
    assert from_domains(message(from_='"Doe, J" <j@Example.COM>')).domains == ["example.com"]
    assert from_domains(message(from_="=?utf-8?q?Z=C3=B6e?= <z@sender.test>")).domains == ["sender.test"]
    assert from_domains(b"From: <>\r\n\r\n").problem is not None


async def test_authentication_results_stays_well_formed(dns: LoopbackDNS) -> None:
    """Whatever a sender puts in its envelope and signature, the header stays one ASCII field whose values
    are tokens or quoted strings."""
    raw = message(
        extra=['DKIM-Signature: v=1; a=rsa-sha256; d=ex"ample.test; s=s;el; h=from; bh=AA==; b=A/B+']
    )
    finding = await check(make_check(dns.address), raw, mail_from='we"ird;(x)@sender.test\u00e9')
    found = verdict(finding)
    assert '"we\\"ird;(x)@sender.test?"' in found.header
    assert found.header.count("spf=") == 1 and found.header.count("dmarc=") == 1


def test_settings_build_the_check() -> None:
    async def own_domains() -> set[str]:
        return set()

    built = authentication_check(
        Settings(hostname="mx.example.test", trusted_networks=["10.0.0.0/8"], check_timeout=4), own_domains
    )
    assert isinstance(built, AuthenticationCheck) and built.name == "authentication"
    assert built.trusted("10.9.9.9") and not built.trusted("192.0.2.1") and built.trusted(None)
    with pytest.raises(ValidationError):
        authentication_check(Settings(trusted_networks=["10.0.0.0/33"]), own_domains)
    with pytest.raises(ValidationError) as caught:
        authentication_check(Settings(dns_resolver="not a host:53"), own_domains)
    assert caught.value.errors[0]["path"] == ["dns_resolver"]


# --- the engine -------------------------------------------------------------------------------------------


@pytest.fixture
async def engine(database_url: str, clock: ManualClock, dns: LoopbackDNS) -> AsyncIterator[AsyncAgentInbox]:
    async with AsyncAgentInbox(
        database_url=database_url,
        default_domain="agents.test",
        clock=clock,
        dns_resolver=dns.address,
        authserv_id=AUTHSERV,
        spam_scanner="none",
        virus_scanner="none",
    ) as client:
        await client.inboxes.create(username="desk")
        yield client


async def test_deliver_records_the_verdict(engine: AsyncAgentInbox, dns: LoopbackDNS, key: KeyPair) -> None:
    dns.zone[("sender.test", "TXT")] = ["v=spf1 ip4:192.0.2.0/24 -all"]
    dns.zone[("_dmarc.sender.test", "TXT")] = ["v=DMARC1; p=reject"]
    publish_key(dns, key, "sender.test")
    raw = signed(message(), key)
    [stored] = await engine.deliver(
        raw, mail_from="alice@sender.test", rcpt_to=["desk@agents.test"], client_ip=OUTSIDE_IP, helo="m.test"
    )
    assert stored.authentication is not None
    assert (stored.authentication.spf, stored.authentication.dkim, stored.authentication.dmarc) == (
        "pass",
        "pass",
        "pass",
    )
    assert "unauthenticated" not in stored.labels
    got = await engine.inboxes.messages.get(inbox_id="desk@agents.test", message_id=stored.message_id)
    assert got.authentication == stored.authentication
    content = (
        await engine.inboxes.messages.get_raw(inbox_id="desk@agents.test", message_id=stored.message_id)
    ).content
    assert content.startswith(b"Authentication-Results: " + AUTHSERV.encode() + b";\r\n\tspf=pass")
    assert content.endswith(raw)


async def test_forged_authentication_results_are_not_ours(engine: AsyncAgentInbox, dns: LoopbackDNS) -> None:
    """A sender's own Authentication-Results claiming a pass changes nothing: ours comes first, is the
    one the message's headers show, and the spoofed own-domain mail is still labelled."""
    forged = f"Authentication-Results: {AUTHSERV}; spf=pass; dkim=pass; dmarc=pass"
    raw = message(from_="ceo@agents.test", extra=[forged])
    [stored] = await engine.deliver(raw, rcpt_to=["desk@agents.test"], client_ip=OUTSIDE_IP, helo="x.test")
    assert "unauthenticated" in stored.labels
    assert stored.authentication is not None and stored.authentication.dmarc == "none"
    assert stored.headers["Authentication-Results"] == stored.authentication.header
    content = (
        await engine.inboxes.messages.get_raw(inbox_id="desk@agents.test", message_id=stored.message_id)
    ).content
    assert content.index(b"dmarc=none") < content.index(forged.encode())


async def test_local_and_trusted_delivery_get_no_verdict(
    database_url: str, clock: ManualClock, dns: LoopbackDNS
) -> None:
    async with AsyncAgentInbox(
        database_url=database_url, default_domain="agents.test", clock=clock, dns_resolver=dns.address
    ) as client:
        await client.inboxes.create(username="desk")
        raw = message(from_="ceo@agents.test")
        local = await client.deliver(raw, rcpt_to=["desk@agents.test"])
        trusted = await client.deliver(
            message(from_="ceo@agents.test", subject="2"), rcpt_to=["desk@agents.test"], client_ip="127.0.0.1"
        )
        for [stored] in (local, trusted):
            assert stored.authentication is None and "unauthenticated" not in stored.labels
            got = await client.inboxes.messages.get_raw(
                inbox_id="desk@agents.test", message_id=stored.message_id
            )
            assert not got.content.startswith(b"Authentication-Results")
    assert not any(name.endswith("agents.test") for name, _ in dns.resolver.queries)


async def test_malformed_mail_is_stored(engine: AsyncAgentInbox) -> None:
    for name, raw, _ in MALFORMED:
        if b"desk@agents.test" not in raw:
            continue
        [stored] = await engine.deliver(raw, rcpt_to=["desk@agents.test"], client_ip=OUTSIDE_IP)
        assert stored.authentication is not None, name


async def test_over_smtp(database_url: str, clock: ManualClock, dns: LoopbackDNS, key: KeyPair) -> None:
    """An engine receiving on loopback SMTP (nothing trusted): mail from a domain whose SPF allows
    127.0.0.1 passes; mail from one whose SPF and DMARC deny it is labelled and announced as
    message.received.unauthenticated."""
    dns.zone[("good.test", "TXT")] = ["v=spf1 ip4:127.0.0.1 -all"]
    dns.zone[("_dmarc.good.test", "TXT")] = ["v=DMARC1; p=reject"]
    dns.zone[("bad.test", "TXT")] = ["v=spf1 ip4:192.0.2.0/24 -all"]
    dns.zone[("_dmarc.bad.test", "TXT")] = ["v=DMARC1; p=quarantine"]
    async with AsyncAgentInbox(
        database_url=database_url,
        default_domain="agents.test",
        clock=clock,
        smtp_listen="127.0.0.1:0",
        trusted_networks=[],
        dns_resolver=dns.address,
        spam_scanner="none",
        virus_scanner="none",
    ) as server:
        await server.inboxes.create(username="desk")
        await server.start()
        unauthenticated: list[MessageReceivedEvent] = []
        plain: list[MessageReceivedEvent] = []
        arrived = asyncio.Event()

        @server.on("message.received.unauthenticated")
        async def flagged(event: MessageReceivedEvent) -> None:
            unauthenticated.append(event)
            arrived.set()

        server.on("message.received")(plain.append)
        host, port = server.smtp_address or ("", 0)
        for sender, subject in (("alice@good.test", "good"), ("mallory@bad.test", "bad")):
            raw = message(from_=sender, subject=subject)
            errors, _ = await aiosmtplib.send(
                raw, sender=sender, recipients=["desk@agents.test"], hostname=host, port=port,
                local_hostname="client.good.test",
            )  # fmt: skip
            assert errors == {}
        await asyncio.wait_for(arrived.wait(), timeout=30)
        for _ in range(300):
            if plain:
                break
            await asyncio.sleep(0.05)
        [event] = unauthenticated
        assert event.event_type == "message.received.unauthenticated"
        assert event.message.subject == "bad" and "unauthenticated" in event.message.labels
        assert [e.message.subject for e in plain] == ["good"]
        # Unauthenticated mail is left out of listings (as spam is), so both are fetched by id.
        listing = await server.inboxes.messages.list(inbox_id="desk@agents.test")
        assert [m.subject for m in listing.messages] == ["good"]
        good, bad = [
            await server.inboxes.messages.get(inbox_id="desk@agents.test", message_id=e.message.message_id)
            for e in (plain[0], event)
        ]
        assert good.authentication is not None and bad.authentication is not None
        assert (good.authentication.spf, good.authentication.dmarc, good.authentication.spf_domain) == (
            "pass",
            "pass",
            "good.test",
        )
        assert (bad.authentication.spf, bad.authentication.dmarc, bad.authentication.dmarc_policy) == (
            "fail",
            "fail",
            "quarantine",
        )
        assert "unauthenticated" not in good.labels and "unauthenticated" in bad.labels
        for stored in (good, bad):
            content = (
                await server.inboxes.messages.get_raw(
                    inbox_id="desk@agents.test", message_id=stored.message_id
                )
            ).content
            assert content.startswith(b"Authentication-Results: agents.test;")
            assert stored.authentication is not None
            assert stored.authentication.header.encode() in b" ".join(content.split(b"\r\n\t"))


# --- cost ---------------------------------------------------------------------------------------------------


async def test_cost_per_message_with_a_warm_cache(dns: LoopbackDNS, key: KeyPair) -> None:
    """With the DNS answers cached, checking a signed message asks DNS nothing more; prints the p50."""
    dns.zone[("sender.test", "TXT")] = ["v=spf1 include:_spf.provider.test ip4:192.0.2.0/24 -all"]
    dns.zone[("_spf.provider.test", "TXT")] = ["v=spf1 ip4:198.51.100.0/24 ~all"]
    dns.zone[("_dmarc.sender.test", "TXT")] = ["v=DMARC1; p=reject"]
    publish_key(dns, key, "sender.test")
    checker = make_check(dns.address)
    raw = signed(message(body="A few lines of text.\r\n" * 40), key)
    inspection = Inspection(raw, parse_message(raw), mail_from="a@sender.test", client_ip=OUTSIDE_IP)
    assert verdict(await checker(inspection)).dmarc == "pass"
    asked = len(dns.resolver.queries)
    timings = []
    for _ in range(200):
        started = time.perf_counter()
        await checker(inspection)
        timings.append((time.perf_counter() - started) * 1000)
    assert len(dns.resolver.queries) == asked  # every answer came from the cache
    print(f"authentication check, warm DNS cache: p50 {statistics.median(timings):.2f} ms per message")
