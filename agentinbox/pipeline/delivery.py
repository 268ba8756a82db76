"""What remote deliveries end in: the outcome of each attempt, and bounce reports that arrive later.

An attempt's outcome per recipient is a 2xx (``delivered``), a 5xx to the message itself — to MAIL FROM
or to the data, e.g. ``554 5.7.1 message content rejected`` — (``rejected``), a 5xx to the recipient
(``bounced``) or anything else (``deferred``: retried with a doubling delay until ``delivery_max_age``,
then bounced). The sent message carries the result as labels — ``delivered``, ``rejected`` and ``bounced``
once any recipient reached that state, ``delayed`` while any is waiting for a retry — and each change is
reported by a ``message.delivered``, ``message.rejected`` or ``message.bounced`` event in the same
transaction; a recipient is either rejected or bounced, never both. A delivery status notification that
comes back later (the peer accepted, then failed) is matched to the sent message by its Message-ID and
bounces it too; a rejected recipient stays rejected.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, select

from ..mail.dsn import DeliveryReport, RecipientStatus
from ..models import BounceRecipient
from ..smtp.delivery import Outcome
from ..store import deliveries, events, messages
from ..store.deliveries import Claimed
from ..store.tables import messages as messages_table
from .context import Context

__all__ = ["apply_report", "record_outcomes", "retry_delay"]

_MAX_RETRY_SECONDS = 3600


def retry_delay(ctx: Context, attempts: int) -> int:
    """Seconds to wait after the ``attempts``-th temporary failure: doubling from the setting, up to an hour."""
    return int(min(ctx.settings.delivery_retry_delay * 2 ** min(attempts, 20), _MAX_RETRY_SECONDS))


def _enhanced_status(outcome: Outcome) -> str:
    """``5.1.1`` from a reply like ``550 5.1.1 no such user``, else the class from the code."""
    first = outcome.message.split(" ", 1)[0]
    parts = first.split(".")
    if len(parts) == 3 and all(p.isdigit() for p in parts):
        return first
    if outcome.code is None:
        return "4.4.1"
    return f"{outcome.code // 100}.0.0"


def _message_row(conn: Connection, message_pk: int) -> Any:
    return conn.execute(select(messages_table).where(messages_table.c.id == message_pk)).one()


def _update_labels(conn: Connection, message_pk: int, *, now: int, add: Sequence[str]) -> None:
    counts = deliveries.statuses(conn, message_pk)
    waiting = counts.get("deferred", 0) > 0
    remove = [] if waiting else ["delayed"]
    wanted = [*add, "delayed"] if waiting else list(add)
    messages.set_labels(conn, _message_row(conn, message_pk), wanted, remove, now=now)


def record_outcomes(
    conn: Connection, ctx: Context, claimed: Sequence[Claimed], outcomes: Mapping[int, Outcome]
) -> None:
    """Record one attempt at some deliveries of one message: states, labels and events."""
    if not claimed:
        return
    now = ctx.clock.now()
    max_age = ctx.settings.delivery_max_age * 1_000_000
    delivered: list[tuple[Claimed, Outcome]] = []
    rejected: list[tuple[Claimed, Outcome]] = []
    bounced: list[tuple[Claimed, Outcome]] = []
    for row in claimed:
        outcome = outcomes[row.id]
        if outcome.delivered:
            delivered.append((row, outcome))
            deliveries.finish(conn, [row.id], status="delivered", now=now, response=str(outcome))
        elif outcome.rejected:
            rejected.append((row, outcome))
            deliveries.finish(conn, [row.id], status="rejected", now=now, response=str(outcome))
        elif outcome.permanent or now - row.created_at >= max_age:
            if not outcome.permanent:
                outcome = Outcome(outcome.code, f"{outcome}; gave up after {row.attempts + 1} attempts")
            bounced.append((row, outcome))
            deliveries.finish(conn, [row.id], status="bounced", now=now, response=str(outcome))
        else:
            retry_at = min(now + retry_delay(ctx, row.attempts) * 1_000_000, row.created_at + max_age)
            deliveries.record_failure(
                conn, [row.id], now=now, retry_at=max(retry_at, now), error=str(outcome)
            )
    first = claimed[0]
    add = (
        (["delivered"] if delivered else [])
        + (["rejected"] if rejected else [])
        + (["bounced"] if bounced else [])
    )
    _update_labels(conn, first.message_pk, now=now, add=add)
    ids = {"inbox_id": first.inbox_id, "thread_id": first.thread_id, "message_id": first.message_id}
    if delivered:
        events.append_event(
            conn,
            "message.delivered",
            now=now,
            pod_id=first.pod_id,
            **ids,
            payload=events.receipt_payload(
                "delivery", now=now, recipients=[row.recipient for row, _ in delivered], **ids
            ),
        )
    if rejected:
        # One transaction, so one reply; should a message's recipients have met several, each is named.
        reason = "; ".join(dict.fromkeys(str(outcome) for _, outcome in rejected))
        payload = events.reject_payload(now=now, reason=reason, **ids)
        events.append_event(conn, "message.rejected", now=now, pod_id=first.pod_id, **ids, payload=payload)
    if bounced:
        recipients = [
            BounceRecipient(address=row.recipient, status=_enhanced_status(outcome), diagnostic=str(outcome))
            for row, outcome in bounced
        ]
        _bounce_event(conn, pod_id=first.pod_id, ids=ids, now=now, recipients=recipients)


def _bounce_event(
    conn: Connection, *, pod_id: str, ids: dict[str, str], now: int, recipients: list[BounceRecipient]
) -> None:
    """Append ``message.bounced`` for the sent message ``ids`` names."""
    payload = events.bounce_payload(now=now, recipients=recipients, **ids)
    events.append_event(conn, "message.bounced", now=now, pod_id=pod_id, **ids, payload=payload)


def apply_report(conn: Connection, inbox_id: str, report: DeliveryReport, *, now: int) -> bool:
    """Match a DSN that arrived in ``inbox_id`` to the message it reports on and bounce its failed
    recipients; False when it matches no message sent from that inbox."""
    if not report.original_message_id or not report.failed:
        return False
    row = messages.find_sent(conn, inbox_id, report.original_message_id)
    if row is None:
        return False
    failed: dict[str, RecipientStatus] = {r.address: r for r in report.failed}
    rows = [d for d in deliveries.deliveries_of(conn, row.id) if d.recipient in failed]
    newly = [d for d in rows if d.status not in ("bounced", "rejected")]
    for delivery in newly:
        status = failed[delivery.recipient]
        deliveries.finish(
            conn,
            [delivery.id],
            status="bounced",
            now=now,
            response=status.diagnostic or f"delivery status {status.status}",
        )
    reported = [failed[d.recipient] for d in newly] if rows else list(failed.values())
    if not reported:
        return True  # already bounced: a repeated report changes nothing
    if rows:
        _update_labels(conn, row.id, now=now, add=["bounced"])  # a bounce may end a wait: drop ``delayed``
    else:
        messages.set_labels(conn, row, ["bounced"], [], now=now)
    ids = {"inbox_id": inbox_id, "thread_id": row.thread_id, "message_id": row.message_id}
    recipients = [
        BounceRecipient(address=r.address, status=r.status, diagnostic=r.diagnostic) for r in reported
    ]
    _bounce_event(conn, pod_id=row.pod_id, ids=ids, now=now, recipients=recipients)
    return True
