"""Group commit for SQLite: writes queued while the writer is busy share one transaction and one commit.

Each queued write runs inside its own SAVEPOINT, so one that fails is rolled back alone and its caller gets
its exception, while the others commit. A caller is answered only after the commit that holds its write.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any

from sqlalchemy import Connection, Engine

from .events import Appended, collect_appended, stop_collecting

__all__ = ["GroupCommit"]

_Write = tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any], "asyncio.Future[Any]"]


class GroupCommit:
    """Runs write functions from the event loop on the writer thread, several per transaction."""

    def __init__(self, engine: Engine, executor: Executor, *, max_batch: int = 64) -> None:
        self._engine = engine
        self._executor = executor
        self._max_batch = max_batch
        self._lock = threading.Lock()
        self._pending: list[_Write] = []
        self._draining = False
        #: Called on the event loop with the events a transaction appended, after it committed and before
        #: the writers are answered.
        self.on_events: Callable[[list[Appended]], None] | None = None

    async def submit(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        with self._lock:
            self._pending.append((fn, args, kwargs, future))
            start = not self._draining
            self._draining = True
        if start:
            loop.run_in_executor(self._executor, self._drain, loop)
        return await future

    def _drain(self, loop: asyncio.AbstractEventLoop) -> None:
        while True:
            with self._lock:
                batch = self._pending[: self._max_batch]
                del self._pending[: self._max_batch]
                if not batch:
                    self._draining = False
                    return
            outcomes, appended = self._run(batch)
            if appended and self.on_events is not None:
                loop.call_soon_threadsafe(self.on_events, appended)
            for (_fn, _args, _kwargs, future), (ok, value) in zip(batch, outcomes, strict=True):
                loop.call_soon_threadsafe(_settle, future, ok, value)

    def _run(self, batch: list[_Write]) -> tuple[list[tuple[bool, Any]], list[Appended]]:
        """Run the batch in one transaction: each write's outcome, and the events the commit made durable."""
        outcomes: list[tuple[bool, Any]] = []
        try:
            with self._engine.connect() as conn:
                appended = collect_appended(conn)
                try:
                    with conn.begin():
                        for fn, args, kwargs, _future in batch:
                            outcomes.append(_call(conn, fn, args, kwargs, appended, savepoint=len(batch) > 1))
                        if len(batch) == 1 and not outcomes[0][0]:
                            raise outcomes[0][1]
                finally:
                    stop_collecting(conn)
        except Exception as exc:
            failed = [(False, exc if ok else value) for ok, value in outcomes]
            return failed + [(False, exc)] * (len(batch) - len(outcomes)), []
        return outcomes, appended


def _call(
    conn: Connection,
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    appended: list[Appended],
    *,
    savepoint: bool,
) -> tuple[bool, Any]:
    if not savepoint:
        try:
            return True, fn(conn, *args, **kwargs)
        except Exception as exc:
            return False, exc
    nested = conn.begin_nested()
    mark = len(appended)
    try:
        result = fn(conn, *args, **kwargs)
    except Exception as exc:
        nested.rollback()
        del appended[mark:]  # rolled back with the savepoint
        return False, exc
    nested.commit()
    return True, result


def _settle(future: asyncio.Future[Any], ok: bool, value: Any) -> None:
    if future.cancelled():
        return
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)
