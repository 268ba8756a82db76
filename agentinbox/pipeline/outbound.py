"""Outbound: validate a send, compose its MIME, store it as ``sent`` and hand it to its recipients.

The sent message, one delivery row per remote recipient, local deliveries (straight into the recipient
inboxes through the inbound path), the events and the idempotency record are one transaction. Remote
recipients stay ``pending`` for the SMTP delivery workers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import Connection, insert

from .._clock import to_datetime
from ..errors import MessageRejectedError, UnprocessableError, ValidationError
from ..mail import compose
from ..mail.addresses import Address, address_key, normalize_recipients
from ..mail.compose import OutgoingAttachment
from ..mail.labels import user_labels
from ..mail.threading import normalize_subject, thread_keys
from ..models import SendMessageResponse
from ..store import blobs, events, idempotency, inboxes, messages, threads
from ..store.messages import NewMessage
from ..store.scopes import Scope
from ..store.tables import deliveries
from .context import Context
from .inbound import file_message, prepare, store_attachments, store_received
from .lists import check_recipients
from .send_limits import check_send_limits
from .signing import sign_outgoing

__all__ = [
    "Mode",
    "Outgoing",
    "check_idempotency_key",
    "record_sent",
    "reply_recipients",
    "reply_references",
    "send",
    "send_in_transaction",
    "stored_attachments",
    "validate_attachments",
    "validate_outgoing",
]

Mode = Literal["send", "reply", "forward"]


@dataclass(slots=True)
class Outgoing:
    """A validated outgoing message, before composition."""

    to: list[str] = field(default_factory=list)
    cc: list[str] = field(default_factory=list)
    bcc: list[str] = field(default_factory=list)
    reply_to: list[str] = field(default_factory=list)
    subject: str | None = None
    text: str | None = None
    html: str | None = None
    labels: list[str] = field(default_factory=list)
    attachments: list[OutgoingAttachment] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def recipients(self) -> list[str]:
        return [*self.to, *self.cc, *self.bcc]


def validate_attachments(
    attachments: Sequence[Any] | None, *, field_name: str = "attachments"
) -> list[OutgoingAttachment]:
    """Turn caller attachment specs (mappings or objects with SendAttachment's fields) into attachments."""
    if attachments is None:
        return []
    if isinstance(attachments, str | bytes) or not isinstance(attachments, Sequence):
        raise ValidationError("attachments must be a list", path=[field_name])
    result = []
    for index, spec in enumerate(attachments):
        if isinstance(spec, OutgoingAttachment):
            result.append(spec)
            continue
        get = spec.get if isinstance(spec, Mapping) else lambda name, s=spec: getattr(s, name, None)
        result.append(
            compose.resolve_attachment(
                filename=get("filename"),
                content_type=get("content_type"),
                content_disposition=get("content_disposition"),
                content_id=get("content_id"),
                content=get("content"),
                url=get("url"),
                field_path=[field_name, index],
            )
        )
    return result


def check_idempotency_key(key: object) -> None:
    """An idempotency key is None or a printable string of 1 to 256 characters."""
    if key is None:
        return
    if not isinstance(key, str) or not key.strip() or len(key) > 256 or not key.isprintable():
        raise ValidationError(
            "idempotency_key must be a printable string of 1 to 256 characters", path=["idempotency_key"]
        )


def stored_attachments(
    conn: Connection, records: Sequence[dict[str, Any]] | None
) -> list[OutgoingAttachment]:
    """The attachments a stored message or draft holds, with their bytes, ready to be sent again."""
    result = []
    for record in records or []:
        content = blobs.get_blob(conn, record["sha256"])
        if content is not None:
            result.append(
                OutgoingAttachment(
                    content=content,
                    filename=record.get("filename"),
                    content_type=record.get("content_type"),
                    content_disposition=record.get("content_disposition"),
                    content_id=record.get("content_id"),
                )
            )
    return result


def _optional_text(value: object, name: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationError(f"{name} must be a string", path=[name])
    if "\x00" in value:
        raise ValidationError(f"{name} must not contain NUL characters", path=[name])
    return value


def validate_outgoing(
    *,
    to: str | Sequence[str] | None = None,
    cc: str | Sequence[str] | None = None,
    bcc: str | Sequence[str] | None = None,
    reply_to: str | Sequence[str] | None = None,
    subject: str | None = None,
    text: str | None = None,
    html: str | None = None,
    labels: str | Sequence[str] | None = None,
    attachments: Sequence[Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Outgoing:
    """Check every caller-supplied part of a message; raises ValidationError naming the bad field."""
    if subject is not None:
        if not isinstance(subject, str):
            raise ValidationError("subject must be a string", path=["subject"])
        subject = compose.check_header_value(subject, field="subject")
    if headers is not None and not isinstance(headers, Mapping):
        raise ValidationError("headers must be a mapping of header name to value", path=["headers"])
    return Outgoing(
        to=normalize_recipients(_as_list(to, "to"), field="to"),
        cc=normalize_recipients(_as_list(cc, "cc"), field="cc"),
        bcc=normalize_recipients(_as_list(bcc, "bcc"), field="bcc"),
        reply_to=normalize_recipients(_as_list(reply_to, "reply_to"), field="reply_to"),
        subject=subject,
        text=_optional_text(text, "text"),
        html=_optional_text(html, "html"),
        labels=user_labels(labels),
        attachments=validate_attachments(attachments),
        headers=compose.check_custom_headers(dict(headers) if headers else None),
    )


def _as_list(value: str | Sequence[str] | None, name: str) -> str | list[str] | None:
    if value is None or isinstance(value, str):
        return value
    if not isinstance(value, Sequence) or isinstance(value, bytes):
        raise ValidationError(f"{name} must be an address string or a list of them", path=[name])
    return list(value)


def reply_recipients(inbox_address: str, original: Any, *, reply_all: bool) -> tuple[list[str], list[str]]:
    """``(to, cc)`` of a reply to a stored message: its Reply-To or sender, and with ``reply_all`` the rest."""
    return compose.reply_recipients(
        inbox_address=inbox_address,
        original_from=original.from_,
        original_reply_to=original.reply_to or [],
        original_to=original.to,
        original_cc=original.cc or [],
        reply_all=reply_all,
    )


def reply_references(original: Any) -> list[str]:
    """The References of a reply to a stored message: its References, then its own Message-ID."""
    return [*(original.references or []), original.rfc_message_id or original.message_id]


def _sender(inbox: Any) -> str:
    return str(Address(name=inbox.display_name or "", address=inbox.email))


def send_in_transaction(
    conn: Connection,
    ctx: Context,
    *,
    inbox_id: str,
    outgoing: Outgoing,
    mode: Mode = "send",
    original_id: str | None = None,
    reply_all: bool = False,
    recipients_given: bool = True,
) -> SendMessageResponse:
    """Compose and store one outgoing message and deliver it locally where possible (inside a transaction)."""
    now = ctx.clock.now()
    inbox = inboxes.get_inbox(conn, inbox_id)
    scope = Scope(inbox_id=inbox.inbox_id)
    in_reply_to: str | None = None
    attachments = list(outgoing.attachments)
    text, html, subject = outgoing.text, outgoing.html, outgoing.subject
    references: list[str] = []
    if mode != "send":
        assert original_id is not None
        original = messages.message_row(conn, scope, original_id)
        body = messages.message_body(conn, original.id)
        original_text = body.text if body else None
        original_html = body.html if body else None
        if mode == "reply":
            if not recipients_given:
                outgoing.to, outgoing.cc = reply_recipients(inbox.email, original, reply_all=reply_all)
            subject = compose.reply_subject(original.subject)
            references = reply_references(original)
            in_reply_to = references[-1]
            attribution = compose.attribution_line(date=to_datetime(original.timestamp), from_=original.from_)
            text, html = compose.reply_body(
                text=text,
                html=html,
                original_text=original_text,
                original_html=original_html,
                attribution=attribution,
            )
        else:
            subject = subject if subject is not None else compose.forward_subject(original.subject)
            text, html = compose.forward_body(
                text=text,
                html=html,
                original_from=original.from_,
                original_date=to_datetime(original.timestamp),
                original_subject=original.subject,
                original_to=original.to,
                original_cc=original.cc or [],
                original_text=original_text,
                original_html=original_html,
            )
            attachments.extend(stored_attachments(conn, original.attachments))
    if not outgoing.recipients:
        raise UnprocessableError("the message has no recipients: give at least one address in to, cc or bcc")
    domain = inbox.email.rpartition("@")[2]
    rfc_message_id = compose.make_message_id(domain)
    raw = compose.compose_message(
        from_=_sender(inbox),
        to=outgoing.to,
        cc=outgoing.cc,
        reply_to=outgoing.reply_to,
        subject=subject,
        text=text,
        html=html,
        attachments=attachments,
        headers=outgoing.headers,
        message_id=rfc_message_id,
        date=to_datetime(now),
        in_reply_to=in_reply_to,
        references=references or None,
    )
    return record_sent(
        conn,
        ctx,
        inbox,
        raw,
        rfc_message_id=rfc_message_id,
        recipients=outgoing.recipients,
        to=outgoing.to,
        cc=outgoing.cc,
        bcc=outgoing.bcc,
        reply_to=outgoing.reply_to,
        labels=outgoing.labels,
        in_reply_to=in_reply_to,
        references=references,
        extracted=(outgoing.text, outgoing.html),
    )


def record_sent(
    conn: Connection,
    ctx: Context,
    inbox: Any,
    raw: bytes,
    *,
    rfc_message_id: str,
    recipients: Sequence[str],
    to: Sequence[str],
    cc: Sequence[str] = (),
    bcc: Sequence[str] = (),
    reply_to: Sequence[str] = (),
    labels: Sequence[str] = (),
    in_reply_to: str | None = None,
    references: Sequence[str] = (),
    extracted: tuple[str | None, str | None] | None = None,
) -> SendMessageResponse:
    """Store composed mail as ``sent`` in its inbox and hand it to its envelope ``recipients``.

    Local recipients get their copy now, in this transaction; each remote one gets a ``pending`` delivery
    row for the delivery workers. The ``message.sent`` event (and ``message.delivered`` for local
    recipients) is written here too. When the inbox's domain has a DKIM key, ``raw`` is signed first, so what
    is stored and delivered is the signed message. A recipient the send lists refuse rejects the whole
    send (MessageRejectedError) before anything is stored, as does a send over the inbox's rate limits or
    its domain's warm-up cap (RateLimitError).
    """
    check_recipients(conn, inbox_id=inbox.inbox_id, pod_id=inbox.pod_id, recipients=recipients)
    now = ctx.clock.now()
    check_send_limits(conn, ctx.settings, inbox_id=inbox.inbox_id, now=now)
    raw = sign_outgoing(conn, inbox.email, raw)
    limit = ctx.settings.max_message_size
    if len(raw) > limit:
        raise MessageRejectedError(
            f"the composed message is {len(raw)} bytes, over the limit of {limit} bytes "
            "(settings.max_message_size); send smaller attachments"
        )
    prepared = prepare(raw, extracted=extracted)
    parsed = prepared.parsed
    references = list(references)
    keys = thread_keys(rfc_message_id, in_reply_to, references)
    thread_id = None
    if in_reply_to is not None or references:
        thread_id = threads.find_thread(
            conn,
            inbox_id=inbox.inbox_id,
            keys=keys,
            subject_key="",
            participants=(),
            subject_fallback=False,
            since=0,
        )
    envelope = list(dict.fromkeys(address_key(r) for r in recipients))
    local = inboxes.inbox_pods(conn, envelope)
    remote = [r for r in envelope if r not in local]
    all_labels = ["sent", *labels]
    if not remote:
        all_labels.append("delivered")
    subject_key = normalize_subject(parsed.subject)
    new = NewMessage(
        inbox_id=inbox.inbox_id,
        pod_id=inbox.pod_id,
        message_id=rfc_message_id,
        rfc_message_id=rfc_message_id,
        direction="sent",
        labels=list(dict.fromkeys(all_labels)),
        from_=parsed.from_ or inbox.email,
        to=list(to),
        cc=list(cc),
        bcc=list(bcc),
        reply_to=list(reply_to),
        subject=parsed.subject,
        preview=prepared.preview,
        in_reply_to=in_reply_to,
        references=references,
        headers=parsed.headers,
        attachments=store_attachments(conn, parsed.attachments),
        size=len(raw),
        raw_sha256=blobs.put_blob(conn, raw, prepared.sha256),
        timestamp=now,
        text=parsed.text,
        html=parsed.html,
        extracted_text=prepared.extracted_text,
        extracted_html=prepared.extracted_html,
    )
    pk = file_message(conn, new, thread_id=thread_id, keys=keys, known=None, subject_key=subject_key, now=now)
    if remote:
        conn.execute(
            insert(deliveries),
            [
                {
                    "message_pk": pk,
                    "recipient": recipient,
                    "status": "pending",
                    "attempts": 0,
                    "next_attempt_at": now,
                    "created_at": now,
                    "updated_at": now,
                }
                for recipient in remote
            ],
        )
    ids = {"inbox_id": inbox.inbox_id, "thread_id": new.thread_id, "message_id": rfc_message_id}
    events.append_event(
        conn,
        "message.sent",
        now=now,
        pod_id=inbox.pod_id,
        **ids,
        payload=events.receipt_payload("send", now=now, recipients=envelope, **ids),
    )
    # The sending inbox already holds the message; other local inboxes get their own received copy.
    others = {inbox_id: pod for inbox_id, pod in local.items() if inbox_id != inbox.inbox_id}
    if others:
        store_received(
            conn,
            prepared,
            others,
            now=now,
            subject_window=ctx.settings.subject_threading_window,
            timestamp=now,
            classifiers=ctx.classifiers,
            mail_from=inbox.inbox_id,
        )
    if local:
        events.append_event(
            conn,
            "message.delivered",
            now=now,
            pod_id=inbox.pod_id,
            **ids,
            payload=events.receipt_payload("delivery", now=now, recipients=list(local), **ids),
        )
    return SendMessageResponse(message_id=rfc_message_id, thread_id=new.thread_id)


async def send(
    ctx: Context,
    *,
    inbox_id: str,
    outgoing: Outgoing,
    mode: Mode = "send",
    original_id: str | None = None,
    reply_all: bool = False,
    recipients_given: bool = True,
    idempotency_key: str | None = None,
    fingerprint: dict[str, Any] | None = None,
) -> SendMessageResponse:
    """Send (or reply, or forward) from an inbox; with an ``idempotency_key`` a retry returns the first result."""
    check_idempotency_key(idempotency_key)

    def run(conn: Connection) -> SendMessageResponse:
        if idempotency_key is None:
            return send_in_transaction(
                conn,
                ctx,
                inbox_id=inbox_id,
                outgoing=outgoing,
                mode=mode,
                original_id=original_id,
                reply_all=reply_all,
                recipients_given=recipients_given,
            )
        request_hash = idempotency.fingerprint(fingerprint or {})
        now = ctx.clock.now()
        previous = idempotency.recall(
            conn, idempotency_key, request_hash, now=now, ttl=ctx.settings.idempotency_ttl
        )
        if previous is not None:
            return SendMessageResponse(**previous)
        response = send_in_transaction(
            conn,
            ctx,
            inbox_id=inbox_id,
            outgoing=outgoing,
            mode=mode,
            original_id=original_id,
            reply_all=reply_all,
            recipients_given=recipients_given,
        )
        idempotency.remember(conn, idempotency_key, request_hash, response.model_dump(), now=now)
        return response

    response = await ctx.db.write(run)
    ctx.wake_delivery()
    return response
