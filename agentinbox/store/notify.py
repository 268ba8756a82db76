"""Cross-process wake-ups on PostgreSQL: NOTIFY at commit of a write that others should act on, LISTEN here.

A write transaction that appends events or queues work (inbound mail, deliveries, scheduled drafts, webhook
deliveries) sends one ``pg_notify('agentinbox', '<sender> <kind>,<kind>')`` inside itself, so it is
delivered at commit and never for a rolled-back transaction (``Database`` does that, see ``watch``). Each
engine holds one ``Listener``: a dedicated asyncpg connection that LISTENs and hands the kinds to a
callback, which wakes the event bus and the matching workers. A notification is only a hint: every
consumer still polls (more slowly while the listener is up), so a dropped connection or a lost
notification delays work, never loses it. The listener reconnects with a growing delay, and on each
(re)connection reports every kind, since what was sent meanwhile is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy.engine import make_url

__all__ = ["CHANNEL", "KINDS", "Listener", "payload", "postgres_dsn"]

logger = logging.getLogger("agentinbox.notify")

CHANNEL = "agentinbox"
#: Every kind a notification may name: the event log, then the queues their workers claim from.
KINDS = frozenset({"events", "inbound", "delivery", "scheduler", "webhook"})
_RETRY_FIRST = 0.1
_RETRY_MAX = 5.0
#: How often an idle listening connection is checked (a dead peer is not always reported by the socket).
_CHECK_SECONDS = 15.0
_CHECK_TIMEOUT = 5.0


def payload(sender: str, kinds: Iterable[str]) -> str:
    """The notification text: who sent it (so a process skips its own) and the kinds, comma-separated."""
    return f"{sender} {','.join(sorted(kinds))}"


def postgres_dsn(url: str) -> str:
    """The libpq-style DSN asyncpg takes, from the engine's SQLAlchemy URL."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class Listener:
    """One LISTENing connection; ``on_notify(kinds)`` for each notification of another sender, and
    ``on_state(up)`` when the connection comes up (then also ``on_notify(KINDS)``) or goes down."""

    def __init__(
        self,
        url: str,
        *,
        sender: str,
        on_notify: Callable[[frozenset[str]], None],
        on_state: Callable[[bool], None] = lambda up: None,
    ) -> None:
        self._dsn = postgres_dsn(url)
        self._sender = sender
        self._on_notify = on_notify
        self._on_state = on_state
        self._task: asyncio.Task[None] | None = None
        self._up = asyncio.Event()
        #: True while the connection is open and listening.
        self.up = False

    def start(self) -> None:
        """Connect (and keep reconnecting) in the background."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="agentinbox-listener")

    async def wait_up(self, seconds: float) -> bool:
        """Wait until listening (for tests and callers that want notifications from the first commit)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._up.wait(), seconds)
        return self.up

    async def close(self) -> None:
        """Stop listening and close the connection."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _received(self, _conn: Any, _pid: int, _channel: str, text: str) -> None:
        sender, _, kinds = text.partition(" ")
        if sender == self._sender:
            return  # this engine's own commit: it woke its own consumers already
        found = frozenset(kinds.split(",")) & KINDS
        if found:
            self._on_notify(found)

    async def _run(self) -> None:
        delay = _RETRY_FIRST
        while True:
            try:
                await self._listen()
                delay = _RETRY_FIRST  # it was up: the first retry comes soon
                logger.warning("the PostgreSQL listening connection closed; reconnecting")
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.warning(
                    "listening on PostgreSQL failed (%s: %s); retrying in %.1f s",
                    type(exc).__name__,
                    exc,
                    delay,
                )
            await asyncio.sleep(delay)
            delay = min(delay * 2, _RETRY_MAX)

    async def _listen(self) -> None:
        """Connect, LISTEN and wait until the connection is lost (or fails a check)."""
        import asyncpg  # the PostgreSQL extra; only engines on PostgreSQL get here

        lost = asyncio.Event()
        conn = await asyncpg.connect(self._dsn, timeout=10)
        try:
            conn.add_termination_listener(lambda _conn: lost.set())
            await conn.add_listener(CHANNEL, self._received)
            self._set_state(True)
            self._on_notify(KINDS)  # whatever was notified while not listening is gone: look once
            while not lost.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(lost.wait(), _CHECK_SECONDS)
                if not lost.is_set():
                    await conn.fetchval("SELECT 1", timeout=_CHECK_TIMEOUT)
        finally:
            self._set_state(False)
            conn.terminate()  # no round trip: the connection may be dead, or this task is cancelled

    def _set_state(self, up: bool) -> None:
        if up == self.up:
            return
        self.up = up
        if up:
            self._up.set()
        else:
            self._up.clear()
        self._on_state(up)
