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

from sqlalchemy import Connection

from ..errors import ValidationError
from ..smtp.delivery import Envelope, Outcome, Route, parse_relay_url, transmit
from ..smtp.mx import MXLookupError, mail_hosts, make_resolver
from ..store import blobs, deliveries
from ..store.deliveries import Claimed
from .background import BackgroundWorker
from .context import Context
from .delivery import record_outcomes

__all__ = ["DeliveryWorker"]

logger = logging.getLogger("agentinbox.delivery")

_POLL_SECONDS = 5.0
#: Messages handed over one connection before it is closed (Postfix's default reuse is similar).
_PER_CONNECTION = 20


class DeliveryWorker(BackgroundWorker):
    """A background task that hands queued outbound mail to other mail servers."""

    name = "agentinbox-delivery"

    def __init__(self, ctx: Context) -> None:
        super().__init__()
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
        self._running: set[asyncio.Task[None]] = set()

    def _abandon(self) -> None:
        for job in list(self._running):
            job.cancel()

    async def _run(self) -> None:
        concurrency = self._ctx.settings.delivery_concurrency
        while True:
            claimed: list[Claimed] = []
            free = concurrency - len(self._running)
            if not self._stopping and free > 0:
                try:
                    claimed = await self._claim(free * _PER_CONNECTION)
                except asyncio.CancelledError:
                    raise
                except Exception:  # the database is unreachable: keep the queue, try again later
                    logger.exception("claiming deliveries failed; retrying")
            for job in self._jobs(claimed, free):
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
        seconds = ctx.settings.delivery_lease or ctx.settings.delivery_timeout * 10 + 60
        lease = int(seconds * 1_000_000)
        return await ctx.db.write(deliveries.claim, now=now, lease_until=now + lease, limit=limit)

    def _jobs(self, claimed: Sequence[Claimed], free: int) -> list[list[list[Claimed]]]:
        """Connections to open: each carries messages (each a list of its claimed recipients) for one
        destination — the relay, or one recipient domain when going direct. Messages are spread over the
        ``free`` slots first, and share a connection (up to ``_PER_CONNECTION``) only when there are more."""
        by_destination: dict[str, dict[int, list[Claimed]]] = {}
        for row in claimed:
            destination = "" if self._relay is not None else row.recipient.rpartition("@")[2]
            by_destination.setdefault(destination, {}).setdefault(row.message_pk, []).append(row)
        total = sum(len(messages) for messages in by_destination.values())
        size = min(_PER_CONNECTION, max(1, -(-total // max(free, 1))))
        jobs: list[list[list[Claimed]]] = []
        for messages in by_destination.values():
            groups = list(messages.values())
            jobs.extend(groups[i : i + size] for i in range(0, len(groups), size))
        return jobs

    async def _deliver(self, job: list[list[Claimed]]) -> None:
        ctx = self._ctx
        async with self._slots:
            try:
                raws = await ctx.db.read(_raw_messages, [message[0].raw_sha256 for message in job])
                outcomes: dict[int, Outcome] = {}
                sendable = []
                for message in job:
                    if message[0].raw_sha256 in raws:
                        sendable.append(message)
                    else:
                        missing = Outcome(554, "5.3.0 the stored message is missing")
                        outcomes.update((row.id, missing) for row in message)
                if sendable:
                    outcomes.update(await self._send(sendable, raws))
                await ctx.db.write(_record, ctx, job, outcomes)
            except asyncio.CancelledError:
                raise
            except Exception:  # the claims expire and the deliveries are tried again
                logger.exception("delivery of %d message(s) failed unexpectedly", len(job))

    async def _send(self, job: list[list[Claimed]], raws: dict[str, bytes]) -> dict[int, Outcome]:
        """Hand the messages of one job over; the outcome for each claimed delivery id."""
        settings = self._ctx.settings
        envelopes = [
            Envelope(message[0].inbox_id, [row.recipient for row in message], raws[message[0].raw_sha256])
            for message in job
        ]
        local_hostname = settings.hostname or settings.default_domain
        common = {"local_hostname": local_hostname, "step_timeout": settings.delivery_timeout}
        if self._relay is not None:
            return _by_id(job, await transmit(self._relay, envelopes, **common))  # type: ignore[arg-type]
        domain = job[0][0].recipient.rpartition("@")[2]
        try:
            hosts = await mail_hosts(domain, self._resolver)
        except MXLookupError as exc:
            failure = Outcome(550 if exc.permanent else None, f"5.1.2 {exc}" if exc.permanent else str(exc))
            return {row.id: failure for message in job for row in message}
        results: list[dict[str, Outcome]] = [{} for _ in job]
        pending = list(range(len(job)))
        for host in hosts:
            route = Route(host=host.address, port=settings.delivery_port, tls="opportunistic", verify=False)
            attempt = await transmit(
                route,
                [envelopes[i] for i in pending],
                server_name=host.name,
                **common,  # type: ignore[arg-type]
            )
            for index, outcomes in zip(pending, attempt, strict=True):
                results[index].update(outcomes)
            # No reply, or the host is shutting down: the next MX host may do better (RFC 5321 §5.1).
            pending = [
                i
                for i, outcomes in zip(pending, attempt, strict=True)
                if any(o.code is None or o.code == 421 for o in outcomes.values())
            ]
            if not pending:
                break
        return _by_id(job, results)


def _by_id(job: list[list[Claimed]], results: Sequence[dict[str, Outcome]]) -> dict[int, Outcome]:
    return {
        row.id: outcomes[row.recipient]
        for message, outcomes in zip(job, results, strict=True)
        for row in message
    }


def _raw_messages(conn: Connection, keys: Sequence[str]) -> dict[str, bytes]:
    found = {}
    for key in dict.fromkeys(keys):
        raw = blobs.get_blob(conn, key)
        if raw is not None:
            found[key] = raw
    return found


def _record(conn: Connection, ctx: Context, job: list[list[Claimed]], outcomes: dict[int, Outcome]) -> None:
    for message in job:
        record_outcomes(conn, ctx, message, outcomes)
