"""DKIM (RFC 6376): key pairs, the TXT record that publishes a key, and signing raw messages with dkimpy.

Pure functions, no I/O: the caller supplies the key and the message bytes and decides what to do when
signing fails (``SigningError``). The outbound pipeline logs it and sends the message unsigned, so a bad key
never loses mail.
"""

from __future__ import annotations

import base64
import functools
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import dkim
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa, utils

__all__ = [
    "SIGNED_HEADERS",
    "KeyPair",
    "SigningError",
    "generate_key",
    "new_selector",
    "public_key_base64",
    "sign",
    "txt_record",
]

#: Header fields signed when present (RFC 6376 §5.4.1): the ones a reader sees or threading relies on.
SIGNED_HEADERS = (
    "from",
    "to",
    "cc",
    "subject",
    "date",
    "message-id",
    "reply-to",
    "in-reply-to",
    "references",
    "mime-version",
    "content-type",
)

_SELECTOR = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$")


class SigningError(Exception):
    """The message could not be signed: a malformed key, selector, domain or message."""


@dataclass(frozen=True, slots=True)
class KeyPair:
    """An RSA key pair as PEM text: PKCS#1 private key, SubjectPublicKeyInfo public key."""

    private_key_pem: str
    public_key_pem: str


def generate_key(bits: int = 2048) -> KeyPair:
    """A new RSA key pair (2048 bits: RFC 8301's recommended size, and what fits a TXT record well)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return KeyPair(private_key_pem=private.decode("ascii"), public_key_pem=public.decode("ascii"))


def new_selector(when: datetime) -> str:
    """A fresh selector naming the key's creation date, unique enough for rotation: ``ai20261129a1b2``."""
    return f"ai{when:%Y%m%d}{secrets.token_hex(2)}"


def public_key_base64(public_key_pem: str) -> str:
    """The ``p=`` value of a DKIM record: the DER SubjectPublicKeyInfo in base64 (RFC 6376 §3.6.1)."""
    key = serialization.load_pem_public_key(public_key_pem.encode("ascii"))
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode("ascii")


def txt_record(public_key_pem: str) -> str:
    """The TXT record value published at ``<selector>._domainkey.<domain>``."""
    return f"v=DKIM1; k=rsa; p={public_key_base64(public_key_pem)}"


def sign(raw: bytes, *, domain: str, selector: str, private_key_pem: str) -> bytes:
    """``raw`` with a DKIM-Signature header prepended: rsa-sha256, relaxed/relaxed.

    Signs each field of ``SIGNED_HEADERS`` as often as it occurs, and From once more, so that a From added
    later breaks the signature (oversigning, RFC 6376 §8.15). Raises ``SigningError``.
    """
    if not isinstance(raw, bytes):
        raise SigningError("the message must be bytes")
    if not _SELECTOR.match(selector) or len(selector) > 63:
        raise SigningError(f"selector {selector!r} is not a valid DNS label sequence")
    if not domain or not domain.isascii() or any(c in domain for c in "\r\n\x00;= "):
        raise SigningError(f"domain {domain!r} is not a valid signing domain")
    key = _private_key(private_key_pem)
    try:
        signer = _Signer(raw, key=key, linesep=b"\r\n" if b"\r\n" in raw else b"\n")
        present = [name.lower() for name, _ in signer.headers]
        if b"from" not in present:
            raise SigningError("the message has no From header to sign")
        include = [name for name in present if name.decode("ascii", "replace") in SIGNED_HEADERS]
        include.append(b"from")
        signature = signer.sign(
            selector.encode("ascii"),
            domain.encode("ascii"),
            private_key_pem.encode("ascii"),
            canonicalize=(b"relaxed", b"relaxed"),
            include_headers=include,
        )
    except dkim.DKIMException as exc:
        raise SigningError(f"DKIM signing failed: {exc}") from exc
    except (ValueError, UnicodeError, IndexError) as exc:
        # dkimpy's parsers raise these on a malformed header block.
        raise SigningError(f"DKIM signing failed: {exc}") from exc
    return signature + raw


@functools.lru_cache(maxsize=64)
def _private_key(private_key_pem: str) -> rsa.RSAPrivateKey:
    """The PEM key loaded once: OpenSSL's key checks cost more than a signature."""
    try:
        key = serialization.load_pem_private_key(private_key_pem.encode("ascii"), password=None)
    except (ValueError, TypeError, UnicodeError) as exc:
        raise SigningError(f"the DKIM private key cannot be read: {exc}") from exc
    if not isinstance(key, rsa.RSAPrivateKey):
        raise SigningError("the DKIM private key is not an RSA key")
    return key


class _Signer(dkim.DKIM):
    """dkimpy's signer with the RSA step done by OpenSSL (through cryptography) instead of pure Python.

    dkimpy still selects and canonicalizes the headers, hashes the body, builds and folds the tag list;
    only ``gen_header``'s signature differs, and PKCS#1 v1.5 is deterministic, so the result is byte for
    byte what dkimpy alone produces (tests check this), at a tenth of the cost.
    """

    def __init__(self, message: bytes, *, key: rsa.RSAPrivateKey, linesep: bytes) -> None:
        super().__init__(message, linesep=linesep)
        self._key = key

    def gen_header(
        self,
        fields: list[tuple[bytes, bytes]],
        include_headers: Any,
        canon_policy: Any,
        header_name: bytes,
        pk: Any,
        standardize: bool = False,
    ) -> bytes:
        # As dkimpy's DomainSigner.gen_header for rsa-sha256 without ``standardize``.
        header_value = dkim.fold(b"; ".join(b"=".join(x) for x in fields), namelen=len(header_name))
        header_value = dkim.RE_BTAG.sub(b"\\1", header_value)
        hasher = dkim.HashThrough(self.hasher(), self.debug_content)
        headers = canon_policy.canonicalize_headers(self.headers)
        self.signed_headers = dkim.hash_headers(
            hasher, canon_policy, headers, include_headers, (header_name, b" " + header_value), dict(fields)
        )
        signature = self._key.sign(hasher.digest(), padding.PKCS1v15(), utils.Prehashed(hashes.SHA256()))
        fields = [(b"b", base64.b64encode(signature)) if name == b"b" else (name, v) for name, v in fields]
        header_value = b"; ".join(b"=".join(x) for x in fields) + self.linesep
        folded: bytes = dkim.fold(header_value, namelen=len(header_name), linesep=self.linesep)
        return folded
