"""The life cycle the engine's background workers share: start, wake, wait until idle, stop politely.

A worker is asked to stop rather than cancelled: cancelling a database call midway can leave its connection
unusable. Only a worker that has not stopped after ``stop_seconds`` is cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib

__all__ = ["BackgroundWorker"]


class BackgroundWorker:
    """Subclasses implement ``_run``, which loops until ``_stopping``, waits on ``_wake`` between rounds of
    work, and sets ``_idle`` when a round found nothing to do."""

    name = "agentinbox-worker"
    stop_seconds = 30.0

    def __init__(self) -> None:
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def start(self) -> None:
        """Start working, beginning with whatever is already waiting."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=self.name)
            self.wake()

    def wake(self) -> None:
        """Tell the worker there is new work."""
        self._idle.clear()
        self._wake.set()

    async def idle(self) -> None:
        """Return once the worker has found nothing left to do."""
        await self._idle.wait()

    async def stop(self) -> None:
        """Finish the work in hand (for up to ``stop_seconds``) and stop; what waits stays for the next start."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping = True
        self._wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout=self.stop_seconds)
        except TimeoutError:
            task.cancel()
            self._abandon()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        finally:
            self._stopping = False

    def _abandon(self) -> None:
        """Cancel work the worker started besides its own task (it did not stop in time)."""

    async def _run(self) -> None:
        raise NotImplementedError
