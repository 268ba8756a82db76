"""Parse raw RFC 5322 messages into the fields agentinbox stores: ids, addresses, subject, bodies, files.

:func:`parse_message` is on the ingest hot path and must never raise, whatever the bytes. No I/O.
"""

from __future__ import annotations

import email
import email.parser
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.generator import BytesGenerator
from email.message import Message
from email.policy import compat32
from email.utils import parsedate_to_datetime
from io import BytesIO

from agentinbox.mail.addresses import decode_header_value, decode_legacy, parse_address_list

__all__ = ["ParsedAttachment", "ParsedMessage", "decode_header_value", "parse_message"]

_MSG_ID = re.compile(r"<([^<>]*)>")
_WHITESPACE = re.compile(r"\s+")
_UNSAFE_FILENAME = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]+')
# Charsets that promise 7-bit text; 8-bit bytes under them are really some other charset.
_ASCII_CHARSETS = frozenset({"us-ascii", "ascii", "ansi_x3.4-1968", "iso646-us", "646"})


@dataclass(slots=True)
class ParsedAttachment:
    """One non-body part of a received message, with its payload decoded."""

    filename: str | None
    content_type: str
    content_disposition: str | None  # "inline", "attachment" or None
    content_id: str | None  # without the angle brackets
    content: bytes


@dataclass(slots=True)
class ParsedMessage:
    """The fields of a received message; ids keep their angle brackets, addresses are formatted strings."""

    message_id: str | None = None
    in_reply_to: str | None = None
    references: list[str] = field(default_factory=list)
    subject: str | None = None
    from_: str | None = None
    reply_to: list[str] = field(default_factory=list)
    to: list[str] = field(default_factory=list)
    cc: list[str] = field(default_factory=list)
    bcc: list[str] = field(default_factory=list)
    date: datetime | None = None
    #: Every header, decoded and unfolded, under its name as first written. For a repeated header only
    #: the first occurrence is kept (for Received, the newest hop).
    headers: dict[str, str] = field(default_factory=dict)
    text: str | None = None
    html: str | None = None
    attachments: list[ParsedAttachment] = field(default_factory=list)
    #: Class names of the email.errors defects found anywhere in the message, first seen first. If the
    #: email package itself failed, the name of that exception is added too.
    defects: list[str] = field(default_factory=list)
    size: int = 0


def parse_message(raw: bytes) -> ParsedMessage:
    """Parse raw message bytes. Never raises: broken input gives a partial result and recorded defects."""
    try:
        raw = bytes(raw)
        return _parse(raw, email.message_from_bytes(raw, policy=compat32))
    except Exception as exc:  # the email package has failure modes no one has listed; ingest must go on
        return _parse_headers_only(raw, type(exc).__name__)


def _parse_headers_only(raw: bytes, error: str) -> ParsedMessage:
    """Salvage what the headers say when parsing the whole message failed."""
    try:
        msg = email.parser.BytesParser(policy=compat32).parsebytes(raw, headersonly=True)
        parsed = _parse_headers(msg)
    except Exception:
        parsed = ParsedMessage()
    parsed.defects.append(error)
    try:
        parsed.size = len(raw)
    except Exception:
        parsed.size = 0
    return parsed


def _parse(raw: bytes, msg: Message) -> ParsedMessage:
    parsed = _parse_headers(msg)
    parsed.size = len(raw)
    _parse_body(msg, parsed, raw)
    return parsed


# -- headers ------------------------------------------------------------------------------------------


def _parse_headers(msg: Message) -> ParsedMessage:
    # raw_items(), not items(): compat32 hands 8-bit values back as Header objects, we want the strings.
    raw: dict[str, str] = {}  # by lower-cased name: the first value as written
    decoded: dict[str, str] = {}
    headers: dict[str, str] = {}
    for name, value in msg.raw_items():
        key = name.lower()
        if key in raw or not isinstance(value, str):
            continue
        raw[key] = value
        decoded[key] = headers[name] = decode_header_value(value)

    subject = decoded.get("subject")
    return ParsedMessage(
        message_id=_first_msg_id(raw.get("message-id"), bare_ok=True),
        in_reply_to=_first_msg_id(raw.get("in-reply-to")),
        references=_msg_ids(raw.get("references")),
        subject=None if subject is None else subject.strip(),
        from_=_format_from(raw.get("from")),
        reply_to=_format_list(raw.get("reply-to")),
        to=_format_list(raw.get("to")),
        cc=_format_list(raw.get("cc")),
        bcc=_format_list(raw.get("bcc")),
        date=_parse_date(decoded.get("date")),
        headers=headers,
    )


def _msg_ids(value: str | None, *, bare_ok: bool = False) -> list[str]:
    """All msg-ids of an id header (RFC 5322 §3.6.4) in order, de-duplicated, with angle brackets.

    Garbage between ids is ignored. Ids written without brackets count only if they contain "@" (or, for
    Message-ID, if the value is one bare token), so the prose some mailers put in In-Reply-To is skipped.
    """
    if not value:
        return []
    ids: list[str] = []
    for inner in _MSG_ID.findall(value):
        inner = _WHITESPACE.sub("", inner)
        if inner:
            ids.append(f"<{inner}>")
    if not ids and "<" not in value and ">" not in value:
        tokens = value.split()
        if bare_ok and len(tokens) == 1:
            ids = [f"<{tokens[0]}>"]
        else:
            ids = [f"<{token.strip(',;')}>" for token in tokens if "@" in token]
    if not value.isascii() or "\x00" in value:
        ids = [decode_header_value(i) for i in ids]
    return list(dict.fromkeys(ids))


def _first_msg_id(value: str | None, *, bare_ok: bool = False) -> str | None:
    ids = _msg_ids(value, bare_ok=bare_ok)
    return ids[0] if ids else None


def _format_list(value: str | None) -> list[str]:
    return [str(address) for address in parse_address_list(value)]


def _format_from(value: str | None) -> str | None:
    if value is None:
        return None
    addresses = parse_address_list(value)
    if addresses:
        return str(addresses[0])
    # Not an address ("MAILER-DAEMON", an archive's "user at domain"): keep what the sender wrote.
    text = decode_header_value(value).strip()
    return text or None


def _parse_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        date = parsedate_to_datetime(value)
    except Exception:  # ValueError, TypeError, OverflowError, IndexError for the many broken Date styles
        return None
    if date.tzinfo is None:  # RFC 5322 §3.3 "-0000": time in UTC, source zone unknown
        return date.replace(tzinfo=UTC)
    try:
        return date.astimezone(UTC)
    except (OverflowError, ValueError):
        return None


# -- body and attachments -----------------------------------------------------------------------------


def _parse_body(msg: Message, parsed: ParsedMessage, raw: bytes) -> None:
    """Pick the text and html bodies, collect every other leaf as an attachment, gather defects.

    Walks the MIME tree iteratively (messages nest thousands of parts deep in the wild).
    """
    defects: dict[str, None] = {}
    stack: list[Message] = [msg]
    while stack:
        part = stack.pop()
        try:
            content_type = part.get_content_type()
            # is_multipart() first: get_payload() on a text leaf would decode 8-bit bodies for nothing.
            if part.is_multipart():
                children = [child for child in part.get_payload() if isinstance(child, Message)]
                if content_type.startswith("message/"):
                    linesep = "\r\n" if b"\r\n" in raw else "\n"
                    parsed.attachments.append(_message_attachment(part, content_type, children, linesep))
                    _collect_enclosed_defects(children, defects)
                else:
                    stack.extend(reversed(children))
            else:
                _leaf(part, content_type, parsed)
        except Exception as exc:  # one broken part must not cost the rest of the message
            defects[type(exc).__name__] = None
        for defect in part.defects:
            defects[type(defect).__name__] = None
    parsed.defects = list(defects)


def _leaf(part: Message, content_type: str, parsed: ParsedMessage) -> None:
    disposition = part.get_content_disposition()
    filename = _filename(part)
    if disposition != "attachment" and filename is None:
        # A multipart whose boundary never appears arrives as one opaque leaf: show it as text.
        body_type = "text/plain" if content_type.startswith("multipart/") else content_type
        if body_type == "text/plain" and parsed.text is None:
            parsed.text = _decode_text(part)
            return
        if body_type == "text/html" and parsed.html is None:
            parsed.html = _decode_text(part)
            return
    parsed.attachments.append(
        ParsedAttachment(
            filename=filename,
            content_type=content_type,
            content_disposition=disposition if disposition in ("inline", "attachment") else None,
            content_id=_content_id(part),
            content=_payload_bytes(part),
        )
    )


def _filename(part: Message) -> str | None:
    """The filename parameter (RFC 2231 or RFC 2047 encoded, or raw 8-bit), decoded; None if absent."""
    try:
        filename = part.get_filename()
    except Exception:  # collapse_rfc2231_value: ValueError on a charset with NUL, and the like
        return None
    return decode_header_value(filename) if isinstance(filename, str) else None


def _raw_header(part: Message, name: str) -> str | None:
    """A header's first value as written; Message.get() would wrap 8-bit values in Header objects."""
    for key, value in part.raw_items():
        if key.lower() == name:
            return value
    return None


def _content_id(part: Message) -> str | None:
    value = _raw_header(part, "content-id")
    return (decode_header_value(value).strip().strip("<>").strip() or None) if value is not None else None


def _payload_bytes(part: Message) -> bytes:
    try:
        data = part.get_payload(decode=True)
    except Exception:
        data = None
    if isinstance(data, bytes):
        return data
    payload = part.get_payload()
    return payload.encode("ascii", "surrogateescape") if isinstance(payload, str) else b""


def _decode_text(part: Message) -> str:
    """Decode a text part with its declared charset; unknown or lying ones fall back to :func:`decode_legacy`.

    Line endings become "\\n"; NUL characters become U+FFFD, since no store can hold them.
    """
    data = _payload_bytes(part)
    try:
        charset = part.get_content_charset()
    except Exception:
        charset = None
    text: str | None = None
    if charset and not (charset in _ASCII_CHARSETS and not data.isascii()):
        try:
            text = data.decode(charset, "replace")
        except Exception:  # unknown charset, or a codec such as idna that ignores errors="replace"
            text = None
    if text is None:
        text = decode_legacy(data)
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates (utf-7, utf-16 oddities) cannot be stored
            text = text.encode("utf-8", "replace").decode("utf-8")
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    return text.replace("\r\n", "\n")


def _message_attachment(
    part: Message, content_type: str, payload: list[Message], linesep: str
) -> ParsedAttachment:
    """An enclosed message (message/rfc822 and other message/* types) as one attachment."""
    content = linesep.encode().join(_flatten(m, linesep) for m in payload)
    filename = _filename(part)
    if filename is None and content_type in ("message/rfc822", "message/global") and payload:
        subject = _raw_header(payload[0], "subject")
        subject = decode_header_value(subject) if subject is not None else None
        stem = _UNSAFE_FILENAME.sub("_", subject or "").strip(" ._")[:200]
        filename = f"{stem or 'message'}.eml"
    disposition = part.get_content_disposition()
    return ParsedAttachment(
        filename=filename,
        content_type=content_type,
        content_disposition=disposition if disposition in ("inline", "attachment") else None,
        content_id=_content_id(part),
        content=content,
    )


def _flatten(msg: Message, linesep: str) -> bytes:
    """Serialise an enclosed message as parsed: headers as written (no refolding), 8-bit bytes kept."""
    buffer = BytesIO()
    try:
        policy = compat32.clone(linesep=linesep, max_line_length=None)
        BytesGenerator(buffer, mangle_from_=False, policy=policy).flatten(msg)
    except Exception:
        return b""
    return buffer.getvalue()


def _collect_enclosed_defects(payload: list[Message], defects: dict[str, None]) -> None:
    stack = list(payload)
    while stack:
        part = stack.pop()
        for defect in part.defects:
            defects[type(defect).__name__] = None
        if part.is_multipart():
            stack.extend(m for m in part.get_payload() if isinstance(m, Message))
