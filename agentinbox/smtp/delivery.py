"""Outbound SMTP: one transaction with one server, and what it answered for each recipient.

``transmit`` never raises for anything the network or the peer does: a refused connection, a timeout or a
reply code all become an :class:`Outcome` per recipient, which the delivery worker turns into ``delivered``,
a retry, or a bounce. Routes come from the relay URL (``smtp://`` with STARTTLS when offered, ``smtps://``
with implicit TLS) or from the recipient domain's MX hosts (see :mod:`agentinbox.smtp.mx`).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib

from .tls import client_context

__all__ = ["Envelope", "Outcome", "Route", "parse_relay_url", "transmit"]

logger = logging.getLogger("agentinbox.delivery")

#: ``implicit``: TLS from the first byte; ``required``: STARTTLS or fail; ``opportunistic``: STARTTLS when
#: the server offers it; ``none``: never.
TLSMode = Literal["implicit", "required", "opportunistic", "none"]


@dataclass(frozen=True, slots=True)
class Route:
    """Where and how to hand a message over: a host, a port, TLS and optional credentials."""

    host: str
    port: int
    tls: TLSMode = "opportunistic"
    verify: bool = True
    username: str | None = None
    password: str | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one recipient: the reply code (None when no reply came) and its text.

    ``refused_message`` marks a reply to the message itself (to MAIL FROM or to the data) rather than to
    this recipient's RCPT TO: the server turned the whole message away, not the address.
    """

    code: int | None
    message: str
    refused_message: bool = False

    @property
    def delivered(self) -> bool:
        return self.code is not None and 200 <= self.code < 300

    @property
    def permanent(self) -> bool:
        """A 5xx reply: trying again will not help."""
        return self.code is not None and self.code >= 500

    @property
    def rejected(self) -> bool:
        """A 5xx reply to the message itself (e.g. ``554 5.7.1 message content rejected``)."""
        return self.refused_message and self.permanent

    def __str__(self) -> str:
        return f"{self.code} {self.message}" if self.code is not None else self.message


_SCHEMES = {"smtp": 25, "smtps": 465, "submission": 587}


def parse_relay_url(url: str) -> Route:
    """``smtp://[user:pass@]host[:port][?tls=required|opportunistic|none&verify=false]`` or ``smtps://…``.

    Raises ValueError naming what is wrong.
    """
    parts = urlsplit(url.strip())
    if parts.scheme not in _SCHEMES:
        raise ValueError(f"relay_url must start with smtp://, smtps:// or submission://, got {url!r}")
    if not parts.hostname:
        raise ValueError(f"relay_url has no host: {url!r}")
    try:
        port = parts.port or _SCHEMES[parts.scheme]
    except ValueError as exc:
        raise ValueError(f"relay_url has a bad port: {url!r}") from exc
    query = {key: values[-1].lower() for key, values in parse_qs(parts.query).items()}
    unknown = set(query) - {"tls", "verify"}
    if unknown:
        raise ValueError(f"relay_url has unknown options {sorted(unknown)}; known: tls, verify")
    tls: TLSMode
    if parts.scheme == "smtps":
        tls = "implicit"
    else:
        wanted = query.get("tls", "required" if parts.scheme == "submission" else "opportunistic")
        if wanted not in ("required", "opportunistic", "none"):
            raise ValueError(f"relay_url option tls must be required, opportunistic or none, not {wanted!r}")
        tls = wanted  # type: ignore[assignment]
    verify = query.get("verify", "true")
    if verify not in ("true", "false", "1", "0", "yes", "no"):
        raise ValueError(f"relay_url option verify must be true or false, not {verify!r}")
    return Route(
        host=parts.hostname,
        port=port,
        tls=tls,
        verify=verify in ("true", "1", "yes"),
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )


def _reply(
    response: aiosmtplib.SMTPResponse | aiosmtplib.SMTPResponseException, *, refused_message: bool = False
) -> Outcome:
    return Outcome(response.code, " ".join(response.message.split()), refused_message=refused_message)


@dataclass(frozen=True, slots=True)
class Envelope:
    """One message to hand over: envelope sender, recipients and the raw bytes."""

    mail_from: str
    recipients: Sequence[str]
    raw: bytes


_NETWORK_ERRORS = (TimeoutError, aiosmtplib.SMTPException, OSError, ssl.SSLError)


async def transmit(
    route: Route,
    envelopes: Sequence[Envelope],
    *,
    local_hostname: str,
    step_timeout: float,
    server_name: str | None = None,
) -> list[dict[str, Outcome]]:
    """Hand ``envelopes`` over one connection, one SMTP transaction each, and return for each envelope the
    outcome of every recipient.

    Reusing the connection saves a TCP (and TLS) handshake, EHLO and QUIT per message, as MTAs do.
    ``step_timeout`` bounds each step (connect, each command, the data). ``server_name`` is the host name
    the route's address stands for (an MX name when ``host`` is its IP); it names the peer in the outcomes.
    """
    peer = server_name or route.host
    tls_context: ssl.SSLContext | None = None
    if route.tls != "none":
        tls_context = client_context(verify=route.verify)
    smtp = aiosmtplib.SMTP(
        hostname=route.host,
        port=route.port,
        local_hostname=local_hostname,
        timeout=step_timeout,
        use_tls=route.tls == "implicit",
        start_tls=False,
        tls_context=tls_context,
        validate_certs=route.verify,
    )
    results: list[dict[str, Outcome]] = []

    def the_rest(outcome: Outcome) -> list[dict[str, Outcome]]:
        return results + [dict.fromkeys(e.recipients, outcome) for e in envelopes[len(results) :]]

    try:
        try:
            await smtp.connect()
        except aiosmtplib.SMTPConnectResponseError as exc:
            return the_rest(_reply(exc))
        except _NETWORK_ERRORS as exc:
            return the_rest(Outcome(None, f"cannot connect to {peer}:{route.port}: {exc}"))
        try:
            refusal = await _session(smtp, route, peer)
        except aiosmtplib.SMTPResponseException as exc:  # STARTTLS or AUTH refused
            return the_rest(_reply(exc))
        if refusal is not None:
            return the_rest(refusal)
        for envelope in envelopes:
            outcomes: dict[str, Outcome] = {}
            try:
                await _transaction(smtp, peer, envelope, outcomes)
            except aiosmtplib.SMTPResponseException as exc:
                if exc.code == 421:  # the server is closing the connection
                    raise
                # MAIL or DATA refused: this message is done, the connection goes on.
                outcome = _reply(exc, refused_message=True)
                results.append({r: outcomes.get(r, outcome) for r in envelope.recipients})
                await smtp.rset()
            else:
                results.append(outcomes)
        return results
    except aiosmtplib.SMTPResponseException as exc:
        return the_rest(_reply(exc))
    except _NETWORK_ERRORS as exc:
        return the_rest(Outcome(None, f"connection to {peer} failed: {type(exc).__name__}: {exc}"))
    finally:
        if smtp.is_connected:
            try:
                await asyncio.wait_for(smtp.quit(), timeout=min(step_timeout, 10))
            except _NETWORK_ERRORS:
                smtp.close()


async def _session(smtp: aiosmtplib.SMTP, route: Route, peer: str) -> Outcome | None:
    """EHLO, STARTTLS and AUTH as the route asks; an Outcome when the session cannot go on."""
    await smtp.ehlo()
    if route.tls in ("required", "opportunistic"):
        if smtp.supports_extension("starttls"):
            await smtp.starttls()
        elif route.tls == "required":
            return Outcome(None, f"{peer} does not offer STARTTLS, which the relay settings require")
    if route.username is not None:
        await smtp.login(route.username, route.password or "")
    return None


async def _transaction(
    smtp: aiosmtplib.SMTP, peer: str, envelope: Envelope, outcomes: dict[str, Outcome]
) -> None:
    mail_from, recipients, raw = envelope.mail_from, envelope.recipients, envelope.raw
    ascii_addresses = mail_from.isascii() and all(r.isascii() for r in recipients)
    options = []
    if smtp.supports_extension("size"):
        options.append(f"SIZE={len(raw)}")
    if not raw.isascii() and smtp.supports_extension("8bitmime"):
        options.append("BODY=8BITMIME")
    if not ascii_addresses:
        if not smtp.supports_extension("smtputf8"):
            refusal = Outcome(
                553, f"{peer} does not support SMTPUTF8, needed for an internationalized address"
            )
            outcomes.update(dict.fromkeys(recipients, refusal))
            return
        options.append("SMTPUTF8")
    encoding = "ascii" if ascii_addresses else "utf-8"
    await smtp.mail(mail_from, options=options, encoding=encoding)
    accepted = []
    for recipient in recipients:
        try:
            await smtp.rcpt(recipient, encoding=encoding)
        except aiosmtplib.SMTPRecipientRefused as exc:
            if exc.code == 421:
                raise
            outcomes[recipient] = _reply(exc)
        else:
            accepted.append(recipient)
    if not accepted:
        await smtp.rset()
        return
    response = await smtp.data(raw)
    for recipient in accepted:
        outcomes[recipient] = _reply(response)
