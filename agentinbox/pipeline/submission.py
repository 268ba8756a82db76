"""SMTP submission policy: who may send as which inbox, and how submitted mail becomes a sent message.

A user (or a program) authenticates with an inbox address and a password: the settings ``api_key``
(organization-wide) or an API key whose scope covers that inbox and that may send. The envelope sender and
the From header must both be that inbox. The submitted bytes are screened (no header injection, one From,
no Bcc header left in what is stored and delivered, Message-ID and Date added when missing) and then stored
through the outbound pipeline: ``sent``, threaded, with local recipients served in-process and remote ones
queued for delivery, all in the one transaction that commits before the client gets 250.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Sequence
from dataclasses import dataclass
from email.utils import format_datetime

from sqlalchemy import Connection

from .._clock import to_datetime
from ..errors import AgentInboxError, MessageRejectedError, NotFoundError, RateLimitError, ValidationError
from ..mail.addresses import address_key, parse_address_list, validate_address
from ..mail.compose import make_message_id
from ..mail.parse import parse_message
from ..smtp.submission import SMTPSubmission
from ..store import api_keys, inboxes, messages
from .context import Context
from .listening import listen_address, listener_options
from .outbound import record_sent

__all__ = ["Refusal", "Screened", "Sender", "Submission", "screen"]

_FIELD_NAME = re.compile(rb"[!-9;-~]+")  # RFC 5322 §3.6.8: printable US-ASCII except ":"
# A Message-ID we can keep as the message's id: <left@right>, printable, without characters that break
# API paths (AgentMail §1.5).
_MESSAGE_ID = re.compile(r"<[!-~]+@[!-~]+>")
_UNSAFE_IN_ID = re.compile(r"[<>%/?#]")
_MAX_MESSAGE_ID = 900
# RFC 5322 §3.6: fields that may occur at most once.
_SINGLE = frozenset(
    [b"from", b"sender", b"reply-to", b"to", b"cc", b"bcc", b"subject", b"date", b"message-id",
     b"in-reply-to", b"references"]
)  # fmt: skip


class Refusal(Exception):
    """A submitted message refused with the SMTP ``reply``; nothing of it is stored."""

    def __init__(self, reply: str) -> None:
        super().__init__(reply)
        self.reply = reply


@dataclass(frozen=True, slots=True)
class Sender:
    """An authenticated submission identity: the inbox it sends as, and the API key it proved (if any)."""

    inbox_id: str
    pod_id: str
    api_key_id: str | None


@dataclass(frozen=True, slots=True)
class Screened:
    """A submitted message ready to store: its final bytes and its Message-ID."""

    raw: bytes
    message_id: str


def _text(value: bytes) -> str:
    return value.decode("utf-8", "surrogateescape")


def _unfold(value: bytes) -> str:
    return re.sub(r"\r\n[ \t]", " ", _text(value)).strip()


def _is_inbox(value: bytes, inbox_id: str) -> bool:
    addresses = parse_address_list(_unfold(value))
    return len(addresses) == 1 and addresses[0].address.lower() == inbox_id


def screen(raw: bytes, *, inbox_id: str, smtputf8: bool, now: int) -> Screened:
    """Check a submitted message's header and return the bytes to store; raises Refusal with the reply.

    Refused: NUL anywhere; in the header, a bare CR or LF (header injection), 8-bit bytes without SMTPUTF8
    (RFC 6532), a malformed line, a repeated From (or another at-most-once field), a From or Sender that is
    not the inbox, a Message-ID that cannot serve as the message's id. Bcc fields are removed (RFC 5321
    §7.2); Message-ID and Date are added when missing (RFC 6409 §8).
    """
    if b"\x00" in raw:
        raise Refusal("554 5.6.0 The message contains a NUL character")
    end = raw.find(b"\r\n\r\n")
    if raw.startswith(b"\r\n"):
        head, body = b"", raw[2:]
    elif end < 0:
        head, body = raw.removesuffix(b"\r\n"), b""
    else:
        head, body = raw[:end], raw[end + 4 :]
    fields: list[tuple[bytes, bytes]] = []  # (lower-cased name, the field's lines with their CRLFs)
    for line in head.split(b"\r\n") if head else []:
        if b"\r" in line or b"\n" in line:
            raise Refusal("554 5.6.0 A header line holds a bare CR or LF; lines must end in CRLF")
        if not line.isascii():
            if not smtputf8:
                raise Refusal("554 5.6.7 8-bit characters in a header need MAIL FROM with SMTPUTF8")
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                raise Refusal("554 5.6.0 A header is not valid UTF-8") from None
        if line[:1] in (b" ", b"\t"):
            if not fields:
                raise Refusal("554 5.6.0 The header starts with a continuation line")
            name, lines = fields[-1]
            fields[-1] = (name, lines + line + b"\r\n")
            continue
        name, colon, _ = line.partition(b":")
        if not colon or not _FIELD_NAME.fullmatch(name):
            raise Refusal("554 5.6.0 Malformed header line (expected Name: value)")
        fields.append((name.lower(), line + b"\r\n"))

    seen: dict[bytes, bytes] = {}
    for name, lines in fields:
        if name in _SINGLE and name in seen:
            raise Refusal(f"554 5.6.0 The message has more than one {_text(name).title()} header")
        seen[name] = lines.partition(b":")[2]
    if b"from" not in seen or not _is_inbox(seen[b"from"], inbox_id):
        raise Refusal(f"550 5.7.1 The From header must be the authenticated inbox <{inbox_id}>")
    if b"sender" in seen and not _is_inbox(seen[b"sender"], inbox_id):
        raise Refusal(f"550 5.7.1 The Sender header must be the authenticated inbox <{inbox_id}>")

    added = b""
    if b"message-id" in seen:
        message_id = _unfold(seen[b"message-id"])
        inner = message_id[1:-1]
        if (
            len(message_id) > _MAX_MESSAGE_ID
            or not _MESSAGE_ID.fullmatch(message_id)
            or _UNSAFE_IN_ID.search(inner)
            or inner.count("@") != 1
        ):
            raise Refusal("554 5.6.0 The Message-ID header must be one <id@domain> without % / ? # or spaces")
    else:
        message_id = make_message_id(inbox_id.rpartition("@")[2])
        added += b"Message-ID: " + message_id.encode("ascii") + b"\r\n"
    if b"date" not in seen:
        added += b"Date: " + format_datetime(to_datetime(now)).encode("ascii") + b"\r\n"
    kept = b"".join(lines for name, lines in fields if name != b"bcc")
    return Screened(raw=kept + added + b"\r\n" + body, message_id=message_id)


class Submission:
    """The policy behind the submission server, and that server when ``submission_listen`` is set."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._server: SMTPSubmission | None = None
        #: The (host, port) the submission server listens on, once started.
        self.address: tuple[str, int] | None = None

    async def authenticate(self, username: str, password: str) -> Sender | None:
        """The inbox ``username`` if ``password`` is the settings api_key or a key that may send as it."""
        if not username or not password or len(username) > 320 or any(c in username for c in "\r\n\x00"):
            return None
        inbox_id = address_key(username)
        organization_key = self._ctx.settings.api_key
        now = self._ctx.clock.now()

        def run(conn: Connection) -> Sender | None:
            pod_id = inboxes.inbox_pods(conn, [inbox_id]).get(inbox_id)
            if pod_id is None:
                return None
            if organization_key and hmac.compare_digest(password.encode(), organization_key.encode()):
                return Sender(inbox_id=inbox_id, pod_id=pod_id, api_key_id=None)
            grant = api_keys.authenticate(conn, password, now=now)
            if grant is None or not grant.allows("message_send"):
                return None
            if not grant.covers(inbox_id=inbox_id, pod_id=pod_id):
                return None
            return Sender(inbox_id=inbox_id, pod_id=pod_id, api_key_id=grant.api_key_id)

        return await self._ctx.db.read(run)

    async def check_sender(self, sender: Sender, address: str) -> str | None:
        """The envelope sender must be the authenticated inbox."""
        if address_key(address) != sender.inbox_id:
            return f"553 5.7.1 <{address}>: sender address is not the authenticated inbox <{sender.inbox_id}>"
        return None

    async def check_recipient(self, sender: Sender, address: str) -> str | None:
        """Any well-formed address: local inboxes get their copy at once, remote ones are delivered. An
        address on one of our domains without an inbox is refused now, not bounced later."""
        try:
            validate_address(address, field="rcpt_to")
        except ValidationError:
            return f"553 5.1.3 <{address}>: not a valid recipient address"
        key = address_key(address)
        domain = key.rpartition("@")[2]

        def unknown_local(conn: Connection) -> bool:
            if key in inboxes.inbox_pods(conn, [key]):
                return False
            return domain == self._ctx.settings.default_domain or inboxes.hosts_domain(conn, domain)

        if await self._ctx.db.read(unknown_local):
            return f"550 5.1.1 <{key}>: no such inbox here"
        return None

    async def submit(
        self, sender: Sender, raw: bytes, mail_from: str, rcpt_to: list[str], *, smtputf8: bool
    ) -> str:
        """Screen and store a submitted message; the reply is 250 only once its transaction committed."""
        ctx = self._ctx
        now = ctx.clock.now()
        try:
            screened = screen(raw, inbox_id=sender.inbox_id, smtputf8=smtputf8, now=now)
        except Refusal as refusal:
            return refusal.reply
        parsed = parse_message(screened.raw)
        recipients = _recipients(rcpt_to)
        visible = {address_key(a) for a in (*parsed.to, *parsed.cc)}
        bcc = [r for r in recipients if r not in visible]

        def run(conn: Connection) -> str:
            if sender.api_key_id is not None and not api_keys.mark_used(conn, sender.api_key_id, now=now):
                raise Refusal("535 5.7.8 The API key this session authenticated with has been revoked")
            inbox = inboxes.get_inbox(conn, sender.inbox_id)
            if messages.find_message(conn, inbox.inbox_id, screened.message_id) is not None:
                # A client resending after a lost 250: the message is stored already, once.
                return f"250 2.0.0 Message {screened.message_id} already accepted"
            record_sent(
                conn,
                ctx,
                inbox,
                screened.raw,
                rfc_message_id=screened.message_id,
                recipients=recipients,
                to=parsed.to,
                cc=parsed.cc,
                bcc=bcc,
                reply_to=parsed.reply_to,
                in_reply_to=parsed.in_reply_to,
                references=parsed.references,
            )
            return f"250 2.0.0 Message {screened.message_id} accepted"

        try:
            reply = await ctx.db.write(run)
        except Refusal as refusal:
            return refusal.reply
        except RateLimitError as exc:  # temporary: the client's queue retries later
            return f"451 4.7.1 {_one_line(exc.message)}"
        except MessageRejectedError as exc:
            return f"552 5.3.4 {_one_line(exc.message)}"
        except NotFoundError:
            return f"550 5.1.0 The inbox <{sender.inbox_id}> no longer exists"
        except AgentInboxError as exc:
            return f"554 5.6.0 {_one_line(exc.message)}"
        ctx.wake_delivery()
        return reply

    async def start(self) -> None:
        """Listen on ``submission_listen`` (if set), with STARTTLS when a certificate is configured."""
        settings = self._ctx.settings
        if not settings.submission_listen or self._server is not None:
            return
        host, port = listen_address(settings.submission_listen, setting="submission_listen")
        options = listener_options(settings, hostname=settings.hostname or settings.default_domain)
        server = SMTPSubmission(self, **options)
        self.address = await server.start(host, port)
        self._server = server

    async def stop(self) -> None:
        """Stop listening and close open sessions."""
        server, self._server = self._server, None
        self.address = None
        if server is not None:
            await server.stop()


def _one_line(text: str) -> str:
    return " ".join(text.split())[:400]


def _recipients(values: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(address_key(v) for v in values))
