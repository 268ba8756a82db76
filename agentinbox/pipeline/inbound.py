"""Inbound: a raw message becomes one stored message per local recipient inbox.

Parsing and reply extraction run before the transaction; classification (see
:mod:`agentinbox.pipeline.classify`), threading, storage, labels, the search entry and the
``message.received`` event (or its ``.spam``/``.blocked``/``.unauthenticated`` variant) are written in one
transaction, so a message is stored completely or not at all. Malformed mail is still stored, its raw bytes
intact. Delivery status notifications and abuse feedback reports are stored like any mail and, in the same
transaction, bounce or mark ``complained`` the sent message they report on.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from .._clock import from_datetime
from ..errors import MessageRejectedError, NotFoundError, ValidationError
from ..mail import arf, dsn
from ..mail.addresses import address_key
from ..mail.compose import OutgoingAttachment
from ..mail.extract import extract_message, make_preview
from ..mail.parse import ParsedAttachment, ParsedMessage, parse_message
from ..mail.threading import normalize_subject, thread_keys
from ..models import Message
from ..security.inspection import Finding, Inspection
from ..store import blobs, events, inboxes, messages, threads
from ..store.messages import NewMessage
from ..store.scopes import Scope
from .checks import checked, run_checks, with_headers
from .classify import Arrival, Classifier, classify, received_event_type
from .complaints import apply_complaint
from .context import Context
from .delivery import apply_report

__all__ = ["Prepared", "deliver", "file_message", "inspect", "prepare", "store_received"]

# Characters a message_id used in API paths must not contain (AgentMail §1.5).
_UNSAFE_ID = re.compile(r"[%/?#\s]")
_FUTURE_SLACK = 24 * 3600 * 1_000_000
# Longer Message-IDs are replaced by one derived from the content (ids are path segments and index keys).
_MAX_ID = 900


@dataclass(slots=True)
class Prepared:
    """A parsed raw message with its extracted reply: the CPU work, done outside any transaction."""

    raw: bytes
    sha256: str
    parsed: ParsedMessage
    extracted_text: str | None
    extracted_html: str | None
    preview: str | None
    signature: str | None = None
    #: The forwarded message reply extraction read out (the fields of models.ForwardedMessage), if any.
    forwarded: dict[str, str | None] | None = None


def prepare(raw: bytes, *, extracted: tuple[str | None, str | None] | None = None) -> Prepared:
    """Parse ``raw`` (never raises) and extract its new content, unless the caller already knows it."""
    parsed = parse_message(raw)
    signature = None
    forwarded = None
    if extracted is None:
        extraction = extract_message(parsed.text, parsed.html)
        extracted, signature = (extraction.full_text, extraction.full_html), extraction.signature
        if extraction.forwarded is not None:
            found = extraction.forwarded
            forwarded = {
                "from": found.from_,
                "to": found.to,
                "cc": found.cc,
                "date": found.date,
                "subject": found.subject,
                "text": found.body,
            }
    extracted_text, extracted_html = extracted
    return Prepared(
        raw=raw,
        sha256=hashlib.sha256(raw).hexdigest(),
        parsed=parsed,
        extracted_text=extracted_text,
        extracted_html=extracted_html,
        # AgentMail takes the preview from the text part only; HTML-only mail has none.
        preview=make_preview(extracted_text or parsed.text, None),
        signature=signature,
        forwarded=forwarded,
    )


async def inspect(
    ctx: Context,
    prepared: Prepared,
    *,
    mail_from: str | None = None,
    client_ip: str | None = None,
    helo: str | None = None,
) -> Finding:
    """Run the inbound checks (``ctx.checks``) on ``prepared`` and prepend the trace headers they give to
    its bytes; returns what they found, for ``store_received``."""
    inspection = Inspection(
        prepared.raw, prepared.parsed, mail_from=mail_from, client_ip=client_ip, helo=helo
    )
    finding = await run_checks(ctx.checks, inspection, seconds=ctx.settings.check_timeout)
    if finding.headers:
        prepared.raw, prepared.sha256 = with_headers(prepared.raw, prepared.parsed, finding.headers)
    return finding


def _verdicts(finding: Finding | None, attachments: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The verdicts stored with one copy, virus findings naming the attachment they were found in."""
    if finding is None:
        return None
    verdicts = checked(finding)
    if verdicts is None:
        return None
    virus = verdicts.get("virus")
    if virus and virus.get("findings"):
        findings = []
        for found in virus["findings"]:
            found = dict(found)
            index = found.pop("attachment_index", None)
            if isinstance(index, int) and 0 <= index < len(attachments):
                found["attachment_id"] = attachments[index]["attachment_id"]
                found.setdefault("filename", attachments[index]["filename"])
            findings.append(found)
        verdicts = {**verdicts, "virus": {**virus, "findings": findings}}
    return verdicts


def public_message_id(rfc_message_id: str | None, *, sha256: str, domain: str) -> str:
    """The message_id the API uses: the RFC Message-ID, made path-safe, or one derived from the content."""
    if not rfc_message_id or len(rfc_message_id) > _MAX_ID:
        return f"<{sha256[:32]}@{domain}>"
    if _UNSAFE_ID.search(rfc_message_id):
        return _UNSAFE_ID.sub("-", rfc_message_id)
    return rfc_message_id


def message_timestamp(parsed: ParsedMessage, now: int) -> int:
    """When the message was written: its Date header when plausible, else the time it arrived."""
    if parsed.date is not None:
        try:
            value = from_datetime(parsed.date)
        except (OverflowError, ValueError, OSError):
            return now
        if 0 < value <= now + _FUTURE_SLACK:
            return value
    return now


def store_attachments(
    conn: Connection,
    attachments: Sequence[ParsedAttachment | OutgoingAttachment],
    *,
    attachment_id: Callable[[int, str], str] = lambda index, key: f"att_{index}_{key[:16]}",
) -> list[dict[str, Any]]:
    """Store each attachment's bytes as a blob and return the records a message or draft row keeps.

    ``attachment_id`` names each from its position and content key; messages use both, so reprocessing
    the same mail gives the same ids.
    """
    records = []
    for index, attachment in enumerate(attachments):
        key = blobs.put_blob(conn, attachment.content)
        records.append(
            {
                "attachment_id": attachment_id(index, key),
                "filename": attachment.filename,
                "content_type": attachment.content_type,
                "content_disposition": attachment.content_disposition,
                "content_id": attachment.content_id,
                "size": len(attachment.content),
                "sha256": key,
            }
        )
    return records


def store_received(
    conn: Connection,
    prepared: Prepared,
    recipients: dict[str, str],
    *,
    now: int,
    subject_window: int,
    timestamp: int | None = None,
    classifiers: Sequence[Classifier] = (),
    mail_from: str | None = None,
    finding: Finding | None = None,
) -> list[Message]:
    """Store ``prepared`` in each recipient inbox (inbox_id → pod_id); a redelivery is not stored twice.

    ``timestamp`` is the message's time when the caller knows it exactly (local delivery); otherwise the
    Date header decides, with its one-second resolution. ``classifiers`` label each copy before it is
    stored; ``mail_from`` is the envelope sender they see, when known. ``finding`` is what the inbound
    checks found (see ``inspect``): its labels and verdicts go on every copy.
    """
    parsed = prepared.parsed
    stored: list[Message] = []
    # A delivery status notification is parsed once, whatever the number of inboxes it reaches.
    content_type = _header(parsed.headers, "content-type")
    report = dsn.parse_report(prepared.raw) if dsn.is_report(content_type) else None
    complaint = arf.parse_feedback_report(prepared.raw) if arf.is_feedback_report(content_type) else None
    for inbox_id, pod_id in recipients.items():
        domain = inbox_id.rpartition("@")[2]
        message_id = public_message_id(parsed.message_id, sha256=prepared.sha256, domain=domain)
        existing = messages.find_message(conn, inbox_id, message_id)
        if existing is not None and existing.raw_sha256 != prepared.sha256:
            # The same Message-ID with other content: keep both, the second under a derived id.
            message_id = f"{message_id[:-1]}.{prepared.sha256[:12]}>"
            existing = messages.find_message(conn, inbox_id, message_id)
        if existing is not None:
            stored.append(messages.get_message(conn, Scope(inbox_id=inbox_id), message_id))
            continue
        arrival = Arrival(prepared.raw, parsed, inbox_id, pod_id, mail_from)
        verdict = classify(conn, arrival, classifiers) if classifiers else []
        when = timestamp if timestamp is not None else message_timestamp(parsed, now)
        # Mail without a Message-ID is known by the id derived for it: replies refer to that one.
        keys = thread_keys(parsed.message_id or message_id, parsed.in_reply_to, parsed.references)
        known = threads.lookup_refs(conn, inbox_id, keys)
        participants = [p for p in (parsed.from_, *parsed.to, *parsed.cc) if p]
        subject_key = normalize_subject(parsed.subject)
        thread_id = threads.find_thread(
            conn,
            inbox_id=inbox_id,
            keys=keys,
            subject_key=subject_key,
            participants=participants,
            subject_fallback=subject_window > 0 and not parsed.in_reply_to and not parsed.references,
            since=when - subject_window * 1_000_000,
            known=known,
        )
        labels = ["received", "unread", *verdict]
        if finding is not None:
            labels.extend(label for label in finding.labels if label not in labels)
        attachments = store_attachments(conn, parsed.attachments)
        new = NewMessage(
            inbox_id=inbox_id,
            pod_id=pod_id,
            message_id=message_id,
            rfc_message_id=parsed.message_id,
            direction="received",
            labels=labels,
            from_=parsed.from_ or "",
            to=parsed.to,
            cc=parsed.cc,
            bcc=parsed.bcc,
            reply_to=parsed.reply_to,
            subject=parsed.subject,
            preview=prepared.preview,
            in_reply_to=parsed.in_reply_to,
            references=parsed.references,
            headers=parsed.headers,
            attachments=attachments,
            size=len(prepared.raw),
            raw_sha256=blobs.put_blob(conn, prepared.raw, prepared.sha256),
            timestamp=when,
            text=parsed.text,
            html=parsed.html,
            extracted_text=prepared.extracted_text,
            extracted_html=prepared.extracted_html,
            signature=prepared.signature,
            forwarded=prepared.forwarded,
            checks=_verdicts(finding, attachments),
        )
        file_message(conn, new, thread_id=thread_id, keys=keys, known=known, subject_key=subject_key, now=now)
        message = messages.new_message_model(new, now=now)
        events.append_event(
            conn,
            received_event_type(labels),
            now=now,
            pod_id=pod_id,
            inbox_id=inbox_id,
            thread_id=new.thread_id,
            message_id=message_id,
            payload=events.received_payload(conn, message),
        )
        stored.append(message)
        if report is not None:
            apply_report(conn, inbox_id, report, now=now)
        if complaint is not None:
            apply_complaint(conn, inbox_id, complaint, now=now)
    return stored


def file_message(
    conn: Connection,
    new: NewMessage,
    *,
    thread_id: str | None,
    keys: Sequence[str],
    known: dict[str, str] | None,
    subject_key: str,
    now: int,
) -> int:
    """Store a message in its thread (a new thread when ``thread_id`` is None) and remember its thread keys.

    Sets ``new.thread_id`` and returns the message's row id. ``known`` is what ``lookup_refs`` found for
    ``keys`` in this transaction, if it was asked.
    """
    new.thread_id = threads.add_to_thread(
        conn,
        thread_id=thread_id,
        inbox_id=new.inbox_id,
        pod_id=new.pod_id,
        message_id=new.message_id,
        direction=new.direction,
        labels=new.labels,
        from_=new.from_,
        recipients=[*new.to, *new.cc, *new.bcc],
        subject=new.subject,
        subject_key=subject_key,
        preview=new.preview,
        attachments=new.attachments,
        size=new.size,
        timestamp=new.timestamp,
        now=now,
    )
    pk = messages.insert_message(conn, new, now=now)
    threads.add_refs(conn, inbox_id=new.inbox_id, thread_id=new.thread_id, keys=keys, known=known)
    return pk


def header_recipients(parsed: ParsedMessage) -> list[str]:
    """Addresses a message names as its recipients, for delivery without an envelope."""
    found = [*parsed.to, *parsed.cc, *parsed.bcc]
    for name in ("Delivered-To", "X-Original-To"):
        value = _header(parsed.headers, name)
        if value:
            found.append(value)
    return found


def _header(headers: dict[str, str], name: str) -> str | None:
    lowered = name.lower()
    for key, value in headers.items():
        if key.lower() == lowered:
            return value
    return None


def resolve_recipients(
    conn: Connection, rcpt_to: Sequence[str] | None, parsed: ParsedMessage
) -> dict[str, str]:
    """The local inboxes a message goes to: every envelope recipient must be one; without an envelope,
    whichever header recipients are."""
    if rcpt_to is not None:
        wanted = list(dict.fromkeys(address_key(a) for a in rcpt_to))
        local = inboxes.inbox_pods(conn, wanted)
        unknown = [a for a in wanted if a not in local]
        if unknown:
            raise NotFoundError(f"no inbox exists for {', '.join(unknown)}")
        return {a: local[a] for a in wanted}
    candidates = list(dict.fromkeys(address_key(a) for a in header_recipients(parsed)))
    local = inboxes.inbox_pods(conn, candidates)
    if not local:
        raise NotFoundError(
            "none of the message's recipients is an inbox here; pass rcpt_to to name the inbox explicitly"
        )
    return {a: local[a] for a in candidates if a in local}


def _check_envelope(raw: object, mail_from: object, rcpt_to: object) -> list[str] | None:
    if not isinstance(raw, bytes | bytearray | memoryview):
        raise ValidationError("raw must be the message's bytes", path=["raw"])
    if mail_from is not None and not isinstance(mail_from, str):
        raise ValidationError("mail_from must be an address string or None", path=["mail_from"])
    if rcpt_to is None:
        return None
    if isinstance(rcpt_to, str):
        rcpt_to = [rcpt_to]
    if not isinstance(rcpt_to, Iterable) or not all(isinstance(a, str) and "@" in a for a in rcpt_to):
        raise ValidationError("rcpt_to must be a list of addresses", path=["rcpt_to"])
    result = list(rcpt_to)
    if not result:
        raise ValidationError("rcpt_to must name at least one inbox", path=["rcpt_to"])
    return result


def _check_client(client_ip: object, helo: object) -> tuple[str | None, str | None]:
    if client_ip is not None:
        if not isinstance(client_ip, str):
            raise ValidationError("client_ip must be an IP address string or None", path=["client_ip"])
        try:
            client_ip = str(ipaddress.ip_address(client_ip.strip()))
        except ValueError:
            raise ValidationError(
                f"client_ip {client_ip!r} is not an IP address", path=["client_ip"]
            ) from None
    if helo is not None and (not isinstance(helo, str) or any(ch in helo for ch in "\x00\r\n")):
        raise ValidationError("helo must be a host name string without line breaks", path=["helo"])
    return client_ip, helo


async def deliver(
    ctx: Context,
    raw: bytes,
    *,
    mail_from: str | None = None,
    rcpt_to: Sequence[str] | None = None,
    client_ip: str | None = None,
    helo: str | None = None,
) -> list[Message]:
    """Run a raw message through the inbound pipeline; returns the stored copies, one per inbox.

    ``client_ip`` and ``helo`` say which SMTP client handed the message over, when another MTA did: SPF
    checks them. Without them the message counts as handed over locally.
    """
    recipients_given = _check_envelope(raw, mail_from, rcpt_to)
    client_ip, helo = _check_client(client_ip, helo)
    raw = bytes(raw)
    if len(raw) > ctx.settings.max_message_size:
        raise MessageRejectedError(
            f"message is {len(raw)} bytes, over the limit of {ctx.settings.max_message_size} "
            "(settings.max_message_size)"
        )
    prepared = prepare(raw)
    window = ctx.settings.subject_threading_window
    finding = await inspect(ctx, prepared, mail_from=mail_from, client_ip=client_ip, helo=helo)

    def run(conn: Connection) -> list[Message]:
        recipients = resolve_recipients(conn, recipients_given, prepared.parsed)
        return store_received(
            conn,
            prepared,
            recipients,
            now=ctx.clock.now(),
            subject_window=window,
            classifiers=ctx.classifiers,
            mail_from=mail_from,
            finding=finding,
        )

    return await ctx.db.write(run)
