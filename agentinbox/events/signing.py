"""Webhook secrets and signatures in the Svix / Standard Webhooks scheme (reference §9.4); no I/O.

A secret is ``whsec_`` + base64 of random bytes; the signature of a call is
``v1,`` + base64(HMAC-SHA256(key, f"{id}.{timestamp}.{body}")) with the decoded secret as the key, so any
Svix or Standard Webhooks library verifies what the dispatcher sends.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

__all__ = ["SECRET_PREFIX", "new_secret", "signature"]

SECRET_PREFIX = "whsec_"
_SECRET_BYTES = 24


def new_secret() -> str:
    """A fresh signing secret: ``whsec_`` + base64 of 24 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(_SECRET_BYTES)).decode("ascii")


def signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``svix-signature`` header value for one call: ``v1,<base64 HMAC-SHA256>``."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")
