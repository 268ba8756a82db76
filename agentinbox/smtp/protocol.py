"""aiosmtpd's SMTP protocol with a chunked DATA reader and the limits a public listener needs.

``SMTPProtocol`` reads DATA in large chunks instead of aiosmtpd's line-by-line loop, yet yields exactly the
bytes, replies and limits aiosmtpd would (tests compare the two). ``SMTPListener`` serves it on the running
loop with the options and limits (``ReceiverLimits``) every listener of ours has, refuses connections over a
limit and closes every session on stop. Both are shared by the receiver and the submission listener; neither
knows anything of storage, which belongs to the handler's hooks.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import re
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NotRequired, TypedDict

from aiosmtpd.smtp import MISSING, SMTP, syntax

__all__ = [
    "LINE_LIMIT",
    "MAX_RECIPIENTS",
    "READ_LIMIT",
    "ListenerOptions",
    "ReceiverLimits",
    "SMTPListener",
    "SMTPProtocol",
    "unstuff",
]

logger = logging.getLogger("agentinbox.smtp")

#: Longest DATA line, CRLF included (RFC 5321 §4.5.3.1.6: 998 octets, CRLF and a transparency dot); the
#: same limit as aiosmtpd's ``SMTP.line_length_limit``.
LINE_LIMIT = 1001
#: The StreamReader's limit: the largest chunk DATA is read in, and the longest command line buffered
#: before it is refused (with aiosmtpd's own ``500 Command line too long``). The reader pauses the socket
#: when twice this much is buffered, so it also bounds a session's memory.
READ_LIMIT = 64 * 1024

#: Recipients per message by default (RFC 5321 §4.5.3.1.10 asks servers to take at least 100).
MAX_RECIPIENTS = 100

TOO_LONG = "500 5.5.2 Line too long (see RFC 5321 section 4.5.3.1.6)"
TOO_MUCH = "552 5.3.4 Message too big for this system"

_TERMINATOR = b"\r\n.\r\n"  # RFC 5321 §4.1.1.4: a line holding only a dot ends the data
_TERMINATOR_STARTS = (b"\r\n.\r", b"\r\n.", b"\r\n", b"\r")  # longest first

# A MAIL/RCPT path the way nearly every client writes it: <dot-atom@host.name>, then nothing or blanks and
# parameters. aiosmtpd parses paths with the email package's RFC 5322 parser (about 100 µs a command); for
# these the answer is known: the address as written and what follows the blanks (tests compare the two).
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_SIMPLE_PATH = re.compile(
    rf"<({_ATOM}(?:\.{_ATOM})*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*)>(?:[ \t]+(?=[^ \t(])|$)", re.ASCII
)


def unstuff(data: bytes) -> bytes:
    """Undo dot-stuffing (RFC 5321 §4.5.2): drop the first character of every line that starts with a dot."""
    if data.startswith(b"."):
        data = data[1:]
    return data.replace(b"\r\n.", b"\r\n")


class _Body:
    """DATA bytes collected chunk by chunk under aiosmtpd's rules, so the outcome is the same as its own.

    aiosmtpd counts complete lines towards the size limit and checks each line's length; whichever limit
    is broken first decides the reply. A line of 1002+ octets before its CRLF is caught before its bytes
    are counted (its StreamReader overruns), a line of 1000 or 1001 octets only after. After the first
    failure the rest is only drained, never kept, so memory stays bounded by the size limit.
    """

    def __init__(self, size_limit: int | None) -> None:
        self._limit = size_limit or None
        self._parts: list[bytes] = []
        self._size = 0  # bytes of complete lines so far
        self._carry = b""  # the unfinished line at the end of the last chunk
        self.error: str | None = None

    def feed(self, chunk: bytes) -> None:
        if self.error is not None or not chunk:
            return
        data = self._carry + chunk if self._carry else chunk
        lines = data.split(b"\r\n")
        carry = lines.pop()
        complete = len(data) - len(carry)
        if (
            len(carry) <= LINE_LIMIT + 1
            and max(map(len, lines), default=0) <= LINE_LIMIT - 2
            and (self._limit is None or self._size + complete <= self._limit)
        ):
            self._size += complete
            self._parts.append(data if not carry else data[:complete])
            self._carry = carry
            return
        self._slow(lines, carry)

    def _slow(self, lines: list[bytes], carry: bytes) -> None:
        """Line by line, to find which limit breaks first: only ever reached by a failing message."""
        for line in lines:
            if len(line) > LINE_LIMIT:
                self._fail(TOO_LONG)
                return
            self._size += len(line) + 2
            if self._limit is not None and self._size > self._limit:
                self._fail(TOO_MUCH)
                return
            if len(line) + 2 > LINE_LIMIT:
                self._fail(TOO_LONG)
                return
            self._parts.append(line + b"\r\n")
        if len(carry) > LINE_LIMIT + 1:  # 1002+ octets before any CRLF that may follow
            self._fail(TOO_LONG)
            return
        self._carry = carry

    def _fail(self, reply: str) -> None:
        self.error = reply
        self._parts, self._carry = [], b""

    def content(self) -> bytes:
        """The message as the client meant it: dot-unstuffed, without the terminating dot line."""
        return unstuff(b"".join(self._parts))


class SMTPProtocol(SMTP):
    """aiosmtpd's ``SMTP`` with a chunked DATA reader, a total DATA time limit and connection refusal.

    Keyword arguments beyond aiosmtpd's: ``data_timeout`` caps a whole DATA transfer in seconds (aiosmtpd's
    ``timeout`` applies between commands and, within DATA, to each ``READ_LIMIT`` chunk); ``refusal``, when
    set, is sent instead of the greeting and the connection closed (the listener's answer to too many
    connections); ``on_close`` is called once the connection is gone. A timeout is announced with 421.
    """

    # aiosmtpd sizes its StreamReader from this attribute (only there once smtp_DATA is replaced): a large
    # limit lets DATA be read in chunks and stops the socket being paused every 2 kB.
    line_length_limit = READ_LIMIT

    def __init__(
        self,
        handler: Any,
        *,
        data_timeout: float,
        refusal: str | None = None,
        on_close: Callable[[SMTPProtocol], None] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(handler, **kwargs)
        # aiosmtpd keeps these limits in a class attribute shared by every connection (and grows MAIL's on
        # every EHLO); each session gets its own.
        self.command_size_limits = collections.defaultdict(lambda: self.command_size_limit)
        self._data_timeout = data_timeout
        self._refusal = refusal
        self._on_close = on_close
        self._deadline = 0.0  # when the session times out, unless a command or data arrives first

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        """aiosmtpd's path parser, with a fast path for plain ``<local@domain>`` paths."""
        match = _SIMPLE_PATH.match(arg) if arg else None
        if match is None or self.local_part_limit:
            return super()._getaddr(arg)
        return match[1], arg[match.end() :]

    async def _handle_client(self) -> None:
        if self._refusal is not None:
            await self.push(self._refusal)
            assert self.transport is not None
            self.transport.close()
            return
        await super()._handle_client()

    def connection_lost(self, error: Exception | None) -> None:
        if self._on_close is not None:
            self._on_close(self)
        super().connection_lost(error)

    def _reset_timeout(self, duration: float | None = None) -> None:
        # aiosmtpd replaces its timer on every command; move a deadline instead, and re-arm the timer only
        # when the deadline comes sooner (a timer that fires early re-arms itself for the deadline).
        when = self.loop.time() + (duration or self._timeout_duration)
        self._deadline = when
        handle = self._timeout_handle
        if handle is None or handle.cancelled() or handle.when() > when:
            if handle is not None:
                handle.cancel()
            self._timeout_handle = self.loop.call_at(when, self._timeout_cb)

    def _timeout_cb(self) -> None:
        if self.loop.time() < self._deadline:
            self._timeout_handle = self.loop.call_at(self._deadline, self._timeout_cb)
            return
        # RFC 5321 §4.5.3.2: say why before closing, rather than just hanging up.
        if self.transport is not None and not self.transport.is_closing():
            self._writer.write(f"421 4.4.2 {self.hostname} Timeout, closing connection\r\n".encode())
        super()._timeout_cb()

    async def handle_exception(self, error: Exception) -> str:
        """A bug or unexpected failure: logged, and a temporary failure for the client (never a traceback)."""
        if hasattr(self.event_handler, "handle_exception"):
            return str(await self.event_handler.handle_exception(error))
        logger.error("SMTP session %r failed", self.session and self.session.peer, exc_info=error)
        return "451 4.3.0 Internal error; try again later"

    @syntax("DATA")  # so HELP still lists it
    async def smtp_DATA(self, arg: str) -> None:
        """DATA as aiosmtpd does it (same checks, replies and content), read in chunks.

        The handler must implement ``handle_DATA``; aiosmtpd's deprecated ``process_message`` is not called.
        """
        if await self.check_helo_needed():
            return
        if await self.check_auth_needed("DATA"):
            return
        assert self.envelope is not None
        if not self.envelope.rcpt_tos:
            await self.push("503 Error: need RCPT command")
            return
        if arg:
            await self.push("501 Syntax: DATA")
            return
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        body = await self._read_data()
        self._reset_timeout()  # the handler gets a full idle period to answer
        if body.error is not None:
            self._set_post_data_state()
            await self.push(body.error)
            return
        content = body.content()
        self.envelope.original_content = content
        if self._decode_data:
            try:
                self.envelope.content = content.decode(
                    "utf-8" if self.enable_SMTPUTF8 else "ascii",
                    "surrogateescape" if self.enable_SMTPUTF8 else "strict",
                )
            except UnicodeDecodeError:
                await self.push("500 Error: strict ASCII mode")
                return
        else:
            self.envelope.content = content
        status = await self._call_handler_hook("DATA")
        self._set_post_data_state()
        await self.push("250 OK" if status is MISSING else status)

    async def _read_data(self) -> _Body:
        """Read up to the terminating dot line, in chunks of up to ``READ_LIMIT`` bytes.

        The reader scans for CRLF "." CRLF, so it is never cut between chunks: StreamReader keeps any partial
        match buffered. Only the start needs care, where the DATA command's own CRLF may begin it. Bytes
        after the terminator stay in the reader for the next command, as pipelining needs.
        """
        body = _Body(self.data_size_limit)
        reader = self._reader
        deadline = self.loop.time() + self._data_timeout
        self._extend(deadline)
        start = await self._read_start()
        if start.endswith(_TERMINATOR):
            body.feed(start[2:-3])
            return body
        body.feed(start[2:])
        while True:
            try:
                chunk = await reader.readuntil(_TERMINATOR)
            except asyncio.LimitOverrunError as exc:
                # No terminator within READ_LIMIT bytes: take what was scanned (the reader keeps the last
                # four bytes, which may begin one) and go on.
                body.feed(await reader.read(exc.consumed))
                self._extend(deadline)
                continue
            body.feed(chunk[:-3])  # the CRLF before the dot ends the last line
            return body

    async def _read_start(self) -> bytes:
        """The DATA command's CRLF and as few bytes as settle whether a terminator begins across it.

        While what was read ends with the start of a terminator (CR, CRLF, CRLF ".", CRLF "." CR), read
        just enough to complete it; usually three bytes, which are not ".\r\n", and done.
        """
        seen = b"\r\n"
        while not seen.endswith(_TERMINATOR):
            partial = next((p for p in _TERMINATOR_STARTS if seen.endswith(p)), None)
            if partial is None:
                return seen
            seen += await self._reader.readexactly(len(_TERMINATOR) - len(partial))
        return seen

    def _extend(self, deadline: float) -> None:
        """Data arrived: restart the idle timer, but never past the DATA deadline."""
        remaining = deadline - self.loop.time()
        self._reset_timeout(max(min(self._timeout_duration, remaining), 0.001))


@dataclass(frozen=True, kw_only=True)
class ReceiverLimits:
    """What one client may take of a listener, receiver or submission (the settings ``smtp_*`` fill it)."""

    #: Open connections at once; one more is answered 421 4.7.0 and closed.
    max_connections: int = 100
    #: Recipients per message; more get 452 4.5.3 (RFC 5321 §4.5.3.1.10 asks for at least 100).
    max_recipients: int = MAX_RECIPIENTS
    #: Seconds a session may wait between commands, and between chunks of DATA (RFC 5321 §4.5.3.2).
    idle_timeout: float = 300
    #: Seconds a whole DATA transfer may take.
    data_timeout: float = 600


class ListenerOptions(TypedDict):
    """What every listener of ours is configured with, whatever its handler: the receiver and submission
    take these as keyword arguments and hand them to ``SMTPListener``."""

    #: The name the server greets with (never ``socket.getfqdn()``, which can block the loop).
    hostname: str
    #: Largest message in bytes (advertised with SIZE, RFC 1870); larger ones get 552.
    data_size_limit: int
    limits: ReceiverLimits
    #: STARTTLS's context; without one STARTTLS is not offered.
    tls_context: NotRequired[ssl.SSLContext | None]


class SMTPListener:
    """Serves ``SMTPProtocol`` on the running loop, tracking its sessions so it can refuse and stop them.

    Every session gets the same options: the ``ListenerOptions`` (hostname, size limit, the ``limits``'
    timeouts, STARTTLS when there is a ``tls_context``), SMTPUTF8 on, bytes never decoded, and the
    per-command budgets ``command_limits``. ``protocol_class`` may be a subclass (submission's, with AUTH).
    """

    def __init__(
        self,
        handler: Any,
        *,
        hostname: str,
        data_size_limit: int,
        limits: ReceiverLimits,
        command_limits: Mapping[str, int],
        tls_context: ssl.SSLContext | None = None,
        protocol_class: type[SMTPProtocol] = SMTPProtocol,
    ) -> None:
        self._handler = handler
        self._protocol_class = protocol_class
        self._max_connections = limits.max_connections
        self._hostname = hostname
        self._options: dict[str, Any] = dict(
            hostname=hostname,
            enable_SMTPUTF8=True,
            decode_data=False,
            data_size_limit=data_size_limit,
            timeout=limits.idle_timeout,
            data_timeout=limits.data_timeout,
            command_call_limit=dict(command_limits),
            tls_context=tls_context,
        )
        self._server: asyncio.Server | None = None
        self._sessions: set[SMTPProtocol] = set()

    @property
    def session_count(self) -> int:
        """Connections open now (refused ones included until they are closed)."""
        return len(self._sessions)

    def _protocol(self) -> SMTPProtocol:
        refusal = None
        if len(self._sessions) >= self._max_connections:
            refusal = f"421 4.7.0 {self._hostname} Too many connections, try again later"
        protocol = self._protocol_class(
            self._handler, refusal=refusal, on_close=self._sessions.discard, **self._options
        )
        self._sessions.add(protocol)
        return protocol

    async def start(self, host: str, port: int) -> tuple[str, int]:
        """Listen on ``host:port`` (port 0 picks a free one) and return the address actually bound."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._protocol, host, port)
        bound = self._server.sockets[0].getsockname()
        return bound[0], bound[1]

    async def stop(self) -> None:
        """Stop listening and close open sessions (their unacknowledged messages are the clients' to resend).

        Transports are closed before ``wait_closed()``, which since Python 3.12 waits for open connections.
        """
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        for session in list(self._sessions):
            if session.transport is not None:
                session.transport.close()
        try:
            await asyncio.wait_for(server.wait_closed(), timeout=5)
        except TimeoutError:
            logger.warning("SMTP sessions still open 5 s after stop")
