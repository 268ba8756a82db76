"""Webhooks: the endpoints (create, list, read, update, delete), the fan-out of each appended event to the
endpoints it matches, and the delivery queue dispatchers claim from.

A delivery row is written in the transaction that appends its event, so it exists exactly when the event
commits; an endpoint created later gets only later events, and a disabled one gets none. Delivery states:
``pending`` (due at ``next_attempt_at``), ``sending`` (claimed until ``lease_until``; ``next_attempt_at``
is moved there too, so a claim whose dispatcher died is due again when it expires), ``succeeded`` and
``failed`` (final). On PostgreSQL claims skip rows other processes hold, so each attempt is made once.
"""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, bindparam, delete, exists, func, insert, select, update

from .._clock import to_datetime
from ..errors import ConflictError, NotFoundError, ValidationError
from ..models import ListWebhooksResponse, Webhook
from . import inboxes, pods
from .pagination import fetch_page
from .scopes import Scope
from .tables import events, webhook_attempts, webhook_deliveries, webhooks

__all__ = [
    "MAX_CHANNELS",
    "Claimed",
    "attempts_of",
    "claim",
    "create_webhook",
    "delete_webhook",
    "deliveries_of",
    "dispatch_state",
    "get_webhook",
    "list_webhooks",
    "queue_deliveries",
    "record_attempt",
    "targets",
    "update_webhook",
]

#: At most this many pod ids and this many inbox ids per webhook (reference §9.1).
MAX_CHANNELS = 10
WAITING = ("pending", "sending")
_ERROR_LENGTH = 2000

_ENABLED = select(
    webhooks.c.webhook_id,
    webhooks.c.event_types,
    webhooks.c.pod_ids,
    webhooks.c.inbox_ids,
    webhooks.c.pod_id,
    webhooks.c.inbox_id,
).where(webhooks.c.enabled.is_(True))
_INSERT_DELIVERY = insert(webhook_deliveries)


def _webhook(row: Any) -> Webhook:
    return Webhook(
        webhook_id=row.webhook_id,
        url=row.url,
        event_types=row.event_types,
        pod_ids=row.pod_ids,
        inbox_ids=row.inbox_ids,
        pod_id=row.pod_id,
        inbox_id=row.inbox_id,
        secret=row.secret,
        enabled=row.enabled,
        client_id=row.client_id,
        created_at=to_datetime(row.created_at),
        updated_at=to_datetime(row.updated_at),
    )


def _check_channels(
    conn: Connection, *, pod_ids: Sequence[str], inbox_ids: Sequence[str], owner_pod: str | None
) -> None:
    """Every listed pod and inbox exists (and, for a pod's webhook, the inboxes are that pod's)."""
    for pod_id in pod_ids:
        pods.require_pod(conn, pod_id)
    for inbox_id in inbox_ids:
        inboxes.get_inbox(conn, inbox_id, pod_id=owner_pod)


def _capped(values: list[str], name: str) -> list[str] | None:
    if len(values) > MAX_CHANNELS:
        raise ValidationError(f"a webhook takes at most {MAX_CHANNELS} {name}", path=[name])
    return values or None


def create_webhook(
    conn: Connection,
    *,
    url: str,
    event_types: list[str],
    pod_ids: list[str],
    inbox_ids: list[str],
    owner_pod_id: str | None,
    owner_inbox_id: str | None,
    client_id: str | None,
    headers: dict[str, str] | None,
    secret: str,
    now: int,
) -> Webhook:
    """Store a webhook (owned by the organization, a pod or an inbox); the same ``client_id`` with the same
    request returns the webhook it created, with another request it is a ConflictError."""
    pod_id = owner_pod_id
    if owner_inbox_id is not None:
        pod_id = inboxes.get_inbox(conn, owner_inbox_id).pod_id
    elif owner_pod_id is not None:
        pods.require_pod(conn, owner_pod_id)
    _check_channels(conn, pod_ids=pod_ids, inbox_ids=inbox_ids, owner_pod=owner_pod_id)
    values: dict[str, Any] = {
        "url": url,
        "event_types": event_types,
        "pod_ids": _capped(pod_ids, "pod_ids"),
        "inbox_ids": _capped(inbox_ids, "inbox_ids"),
        "pod_id": pod_id,
        "inbox_id": owner_inbox_id,
        "headers": headers or None,
    }
    if client_id is not None:
        row = conn.execute(select(webhooks).where(webhooks.c.client_id == client_id)).first()
        if row is not None:
            if any(getattr(row, name) != value for name, value in values.items()):
                raise ConflictError(
                    f"client_id {client_id!r} already created a different webhook ({row.webhook_id})"
                )
            return _webhook(row)
    webhook_id = "ep_" + secrets.token_hex(12)
    conn.execute(
        insert(webhooks).values(
            webhook_id=webhook_id,
            secret=secret,
            enabled=True,
            failures=0,
            client_id=client_id,
            created_at=now,
            updated_at=now,
            **values,
        )
    )
    return get_webhook(conn, webhook_id)


def _row(conn: Connection, webhook_id: str, scope: Scope) -> Any:
    row = conn.execute(
        select(webhooks).where(webhooks.c.webhook_id == webhook_id, scope.where(webhooks))
    ).first()
    if row is None:
        where = "" if scope.name == "org" else f" in this {scope.name}"
        raise NotFoundError(f"webhook {webhook_id!r} does not exist{where}")
    return row


def get_webhook(conn: Connection, webhook_id: str, *, scope: Scope | None = None) -> Webhook:
    return _webhook(_row(conn, webhook_id, scope or Scope()))


def list_webhooks(
    conn: Connection, scope: Scope, *, limit: int, page_token: str | None, ascending: bool
) -> ListWebhooksResponse:
    """Webhooks within ``scope``, newest first (a pod's include those of its inboxes)."""
    rows, token = fetch_page(
        conn,
        select(webhooks).where(scope.where(webhooks)),
        (webhooks.c.created_at, webhooks.c.webhook_id),
        kind="webhooks",
        ascending=ascending,
        limit=limit,
        page_token=page_token,
    )
    return ListWebhooksResponse(
        count=len(rows), limit=limit, next_page_token=token, webhooks=[_webhook(r) for r in rows]
    )


def _edited(
    current: list[str] | None, add: Sequence[str], remove: Sequence[str], name: str
) -> list[str] | None:
    kept = [value for value in current or [] if value not in remove]
    return _capped(kept + [value for value in dict.fromkeys(add) if value not in kept], name)


def update_webhook(
    conn: Connection,
    webhook_id: str,
    *,
    scope: Scope,
    add_pod_ids: Sequence[str] = (),
    remove_pod_ids: Sequence[str] = (),
    add_inbox_ids: Sequence[str] = (),
    remove_inbox_ids: Sequence[str] = (),
    event_types: list[str] | None = None,
    enabled: bool | None = None,
    now: int,
) -> Webhook:
    """Change channels, replace event types, or enable/disable; enabling resets the failure count, and
    disabling fails what was waiting (events of a disabled period are never delivered)."""
    row = _row(conn, webhook_id, scope)
    owner_pod = row.pod_id if row.inbox_id is None else None
    _check_channels(conn, pod_ids=add_pod_ids, inbox_ids=add_inbox_ids, owner_pod=owner_pod)
    values: dict[str, Any] = {"updated_at": now}
    if add_pod_ids or remove_pod_ids:
        values["pod_ids"] = _edited(row.pod_ids, add_pod_ids, remove_pod_ids, "pod_ids")
    if add_inbox_ids or remove_inbox_ids:
        values["inbox_ids"] = _edited(row.inbox_ids, add_inbox_ids, remove_inbox_ids, "inbox_ids")
    if event_types:
        values["event_types"] = event_types
    if enabled is True:
        values.update(enabled=True, failures=0)
    conn.execute(update(webhooks).where(webhooks.c.webhook_id == webhook_id).values(**values))
    if enabled is False and row.enabled:
        _disable(conn, webhook_id, now=now, reason="webhook disabled")
    return get_webhook(conn, webhook_id)


def delete_webhook(conn: Connection, webhook_id: str, *, scope: Scope) -> None:
    """Delete a webhook with its deliveries and their attempts; nothing more is sent to it."""
    _row(conn, webhook_id, scope)
    delivery_ids = select(webhook_deliveries.c.id).where(webhook_deliveries.c.webhook_id == webhook_id)
    conn.execute(delete(webhook_attempts).where(webhook_attempts.c.delivery_id.in_(delivery_ids)))
    conn.execute(delete(webhook_deliveries).where(webhook_deliveries.c.webhook_id == webhook_id))
    conn.execute(delete(webhooks).where(webhooks.c.webhook_id == webhook_id))


def _disable(conn: Connection, webhook_id: str, *, now: int, reason: str) -> None:
    conn.execute(
        update(webhooks).where(webhooks.c.webhook_id == webhook_id).values(enabled=False, updated_at=now)
    )
    conn.execute(
        update(webhook_deliveries)
        .where(webhook_deliveries.c.webhook_id == webhook_id, webhook_deliveries.c.status.in_(WAITING))
        .values(status="failed", last_error=reason, lease_until=None, updated_at=now)
    )


# -- fan-out (in the transaction that appends the event) -----------------------------------------------


def targets(conn: Connection, *, event_type: str, pod_id: str | None, inbox_id: str | None) -> list[str]:
    """The enabled webhooks an event of this type, pod and inbox goes to (one query; matched here)."""
    found = []
    for hook in conn.execute(_ENABLED):
        if hook.event_types is not None and event_type not in hook.event_types:
            continue
        if hook.inbox_id is not None:  # owned by an inbox: that inbox's events only
            if inbox_id != hook.inbox_id:
                continue
        elif hook.pod_id is not None:  # owned by a pod: its events, narrowed to the listed inboxes
            if pod_id != hook.pod_id or (hook.inbox_ids and inbox_id not in hook.inbox_ids):
                continue
        elif (hook.pod_ids or hook.inbox_ids) and not (
            (hook.pod_ids and pod_id in hook.pod_ids) or (hook.inbox_ids and inbox_id in hook.inbox_ids)
        ):
            continue
        found.append(hook.webhook_id)
    return found


def queue_deliveries(conn: Connection, event_pk: int, webhook_ids: Sequence[str], *, now: int) -> None:
    """One pending delivery of the event per webhook, due now."""
    conn.execute(
        _INSERT_DELIVERY,
        [
            {
                "webhook_id": webhook_id,
                "event_pk": event_pk,
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
                "updated_at": now,
            }
            for webhook_id in webhook_ids
        ],
    )


# -- the dispatcher's queue ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Claimed:
    """A claimed delivery with what the call needs: the endpoint and the event (a row ``event_object`` reads)."""

    id: int
    attempts: int
    webhook_id: str
    url: str
    secret: str
    headers: dict[str, str] | None
    event_id: str
    event_type: str
    payload: dict[str, Any]


def claim(
    conn: Connection,
    *,
    now: int,
    lease_until: int,
    limit: int,
    per_webhook: int | None = None,
    in_flight: Mapping[str, int] | None = None,
) -> list[Claimed]:
    """Claim up to ``limit`` due deliveries (oldest due first) until ``lease_until``; with ``per_webhook``,
    at most that many per webhook counting the caller's ``in_flight`` calls, so one slow target cannot take
    every slot."""
    d = webhook_deliveries
    busy = in_flight or {}
    full = [hook for hook, count in busy.items() if per_webhook is not None and count >= per_webhook]
    due = (
        select(d.c.id, d.c.webhook_id)
        .where(d.c.status.in_(WAITING), d.c.next_attempt_at <= now)
        .order_by(d.c.next_attempt_at, d.c.id)
        .limit(limit if per_webhook is None else limit * 4)
    )
    if full:
        due = due.where(d.c.webhook_id.not_in(full))
    if conn.dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    ids: list[int] = []
    taken = Counter(busy)
    for row in conn.execute(due):
        if per_webhook is not None and taken[row.webhook_id] >= per_webhook:
            continue
        taken[row.webhook_id] += 1
        ids.append(row.id)
        if len(ids) == limit:
            break
    if not ids:
        return []
    conn.execute(
        update(d)
        .where(d.c.id.in_(ids))
        .values(status="sending", lease_until=lease_until, next_attempt_at=lease_until, updated_at=now)
    )
    rows = conn.execute(
        select(
            d.c.id,
            d.c.attempts,
            d.c.webhook_id,
            webhooks.c.url,
            webhooks.c.secret,
            webhooks.c.headers,
            events.c.event_id,
            events.c.event_type,
            events.c.payload,
        )
        .join(webhooks, webhooks.c.webhook_id == d.c.webhook_id)
        .join(events, events.c.id == d.c.event_pk)
        .where(d.c.id.in_(ids))
        .order_by(d.c.id)
    )
    return [Claimed(**row._mapping) for row in rows]


def record_attempt(
    conn: Connection,
    delivery_id: int,
    webhook_id: str,
    *,
    attempted_at: int,
    duration_ms: int,
    status_code: int | None,
    error: str | None,
    retry_at: int | None,
    disable_after: int,
    now: int,
) -> None:
    """Record one call: ``error`` None means it succeeded; otherwise it is retried at ``retry_at`` (None:
    given up). A failure counts towards disabling the webhook after ``disable_after`` in a row; a success
    resets the count. A delivery deleted meanwhile (with its webhook) is left alone."""
    d = webhook_deliveries
    if error is None:
        values: dict[str, Any] = {"status": "succeeded", "last_error": None}
    elif retry_at is None:
        values = {"status": "failed", "last_error": error[:_ERROR_LENGTH]}
    else:
        values = {"status": "pending", "next_attempt_at": retry_at, "last_error": error[:_ERROR_LENGTH]}
    updated = conn.execute(
        update(d)
        .where(d.c.id == delivery_id, d.c.status == "sending")
        .values(attempts=d.c.attempts + 1, lease_until=None, updated_at=now, **values)
    )
    if not updated.rowcount and not conn.execute(select(exists().where(d.c.id == delivery_id))).scalar():
        return
    conn.execute(
        insert(webhook_attempts).values(
            delivery_id=delivery_id,
            attempted_at=attempted_at,
            status_code=status_code,
            error=None if error is None else error[:_ERROR_LENGTH],
            duration_ms=duration_ms,
        )
    )
    hook = webhooks.c
    if error is None:
        conn.execute(
            update(webhooks).where(hook.webhook_id == webhook_id, hook.failures != 0).values(failures=0)
        )
        return
    conn.execute(update(webhooks).where(hook.webhook_id == webhook_id).values(failures=hook.failures + 1))
    failures = conn.execute(select(hook.failures, hook.enabled).where(hook.webhook_id == webhook_id)).first()
    if failures is not None and failures.enabled and failures.failures >= disable_after:
        _disable(conn, webhook_id, now=now, reason=f"webhook disabled after {failures.failures} failed calls")


def dispatch_state(conn: Connection) -> tuple[bool, int | None]:
    """Whether any webhook is enabled, and when the next waiting delivery falls due (None: none waits)."""
    enabled = bool(conn.execute(select(exists().where(webhooks.c.enabled.is_(True)))).scalar())
    due = conn.execute(
        select(func.min(webhook_deliveries.c.next_attempt_at)).where(webhook_deliveries.c.status.in_(WAITING))
    ).scalar()
    return enabled, None if due is None else int(due)


def deliveries_of(conn: Connection, webhook_id: str) -> list[Any]:
    """A webhook's delivery rows with their event ids, oldest first (for inspection and tests)."""
    d = webhook_deliveries
    return list(
        conn.execute(
            select(d, events.c.event_id, events.c.event_type)
            .join(events, events.c.id == d.c.event_pk)
            .where(d.c.webhook_id == bindparam("wid"))
            .order_by(d.c.id),
            {"wid": webhook_id},
        )
    )


def attempts_of(conn: Connection, delivery_id: int) -> list[Any]:
    """A delivery's attempts, oldest first."""
    return list(
        conn.execute(
            select(webhook_attempts)
            .where(webhook_attempts.c.delivery_id == delivery_id)
            .order_by(webhook_attempts.c.id)
        )
    )
