"""DKIM verification (RFC 6376, RFC 8463 ed25519, RFC 8301 algorithm rules) of every DKIM-Signature of a
received message, with dkimpy.

The public keys are fetched first, concurrently, through ``Lookups`` (cached, never blocking the loop);
dkimpy then checks each signature against its key from that answer, so it does no DNS of its own. Large
messages are hashed in a worker thread. Never raises: a signature that cannot be checked gets permerror
(or temperror when its key could not be fetched).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import dkim

from .lookups import Lookups, TemporaryDNSError

__all__ = ["DKIMResult", "SignatureResult", "verify_message"]

#: Signatures checked per message at most; more are ignored (each may cost a DNS lookup and a body hash).
MAX_SIGNATURES = 10
#: Messages larger than this are hashed in a worker thread rather than on the event loop.
THREAD_ABOVE = 256 * 1024

_logger = logging.getLogger("agentinbox.dkim")
_logger.addHandler(logging.NullHandler())
_NAME = re.compile(rb"^[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?)*$", re.I)


@dataclass(frozen=True, slots=True)
class SignatureResult:
    """One signature's result (pass, fail, permerror, temperror), its ``d=``, ``s=`` and the start of its
    ``b=`` (RFC 6008 ``header.b``, to tell signatures of one domain apart), and why, for people."""

    result: str
    domain: str | None = None
    selector: str | None = None
    b: str | None = None
    reason: str = ""


@dataclass(frozen=True, slots=True)
class DKIMResult:
    """All signatures' results, and the message's: pass when one verified, temperror when none did but a
    key could not be fetched, fail when signed otherwise, none when unsigned, permerror when the header
    block could not be read at all."""

    result: str
    signatures: list[SignatureResult] = field(default_factory=list)

    @property
    def domains(self) -> list[str]:
        """The ``d=`` domains of the signatures that verified, each once."""
        return list(dict.fromkeys(s.domain for s in self.signatures if s.result == "pass" and s.domain))


@dataclass(frozen=True, slots=True)
class _Signature:
    """A signature as read before its key is fetched: its tags and what identifies it (``found``, with
    the result it gets when it cannot be checked at all), or only that result."""

    found: SignatureResult
    tags: dict[bytes, bytes] | None = None
    include: tuple[bytes, ...] = ()
    header: tuple[bytes, bytes] | None = None

    @property
    def key_name(self) -> str | None:
        if self.tags is None:
            return None
        return (self.tags[b"s"] + b"._domainkey." + self.tags[b"d"]).decode("ascii")


async def verify_message(raw: bytes, lookups: Lookups) -> DKIMResult:
    """Check every DKIM-Signature of ``raw`` (up to ``MAX_SIGNATURES``)."""
    threaded = len(raw) > THREAD_ABOVE
    read = await asyncio.to_thread(_read, raw) if threaded else _read(raw)
    if isinstance(read, DKIMResult):
        return read
    verifier, signatures = read
    names = sorted({name for s in signatures if (name := s.key_name) is not None})
    fetched = await asyncio.gather(*(lookups.txt(name) for name in names), return_exceptions=True)
    keys: dict[str, bytes | str] = {}
    for name, answer in zip(names, fetched, strict=True):
        if isinstance(answer, TemporaryDNSError):
            keys[name] = str(answer)  # text: the reason the key is missing
        elif isinstance(answer, BaseException):
            raise answer
        elif answer.records:
            keys[name] = answer.records[0].encode("latin-1")
    if threaded:
        results = await asyncio.to_thread(_check_all, verifier, signatures, keys)
    else:
        results = _check_all(verifier, signatures, keys)
    return DKIMResult(_overall(results), results)


def _read(raw: bytes) -> DKIMResult | tuple[dkim.DKIM, list[_Signature]]:
    """dkimpy's reading of the message and its signatures, or the result when there is nothing to check."""
    try:
        verifier = dkim.DKIM(raw, logger=_logger, minkey=1024)
    except Exception as exc:  # dkimpy's header parser fails in ways it does not list
        if re.search(rb"(?im)^dkim-signature\s*:", raw.split(b"\n\n", 1)[0].split(b"\r\n\r\n", 1)[0]):
            return DKIMResult("permerror", [SignatureResult("permerror", reason=f"unreadable header: {exc}")])
        return DKIMResult("none")
    headers = [h for h in verifier.headers if h[0].lower() == b"dkim-signature"]
    if not headers:
        return DKIMResult("none")
    return verifier, [_signature(verifier, index) for index in range(min(len(headers), MAX_SIGNATURES))]


def _signature(verifier: dkim.DKIM, index: int) -> _Signature:
    """Read signature ``index``'s tags and check them (RFC 6376 §6.1.1) before any key is fetched."""
    try:
        prepared = verifier.verify_headerprep(index)
    except Exception as exc:  # dkimpy: MessageFormatError, ValidationError, and IndexError on odd i= tags
        return _Signature(SignatureResult("permerror", reason=_reason(exc)))
    tags, include, headers = prepared
    domain, selector = tags[b"d"], tags[b"s"]
    found = SignatureResult(
        "permerror",
        domain=domain.decode("ascii", "replace").lower(),
        selector=selector.decode("ascii", "replace"),
        b=re.sub(rb"\s+", b"", tags[b"b"])[:8].decode("ascii", "replace"),
    )
    if not _NAME.match(domain) or not _NAME.match(selector):
        return _Signature(_with(found, "permerror", "d= or s= is not a domain name"))
    if b"from" not in include:
        return _Signature(_with(found, "permerror", "the From header is not signed"))
    if tags[b"a"] == b"rsa-sha1":
        return _Signature(_with(found, "permerror", "rsa-sha1 is not accepted (RFC 8301)"))
    return _Signature(found, tags, tuple(include), headers[index])


def _check_all(
    verifier: dkim.DKIM, signatures: Sequence[_Signature], keys: dict[str, bytes | str]
) -> list[SignatureResult]:
    return [_check(verifier, signature, keys) for signature in signatures]


def _check(verifier: dkim.DKIM, signature: _Signature, keys: dict[str, bytes | str]) -> SignatureResult:
    """Verify one signature against its fetched key."""
    found, name = signature.found, signature.key_name
    if name is None or signature.tags is None or signature.header is None:
        return found
    key = keys.get(name)
    if isinstance(key, str):
        return _with(found, "temperror", key)
    if key is None:
        return _with(found, "permerror", f"no key published at {name}")
    try:
        dkim.evaluate_pk(name, key)
    except Exception as exc:  # KeyFormatError, and whatever a broken key makes the key parsers raise
        return _with(found, "permerror", f"unusable key at {name}: {_reason(exc)}")
    try:
        verified = verifier.verify_sig(
            signature.tags, list(signature.include), signature.header, lambda *_, **__: key
        )
    except dkim.ValidationError as exc:  # a body hash that does not match, an expired signature
        return _with(found, "fail", _reason(exc))
    except Exception as exc:  # MessageFormatError, KeyFormatError (a key under 1024 bits), odd tags
        return _with(found, "permerror", _reason(exc))
    if verified:
        return _with(found, "pass", "")
    return _with(found, "fail", "the signature does not match")


def _with(found: SignatureResult, result: str, reason: str) -> SignatureResult:
    return SignatureResult(result, found.domain, found.selector, found.b, reason)


def _reason(exc: BaseException) -> str:
    text = str(exc)
    return text if len(text) <= 200 else text[:197] + "..."


def _overall(results: Sequence[SignatureResult]) -> str:
    words = {result.result for result in results}
    if "pass" in words:
        return "pass"
    if "temperror" in words:
        return "temperror"
    return "fail"
