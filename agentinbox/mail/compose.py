"""Build outgoing messages: check caller attachments and headers, write MIME, derive replies and forwards.

Everything here is pure computation on strings and bytes; no I/O.
"""

from __future__ import annotations

import base64
import binascii
import html as html_lib
import mimetypes
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.generator import BytesGenerator
from email.header import Header
from email.message import MIMEPart
from email.utils import format_datetime
from io import BytesIO

from agentinbox.errors import ValidationError
from agentinbox.mail.addresses import Address, address_key, parse_address

__all__ = [
    "OutgoingAttachment",
    "attribution_line",
    "check_custom_headers",
    "check_header_value",
    "compose_message",
    "forward_body",
    "forward_subject",
    "make_message_id",
    "quote_html",
    "quote_text",
    "reply_body",
    "reply_recipients",
    "reply_subject",
    "resolve_attachment",
]

# CRLF line endings, non-ASCII names and subjects as RFC 2047 encoded-words, bodies in 7bit,
# quoted-printable or base64 (whichever fits): 7-bit safe for any relay, lines well under RFC 5322's 998.
# refold_source="none": the headers compose_message folds itself are written as given.
_POLICY = policy.SMTP.clone(cte_type="7bit", refold_source="none")
# Only when an address itself is non-ASCII: then the message needs SMTPUTF8 anyway (RFC 6531, RFC 6532).
_POLICY_UTF8 = policy.SMTPUTF8.clone(cte_type="7bit", refold_source="none")

_FIELD_NAME = re.compile(r"[!-9;-~]+")  # RFC 5322 §3.6.8: printable US-ASCII except ":"
_MIME_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*")
_CONTENT_ID = re.compile(r"[!-;=?-~]+")  # printable ASCII except "<" and ">"
_ID_DOMAIN = re.compile(r"[A-Za-z0-9._-]+")
_LINE_BREAKS = re.compile(rb"\r\n|\r|\n")

# Headers the composer writes itself; a caller who sets one would forge or break the message.
_OWNED_HEADERS = frozenset(
    {
        "from",
        "to",
        "cc",
        "bcc",
        "reply-to",
        "subject",
        "date",
        "message-id",
        "in-reply-to",
        "references",
        "mime-version",
        "content-type",
        "content-transfer-encoding",
        "content-disposition",
        "sender",
        "return-path",
        "received",
        "dkim-signature",
    }
)
_HEADER_ARGUMENTS = {"to": "to", "cc": "cc", "bcc": "bcc", "reply-to": "reply_to", "subject": "subject"}

# Reply prefixes of common mail clients: English, German (AW), Nordic (SV, VS), Dutch (Antw), Polish (Odp),
# Italian (R, RIF), French (Réf), Chinese (回复, 答复); optionally counted ("Re[2]:") and full-width colon.
_REPLY_PREFIX = re.compile(
    r"^(?:\s*(?:re|aw|sv|antw|odp|vs|r|rif|réf|ref|回复|答复)\s*(?:\[\d+\]|\(\d+\))?\s*[:：])+\s*",
    re.IGNORECASE,
)
_FORWARD_PREFIX = re.compile(r"^\s*(?:fwd?|wg|tr|rv|doorst)\s*:", re.IGNORECASE)
_BLOCKQUOTE_STYLE = "margin:0 0 0 .8ex;border-left:1px solid #ccc;padding-left:1ex"
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@dataclass(slots=True)
class OutgoingAttachment:
    """An attachment ready for :func:`compose_message`: decoded bytes plus its MIME metadata."""

    content: bytes
    filename: str | None = None
    content_type: str | None = None
    content_disposition: str | None = None  # "inline" or "attachment"
    content_id: str | None = None  # without angle brackets


# -- validating caller input --------------------------------------------------------------------------


def check_header_value(value: str, *, field: str) -> str:
    """Refuse CR, LF and NUL in a value headed for a header (header injection); return it unchanged."""
    if not isinstance(value, str):
        raise ValidationError(f"{field} must be a string, not {type(value).__name__}", path=[field])
    if "\r" in value or "\n" in value or "\x00" in value:
        raise ValidationError(f"{field} must not contain line breaks or NUL characters", path=[field])
    return value


def check_custom_headers(headers: dict[str, str] | None) -> dict[str, str]:
    """Validate caller-supplied extra headers and return them as a new dict.

    Names must be RFC 5322 field names; values must not contain CR, LF or NUL; headers the composer owns
    (From, To, Subject, Message-ID, Content-Type, ...) are refused, case-insensitively.
    """
    if headers is None:
        return {}
    if not isinstance(headers, dict):
        raise ValidationError("headers must be a mapping of header name to value", path=["headers"])
    checked: dict[str, str] = {}
    seen: set[str] = set()
    for name, value in headers.items():
        path: list[str | int] = ["headers", str(name)]
        if not isinstance(name, str) or not _FIELD_NAME.fullmatch(name):
            raise ValidationError(
                f"header name {name!r} is not valid: use printable ASCII without spaces or ':', "
                "such as X-Ticket-Id",
                path=path,
            )
        key = name.lower()
        # Content-* headers belong to MIME parts; the composer would drop or move them.
        if key in _OWNED_HEADERS or key.startswith("content-"):
            argument = _HEADER_ARGUMENTS.get(key)
            hint = f"use the {argument!r} argument instead" if argument else "agentinbox sets it itself"
            raise ValidationError(f"header {name!r} cannot be set through headers; {hint}", path=path)
        if key in seen:
            raise ValidationError(f"header {name!r} is given twice (names are case-insensitive)", path=path)
        if not isinstance(value, str):
            raise ValidationError(f"header {name!r} must have a string value", path=path)
        if "\r" in value or "\n" in value or "\x00" in value:
            raise ValidationError(f"header {name!r} must not contain line breaks or NUL", path=path)
        seen.add(key)
        checked[name] = value
    return checked


def resolve_attachment(
    *,
    filename: str | None,
    content_type: str | None,
    content_disposition: str | None,
    content_id: str | None,
    content: str | bytes | None,
    url: str | None,
    field_path: list[str | int],
) -> OutgoingAttachment:
    """Turn a caller's attachment spec (AgentMail's ``SendAttachment``) into an :class:`OutgoingAttachment`.

    ``content`` is standard base64 text, or raw bytes in-process. The content type is inferred from the
    filename when not given; the disposition defaults to "inline" when a content id is set.
    """
    if content is not None and url is not None:
        raise ValidationError("give either content or url for an attachment, not both", path=field_path)
    if url is not None:
        raise ValidationError(
            "attachments by url are not supported; pass content (base64 or bytes)", path=[*field_path, "url"]
        )
    if content is None:
        raise ValidationError("an attachment needs content (base64 or bytes)", path=[*field_path, "content"])
    data = _attachment_bytes(content, [*field_path, "content"])

    if filename is not None:
        if not isinstance(filename, str):
            raise ValidationError("filename must be a string", path=[*field_path, "filename"])
        if any(c in filename for c in "\r\n\x00/\\"):
            raise ValidationError(
                f"filename {filename!r} must not contain line breaks, NUL or path separators",
                path=[*field_path, "filename"],
            )
        filename = filename.strip() or None

    if content_type is not None:
        content_type = _check_content_type(content_type, [*field_path, "content_type"])
    else:
        content_type = _guess_type(filename)

    if content_id is not None:
        content_id = check_header_value(content_id, field="content_id").strip().strip("<>").strip() or None
        if content_id is not None and not _CONTENT_ID.fullmatch(content_id):
            raise ValidationError(
                f"content_id {content_id!r} must be printable ASCII without spaces or angle brackets",
                path=[*field_path, "content_id"],
            )

    if content_disposition is None:
        content_disposition = "inline" if content_id else "attachment"
    elif str(content_disposition).lower() not in ("inline", "attachment"):
        raise ValidationError(
            f"content_disposition must be 'inline' or 'attachment', not {content_disposition!r}",
            path=[*field_path, "content_disposition"],
        )
    return OutgoingAttachment(
        content=data,
        filename=filename,
        content_type=content_type,
        content_disposition=content_disposition.lower(),
        content_id=content_id,
    )


def _attachment_bytes(content: object, path: list[str | int]) -> bytes:
    if isinstance(content, bytes | bytearray | memoryview):
        return bytes(content)
    if not isinstance(content, str):
        kind = type(content).__name__
        raise ValidationError(f"content must be base64 text or bytes, not {kind}", path=path)
    if content.lstrip()[:5].lower() == "data:":
        raise ValidationError(
            "content must be plain base64 without a 'data:...;base64,' prefix; drop all up to the comma",
            path=path,
        )
    # Line breaks and spaces (as base64.encodebytes writes them) are allowed; anything else must be
    # the standard, padded alphabet of RFC 4648 §4.
    compact = "".join(content.split())
    try:
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValidationError(
            f"content is not valid standard base64 ({exc}); encode it with base64.b64encode, "
            "not the URL-safe alphabet, and keep the '=' padding",
            path=path,
        ) from exc


def _check_content_type(value: object, path: list[str | int]) -> str:
    if not isinstance(value, str):
        raise ValidationError("content_type must be a string such as 'application/pdf'", path=path)
    check_header_value(value, field=str(path[-1]))
    # Parameters ("; charset=...") are dropped: attachments are sent as bytes, base64 encoded.
    mime_type = value.split(";", 1)[0].strip().lower()
    if not _MIME_TYPE.fullmatch(mime_type):
        raise ValidationError(f"content_type {value!r} is not a MIME type like 'application/pdf'", path=path)
    if mime_type.startswith("multipart/"):
        raise ValidationError("multipart/* attachments are not supported; attach each part", path=path)
    return mime_type


def _guess_type(filename: str | None) -> str:
    """Infer a content type from a filename (the AgentMail toolkit relies on it); octet-stream otherwise."""
    if not filename:
        return "application/octet-stream"
    # "./" keeps guess_type from reading "name:rest" as a URL scheme (filenames cannot contain "/").
    mime_type, encoding = mimetypes.guess_type("./" + filename, strict=False)
    if encoding is not None:  # "x.tar.gz" is a gzip file, whatever it contains
        return {"gzip": "application/gzip", "bzip2": "application/x-bzip2", "xz": "application/x-xz"}.get(
            encoding, "application/octet-stream"
        )
    return mime_type or "application/octet-stream"


def make_message_id(domain: str) -> str:
    """A new globally unique Message-ID, ``<random@domain>``, using only URL-safe characters."""
    name = domain.strip().lower()
    if not name.isascii():
        try:
            name = name.encode("idna").decode("ascii")
        except UnicodeError:
            name = ""
    if not _ID_DOMAIN.fullmatch(name):
        raise ValidationError(f"cannot make a Message-ID for the domain {domain!r}", path=["domain"])
    return f"<{uuid.uuid4().hex}@{name}>"


# -- composing ----------------------------------------------------------------------------------------


def compose_message(
    *,
    from_: str,
    to: list[str],
    cc: list[str],
    reply_to: list[str],
    subject: str | None,
    text: str | None,
    html: str | None,
    attachments: list[OutgoingAttachment],
    headers: dict[str, str],
    message_id: str,
    date: datetime,
    in_reply_to: str | None = None,
    references: list[str] | None = None,
) -> bytes:
    """Write an RFC 5322 message with CRLF line endings from already validated parts.

    MIME tree: text/plain, text/html or multipart/alternative of both; inline parts with a content id
    wrap the html in multipart/related; other attachments wrap it all in multipart/mixed. Bcc is not
    written: the caller puts those recipients on the envelope only.
    """
    fields = {
        name: [_header_address(value, field) for value in values]
        for name, field, values in (
            ("From", "from", [from_]),
            ("To", "to", to),
            ("Cc", "cc", cc),
            ("Reply-To", "reply_to", reply_to),
        )
    }
    ids = [message_id, *([in_reply_to] if in_reply_to else []), *(references or [])]
    addresses = [a.address for values in fields.values() for a in values]
    utf8 = not all(value.isascii() for value in (*addresses, *ids))
    msg = MIMEPart(policy=_POLICY_UTF8 if utf8 else _POLICY)

    # Headers are folded here and stored with set_raw, past the policy's own folder: in Python 3.11 it
    # can put the comma between two addresses inside an encoded-word (strict parsers then lose the
    # second recipient), drops spaces next to the encoded-words it makes, and reads a literal "=?" in a
    # subject as an encoded-word.
    for name, values in fields.items():
        if values:
            msg.set_raw(name, ",\r\n ".join(_format_address(name, a) for a in values))
    if subject is not None:
        msg.set_raw("Subject", _header_text("Subject", _clean(subject)))
    msg.set_raw("Date", format_datetime(date if date.tzinfo else date.replace(tzinfo=UTC)))
    msg.set_raw("Message-ID", message_id)
    if in_reply_to:
        msg.set_raw("In-Reply-To", in_reply_to)
    # RFC 5322 §3.6.4: ids separated by folding whitespace; an id too long for any line is dropped.
    kept = [r for r in references or [] if len(r) < 900]
    if kept:
        msg.set_raw("References", _fold("References", " ".join(kept)) or " ".join(kept))
    for name, value in headers.items():
        msg.set_raw(name, _header_text(name, _clean(value)))
    msg["MIME-Version"] = "1.0"

    inline = [
        a
        for a in attachments
        if html is not None
        and a.content_id
        and _disposition(a) == "inline"
        and not _content_type(a).startswith("message/")
    ]
    if html is None:
        msg.set_content(_clean(text or ""), subtype="plain")
    else:
        html_part = msg
        if text is not None:
            msg.set_content(_clean(text), subtype="plain")
            msg.add_alternative(_clean(html), subtype="html")
            html_part = list(msg.iter_parts())[-1]
        else:
            msg.set_content(_clean(html), subtype="html")
        for attachment in inline:
            maintype, subtype = _content_type(attachment).split("/", 1)
            html_part.add_related(
                attachment.content,
                maintype,
                subtype,
                filename=attachment.filename,
                cid=f"<{attachment.content_id}>",
                disposition="inline",
            )
    for attachment in attachments:
        if not any(attachment is a for a in inline):
            _attach(msg, attachment)
    buffer = BytesIO()
    _BytesGenerator(buffer, mangle_from_=False, policy=msg.policy).flatten(msg)
    return buffer.getvalue()


def _header_address(value: str, field: str) -> Address:
    parsed = parse_address(value)
    if parsed is None:
        raise ValidationError(f"{field}: {value!r} is not an email address", path=[field])
    return Address(_clean(parsed.name), parsed.address)


def _format_address(header_name: str, address: Address) -> str:
    """``Name <addr>`` with the name quoted (RFC 5322 §3.2.4) or, unless plain ASCII, RFC 2047 encoded."""
    plain = str(address)
    if not address.name or (_is_plain(address.name) and len(plain) < 70):
        return plain
    return f"{_encoded_words(header_name, address.name)} <{address.address}>"


def _header_text(name: str, value: str) -> str:
    """A free-text header value (Subject, custom headers): folded if plain ASCII, else RFC 2047 encoded."""
    if _is_plain(value):
        folded = _fold(name, value)
        if folded is not None:
            return folded
    return _encoded_words(name, value)


def _is_plain(value: str) -> bool:
    return value.isascii() and value.replace("\t", " ").isprintable() and "=?" not in value


def _encoded_words(header_name: str, value: str) -> str:
    """RFC 2047 UTF-8 encoded-words of at most 75 characters (§2), one per folded line."""
    return Header(value, "utf-8", header_name=header_name).encode(linesep="\r\n", maxlinelen=76)


def _fold(name: str, value: str) -> str | None:
    """Fold a plain value before spaces (RFC 5322 §2.2.3) so lines keep to 78 characters where they can.

    None if a line would still pass the hard limit of 998.
    """
    words = value.split(" ")
    lines = [words[0]]
    for word in words[1:]:
        width = len(lines[-1]) + (len(name) + 2 if len(lines) == 1 else 0)
        # Never leave a line of only whitespace behind (RFC 5322 §3.2.2).
        if word and lines[-1].strip() and width + 1 + len(word) > 78:
            lines.append(" " + word)
        else:
            lines[-1] += " " + word
    if len(name) + 2 + len(lines[0]) > 998 or any(len(line) > 998 for line in lines[1:]):
        return None
    return "\r\n".join(lines)


def _attach(msg: MIMEPart, attachment: OutgoingAttachment) -> None:
    content_type = _content_type(attachment)
    if content_type.startswith("message/"):
        _attach_message(msg, attachment, content_type)
        return
    maintype, subtype = content_type.split("/", 1)
    msg.add_attachment(
        attachment.content,
        maintype,
        subtype,
        filename=attachment.filename,
        cid=f"<{attachment.content_id}>" if attachment.content_id else None,
        disposition=_disposition(attachment),
    )


def _attach_message(msg: MIMEPart, attachment: OutgoingAttachment, content_type: str) -> None:
    """Attach an enclosed message as itself: RFC 2046 §5.2.1 allows only 7bit, 8bit or binary for it.

    The bytes are kept as given (line endings made CRLF), not re-parsed and re-written.
    """
    if msg.get_content_type() != "multipart/mixed":
        msg.make_mixed()
    data = _LINE_BREAKS.sub(b"\r\n", attachment.content)
    part = MIMEPart(policy=msg.policy)
    part["Content-Type"] = content_type
    part["Content-Transfer-Encoding"] = "7bit" if data.isascii() else "8bit"
    part["Content-Disposition"] = _disposition(attachment)
    if attachment.filename:
        part.set_param("filename", attachment.filename, header="Content-Disposition")
    if attachment.content_id:
        part["Content-ID"] = f"<{attachment.content_id}>"
    part.set_payload(data.decode("ascii", "surrogateescape"))
    msg.attach(part)


class _BytesGenerator(BytesGenerator):
    """Writes an enclosed message's 8-bit bytes as they are.

    The stock generator encodes a message/* payload held as text with strict ASCII and fails on 8-bit
    content; ours carries those bytes surrogate-escaped, as the parser does.
    """

    def _encode(self, s: str) -> bytes:
        return s.encode("ascii", "surrogateescape")


def _content_type(attachment: OutgoingAttachment) -> str:
    return (attachment.content_type or _guess_type(attachment.filename)).lower()


def _disposition(attachment: OutgoingAttachment) -> str:
    return attachment.content_disposition or ("inline" if attachment.content_id else "attachment")


def _clean(value: str) -> str:
    """Replace lone surrogates, which cannot be encoded, so composing never fails on odd strings."""
    if value.isascii():
        return value
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return value.encode("utf-8", "replace").decode("utf-8")
    return value


# -- replies and forwards -----------------------------------------------------------------------------


def reply_subject(subject: str | None) -> str:
    """The subject of a reply: existing reply prefixes ("Re:", "AW:", "回复:", ...) folded into one "Re: "."""
    return "Re: " + _REPLY_PREFIX.sub("", subject or "").strip()


def forward_subject(subject: str | None) -> str:
    """The subject of a forward: "Fwd: " + subject, unless it already has a forward prefix."""
    if subject and _FORWARD_PREFIX.match(subject):
        return subject
    return "Fwd: " + (subject or "").strip()


def reply_recipients(
    *,
    inbox_address: str,
    original_from: str | None,
    original_reply_to: list[str],
    original_to: list[str],
    original_cc: list[str],
    reply_all: bool,
) -> tuple[list[str], list[str]]:
    """Who a reply goes to, as ``(to, cc)``.

    To the original Reply-To, else its From; when the inbox sent the original, to its To instead.
    ``reply_all`` adds the other original To recipients to ``to`` and the original Cc to ``cc``. The inbox
    itself is never included and no address appears twice. Should that leave ``to`` empty (the Reply-To
    named only the inbox), the From and then the original To are used.
    """
    inbox = address_key(inbox_address)
    sent_by_inbox = original_from is not None and address_key(original_from) == inbox
    senders = [original_from] if original_from else []
    if sent_by_inbox:
        to = list(original_to)
    else:
        to = list(original_reply_to) or senders
        if reply_all:
            to += original_to
    cc = list(original_cc) if reply_all else []

    seen = {inbox}
    to = _unique(to, seen) or _unique(senders, seen) or _unique(original_to, seen)
    return to, _unique(cc, seen)


def _unique(addresses: list[str], seen: set[str]) -> list[str]:
    result = []
    for address in addresses:
        key = address_key(address)
        if key and key not in seen:
            seen.add(key)
            result.append(address)
    return result


def attribution_line(*, date: datetime | None, from_: str | None) -> str:
    """The line above a quote: "On Mon, 1 Jan 2024 at 10:00, Alice <a@x.com> wrote:" (English, fixed)."""
    who = from_ or "an unknown sender"
    if date is None:
        return f"{who} wrote:"
    return f"On {_format_date(date)}, {who} wrote:"


def _format_date(date: datetime) -> str:
    # Not strftime: %a and %b follow the process locale.
    return f"{_DAYS[date.weekday()]}, {date.day} {_MONTHS[date.month - 1]} {date.year} at {date:%H:%M}"


def quote_text(text: str | None, *, attribution: str) -> str:
    """The attribution line, then each line of ``text`` prefixed with "> " (">" for empty lines)."""
    lines = (text or "").splitlines()
    return "\n".join([attribution, *(f"> {line}" if line else ">" for line in lines)])


def quote_html(html: str | None, text: str | None, *, attribution: str) -> str:
    """The attribution in a div, then the original (its html body, else its escaped text) in a blockquote."""
    original = _html_body(html) if html is not None else _text_to_html(text or "")
    return (
        f"<div>{html_lib.escape(attribution)}</div>"
        f'<blockquote type="cite" style="{_BLOCKQUOTE_STYLE}">{original}</blockquote>'
    )


def reply_body(
    *,
    text: str | None,
    html: str | None,
    original_text: str | None,
    original_html: str | None,
    attribution: str,
) -> tuple[str | None, str | None]:
    """The bodies of a reply: the caller's text and html, each followed by the quoted original.

    If the caller gave html, the quote (the original html, else its escaped text) is appended to it; if
    the caller gave only text, html stays None. The text quote needs the original's text part. With
    neither text nor html the reply is the quote alone.
    """
    if text is None and html is None:
        text = ""
    new_text = text
    if text is not None and original_text is not None:
        new_text = _join_text(text, quote_text(original_text, attribution=attribution))
    new_html = None
    if html is not None:
        new_html = _append_html(html, quote_html(original_html, original_text, attribution=attribution))
    return new_text, new_html


def forward_body(
    *,
    text: str | None,
    html: str | None,
    original_from: str | None,
    original_date: datetime | None,
    original_subject: str | None,
    original_to: list[str],
    original_cc: list[str],
    original_text: str | None,
    original_html: str | None,
) -> tuple[str | None, str | None]:
    """The bodies of a forward: the caller's text first, then a "Forwarded message" block and the original.

    Text is always produced. Html is produced when the caller gave html or the original had html (a
    forward must carry the original's content); the caller's text stands in for missing caller html.
    """
    lines = ["---------- Forwarded message ---------"]
    if original_from:
        lines.append(f"From: {original_from}")
    if original_date is not None:
        lines.append(f"Date: {_format_date(original_date)}")
    if original_subject is not None:
        lines.append(f"Subject: {original_subject}")
    if original_to:
        lines.append(f"To: {', '.join(original_to)}")
    if original_cc:
        lines.append(f"Cc: {', '.join(original_cc)}")
    block = "\n".join(lines)

    new_text = _join_text(text or "", f"{block}\n\n{original_text or ''}".rstrip("\n"))
    if html is None and original_html is None:
        return new_text, None
    head = html if html is not None else _text_to_html(text or "")
    original = _html_body(original_html) if original_html is not None else _text_to_html(original_text or "")
    forwarded = (
        '<div class="forwarded">'
        + "<br>".join(html_lib.escape(line) for line in lines)
        + f"<br><br>{original}</div>"
    )
    return new_text, _append_html(head, ("<br><br>" if head else "") + forwarded)


def _join_text(text: str, addition: str) -> str:
    head = text.rstrip("\r\n")
    return f"{head}\n\n{addition}" if head else addition


def _text_to_html(text: str) -> str:
    return "<br>".join(html_lib.escape(line) for line in text.splitlines())


def _html_body(html: str) -> str:
    """The content of an html document's <body>, so a quoted document does not nest <html> in <html>."""
    start = re.search(r"<body\b[^>]*>", html, re.IGNORECASE)
    if start is None:
        return html
    end = html.lower().rfind("</body>")
    return html[start.end() : end if end >= start.end() else len(html)]


def _append_html(html: str, addition: str) -> str:
    """Append to an html fragment, or insert before ``</body>`` when it is a whole document."""
    end = html.lower().rfind("</body>")
    if end < 0:
        return html + addition
    return html[:end] + addition + html[end:]
