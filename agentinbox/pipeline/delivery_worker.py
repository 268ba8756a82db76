"""Delivers queued outbound mail in the background, through the relay or straight to each domain's MX.

The worker claims due rows of the delivery queue, groups them into SMTP transactions (per message when
relaying, per message and recipient domain when going direct to MX), runs up to ``delivery_concurrency``
transactions at once and records each outcome (see :mod:`agentinbox.pipeline.delivery`). It is woken when a
send commits and otherwise looks for due retries every few seconds. A claim it never finishes (a crash, a
stop mid-transaction) expires, and the delivery is tried again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

from ..errors import ValidationError
from ..smtp.delivery import Outcome, Route, parse_relay_url, transmit
from ..smtp.mx import MXLookupError, mail_hosts, make_resolver
from ..store import blobs, deliveries
from ..store.deliveries import Claimed
from .context import Context
from .delivery import record_outcomes

__all__ = ["DeliveryWorker"]

logger = logging.getLogger("agentinbox.delivery")

_POLL_SECONDS = 5.0
_STOP_SECONDS = 30
_CLAIM_PER_SLOT = 4


class DeliveryWorker:
    """A background task that hands queued outbound mail to other mail servers."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        settings = ctx.settings
        self._relay: Route | None = None
        if settings.relay_url:
            try:
                self._relay = parse_relay_url(settings.relay_url)
            except ValueError as exc:
                raise ValidationError(f"relay_url: {exc}", path=["relay_url"]) from exc
        self._resolver = make_resolver(settings.dns_resolver, timeout=min(settings.delivery_timeout, 30))
        self._slots = asyncio.Semaphore(settings.delivery_concurrency)
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._running: set[asyncio.Task[None]] = set()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def start(self) -> None:
        """Start delivering, beginning with whatever is already due."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="agentinbox-delivery")
            self.wake()

    def wake(self) -> None:
        """Tell the worker that deliveries were queued (or fell due)."""
        self._idle.clear()
        self._wake.set()

    async def idle(self) -> None:
        """Return once nothing due is left and no transaction is running."""
        await self._idle.wait()

    async def stop(self) -> None:
        """Stop claiming, let running transactions finish (for a while), then stop."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping = True
        self._wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout=_STOP_SECONDS)
        except TimeoutError:
            task.cancel()
            for job in list(self._running):
                job.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        finally:
            self._stopping = False

    async def _run(self) -> None:
        concurrency = self._ctx.settings.delivery_concurrency
        while True:
            claimed: list[Claimed] = []
            free = concurrency - len(self._running)
            if not self._stopping and free > 0:
                try:
                    claimed = await self._claim(free * _CLAIM_PER_SLOT)
                except asyncio.CancelledError:
                    raise
                except Exception:  # the database is unreachable: keep the queue, try again later
                    logger.exception("claiming deliveries failed; retrying")
            for job in self._jobs(claimed):
                task = asyncio.create_task(self._deliver(job))
                self._running.add(task)
                task.add_done_callback(self._finished)
            if self._stopping:
                if self._running:
                    await asyncio.wait(list(self._running))
                return
            if claimed:
                continue
            if not self._running and not self._wake.is_set():
                self._idle.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=_POLL_SECONDS)
            self._wake.clear()

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        if not self._stopping:
            self._wake.set()  # a slot is free: claim more

    async def _claim(self, limit: int) -> list[Claimed]:
        ctx = self._ctx
        now = ctx.clock.now()
        # Long enough for a transaction through every MX host; a lost claim is retried after this.
        lease = int((ctx.settings.delivery_timeout * 10 + 60) * 1_000_000)
        return await ctx.db.write(deliveries.claim, now=now, lease_until=now + lease, limit=limit)

    def _jobs(self, claimed: Sequence[Claimed]) -> list[list[Claimed]]:
        """One SMTP transaction per message (relay) or per message and recipient domain (direct)."""
        groups: dict[tuple[int, str], list[Claimed]] = {}
        for row in claimed:
            domain = "" if self._relay is not None else row.recipient.rpartition("@")[2]
            groups.setdefault((row.message_pk, domain), []).append(row)
        return list(groups.values())

    async def _deliver(self, job: list[Claimed]) -> None:
        ctx = self._ctx
        async with self._slots:
            try:
                raw = await ctx.db.read(blobs.get_blob, job[0].raw_sha256)
                if raw is None:
                    outcomes = {row.id: Outcome(554, "5.3.0 the stored message is missing") for row in job}
                else:
                    outcomes = await self._send(job, raw)
                await ctx.db.write(record_outcomes, ctx, job, outcomes)
            except asyncio.CancelledError:
                raise
            except Exception:  # the claim expires and the delivery is tried again
                logger.exception("delivery of message %s failed unexpectedly", job[0].message_id)

    async def _send(self, job: list[Claimed], raw: bytes) -> dict[int, Outcome]:
        settings = self._ctx.settings
        mail_from = job[0].inbox_id
        by_recipient = {row.recipient: row.id for row in job}
        common = {
            "mail_from": mail_from,
            "raw": raw,
            "local_hostname": settings.default_domain,
            "step_timeout": settings.delivery_timeout,
        }
        if self._relay is not None:
            result = await transmit(self._relay, recipients=list(by_recipient), **common)  # type: ignore[arg-type]
            return {by_recipient[r]: outcome for r, outcome in result.items()}
        domain = job[0].recipient.rpartition("@")[2]
        try:
            hosts = await mail_hosts(domain, self._resolver)
        except MXLookupError as exc:
            failure = Outcome(550 if exc.permanent else None, f"5.1.2 {exc}" if exc.permanent else str(exc))
            return {row.id: failure for row in job}
        pending = list(by_recipient)
        outcomes: dict[str, Outcome] = {}
        for host in hosts:
            route = Route(host=host.address, port=settings.delivery_port, tls="opportunistic", verify=False)
            result = await transmit(route, recipients=pending, server_name=host.name, **common)  # type: ignore[arg-type]
            outcomes.update(result)
            # No reply, or the host is shutting down: the next MX host may do better (RFC 5321 §5.1).
            pending = [r for r, o in result.items() if o.code is None or o.code == 421]
            if not pending:
                break
        return {by_recipient[r]: outcome for r, outcome in outcomes.items()}
