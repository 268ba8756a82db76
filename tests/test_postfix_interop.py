"""Interoperability with a real Postfix: it relays our outbound mail, delivers mail into our receiver, and
its bounce reports find their way back to the message they are about."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from peers import Peer
from postfix import PrivatePostfix, available

from agentinbox import AsyncAgentInbox
from agentinbox._clock import ManualClock

pytestmark = pytest.mark.skipif(available() is not None, reason=str(available()))


@pytest.fixture
def receiver_port() -> int:
    """A free loopback port for the engine's SMTP receiver, known before Postfix is configured to use it."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def postfix(receiver_port: int, peer: Peer) -> Iterator[PrivatePostfix]:
    server = PrivatePostfix(
        {"example.com": f"127.0.0.1:{peer.port}", "agents.test": f"127.0.0.1:{receiver_port}"}
    )
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def engine(
    database_url: str, clock: ManualClock, postfix: PrivatePostfix, receiver_port: int
) -> AsyncIterator[AsyncAgentInbox]:
    """One engine that relays its outbound mail through Postfix and receives what Postfix hands back."""
    client = AsyncAgentInbox(
        database_url=database_url,
        default_domain="agents.test",
        clock=clock,
        smtp_listen=f"127.0.0.1:{receiver_port}",
        relay_url=f"smtp://127.0.0.1:{postfix.port}",
    )
    await client.inboxes.create(username="agent", display_name="Agent")
    await client.start()
    yield client
    await client.close()


async def _labels(engine: AsyncAgentInbox, message_id: str) -> set[str]:
    message = await engine.inboxes.messages.get(inbox_id="agent@agents.test", message_id=message_id)
    return set(message.labels)


async def _wait_for(condition: Any, *, what: str, postfix: PrivatePostfix, seconds: float = 30) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not await condition():
        if loop.time() > deadline:
            pytest.fail(f"timed out waiting for {what}; Postfix's log:\n{postfix.logged()[-4000:]}")
        await asyncio.sleep(0.1)


async def test_postfix_relays_our_mail_and_its_bounce_report_bounces_the_message(
    engine: AsyncAgentInbox, peer: Peer, postfix: PrivatePostfix
) -> None:
    peer.handler.rcpt_replies["nobody@example.com"] = "550 5.1.1 <nobody@example.com>: Recipient unknown"
    sent = await engine.inboxes.messages.send(
        inbox_id="agent@agents.test",
        to=["ann@example.com", "nobody@example.com"],
        subject="Quarterly report",
        text="Numbers attached.\n",
    )
    assert engine._delivery is not None
    await asyncio.wait_for(engine._delivery.idle(), timeout=30)
    # Postfix accepted both recipients for relaying.
    assert "delivered" in await _labels(engine, sent.message_id)

    async def relayed() -> bool:
        return len(peer.received) == 1

    await _wait_for(relayed, what="Postfix to relay the message", postfix=postfix)
    got = peer.received[0]
    assert got.rcpt_tos == ["ann@example.com"] and got.mail_from == "agent@agents.test"
    assert sent.message_id.encode() in got.data and b"Received: from" in got.data

    # Postfix's DSN for nobody@ comes back through our receiver and is matched to the message.
    async def bounced() -> bool:
        return "bounced" in await _labels(engine, sent.message_id)

    await _wait_for(bounced, what="Postfix's bounce report", postfix=postfix)
    threads = await engine.inboxes.messages.list(inbox_id="agent@agents.test", labels=["received"])
    assert any("Undelivered" in (m.subject or "") for m in threads.messages)


async def test_postfix_delivers_into_our_receiver(engine: AsyncAgentInbox, postfix: PrivatePostfix) -> None:
    import aiosmtplib

    await aiosmtplib.send(
        b"From: Carol <carol@example.com>\r\nTo: agent@agents.test\r\nSubject: Via Postfix\r\n"
        b"Message-ID: <via-postfix@example.com>\r\n\r\nHello through a real MTA.\r\n",
        sender="carol@example.com",
        recipients=["agent@agents.test"],
        hostname="127.0.0.1",
        port=postfix.port,
    )

    async def arrived() -> bool:
        listed = await engine.inboxes.messages.list(inbox_id="agent@agents.test")
        return listed.count == 1

    await _wait_for(arrived, what="the message to arrive through Postfix", postfix=postfix)
    [item] = (await engine.inboxes.messages.list(inbox_id="agent@agents.test")).messages
    raw = await engine.inboxes.messages.get_raw(inbox_id="agent@agents.test", message_id=item.message_id)
    assert b"Received: from" in raw.content and b"Hello through a real MTA." in raw.content
