"""The chunked DATA reader gives exactly what stock aiosmtpd gives: the same bytes and the same replies.

The same wire bytes, cut into the same TCP segments, go to a stock ``aiosmtpd.smtp.SMTP`` and to our
``SMTPProtocol`` on loopback; the replies' codes and the ``original_content`` handed to the handler must be
equal. Inputs cover dot-stuffing, bare LF, lone CR, NUL, 8-bit bytes, the size limit exactly, long lines
on both sides of the limits, a terminator split across segments, and seeded random bodies.
"""

from __future__ import annotations

import asyncio
import random
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session

from agentinbox.smtp.protocol import READ_LIMIT, SMTPProtocol, unstuff

LIMIT = 100_000  # the data size limit of both servers in most cases
SMALL = 2_000  # a limit small enough to cross with a long line


@dataclass
class Recorder:
    """A handler that keeps what each DATA delivered."""

    contents: list[bytes] = field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        assert isinstance(envelope.original_content, bytes)
        self.contents.append(envelope.original_content)
        return "250 OK"


@dataclass
class Served:
    port: int
    recorder: Recorder


Factory = Callable[[Recorder, int], SMTP]


def stock(recorder: Recorder, limit: int) -> SMTP:
    return SMTP(
        recorder, hostname="test", enable_SMTPUTF8=True, decode_data=False, data_size_limit=limit, timeout=30
    )


def ours(recorder: Recorder, limit: int) -> SMTP:
    return SMTPProtocol(
        recorder,
        hostname="test",
        enable_SMTPUTF8=True,
        decode_data=False,
        data_size_limit=limit,
        timeout=30,
        data_timeout=30,
    )


@pytest.fixture
async def servers() -> AsyncIterator[Callable[[int], Any]]:
    """Starts a stock and an own server with a given data size limit; closes them afterwards."""
    started: list[asyncio.Server] = []

    async def start(limit: int) -> tuple[Served, Served]:
        loop = asyncio.get_running_loop()
        pair = []
        for factory in (stock, ours):
            recorder = Recorder()
            server = await loop.create_server(
                lambda factory=factory, recorder=recorder: factory(recorder, limit), "127.0.0.1", 0
            )
            started.append(server)
            pair.append(Served(server.sockets[0].getsockname()[1], recorder))
        return pair[0], pair[1]

    yield start
    for server in started:
        server.close()


async def converse(port: int, pieces: list[bytes]) -> list[bytes]:
    """One transaction whose DATA is sent as ``pieces`` (one TCP segment each); the reply codes after 354."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        await reader.readline()
        writer.write(b"EHLO client.test\r\n")
        while not (await reader.readline()).startswith(b"250 "):
            pass
        writer.write(b"MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n")
        opening = [await reader.readline() for _ in range(3)]
        assert [line[:3] for line in opening] == [b"250", b"250", b"354"], opening
        for piece in pieces:
            writer.write(piece)
            await writer.drain()
            await asyncio.sleep(0.002)  # let the server read this segment on its own
        writer.write(b"NOOP\r\nQUIT\r\n")
        rest = await asyncio.wait_for(reader.read(), timeout=20)
        return [line[:3] for line in rest.split(b"\r\n") if line]
    finally:
        writer.close()


async def both(servers: Callable[[int], Any], pieces: list[bytes], limit: int = LIMIT) -> tuple[Any, Any]:
    """Replies and contents from stock aiosmtpd and from ours, for the same segments."""
    stock_server, own_server = await servers(limit)
    results = []
    for served in (stock_server, own_server):
        replies = await converse(served.port, pieces)
        results.append((replies, served.recorder.contents))
    return results[0], results[1]


END = b"\r\n.\r\n"
CASES: dict[str, list[bytes]] = {
    "plain": [b"Subject: hi\r\n\r\nHello.\r\n.\r\n"],
    "empty": [b".\r\n"],
    "one empty line": [b"\r\n.\r\n"],
    "dot-stuffed": [b"..leading dot\r\n...\r\n.x\r\n..\r\nend with dot.\r\n.\r\n"],
    "first line dot": [b".only stuffed\r\n.\r\n"],
    "bare LF": [b"Subject: s\n\nline\n.\nMAIL FROM:<evil@example.com>\n" + END],
    "lone CR": [b"a\rb\r.\r\r\n\r.\r\n" + b"x" + END],
    "CR LF dot LF": [b"a\r\n.\nstill data" + END],
    "NUL": [b"a\x00b\r\n\x00\r\n\x00.\x00" + END],
    "8-bit": ["Grüße aus Köln\r\n".encode() + bytes(range(128, 256)) + END],
    "line of 999": [b"x" * 999 + END],
    "line of 1000": [b"x" * 1000 + END],
    "line of 1001": [b"x" * 1001 + END],
    "line of 1002": [b"x" * 1002 + END],
    "line of 5000": [b"y" * 5000 + END],
    "line over the read limit": [b"z" * (READ_LIMIT + 10) + END],
    "long line, then more": [b"x" * 3000 + b"\r\nafter\r\n.\r\n"],
    "terminator in 4 segments": [b"hello\r\n", b".", b"\r", b"\n"],
    "terminator after CR": [b"hello\r", b"\n.\r\n"],
    "terminator after CR LF dot CR": [b"hello\r\n.\r", b"\n"],
    "dot line split": [b"a.", b"\r\n..", b"\r\n", b".\r\n"],
    "long line split": [b"x" * 700, b"x" * 700, b"\r\nok\r\n", b".\r\n"],
    "data then pipelined": [b"body\r\n.\r\nRSET\r\n"],
    "empty, byte by byte": [b".", b"\r", b"\n"],
    "empty line, byte by byte": [b"\r", b"\n", b".", b"\r", b"\n"],
    "starts CR CR LF": [b"\r\r\n.\r\n"],
    "starts dot CR dot": [b".\r.\r\n" + b"x" + END],
    "starts CR LF dot dot": [b"\r\n..\r\n.\r\n"],
    "starts CR LF dot CR CR": [b"\r\n.\r", b"\r\n.\r\n"],
}


@pytest.mark.parametrize("pieces", CASES.values(), ids=CASES.keys())
async def test_same_as_stock_aiosmtpd(servers: Any, pieces: list[bytes]) -> None:
    stock_result, own_result = await both(servers, pieces)
    assert own_result == stock_result


def _exactly(size: int) -> list[bytes]:
    """A body whose lines (CRLF included) add up to ``size`` bytes, sent in two segments."""
    line = b"a" * 98 + b"\r\n"
    whole, rest = divmod(size, len(line))
    body = line * whole + (b"b" * (rest - 2) + b"\r\n" if rest >= 2 else b"")
    if rest == 1:  # pad one line by a byte instead
        body = b"c" + body
    assert len(body) == size
    middle = len(body) // 2
    return [body[:middle], body[middle:] + b".\r\n"]


@pytest.mark.parametrize("size", [SMALL - 1, SMALL, SMALL + 1], ids=["below", "exactly", "above"])
async def test_size_limit_same_as_stock(servers: Any, size: int) -> None:
    stock_result, own_result = await both(servers, _exactly(size), limit=SMALL)
    assert own_result == stock_result
    assert own_result[0][0] == (b"250" if size <= SMALL else b"552")


@pytest.mark.parametrize("long", [1000, 1001, 1002], ids=["1000", "1001", "1002"])
async def test_which_limit_breaks_first_same_as_stock(servers: Any, long: int) -> None:
    """A long line that also crosses the size limit: aiosmtpd's answer depends on its length; so does ours."""
    pieces = [b"p" * 998 + b"\r\n", b"q" * long + b"\r\n", b"tail\r\n.\r\n"]
    stock_result, own_result = await both(servers, pieces, limit=SMALL)
    assert own_result == stock_result


def _random_body(rng: random.Random) -> bytes:
    alphabet = [b".", b"\r", b"\n", b"\r\n", b"a", b"b", b" ", b"\x00", b"\xff", b"\r\n.", b"\r\n.."]
    weights = [8, 4, 4, 12, 40, 20, 6, 1, 1, 3, 2]
    parts = rng.choices(alphabet, weights, k=rng.choice([20, 400, 3000, 40000]))
    if rng.random() < 0.2:
        parts.insert(rng.randrange(len(parts)), b"x" * rng.choice([999, 1000, 1001, 1002, 3000]))
    body = b"".join(parts)
    while END in body or body.startswith(b".\r\n"):  # one terminator only, at the end
        body = body.replace(END, b"\r\n..\r\n").removeprefix(b".\r\n")
    return body + (END if not body.endswith(b"\r\n") else b".\r\n")


async def test_random_bodies_same_as_stock(servers: Any) -> None:
    rng = random.Random(5321)
    for _ in range(25):
        body = _random_body(rng)
        cuts = sorted(rng.sample(range(1, len(body)), k=min(len(body) - 1, rng.randint(0, 6))))
        pieces = [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True)]
        limit = rng.choice([LIMIT, len(body) - 40, len(body) - 3])
        stock_result, own_result = await both(servers, pieces, limit=max(limit, 1))
        assert own_result == stock_result, body[:200]


def test_unstuff() -> None:
    assert unstuff(b"..a\r\n.b\r\nc.\r\n..\r\n") == b".a\r\nb\r\nc.\r\n.\r\n"
    assert unstuff(b"") == b""
    assert unstuff(b"\r\n.\r\n") == b"\r\n\r\n"


PATHS = [
    "<a@b>", "<a@b> SIZE=10", "<a@b>  SIZE=10 BODY=8BITMIME", "<a@b>\tX", "<a@b> (c) X", "<a@b>(c)",
    "<a.b.c@d-e.f>", "<a..b@c>", "<.a@b>", "<a@b.>", "<a@[1.2.3.4]>", '<"q"@b>', "<jörg@b>", "a@b", "<a@b",
    "<a@b>x", "<>", " <a@b>", "<a@b> ", "<a b@c>", "<A+tag@Example.COM> SMTPUTF8", "<a@b> \t SIZE=1",
    "<@x:a@b>", "<a@b>>", "<<a@b>>", "<a@@b>", "<a@b@c>", "", "<a@-b->", "<a(c)@b>",
]  # fmt: skip


@pytest.mark.parametrize("path", PATHS)
async def test_fast_path_parser_agrees_with_aiosmtpd(path: str) -> None:
    protocol = SMTPProtocol(Recorder(), hostname="test", data_timeout=1)
    assert protocol._getaddr(path) == SMTP._getaddr(protocol, path)


async def test_help_same_as_stock(servers: Any) -> None:
    """HELP still lists DATA, whose method is replaced."""
    stock_server, own_server = await servers(LIMIT)
    answers = []
    for served in (stock_server, own_server):
        reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
        await reader.readline()
        writer.write(b"HELP\r\nHELP DATA\r\nQUIT\r\n")
        answers.append(await asyncio.wait_for(reader.read(), timeout=20))
        writer.close()
    assert answers[0] == answers[1] and b"DATA" in answers[1]
