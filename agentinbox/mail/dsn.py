"""Delivery status notifications (RFC 3464 ``multipart/report; report-type=delivery-status``), read.

A DSN names the message it reports on (the Message-ID in its returned headers or message) and, per
recipient, an action (``failed``, ``delayed``, ``delivered``, ``relayed``, ``expanded``) with a status code.
Pure functions: bytes in, a :class:`DeliveryReport` (or None for anything that is not a DSN) out.
"""

from __future__ import annotations

import email
import email.parser
from dataclasses import dataclass, field
from email.message import Message
from email.policy import compat32

__all__ = ["DeliveryReport", "RecipientStatus", "is_report", "parse_report", "returned_message_id"]


@dataclass(frozen=True, slots=True)
class RecipientStatus:
    """One recipient's line in a DSN: address, action, status (``5.1.1``) and the remote server's words."""

    address: str
    action: str
    status: str
    diagnostic: str | None = None

    @property
    def failed(self) -> bool:
        return self.action == "failed"


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    """A parsed DSN: the Message-ID of the reported message (angle brackets kept) and each recipient."""

    original_message_id: str | None
    recipients: list[RecipientStatus] = field(default_factory=list)

    @property
    def failed(self) -> list[RecipientStatus]:
        return [r for r in self.recipients if r.failed]


def is_report(content_type: str | None) -> bool:
    """Whether a Content-Type header value announces a delivery status report."""
    if not content_type:
        return False
    value = content_type.lower()
    return value.lstrip().startswith("multipart/report") and "delivery-status" in value


def _typed_address(value: str | None) -> str:
    """``rfc822; user@example.com`` → ``user@example.com`` (the address type is optional in practice)."""
    if not value:
        return ""
    kind, sep, address = value.partition(";")
    return (address if sep else kind).strip().strip("<>").strip()


def _one_line(value: str | None) -> str | None:
    return " ".join(value.split()) if value else None


def _status_blocks(part: Message) -> list[Message]:
    payload = part.get_payload()
    if isinstance(payload, list):
        return [block for block in payload if isinstance(block, Message)]
    # Some generators put the blocks in a text payload; parse them as header blocks.
    text = payload if isinstance(payload, str) else ""
    parser = email.parser.HeaderParser(policy=compat32)
    return [parser.parsestr(chunk.strip() + "\n") for chunk in text.replace("\r\n", "\n").split("\n\n")]


def returned_message_id(part: Message) -> str | None:
    """The Message-ID of a returned message (``message/rfc822``) or its headers (``text/rfc822-headers``)."""
    content_type = part.get_content_type()
    if content_type in ("message/rfc822", "message/global"):
        payload = part.get_payload()
        inner = payload[0] if isinstance(payload, list) and payload else None
        if isinstance(inner, Message):
            return _one_line(inner.get("Message-ID"))
    if content_type in ("text/rfc822-headers", "message/global-headers"):
        content = part.get_payload(decode=True)
        if isinstance(content, bytes):
            headers = email.parser.BytesHeaderParser(policy=compat32).parsebytes(content)
            return _one_line(headers.get("Message-ID"))
    return None


def parse_report(raw: bytes) -> DeliveryReport | None:
    """The DSN in ``raw``, or None when ``raw`` is not a delivery status report. Never raises."""
    try:
        message = email.message_from_bytes(raw, policy=compat32)
        if not is_report(message.get("Content-Type")):
            return None
        recipients: list[RecipientStatus] = []
        original: str | None = None
        for part in message.walk():
            content_type = part.get_content_type()
            if content_type in ("message/delivery-status", "message/global-delivery-status"):
                for block in _status_blocks(part):
                    address = _typed_address(block.get("Final-Recipient") or block.get("Original-Recipient"))
                    if not address or not block.get("Action"):
                        continue
                    recipients.append(
                        RecipientStatus(
                            address=address.lower(),
                            action=str(block.get("Action")).strip().lower(),
                            status=str(block.get("Status") or "").strip(),
                            diagnostic=_one_line(block.get("Diagnostic-Code")),
                        )
                    )
            elif original is None:
                original = returned_message_id(part)
        return DeliveryReport(original_message_id=original, recipients=recipients)
    except Exception:  # a broken report is still stored as mail; it just matches nothing
        return None
