"""Inbound checks in the pipeline: which run (from the settings), running them, and their trace headers.

Authentication runs first, since the spam scanner weighs its result; spam and virus scanning then run
concurrently. All run outside any transaction, since they may wait on DNS or a scanner daemon. A check
that fails or times out leaves a verdict with an ``error`` and labels nothing, so mail is never lost or
held because a scanner is down.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from ..mail.parse import ParsedMessage
from ..security.inspection import CHECK_LABELS, Check, Finding, Inspection
from ..settings import Settings
from ..store import domains
from ..store.database import Database

__all__ = ["build_checks", "checked", "own_domains_of", "run_checks", "with_headers"]

logger = logging.getLogger("agentinbox.checks")

#: ``own_domains()`` → the domains this server receives mail for (custom domains and the default one).
OwnDomains = Callable[[], Awaitable[set[str]]]


_OWN_DOMAINS_SECONDS = 10.0  # how long the list of our domains is reused before it is read again


def own_domains_of(db: Database, settings: Settings) -> OwnDomains:
    """``own_domains`` for ``db``: the default domain and every custom domain, re-read every 10 seconds."""
    cached: tuple[float, set[str]] | None = None

    async def own_domains() -> set[str]:
        nonlocal cached
        now = time.monotonic()
        if cached is None or now - cached[0] > _OWN_DOMAINS_SECONDS:
            names = await db.read(domains.domain_names)
            cached = (now, {settings.default_domain.lower(), *(name.lower() for name in names)})
        return cached[1]

    return own_domains


def build_checks(settings: Settings, own_domains: OwnDomains) -> list[Check]:
    """The inbound checks ``settings`` ask for, authentication first."""
    from ..security import authentication, spam, virus

    found = [
        authentication.authentication_check(settings, own_domains),
        spam.spam_check(settings),
        virus.virus_check(settings),
    ]
    return [check for check in found if check is not None]


async def run_checks(checks: Sequence[Check], inspection: Inspection, *, seconds: float) -> Finding:
    """Run ``checks`` on ``inspection`` (an ``authentication`` check first, the others then concurrently,
    seeing its verdict) and merge what they found. Each may take ``seconds`` at most."""
    merged = Finding()
    first = [check for check in checks if check.name == "authentication"]
    rest = [check for check in checks if check.name != "authentication"]
    if first:
        await _run(first, inspection, seconds, merged)
        inspection = dataclasses.replace(inspection, authentication=merged.verdicts.get("authentication"))
    if rest:
        await _run(rest, inspection, seconds, merged)
    return merged


async def _run(checks: Sequence[Check], inspection: Inspection, seconds: float, merged: Finding) -> None:
    results = await asyncio.gather(
        *(asyncio.wait_for(check(inspection), seconds) for check in checks), return_exceptions=True
    )
    for check, result in zip(checks, results, strict=True):
        if isinstance(result, Finding):
            bad = [label for label in result.labels if label not in CHECK_LABELS]
            if bad:
                raise ValueError(
                    f"check {check.name!r} gave {bad!r}; only {', '.join(CHECK_LABELS)} may be given"
                )
            merged.merge(result)
        elif isinstance(result, asyncio.CancelledError):
            raise result
        elif isinstance(result, BaseException):
            reason = "timed out" if isinstance(result, TimeoutError) else f"{type(result).__name__}: {result}"
            logger.warning("inbound check %s failed: %s", check.name, reason)
            merged.verdicts[check.name] = {"error": f"the {check.name} check failed: {reason}"}


def with_headers(raw: bytes, parsed: ParsedMessage, headers: Sequence[tuple[str, str]]) -> tuple[bytes, str]:
    """``raw`` with ``headers`` prepended (in the message's own line ending), and the new bytes' SHA-256.

    ``parsed.headers`` (one value per name) gets them in place of any same-named header the sender wrote,
    so a forged ``Authentication-Results`` is not mistaken for ours; the raw bytes keep the sender's too.
    """
    if not headers:
        return raw, hashlib.sha256(raw).hexdigest()
    newline = b"\r\n" if b"\r\n" in raw[:4096] or not raw else b"\n"
    prefix = b"".join(
        name.encode("ascii") + b": " + (newline + b"\t").join(_lines(value)) + newline
        for name, value in headers
    )
    ours = {name.lower() for name, _ in headers}
    kept = {name: value for name, value in parsed.headers.items() if name.lower() not in ours}
    parsed.headers.clear()
    for name, value in headers:
        parsed.headers.setdefault(name, " ".join(value.split()))
    parsed.headers.update(kept)
    raw = prefix + raw
    return raw, hashlib.sha256(raw).hexdigest()


def _lines(value: str) -> list[bytes]:
    """A header value's lines (a folded value continues on tab-indented lines), without empty ones."""
    return [line.strip().encode("utf-8") for line in value.splitlines() if line.strip()] or [b""]


def checked(finding: Finding) -> dict[str, Any] | None:
    """The verdicts to store with a message, or None when no check ran."""
    return dict(finding.verdicts) or None
