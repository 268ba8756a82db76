"""Complaints: an abuse feedback report about a message an inbox sent marks it ``complained``.

The report (see :mod:`agentinbox.mail.arf`) is matched by the reported message's Message-ID to a message
sent from the inbox the report arrived in, like a delivery status notification. The match gets the
``complained`` label and a ``message.complained`` event, in the transaction that stores the report:
``type`` is the report's ``Feedback-Type`` (``abuse``, ``fraud``, ``virus``, ``other``, ``auth-failure``),
``sub_type`` the failed check of an authentication failure report (its ``Auth-Failure``) or ``General``,
and ``recipients`` the report's ``Original-Rcpt-To`` addresses (empty when the provider left them out).
A ``not-spam`` report (RFC 6430) is the opposite of a complaint and changes nothing.
"""

from __future__ import annotations

from sqlalchemy import Connection

from ..mail.arf import FeedbackReport
from ..store import events, messages

__all__ = ["apply_complaint"]


def apply_complaint(conn: Connection, inbox_id: str, report: FeedbackReport, *, now: int) -> bool:
    """Mark the message ``report`` is about ``complained`` and append ``message.complained``; False when it
    matches no message sent from ``inbox_id`` or is not a complaint."""
    if not report.original_message_id or report.feedback_type == "not-spam":
        return False
    row = messages.find_sent(conn, inbox_id, report.original_message_id)
    if row is None:
        return False
    messages.set_labels(conn, row, ["complained"], [], now=now)
    ids = {"inbox_id": inbox_id, "thread_id": row.thread_id, "message_id": row.message_id}
    payload = events.complaint_payload(
        now=now,
        type=report.feedback_type,
        sub_type=report.sub_type,
        recipients=report.original_recipients,
        **ids,
    )
    events.append_event(conn, "message.complained", now=now, pod_id=row.pod_id, **ids, payload=payload)
    return True
