"""Abuse feedback reports (ARF, RFC 5965 ``multipart/report; report-type=feedback-report``), read.

A mailbox provider sends one when a recipient marks mail as spam (its feedback loop). The report has a
human-readable part, a ``message/feedback-report`` part with ``Feedback-Type`` (``abuse``, ``fraud``,
``virus``, ``other``, ``not-spam``, ``auth-failure``), ``Original-Rcpt-To`` and ``Original-Mail-From``, and
the reported message or its headers, whose Message-ID names the message complained about. Pure functions:
bytes in, a :class:`FeedbackReport` (or None for anything that is not a usable report) out.
"""

from __future__ import annotations

import email
import email.parser
from dataclasses import dataclass, field
from email.message import Message
from email.policy import compat32

from .dsn import returned_message_id

__all__ = ["FeedbackReport", "is_feedback_report", "parse_feedback_report"]

#: The complaint ``sub_type`` of every report but an RFC 6591 authentication failure report.
GENERAL = "General"


@dataclass(frozen=True, slots=True)
class FeedbackReport:
    """A parsed feedback report: its type, the reported message's Message-ID (angle brackets kept), the
    original envelope recipients and sender, the generator (``User-Agent``) and, for ``auth-failure``
    reports, which check failed (``Auth-Failure``: ``dkim``, ``spf``, ``dmarc`` …)."""

    feedback_type: str
    original_message_id: str | None
    original_recipients: list[str] = field(default_factory=list)
    original_mail_from: str | None = None
    user_agent: str | None = None
    auth_failure: str | None = None

    @property
    def sub_type(self) -> str:
        """The complaint's ``sub_type``: the failed check of an authentication failure report, else
        ``General`` (ARF has no finer kind of complaint; the generator's name is not one)."""
        if self.feedback_type == "auth-failure" and self.auth_failure:
            return self.auth_failure
        return GENERAL


def is_feedback_report(content_type: str | None) -> bool:
    """Whether a Content-Type header value announces an abuse feedback report."""
    if not content_type:
        return False
    value = content_type.lower()
    return value.lstrip().startswith("multipart/report") and "feedback-report" in value


def _one_line(value: object) -> str | None:
    if value is None:
        return None
    text = " ".join(str(value).split())
    return text or None


def _address(value: object) -> str | None:
    """``<user@example.com>``, ``rfc822; user@example.com`` or a bare address → ``user@example.com``."""
    text = _one_line(value)
    if text is None:
        return None
    kind, sep, rest = text.partition(";")
    address = (rest if sep else kind).strip().strip("<>").strip().lower()
    return address if "@" in address and " " not in address else None


def _report_fields(part: Message) -> Message | None:
    """The header block of a ``message/feedback-report`` part, however the parser held it."""
    payload = part.get_payload()
    if isinstance(payload, list) and payload and isinstance(payload[0], Message):
        block = payload[0]
        if block.get("Feedback-Type") is not None:
            return block
        payload = block.get_payload()  # a blank line before the fields: they became the body
    if isinstance(payload, str):
        encoding = part.get("Content-Transfer-Encoding")
        if encoding is not None:  # the parser left the fields encoded: decode them as a leaf part would be
            leaf = Message()
            leaf["Content-Transfer-Encoding"] = encoding
            leaf.set_payload(payload)
            decoded = leaf.get_payload(decode=True)
            if isinstance(decoded, bytes):
                payload = decoded.decode("utf-8", "replace")
        return email.parser.HeaderParser(policy=compat32).parsestr(payload.strip() + "\n")
    return None


def parse_feedback_report(raw: bytes) -> FeedbackReport | None:
    """The feedback report in ``raw``, or None when ``raw`` is not one or has no ``Feedback-Type``.

    Never raises: a broken report is still stored as mail; it just matches nothing.
    """
    try:
        message = email.message_from_bytes(raw, policy=compat32)
        if not is_feedback_report(message.get("Content-Type")):
            return None
        fields: Message | None = None
        original: str | None = None
        for part in message.get_payload() if message.is_multipart() else []:
            if not isinstance(part, Message):
                continue
            if part.get_content_type() == "message/feedback-report":
                fields = fields or _report_fields(part)
            elif original is None:
                original = returned_message_id(part)
        if fields is None:
            return None
        feedback_type = _one_line(fields.get("Feedback-Type"))
        if feedback_type is None:
            return None
        recipients = [_address(value) for value in fields.get_all("Original-Rcpt-To") or []]
        auth_failure = _one_line(fields.get("Auth-Failure"))
        return FeedbackReport(
            feedback_type=feedback_type.split()[0].lower(),
            original_message_id=original,
            original_recipients=list(dict.fromkeys(r for r in recipients if r)),
            original_mail_from=_address(fields.get("Original-Mail-From")),
            user_agent=_one_line(fields.get("User-Agent")),
            auth_failure=auth_failure.split()[0].lower() if auth_failure else None,
        )
    except Exception:
        return None
