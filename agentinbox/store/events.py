"""The event log (transactional outbox): events are appended in the transaction of the change they report.

Each row's ``payload`` holds the event's body in the reference's shape (``{"message": …, "thread": …}``,
``{"send": …}``, ``{"delivery": …}``, ``{"bounce": …}``, ``{"complaint": …}``, ``{"reject": …}``,
``{"domain": …}``); ``event_object`` adds ``type``, ``event_type`` and ``event_id`` and returns the pydantic
event. Row ids only grow and are never reused.
"""

from __future__ import annotations

import itertools
import logging
import uuid
from collections.abc import Sequence
from typing import Any, NamedTuple

import pydantic
from pydantic import TypeAdapter
from sqlalchemy import Connection, bindparam, insert, select

from .._clock import to_datetime
from ..models import (
    BounceRecipient,
    Event,
    EventBounce,
    EventComplaint,
    EventReceipt,
    EventReject,
    Message,
)
from . import webhooks
from .tables import events, thread_labels, threads
from .threads import thread_item

__all__ = [
    "Appended",
    "EventRow",
    "append_event",
    "appended",
    "bounce_payload",
    "collect_appended",
    "complaint_payload",
    "event_object",
    "events_after",
    "last_event_id",
    "receipt_payload",
    "received_payload",
    "reject_payload",
    "stop_collecting",
]

_log = logging.getLogger(__name__)
_INSERT_EVENT = insert(events)
_THREAD_ROW = select(threads).where(threads.c.thread_id == bindparam("tid"))
_THREAD_LABELS = (
    select(thread_labels.c.label)
    .where(thread_labels.c.thread_id == bindparam("tid"), thread_labels.c.count > 0)
    .order_by(thread_labels.c.label)
)
_EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)

# Counts appends in this process, so the in-process bus reads the log only after writes that added to it.
_appended = itertools.count(1)
_last_appended = 0


def appended() -> int:
    """How many events this process has appended so far (committed or not)."""
    return _last_appended


class Appended(NamedTuple):
    """An event as this process appended it: the log row's columns, handed to the in-process bus after the
    transaction commits, so it need not read back what it was just told."""

    id: int
    event_id: str
    event_type: str
    pod_id: str | None
    inbox_id: str | None
    thread_id: str | None
    message_id: str | None
    payload: dict[str, Any]
    created_at: int


_COLLECTING = "agentinbox_appended"  # key in Connection.info: the events the transaction in progress appended


def collect_appended(conn: Connection) -> list[Appended]:
    """Start collecting the events appended on ``conn`` (the caller hands them over once committed)."""
    collected: list[Appended] = []
    conn.info[_COLLECTING] = collected
    return collected


def stop_collecting(conn: Connection) -> None:
    """Stop collecting on ``conn`` (its transaction ended)."""
    conn.info.pop(_COLLECTING, None)


def append_event(
    conn: Connection,
    event_type: str,
    *,
    now: int,
    pod_id: str | None = None,
    inbox_id: str | None = None,
    thread_id: str | None = None,
    message_id: str | None = None,
    payload: dict[str, Any] | None = None,
) -> str:
    """Append one event and return its ``event_id``; queues it for the enabled webhooks it matches."""
    global _last_appended
    event_id = f"evt_{uuid.uuid4().hex}"
    hooks = webhooks.targets(conn, event_type=event_type, pod_id=pod_id, inbox_id=inbox_id)
    payload = payload or {}
    result = conn.execute(
        _INSERT_EVENT,
        {
            "event_id": event_id,
            "event_type": event_type,
            "pod_id": pod_id,
            "inbox_id": inbox_id,
            "thread_id": thread_id,
            "message_id": message_id,
            "payload": payload,
            "created_at": now,
        },
    )
    collected: list[Appended] | None = conn.info.get(_COLLECTING)
    if hooks or collected is not None:
        key = result.inserted_primary_key
        assert key is not None
        if hooks:
            webhooks.queue_deliveries(conn, key[0], hooks, now=now)
        if collected is not None:
            collected.append(
                Appended(key[0], event_id, event_type, pod_id, inbox_id, thread_id, message_id, payload, now)
            )
    _last_appended = next(_appended)
    return event_id


def received_payload(conn: Connection, message: Message) -> dict[str, Any]:
    """``{"message": Message, "thread": ThreadItem}`` for a just-stored message (reads its thread)."""
    row = conn.execute(_THREAD_ROW, {"tid": message.thread_id}).one()
    labels = [r.label for r in conn.execute(_THREAD_LABELS, {"tid": message.thread_id})]
    return {
        "message": message.model_dump(mode="json", exclude_none=True),
        "thread": thread_item(row, labels).model_dump(mode="json", exclude_none=True),
    }


def receipt_payload(
    key: str, *, inbox_id: str, thread_id: str, message_id: str, now: int, recipients: Sequence[str]
) -> dict[str, Any]:
    """``{key: {inbox_id, thread_id, message_id, timestamp, recipients}}``: the body of ``message.sent``
    (``key`` "send") and ``message.delivered`` (``key`` "delivery")."""
    receipt = EventReceipt(
        inbox_id=inbox_id,
        thread_id=thread_id,
        message_id=message_id,
        timestamp=to_datetime(now),
        recipients=list(recipients),
    )
    return {key: receipt.model_dump(mode="json", exclude_none=True)}


def bounce_payload(
    *,
    inbox_id: str,
    thread_id: str,
    message_id: str,
    now: int,
    recipients: Sequence[BounceRecipient],
    type: str = "Permanent",
    sub_type: str = "General",
) -> dict[str, Any]:
    """``{"bounce": {…, type, sub_type, recipients: [{address, status, diagnostic}]}}``."""
    bounce = EventBounce(
        inbox_id=inbox_id,
        thread_id=thread_id,
        message_id=message_id,
        timestamp=to_datetime(now),
        type=type,
        sub_type=sub_type,
        recipients=list(recipients),
    )
    return {"bounce": bounce.model_dump(mode="json", exclude_none=True)}


def complaint_payload(
    *,
    inbox_id: str,
    thread_id: str,
    message_id: str,
    now: int,
    type: str,
    sub_type: str,
    recipients: Sequence[str],
) -> dict[str, Any]:
    """``{"complaint": {inbox_id, thread_id, message_id, timestamp, type, sub_type, recipients}}``."""
    complaint = EventComplaint(
        inbox_id=inbox_id,
        thread_id=thread_id,
        message_id=message_id,
        timestamp=to_datetime(now),
        type=type,
        sub_type=sub_type,
        recipients=list(recipients),
    )
    return {"complaint": complaint.model_dump(mode="json", exclude_none=True)}


def reject_payload(
    *, inbox_id: str, thread_id: str, message_id: str, now: int, reason: str
) -> dict[str, Any]:
    """``{"reject": {inbox_id, thread_id, message_id, timestamp, reason}}``."""
    reject = EventReject(
        inbox_id=inbox_id,
        thread_id=thread_id,
        message_id=message_id,
        timestamp=to_datetime(now),
        reason=reason,
    )
    return {"reject": reject.model_dump(mode="json", exclude_none=True)}


class EventRow:
    """One row of the log, as the bus needs it: the columns it filters on and the event it hands out."""

    __slots__ = ("event", "event_type", "id", "inbox_id", "pod_id", "thread_id")

    def __init__(self, row: Any) -> None:
        self.id: int = row.id
        self.event_type: str = row.event_type
        self.pod_id: str | None = row.pod_id
        self.inbox_id: str | None = row.inbox_id
        self.thread_id: str | None = row.thread_id
        self.event: Event | None = None
        try:
            self.event = event_object(row)
        except pydantic.ValidationError:
            # A row of an older payload shape (before the reference's shapes) is kept but not handed out.
            _log.warning(
                "event %s (%s) has a payload of an older shape; skipped", row.event_id, row.event_type
            )


def event_object(row: Any) -> Event:
    """The pydantic event a log row stands for."""
    return _EVENT_ADAPTER.validate_python(
        {"type": "event", "event_type": row.event_type, "event_id": row.event_id, **row.payload}
    )


def last_event_id(conn: Connection) -> int:
    """The id of the newest event, 0 when there is none."""
    return int(conn.execute(select(events.c.id).order_by(events.c.id.desc()).limit(1)).scalar() or 0)


def events_after(conn: Connection, after: int, *, limit: int = 500) -> list[EventRow]:
    """Events with id > ``after``, oldest first."""
    rows = conn.execute(select(events).where(events.c.id > after).order_by(events.c.id).limit(limit))
    return [EventRow(row) for row in rows]
