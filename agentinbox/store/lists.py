"""Allow/block lists (reference §7): entries, and the verdict they give an address.

Six lists (``send``/``receive``/``reply`` × ``allow``/``block``) exist at three scopes: the organization, a
pod, an inbox. An entry is a whole address or a domain; a domain entry matches addresses at exactly that
domain (the reference does not extend it to subdomains, so neither does this). For one address the most
specific scope with a matching entry decides (inbox, then pod, then organization); within a scope an address
entry outranks a domain entry, and block outranks allow. An address no entry matches is refused when any of
the three scopes has a non-empty allow list for the direction ("only these"), and let through otherwise.
"""

from __future__ import annotations

from typing import Any, Literal

from sqlalchemy import Connection, and_, delete, exists, insert, or_, select

from .._clock import to_datetime
from ..errors import NotFoundError
from ..models import ListEntry, ListListEntriesResponse, PodListEntry, PodListListEntriesResponse
from .pagination import fetch_page
from .scopes import Scope
from .tables import list_entries, messages

__all__ = [
    "DIRECTIONS",
    "LIST_TYPES",
    "ORGANIZATION_ID",
    "Verdict",
    "create_entry",
    "decide",
    "delete_entry",
    "drop_scope",
    "get_entry",
    "is_reply_to_sent",
    "list_entries_page",
    "match",
]

DIRECTIONS = ("send", "receive", "reply")
LIST_TYPES = ("allow", "block")
#: The engine serves one organization; its entries carry this id.
ORGANIZATION_ID = "default"

Verdict = Literal["allow", "block"]
_MAX_ENTRY = 320  # the entry column's length; no stored entry is longer


def _scope_key(scope: Scope) -> str:
    if scope.inbox_id is not None:
        return f"inbox:{scope.inbox_id}"
    if scope.pod_id is not None:
        return f"pod:{scope.pod_id}"
    return "org"


def _model(row: Any, scope: Scope) -> ListEntry:
    fields: dict[str, Any] = {
        "entry": row.entry,
        "organization_id": ORGANIZATION_ID,
        "reason": row.reason,
        "direction": row.direction,
        "list_type": row.list_type,
        "entry_type": row.entry_type,
        "created_at": to_datetime(row.created_at),
    }
    if scope.inbox_id is None and scope.pod_id is None:
        return ListEntry(**fields)
    return PodListEntry(**fields, pod_id=row.pod_id, inbox_id=row.inbox_id)


def _row(conn: Connection, scope: Scope, direction: str, list_type: str, entry: str) -> Any:
    return conn.execute(
        select(list_entries).where(
            list_entries.c.scope == _scope_key(scope),
            list_entries.c.direction == direction,
            list_entries.c.list_type == list_type,
            list_entries.c.entry == entry,
        )
    ).first()


def create_entry(
    conn: Connection,
    scope: Scope,
    *,
    pod_id: str | None,
    direction: str,
    list_type: str,
    entry: str,
    entry_type: str,
    reason: str | None,
    now: int,
) -> ListEntry:
    """Add ``entry`` (already validated and lower-cased) to a list; adding it again returns the first one.

    ``pod_id`` is the pod of a pod- or inbox-scoped entry (for an inbox, the inbox's pod).
    """
    existing = _row(conn, scope, direction, list_type, entry)
    if existing is None:
        conn.execute(
            insert(list_entries).values(
                scope=_scope_key(scope),
                pod_id=pod_id,
                inbox_id=scope.inbox_id,
                direction=direction,
                list_type=list_type,
                entry=entry,
                entry_type=entry_type,
                reason=reason,
                created_at=now,
            )
        )
        existing = _row(conn, scope, direction, list_type, entry)
    return _model(existing, scope)


def get_entry(conn: Connection, scope: Scope, direction: str, list_type: str, entry: str) -> ListEntry:
    row = _row(conn, scope, direction, list_type, entry)
    if row is None:
        where = "" if scope.name == "org" else f" of this {scope.name}"
        raise NotFoundError(f"{entry!r} is not on the {direction} {list_type} list{where}")
    return _model(row, scope)


def delete_entry(conn: Connection, scope: Scope, direction: str, list_type: str, entry: str) -> None:
    get_entry(conn, scope, direction, list_type, entry)
    conn.execute(
        delete(list_entries).where(
            list_entries.c.scope == _scope_key(scope),
            list_entries.c.direction == direction,
            list_entries.c.list_type == list_type,
            list_entries.c.entry == entry,
        )
    )


def list_entries_page(
    conn: Connection,
    scope: Scope,
    direction: str,
    list_type: str,
    *,
    limit: int,
    page_token: str | None,
) -> ListListEntriesResponse | PodListListEntriesResponse:
    """One page of a list, ordered by entry ascending."""
    query = select(list_entries).where(
        list_entries.c.scope == _scope_key(scope),
        list_entries.c.direction == direction,
        list_entries.c.list_type == list_type,
    )
    rows, token = fetch_page(
        conn,
        query,
        (list_entries.c.entry,),
        kind=f"lists:{direction}:{list_type}",
        ascending=True,
        limit=limit,
        page_token=page_token,
    )
    if scope.inbox_id is None and scope.pod_id is None:
        return ListListEntriesResponse(
            count=len(rows), limit=limit, next_page_token=token, entries=[_model(r, scope) for r in rows]
        )
    entries = [_model(r, scope) for r in rows]
    return PodListListEntriesResponse(
        count=len(rows),
        limit=limit,
        next_page_token=token,
        entries=[e for e in entries if isinstance(e, PodListEntry)],
    )


def drop_scope(conn: Connection, scope: Scope) -> None:
    """Delete every entry of a pod or inbox being deleted, so an inbox created again at the same address
    does not inherit its predecessor's lists."""
    conn.execute(delete(list_entries).where(list_entries.c.scope == _scope_key(scope)))


def _scopes(inbox_id: str, pod_id: str) -> list[str]:
    """The scope keys that apply to an inbox, most specific first."""
    return [f"inbox:{inbox_id}", f"pod:{pod_id}", "org"]


def _matchable(address: str) -> bool:
    """Whether any entry could name ``address``: senders come from untrusted mail, and one holding NUL or
    an unencodable character (PostgreSQL refuses both) or longer than any entry matches nothing."""
    if "@" not in address or "\x00" in address or len(address) > _MAX_ENTRY:
        return False
    try:
        address.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def match(conn: Connection, direction: str, *, inbox_id: str, pod_id: str, address: str) -> Verdict | None:
    """The verdict of the entries that match ``address`` (its most specific scope, address entries before
    domain entries, block before allow), or None when no entry of the direction matches it."""
    address = address.strip().lower()
    if not _matchable(address):
        return None
    domain = address.rpartition("@")[2]
    scopes = _scopes(inbox_id, pod_id)
    rows = conn.execute(
        select(list_entries.c.scope, list_entries.c.list_type, list_entries.c.entry_type).where(
            list_entries.c.direction == direction,
            list_entries.c.scope.in_(scopes),
            or_(
                and_(list_entries.c.entry_type == "email", list_entries.c.entry == address),
                and_(list_entries.c.entry_type == "domain", list_entries.c.entry == domain),
            ),
        )
    ).all()
    if not rows:
        return None
    best = min(
        rows,
        key=lambda r: (scopes.index(r.scope), r.entry_type != "email", r.list_type != "block"),
    )
    return "block" if best.list_type == "block" else "allow"


def decide(conn: Connection, direction: str, *, inbox_id: str, pod_id: str, address: str) -> Verdict | None:
    """Whether the ``direction`` lists that apply to the inbox let ``address`` through.

    "allow" or "block" when an entry matches (see ``match``); "block" when none matches but an allow list
    of the direction is non-empty at one of the scopes; None when the lists say nothing about it.
    """
    verdict = match(conn, direction, inbox_id=inbox_id, pod_id=pod_id, address=address)
    if verdict is not None:
        return verdict
    allow_lists = exists().where(
        list_entries.c.direction == direction,
        list_entries.c.list_type == "allow",
        list_entries.c.scope.in_(_scopes(inbox_id, pod_id)),
    )
    return "block" if conn.execute(select(allow_lists)).scalar() else None


def is_reply_to_sent(conn: Connection, inbox_id: str, in_reply_to: str | None) -> bool:
    """Whether ``in_reply_to`` names a message this inbox sent: mail answering our own, checked only
    against the reply lists."""
    if not in_reply_to:
        return False
    sent = exists().where(
        messages.c.inbox_id == inbox_id,
        messages.c.message_id == in_reply_to,
        messages.c.direction == "sent",
    )
    return bool(conn.execute(select(sent)).scalar())
