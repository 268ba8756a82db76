"""Pods (tenants): create, read, list and delete; every engine has one default pod."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Connection, delete, exists, insert, select

from .._clock import to_datetime
from ..errors import ConflictError, NotFoundError
from ..models import ListPodsResponse, Pod
from . import lists
from .pagination import fetch_page
from .scopes import Scope
from .tables import domains, inboxes, pods

__all__ = ["create_pod", "default_pod_id", "delete_pod", "get_pod", "list_pods"]

DEFAULT_POD_NAME = "Default Pod"


def _pod(row: Any) -> Pod:
    return Pod(
        pod_id=row.pod_id,
        name=row.name,
        client_id=row.client_id,
        created_at=to_datetime(row.created_at),
        updated_at=to_datetime(row.updated_at),
    )


def default_pod_id(conn: Connection, now: int) -> str:
    """The default pod's id, creating the pod the first time."""
    pod_id = conn.execute(select(pods.c.pod_id).where(pods.c.is_default.is_(True))).scalar()
    if pod_id is None:
        pod_id = str(uuid.uuid4())
        conn.execute(
            insert(pods).values(
                pod_id=pod_id, name=DEFAULT_POD_NAME, is_default=True, created_at=now, updated_at=now
            )
        )
    return pod_id


def create_pod(conn: Connection, *, name: str | None, client_id: str | None, now: int) -> Pod:
    """A new pod, or the existing one created with the same ``client_id``."""
    if client_id is not None:
        row = conn.execute(select(pods).where(pods.c.client_id == client_id)).first()
        if row is not None:
            return _pod(row)
    pod_id = str(uuid.uuid4())
    conn.execute(
        insert(pods).values(
            pod_id=pod_id,
            name=name or "Pod",
            client_id=client_id,
            is_default=False,
            created_at=now,
            updated_at=now,
        )
    )
    return get_pod(conn, pod_id)


def get_pod(conn: Connection, pod_id: str) -> Pod:
    row = conn.execute(select(pods).where(pods.c.pod_id == pod_id)).first()
    if row is None:
        raise NotFoundError(f"pod {pod_id!r} does not exist")
    return _pod(row)


def require_pod(conn: Connection, pod_id: str) -> None:
    """Raise NotFoundError unless the pod exists."""
    if conn.execute(select(pods.c.pod_id).where(pods.c.pod_id == pod_id)).first() is None:
        raise NotFoundError(f"pod {pod_id!r} does not exist")


def list_pods(conn: Connection, *, limit: int, page_token: str | None, ascending: bool) -> ListPodsResponse:
    order = (pods.c.created_at, pods.c.pod_id)
    rows, token = fetch_page(
        conn, select(pods), order, kind="pods", ascending=ascending, limit=limit, page_token=page_token
    )
    return ListPodsResponse(count=len(rows), limit=limit, next_page_token=token, pods=[_pod(r) for r in rows])


def delete_pod(conn: Connection, pod_id: str) -> None:
    """Delete an empty pod; a pod that still has inboxes or domains, or the default pod, cannot be deleted."""
    row = conn.execute(select(pods.c.is_default).where(pods.c.pod_id == pod_id)).first()
    if row is None:
        raise NotFoundError(f"pod {pod_id!r} does not exist")
    if row.is_default:
        raise ConflictError("the default pod cannot be deleted", code="cannot_delete")
    if conn.execute(select(exists().where(inboxes.c.pod_id == pod_id))).scalar():
        raise ConflictError(f"pod {pod_id!r} still has inboxes; delete them first", code="cannot_delete")
    if conn.execute(select(exists().where(domains.c.pod_id == pod_id))).scalar():
        raise ConflictError(f"pod {pod_id!r} still has domains; delete them first", code="cannot_delete")
    lists.drop_scope(conn, Scope(pod_id=pod_id))
    conn.execute(delete(pods).where(pods.c.pod_id == pod_id))
