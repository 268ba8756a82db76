"""Receiving over SMTP: the recipient policy and the durable accept the receiver calls, and the worker.

Accepting a message commits its bytes and envelope to the inbound queue (nothing more), so the 250 goes out
quickly; the inbound worker then processes the queue.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import ValidationError
from ..mail.addresses import address_key
from ..smtp.receiver import SMTPReceiver, parse_listen
from ..store import inbound_queue, inboxes
from .context import Context
from .inbound_worker import InboundWorker

__all__ = ["Receiving"]


class Receiving:
    """The inbound worker and, when ``smtp_listen`` is set, the SMTP receiver feeding it."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self.worker = InboundWorker(ctx)
        self._receiver: SMTPReceiver | None = None
        #: The (host, port) the SMTP receiver listens on, once started.
        self.smtp_address: tuple[str, int] | None = None

    async def check_recipient(self, address: str) -> str | None:
        """None for one of our inboxes; otherwise the SMTP refusal (unknown inbox, or relaying)."""
        key = address_key(address)
        db = self._ctx.db
        if key in await db.read(inboxes.inbox_pods, [key]):
            return None
        domain = key.rpartition("@")[2]
        if domain == self._ctx.settings.default_domain or await db.read(inboxes.hosts_domain, domain):
            return f"550 5.1.1 <{key}>: no such inbox here"
        return f"550 5.7.1 <{key}>: relaying denied, {domain} is not a domain of this server"

    async def accept(self, raw: bytes, mail_from: str | None, rcpt_to: Sequence[str]) -> None:
        """Commit an accepted message to the inbound queue and wake the worker."""
        recipients = [address_key(a) for a in rcpt_to]
        now = self._ctx.clock.now()
        await self._ctx.db.write(inbound_queue.enqueue, raw, mail_from=mail_from, rcpt_to=recipients, now=now)
        self.worker.wake()

    async def start(self) -> None:
        """Start the worker (it first processes what an earlier run left queued) and the receiver."""
        self.worker.start()
        listen = self._ctx.settings.smtp_listen
        if listen and self._receiver is None:
            try:
                host, port = parse_listen(listen)
            except ValueError as exc:
                raise ValidationError(f"smtp_listen: {exc}", path=["smtp_listen"]) from exc
            self._receiver = SMTPReceiver(
                self.check_recipient,
                self.accept,
                hostname=self._ctx.settings.default_domain,
                data_size_limit=self._ctx.settings.max_message_size,
            )
            self.smtp_address = await self._receiver.start(host, port)

    async def stop(self) -> None:
        """Stop listening, then stop the worker; whatever is still queued waits for the next start."""
        if self._receiver is not None:
            await self._receiver.stop()
            self._receiver = None
            self.smtp_address = None
        await self.worker.stop()
