"""The SMTP receiver: accepts mail for our inboxes and makes it durable before answering 250.

It runs ``protocol.SMTPProtocol`` (aiosmtpd with chunked DATA and limits; STARTTLS when given a TLS context)
on the engine's own event loop and knows nothing of storage: the pipeline hands it two functions.
``check_recipient`` decides each RCPT (an unknown local address gets 550 5.1.1, another domain a relay
refusal: this is never an open relay). ``accept`` makes a message durable at the end of DATA; only when it
returns does the client get 250, and if it fails the client gets 451 and tries again.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from aiosmtpd.smtp import SMTP, Envelope, Session

from .protocol import SMTPListener

__all__ = ["InboxHandler", "ReceiverLimits", "SMTPReceiver", "parse_listen"]

logger = logging.getLogger("agentinbox.smtp")

MAX_RECIPIENTS = 100
# Per-session command budgets (aiosmtpd counts calls per command; "*" is every other command). Generous
# for mail commands, so one connection can carry thousands of messages, tight for the rest.
COMMAND_LIMITS = {"*": 30, "MAIL": 100_000, "RCPT": 1_000_000, "DATA": 100_000, "RSET": 100_000, "NOOP": 100}


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


@dataclass(frozen=True, kw_only=True)
class ReceiverLimits:
    """What one client may take of the receiver (the settings ``smtp_*`` fill it)."""

    #: Open connections at once; one more is answered 421 4.7.0 and closed.
    max_connections: int = 100
    #: Recipients per message; more get 452 4.5.3 (RFC 5321 §4.5.3.1.10 asks for at least 100).
    max_recipients: int = MAX_RECIPIENTS
    #: Seconds a session may wait between commands, and between chunks of DATA (RFC 5321 §4.5.3.2).
    idle_timeout: float = 300
    #: Seconds a whole DATA transfer may take.
    data_timeout: float = 600


class SMTPReceiver:
    """A listening SMTP server on the running loop that accepts mail for our inboxes."""

    def __init__(
        self,
        check_recipient: CheckRecipient,
        accept: Accept,
        *,
        hostname: str,
        data_size_limit: int,
        limits: ReceiverLimits | None = None,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        limits = limits or ReceiverLimits()
        self._listener = SMTPListener(
            InboxHandler(check_recipient, accept, max_recipients=limits.max_recipients),
            max_connections=limits.max_connections,
            hostname=hostname,  # never socket.getfqdn(), which can block the loop
            enable_SMTPUTF8=True,
            decode_data=False,
            data_size_limit=data_size_limit,
            timeout=limits.idle_timeout,
            data_timeout=limits.data_timeout,
            command_call_limit=COMMAND_LIMITS,
            tls_context=tls_context,
        )

    async def start(self, host: str, port: int) -> tuple[str, int]:
        """Listen on ``host:port`` (port 0 picks a free one) and return the address actually bound."""
        return await self._listener.start(host, port)

    async def stop(self) -> None:
        """Stop listening and close open sessions (their unacknowledged messages are the clients' to resend)."""
        await self._listener.stop()
