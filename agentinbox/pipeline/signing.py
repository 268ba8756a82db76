"""DKIM-signs outgoing mail with the sending domain's active key, when it has one.

A signing failure never loses or blocks a message: it is logged and the message goes out unsigned (SPF
still authorizes the engine's host, so DMARC can pass without DKIM); the failure is a key or message
problem the operator has to fix, not something a retry of the send would cure.
"""

from __future__ import annotations

import logging

from sqlalchemy import Connection

from ..security import dkim
from ..store import domains

__all__ = ["sign_outgoing"]

_log = logging.getLogger("agentinbox.dkim")


def sign_outgoing(conn: Connection, sender: str, raw: bytes) -> bytes:
    """``raw`` signed for the domain of the ``sender`` address, or unchanged when the domain has no key."""
    domain = sender.rpartition("@")[2].lower()
    key = domains.signing_key(conn, domain)
    if key is None:
        return raw
    selector, private_key_pem = key
    try:
        return dkim.sign(raw, domain=domain, selector=selector, private_key_pem=private_key_pem)
    except dkim.SigningError as exc:
        _log.warning("DKIM signing for %s (selector %s) failed; sending unsigned: %s", domain, selector, exc)
        return raw
