"""``client.domains`` and ``client.pods.domains``: custom domains, each with a DKIM key that signs its
outbound mail and the DNS records it needs (reference §8).

A domain created through a pod belongs to that pod: the pod's namespace (and a pod's API key) sees and
manages only the pod's domains, while the organization's ``client.domains`` sees every domain. A domain name
exists once in the engine, whichever pod owns it.

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
from ..store.scopes import Scope
from ._base import Resource, check_bool, check_client_id, check_id, in_pod, no_control_characters

__all__ = ["Domains", "PodDomains"]

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


class _DomainOperations(Resource):
    """The domain operations, for the organization (``pod_id`` None: every domain) or for one pod (only the
    domains it owns; a pod's key may manage its own pod's, an inbox key none)."""

    async def _owner(self, pod_id: str | None, permission: str) -> None:
        """Check the key may act at this level: the organization's domains need an organization key; a pod's,
        that pod's key or the organization's (another pod is NotFoundError, an inbox key ForbiddenError)."""
        access = await self._access(permission)
        if pod_id is None:
            access.organization_only("managing the organization's domains")
        else:
            access.exactly(Scope(pod_id=pod_id), "domains")

    async def _create(
        self,
        pod_id: str | None,
        *,
        domain: object,
        allow_conflicting_provider: object,
        flags: dict[str, object],
        client_id: object,
    ) -> Domain:
        name = _domain_name(domain, "domain")
        check_bool(allow_conflicting_provider, "allow_conflicting_provider")
        checked = {flag: _flag(flags[flag], flag) for flag in _FLAGS}
        checked_client_id = check_client_id(client_id)
        await self._owner(pod_id, "domain_create")
        return await domain_flow.create_domain(
            await self._ctx(), name=name, flags=checked, client_id=checked_client_id, pod_id=pod_id
        )

    async def _list(
        self, pod_id: str | None, limit: int | None, page_token: str | None, ascending: bool | None
    ) -> ListDomainsResponse:
        size, order = clamp_limit(limit), check_bool(ascending, "ascending")
        await self._owner(pod_id, "domain_read")
        if pod_id is None:
            return await self._read(domains.list_domains, limit=size, page_token=page_token, ascending=order)
        return await self._read(
            in_pod(domains.list_domains, pod_id),
            limit=size,
            page_token=page_token,
            ascending=order,
            pod_id=pod_id,
        )

    async def _get(self, pod_id: str | None, domain_id: object) -> Domain:
        name = _domain_name(domain_id, "domain_id")
        await self._owner(pod_id, "domain_read")
        if pod_id is None:
            return await self._read(domains.get_domain, name)
        return await self._read(in_pod(domains.get_domain, pod_id), name, pod_id=pod_id)

    async def _get_zone_file(self, pod_id: str | None, domain_id: object) -> bytes:
        name = _domain_name(domain_id, "domain_id")
        await self._owner(pod_id, "domain_read")
        return await domain_flow.domain_zone_file(await self._ctx(), name=name, pod_id=pod_id)

    async def _update(self, pod_id: str | None, domain_id: object, flags: dict[str, object]) -> Domain:
        name = _domain_name(domain_id, "domain_id")
        given = {
            flag: check_bool(value, flag)
            for flag, value in flags.items()
            if value is not OMIT and value is not None
        }
        if not given:
            raise ValidationError(f"give at least one of {', '.join(_FLAGS)}", path=[])
        await self._owner(pod_id, "domain_update")
        return await domain_flow.update_domain(await self._ctx(), name=name, flags=given, pod_id=pod_id)

    async def _delete(self, pod_id: str | None, domain_id: object) -> None:
        name = _domain_name(domain_id, "domain_id")
        await self._owner(pod_id, "domain_delete")
        await domain_flow.delete_domain(await self._ctx(), name=name, pod_id=pod_id)

    async def _verify(self, pod_id: str | None, domain_id: object) -> Domain:
        name = _domain_name(domain_id, "domain_id")
        await self._owner(pod_id, "domain_update")
        return await domain_flow.verify_domain(await self._ctx(), name=name, pod_id=pod_id)

    async def _rotate_dkim_key(self, pod_id: str | None, domain_id: object) -> Domain:
        name = _domain_name(domain_id, "domain_id")
        await self._owner(pod_id, "domain_update")
        return await domain_flow.rotate_dkim_key(await self._ctx(), name=name, pod_id=pod_id)

    async def _delete_dkim_key(self, pod_id: str | None, domain_id: object, selector: object) -> Domain:
        name = _domain_name(domain_id, "domain_id")
        chosen = _selector(selector)
        await self._owner(pod_id, "domain_update")
        return await domain_flow.delete_dkim_key(await self._ctx(), name=name, selector=chosen, pod_id=pod_id)


class Domains(_DomainOperations):
    """Custom domains of the organization: every domain, its pods' included (managed with an organization
    key; a pod's key manages its own pod's domains through ``client.pods.domains``)."""

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
        registered (by the organization or any pod) is an UnprocessableError (``already_exists``).
        ``allow_conflicting_provider`` is accepted for compatibility: this engine does not look for other
        providers' MX records.
        """
        return await self._create(
            None,
            domain=domain,
            allow_conflicting_provider=allow_conflicting_provider,
            flags={
                "feedback_enabled": feedback_enabled,
                "inbound_enabled": inbound_enabled,
                "subdomains_enabled": subdomains_enabled,
                "tracking_enabled": tracking_enabled,
            },
            client_id=client_id,
        )

    async def list(
        self, *, limit: int | None = None, page_token: str | None = None, ascending: bool | None = None
    ) -> ListDomainsResponse:
        """Every domain, pods' included, newest first (``ascending=True`` for oldest first)."""
        return await self._list(None, limit, page_token, ascending)

    async def get(self, *, domain_id: str) -> Domain:
        return await self._get(None, domain_id)

    async def get_zone_file(self, *, domain_id: str) -> bytes:
        """The records the domain needs as a BIND zone file."""
        return await self._get_zone_file(None, domain_id)

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
        return await self._update(
            None,
            domain_id,
            {
                "feedback_enabled": feedback_enabled,
                "inbound_enabled": inbound_enabled,
                "subdomains_enabled": subdomains_enabled,
                "tracking_enabled": tracking_enabled,
            },
        )

    async def delete(self, *, domain_id: str) -> None:
        """Forget the domain and its keys. Its inboxes stay; their mail is no longer signed."""
        await self._delete(None, domain_id)

    async def verify(self, *, domain_id: str) -> Domain:
        """Check each record through DNS (the ``dns_resolver`` setting, else the system's resolver).

        Sets each record's status and the domain's: ``VERIFIED`` when every record is published as expected
        (then the ``domain.verified`` event is written, once per transition), else ``PENDING`` (records
        missing) or ``INVALID`` (records with other values). When DNS cannot be asked at all the statuses are
        left as they were and an AgentInboxError with code ``service_unavailable`` is raised.
        """
        return await self._verify(None, domain_id)

    async def rotate_dkim_key(self, *, domain_id: str) -> Domain:
        """Give the domain a new DKIM key under a new selector; it signs from now on.

        The previous key is kept, and its record stays among the domain's records, so mail it signed still
        verifies; remove it with ``delete_dkim_key`` once that mail has been delivered. Publish the new
        record first: a verified domain goes back to ``PENDING`` until ``verify`` sees it.
        """
        return await self._rotate_dkim_key(None, domain_id)

    async def delete_dkim_key(self, *, domain_id: str, selector: str) -> Domain:
        """Remove a retired DKIM key and its record (the active key cannot be removed)."""
        return await self._delete_dkim_key(None, domain_id, selector)


class PodDomains(_DomainOperations):
    """Custom domains of one pod: created through it they belong to it, and only they are seen here (another
    pod's domain, or the organization's, is a NotFoundError, as is an unknown pod). The pod's own API key may
    manage them; the methods are those of ``client.domains`` with ``pod_id`` first."""

    async def create(
        self,
        *,
        pod_id: str,
        domain: str,
        allow_conflicting_provider: bool | None = None,
        feedback_enabled: bool | None = None,
        inbound_enabled: bool | None = None,
        subdomains_enabled: bool | None = None,
        tracking_enabled: bool | None = None,
        client_id: str | None = None,
    ) -> Domain:
        """Register a domain owned by the pod (see ``client.domains.create``; names are unique engine-wide)."""
        return await self._create(
            check_id(pod_id, "pod_id"),
            domain=domain,
            allow_conflicting_provider=allow_conflicting_provider,
            flags={
                "feedback_enabled": feedback_enabled,
                "inbound_enabled": inbound_enabled,
                "subdomains_enabled": subdomains_enabled,
                "tracking_enabled": tracking_enabled,
            },
            client_id=client_id,
        )

    async def list(
        self,
        *,
        pod_id: str,
        limit: int | None = None,
        page_token: str | None = None,
        ascending: bool | None = None,
    ) -> ListDomainsResponse:
        """The pod's domains, newest first (``ascending=True`` for oldest first)."""
        return await self._list(check_id(pod_id, "pod_id"), limit, page_token, ascending)

    async def get(self, *, pod_id: str, domain_id: str) -> Domain:
        return await self._get(check_id(pod_id, "pod_id"), domain_id)

    async def get_zone_file(self, *, pod_id: str, domain_id: str) -> bytes:
        """The records the domain needs as a BIND zone file."""
        return await self._get_zone_file(check_id(pod_id, "pod_id"), domain_id)

    async def update(
        self,
        *,
        pod_id: str,
        domain_id: str,
        feedback_enabled: bool | Omit | None = OMIT,
        inbound_enabled: bool | Omit | None = OMIT,
        subdomains_enabled: bool | Omit | None = OMIT,
        tracking_enabled: bool | Omit | None = OMIT,
    ) -> Domain:
        """Change any of the four ``*_enabled`` flags (at least one); the records follow inbound/subdomains."""
        return await self._update(
            check_id(pod_id, "pod_id"),
            domain_id,
            {
                "feedback_enabled": feedback_enabled,
                "inbound_enabled": inbound_enabled,
                "subdomains_enabled": subdomains_enabled,
                "tracking_enabled": tracking_enabled,
            },
        )

    async def delete(self, *, pod_id: str, domain_id: str) -> None:
        """Forget the domain and its keys. Its inboxes stay; their mail is no longer signed."""
        await self._delete(check_id(pod_id, "pod_id"), domain_id)

    async def verify(self, *, pod_id: str, domain_id: str) -> Domain:
        """Check each record through DNS, as ``client.domains.verify`` does (``domain.verified`` reaches the
        pod's webhooks and subscribers)."""
        return await self._verify(check_id(pod_id, "pod_id"), domain_id)

    async def rotate_dkim_key(self, *, pod_id: str, domain_id: str) -> Domain:
        """Give the domain a new DKIM key under a new selector (see ``client.domains.rotate_dkim_key``)."""
        return await self._rotate_dkim_key(check_id(pod_id, "pod_id"), domain_id)

    async def delete_dkim_key(self, *, pod_id: str, domain_id: str, selector: str) -> Domain:
        """Remove a retired DKIM key and its record (the active key cannot be removed)."""
        return await self._delete_dkim_key(check_id(pod_id, "pod_id"), domain_id, selector)
