"""The event log (transactional outbox): events are appended in the transaction of the change they report."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Connection, insert

from .tables import events

__all__ = ["append_event"]

_INSERT_EVENT = insert(events)


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
    """Append one event and return its ``event_id``."""
    event_id = f"evt_{uuid.uuid4().hex}"
    conn.execute(
        _INSERT_EVENT,
        {
            "event_id": event_id,
            "event_type": event_type,
            "pod_id": pod_id,
            "inbox_id": inbox_id,
            "thread_id": thread_id,
            "message_id": message_id,
            "payload": payload or {},
            "created_at": now,
        },
    )
    return event_id
