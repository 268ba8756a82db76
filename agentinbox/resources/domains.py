"""``client.domains``: custom domains, each with a DKIM key that signs its outbound mail and the DNS records
it needs (reference §8).

Inboxes may be created on any valid domain name, registered here or not, verified or not, exactly as before
this namespace existed: a self-hosted engine serves whatever domain its operator points at it, and the
operator publishes DNS after creating the domain. What registering adds is trust from other mail servers:
outbound mail from the domain's inboxes is DKIM-signed from the moment the domain is created (so publish
its records before sending to the outside world), ``verify`` checks the records are published, and mail for
the domain counts as ours at SMTP (an unknown local part gets 550 5.1.1 rather than a relay refusal).
"""

from __future__ import annotations

import asyncio
import re

from sqlalchemy import Connection

from .._clock import to_datetime
from .._types import OMIT, Omit
from ..errors import AgentInboxError, ValidationError
from ..models import Domain, ListDomainsResponse, VerificationRecord
from ..pipeline.context import Context
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
from ..store import domains, events
from ..store.inboxes import check_domain
from ..store.pagination import clamp_limit
from ._base import Resource, check_bool, check_client_id, no_control_characters

__all__ = ["Domains"]

_FLAGS = ("feedback_enabled", "inbound_enabled", "subdomains_enabled", "tracking_enabled")
_DEFAULTS = {
    "feedback_enabled": True,
    "inbound_enabled": True,
    "subdomains_enabled": False,
    "tracking_enabled": False,
}
_HOST_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


def _domain_name(value: object, name: str) -> str:
    """A domain argument as its lower-cased name without a trailing dot, or a ValidationError."""
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"{name} must be a non-empty domain name", path=[name])
    no_control_characters(value, name)
    try:
        return check_domain(value)
    except ValidationError as exc:
        raise ValidationError(f"{name} {value[:100]!r} is not a valid domain name", path=[name]) from exc


def _flag(value: object, name: str) -> bool:
    if value is None:
        return _DEFAULTS[name]
    return check_bool(value, name)


def _selector(value: object) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > 63:
        raise ValidationError("selector must be a DKIM selector of 1 to 63 characters", path=["selector"])
    return no_control_characters(value, "selector").strip().lower()


def _mail_host(ctx: Context) -> str:
    """The host name published as MX target and in SPF: the ``hostname`` setting, else ``default_domain``."""
    host = (ctx.settings.hostname or ctx.settings.default_domain).strip().lower().rstrip(".")
    labels = host.split(".")
    # A name, not an address: MX targets and SPF ``a:`` terms must be host names (RFC 7505, RFC 7208).
    if len(host) > 253 or not all(_HOST_LABEL.match(label) for label in labels) or labels[-1].isdigit():
        raise ValidationError(f"setting hostname {host!r} is not a valid host name", path=["hostname"])
    return host


def _records_for(
    ctx: Context, conn: Connection, domain_id: str, inbound: bool, subdomains: bool
) -> list[VerificationRecord]:
    """The records the domain needs now, from the settings, its flags and all its keys (each ``MISSING``)."""
    keys = [(k.selector, k.public_key_pem) for k in domains.domain_keys_of(conn, domain_id)]
    return expected_records(
        mail_host=_mail_host(ctx), keys=keys, inbound_enabled=inbound, subdomains_enabled=subdomains
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


class Domains(Resource):
    """Custom domains of the organization."""

    async def create(
        self,
        *,
        domain: str,
        allow_conflicting_provider: bool | None = None,
        feedback_enabled: bool | None = None,
        inbound_enabled: bool | None = None,
        subdomains_enabled: bool | None = None,
        tracking_enabled: bool | None = None,
        client_id: str | None = None,
    ) -> Domain:
        """Register a domain: generates its DKIM key (RSA-2048, a new selector) and the records to publish.

        The same ``client_id`` again returns the domain it created the first time; a domain that is already
        registered is an UnprocessableError (``already_exists``). ``allow_conflicting_provider`` is accepted
        for compatibility: this engine does not look for other providers' MX records.
        """
        name = _domain_name(domain, "domain")
        check_bool(allow_conflicting_provider, "allow_conflicting_provider")
        flags = {
            "feedback_enabled": _flag(feedback_enabled, "feedback_enabled"),
            "inbound_enabled": _flag(inbound_enabled, "inbound_enabled"),
            "subdomains_enabled": _flag(subdomains_enabled, "subdomains_enabled"),
            "tracking_enabled": _flag(tracking_enabled, "tracking_enabled"),
        }
        client_id = check_client_id(client_id)
        ctx = await self._ctx()
        mail_host = _mail_host(ctx)

        def earlier(conn: Connection) -> Domain | None:
            # Answer repeats and duplicates before spending time on a key.
            found = domains.domain_by_client_id(conn, client_id) if client_id is not None else None
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
        return await ctx.db.write(
            domains.create_domain,
            domain_id=name,
            pod_id=None,
            client_id=client_id,
            selector=selector,
            private_key_pem=key.private_key_pem,
            public_key_pem=key.public_key_pem,
            records=records,
            now=now,
            **flags,
        )

    async def list(
        self, *, limit: int | None = None, page_token: str | None = None, ascending: bool | None = None
    ) -> ListDomainsResponse:
        """Domains, newest first (``ascending=True`` for oldest first)."""
        return await self._read(
            domains.list_domains,
            limit=clamp_limit(limit),
            page_token=page_token,
            ascending=check_bool(ascending, "ascending"),
        )

    async def get(self, *, domain_id: str) -> Domain:
        return await self._read(domains.get_domain, _domain_name(domain_id, "domain_id"))

    async def get_zone_file(self, *, domain_id: str) -> bytes:
        """The records the domain needs as a BIND zone file."""
        domain = await self.get(domain_id=domain_id)
        return zone_file(domain.domain_id, domain.records)

    async def update(
        self,
        *,
        domain_id: str,
        feedback_enabled: bool | Omit | None = OMIT,
        inbound_enabled: bool | Omit | None = OMIT,
        subdomains_enabled: bool | Omit | None = OMIT,
        tracking_enabled: bool | Omit | None = OMIT,
    ) -> Domain:
        """Change any of the four ``*_enabled`` flags (at least one); the records follow inbound/subdomains."""
        name = _domain_name(domain_id, "domain_id")
        given = {
            flag: check_bool(value, flag)
            for flag, value in zip(
                _FLAGS, (feedback_enabled, inbound_enabled, subdomains_enabled, tracking_enabled), strict=True
            )
            if value is not OMIT and value is not None
        }
        if not given:
            raise ValidationError(f"give at least one of {', '.join(_FLAGS)}", path=[])
        ctx = await self._ctx()

        def run(conn: Connection) -> Domain:
            return _restate(conn, ctx, domains.get_domain(conn, name), **given)

        return await ctx.db.write(run)

    async def delete(self, *, domain_id: str) -> None:
        """Forget the domain and its keys. Its inboxes stay; their mail is no longer signed."""
        await self._write(domains.delete_domain, _domain_name(domain_id, "domain_id"))

    async def verify(self, *, domain_id: str) -> Domain:
        """Check each record through DNS (the ``dns_resolver`` setting, else the system's resolver).

        Sets each record's status and the domain's: ``VERIFIED`` when every record is published as expected
        (then the ``domain.verified`` event is written, once per transition), else ``PENDING`` (records
        missing) or ``INVALID`` (records with other values). When DNS cannot be asked at all the statuses are
        left as they were and an AgentInboxError with code ``service_unavailable`` is raised.
        """
        name = _domain_name(domain_id, "domain_id")
        ctx = await self._ctx()
        mail_host = _mail_host(ctx)

        def expected(conn: Connection) -> list[VerificationRecord]:
            current = domains.get_domain(conn, name)
            return _records_for(ctx, conn, name, bool(current.inbound_enabled), current.subdomains_enabled)

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
            current = domains.get_domain(conn, name)
            # Records that changed while DNS was asked (a rotation, an update) keep no status from this check.
            fresh = _records_for(ctx, conn, name, bool(current.inbound_enabled), current.subdomains_enabled)
            return _save(conn, ctx, current, merge_statuses(fresh, checked), checked=True)

        return await ctx.db.write(save)

    async def rotate_dkim_key(self, *, domain_id: str) -> Domain:
        """Give the domain a new DKIM key under a new selector; it signs from now on.

        The previous key is kept, and its record stays among the domain's records, so mail it signed still
        verifies; remove it with ``delete_dkim_key`` once that mail has been delivered. Publish the new
        record first: a verified domain goes back to ``PENDING`` until ``verify`` sees it.
        """
        name = _domain_name(domain_id, "domain_id")
        ctx = await self._ctx()
        await ctx.db.read(domains.get_domain, name)
        key = await asyncio.to_thread(dkim.generate_key)

        def run(conn: Connection) -> Domain:
            current = domains.get_domain(conn, name)
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

    async def delete_dkim_key(self, *, domain_id: str, selector: str) -> Domain:
        """Remove a retired DKIM key and its record (the active key cannot be removed)."""
        name = _domain_name(domain_id, "domain_id")
        chosen = _selector(selector)
        ctx = await self._ctx()

        def run(conn: Connection) -> Domain:
            current = domains.get_domain(conn, name)
            domains.delete_key(conn, name, chosen)
            return _restate(conn, ctx, current)

        return await ctx.db.write(run)
