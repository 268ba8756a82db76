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

from .._types import OMIT, Omit
from ..errors import ValidationError
from ..models import Domain, ListDomainsResponse
from ..pipeline import domains as domain_flow
from ..store import domains
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


class Domains(Resource):
    """Custom domains of the organization (managed with an organization key: a domain serves every pod)."""

    async def _organization(self, permission: str) -> None:
        (await self._access(permission)).organization_only("managing domains")

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
        await self._organization("domain_create")
        return await domain_flow.create_domain(await self._ctx(), name=name, flags=flags, client_id=client_id)

    async def list(
        self, *, limit: int | None = None, page_token: str | None = None, ascending: bool | None = None
    ) -> ListDomainsResponse:
        """Domains, newest first (``ascending=True`` for oldest first)."""
        await self._organization("domain_read")
        return await self._read(
            domains.list_domains,
            limit=clamp_limit(limit),
            page_token=page_token,
            ascending=check_bool(ascending, "ascending"),
        )

    async def get(self, *, domain_id: str) -> Domain:
        await self._organization("domain_read")
        return await self._read(domains.get_domain, _domain_name(domain_id, "domain_id"))

    async def get_zone_file(self, *, domain_id: str) -> bytes:
        """The records the domain needs as a BIND zone file."""
        name = _domain_name(domain_id, "domain_id")
        await self._organization("domain_read")
        return await domain_flow.domain_zone_file(await self._ctx(), name=name)

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
        await self._organization("domain_update")
        return await domain_flow.update_domain(await self._ctx(), name=name, flags=given)

    async def delete(self, *, domain_id: str) -> None:
        """Forget the domain and its keys. Its inboxes stay; their mail is no longer signed."""
        await self._organization("domain_delete")
        await self._write(domains.delete_domain, _domain_name(domain_id, "domain_id"))

    async def verify(self, *, domain_id: str) -> Domain:
        """Check each record through DNS (the ``dns_resolver`` setting, else the system's resolver).

        Sets each record's status and the domain's: ``VERIFIED`` when every record is published as expected
        (then the ``domain.verified`` event is written, once per transition), else ``PENDING`` (records
        missing) or ``INVALID`` (records with other values). When DNS cannot be asked at all the statuses are
        left as they were and an AgentInboxError with code ``service_unavailable`` is raised.
        """
        name = _domain_name(domain_id, "domain_id")
        await self._organization("domain_update")
        return await domain_flow.verify_domain(await self._ctx(), name=name)

    async def rotate_dkim_key(self, *, domain_id: str) -> Domain:
        """Give the domain a new DKIM key under a new selector; it signs from now on.

        The previous key is kept, and its record stays among the domain's records, so mail it signed still
        verifies; remove it with ``delete_dkim_key`` once that mail has been delivered. Publish the new
        record first: a verified domain goes back to ``PENDING`` until ``verify`` sees it.
        """
        name = _domain_name(domain_id, "domain_id")
        await self._organization("domain_update")
        return await domain_flow.rotate_dkim_key(await self._ctx(), name=name)

    async def delete_dkim_key(self, *, domain_id: str, selector: str) -> Domain:
        """Remove a retired DKIM key and its record (the active key cannot be removed)."""
        name = _domain_name(domain_id, "domain_id")
        chosen = _selector(selector)
        await self._organization("domain_update")
        return await domain_flow.delete_dkim_key(await self._ctx(), name=name, selector=chosen)
