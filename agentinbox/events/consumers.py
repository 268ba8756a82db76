"""Durable consumers: ``client.events.consume(group=…)`` hands a group's events to its handler at least once,
one at a time in id order, and remembers how far it got in the ``consumer_groups`` table.

What is guaranteed:

- Acknowledgement. After the handler returns, the group's cursor moves to the event's id (one small write).
  Events the filter skips move it too (with the next acknowledgement, within ``IDLE_POLL``, or on stopping). A process that dies between a handler's return and that write runs
  the handler again on the event after the restart: delivery is at-least-once, never at-most-once, so a
  handler should tolerate seeing an event twice (``event.event_id`` identifies it).
- Start. A new group starts at the oldest retained event (``start="oldest"``) or after the newest event
  committed when the consumer first runs (``"now"``; it runs at once on an open client, else when the client
  opens). Should this process append an event between ``consume()`` and that read, the group starts instead
  after the newest event the bus had dispatched at ``consume()``, so such an event is never skipped (events
  committed shortly before ``consume()`` may then be handled too). An existing group resumes after its
  cursor; ``start`` is ignored.
- Failures. A handler that raises is run again after ``retry_delay``·2^k seconds (k = 0, 1, …; the waiting
  holds up only this consumer) up to ``max_attempts`` times; then the event is set aside in
  ``consumer_failures`` and the cursor moves past it, in one transaction. ``replay()`` marks set-aside events;
  the group's running consumer runs them (oldest first) before its next new event: success forgets the
  failure, another ``max_attempts`` failures keep it set aside with the attempts added up and the new error.
  Attempt counts between failures live in memory: a restart starts them again. A replay asked for in the
  same process starts at once, one asked for in another process within ``LEASE``/3 seconds.
- Stopping. ``stop()`` and the client's ``close()`` let a running handler finish (and acknowledge it) for up
  to ``STOP_GRACE`` seconds, then cancel it unacknowledged; a sync handler's thread cannot be cancelled and
  may then still be running when a standby elsewhere runs the same event. Calling a sync consumer's
  ``stop()`` from its own handler waits that long; an async handler may ``await consumer.stop()``.
- One process per group. The running consumer holds a lease on the group's row (``owner``, ``lease_until``,
  renewed every ``LEASE``/3 seconds, claimed by a conditional UPDATE so only one claimant wins); a consumer
  of the same group elsewhere waits as standby and takes over when the lease is released (``stop()``,
  ``close()``) or expires (``LEASE`` seconds after the holder was killed). Every acknowledgement is guarded by
  the owner, so a holder that stalled past its lease cannot move the cursor the new holder owns.
- Gaps (PostgreSQL). Ids are handed out at insert time, so a lower id may commit after a higher one was read.
  The consumer stops at such a gap until it fills or ``GAP_GRACE`` (0.5 s) passes, then moves on and keeps
  the skipped ids for ``RECHECK_FOR`` (5 min), looking for them every ``RECHECK_INTERVAL`` (1 s): an event
  that commits late in a gap is handled then, out of id order. Skipped ids are kept in memory only: an event
  committing in a gap more than ``GAP_GRACE`` late and after the consumer restarted (or after ``RECHECK_FOR``)
  is not handled. SQLite commits in id order, so it has no gaps.

Wake-up: the consumer is a bus subscriber whose ``offer`` only wakes it; it reads the events themselves from
the log. It runs in its own task (a sync handler in a worker thread), so a slow handler holds up neither
SMTP nor hooks nor other groups.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import math
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Literal, overload

from .._clock import Clock, to_datetime
from ..errors import ValidationError
from ..models import Event, FailedEvent
from ..store import consumers as store
from ..store import events as log
from ..store.database import Database
from ..store.events import EventRow
from .bus import GAP_GRACE, Admits, EventBus, Handler, _Filter, _Subscriber

__all__ = ["Consumer", "Consumers", "Start"]

_log = logging.getLogger(__name__)

#: How long a lease lasts (seconds); the holder renews it every third of that.
LEASE = 15.0
#: How often a standby tries to claim the group (at most; a shorter ``LEASE`` shortens it).
STANDBY_POLL = 1.0
#: How long ``stop()`` / ``close()`` waits for a running handler before cancelling it (it is then not acked).
STOP_GRACE = 10.0
#: How long ids skipped at a gap are looked for, and how often.
RECHECK_FOR = 300.0
RECHECK_INTERVAL = 1.0
#: How often an idle consumer reads the log without being woken (a safety net; offers wake it at once).
IDLE_POLL = 1.0
_BATCH = 200
_MAX_GROUP = 200
_MAX_ERROR = 2000

Start = Literal["oldest", "now"]


class Consumer(_Subscriber):
    """One ``consume()`` registration: a task that holds (or waits for) its group's lease and runs the
    handler on the group's events. ``await consumer.stop()`` ends it."""

    def __init__(
        self,
        registry: Consumers,
        *,
        group: str,
        handler: Handler,
        where: _Filter,
        start: Start,
        max_attempts: int,
        retry_delay: float,
    ) -> None:
        super().__init__(where)
        self.group = group
        self.handler = handler
        self.owner = uuid.uuid4().hex
        self._registry = registry
        self._is_async = inspect.iscoroutinefunction(handler)
        self._start = start
        self._max_attempts = max_attempts
        self._retry_delay = retry_delay
        self._mark = 0
        self._appends = 0
        self._db: Database | None = None
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._cursor = 0
        self._lost = False
        self._replay_wanted = False
        self._gap_since: float | None = None
        self._skipped: list[tuple[int, int, float]] = []  # (low, high, forget at), inclusive id ranges
        self._recheck_at = 0.0

    def __repr__(self) -> str:
        return f"Consumer(group={self.group!r}, handler={self.handler!r})"

    @property
    def running(self) -> bool:
        """True while its task runs (holding the lease or waiting as standby)."""
        return self._task is not None and not self._task.done()

    def offer(self, row: EventRow) -> None:
        self._wake.set()

    async def stop(self) -> None:
        """Stop for good: let a running handler finish (up to ``STOP_GRACE``), acknowledge it, give the
        lease up so a standby elsewhere takes over at once."""
        await self._registry.remove(self)

    # -- life cycle ------------------------------------------------------------------------------------

    def _launch(self, db: Database, mark: int) -> None:
        if self.running:
            return
        self._db = db
        self._mark = mark
        self._appends = log.appended()
        self._stopping.clear()
        self._task = asyncio.get_running_loop().create_task(
            self._run(), name=f"agentinbox-consumer-{self.group}"
        )

    async def _halt(self) -> None:
        task, self._task = self._task, None
        if task is None or task.done():
            return
        self._stopping.set()
        self._wake.set()
        if task is asyncio.current_task():
            return  # stop() from inside the handler: the task ends after it returns
        try:
            await asyncio.wait_for(asyncio.shield(task), STOP_GRACE)
        except TimeoutError:
            _log.warning(
                "consumer %r: the handler did not return within %s s; cancelled", self.group, STOP_GRACE
            )
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass

    def _wake_for_replays(self) -> None:
        self._replay_wanted = True
        self._wake.set()

    async def _run(self) -> None:
        try:
            while not self._stopping.is_set():
                try:
                    cursor = await self._claim()
                    if cursor is None:
                        return
                    await self._serve(cursor)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    _log.exception("consumer %r failed; starting again", self.group)
                    await self._pause(IDLE_POLL)
        finally:
            try:
                assert self._db is not None
                await self._db.write(store.release, self.group, self.owner, self._now())
            except Exception:
                _log.warning("consumer %r could not release its lease", self.group, exc_info=True)

    async def _claim(self) -> int | None:
        """Create the group if new; then wait as standby until its lease is ours. None when stopped."""
        db = self._db
        assert db is not None
        first = 0
        if self._start == "now":
            newest = await db.read(log.last_event_id)
            # A local append since consume() may be at or below ``newest``: start where the bus was instead.
            first = newest if log.appended() == self._appends else min(newest, self._mark)
        await db.write(store.create_group, self.group, first, self._now())
        while not self._stopping.is_set():
            now = self._now()
            cursor = await db.write(store.claim, self.group, self.owner, now, now + _micros(LEASE))
            if cursor is not None:
                return cursor
            await self._pause(min(STANDBY_POLL, LEASE / 3))
        return None

    async def _serve(self, cursor: int) -> None:
        """Hold the lease and handle events until stopped or the lease is lost."""
        self._cursor = cursor
        self._lost = False
        self._replay_wanted = True
        self._gap_since = None
        self._skipped = []
        renewer = asyncio.get_running_loop().create_task(self._renew())
        try:
            while not self._stopping.is_set() and not self._lost:
                self._wake.clear()
                if self._replay_wanted:
                    self._replay_wanted = False
                    await self._replays()
                wait = await self._catch_up()
                if self._skipped:
                    wait = min(wait, await self._recheck())
                if self._stopping.is_set() or self._lost:
                    break
                try:
                    await asyncio.wait_for(self._wake.wait(), wait)
                except TimeoutError:
                    pass
            if not self._lost:
                await self._pass_unmatched()
        finally:
            renewer.cancel()
            try:
                await renewer
            except asyncio.CancelledError:
                pass

    async def _renew(self) -> None:
        db = self._db
        assert db is not None
        while True:
            await asyncio.sleep(LEASE / 3)
            try:
                now = self._now()
                if not await db.write(store.renew, self.group, self.owner, now, now + _micros(LEASE)):
                    _log.warning("consumer %r lost its lease; waiting as standby", self.group)
                    self._lost = True
                    self._wake.set()
                    return
                if await db.read(store.has_replays, self.group):
                    self._wake_for_replays()
            except Exception:
                _log.warning("consumer %r could not renew its lease", self.group, exc_info=True)

    # -- reading the log -------------------------------------------------------------------------------

    async def _catch_up(self) -> float:
        """Handle what follows the cursor; how long to wait before looking again unless woken."""
        db = self._db
        assert db is not None
        gaps_possible = db.dialect != "sqlite"
        while True:
            rows = await db.read(log.events_after, self._cursor, limit=_BATCH)
            unacked = False
            for row in rows:
                if self._stopping.is_set() or self._lost:
                    break
                if row.id != self._cursor + 1 and gaps_possible:
                    wait = self._gap_wait()
                    if wait > 0:
                        if unacked:
                            await self._ack()
                        return min(wait, 0.1)
                    self._skipped.append((self._cursor + 1, row.id - 1, time.monotonic() + RECHECK_FOR))
                    self._recheck_at = min(self._recheck_at, time.monotonic() + RECHECK_INTERVAL)
                self._gap_since = None
                if row.event is not None and self.where.matches(row):
                    await self._deliver(row, row.event, acknowledge=True)
                    unacked = False
                    if row.id != self._cursor:
                        break  # not acknowledged (stopping, or the lease was lost)
                else:
                    self._cursor = row.id
                    unacked = True
            if unacked:
                await self._ack()
            if len(rows) < _BATCH or self._stopping.is_set() or self._lost:
                return IDLE_POLL

    async def _pass_unmatched(self) -> None:
        """On stopping: move the cursor past the events the filter skips, up to the next one it would handle
        (the offers that wake a consumer are for matching events, so it passes the others lazily)."""
        assert self._db is not None
        cursor = self._cursor
        for row in await self._db.read(log.events_after, cursor, limit=_BATCH):
            if row.id != cursor + 1 and self._db.dialect != "sqlite":
                break
            if row.event is not None and self.where.matches(row):
                break
            cursor = row.id
        if cursor != self._cursor:
            self._cursor = cursor
            await self._ack()

    def _gap_wait(self) -> float:
        """Seconds left to wait for a gap before the next id to fill; 0 when it should be skipped."""
        now = time.monotonic()
        if self._gap_since is None:
            self._gap_since = now
        return max(0.0, GAP_GRACE - (now - self._gap_since))

    async def _recheck(self) -> float:
        """Look for late arrivals in skipped gaps (at most every RECHECK_INTERVAL); handle them out of order."""
        now = time.monotonic()
        self._skipped = [gap for gap in self._skipped if gap[2] > now]
        if not self._skipped:
            return IDLE_POLL
        if now < self._recheck_at:
            return self._recheck_at - now
        self._recheck_at = now + RECHECK_INTERVAL
        assert self._db is not None
        rows = await self._db.read(store.events_in, [(low, high) for low, high, _ in self._skipped])
        for row in rows:
            if self._stopping.is_set() or self._lost:
                break
            self._skipped = _without(self._skipped, row.id)
            _log.info("consumer %r: event %s committed late in a gap; handling it now", self.group, row.id)
            if row.event is not None and self.where.matches(row):
                await self._deliver(row, row.event, acknowledge=False)
        return RECHECK_INTERVAL

    # -- running the handler ---------------------------------------------------------------------------

    async def _deliver(self, row: EventRow, event: Event, *, acknowledge: bool) -> None:
        """Run the handler (with retries); then acknowledge up to the event, or set it aside."""
        db = self._db
        assert db is not None
        outcome = await self._attempts(event)
        if outcome is None:
            return  # stopping between attempts: the next holder runs it again
        ok, attempts, error = outcome
        now = self._now()
        cursor = row.id if acknowledge else None
        lease_until = now + _micros(LEASE)
        if ok and cursor is not None:
            held = await db.write(store.ack, self.group, self.owner, cursor, now, lease_until)
        elif ok:
            held = True
        else:
            _log.warning(
                "consumer %r set event %s aside after %d attempts: %s",
                self.group,
                event.event_id,
                attempts,
                error,
            )
            held = await db.write(
                store.set_aside,
                self.group,
                self.owner,
                event_pk=row.id,
                attempts=attempts,
                error=error,
                now=now,
                cursor=cursor,
                lease_until=lease_until,
            )
        if not held:
            self._lost = True
        elif cursor is not None:
            self._cursor = cursor

    async def _ack(self) -> None:
        assert self._db is not None
        now = self._now()
        if not await self._db.write(
            store.ack, self.group, self.owner, self._cursor, now, now + _micros(LEASE)
        ):
            self._lost = True

    async def _attempts(self, event: Event) -> tuple[bool, int, str] | None:
        """Up to ``max_attempts`` runs with doubling delays: (succeeded, attempts, last error), or None when
        stopped while waiting to try again."""
        error = ""
        for attempt in range(1, self._max_attempts + 1):
            try:
                if self._is_async:
                    await self.handler(event)  # type: ignore[misc]
                else:
                    loop = asyncio.get_running_loop()
                    await loop.run_in_executor(self._registry.bus.threads, self.handler, event)
                return True, attempt, ""
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"[:_MAX_ERROR]
                _log.warning(
                    "consumer %r: handler failed on %s (attempt %d of %d)",
                    self.group,
                    event.event_id,
                    attempt,
                    self._max_attempts,
                    exc_info=True,
                )
            if attempt < self._max_attempts and await self._pause(self._retry_delay * 2 ** (attempt - 1)):
                return None
        return False, self._max_attempts, error

    async def _replays(self) -> None:
        """Run the set-aside events a replay was asked for, oldest first."""
        db = self._db
        assert db is not None
        while not self._stopping.is_set() and not self._lost:
            due = await db.read(store.replays_due, self.group)
            if not due:
                return
            for failure in due:
                if self._stopping.is_set() or self._lost:
                    return
                event = failure.event.event
                if event is None:
                    outcome: tuple[bool, int, str] | None = (
                        False,
                        0,
                        "the event's payload has an older shape",
                    )
                else:
                    outcome = await self._attempts(event)
                if outcome is None:
                    return
                ok, attempts, error = outcome
                if ok:
                    await db.write(store.forget_failure, failure.id)
                else:
                    await db.write(
                        store.fail_again, failure.id, attempts=attempts, error=error, now=self._now()
                    )

    async def _pause(self, seconds: float) -> bool:
        """Sleep, cut short by stop(); True when stopping."""
        try:
            await asyncio.wait_for(self._stopping.wait(), seconds)
        except TimeoutError:
            pass
        return self._stopping.is_set()

    def _now(self) -> int:
        return self._registry.clock.now()


class Consumers:
    """The durable consumers of one client: registered by ``consume()``, started when the client opens,
    stopped (and kept registered) when it closes."""

    def __init__(self, bus: EventBus, clock: Clock) -> None:
        self.bus = bus
        self.clock = clock
        self._consumers: list[Consumer] = []
        self._db: Database | None = None

    @overload
    def consume(
        self,
        *,
        group: str,
        handler: Handler,
        event_types: str | Iterable[str] | None = ...,
        inbox_ids: str | Iterable[str] | None = ...,
        pod_ids: str | Iterable[str] | None = ...,
        start: Start = ...,
        max_attempts: int = ...,
        retry_delay: float = ...,
        admits: Admits | None = ...,
    ) -> Consumer: ...

    @overload
    def consume(
        self,
        *,
        group: str,
        handler: None = ...,
        event_types: str | Iterable[str] | None = ...,
        inbox_ids: str | Iterable[str] | None = ...,
        pod_ids: str | Iterable[str] | None = ...,
        start: Start = ...,
        max_attempts: int = ...,
        retry_delay: float = ...,
        admits: Admits | None = ...,
    ) -> Callable[[Handler], Consumer]: ...

    def consume(
        self,
        *,
        group: str,
        handler: Handler | None = None,
        event_types: str | Iterable[str] | None = None,
        inbox_ids: str | Iterable[str] | None = None,
        pod_ids: str | Iterable[str] | None = None,
        start: Start = "oldest",
        max_attempts: int = 5,
        retry_delay: float = 1.0,
        admits: Admits | None = None,
    ) -> Consumer | Callable[[Handler], Consumer]:
        """Register a durable consumer (see the module docstring); without ``handler``, a decorator that
        registers the decorated function and returns the ``Consumer``. Call it on the client's loop.
        ``admits`` keeps it to the events of a scoped API key."""
        check_group(group)
        where = _Filter(event_types, inbox_ids, pod_ids, admits=admits)
        if start not in ("oldest", "now"):
            raise ValidationError("start must be 'oldest' or 'now'", path=["start"])
        if isinstance(max_attempts, bool) or not isinstance(max_attempts, int) or max_attempts < 1:
            raise ValidationError("max_attempts must be an integer of at least 1", path=["max_attempts"])
        if (
            isinstance(retry_delay, bool)
            or not isinstance(retry_delay, int | float)
            or not math.isfinite(retry_delay)
            or retry_delay < 0
        ):
            raise ValidationError(
                "retry_delay must be a number of seconds, not negative", path=["retry_delay"]
            )

        def register(handler: Handler) -> Consumer:
            if not callable(handler):
                raise ValidationError("a consumer's handler must be callable", path=["handler"])
            consumer = Consumer(
                self,
                group=group,
                handler=handler,
                where=where,
                start=start,
                max_attempts=max_attempts,
                retry_delay=float(retry_delay),
            )
            self._consumers.append(consumer)
            if self._db is not None:
                self.bus._add(consumer)
                consumer._launch(self._db, self.bus.position)
            return consumer

        return register if handler is None else register(handler)

    def open(self, db: Database) -> None:
        """Start the registered consumers; called right after the bus opened, before it dispatched, so its
        cursor is the newest event id (the position ``start="now"`` means)."""
        self._db = db
        for consumer in self._consumers:
            self.bus._add(consumer)
            consumer._launch(db, self.bus.position)

    async def close(self) -> None:
        """Stop every consumer politely (they stay registered and start again when the client reopens)."""
        self._db = None
        await asyncio.gather(*(consumer._halt() for consumer in self._consumers))
        for consumer in self._consumers:
            self.bus.remove(consumer)
        # Let the dispatcher take the wake-ups of the lease releases (and see that nobody listens) before the
        # client cancels it: on Python 3.11, asyncio.wait_for with a timeout can swallow a cancel that races
        # a wake-up, and the dispatcher would then never end.
        self.bus.notify()
        for _ in range(100):
            if self.bus._wake is None or not self.bus._wake.is_set():
                break
            await asyncio.sleep(0)

    async def remove(self, consumer: Consumer) -> None:
        """Stop one consumer for good."""
        if consumer in self._consumers:
            self._consumers.remove(consumer)
            self.bus.remove(consumer)
        await consumer._halt()

    async def failed(self, group: str) -> list[FailedEvent]:
        """The group's set-aside events, oldest first; NotFoundError for a group that never ran."""
        check_group(group)
        db = await self._database()
        result = []
        for failure in await db.read(store.failures, group):
            if failure.event.event is None:
                continue  # an older payload shape: kept in the table, not representable as an Event
            result.append(
                FailedEvent(
                    group=group,
                    event=failure.event.event,
                    attempts=failure.attempts,
                    last_error=failure.last_error,
                    failed_at=to_datetime(failure.failed_at),
                )
            )
        return result

    async def replay(self, group: str, event_ids: str | Iterable[str] | None = None) -> int:
        """Queue set-aside events (all of the group's, or these ``event_id``s) to run again; how many."""
        check_group(group)
        ids: list[str] | None = None
        if event_ids is not None:
            ids = [event_ids] if isinstance(event_ids, str) else list(event_ids)
            if not all(isinstance(event_id, str) and event_id for event_id in ids):
                raise ValidationError("event_ids must be event id strings", path=["event_ids"])
        db = await self._database()
        count = await db.write(store.request_replay, group, ids, self.clock.now())
        for consumer in self._consumers:
            if consumer.group == group:
                consumer._wake_for_replays()
        return count

    async def _database(self) -> Database:
        await self.bus.ensure_open()
        assert self._db is not None, "the client opens its consumers with the bus"
        return self._db


class ScopedConsumers:
    """The durable consumers of a client acting with a pod's or inbox's API key: each receives only the
    events of the key's scope, and its group names are kept apart from other keys' (``namespace``), so one
    pod's consumer never takes over, lists or replays another pod's group."""

    def __init__(self, consumers: Consumers, *, admits: Admits, namespace: Callable[[str], str]) -> None:
        self._consumers = consumers
        self._admits = admits
        self._namespace = namespace

    @overload
    def consume(
        self,
        *,
        group: str,
        handler: Handler,
        event_types: str | Iterable[str] | None = ...,
        inbox_ids: str | Iterable[str] | None = ...,
        pod_ids: str | Iterable[str] | None = ...,
        start: Start = ...,
        max_attempts: int = ...,
        retry_delay: float = ...,
    ) -> Consumer: ...

    @overload
    def consume(
        self,
        *,
        group: str,
        handler: None = ...,
        event_types: str | Iterable[str] | None = ...,
        inbox_ids: str | Iterable[str] | None = ...,
        pod_ids: str | Iterable[str] | None = ...,
        start: Start = ...,
        max_attempts: int = ...,
        retry_delay: float = ...,
    ) -> Callable[[Handler], Consumer]: ...

    def consume(
        self,
        *,
        group: str,
        handler: Handler | None = None,
        event_types: str | Iterable[str] | None = None,
        inbox_ids: str | Iterable[str] | None = None,
        pod_ids: str | Iterable[str] | None = None,
        start: Start = "oldest",
        max_attempts: int = 5,
        retry_delay: float = 1.0,
    ) -> Consumer | Callable[[Handler], Consumer]:
        """``Consumers.consume`` within the key's scope."""
        check_group(group)
        return self._consumers.consume(
            group=self._namespace(group),
            handler=handler,
            event_types=event_types,
            inbox_ids=inbox_ids,
            pod_ids=pod_ids,
            start=start,
            max_attempts=max_attempts,
            retry_delay=retry_delay,
            admits=self._admits,
        )

    async def failed(self, group: str) -> list[FailedEvent]:
        """The group's set-aside events (see ``Consumers.failed``)."""
        check_group(group)
        found = await self._consumers.failed(self._namespace(group))
        return [failure.model_copy(update={"group": group}) for failure in found]

    async def replay(self, group: str, event_ids: str | Iterable[str] | None = None) -> int:
        """Queue the group's set-aside events to run again (see ``Consumers.replay``)."""
        check_group(group)
        return await self._consumers.replay(self._namespace(group), event_ids)


def check_group(group: object) -> None:
    """A group name is a non-empty string of at most 200 characters."""
    if not isinstance(group, str) or not group.strip() or len(group) > _MAX_GROUP:
        raise ValidationError(f"group must be a name of 1 to {_MAX_GROUP} characters", path=["group"])


def _micros(seconds: float) -> int:
    return int(seconds * 1_000_000)


def _without(gaps: list[tuple[int, int, float]], event_id: int) -> list[tuple[int, int, float]]:
    """The skipped ranges with one id taken out (it turned up)."""
    result = []
    for low, high, until in gaps:
        if low <= event_id <= high:
            if low < event_id:
                result.append((low, event_id - 1, until))
            if event_id < high:
                result.append((event_id + 1, high, until))
        else:
            result.append((low, high, until))
    return result
