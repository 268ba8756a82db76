"""Inbound authentication: SPF, DKIM and DMARC of mail another MTA handed over, as one inbound ``Check``.

SPF (:mod:`.spf`) checks the envelope sender (the HELO name when it is empty) against the client's IP,
DKIM (:mod:`.dkim_verify`) every signature, DMARC (:mod:`.dmarc`) the From domain's alignment and policy.
The verdict is recorded in an ``Authentication-Results`` header (RFC 8601) and as the message's
``authentication`` field; mail failing a quarantine or reject policy, or claiming to be from one of our own
domains without passing DMARC, is labelled ``unauthenticated``. Mail from trusted networks, or handed to
``deliver()`` without a client address, is not checked (as OpenDMARC's IgnoreHosts). Bad mail gets a
verdict, never an exception.
"""

from __future__ import annotations

import asyncio
import email.parser
import email.policy
import email.utils
import ipaddress
import re
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from ..errors import ValidationError
from ..settings import Settings
from . import dmarc, spf
from .authentication_results import Result, render, unfolded
from .dkim_verify import DKIMResult, SignatureResult, verify_message
from .inspection import Check, Finding, Inspection
from .lookups import Lookups

__all__ = ["AuthenticationCheck", "FromDomains", "authentication_check", "from_domains", "trusted_networks"]

OwnDomains = Callable[[], Awaitable[set[str]]]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_T = TypeVar("_T")

_HEADER_END = re.compile(rb"\r?\n\r?\n")

#: Seconds one DNS lookup may take, retries included, at most (a quarter of ``check_timeout`` if less).
LOOKUP_SECONDS = 3.0


def authentication_check(settings: Settings, own_domains: OwnDomains) -> Check | None:
    """The SPF/DKIM/DMARC check ``settings`` ask for, or None when ``inbound_authentication`` is off."""
    if not settings.inbound_authentication:
        return None
    return AuthenticationCheck(
        lookups=Lookups.for_nameserver(
            settings.dns_resolver, timeout=min(LOOKUP_SECONDS, settings.check_timeout / 4)
        ),
        own_domains=own_domains,
        authserv_id=settings.authserv_id or settings.hostname or settings.default_domain,
        trusted=trusted_networks(settings.trusted_networks),
        seconds=settings.check_timeout,
    )


def trusted_networks(values: Sequence[str]) -> list[Network]:
    """``settings.trusted_networks`` parsed: addresses or networks (``10.0.0.0/8``, ``::1``)."""
    networks = []
    for index, value in enumerate(values):
        try:
            networks.append(ipaddress.ip_network(str(value).strip(), strict=False))
        except ValueError:
            raise ValidationError(
                f"trusted_networks entry {value!r} is not an IP address or network (such as 10.0.0.0/8)",
                path=["trusted_networks", index],
            ) from None
    return networks


@dataclass(frozen=True, slots=True)
class FromDomains:
    """The From header's domains (lower-cased A-labels) and, when DMARC cannot judge them, why not and
    the DMARC result that gives (none without a From, permerror when it is ambiguous or broken)."""

    domains: list[str]
    problem: str | None = None
    result: str = "none"


def from_domains(raw: bytes) -> FromDomains:
    """The domains of the From header field(s) of ``raw`` (RFC 7489 §6.6.1)."""
    end = _HEADER_END.search(raw)
    try:
        # Only the header block is read: the body may be megabytes.
        header_block = raw[: end.end()] if end is not None else raw
        message = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(header_block)
        # Raw 8-bit bytes arrive as surrogate escapes; UTF-8 ones (RFC 6532) are read as what they spell.
        values = [_utf8(str(value)) for name, value in message.raw_items() if name.lower() == "from"]
    except Exception:  # the email package has failure modes no one has listed
        return FromDomains([], "the header block cannot be read", "permerror")
    if not values:
        return FromDomains([], "the message has no From header")
    addresses = [address for _, address in email.utils.getaddresses(values) if address]
    if not addresses:
        return FromDomains([], "the From header has no address", "permerror")
    domains = []
    for address in addresses:
        domain = _domain(address)
        if domain is None:
            return FromDomains([], f"the From address {address!r} has no valid domain", "permerror")
        if domain not in domains:
            domains.append(domain)
    if len(domains) > 1:
        return FromDomains(domains, "the From header names several domains", "permerror")
    return FromDomains(domains)


def _utf8(value: str) -> str:
    return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _domain(address: str) -> str | None:
    local, at, domain = address.rpartition("@")
    domain = domain.strip().strip(".").lower()
    if not at or not local or not domain:
        return None
    if not domain.isascii():
        try:
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    return domain if spf.valid_domain(domain) else None


class AuthenticationCheck:
    """The ``authentication`` check: SPF and DKIM concurrently, then DMARC; see the module docstring."""

    name = "authentication"

    def __init__(
        self,
        *,
        lookups: Lookups,
        own_domains: OwnDomains,
        authserv_id: str,
        trusted: Sequence[Network] = (),
        seconds: float = 20.0,
    ) -> None:
        self._lookups = lookups
        self._own_domains = own_domains
        self._authserv_id = authserv_id
        self._trusted = list(trusted)
        # SPF and DKIM get half the check's time, DMARC a quarter, so the check ends with a verdict
        # before run_checks gives up on it.
        self._seconds = seconds

    def trusted(self, client_ip: str | None) -> bool:
        """Whether mail from ``client_ip`` is left unchecked: local delivery or a trusted network."""
        if client_ip is None:
            return True
        try:
            address = ipaddress.ip_address(client_ip)
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in network for network in self._trusted)

    async def __call__(self, inspection: Inspection) -> Finding:
        if self.trusted(inspection.client_ip):
            return Finding()
        assert inspection.client_ip is not None
        sender = _sender(inspection.mail_from, inspection.helo)
        found_from = from_domains(inspection.raw)
        spf_part = self._spf(inspection.client_ip, sender, inspection.helo)
        dkim_part = verify_message(inspection.raw, self._lookups)
        spf_late = spf.SPFResult(
            "temperror", sender[1].rpartition("@")[2].lower() if sender else None, "SPF took too long"
        )
        spf_result, dkim_result = await asyncio.gather(
            _bounded(spf_part, self._seconds / 2, spf_late),
            _bounded(
                dkim_part,
                self._seconds / 2,
                DKIMResult("temperror", [SignatureResult("temperror", reason="DKIM took too long")]),
            ),
        )
        dmarc_result = await self._dmarc(found_from, spf_result, dkim_result)
        from_domain = found_from.domains[0] if found_from.domains else None
        header = render(
            self._authserv_id, _results(sender, spf_result, dkim_result, dmarc_result, from_domain)
        )
        verdict: dict[str, Any] = {
            "spf": spf_result.result,
            "spf_domain": spf_result.domain,
            "dkim": dkim_result.result,
            "dkim_domains": dkim_result.domains,
            "dmarc": dmarc_result.result,
            "dmarc_policy": dmarc_result.policy,
            "from_domain": from_domain,
            "header": unfolded(header),
        }
        labels = []
        if dmarc_result.result == "fail" and dmarc_result.policy in ("quarantine", "reject"):
            labels.append("unauthenticated")
        elif dmarc_result.result != "pass" and found_from.domains:
            own = await self._own_domains()
            if any(domain in own for domain in found_from.domains):
                labels.append("unauthenticated")
        return Finding(
            labels=labels,
            verdicts={"authentication": verdict},
            headers=[("Authentication-Results", header)],
        )

    async def _spf(self, ip: str, sender: tuple[str, str] | None, helo: str | None) -> spf.SPFResult:
        if sender is None:
            return spf.SPFResult("none", None, "no envelope sender and no HELO name")
        return await spf.check_host(
            self._lookups, ip=ip, sender=sender[1], helo=helo, receiver=self._authserv_id
        )

    async def _dmarc(
        self, found_from: FromDomains, spf_result: spf.SPFResult, dkim_result: DKIMResult
    ) -> dmarc.DMARCResult:
        if found_from.problem is not None:
            return dmarc.DMARCResult(found_from.result, reason=found_from.problem)
        return await _bounded(
            dmarc.evaluate(
                self._lookups,
                from_domain=found_from.domains[0],
                spf_result=spf_result.result,
                spf_domain=spf_result.domain,
                dkim_domains=dkim_result.domains,
            ),
            self._seconds / 4,
            dmarc.DMARCResult("temperror", reason="DMARC took too long"),
        )


def _sender(mail_from: str | None, helo: str | None) -> tuple[str, str] | None:
    """The SPF identity: (``smtp.mailfrom`` or ``smtp.helo``, the sender address checked), or None."""
    address = (mail_from or "").strip().strip("<>").strip()
    if address:
        return "smtp.mailfrom", address if "@" in address else f"postmaster@{address}"
    name = (helo or "").strip()
    if name:
        return "smtp.helo", f"postmaster@{name}"
    return None


async def _bounded(work: Coroutine[Any, Any, _T], seconds: float, late: _T) -> _T:
    """``work``'s result, or ``late`` when it takes over ``seconds``."""
    try:
        return await asyncio.wait_for(work, seconds)
    except TimeoutError:
        return late


def _results(
    sender: tuple[str, str] | None,
    spf_result: spf.SPFResult,
    dkim_result: DKIMResult,
    dmarc_result: dmarc.DMARCResult,
    from_domain: str | None,
) -> list[Result]:
    results: list[Result] = []
    spf_comment = spf_result.reason if spf_result.result not in ("pass", "none") else ""
    if sender is None:
        results.append(Result("spf", spf_result.result, spf_comment))
    else:
        identity = sender[1] if sender[0] == "smtp.mailfrom" else sender[1].rpartition("@")[2]
        results.append(Result("spf", spf_result.result, spf_comment, [(sender[0], identity)]))
    if not dkim_result.signatures:
        results.append(Result("dkim", dkim_result.result))
    for signature in dkim_result.signatures:
        properties = [
            (name, value)
            for name, value in (
                ("header.d", signature.domain),
                ("header.s", signature.selector),
                ("header.b", signature.b),
            )
            if value
        ]
        comment = signature.reason if signature.result != "pass" else ""
        results.append(Result("dkim", signature.result, comment, properties))
    dmarc_comment = f"p={dmarc_result.policy}" if dmarc_result.policy else ""
    if dmarc_result.result in ("permerror", "temperror"):
        dmarc_comment = dmarc_result.reason
    results.append(
        Result(
            "dmarc",
            dmarc_result.result,
            dmarc_comment,
            [("header.from", from_domain)] if from_domain else [],
        )
    )
    return results
