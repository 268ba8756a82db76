"""Receiving over SMTP: the recipient policy and the durable accept the receiver calls, and the worker.

Accepting a message commits its bytes and envelope to the inbound queue (nothing more), so the 250 goes out
quickly; the inbound worker then processes the queue. Accepts that arrive while one commits are grouped
into the next transaction (one commit for many sessions' messages, on PostgreSQL as on SQLite), and each
is answered only once the transaction holding it has committed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

from ..mail.addresses import address_key
from ..smtp.receiver import Client, SMTPReceiver
from ..store import inbound_queue, inboxes
from .context import Context
from .inbound_processes import InboundProcesses
from .inbound_worker import InboundWorker
from .listening import listen_address, listener_options

__all__ = ["Receiving"]

_MAX_GROUP = 64  # messages per accept transaction: bounds its size and the wait of the first in it
_KNOWN_SECONDS = 10.0  # how long an inbox found by a recipient check is taken as existing
_KNOWN_MAX = 10_000  # remembered inboxes at most (forgotten all at once beyond)

_Pending = tuple[inbound_queue.Accepted, "asyncio.Future[None]"]


class Receiving:
    """The inbound worker and, when ``smtp_listen`` is set, the SMTP receiver feeding it.

    With ``inbound_processes`` > 0 and a receiver, the worker is that many child processes instead.
    """

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        count = ctx.settings.inbound_processes
        self.worker: InboundWorker | InboundProcesses = (
            InboundProcesses(ctx, count) if count and ctx.settings.smtp_listen else InboundWorker(ctx)
        )
        self._receiver: SMTPReceiver | None = None
        self._pending: list[_Pending] = []
        self._committing: asyncio.Task[None] | None = None
        self._known: dict[str, float] = {}  # inbox address -> until when it is taken as existing
        #: The (host, port) the SMTP receiver listens on, once started.
        self.smtp_address: tuple[str, int] | None = None

    async def check_recipient(self, address: str) -> str | None:
        """None for one of our inboxes; otherwise the SMTP refusal (unknown inbox, or relaying).

        Inboxes found are remembered for ``_KNOWN_SECONDS``, sparing a database read per RCPT (the largest
        cost of an accept). An inbox deleted meanwhile may still be accepted for that long; the worker then
        drops it, as it does for an inbox deleted after the accept. Refusals are never remembered, so a new
        inbox receives mail at once.
        """
        key = address_key(address)
        now = time.monotonic()
        if self._known.get(key, 0.0) > now:
            return None
        db = self._ctx.db
        if key in await db.read(inboxes.inbox_pods, [key]):
            if len(self._known) >= _KNOWN_MAX:
                self._known.clear()
            self._known[key] = now + _KNOWN_SECONDS
            return None
        domain = key.rpartition("@")[2]
        if domain == self._ctx.settings.default_domain or await db.read(inboxes.hosts_domain, domain):
            return f"550 5.1.1 <{key}>: no such inbox here"
        return f"550 5.7.1 <{key}>: relaying denied, {domain} is not a domain of this server"

    async def accept(
        self, raw: bytes, mail_from: str | None, rcpt_to: Sequence[str], client: Client | None = None
    ) -> None:
        """Commit an accepted message to the inbound queue, then wake the worker; raises if that failed."""
        recipients = [address_key(a) for a in rcpt_to]
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        ip, helo = (client.ip, client.helo) if client is not None else (None, None)
        self._pending.append(
            (inbound_queue.Accepted(raw, mail_from, recipients, ip, helo[:255] if helo else None), done)
        )
        if self._committing is None:
            self._committing = asyncio.create_task(self._commit_pending(), name="agentinbox-accept")
        await done

    async def _commit_pending(self) -> None:
        """Commit what is pending, a group per transaction, until nothing is; then answer each waiter."""
        group: list[_Pending] = []
        try:
            while self._pending:
                group, self._pending = self._pending[:_MAX_GROUP], self._pending[_MAX_GROUP:]
                try:
                    await self._ctx.db.write(
                        inbound_queue.enqueue_many, [item for item, _ in group], now=self._ctx.clock.now()
                    )
                except Exception as exc:
                    for _, done in group:
                        if not done.done():
                            done.set_exception(exc)
                    continue
                for _, done in group:
                    if not done.done():
                        done.set_result(None)
                self.worker.wake()
        finally:
            self._committing = None
            # Only when cancelled (the loop is shutting down): nobody waits on an answer forever.
            for _, done in [*group, *self._pending]:
                done.cancel()
            self._pending = []

    async def start(self) -> None:
        """Start the worker (it first processes what an earlier run left queued) and the receiver."""
        self.worker.start()
        if isinstance(self.worker, InboundProcesses):
            await self.worker.ready()
        settings = self._ctx.settings
        listen = settings.smtp_listen
        if listen and self._receiver is None:
            host, port = listen_address(listen, setting="smtp_listen")
            options = listener_options(settings, hostname=settings.default_domain)
            receiver = SMTPReceiver(self.check_recipient, self.accept, **options)
            self.smtp_address = await receiver.start(host, port)
            self._receiver = receiver

    async def stop(self) -> None:
        """Stop listening, then stop the worker; whatever is still queued waits for the next start."""
        if self._receiver is not None:
            await self._receiver.stop()
            self._receiver = None
            self.smtp_address = None
        if self._committing is not None:  # accepts already read: let them commit (their clients wait)
            await asyncio.shield(self._committing)
        await self.worker.stop()
