"""The inbound checks seam: order, merging, failures and timeouts, trace headers, verdicts on the message."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest
from helpers import expect
from sqlalchemy import select

from agentinbox import AsyncAgentInbox, ForbiddenError
from agentinbox.mail.parse import parse_message
from agentinbox.pipeline.checks import run_checks, with_headers
from agentinbox.security.inspection import Finding, Inspection
from agentinbox.store.tables import events

MAIL = (
    b"From: Carol <carol@example.com>\r\nTo: desk@agents.test\r\nSubject: Checked\r\n"
    b"Message-ID: <checked@example.com>\r\nMIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
    b"--b\r\nContent-Type: text/plain\r\n\r\nHello\r\n"
    b'--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename="a.bin"\r\n\r\n'
    b"payload\r\n--b--\r\n"
)


@dataclass
class Fixed:
    """A check that reports a fixed finding, after an optional delay, and remembers what it saw."""

    name: str
    finding: Finding = field(default_factory=Finding)
    delay: float = 0.0
    seen: list[Inspection] = field(default_factory=list)

    async def __call__(self, inspection: Inspection) -> Finding:
        self.seen.append(inspection)
        await asyncio.sleep(self.delay)
        return self.finding


@dataclass
class Broken:
    name: str

    async def __call__(self, inspection: Inspection) -> Finding:
        raise RuntimeError("scanner exploded")


async def with_checks(client: AsyncAgentInbox, *checks: object) -> None:
    ctx = await client._context()
    ctx.checks = list(checks)  # type: ignore[arg-type]


async def test_authentication_runs_first_and_the_others_see_its_verdict(client: AsyncAgentInbox) -> None:
    await client.inboxes.create(username="desk")
    verdict = {
        "spf": "fail",
        "dkim": "none",
        "dmarc": "fail",
        "dmarc_policy": "reject",
        "header": "x; spf=fail",
    }
    auth = Fixed(
        "authentication",
        Finding(
            ["unauthenticated"], {"authentication": verdict}, [("Authentication-Results", "x; spf=fail")]
        ),
        delay=0.05,
    )
    spam = Fixed(
        "spam",
        Finding(
            ["spam"], {"spam": {"scanner": "t", "spam": True, "score": 9.0, "threshold": 5.0, "rules": ["R"]}}
        ),
    )
    await with_checks(client, spam, auth)  # listed out of order: authentication still goes first
    [stored] = await client.deliver(MAIL, mail_from="carol@example.com", rcpt_to=["desk@agents.test"])
    assert spam.seen[0].authentication == verdict
    assert auth.seen[0].mail_from == "carol@example.com" and auth.seen[0].authentication is None
    assert {"spam", "unauthenticated"} <= set(stored.labels)
    assert stored.authentication is not None and stored.authentication.dmarc_policy == "reject"
    assert stored.spam is not None and stored.spam.rules == ["R"] and stored.spam.score == 9.0
    assert stored.virus is None
    got = await client.inboxes.messages.get(inbox_id="desk@agents.test", message_id=stored.message_id)
    assert got.authentication == stored.authentication and got.spam == stored.spam
    assert got.headers is not None and got.headers["Authentication-Results"] == "x; spf=fail"
    raw = await client.inboxes.messages.get_raw(inbox_id="desk@agents.test", message_id=stored.message_id)
    assert raw.content == b"Authentication-Results: x; spf=fail\r\n" + MAIL  # prepended; the rest intact
    # Spam is the stronger classification: its event, not .unauthenticated.
    ctx = await client._context()
    types = await ctx.db.read(lambda conn: [r.event_type for r in conn.execute(select(events.c.event_type))])
    assert "message.received.spam" in types and "message.received.unauthenticated" not in types


async def test_a_failing_or_slow_check_is_recorded_and_the_mail_stored(
    database_url: str, clock: object
) -> None:
    async with AsyncAgentInbox(
        database_url=database_url, default_domain="agents.test", check_timeout=0.2
    ) as client:
        await client.inboxes.create(username="desk")
        await with_checks(client, Broken("spam"), Fixed("virus", delay=5), Broken("authentication"))
        [stored] = await client.deliver(MAIL, rcpt_to=["desk@agents.test"])
        assert stored.labels == ["received", "unread"]
        assert stored.spam is not None and not stored.spam.spam
        assert stored.spam.error == "the spam check failed: RuntimeError: scanner exploded"
        assert stored.virus is not None and stored.virus.error == "the virus check failed: timed out"
        assert stored.authentication is not None and stored.authentication.spf == "temperror"
        assert stored.authentication.error is not None
        # A verdict that only records an error withholds nothing.
        raw = await client.inboxes.messages.get_raw(inbox_id="desk@agents.test", message_id=stored.message_id)
        assert raw.content == MAIL


async def test_virus_findings_name_the_attachment_and_infected_content_is_withheld(
    client: AsyncAgentInbox,
) -> None:
    await client.inboxes.create(username="desk")
    await client.inboxes.create(username="sales")
    found = {"name": "test", "reason": "a test finding", "attachment_index": 0}
    virus = Fixed(
        "virus",
        Finding(["virus", "spam"], {"virus": {"scanner": "t", "infected": True, "findings": [found]}}),
    )
    await with_checks(client, virus)
    copies = await client.deliver(MAIL, rcpt_to=["desk@agents.test", "sales@agents.test"])
    assert len(copies) == 2 and len(virus.seen) == 1  # checked once, whatever the number of inboxes
    for stored in copies:
        assert stored.virus is not None and stored.virus.infected
        [finding] = stored.virus.findings
        assert stored.attachments is not None
        assert finding.attachment_id == stored.attachments[0].attachment_id and finding.filename == "a.bin"
        with expect(ForbiddenError, "forbidden") as caught:
            await client.inboxes.messages.get_attachment(
                inbox_id=stored.inbox_id, message_id=stored.message_id, attachment_id=finding.attachment_id
            )
        assert "virus check found test" in caught.value.message
        with expect(ForbiddenError, "forbidden"):
            await client.inboxes.messages.get_raw(inbox_id=stored.inbox_id, message_id=stored.message_id)
        # Hidden from lists like spam, shown when asked for.
        listed = await client.inboxes.messages.list(inbox_id=stored.inbox_id)
        assert listed.count == 0
        listed = await client.inboxes.messages.list(inbox_id=stored.inbox_id, include_spam=True)
        assert listed.count == 1


async def test_a_check_giving_an_unknown_label_is_a_bug_not_a_label(client: AsyncAgentInbox) -> None:
    await client.inboxes.create(username="desk")
    await with_checks(client, Fixed("spam", Finding(["important"])))
    with pytest.raises(ValueError, match="only spam, unauthenticated, virus"):
        await client.deliver(MAIL, rcpt_to=["desk@agents.test"])


async def test_without_checks_nothing_is_recorded(client: AsyncAgentInbox) -> None:
    await client.inboxes.create(username="desk")
    await with_checks(client)
    [stored] = await client.deliver(MAIL, rcpt_to=["desk@agents.test"])
    assert stored.authentication is None and stored.spam is None and stored.virus is None
    assert await run_checks([], Inspection(MAIL, parse_message(MAIL)), seconds=1) == Finding()


def test_trace_headers_use_the_message_line_ending_and_replace_forged_ones() -> None:
    lf = b"From: a@example.com\nAuthentication-Results: forged; dkim=pass\nSubject: s\n\nbody\n"
    parsed = parse_message(lf)
    raw, sha = with_headers(lf, parsed, [("Authentication-Results", "ours; spf=pass\n  dkim=none")])
    assert raw == b"Authentication-Results: ours; spf=pass\n\tdkim=none\n" + lf
    assert parsed.headers["Authentication-Results"] == "ours; spf=pass dkim=none"
    assert next(iter(parsed.headers)) == "Authentication-Results"
    assert len(sha) == 64
    crlf = b"From: a@example.com\r\n\r\nbody\r\n"
    raw, _ = with_headers(crlf, parse_message(crlf), [("X-Spam-Status", "No")])
    assert raw == b"X-Spam-Status: No\r\n" + crlf
    unchanged, _ = with_headers(crlf, parse_message(crlf), [])
    assert unchanged is crlf


async def test_deliver_checks_its_client_arguments(client: AsyncAgentInbox) -> None:
    from agentinbox import ValidationError

    await client.inboxes.create(username="desk")
    for bad in ({"client_ip": "not an address"}, {"client_ip": 127}, {"helo": "a\r\nb"}, {"helo": 5}):
        with pytest.raises(ValidationError):
            await client.deliver(MAIL, rcpt_to=["desk@agents.test"], **bad)  # type: ignore[arg-type]
    [stored] = await client.deliver(
        MAIL, rcpt_to=["desk@agents.test"], client_ip=" ::ffff:192.0.2.1 ", helo="mx"
    )
    assert stored.inbox_id == "desk@agents.test"
