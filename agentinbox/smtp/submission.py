"""The SMTP submission server (RFC 6409): mail from authenticated users, to be sent as one of our inboxes.

It runs ``protocol.SMTPProtocol`` (aiosmtpd with chunked DATA and limits) on the engine's own event loop
and, like the receiver, knows nothing of storage: a ``SubmissionPolicy`` decides credentials, senders and recipients, and stores what is submitted.
What this module does itself is the protocol: AUTH PLAIN and LOGIN (RFC 4954), offered only over TLS or on
a loopback connection (elsewhere AUTH gets 538 and mail commands 530), STARTTLS when there is a
certificate, and the receiver's limits (``ReceiverLimits``). Only when the policy has stored a message does the
client get 250; if storing fails it gets 451 and tries again.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from typing import Any, Protocol, Unpack

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from .hooks import add_recipient, ask, message_bytes, store_shielded
from .protocol import ListenerOptions, SMTPListener, SMTPProtocol

__all__ = ["SMTPSubmission", "SubmissionHandler", "SubmissionPolicy", "SubmissionProtocol"]

logger = logging.getLogger("agentinbox.smtp.submission")

# As the receiver's budgets, plus few AUTH attempts per connection: a guesser must reconnect (RFC 4954 §4
# lets a server close the connection after failed attempts).
COMMAND_LIMITS = {
    "*": 30,
    "AUTH": 3,
    "MAIL": 10_000,
    "RCPT": 100_000,
    "DATA": 10_000,
    "RSET": 10_000,
    "NOOP": 100,
}
TEMPORARY_AUTH_FAILURE = "454 4.7.0 Temporary authentication failure; try again later"


class SubmissionPolicy(Protocol):
    """What the submission server asks of the engine. ``identity`` is whatever ``authenticate`` returned."""

    async def authenticate(self, username: str, password: str) -> object | None:
        """The identity these credentials prove, or None when they are wrong."""

    async def check_sender(self, identity: Any, address: str) -> str | None:
        """None if the identity may use ``address`` as envelope sender, else the SMTP refusal."""

    async def check_recipient(self, identity: Any, address: str) -> str | None:
        """None to accept the recipient, else the SMTP refusal."""

    async def submit(
        self, identity: Any, raw: bytes, mail_from: str, rcpt_to: list[str], *, smtputf8: bool
    ) -> str:
        """Check and store a submitted message; returns the SMTP reply (250 only once it is stored)."""


def _is_loopback(peer: object) -> bool:
    """Whether the peer address (a socket name tuple) is on this machine's loopback."""
    if not isinstance(peer, tuple) or not peer or not isinstance(peer[0], str):
        return False
    try:
        address = ipaddress.ip_address(peer[0].split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


class _Session(Session):
    """aiosmtpd's session without the deprecated ``login_data`` property, which logs a warning each time
    aiosmtpd itself sets it after a successful AUTH."""

    login_data: Any = None


class SubmissionProtocol(SMTPProtocol):
    """The shared SMTP protocol with AUTH required, checked asynchronously by the policy, and allowed only over TLS
    or from loopback."""

    def __init__(self, handler: SubmissionHandler, **kwargs: Any) -> None:
        # AUTH required and, until the peer is known, TLS required for it (aiosmtpd then answers 530 to
        # mail commands before AUTH, and 538 to AUTH without TLS: RFC 4954 §4 and §6).
        super().__init__(handler, auth_required=True, auth_require_tls=True, **kwargs)
        self._policy = handler.policy

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        # A loopback peer (a local program or a proxy in front of us) may authenticate without TLS.
        assert self.session is not None
        self._auth_require_tls = not _is_loopback(self.session.peer)

    def _create_session(self) -> Session:
        return _Session(self.loop)

    def _authenticate(self, mechanism: str, auth_data: Any) -> AuthResult:
        # aiosmtpd checks credentials synchronously; hand them back so that _verify can await the policy.
        return AuthResult(success=False, handled=False, auth_data=auth_data)

    async def auth_PLAIN(self, _: Any, args: list[str]) -> AuthResult:
        return await self._verify(await super().auth_PLAIN(_, args))

    async def auth_LOGIN(self, _: Any, args: list[str]) -> AuthResult:
        return await self._verify(await super().auth_LOGIN(_, args))

    async def _verify(self, result: AuthResult) -> AuthResult:
        """Ask the policy about decoded credentials; anything else (a syntax error reply) passes through."""
        credentials = result.auth_data
        if not isinstance(credentials, LoginPassword):
            return result
        try:
            username = credentials.login.decode("utf-8")
            password = credentials.password.decode("utf-8")
        except UnicodeDecodeError:
            return AuthResult(success=False, handled=False)  # 535 5.7.8
        try:
            identity = await self._policy.authenticate(username, password)
        except Exception:
            logger.exception("checking submission credentials failed")
            return AuthResult(success=False, message=TEMPORARY_AUTH_FAILURE)
        if identity is None:
            return AuthResult(success=False, handled=False)  # 535 5.7.8
        return AuthResult(success=True, auth_data=identity)


class SubmissionHandler:
    """aiosmtpd hooks: the authenticated identity's sender and recipients, and storing at end of DATA."""

    def __init__(self, policy: SubmissionPolicy, *, max_recipients: int) -> None:
        self.policy = policy
        self._max_recipients = max_recipients

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, mail_options: list[str]
    ) -> str:
        check = self.policy.check_sender(session.auth_data, address)
        refusal = await ask(check, what="sender", address=address)
        if refusal is not None:
            return refusal
        envelope.mail_from = address  # aiosmtpd leaves this to a handler that has handle_MAIL
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 Sender OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        return await add_recipient(
            envelope,
            address,
            lambda: self.policy.check_recipient(session.auth_data, address),
            max_recipients=self._max_recipients,
        )

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        # A client resending after a lost 250 is recognised by the Message-ID.
        submitted = self.policy.submit(
            session.auth_data,
            message_bytes(envelope),
            envelope.mail_from or "",
            list(envelope.rcpt_tos),
            smtputf8=bool(envelope.smtp_utf8),
        )
        return await store_shielded(submitted, sender=envelope.mail_from)


class SMTPSubmission(SMTPListener):
    """A listening submission server on the running loop: the shared ``SMTPListener`` serving
    ``SubmissionProtocol``, which refuses connections over the limit and closes every session on stop."""

    def __init__(self, policy: SubmissionPolicy, **options: Unpack[ListenerOptions]) -> None:
        handler = SubmissionHandler(policy, max_recipients=options["limits"].max_recipients)
        super().__init__(handler, command_limits=COMMAND_LIMITS, protocol_class=SubmissionProtocol, **options)
