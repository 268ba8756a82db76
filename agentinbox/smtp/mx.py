"""Where a domain's mail goes: its MX hosts by preference, each resolved to addresses (RFC 5321 §5.1).

A domain without MX records falls back to its own A/AAAA records (the implicit MX); a null MX (``MX 0 .``,
RFC 7505) or a domain that does not exist is a permanent failure; DNS timeouts and server failures are
temporary. The resolver is dnspython's, pointed at ``dns_resolver`` when that setting is given.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import dns.asyncresolver
import dns.exception
import dns.rdatatype
import dns.resolver

__all__ = ["MXLookupError", "MailHost", "mail_hosts", "make_resolver"]


class MXLookupError(Exception):
    """The domain's mail hosts could not be found; ``permanent`` says whether a retry could help."""

    def __init__(self, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent


@dataclass(frozen=True, slots=True)
class MailHost:
    """One address to try: the MX name it belongs to and one of its IP addresses."""

    name: str
    address: str


def make_resolver(nameserver: str = "", *, timeout: float = 10.0) -> dns.asyncresolver.Resolver:
    """A resolver asking ``host:port`` (``[v6]:port`` for IPv6), or the system's resolvers when empty."""
    if not nameserver:
        resolver = dns.asyncresolver.Resolver()
    else:
        host, sep, port = nameserver.strip().rpartition(":")
        if not sep or not port.isdigit():
            host, port = nameserver.strip(), "53"
        resolver = dns.asyncresolver.Resolver(configure=False)
        resolver.nameservers = [host.strip("[]")]
        resolver.port = int(port)
    resolver.lifetime = timeout
    resolver.timeout = timeout
    return resolver


async def _addresses(resolver: dns.asyncresolver.Resolver, name: str) -> list[str]:
    found: list[str] = []
    failures = 0
    for rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
        try:
            answer = await resolver.resolve(name, rdtype)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            continue
        except (dns.exception.Timeout, dns.resolver.NoNameservers):
            failures += 1
            continue
        found.extend(rdata.to_text() for rdata in answer)
    if not found and failures:
        raise MXLookupError(f"DNS lookup of {name} failed temporarily", permanent=False)
    return found


async def mail_hosts(domain: str, resolver: dns.asyncresolver.Resolver) -> list[MailHost]:
    """The addresses to try for ``domain``, most preferred first; raises MXLookupError."""
    literal = domain.strip("[]")
    if domain.startswith("["):  # an address literal such as [127.0.0.1]
        try:
            return [MailHost(literal, str(ipaddress.ip_address(literal.removeprefix("IPv6:"))))]
        except ValueError as exc:
            raise MXLookupError(f"bad address literal {domain}", permanent=True) from exc
    try:
        answer = await resolver.resolve(domain, dns.rdatatype.MX)
        exchanges = sorted((r.preference, r.exchange.to_text().rstrip(".")) for r in answer)
    except dns.resolver.NXDOMAIN as exc:
        raise MXLookupError(f"the domain {domain} does not exist", permanent=True) from exc
    except dns.resolver.NoAnswer:
        exchanges = [(0, domain)]  # no MX: the domain itself is the mail host
    except (dns.exception.Timeout, dns.resolver.NoNameservers) as exc:
        raise MXLookupError(f"DNS lookup of {domain} failed temporarily: {exc}", permanent=False) from exc
    except dns.exception.DNSException as exc:
        raise MXLookupError(f"DNS lookup of {domain} failed: {exc}", permanent=False) from exc
    if len(exchanges) == 1 and exchanges[0][1] in ("", "."):
        raise MXLookupError(f"{domain} accepts no mail (null MX)", permanent=True)
    hosts: list[MailHost] = []
    temporary: MXLookupError | None = None
    for _, name in exchanges:
        if name in ("", "."):
            continue
        try:
            hosts.extend(MailHost(name, address) for address in await _addresses(resolver, name))
        except MXLookupError as exc:
            temporary = exc
    if not hosts:
        if temporary is not None:
            raise temporary
        raise MXLookupError(f"no address found for the mail hosts of {domain}", permanent=False)
    return hosts
