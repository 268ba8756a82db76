"""The SMTP receiver: accepts mail for our inboxes and makes it durable before answering 250.

It runs ``protocol.SMTPProtocol`` (aiosmtpd with chunked DATA and limits; STARTTLS when given a TLS context)
on the engine's own event loop and knows nothing of storage: the pipeline hands it two functions.
``check_recipient`` decides each RCPT (an unknown local address gets 550 5.1.1, another domain a relay
refusal: this is never an open relay). ``accept`` makes a message durable at the end of DATA; only when it
returns does the client get 250, and if it fails the client gets 451 and tries again.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable, Sequence
from typing import NamedTuple, Unpack

from aiosmtpd.smtp import SMTP, Envelope, Session

from .hooks import add_recipient, message_bytes, store_shielded
from .protocol import MAX_RECIPIENTS, ListenerOptions, ReceiverLimits, SMTPListener

__all__ = ["Client", "InboxHandler", "ReceiverLimits", "SMTPReceiver", "parse_listen"]

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
#: Makes one message durable: raw bytes, envelope sender, envelope recipients, and the client that
#: handed it over (its IP address and HELO name), as ``client``.
Accept = Callable[[bytes, str | None, Sequence[str], "Client"], Awaitable[None]]


class Client(NamedTuple):
    """The SMTP client a message came from: its address and the name it gave in HELO/EHLO."""

    ip: str | None
    helo: str | None


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
        return await add_recipient(
            envelope, address, lambda: self._check_recipient(address), max_recipients=self._max_recipients
        )

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        mail_from = envelope.mail_from if envelope.mail_from not in (None, "") else None
        # The pipeline recognises a second copy (sent again after a lost 250) by its content.
        client = Client(_peer_ip(session.peer), session.host_name or None)
        accepted = self._accepted(message_bytes(envelope), mail_from, list(envelope.rcpt_tos), client)
        return await store_shielded(accepted, sender=envelope.mail_from)

    async def _accepted(self, raw: bytes, mail_from: str | None, rcpt_to: list[str], client: Client) -> str:
        await self._accept(raw, mail_from, rcpt_to, client)
        return "250 2.0.0 Message accepted"


def _peer_ip(peer: object) -> str | None:
    """The IP address of an aiosmtpd session's peer (a (host, port, ...) tuple for TCP), without an IPv6
    zone and with an IPv4-mapped IPv6 address given as IPv4."""
    if not isinstance(peer, tuple) or not peer or not isinstance(peer[0], str):
        return None
    try:
        address = ipaddress.ip_address(peer[0].partition("%")[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


class SMTPReceiver(SMTPListener):
    """A listening SMTP server on the running loop that accepts mail for our inboxes (``start`` and
    ``stop`` are the shared listener's)."""

    def __init__(
        self, check_recipient: CheckRecipient, accept: Accept, **options: Unpack[ListenerOptions]
    ) -> None:
        handler = InboxHandler(check_recipient, accept, max_recipients=options["limits"].max_recipients)
        super().__init__(handler, command_limits=COMMAND_LIMITS, **options)
