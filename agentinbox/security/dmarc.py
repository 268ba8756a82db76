"""DMARC (RFC 7489): whether a message's From domain is vouched for by an aligned SPF or DKIM pass, and the
policy that domain publishes for mail that is not.

The policy record is looked up at ``_dmarc.<From domain>``, else at ``_dmarc.<organizational domain>``
(§6.6.3), the organizational domain coming from the Public Suffix List that ``publicsuffixlist`` ships, so
nothing is fetched. ``pct`` is read but not sampled on: a failing message is always judged by the policy.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from publicsuffixlist import PublicSuffixList

from .lookups import Lookups, TemporaryDNSError

__all__ = ["DMARCRecord", "DMARCResult", "aligned", "evaluate", "organizational_domain", "parse_record"]

_POLICIES = ("none", "quarantine", "reject")
_TAG = re.compile(r"^([a-z][a-z0-9_]*)\s*=\s*(.*)$", re.IGNORECASE | re.DOTALL)
_VERSION = re.compile(r"^v\s*=\s*DMARC1\s*(;|$)")


@dataclass(frozen=True, slots=True)
class DMARCRecord:
    """A parsed DMARC record: policy, subdomain policy, alignment modes (``r`` or ``s``) and pct."""

    policy: str
    subdomain_policy: str | None = None
    adkim: str = "r"
    aspf: str = "r"
    pct: int = 100


@dataclass(frozen=True, slots=True)
class DMARCResult:
    """The DMARC result word (pass, fail, none, temperror, permerror), the policy that applies to the From
    domain when one is published, the domain whose record was used, and why, for people."""

    result: str
    policy: str | None = None
    record_domain: str | None = None
    reason: str = ""


class RecordError(ValueError):
    """A DMARC record that cannot be used (§6.3 grammar)."""


@functools.cache
def _suffixes() -> PublicSuffixList:
    return PublicSuffixList()


@functools.lru_cache(maxsize=4096)
def organizational_domain(domain: str) -> str:
    """The registered domain of ``domain`` (§3.2): one label below its public suffix; a name that is itself
    a public suffix is its own organizational domain."""
    domain = domain.rstrip(".").lower()
    return _suffixes().privatesuffix(domain) or domain


def aligned(identifier: str, from_domain: str, mode: str) -> bool:
    """Whether an authenticated domain is aligned with the From domain: equal (strict, ``s``) or with the
    same organizational domain (relaxed, ``r``) (§3.1)."""
    identifier, from_domain = identifier.rstrip(".").lower(), from_domain.rstrip(".").lower()
    if identifier == from_domain:
        return True
    return mode != "s" and organizational_domain(identifier) == organizational_domain(from_domain)


def parse_record(text: str) -> DMARCRecord:
    """Parse a ``v=DMARC1`` record; raises RecordError when it has no usable policy (§6.6.3: a missing or
    bad ``p`` with a reporting address counts as ``p=none``)."""
    if not _VERSION.match(text):
        raise RecordError("the record does not start with v=DMARC1")
    tags: dict[str, str] = {}
    for part in text.split(";")[1:]:
        part = part.strip()
        if not part:
            continue
        match = _TAG.match(part)
        if match is None:
            raise RecordError(f"bad tag {part!r}")
        tags.setdefault(match.group(1).lower(), match.group(2).strip())
    policy = tags.get("p", "").lower()
    if policy not in _POLICIES:
        if "mailto:" not in tags.get("rua", "").lower():
            raise RecordError("the record has no valid p= policy")
        policy = "none"
    subdomain = tags.get("sp", "").lower()
    pct = tags.get("pct", "100")
    return DMARCRecord(
        policy=policy,
        subdomain_policy=subdomain if subdomain in _POLICIES else None,
        adkim="s" if tags.get("adkim", "r").lower() == "s" else "r",
        aspf="s" if tags.get("aspf", "r").lower() == "s" else "r",
        pct=min(int(pct), 100) if pct.isdigit() else 100,
    )


async def _records(lookups: Lookups, domain: str) -> list[str]:
    answer = await lookups.txt(f"_dmarc.{domain}")
    return [r for r in answer.records if _VERSION.match(r)]


async def evaluate(
    lookups: Lookups,
    *,
    from_domain: str,
    spf_result: str,
    spf_domain: str | None,
    dkim_domains: list[str],
) -> DMARCResult:
    """DMARC for a message from ``from_domain``, given its SPF result for ``spf_domain`` and the ``d=``
    domains of its DKIM signatures that verified. Never raises."""
    from_domain = from_domain.rstrip(".").lower()
    org = organizational_domain(from_domain)
    try:
        found, record_domain = await _records(lookups, from_domain), from_domain
        if not found and org != from_domain:
            found, record_domain = await _records(lookups, org), org
    except TemporaryDNSError as exc:
        return DMARCResult("temperror", reason=str(exc))
    if not found:
        return DMARCResult("none", reason=f"{from_domain} publishes no DMARC record")
    if len(found) > 1:
        # §6.6.3: more than one record means no DMARC processing at all.
        return DMARCResult("none", record_domain=record_domain, reason=f"{record_domain} publishes several")
    try:
        record = parse_record(found[0])
    except RecordError as exc:
        return DMARCResult("permerror", record_domain=record_domain, reason=f"_dmarc.{record_domain}: {exc}")
    policy = record.policy
    if record_domain != from_domain and record.subdomain_policy is not None:
        policy = record.subdomain_policy
    if spf_result == "pass" and spf_domain and aligned(spf_domain, from_domain, record.aspf):
        return DMARCResult("pass", policy, record_domain, f"SPF of {spf_domain} is aligned")
    for domain in dkim_domains:
        if aligned(domain, from_domain, record.adkim):
            return DMARCResult("pass", policy, record_domain, f"DKIM of {domain} is aligned")
    return DMARCResult("fail", policy, record_domain, "no aligned SPF or DKIM pass")
