"""Custom domains and their DKIM keys: rows in ``domains`` and ``domain_keys``.

A domain's ``records`` column holds the DNS records it needs, with the status each had when last checked;
the caller computes them (security/dns_records.py) whenever the flags or keys change, so this module knows
nothing of DNS. Exactly one key per domain is active (it signs); retired keys stay until removed, so that
mail signed with them still verifies while their records are published.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, delete, insert, select, update

from .._clock import to_datetime
from ..errors import NotFoundError, UnprocessableError
from ..models import Domain, DomainItem, ListDomainsResponse, VerificationRecord
from .pagination import fetch_page
from .tables import domain_keys, domains

__all__ = [
    "DomainKey",
    "add_key",
    "create_domain",
    "delete_domain",
    "delete_key",
    "domain_by_client_id",
    "domain_exists",
    "domain_keys_of",
    "domain_names",
    "get_domain",
    "list_domains",
    "require_new_domain",
    "save_domain",
    "signing_key",
    "warmup_start",
]


@dataclass(frozen=True, slots=True)
class DomainKey:
    """One DKIM key of a domain (the private key is read only by ``signing_key``)."""

    selector: str
    public_key_pem: str
    active: bool
    created_at: int


def _records(row: Any) -> list[VerificationRecord]:
    return [VerificationRecord.model_validate(r) for r in row.records or []]


def _flags(row: Any) -> dict[str, Any]:
    return {
        "pod_id": row.pod_id,
        "domain_id": row.domain_id,
        "domain": row.domain_id,
        "feedback_enabled": row.feedback_enabled,
        "inbound_enabled": row.inbound_enabled,
        "subdomains_enabled": row.subdomains_enabled,
        "tracking_enabled": row.tracking_enabled,
        "client_id": row.client_id,
        "updated_at": to_datetime(row.updated_at),
        "created_at": to_datetime(row.created_at),
    }


def _domain(row: Any) -> Domain:
    return Domain(**_flags(row), status=row.status, reason=row.reason, records=_records(row))


def _dump(records: list[VerificationRecord]) -> list[dict[str, Any]]:
    return [r.model_dump(mode="json", exclude_none=True) for r in records]


def domain_by_client_id(conn: Connection, client_id: str, *, pod_id: str | None = None) -> Domain | None:
    """The domain created with ``client_id`` for pod ``pod_id`` (None: the organization), if any.

    ``client_id`` is unique across the engine, so one already used by another pod's domain (or the
    organization's) is an UnprocessableError (``already_exists``) rather than that other domain.
    """
    row = conn.execute(select(domains).where(domains.c.client_id == client_id)).first()
    if row is None:
        return None
    if row.pod_id != pod_id:
        owner = "the organization" if row.pod_id is None else "another pod"
        raise UnprocessableError(
            f"client_id {client_id!r} already names a domain of {owner}; use another client_id",
            code="already_exists",
        )
    return _domain(row)


def domain_exists(conn: Connection, domain_id: str) -> bool:
    """Whether ``domain_id`` (a lower-cased domain name) is one of our custom domains."""
    query = select(domains.c.domain_id).where(domains.c.domain_id == domain_id)
    return conn.execute(query).first() is not None


def require_new_domain(conn: Connection, domain_id: str) -> None:
    """Raise UnprocessableError (``already_exists``) if the domain is registered already."""
    if domain_exists(conn, domain_id):
        raise UnprocessableError(f"the domain {domain_id} is already registered", code="already_exists")


def create_domain(
    conn: Connection,
    *,
    domain_id: str,
    pod_id: str | None,
    client_id: str | None,
    feedback_enabled: bool,
    inbound_enabled: bool,
    subdomains_enabled: bool,
    tracking_enabled: bool,
    selector: str,
    private_key_pem: str,
    public_key_pem: str,
    records: list[VerificationRecord],
    now: int,
) -> Domain:
    """A new domain with its first (active) DKIM key, or the one created earlier with the same ``client_id``."""
    if client_id is not None:
        existing = domain_by_client_id(conn, client_id, pod_id=pod_id)
        if existing is not None:
            return existing
    require_new_domain(conn, domain_id)
    conn.execute(
        insert(domains).values(
            domain_id=domain_id,
            pod_id=pod_id,
            client_id=client_id,
            status="NOT_STARTED",
            reason=None,
            feedback_enabled=feedback_enabled,
            inbound_enabled=inbound_enabled,
            subdomains_enabled=subdomains_enabled,
            tracking_enabled=tracking_enabled,
            records=_dump(records),
            created_at=now,
            updated_at=now,
        )
    )
    add_key(
        conn,
        domain_id,
        selector=selector,
        private_key_pem=private_key_pem,
        public_key_pem=public_key_pem,
        now=now,
    )
    return get_domain(conn, domain_id)


def domain_names(conn: Connection) -> set[str]:
    """The names of every custom domain, verified or not (mail claiming them must authenticate)."""
    return {row.domain_id for row in conn.execute(select(domains.c.domain_id))}


def _owned(domain_id: str, pod_id: str | None) -> ColumnElement[bool]:
    """The row of ``domain_id``; with ``pod_id``, only when that pod owns it."""
    clause = domains.c.domain_id == domain_id
    return clause if pod_id is None else and_(clause, domains.c.pod_id == pod_id)


def get_domain(conn: Connection, domain_id: str, *, pod_id: str | None = None) -> Domain:
    """The domain; with ``pod_id``, a domain that pod does not own is a NotFoundError like an unknown one."""
    row = conn.execute(select(domains).where(_owned(domain_id, pod_id))).first()
    if row is None:
        raise NotFoundError(f"domain {domain_id!r} does not exist")
    return _domain(row)


def list_domains(
    conn: Connection, *, limit: int, page_token: str | None, ascending: bool, pod_id: str | None = None
) -> ListDomainsResponse:
    """Domains, newest first (keyset pages over ``created_at``, ``domain_id``); with ``pod_id``, only the
    ones that pod owns."""
    order = (domains.c.created_at, domains.c.domain_id)
    query = select(domains) if pod_id is None else select(domains).where(domains.c.pod_id == pod_id)
    rows, token = fetch_page(
        conn, query, order, kind="domains", ascending=ascending, limit=limit, page_token=page_token
    )
    return ListDomainsResponse(
        count=len(rows),
        limit=limit,
        next_page_token=token,
        domains=[DomainItem(**_flags(r)) for r in rows],
    )


def save_domain(
    conn: Connection,
    domain_id: str,
    *,
    status: str,
    reason: str | None,
    records: list[VerificationRecord],
    now: int,
    **flags: bool,
) -> Domain:
    """Store a domain's new status, records and any of its ``*_enabled`` flags."""
    values: dict[str, Any] = {
        "status": status,
        "reason": reason,
        "records": _dump(records),
        "updated_at": now,
        **flags,
    }
    result = conn.execute(update(domains).where(domains.c.domain_id == domain_id).values(**values))
    if result.rowcount == 0:
        raise NotFoundError(f"domain {domain_id!r} does not exist")
    if status == "VERIFIED":
        conn.execute(
            update(domains)
            .where(domains.c.domain_id == domain_id, domains.c.verified_at.is_(None))
            .values(verified_at=now)
        )
    return get_domain(conn, domain_id)


def warmup_start(conn: Connection, domain_id: str) -> int | None:
    """When the custom domain's sending warm-up began (first verified, else created), or None when
    ``domain_id`` is not a custom domain."""
    row = conn.execute(
        select(domains.c.verified_at, domains.c.created_at).where(domains.c.domain_id == domain_id)
    ).first()
    if row is None:
        return None
    return int(row.verified_at if row.verified_at is not None else row.created_at)


def delete_domain(conn: Connection, domain_id: str, *, pod_id: str | None = None) -> None:
    """Delete a domain and its keys (with ``pod_id``, only one that pod owns); its inboxes stay, and their
    mail is no longer signed."""
    if conn.execute(select(domains.c.domain_id).where(_owned(domain_id, pod_id))).first() is None:
        raise NotFoundError(f"domain {domain_id!r} does not exist")
    conn.execute(delete(domain_keys).where(domain_keys.c.domain_id == domain_id))
    conn.execute(delete(domains).where(domains.c.domain_id == domain_id))


def domain_keys_of(conn: Connection, domain_id: str) -> list[DomainKey]:
    """The domain's DKIM keys, oldest first."""
    query = (
        select(
            domain_keys.c.selector, domain_keys.c.public_key, domain_keys.c.active, domain_keys.c.created_at
        )
        .where(domain_keys.c.domain_id == domain_id)
        .order_by(domain_keys.c.created_at, domain_keys.c.id)
    )
    return [DomainKey(r.selector, r.public_key, r.active, r.created_at) for r in conn.execute(query)]


def add_key(
    conn: Connection, domain_id: str, *, selector: str, private_key_pem: str, public_key_pem: str, now: int
) -> None:
    """Make a new key the domain's active one; the previous keys are kept, retired."""
    if any(k.selector == selector for k in domain_keys_of(conn, domain_id)):
        raise UnprocessableError(f"the domain {domain_id} already has a key with selector {selector!r}")
    conn.execute(update(domain_keys).where(domain_keys.c.domain_id == domain_id).values(active=False))
    conn.execute(
        insert(domain_keys).values(
            domain_id=domain_id,
            selector=selector,
            private_key=private_key_pem,
            public_key=public_key_pem,
            active=True,
            created_at=now,
        )
    )


def delete_key(conn: Connection, domain_id: str, selector: str) -> None:
    """Remove a retired key; the active key cannot be removed (rotate first)."""
    row = conn.execute(
        select(domain_keys.c.active).where(
            domain_keys.c.domain_id == domain_id, domain_keys.c.selector == selector
        )
    ).first()
    if row is None:
        raise NotFoundError(f"domain {domain_id!r} has no DKIM key with selector {selector!r}")
    if row.active:
        raise UnprocessableError(
            f"selector {selector!r} is the active key of {domain_id}; rotate to a new key before removing it",
            code="cannot_delete",
        )
    conn.execute(
        delete(domain_keys).where(domain_keys.c.domain_id == domain_id, domain_keys.c.selector == selector)
    )


def signing_key(conn: Connection, domain: str) -> tuple[str, str] | None:
    """``(selector, private_key_pem)`` of the domain's active key, or None when it has none."""
    query = select(domain_keys.c.selector, domain_keys.c.private_key).where(
        domain_keys.c.domain_id == domain.lower(), domain_keys.c.active.is_(True)
    )
    row = conn.execute(query).first()
    return (row.selector, row.private_key) if row is not None else None
