"""Processes the inbound queue in the background: woken when mail is queued, and at start for leftovers.

Queued messages are taken in batches of up to 32. A batch is parsed (and its replies extracted) in a thread,
outside any transaction, then stored and removed from the queue in one transaction, so a crash at any point
leaves every message of it queued and the next start processes them, without a duplicate. If that
transaction fails, the batch is stored again one message per transaction: the ones that fail then are
postponed with a growing delay and the others are stored, so one bad message never holds the rest back.
Nothing is dropped.

On PostgreSQL several engines (and their inbound processes) may share the queue: a worker first claims its
batch for ``inbound_lease`` seconds (``FOR UPDATE SKIP LOCKED``, see ``store.inbound_queue.claim_due``), so
each message is parsed by one process. A process killed with a claim leaves those messages due again when
the lease passes; the workers of the others sleep until then (``next_due``) and take them over.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from .._clock import Clock
from ..security.inspection import Finding
from ..store import inbound_queue, inboxes
from ..store.blobs import release_blobs
from .background import BackgroundWorker
from .classify import Classifier
from .context import Context
from .inbound import Prepared, inspect, prepare, store_received

__all__ = ["InboundWorker"]

logger = logging.getLogger("agentinbox.inbound")

# Messages per transaction: large enough that commits and thread hops are shared, small enough that the
# writer is not held for long while the receiver waits to queue the next message.
_BATCH = 32
_CHECK_CONCURRENCY = 16  # messages of a batch checked at once (a scanner daemon sees at most this many)
_POLL_SECONDS = 5.0
# Under heavy load (at least _GATHER_RATE messages/s processed over the last _RATE_SECONDS), a wake waits
# _GATHER_SECONDS for more mail: fewer, fuller batches leave the receiver on the same event loop more of the
# CPU (measured with bench/smtp_accept.py: about a fifth more messages accepted per second over reused
# connections). Below that rate every message is processed as soon as it is queued, so an agent is woken
# within milliseconds (bench/event_latency.py); the pause costs latency only when throughput needs it.
_GATHER_SECONDS = 0.2
_GATHER_RATE = 200.0
_RATE_SECONDS = 1.0
_FIRST_RETRY_SECONDS = 30
# The shortest sleep while messages wait for a claim to expire (PostgreSQL).
_MIN_SLEEP = 0.05
_MAX_RETRY_SECONDS = 3600


@dataclass(slots=True)
class _Entry:
    """One queued message on its way to storage."""

    queue_id: int
    raw_sha256: str
    received_at: int
    rcpt_to: list[str]
    attempts: int
    raw: bytes
    prepared: Prepared | None = None
    error: BaseException | None = None
    mail_from: str | None = None
    client_ip: str | None = None
    helo: str | None = None
    finding: Finding | None = None


class InboundWorker(BackgroundWorker):
    """A background task that turns queued raw mail into stored messages."""

    name = "agentinbox-inbound"

    def __init__(self, ctx: Context, *, shard: tuple[int, int] | None = None, batch: int = _BATCH) -> None:
        super().__init__()
        self._ctx = ctx
        self._shard = shard  # (index, count): this worker's share of the queue, when several processes work
        self._batch = batch
        self._rate = 0.0  # messages/s processed over the last full window
        self._window_start = 0.0
        self._window_count = 0

    async def _run(self) -> None:
        timeout = _POLL_SECONDS
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=timeout)
            self._wake.clear()
            if self._stopping:
                return
            if self._heavy_load():
                await asyncio.sleep(_GATHER_SECONDS)
            try:
                while not self._stopping and (taken := await self._pass()):
                    self._count(taken)
            except asyncio.CancelledError:
                raise
            except Exception:  # the database is unreachable: log, keep the queue, try again later
                logger.exception("inbound queue processing failed; retrying")
                timeout = _POLL_SECONDS
                continue
            timeout = await self._until_next()
            if not self._wake.is_set():
                self._idle.set()

    def _count(self, taken: int) -> None:
        """Add ``taken`` processed messages to the rate window, closing it after _RATE_SECONDS."""
        now = asyncio.get_running_loop().time()
        if now - self._window_start >= _RATE_SECONDS:
            elapsed = now - self._window_start
            self._rate = self._window_count / elapsed if elapsed < 2 * _RATE_SECONDS else 0.0
            self._window_start, self._window_count = now, 0
        self._window_count += taken

    def _heavy_load(self) -> bool:
        """True while mail has lately been processed at _GATHER_RATE messages/s or more."""
        now = asyncio.get_running_loop().time()
        if now - self._window_start >= 2 * _RATE_SECONDS:
            return False  # nothing processed for a while: whatever rate was measured is stale
        return self._rate >= _GATHER_RATE

    async def _until_next(self) -> float:
        """Seconds to sleep when nothing is due: on PostgreSQL until the earliest claim (of a process that may
        have died) or retry falls due, within [_MIN_SLEEP, _POLL_SECONDS]; elsewhere _POLL_SECONDS."""
        ctx = self._ctx
        if ctx.db.dialect != "postgresql":
            return _POLL_SECONDS
        try:
            due = await ctx.db.read(inbound_queue.next_due)
        except asyncio.CancelledError:
            raise
        except Exception:
            return _POLL_SECONDS
        if due is None:
            return _POLL_SECONDS
        return min(_POLL_SECONDS, max(_MIN_SLEEP, (due - ctx.clock.now()) / 1_000_000))

    async def _pass(self) -> int:
        """Process one batch of due messages; returns how many (0 when none was due)."""
        ctx = self._ctx
        now = ctx.clock.now()
        if ctx.db.dialect == "postgresql":
            lease_until = now + int(ctx.settings.inbound_lease * 1_000_000)
            entries = await ctx.db.write(
                _claim_due, now=now, lease_until=lease_until, limit=self._batch, shard=self._shard
            )
        else:  # one engine per SQLite file; its inbound processes split the queue by shard
            entries = await ctx.db.read(_load_due, now=now, limit=self._batch, shard=self._shard)
        if not entries:
            return 0
        # Parsing and reply extraction are CPU work: a thread keeps the event loop (and the SMTP sessions
        # it serves) responsive meanwhile.
        await asyncio.to_thread(_prepare_all, entries)
        await self._inspect_all(entries)
        window = ctx.settings.subject_threading_window
        try:
            await ctx.db.write(
                _store_batch, entries, clock=ctx.clock, subject_window=window, classifiers=ctx.classifiers
            )
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.warning("a batch of %d queued messages failed; storing them one by one", len(entries))
            for entry in entries:
                await self._store_alone(entry, window)
        return len(entries)

    async def _inspect_all(self, entries: list[_Entry]) -> None:
        """Run the inbound checks on each parsed entry, several at a time (they mostly wait on I/O)."""
        ctx = self._ctx
        if not ctx.checks:
            return
        limit = asyncio.Semaphore(_CHECK_CONCURRENCY)

        async def one(entry: _Entry) -> None:
            assert entry.prepared is not None
            async with limit:
                try:
                    entry.finding = await inspect(
                        ctx,
                        entry.prepared,
                        mail_from=entry.mail_from,
                        client_ip=entry.client_ip,
                        helo=entry.helo,
                    )
                except Exception as exc:  # a check's bug (a bad label): the message waits for a fix
                    entry.error = exc

        await asyncio.gather(*(one(entry) for entry in entries if entry.error is None))

    async def _store_alone(self, entry: _Entry, window: int) -> None:
        """Store one message in a transaction of its own, or postpone it."""
        ctx = self._ctx
        try:
            await ctx.db.write(
                _store_batch, [entry], clock=ctx.clock, subject_window=window, classifiers=ctx.classifiers
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            delay = _retry_delay(entry.attempts)
            logger.exception("queued message %s could not be stored; retrying in %s s", entry.queue_id, delay)
            await ctx.db.write(
                inbound_queue.postpone,
                entry.queue_id,
                error=f"{type(exc).__name__}: {exc}",
                retry_at=ctx.clock.now() + delay * 1_000_000,
            )


def _retry_delay(attempts: int) -> int:
    """Seconds until the next try of a message that failed ``attempts`` times before."""
    return min(_FIRST_RETRY_SECONDS * 2 ** min(attempts, 16), _MAX_RETRY_SECONDS)


def _load_due(
    conn: Connection, *, now: int, limit: int, shard: tuple[int, int] | None = None
) -> list[_Entry]:
    """The due queued messages (of ``shard`` only, when given) with their bytes, oldest first."""
    return [
        _entry(row, raw) for row, raw in inbound_queue.due_entries(conn, now=now, limit=limit, shard=shard)
    ]


def _claim_due(
    conn: Connection, *, now: int, lease_until: int, limit: int, shard: tuple[int, int] | None = None
) -> list[_Entry]:
    """``_load_due``, claimed until ``lease_until`` (PostgreSQL): no other process takes these meanwhile."""
    claimed = inbound_queue.claim_due(conn, now=now, lease_until=lease_until, limit=limit, shard=shard)
    return [_entry(row, raw) for row, raw in claimed]


def _entry(row: Any, raw: bytes) -> _Entry:
    return _Entry(
        row.id,
        row.raw_sha256,
        row.received_at,
        list(row.rcpt_to),
        row.attempts,
        raw,
        mail_from=row.mail_from,
        client_ip=row.client_ip,
        helo=row.helo,
    )


def _prepare_all(entries: list[_Entry]) -> None:
    for entry in entries:
        try:
            entry.prepared = prepare(entry.raw)
        except Exception as exc:  # prepare is meant never to raise; if it does, the message waits for a fix
            entry.error = exc


def _store_batch(
    conn: Connection,
    entries: list[_Entry],
    *,
    clock: Clock,
    subject_window: int,
    classifiers: Sequence[Classifier] = (),
) -> None:
    """Store each message and take it off the queue, all or nothing; postpone those that could not be parsed.

    Any error fails the whole transaction (the caller then stores the batch one by one). Savepoints per
    message would isolate failures here instead, but cost a third of the time a message takes to store.
    """
    now = clock.now()
    ready = [entry for entry in entries if entry.error is None]
    taken = inbound_queue.take(conn, [(e.queue_id, e.raw_sha256, e.received_at) for e in ready])
    wanted = dict.fromkeys(address.lower() for entry in ready for address in entry.rcpt_to)
    local = inboxes.inbox_pods(conn, list(wanted)) if taken else {}
    for entry in ready:
        if entry.queue_id not in taken:
            continue  # processed meanwhile by another worker
        assert entry.prepared is not None
        # An inbox deleted since the message was accepted no longer receives it.
        recipients = {
            address: local[address]
            for address in dict.fromkeys(a.lower() for a in entry.rcpt_to)
            if address in local
        }
        if recipients:
            store_received(
                conn,
                entry.prepared,
                recipients,
                now=now,
                subject_window=subject_window,
                classifiers=classifiers,
                mail_from=entry.mail_from,
                finding=entry.finding,
            )
    # The queue's references go only now, so a raw blob the stored messages share is kept, not re-created.
    release_blobs(conn, taken.values())
    for entry in entries:
        if entry.error is not None:
            delay = _retry_delay(entry.attempts)
            logger.error(
                "queued message %s could not be parsed; retrying in %s s",
                entry.queue_id,
                delay,
                exc_info=entry.error,
            )
            inbound_queue.postpone(
                conn,
                entry.queue_id,
                error=f"{type(entry.error).__name__}: {entry.error}",
                retry_at=now + delay * 1_000_000,
            )
