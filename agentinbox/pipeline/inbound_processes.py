"""The inbound queue processed by child processes, so the receiver and the storing of mail use two cores.

With ``inbound_processes`` = N > 0, the engine runs no inbound worker of its own: it spawns N children
(``python -m agentinbox.pipeline.inbound_processes``), each opening the same database and running an
``InboundWorker`` over its share of the queue (ids equal to its index modulo N), so no two parse the same
message. A child is a fresh interpreter started with ``asyncio.create_subprocess_exec``, not a fork of an
engine whose threads hold database connections and locks, and without multiprocessing's pickling; its
stdin is its whole link to the parent:

- the first line carries the settings (as JSON) and the child's share;
- each byte after it is a wake: the parent writes one after every accept commit, skipped while an earlier
  one is unread, so a burst costs one write; the child also polls, as the worker does;
- end of file (``close()``, or the parent died) stops the child politely: it finishes the batch in hand and
  exits. A child killed midway loses nothing: its batch is still queued, and its restart processes it.

A child that exits while the engine runs is logged as an error and started again (after a delay that
grows while it keeps dying at once). Children run on the wall clock: a test's ManualClock stays here.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sys
import time
from pathlib import Path

from ..store import inbound_queue
from .context import Context

__all__ = ["InboundProcesses"]

logger = logging.getLogger("agentinbox.inbound")

_CHILD_MODULE = "agentinbox.pipeline.inbound_child"  # imported by nothing else, so -m runs it cleanly
_RESTART_SECONDS = 0.5  # first wait before starting a child again after it died; doubles up to the max
_RESTART_MAX_SECONDS = 30.0
_HEALTHY_SECONDS = 60.0  # a child that ran this long before dying is restarted after the first wait again
_IDLE_POLL_SECONDS = 0.02


class InboundProcesses:
    """Parent side: the children, with the life cycle of a worker (start, wake, idle, stop)."""

    stop_seconds = 30.0

    def __init__(self, ctx: Context, count: int) -> None:
        self._ctx = ctx
        self._count = count
        self._children: list[asyncio.subprocess.Process | None] = [None] * count
        self._watchers: list[asyncio.Task[None]] = []
        self._stopping = False
        self._wake_pending = False
        self._spawned = [asyncio.Event() for _ in range(count)]

    @property
    def pids(self) -> list[int]:
        """The process ids of the children running now."""
        return [child.pid for child in self._children if child is not None and child.returncode is None]

    def start(self) -> None:
        """Spawn the children (each first processes what its share of the queue holds) and watch them."""
        if self._watchers:
            return
        self._stopping = False
        self._watchers = [
            asyncio.create_task(self._keep(index), name=f"agentinbox-inbound-{index}")
            for index in range(self._count)
        ]

    async def ready(self) -> None:
        """Return once every child has been spawned (each then processes its share of the queue)."""
        for spawned in self._spawned:
            await spawned.wait()

    def wake(self) -> None:
        """Tell the children there is new mail: one byte each, written once per turn of the event loop."""
        if not self._wake_pending:
            self._wake_pending = True
            asyncio.get_running_loop().call_soon(self._send_wake)

    def _send_wake(self) -> None:
        self._wake_pending = False
        for child in self._children:
            stdin = child.stdin if child is not None else None
            if stdin is None or stdin.is_closing() or stdin.transport.get_write_buffer_size() > 0:
                continue  # not running, or an earlier wake is still unread: that one will do
            with contextlib.suppress(OSError):
                stdin.write(b".")

    async def idle(self) -> None:
        """Return once the inbound queue holds no message due (every one was stored, or postponed)."""
        ctx = self._ctx
        while True:  # the children's commits are seen only in the database: poll it
            if not await ctx.db.read(inbound_queue.due_count, now=ctx.clock.now()):
                return
            await asyncio.sleep(_IDLE_POLL_SECONDS)

    async def stop(self) -> None:
        """Close each child's stdin and wait for it to finish its batch and exit (killed after
        ``stop_seconds``); no child process is left behind."""
        self._stopping = True
        watchers, self._watchers = self._watchers, []
        for child in self._children:
            if child is not None and child.stdin is not None:
                child.stdin.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*watchers, return_exceptions=True), self.stop_seconds)
        for child in self._children:
            if child is not None and child.returncode is None:
                logger.error("inbound process %d did not stop in time; killing it", child.pid)
                child.kill()
                await child.wait()
        for watcher in watchers:
            watcher.cancel()
        await asyncio.gather(*watchers, return_exceptions=True)
        self._children = [None] * self._count
        self._spawned = [asyncio.Event() for _ in range(self._count)]

    async def _keep(self, index: int) -> None:
        """Run child ``index`` until the engine stops, starting it again whenever it dies."""
        setup = json.dumps(
            {"settings": self._ctx.settings.model_dump(mode="json"), "shard": [index, self._count]}
        )
        delay = _RESTART_SECONDS
        while not self._stopping:
            try:
                child = await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    _CHILD_MODULE,
                    stdin=asyncio.subprocess.PIPE,
                    env=_child_environment(),
                )
            except OSError:
                logger.exception("inbound process %d could not be started; retrying in %s s", index, delay)
                self._spawned[index].set()  # start() does not wait for it: mail stays queued meanwhile
                await asyncio.sleep(delay)
                delay = min(delay * 2, _RESTART_MAX_SECONDS)
                continue
            began = time.monotonic()
            self._children[index] = child
            assert child.stdin is not None
            with contextlib.suppress(OSError):
                child.stdin.write(setup.encode() + b"\n")
            self._spawned[index].set()
            if self._stopping:  # stop() ran while this child was starting
                child.stdin.close()
            code = await child.wait()
            if self._stopping:
                if code != 0:
                    logger.error("inbound process %d (pid %d) exited with %d", index, child.pid, code)
                return
            if time.monotonic() - began >= _HEALTHY_SECONDS:
                delay = _RESTART_SECONDS
            logger.error(
                "inbound process %d (pid %d) died with exit status %d; starting it again in %s s",
                index,
                child.pid,
                code,
                delay,
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, _RESTART_MAX_SECONDS)


def _child_environment() -> dict[str, str]:
    """This environment, with this agentinbox package first on the child's import path."""
    root = str(Path(__file__).resolve().parents[2])
    path = os.environ.get("PYTHONPATH", "")
    return {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (root, path) if p)}
