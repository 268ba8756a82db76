"""Sends scheduled drafts when their ``send_at`` comes.

The scheduler claims due drafts (``send_status`` ``sending`` with a lease; ``FOR UPDATE SKIP LOCKED`` on
PostgreSQL, so several engines on one database never send a draft twice) and sends each through the draft
send path (:func:`agentinbox.pipeline.drafts.send_scheduled`): the message is stored ``sent``, queued for
delivery, and the draft deleted, all in one transaction. A send that can never pass (no recipients, a
rejected message, a reply whose original is gone) marks the draft ``failed`` with the reason in
``send_error``, and it is not tried again until it is rescheduled. A send that may pass later (the database
is unavailable) keeps its claim, which expires after ``LEASE_SECONDS``, and the draft is claimed again; so
does a draft whose scheduler died mid-send.

Between rounds it sleeps until the earliest ``send_at`` (at most ``POLL_SECONDS``, the safety net for
drafts scheduled by another process), and is woken at once when a draft is scheduled here. Time comes from
the engine's clock, so tests with a ManualClock advance the clock and wake the scheduler. A ``send_at`` that
passed while no scheduler ran is sent by the first round after ``start()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from ..errors import AgentInboxError, ConflictError, RateLimitError
from ..store import drafts
from .background import BackgroundWorker
from .context import Context
from .drafts import send_scheduled

__all__ = ["LEASE_SECONDS", "POLL_SECONDS", "Scheduler"]

logger = logging.getLogger("agentinbox.scheduler")

#: The longest sleep between rounds: drafts another process scheduled are noticed this late at worst.
POLL_SECONDS = 5.0
#: How long a claim holds; sending a draft is one transaction, so this is ample.
LEASE_SECONDS = 120
#: Drafts claimed per round.
_BATCH = 50
#: The shortest sleep, when a due draft is held by another process (PostgreSQL skips locked rows).
_MIN_SLEEP = 0.1


class Scheduler(BackgroundWorker):
    """A background task that sends scheduled drafts when they fall due."""

    name = "agentinbox-scheduler"

    def __init__(self, ctx: Context) -> None:
        super().__init__()
        self._ctx = ctx

    async def _run(self) -> None:
        while not self._stopping:
            claimed: list[str] = []
            try:
                claimed = await self._claim()
            except asyncio.CancelledError:
                raise
            except Exception:  # the database is unreachable: the drafts wait, try again later
                logger.exception("claiming scheduled drafts failed; retrying")
            for index, draft_id in enumerate(claimed):
                if self._stopping:
                    await self._release(claimed[index:])
                    return
                await self._send(draft_id)
            if claimed:
                continue
            delay = await self._until_next()
            if not self._wake.is_set():
                self._idle.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=delay)
            self._wake.clear()

    async def _claim(self) -> list[str]:
        ctx = self._ctx
        now = ctx.clock.now()
        rows = await ctx.db.write(
            drafts.claim_due, now=now, lease_until=now + LEASE_SECONDS * 1_000_000, limit=_BATCH
        )
        return [row.draft_id for row in rows]

    async def _until_next(self) -> float:
        """Seconds to sleep: until the next draft falls due, within [_MIN_SLEEP, POLL_SECONDS]."""
        try:
            due = await self._ctx.db.read(drafts.next_due)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("reading the next scheduled send failed")
            return POLL_SECONDS
        if due is None:
            return POLL_SECONDS
        return min(POLL_SECONDS, max(_MIN_SLEEP, (due - self._ctx.clock.now()) / 1_000_000))

    async def _send(self, draft_id: str) -> None:
        """Send one claimed draft; record a failure that will not pass, leave the claim on one that may."""
        ctx = self._ctx
        try:
            await send_scheduled(ctx, draft_id=draft_id)
            return
        except asyncio.CancelledError:
            raise
        except ConflictError:  # a concurrent change collided: the claim expires and the send is retried
            logger.warning("scheduled draft %s collided with a concurrent change; will retry", draft_id)
            return
        except RateLimitError as exc:  # over a send limit for now: the claim expires and the send is retried
            logger.warning("scheduled draft %s waits for a send limit: %s", draft_id, exc.message)
            return
        except AgentInboxError as exc:
            if exc.code == "service_unavailable":
                logger.warning("scheduled draft %s not sent, database unavailable; will retry", draft_id)
                return
            reason = f"{type(exc).__name__}: {exc}"
        except Exception as exc:  # a bug: record it rather than retry it forever
            logger.exception("sending scheduled draft %s failed", draft_id)
            reason = f"internal error: {type(exc).__name__}: {exc}"
        try:
            await ctx.db.write(drafts.mark_failed, draft_id, reason, now=ctx.clock.now())
        except asyncio.CancelledError:
            raise
        except Exception:  # the claim expires and the send is tried (and fails) again
            logger.exception("recording the failure of scheduled draft %s failed", draft_id)

    async def _release(self, draft_ids: list[str]) -> None:
        """Hand back drafts claimed but not sent before a stop, so the next start sends them at once."""
        ctx = self._ctx
        for draft_id in draft_ids:
            try:
                await ctx.db.write(drafts.release_claim, draft_id, now=ctx.clock.now())
            except asyncio.CancelledError:
                raise
            except Exception:  # the claim expires instead
                logger.exception("releasing scheduled draft %s failed", draft_id)
