"""Hostile and broken SMTP clients against the receiver: each gets the right reply, nothing is stored twice or lost.

The conversations are written byte by byte over asyncio streams, since a client library would refuse to
send most of them: commands out of order or malformed, everything in one write, bare LF, NUL and 8-bit
bytes, oversized messages and lines, relaying, too many recipients, a client that stalls or trickles its
DATA, and more connections than allowed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import func, select

from agentinbox import AsyncAgentInbox
from agentinbox._clock import ManualClock
from agentinbox.smtp.protocol import unstuff
from agentinbox.store.tables import inbound_queue as queue_table

Start = Callable[..., Awaitable[AsyncAgentInbox]]


def message(subject: str, body: bytes = b"Hello.\r\n") -> bytes:
    """A small message whose Message-ID follows its subject, so each test message is distinct."""
    head = f"From: c@example.com\r\nTo: desk@agents.test\r\nSubject: {subject}\r\nMessage-ID: <{subject}@test>\r\n"
    return head.encode() + b"\r\n" + body


@pytest.fixture
async def start(database_url: str, clock: ManualClock) -> AsyncIterator[Start]:
    """Starts a receiver with the given settings and inboxes desk, sales and ops; closes it afterwards."""
    started: list[AsyncAgentInbox] = []

    async def run(**settings: Any) -> AsyncAgentInbox:
        options: dict[str, Any] = {"max_message_size": 20_000, **settings}
        client = AsyncAgentInbox(
            database_url=database_url,
            default_domain="agents.test",
            smtp_listen="127.0.0.1:0",
            clock=clock,
            **options,
        )
        started.append(client)
        for name in ("desk", "sales", "ops"):
            await client.inboxes.create(username=name)
        await client.start()
        return client

    yield run
    for client in started:
        await client.close()


class Wire:
    """One raw SMTP connection: write any bytes, read replies as (code, text) pairs."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, server: AsyncAgentInbox, *, greet: bool = True) -> Wire:
        host, port = server.smtp_address or ("", 0)
        wire = cls(*await asyncio.open_connection(host, port))
        if greet:
            assert (await wire.reply())[0] == 220
        return wire

    async def reply(self) -> tuple[int, str]:
        """The next reply (multi-line replies joined); (0, "") once the server has closed the connection."""
        lines = []
        while True:
            line = await asyncio.wait_for(self.reader.readline(), timeout=20)
            if not line:
                return 0, ""
            lines.append(line.decode("utf-8", "replace").rstrip("\r\n"))
            if line[3:4] != b"-":
                return int(line[:3]), "\n".join(item[4:] for item in lines)

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def command(self, line: bytes | str) -> tuple[int, str]:
        await self.send((line.encode() if isinstance(line, str) else line) + b"\r\n")
        return await self.reply()

    async def codes(self, count: int) -> list[int]:
        return [(await self.reply())[0] for _ in range(count)]

    async def closed(self) -> bool:
        """Whether the server closes the connection (after any last replies)."""
        try:
            while await asyncio.wait_for(self.reader.read(4096), timeout=20):
                pass
        except ConnectionResetError:
            pass
        return True

    def close(self) -> None:
        self.writer.close()


async def processed(client: AsyncAgentInbox) -> None:
    assert client._receiving is not None
    await asyncio.wait_for(client._receiving.worker.idle(), timeout=30)


async def queued(client: AsyncAgentInbox) -> int:
    ctx = await client._context()
    return int(
        await ctx.db.read(lambda conn: conn.execute(select(func.count()).select_from(queue_table)).scalar())
    )


async def stored(client: AsyncAgentInbox, inbox: str = "desk@agents.test") -> list[bytes]:
    """The raw bytes of every message in an inbox, once the worker has processed everything."""
    await processed(client)
    listing = await client.inboxes.messages.list(inbox_id=inbox)
    raws = []
    for item in listing.messages:
        raws.append(
            (await client.inboxes.messages.get_raw(inbox_id=inbox, message_id=item.message_id)).content
        )
    return raws


async def transaction(wire: Wire, body: bytes, *, rcpt: str = "desk@agents.test") -> int:
    """MAIL, RCPT and DATA, then ``body`` as given (it must end with its own dot line); the final code."""
    for line in ("MAIL FROM:<c@example.com>", f"RCPT TO:<{rcpt}>"):
        assert (await wire.command(line))[0] == 250
    assert (await wire.command("DATA"))[0] == 354
    await wire.send(body)
    return (await wire.reply())[0]


async def test_commands_out_of_order(start: Start) -> None:
    server = await start()
    wire = await Wire.open(server)
    assert (await wire.command("MAIL FROM:<c@example.com>"))[0] == 503  # no EHLO yet
    assert (await wire.command("EHLO client.example.com"))[0] == 250
    assert (await wire.command("RCPT TO:<desk@agents.test>"))[0] == 503  # no MAIL yet
    assert (await wire.command("DATA"))[0] == 503
    assert (await wire.command("MAIL FROM:<c@example.com>"))[0] == 250
    assert (await wire.command("MAIL FROM:<c@example.com>"))[0] == 503  # nested MAIL
    assert (await wire.command("DATA"))[0] == 503  # no RCPT yet
    assert (await wire.command("RCPT TO:<desk@agents.test>"))[0] == 250
    assert (await wire.command("DATA now"))[0] == 501
    assert (await wire.command("RSET"))[0] == 250
    assert (await wire.command("DATA"))[0] == 503  # RSET forgot the recipients
    assert (await wire.command("QUIT"))[0] == 221
    assert await wire.closed()
    assert await queued(server) == 0 and await stored(server) == []


async def test_malformed_commands_then_junk_closes(start: Start) -> None:
    server = await start()
    wire = await Wire.open(server)
    assert (await wire.command("HELO"))[0] == 501
    assert (await wire.command("EHLO client.example.com"))[0] == 250
    assert (await wire.command(""))[0] == 500
    assert (await wire.command(b"M\xc3\xa4IL FROM:<c@example.com>"))[0] == 500  # a verb must be ASCII
    assert (await wire.command("MAIL FROM:"))[0] == 501
    assert (await wire.command("MAIL TO:<c@example.com>"))[0] == 501
    assert (await wire.command("MAIL FROM:<c@example.com> BODY=9BIT"))[0] == 501
    assert (await wire.command("MAIL FROM:<c@example.com> SIZE=99999999"))[0] == 552  # over the SIZE
    assert (await wire.command("MAIL FROM:<c@example.com> " + "X" * 2000))[0] == 500  # line too long
    assert (await wire.command("MAIL FROM:<c@example.com>"))[0] == 250
    assert (await wire.command("RCPT TO:"))[0] == 501
    assert (await wire.command("RCPT TO:<desk@agents.test> NOTIFY=NEVER"))[0] == 555  # unknown parameter
    for _ in range(4):
        assert (await wire.command("FROB"))[0] == 500
    assert (await wire.command("FROB"))[0] == 502  # the fifth unknown verb ends the session
    assert await wire.closed()
    assert await queued(server) == 0


async def test_everything_in_one_write(start: Start) -> None:
    """Pipelining abuse: two transactions and QUIT in one write, without waiting for any reply."""
    server = await start()
    wire = await Wire.open(server)
    script = b"EHLO client.example.com\r\n"
    for subject in ("first", "second"):
        script += b"MAIL FROM:<c@example.com>\r\nRCPT TO:<desk@agents.test>\r\nDATA\r\n"
        script += message(subject) + b".\r\n"
    await wire.send(script + b"QUIT\r\n")
    assert await wire.codes(10) == [250, 250, 250, 354, 250, 250, 250, 354, 250, 221]
    assert await wire.closed()
    assert sorted(await stored(server)) == sorted([message("first"), message("second")])
    assert await queued(server) == 0


async def test_bare_lf_cannot_smuggle_a_second_message(start: Start) -> None:
    server = await start()
    wire = await Wire.open(server)
    await wire.command("EHLO client.example.com")
    smuggled = (
        b"\n.\nMAIL FROM:<evil@example.com>\nRCPT TO:<sales@agents.test>\nDATA\nSubject: smuggled\n\nx\n"
    )
    body = message("bare-lf", b"line one\nline two\r\n" + smuggled + b"\r\n.\nalso\r.\r\n\r\n")
    assert await transaction(wire, body + b".\r\n") == 250
    assert await wire.command("QUIT") == (221, "Bye")
    # One message; the line ".\nalso\r." starts with a dot, which the receiver takes as dot-stuffing.
    assert await stored(server) == [unstuff(body)] and unstuff(body) != body
    assert await stored(server, "sales@agents.test") == []


async def test_nul_bytes_are_kept(start: Start) -> None:
    server = await start()
    wire = await Wire.open(server)
    await wire.command("EHLO client.example.com")
    body = message("nul", b"before\x00after\r\n\x00\r\n")
    assert await transaction(wire, body + b".\r\n") == 250
    assert await stored(server) == [body]


async def test_8bit_without_8bitmime_is_kept(start: Start) -> None:
    """No BODY=8BITMIME on MAIL, yet 8-bit bytes: accepted, as most servers do, and kept byte for byte."""
    server = await start()
    wire = await Wire.open(server)
    await wire.command("HELO client.example.com")
    body = message("8bit", "Grüße aus Köln\r\n".encode() + b"latin-1 \xe9t\xe9\r\n")
    assert await transaction(wire, body + b".\r\n") == 250
    assert await stored(server) == [body]


async def test_oversized_gets_552_and_the_session_goes_on(start: Start) -> None:
    server = await start(max_message_size=20_000)
    wire = await Wire.open(server)
    await wire.command("EHLO client.example.com")
    big = message("big", b"y" * 76 + b"\r\n") + (b"z" * 76 + b"\r\n") * 300
    assert len(big) > 20_000
    assert await transaction(wire, big + b".\r\n") == 552
    assert await queued(server) == 0
    assert await transaction(wire, message("small") + b".\r\n") == 250
    assert await stored(server) == [message("small")]


async def test_over_long_line_gets_500_and_the_session_goes_on(start: Start) -> None:
    server = await start()
    wire = await Wire.open(server)
    await wire.command("EHLO client.example.com")
    assert await transaction(wire, message("long", b"w" * 1500 + b"\r\n") + b".\r\n") == 500
    assert await queued(server) == 0
    assert await transaction(wire, message("short") + b".\r\n") == 250
    assert await stored(server) == [message("short")]


async def test_relaying_is_refused(start: Start) -> None:
    server = await start()
    wire = await Wire.open(server)
    await wire.command("EHLO client.example.com")
    assert (await wire.command("MAIL FROM:<c@example.com>"))[0] == 250
    code, text = await wire.command("RCPT TO:<someone@example.org>")
    assert code == 550 and text.startswith("5.7.1")
    assert (await wire.command("RCPT TO:<someone@agents.test.example.org>"))[0] == 550
    assert (await wire.command("DATA"))[0] == 503
    assert await queued(server) == 0


async def test_too_many_recipients(start: Start) -> None:
    server = await start(smtp_max_recipients=2)
    wire = await Wire.open(server)
    await wire.command("EHLO client.example.com")
    assert (await wire.command("MAIL FROM:<c@example.com>"))[0] == 250
    assert (await wire.command("RCPT TO:<desk@agents.test>"))[0] == 250
    assert (await wire.command("RCPT TO:<sales@agents.test>"))[0] == 250
    code, text = await wire.command("RCPT TO:<ops@agents.test>")
    assert code == 452 and text.startswith("4.5.3")
    assert (await wire.command("DATA"))[0] == 354
    await wire.send(message("many") + b".\r\n")
    assert (await wire.reply())[0] == 250
    assert await stored(server) == [message("many")]
    assert await stored(server, "sales@agents.test") == [message("many")]
    assert await stored(server, "ops@agents.test") == []


async def test_a_client_stalling_in_data_is_closed_and_others_are_served(start: Start) -> None:
    server = await start(smtp_idle_timeout=0.5)
    stalled = await Wire.open(server)
    await stalled.command("EHLO client.example.com")
    for line in ("MAIL FROM:<c@example.com>", "RCPT TO:<desk@agents.test>", "DATA"):
        await stalled.command(line)
    await stalled.send(message("stalled")[:40])  # and nothing more
    other = await Wire.open(server)
    await other.command("EHLO other.example.com")
    assert await transaction(other, message("other") + b".\r\n") == 250
    code, text = await stalled.reply()
    assert code == 421 and text.startswith("4.4.2")
    assert await stalled.closed()
    assert await stored(server) == [message("other")]
    assert await queued(server) == 0


async def test_a_client_trickling_data_hits_the_total_limit(start: Start) -> None:
    """Data keeps coming, so the idle timer never fires, but the whole DATA may take only so long."""
    server = await start(smtp_idle_timeout=1.0, smtp_data_timeout=1.5, max_message_size=10_000_000)
    wire = await Wire.open(server)
    await wire.command("EHLO client.example.com")
    for line in ("MAIL FROM:<c@example.com>", "RCPT TO:<desk@agents.test>", "DATA"):
        await wire.command(line)
    began = time.monotonic()
    reply = asyncio.create_task(wire.reply())
    for _ in range(80):  # 70 kB every 0.1 s, a chunk of data each time: 8 s if allowed
        if reply.done():
            break
        try:
            await wire.send((b"t" * 68 + b"\r\n") * 1000)
        except ConnectionError:
            break
        await asyncio.sleep(0.1)
    code, text = await reply
    elapsed = time.monotonic() - began
    assert code == 421 and text.startswith("4.4.2")
    assert 1.4 < elapsed < 6  # the DATA limit closed it, not the idle timer
    assert await queued(server) == 0


async def test_an_idle_session_is_closed(start: Start) -> None:
    server = await start(smtp_idle_timeout=0.3)
    wire = await Wire.open(server)
    code, text = await wire.reply()
    assert code == 421 and "Timeout" in text
    assert await wire.closed()


async def test_a_connection_flood_gets_421(start: Start) -> None:
    server = await start(smtp_max_connections=3)
    held = [await Wire.open(server) for _ in range(3)]
    extra = await Wire.open(server, greet=False)
    code, text = await extra.reply()
    assert code == 421 and text.startswith("4.7.0")
    assert await extra.closed()
    # One leaves; the server forgets its session before the socket closes, so once the client sees the
    # close there is room again.
    leaving = held.pop()
    assert (await leaving.command("QUIT"))[0] == 221
    assert await leaving.closed()
    again = await Wire.open(server)  # greeted with 220 again
    await again.command("EHLO client.example.com")
    assert await transaction(again, message("after the flood") + b".\r\n") == 250
    for wire in [*held, again]:
        wire.close()
    assert await stored(server) == [message("after the flood")]
