"""The SMTP receiver: accepts mail for our inboxes and makes it durable before answering 250.

It runs aiosmtpd's protocol on the engine's own event loop and knows nothing of storage: the pipeline hands
it two functions. ``check_recipient`` decides each RCPT (an unknown local address gets 550 5.1.1, another
domain a relay refusal: this is never an open relay). ``accept`` makes a message durable at the end of
DATA; only when it returns does the client get 250, and if it fails the client gets 451 and tries again.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

__all__ = ["InboxHandler", "SMTPReceiver", "parse_listen"]

logger = logging.getLogger("agentinbox.smtp")

MAX_RECIPIENTS = 100
# Per-session command budgets (aiosmtpd counts calls per command; "*" is every other command). Generous
# for mail commands, so one connection can carry thousands of messages, tight for the rest.
COMMAND_LIMITS = {"*": 30, "MAIL": 100_000, "RCPT": 1_000_000, "DATA": 100_000, "RSET": 100_000, "NOOP": 100}
IDLE_TIMEOUT = 60


def parse_listen(value: str) -> tuple[str, int]:
    """``host:port`` (``[::1]:25`` for IPv6) as a (host, port) pair; raises ValueError when malformed."""
    host, sep, port = value.strip().rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"expected host:port, got {value!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


#: Decides one recipient: None accepts it, a string is the SMTP reply that refuses it.
CheckRecipient = Callable[[str], Awaitable[str | None]]
#: Makes one message durable: raw bytes, envelope sender, envelope recipients.
Accept = Callable[[bytes, str | None, Sequence[str]], Awaitable[None]]


class InboxHandler:
    """aiosmtpd hooks: which recipients are accepted, and how accepted mail is made durable."""

    def __init__(
        self, check_recipient: CheckRecipient, accept: Accept, *, max_recipients: int = MAX_RECIPIENTS
    ) -> None:
        self._check_recipient = check_recipient
        self._accept = accept
        self._max_recipients = max_recipients

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if len(envelope.rcpt_tos) >= self._max_recipients:
            return "452 4.5.3 Too many recipients"  # RFC 5321 §4.5.3.1.10
        try:
            refusal = await self._check_recipient(address)
        except Exception:
            logger.exception("recipient check failed for %s", address)
            return "451 4.3.0 Temporary failure checking the recipient; try again later"
        if refusal is not None:
            return refusal
        envelope.rcpt_tos.append(address)  # aiosmtpd leaves this to a handler that has handle_RCPT
        return "250 2.1.5 Recipient OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):  # only with decode_data=True, which the receiver never sets
            raw = raw.encode("utf-8", "surrogateescape")
        mail_from = envelope.mail_from if envelope.mail_from not in (None, "") else None
        # Shielded: if the session times out or drops now, the commit still completes. The client saw no
        # 250 and will send again; the pipeline recognises the second copy by its content.
        stored = asyncio.ensure_future(self._accept(raw, mail_from, list(envelope.rcpt_tos)))
        try:
            await asyncio.shield(stored)
        except Exception:
            logger.exception("could not queue a message from %s", envelope.mail_from)
            return "451 4.3.0 Temporary failure storing the message; try again later"
        return "250 2.0.0 Message accepted"


class SMTPReceiver:
    """A listening SMTP server on the running loop, with its open sessions, so it can shut down promptly."""

    def __init__(
        self, check_recipient: CheckRecipient, accept: Accept, *, hostname: str, data_size_limit: int
    ) -> None:
        self._handler = InboxHandler(check_recipient, accept)
        self._hostname = hostname
        self._data_size_limit = data_size_limit
        self._server: asyncio.Server | None = None
        self._sessions: set[SMTP] = set()

    def _protocol(self) -> SMTP:
        protocol = SMTP(
            self._handler,
            hostname=self._hostname,  # never socket.getfqdn(), which can block the loop
            enable_SMTPUTF8=True,
            decode_data=False,
            data_size_limit=self._data_size_limit,
            timeout=IDLE_TIMEOUT,
            command_call_limit=COMMAND_LIMITS,
        )
        self._sessions.add(protocol)
        original = protocol.connection_lost

        @functools.wraps(original)
        def connection_lost(error: Exception | None) -> Any:
            self._sessions.discard(protocol)
            return original(error)

        protocol.connection_lost = connection_lost  # type: ignore[method-assign]
        return protocol

    async def start(self, host: str, port: int) -> tuple[str, int]:
        """Listen on ``host:port`` (port 0 picks a free one) and return the address actually bound."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._protocol, host, port)
        bound = self._server.sockets[0].getsockname()
        return bound[0], bound[1]

    async def stop(self) -> None:
        """Stop listening and close open sessions (their unacknowledged messages are the clients' to resend)."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        for session in list(self._sessions):
            if session.transport is not None:
                session.transport.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(server.wait_closed(), timeout=5)
