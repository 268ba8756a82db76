"""Durable consumer groups: each group's cursor (the last acknowledged event id), its lease, and the events
it set aside after its handler failed on them too often.

Every write that moves a group's cursor or touches its failures is guarded by ``owner``, so a process that
lost the lease (it stalled past ``lease_until`` and another took over) cannot acknowledge for the group.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, and_, delete, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from ..errors import NotFoundError
from .events import EventRow
from .tables import consumer_failures, consumer_groups, events

__all__ = [
    "Failure",
    "ack",
    "claim",
    "create_group",
    "events_in",
    "fail_again",
    "failures",
    "forget_failure",
    "has_replays",
    "release",
    "renew",
    "replays_due",
    "request_replay",
    "set_aside",
]

_G = consumer_groups
_F = consumer_failures
_g_group = _G.c["group"]
_f_group = _F.c["group"]


class Failure:
    """A set-aside event as the consumer needs it: the failure row's id, attempts so far and the event."""

    __slots__ = ("attempts", "event", "failed_at", "id", "last_error")

    def __init__(self, row: Any) -> None:
        self.id: int = row.failure_id
        self.attempts: int = row.attempts
        self.last_error: str | None = row.last_error
        self.failed_at: int = row.failed_at
        self.event = EventRow(row)


def create_group(conn: Connection, group: str, cursor: int, now: int) -> None:
    """Create the group at ``cursor`` unless it exists (then its stored cursor stands)."""
    values = {"group": group, "cursor": cursor, "created_at": now, "updated_at": now}
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    conn.execute(dialect.insert(_G).values(values).on_conflict_do_nothing(index_elements=["group"]))


def claim(conn: Connection, group: str, owner: str, now: int, lease_until: int) -> int | None:
    """Take (or keep) the group's lease when it is free, expired or ours; its cursor, or None when another
    owner holds it. One conditional UPDATE, so of two claimants only one wins."""
    taken = conn.execute(
        update(_G)
        .where(
            _g_group == group,
            or_(
                _G.c.owner.is_(None), _G.c.lease_until.is_(None), _G.c.lease_until < now, _G.c.owner == owner
            ),
        )
        .values(owner=owner, lease_until=lease_until, updated_at=now)
    )
    if taken.rowcount != 1:
        return None
    return int(conn.execute(select(_G.c.cursor).where(_g_group == group)).scalar_one())


def renew(conn: Connection, group: str, owner: str, now: int, lease_until: int) -> bool:
    """Extend our lease; False when it is no longer ours."""
    result = conn.execute(
        update(_G)
        .where(_g_group == group, _G.c.owner == owner)
        .values(lease_until=lease_until, updated_at=now)
    )
    return result.rowcount == 1


def ack(conn: Connection, group: str, owner: str, cursor: int, now: int, lease_until: int) -> bool:
    """Acknowledge every event up to ``cursor`` (and renew the lease); False when the lease is not ours."""
    result = conn.execute(
        update(_G)
        .where(_g_group == group, _G.c.owner == owner)
        .values(cursor=cursor, lease_until=lease_until, updated_at=now)
    )
    return result.rowcount == 1


def release(conn: Connection, group: str, owner: str, now: int) -> None:
    """Give the lease up, so a standby takes the group over at once."""
    conn.execute(
        update(_G)
        .where(_g_group == group, _G.c.owner == owner)
        .values(owner=None, lease_until=None, updated_at=now)
    )


def set_aside(
    conn: Connection,
    group: str,
    owner: str,
    *,
    event_pk: int,
    attempts: int,
    error: str,
    now: int,
    cursor: int | None,
    lease_until: int,
) -> bool:
    """Record the event as failed and, with ``cursor``, acknowledge up to it, in one transaction; False (and
    nothing written) when the lease is not ours."""
    values: dict[str, Any] = {"lease_until": lease_until, "updated_at": now}
    if cursor is not None:
        values["cursor"] = cursor
    if conn.execute(update(_G).where(_g_group == group, _G.c.owner == owner).values(values)).rowcount != 1:
        return False
    fields = {"attempts": attempts, "last_error": error, "failed_at": now, "replay_at": None}
    where = and_(_f_group == group, _F.c.event_pk == event_pk)
    if conn.execute(update(_F).where(where).values(fields)).rowcount == 0:
        conn.execute(insert(_F).values(group=group, event_pk=event_pk, **fields))
    return True


def _joined() -> Any:
    return select(
        _F.c.id.label("failure_id"),
        _F.c.attempts,
        _F.c.last_error,
        _F.c.failed_at,
        events,
    ).join(events, events.c.id == _F.c.event_pk)


def replays_due(conn: Connection, group: str, *, limit: int = 100) -> list[Failure]:
    """Set-aside events a replay was asked for, oldest event first."""
    rows = conn.execute(
        _joined().where(_f_group == group, _F.c.replay_at.is_not(None)).order_by(_F.c.event_pk).limit(limit)
    )
    return [Failure(row) for row in rows]


def has_replays(conn: Connection, group: str) -> bool:
    """Whether a replay was asked for (perhaps by another process)."""
    found = conn.execute(
        select(_F.c.id).where(_f_group == group, _F.c.replay_at.is_not(None)).limit(1)
    ).first()
    return found is not None


def forget_failure(conn: Connection, failure_id: int) -> None:
    """The replayed event was handled: it is no longer set aside."""
    conn.execute(delete(_F).where(_F.c.id == failure_id))


def fail_again(conn: Connection, failure_id: int, *, attempts: int, error: str, now: int) -> None:
    """The replayed event failed again: it stays set aside with the attempts added and the new error."""
    conn.execute(
        update(_F)
        .where(_F.c.id == failure_id)
        .values(attempts=_F.c.attempts + attempts, last_error=error, failed_at=now, replay_at=None)
    )


def _require_group(conn: Connection, group: str) -> None:
    if conn.execute(select(_g_group).where(_g_group == group)).first() is None:
        raise NotFoundError(f"no consumer group {group!r}")


def failures(conn: Connection, group: str) -> list[Failure]:
    """The group's set-aside events, oldest event first; NotFoundError for an unknown group."""
    _require_group(conn, group)
    return [Failure(row) for row in conn.execute(_joined().where(_f_group == group).order_by(_F.c.event_pk))]


def request_replay(conn: Connection, group: str, event_ids: Sequence[str] | None, now: int) -> int:
    """Mark the group's set-aside events (all, or those with these ``event_id``s) for a replay; how many.

    NotFoundError for an unknown group or an event id the group has not set aside (then nothing is marked).
    """
    _require_group(conn, group)
    where = [_f_group == group]
    if event_ids is not None:
        pks = select(events.c.id).where(events.c.event_id.in_(event_ids))
        where.append(_F.c.event_pk.in_(pks))
        found = {
            row.event_id
            for row in conn.execute(
                select(events.c.event_id).join(_F, _F.c.event_pk == events.c.id).where(*where)
            )
        }
        missing = [event_id for event_id in event_ids if event_id not in found]
        if missing:
            raise NotFoundError(f"event {missing[0]!r} is not set aside in consumer group {group!r}")
    return int(conn.execute(update(_F).where(*where).values(replay_at=now)).rowcount)


def events_in(conn: Connection, ranges: Sequence[tuple[int, int]], *, limit: int = 500) -> list[EventRow]:
    """Events whose ids lie in any of the inclusive ``ranges``, oldest first (late arrivals in skipped gaps)."""
    if not ranges:
        return []
    where = or_(*(events.c.id.between(low, high) for low, high in ranges))
    return [
        EventRow(row) for row in conn.execute(select(events).where(where).order_by(events.c.id).limit(limit))
    ]
