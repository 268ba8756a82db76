"""What the aiosmtpd hooks of the receiver and of the submission server share.

Asking the engine about an address (a check that fails is a 451 the client retries, never a traceback),
the recipient limit, and storing a message at the end of DATA shielded from a dropped session. The
decisions themselves, and storage, belong to the functions the handlers are given.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiosmtpd.smtp import Envelope

__all__ = ["add_recipient", "ask", "message_bytes", "store_shielded"]

logger = logging.getLogger("agentinbox.smtp")


async def ask(check: Awaitable[str | None], *, what: str, address: str) -> str | None:
    """The refusal ``check`` answers for ``address`` (None accepts it); if the check itself fails, a 451.

    ``what`` names the address in the log and the reply: "sender" or "recipient".
    """
    # Shielded: a session that times out or drops mid-check must not cancel a database call halfway
    # (that can leave its connection unusable); the check finishes on its own and its answer is dropped.
    pending = asyncio.ensure_future(check)
    pending.add_done_callback(_consume)
    try:
        return await asyncio.shield(pending)
    except Exception:
        logger.exception("%s check failed for %s", what, address)
        return f"451 4.3.0 Temporary failure checking the {what}; try again later"


def _consume(task: asyncio.Future[Any]) -> None:
    """Retrieve the outcome of a check nobody waits for any more, so it is not reported as lost."""
    if not task.cancelled():
        task.exception()


async def add_recipient(
    envelope: Envelope,
    address: str,
    check: Callable[[], Awaitable[str | None]],
    *,
    max_recipients: int,
) -> str:
    """RCPT: refuse beyond ``max_recipients``, else ask ``check``; an accepted address joins the envelope.

    aiosmtpd leaves appending to ``envelope.rcpt_tos`` to a handler that has ``handle_RCPT``.
    """
    if len(envelope.rcpt_tos) >= max_recipients:
        return "452 4.5.3 Too many recipients"  # RFC 5321 §4.5.3.1.10
    refusal = await ask(check(), what="recipient", address=address)
    if refusal is not None:
        return refusal
    envelope.rcpt_tos.append(address)
    return "250 2.1.5 Recipient OK"


def message_bytes(envelope: Envelope) -> bytes:
    """The message as received: the bytes DATA carried, dot-unstuffed."""
    raw = envelope.original_content or envelope.content or b""
    if isinstance(raw, str):  # only with decode_data=True, which our listeners never set
        raw = raw.encode("utf-8", "surrogateescape")
    return raw


async def store_shielded(store: Awaitable[str], *, sender: str | None) -> str:
    """The reply of ``store``, which makes a message durable; if it fails, a 451 the client retries.

    Shielded: if the session times out or drops meanwhile, the commit still completes. That client saw no
    250 and will send again; the engine recognises the second copy.
    """
    stored = asyncio.ensure_future(store)
    try:
        return await asyncio.shield(stored)
    except Exception:
        logger.exception("could not store a message from %s", sender)
        return "451 4.3.0 Temporary failure storing the message; try again later"
