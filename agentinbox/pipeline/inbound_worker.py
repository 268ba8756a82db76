"""Processes the inbound queue in the background: woken when mail is queued, and at start for leftovers.

Each queued message is parsed, then stored and removed from the queue in one transaction, so a crash at any
point leaves it queued and the next start processes it, without a duplicate. A failure is recorded and the
message tried again later with a growing delay; nothing is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sqlalchemy import Connection

from ..store import inbound_queue, inboxes
from .context import Context
from .inbound import prepare, store_received

__all__ = ["InboundWorker"]

logger = logging.getLogger("agentinbox.inbound")

_BATCH = 64
_POLL_SECONDS = 5.0
_FIRST_RETRY_SECONDS = 30
_MAX_RETRY_SECONDS = 3600
_STOP_SECONDS = 30


class InboundWorker:
    """A background task that turns queued raw mail into stored messages."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def start(self) -> None:
        """Start working, beginning with whatever an earlier run left in the queue."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="agentinbox-inbound")
            self.wake()

    def wake(self) -> None:
        """Tell the worker that mail was queued."""
        self._idle.clear()
        self._wake.set()

    async def idle(self) -> None:
        """Return once the worker has found nothing left to do."""
        await self._idle.wait()

    async def stop(self) -> None:
        """Stop after the message in hand; what is still queued waits for the next start.

        The worker is asked to stop rather than cancelled, since cancelling a database call midway can
        leave its connection unusable.
        """
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping = True
        self._wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout=_STOP_SECONDS)
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        finally:
            self._stopping = False

    async def _run(self) -> None:
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=_POLL_SECONDS)
            self._wake.clear()
            if self._stopping:
                return
            try:
                while await self._pass():
                    pass
            except asyncio.CancelledError:
                raise
            except Exception:  # the database is unreachable: log, keep the queue, try again later
                logger.exception("inbound queue processing failed; retrying")
                continue
            if not self._wake.is_set():
                self._idle.set()

    async def _pass(self) -> bool:
        db, clock = self._ctx.db, self._ctx.clock
        ids = await db.read(inbound_queue.due, now=clock.now(), limit=_BATCH)
        for queue_id in ids:
            if self._stopping:
                return False
            await self._process(queue_id)
        return bool(ids)

    async def _process(self, queue_id: int) -> None:
        ctx = self._ctx
        found = await ctx.db.read(inbound_queue.entry, queue_id)
        if found is None:
            return
        row, raw = found
        prepared = prepare(raw)
        window = ctx.settings.subject_threading_window

        def store(conn: Connection) -> None:
            if not inbound_queue.finish(conn, queue_id):
                return  # processed meanwhile by another worker
            # An inbox deleted since the message was accepted no longer receives it.
            local = inboxes.inbox_pods(conn, row.rcpt_to)
            recipients = {
                address: local[address]
                for address in dict.fromkeys(a.lower() for a in row.rcpt_to)
                if address in local
            }
            if recipients:
                store_received(conn, prepared, recipients, now=ctx.clock.now(), subject_window=window)

        try:
            await ctx.db.write(store)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            delay = min(_FIRST_RETRY_SECONDS * 2 ** min(row.attempts, 16), _MAX_RETRY_SECONDS)
            logger.exception("queued message %s could not be stored; retrying in %s s", queue_id, delay)
            await ctx.db.write(
                inbound_queue.postpone,
                queue_id,
                error=f"{type(exc).__name__}: {exc}",
                retry_at=ctx.clock.now() + delay * 1_000_000,
            )
