"""Send safety: per-inbox send rate limits and the warm-up cap of new custom domains."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import aiosmtplib
import pytest
from dnsserver import LoopbackDNS
from helpers import expect, serving
from test_domains import publish

from agentinbox import AsyncAgentInbox, RateLimitError, ValidationError
from agentinbox._clock import ManualClock, to_datetime
from agentinbox.pipeline.send_limits import DEFAULT_WARMUP
from agentinbox.store import domains

DAY = 86_400


async def engine(database_url: str, clock: ManualClock, **settings: Any) -> AsyncAgentInbox:
    return AsyncAgentInbox(database_url=database_url, default_domain="agents.test", clock=clock, **settings)


@pytest.fixture
async def limited(database_url: str, clock: ManualClock) -> AsyncIterator[AsyncAgentInbox]:
    async with await engine(database_url, clock, send_rate_limits=["3/minute", "5/hour"]) as client:
        yield client


async def send(client: AsyncAgentInbox, inbox_id: str, subject: str = "Hello") -> str:
    sent = await client.inboxes.messages.send(
        inbox_id=inbox_id, to=["bob@agents.test"], subject=subject, text="hi"
    )
    return sent.message_id


async def sent_count(client: AsyncAgentInbox, inbox_id: str) -> int:
    listed = await client.inboxes.messages.list(inbox_id=inbox_id, labels=["sent"])
    return listed.count


async def test_an_inbox_over_its_rate_limit_is_refused_until_the_window_passes(
    limited: AsyncAgentInbox, clock: ManualClock
) -> None:
    client = limited
    me = await client.inboxes.create(username="me")
    other = await client.inboxes.create(username="other")
    await client.inboxes.create(username="bob")
    for n in range(3):
        await send(client, me.inbox_id, f"n{n}")
        clock.advance(10)
    with expect(RateLimitError, "rate_limit_exceeded") as caught:
        await send(client, me.inbox_id, "one too many")
    error = caught.value
    assert "3 messages in the last minute" in error.message and "'3/minute'" in error.message
    # The first send falls out of the window 60 s after it was made; 30 s have passed.
    assert error.retry_after == pytest.approx(30, abs=0.01)
    assert await sent_count(client, me.inbox_id) == 3  # nothing of the refused send was stored
    # Another inbox has its own limit.
    await send(client, other.inbox_id)

    clock.advance(31)
    await send(client, me.inbox_id, "after the minute")
    # Replies and forwards count like sends; the hourly limit (5) is next.
    [first] = (await client.inboxes.messages.list(inbox_id=me.inbox_id, labels=["sent"], limit=1)).messages
    clock.advance(61)
    await client.inboxes.messages.reply(inbox_id=me.inbox_id, message_id=first.message_id, text="again")
    with expect(RateLimitError, "rate_limit_exceeded") as caught:
        await client.inboxes.messages.forward(
            inbox_id=me.inbox_id, message_id=first.message_id, to=["x@agents.test"]
        )
    assert "'5/hour'" in caught.value.message
    # The oldest of the five (sent at 0 s) leaves the hour at 3600 s; it is now 122 s.
    assert caught.value.retry_after == pytest.approx(3600 - 122, abs=0.01)


async def test_drafts_and_scheduled_sends_respect_the_limit(database_url: str, clock: ManualClock) -> None:
    async with await engine(database_url, clock, send_rate_limits=["1/minute"]) as client:
        me = await client.inboxes.create(username="me")
        await client.inboxes.create(username="bob")
        await send(client, me.inbox_id)
        draft = await client.inboxes.drafts.create(inbox_id=me.inbox_id, to=["bob@agents.test"], text="draft")
        with expect(RateLimitError, "rate_limit_exceeded"):
            await client.inboxes.drafts.send(inbox_id=me.inbox_id, draft_id=draft.draft_id)
        # The refused draft is still there, unsent.
        kept = await client.inboxes.drafts.get(inbox_id=me.inbox_id, draft_id=draft.draft_id)
        assert kept.draft_id == draft.draft_id

        # A scheduled send over the limit waits (it is not marked failed) and goes once the window passed.
        await client.start()
        scheduled = await client.inboxes.drafts.create(
            inbox_id=me.inbox_id,
            to=["bob@agents.test"],
            text="scheduled",
            send_at=to_datetime(clock.now()) + timedelta(seconds=1),
        )
        clock.advance(2)
        assert client._scheduler is not None
        client._scheduler.wake()
        await asyncio.wait_for(client._scheduler.idle(), timeout=30)
        waiting = await client.inboxes.drafts.get(inbox_id=me.inbox_id, draft_id=scheduled.draft_id)
        assert waiting.send_status != "failed"
        assert await sent_count(client, me.inbox_id) == 1

        clock.advance(200)  # past the window and the scheduler's claim
        client._scheduler.wake()
        await asyncio.wait_for(client._scheduler.idle(), timeout=30)
        for _ in range(100):
            if await sent_count(client, me.inbox_id) == 2:
                break
            await asyncio.sleep(0.05)
        assert await sent_count(client, me.inbox_id) == 2


async def test_smtp_submission_over_the_limit_gets_a_temporary_refusal(
    database_url: str, clock: ManualClock
) -> None:
    key = "am_org_limits"
    async with serving(
        database_url,
        clock,
        "desk",
        "bob",
        submission_listen="127.0.0.1:0",
        api_key=key,
        send_rate_limits=["1/day"],
    ) as client:
        host, port = client.submission_address or ("", 0)
        raw = b"From: desk@agents.test\r\nTo: bob@agents.test\r\nSubject: hi\r\n\r\nhello\r\n"
        smtp = aiosmtplib.SMTP(hostname=host, port=port, start_tls=False, timeout=30)
        await smtp.connect()
        try:
            await smtp.ehlo()
            await smtp.auth_plain("desk@agents.test", key)
            await smtp.sendmail("desk@agents.test", ["bob@agents.test"], raw)
            with pytest.raises(aiosmtplib.SMTPDataError) as refused:
                await smtp.sendmail("desk@agents.test", ["bob@agents.test"], raw.replace(b"hi", b"again"))
            assert refused.value.code == 451 and "1 messages in the last day" in refused.value.message
        finally:
            smtp.close()
        assert await sent_count(client, "desk@agents.test") == 1


async def test_a_new_domain_warms_up_day_by_day(database_url: str, clock: ManualClock) -> None:
    async with await engine(database_url, clock, domain_warmup=[2, 4]) as client:
        await client.domains.create(domain="new.test")
        first = await client.inboxes.create(username="first", domain="new.test")
        second = await client.inboxes.create(username="second", domain="new.test")
        veteran = await client.inboxes.create(username="veteran")  # the default domain has no warm-up
        await client.inboxes.create(username="bob")
        await send(client, first.inbox_id)
        clock.advance(3600)
        await send(client, second.inbox_id)
        # The cap is the domain's, whichever inbox sends.
        with expect(RateLimitError, "rate_limit_exceeded") as caught:
            await send(client, first.inbox_id)
        assert "new.test is warming up (day 1 of 2)" in caught.value.message
        assert caught.value.retry_after == pytest.approx(DAY - 3600, abs=0.01)
        for _ in range(5):
            await send(client, veteran.inbox_id)

        clock.advance(DAY)  # day 2: 4 a day, and yesterday's sends are out of the 24 hours
        for n in range(4):
            await send(client, first.inbox_id if n % 2 else second.inbox_id)
        with expect(RateLimitError, "rate_limit_exceeded") as caught:
            await send(client, first.inbox_id)
        assert "(day 2 of 2)" in caught.value.message and "4 messages" in caught.value.message

        clock.advance(DAY)  # the schedule is over: no cap
        for _ in range(6):
            await send(client, first.inbox_id)


async def test_warm_up_counts_from_verification(
    database_url: str, clock: ManualClock, dns_server: LoopbackDNS
) -> None:
    async with await engine(
        database_url, clock, domain_warmup=[1, 3], dns_resolver=dns_server.address, hostname="mx.agents.test"
    ) as client:
        domain = await client.domains.create(domain="late.test")
        clock.advance(3 * DAY)  # registered long ago, verified only now: day 1 starts at verification
        publish(dns_server, domain)
        assert (await client.domains.verify(domain_id="late.test")).status == "VERIFIED"
        ctx = await client._context()
        assert await ctx.db.read(domains.warmup_start, "late.test") == clock.now()
        me = await client.inboxes.create(username="me", domain="late.test")
        await client.inboxes.create(username="bob")
        await send(client, me.inbox_id)
        with expect(RateLimitError, "rate_limit_exceeded"):
            await send(client, me.inbox_id)
        # Verifying again does not restart the warm-up.
        clock.advance(DAY)
        await client.domains.verify(domain_id="late.test")
        assert await ctx.db.read(domains.warmup_start, "late.test") == clock.now() - DAY * 1_000_000


def test_default_warmup_ramps_up() -> None:
    assert DEFAULT_WARMUP[0] == 50 and all(b > a for a, b in itertools.pairwise(DEFAULT_WARMUP))


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("send_rate_limits", ["ten/minute"]),
        ("send_rate_limits", ["0/minute"]),
        ("send_rate_limits", ["5/fortnight"]),
        ("send_rate_limits", ["5"]),
        ("send_rate_limits", "5/minute"),
        ("domain_warmup", [10, 0]),
        ("domain_warmup", ["many"]),
    ],
)
def test_bad_limit_settings_are_validation_errors(name: str, value: object) -> None:
    with pytest.raises(ValidationError) as caught:
        AsyncAgentInbox(**{name: value})
    assert caught.value.errors[0]["path"][0] == name


@pytest.mark.parametrize("limit", ["10/second", "10/minutes", " 10/Hour", "1/day"])
def test_good_limit_settings_are_accepted(limit: str) -> None:
    AsyncAgentInbox(send_rate_limits=[limit])
