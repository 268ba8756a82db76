"""Custom domains: registering one with its DKIM key, keeping its DNS records in step with its flags and
keys, and verifying those records through DNS.

The resources (``client.domains``, ``client.pods.domains``) check the arguments and call these flows, with
the pod a pod-scoped call names: a pod's domain is one it owns (``pod_id`` set), reached through that pod or
through the organization, and a domain not owned by the named pod reads as unknown. Domain names are unique
across the engine whichever pod owns them; the records themselves and how
DNS answers are judged belong to ``security.dns_records``, the keys to ``security.dkim``. A domain's status
changes only here, and entering ``VERIFIED`` writes the ``domain.verified`` event in the same transaction.
"""

from __future__ import annotations

import asyncio
import re

from sqlalchemy import Connection

from .._clock import to_datetime
from ..errors import AgentInboxError, ValidationError
from ..models import Domain, VerificationRecord
from ..security import dkim
from ..security.dns_records import (
    DNSCheckError,
    check_records,
    expected_records,
    merge_statuses,
    summarize,
    zone_file,
)
from ..smtp.mx import make_resolver
from ..store import domains, events, pods
from .context import Context

__all__ = [
    "create_domain",
    "delete_dkim_key",
    "delete_domain",
    "domain_zone_file",
    "rotate_dkim_key",
    "update_domain",
    "verify_domain",
]

_HOST_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


def _mail_host(ctx: Context) -> str:
    """The host name published as MX target and in SPF: the ``hostname`` setting, else ``default_domain``."""
    host = (ctx.settings.hostname or ctx.settings.default_domain).strip().lower().rstrip(".")
    labels = host.split(".")
    # A name, not an address: MX targets and SPF ``a:`` terms must be host names (RFC 7505, RFC 7208).
    if len(host) > 253 or not all(_HOST_LABEL.match(label) for label in labels) or labels[-1].isdigit():
        raise ValidationError(f"setting hostname {host!r} is not a valid host name", path=["hostname"])
    return host


def _find(conn: Connection, name: str, pod_id: str | None) -> Domain:
    """The domain ``name``; with ``pod_id``, after checking the pod exists, and only when it owns the domain
    (NotFoundError otherwise)."""
    if pod_id is not None:
        pods.require_pod(conn, pod_id)
    return domains.get_domain(conn, name, pod_id=pod_id)


def _records_for(
    ctx: Context, conn: Connection, domain_id: str, inbound: bool, subdomains: bool
) -> list[VerificationRecord]:
    """The records the domain needs now, from the settings, its flags and all its keys (each ``MISSING``)."""
    keys = [(k.selector, k.public_key_pem) for k in domains.domain_keys_of(conn, domain_id)]
    return expected_records(
        mail_host=_mail_host(ctx), keys=keys, inbound_enabled=inbound, subdomains_enabled=subdomains
    )


def _current_records(ctx: Context, conn: Connection, current: Domain) -> list[VerificationRecord]:
    """The records ``current`` needs with the flags it has stored."""
    return _records_for(
        ctx, conn, current.domain_id, bool(current.inbound_enabled), current.subdomains_enabled
    )


def _restate(conn: Connection, ctx: Context, current: Domain, **flags: bool) -> Domain:
    """Store a domain whose flags or keys changed: its records again, each keeping a status it had.

    A verified domain that now needs a record not yet seen in DNS goes back to ``PENDING``.
    """
    inbound = flags.get("inbound_enabled", bool(current.inbound_enabled))
    subdomains = flags.get("subdomains_enabled", current.subdomains_enabled)
    records = merge_statuses(_records_for(ctx, conn, current.domain_id, inbound, subdomains), current.records)
    return _save(conn, ctx, current, records, **flags)


def _save(
    conn: Connection,
    ctx: Context,
    current: Domain,
    records: list[VerificationRecord],
    *,
    checked: bool = False,
    **flags: bool,
) -> Domain:
    """Store the domain with ``records`` and the status they add up to; entering ``VERIFIED`` writes the
    ``domain.verified`` event in the same transaction. A domain never ``checked`` stays ``NOT_STARTED``."""
    unchecked = current.status == "NOT_STARTED" and not checked
    status, reason = ("NOT_STARTED", None) if unchecked else summarize(records)
    now = ctx.clock.now()
    saved = domains.save_domain(
        conn, current.domain_id, status=status, reason=reason, records=records, now=now, **flags
    )
    if saved.status == "VERIFIED" and current.status != "VERIFIED":
        events.append_event(
            conn,
            "domain.verified",
            now=now,
            pod_id=saved.pod_id,
            payload={"domain": saved.model_dump(mode="json", exclude_none=True)},
        )
    return saved


async def create_domain(
    ctx: Context, *, name: str, flags: dict[str, bool], client_id: str | None, pod_id: str | None = None
) -> Domain:
    """Register ``name`` with a new DKIM key and the records to publish (owned by pod ``pod_id`` when given),
    or return the domain the same ``client_id`` created before; a domain already registered, by any pod or
    the organization, is an UnprocessableError."""
    mail_host = _mail_host(ctx)

    def earlier(conn: Connection) -> Domain | None:
        # Answer unknown pods, repeats and duplicates before spending time on a key.
        if pod_id is not None:
            pods.require_pod(conn, pod_id)
        found = domains.domain_by_client_id(conn, client_id, pod_id=pod_id) if client_id is not None else None
        if found is None:
            domains.require_new_domain(conn, name)
        return found

    found = await ctx.db.read(earlier)
    if found is not None:
        return found
    key = await asyncio.to_thread(dkim.generate_key)
    now = ctx.clock.now()
    selector = dkim.new_selector(to_datetime(now))
    records = expected_records(
        mail_host=mail_host,
        keys=[(selector, key.public_key_pem)],
        inbound_enabled=flags["inbound_enabled"],
        subdomains_enabled=flags["subdomains_enabled"],
    )

    def run(conn: Connection) -> Domain:
        if pod_id is not None:
            pods.require_pod(conn, pod_id)  # the pod may have been deleted while the key was made
        return domains.create_domain(
            conn,
            domain_id=name,
            pod_id=pod_id,
            client_id=client_id,
            selector=selector,
            private_key_pem=key.private_key_pem,
            public_key_pem=key.public_key_pem,
            records=records,
            now=now,
            **flags,
        )

    return await ctx.db.write(run)


async def domain_zone_file(ctx: Context, *, name: str, pod_id: str | None = None) -> bytes:
    """The records the domain needs as a BIND zone file."""
    domain = await ctx.db.read(_find, name, pod_id)
    return zone_file(domain.domain_id, domain.records)


async def update_domain(
    ctx: Context, *, name: str, flags: dict[str, bool], pod_id: str | None = None
) -> Domain:
    """Change the given flags; the records follow ``inbound_enabled`` and ``subdomains_enabled``."""

    def run(conn: Connection) -> Domain:
        return _restate(conn, ctx, _find(conn, name, pod_id), **flags)

    return await ctx.db.write(run)


async def delete_domain(ctx: Context, *, name: str, pod_id: str | None = None) -> None:
    """Forget the domain and its keys; its inboxes stay, and their mail is no longer signed."""

    def run(conn: Connection) -> None:
        if pod_id is not None:
            pods.require_pod(conn, pod_id)
        domains.delete_domain(conn, name, pod_id=pod_id)

    await ctx.db.write(run)


async def verify_domain(ctx: Context, *, name: str, pod_id: str | None = None) -> Domain:
    """Check each record through DNS (the ``dns_resolver`` setting, else the system's resolver) and store
    the statuses found; when DNS cannot be asked at all they stay as they were and an AgentInboxError with
    code ``service_unavailable`` is raised."""
    mail_host = _mail_host(ctx)

    def expected(conn: Connection) -> list[VerificationRecord]:
        return _current_records(ctx, conn, _find(conn, name, pod_id))

    records = await ctx.db.read(expected)
    try:
        resolver = make_resolver(ctx.settings.dns_resolver, timeout=5.0)
    except ValueError as exc:
        raise ValidationError(
            f"setting dns_resolver {ctx.settings.dns_resolver!r} is not host:port", path=["dns_resolver"]
        ) from exc
    try:
        checked = await check_records(name, records, resolver, mail_host=mail_host)
    except DNSCheckError as exc:
        raise AgentInboxError(f"could not verify {name}: {exc}", code="service_unavailable") from exc

    def save(conn: Connection) -> Domain:
        current = _find(conn, name, pod_id)
        # Records that changed while DNS was asked (a rotation, an update) keep no status from this check.
        fresh = _current_records(ctx, conn, current)
        return _save(conn, ctx, current, merge_statuses(fresh, checked), checked=True)

    return await ctx.db.write(save)


async def rotate_dkim_key(ctx: Context, *, name: str, pod_id: str | None = None) -> Domain:
    """Give the domain a new DKIM key under a new selector, keeping the previous ones and their records."""
    await ctx.db.read(_find, name, pod_id)
    key = await asyncio.to_thread(dkim.generate_key)

    def run(conn: Connection) -> Domain:
        current = _find(conn, name, pod_id)
        now = ctx.clock.now()
        domains.add_key(
            conn,
            name,
            selector=dkim.new_selector(to_datetime(now)),
            private_key_pem=key.private_key_pem,
            public_key_pem=key.public_key_pem,
            now=now,
        )
        return _restate(conn, ctx, current)

    return await ctx.db.write(run)


async def delete_dkim_key(ctx: Context, *, name: str, selector: str, pod_id: str | None = None) -> Domain:
    """Remove a retired DKIM key and its record (the active key cannot be removed)."""

    def run(conn: Connection) -> Domain:
        current = _find(conn, name, pod_id)
        domains.delete_key(conn, name, selector)
        return _restate(conn, ctx, current)

    return await ctx.db.write(run)
