"""DNS lookups for authenticating inbound mail: TXT, A/AAAA, MX and PTR answers as plain values.

One dnspython async resolver with a bounded LRU cache that keeps each answer for its TTL, so mail from a
busy sender costs few queries. A lookup that times out or whose server fails raises ``TemporaryDNSError``
(SPF, DKIM and DMARC then say temperror); a name that does not exist, has no record of the asked type, or
cannot be a DNS name at all gives an empty ``Answer`` — never a traceback or a hang.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import dns.asyncresolver
import dns.exception
import dns.name
import dns.rdatatype
import dns.resolver
import dns.reversename

from ..errors import ValidationError
from ..smtp.mx import make_resolver

__all__ = ["Answer", "Lookups", "TemporaryDNSError"]

#: Answers kept at most (name and type pairs); the least recently used go first.
CACHE_SIZE = 10_000


class TemporaryDNSError(Exception):
    """The DNS could not answer now (timeout, server failure): a later attempt may succeed."""


@dataclass(frozen=True, slots=True)
class Answer:
    """What a lookup found: the records as text, and whether the name exists (False for NXDOMAIN)."""

    records: tuple[str, ...] = ()
    exists: bool = True

    @property
    def void(self) -> bool:
        """No records: the name does not exist or has none of this type (a "void lookup", RFC 7208 §4.6.4)."""
        return not self.records


class Lookups:
    """Cached DNS lookups through one async resolver; see the module docstring for what they return."""

    def __init__(self, resolver: dns.asyncresolver.Resolver, *, cache_size: int = CACHE_SIZE) -> None:
        resolver.cache = dns.resolver.LRUCache(cache_size)
        self._resolver = resolver

    @classmethod
    def for_nameserver(cls, nameserver: str = "", *, timeout: float = 3.0) -> Lookups:
        """Lookups asking ``nameserver`` (``host:port``; empty = the system's), each given ``timeout`` seconds
        in all, retries included."""
        try:
            resolver = make_resolver(nameserver, timeout=timeout)
        except dns.resolver.NoResolverConfiguration:
            # No system resolver configured: every lookup gives temperror rather than the engine failing.
            resolver = dns.asyncresolver.Resolver(configure=False)
            resolver.lifetime = resolver.timeout = timeout
        except ValueError as exc:
            raise ValidationError(
                f"dns_resolver {nameserver!r} is not a DNS server address (host:port): {exc}",
                path=["dns_resolver"],
            ) from None
        return cls(resolver)

    async def txt(self, name: str) -> Answer:
        """The TXT records of ``name``, each one's strings joined (RFC 7208 §3.3, RFC 6376 §3.6.2.2).

        Bytes are decoded as Latin-1, so every byte survives; ASCII-only records read the same either way.
        """
        answer, exists = await self._resolve(name, dns.rdatatype.TXT)
        if answer is None:
            return Answer(exists=exists)
        return Answer(tuple(b"".join(rdata.strings).decode("latin-1") for rdata in answer))

    async def addresses(self, name: str, *, ipv6: bool = False) -> Answer:
        """The A (or, with ``ipv6``, AAAA) records of ``name``, as address text."""
        answer, exists = await self._resolve(name, dns.rdatatype.AAAA if ipv6 else dns.rdatatype.A)
        if answer is None:
            return Answer(exists=exists)
        return Answer(tuple(rdata.address for rdata in answer))

    async def mx(self, name: str) -> Answer:
        """The mail exchanger names of ``name``, most preferred first, without the trailing dot."""
        answer, exists = await self._resolve(name, dns.rdatatype.MX)
        if answer is None:
            return Answer(exists=exists)
        ordered = sorted(answer, key=lambda rdata: rdata.preference)
        return Answer(tuple(rdata.exchange.to_text(omit_final_dot=True) for rdata in ordered))

    async def ptr(self, address: str) -> Answer:
        """The host names an IP address's PTR records name, without the trailing dot."""
        try:
            name = dns.reversename.from_address(str(ipaddress.ip_address(address))).to_text()
        except ValueError:
            return Answer(exists=False)
        answer, exists = await self._resolve(name, dns.rdatatype.PTR)
        if answer is None:
            return Answer(exists=exists)
        return Answer(tuple(rdata.target.to_text(omit_final_dot=True) for rdata in answer))

    async def _resolve(
        self, name: str, rdtype: dns.rdatatype.RdataType
    ) -> tuple[dns.resolver.Answer | None, bool]:
        """The answer (None when empty) and whether the name exists; raises TemporaryDNSError."""
        try:
            qname = dns.name.from_text(name.rstrip(".") + ".")
        except (dns.exception.DNSException, UnicodeError, ValueError):
            return None, False  # not a name DNS can hold: nothing is there
        try:
            answer = await self._resolver.resolve(qname, rdtype, search=False)
        except (dns.resolver.NXDOMAIN, dns.resolver.YXDOMAIN):
            return None, False
        except dns.resolver.NoAnswer:
            return None, True
        except dns.exception.Timeout as exc:
            raise TemporaryDNSError(f"DNS lookup of {name} ({rdtype.name}) timed out") from exc
        except dns.resolver.NoNameservers as exc:
            raise TemporaryDNSError(
                f"DNS lookup of {name} ({rdtype.name}) failed: no server answered"
            ) from exc
        except (dns.exception.DNSException, OSError, ValueError) as exc:
            raise TemporaryDNSError(f"DNS lookup of {name} ({rdtype.name}) failed: {exc}") from exc
        return answer, True
