"""The in-process event bus: committed events from the log, handed to hooks and subscriptions in id order.

The log is the transactional outbox: an event is appended in the transaction of the change it reports, so
an event a subscriber sees is always committed. After each write transaction commits, ``Database`` hands
the bus the events it appended and calls ``notify()``; the dispatcher task then offers each event above its
cursor to every subscriber, in id order: straight from that hand-over while it follows on from the cursor
(no read, which is most of an agent's wake-up time), else read from the log. A subscriber only queues what it is offered, so the dispatcher never waits on a handler:

- a hook (``on``) has its own queue and task, and runs its handler on one event at a time, in order; an
  async handler runs on the engine's loop, a sync one in a worker thread (so it may call the sync client);
  an exception is logged and the hook goes on with the next event;
- a subscription (``subscribe``) is a queue read by an async (or, for the sync client, blocking) iterator;
- ``wait_for_message`` is a one-shot subscription resolved by the first matching ``message.received``.

Events written by another process (another engine, the inbound child processes) are found by polling
while anyone listens; on PostgreSQL the engine's listener (``store/notify.py``) also calls ``notify_other``
when another process commits events, so they arrive within milliseconds and the poll is only a safety net.
On PostgreSQL ids are handed out at insert time, so a lower id may commit after a higher one: the dispatcher
stops at such a gap until it fills or ``GAP_GRACE`` passes (a rolled-back insert leaves a gap for good).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import inspect
import logging
import queue
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from ..errors import ValidationError, WaitTimeoutError
from ..models import Event, Message, MessageReceivedEvent
from ..store import events as log
from ..store.database import Database
from ..store.events import Appended, EventRow

if TYPE_CHECKING:
    from .consumers import Consumers, ScopedConsumers

__all__ = ["EVENT_TYPES", "EventBus", "Events", "Handler", "Subscription", "SyncSubscription"]

_log = logging.getLogger(__name__)

#: The reference's event types (§9.2); filters name these.
EVENT_TYPES = frozenset(
    {
        "message.received",
        "message.received.spam",
        "message.received.blocked",
        "message.received.unauthenticated",
        "message.security.completed",
        "message.security.review",
        "message.security.override",
        "message.sent",
        "message.delivered",
        "message.bounced",
        "message.complained",
        "message.rejected",
        "message.opened",
        "domain.verified",
        "calendar.event.created",
        "calendar.event.updated",
        "calendar.event.deleted",
        "calendar.event.responded",
        "calendar.event.starting",
        "calendar.event.ending",
    }
)
#: How often the dispatcher looks at the log by itself while anyone listens (events of other processes).
POLL_INTERVAL = 0.1
#: The same while a PostgreSQL listener is up: notifications bring other processes' events, polling only
#: covers a notification lost with a dropped connection.
LISTEN_POLL_INTERVAL = 1.0
#: How long the dispatcher waits for a lower id to commit before it skips the gap (PostgreSQL only).
GAP_GRACE = 0.5
#: How long ``close`` waits for a log read in progress before it cancels the dispatcher.
_STOP_SECONDS = 5.0
#: While nobody listens, the dispatcher moves its cursor to the newest id at most this often (a read each).
IDLE_SYNC = 0.1
_BATCH = 500

Handler = Callable[[Any], Awaitable[None] | None]
#: Whether an event lies in a client's scope (``resources/_access.py``); None admits everything.
Admits = Callable[[EventRow], bool]


def _names(value: str | Iterable[str] | None, what: str) -> frozenset[str] | None:
    if value is None:
        return None
    names = frozenset([value] if isinstance(value, str) else value)
    if not all(isinstance(name, str) and name for name in names):
        raise ValidationError(f"{what} must be strings", path=[what])
    return names


class _Filter:
    """Event types, inboxes, pods (and a thread, for ``wait_for_message``); None matches any."""

    __slots__ = ("admits", "event_types", "inbox_ids", "pod_ids", "thread_id")

    def __init__(
        self,
        event_types: str | Iterable[str] | None,
        inbox_ids: str | Iterable[str] | None,
        pod_ids: str | Iterable[str] | None,
        thread_id: str | None = None,
        admits: Admits | None = None,
    ) -> None:
        self.event_types = _names(event_types, "event_types")
        unknown = sorted((self.event_types or frozenset()) - EVENT_TYPES)
        if unknown:
            raise ValidationError(f"unknown event type {unknown[0]!r}", path=["event_types"])
        self.inbox_ids = _names(inbox_ids, "inbox_ids")
        self.pod_ids = _names(pod_ids, "pod_ids")
        self.thread_id = thread_id
        #: The scope of the client's API key: the filter never matches an event outside it.
        self.admits = admits

    def matches(self, row: EventRow) -> bool:
        return (
            (self.event_types is None or row.event_type in self.event_types)
            and (self.inbox_ids is None or row.inbox_id in self.inbox_ids)
            and (self.pod_ids is None or row.pod_id in self.pod_ids)
            and (self.thread_id is None or row.thread_id == self.thread_id)
            and (self.admits is None or self.admits(row))
        )


class _Subscriber:
    """Something the dispatcher offers events to; ``offer`` must return at once."""

    def __init__(self, where: _Filter) -> None:
        self.where = where

    def offer(self, row: EventRow) -> None:
        raise NotImplementedError


class _Hook(_Subscriber):
    """A registered handler: its own queue and task, so it is slow or fails alone."""

    def __init__(self, bus: EventBus, handler: Handler, where: _Filter) -> None:
        super().__init__(where)
        self.bus = bus
        self.handler = handler
        self.is_async = inspect.iscoroutinefunction(handler)
        self.queue: asyncio.Queue[Event] = asyncio.Queue()
        self.task: asyncio.Task[None] | None = None

    def offer(self, row: EventRow) -> None:
        assert row.event is not None
        self.queue.put_nowait(row.event)
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while not self.queue.empty():
            event = self.queue.get_nowait()
            try:
                if self.is_async:
                    await self.handler(event)  # type: ignore[misc]
                else:
                    await asyncio.get_running_loop().run_in_executor(self.bus.threads, self.handler, event)
            except Exception:
                _log.exception(
                    "event handler %r failed on %s %s", self.handler, event.event_type, event.event_id
                )


class Subscription(_Subscriber):
    """An async iterator over matching events from the moment it was created; ``close()`` (or leaving an
    ``async with`` block, or breaking out of ``async for``) ends it."""

    def __init__(self, bus: EventBus, where: _Filter) -> None:
        super().__init__(where)
        self._bus = bus
        self._queue: asyncio.Queue[Event | None] = asyncio.Queue()

    def offer(self, row: EventRow) -> None:
        self._queue.put_nowait(row.event)

    def close(self) -> None:
        """Stop receiving events; an iteration in progress ends after what is already queued."""
        if self._bus.remove(self):
            self._queue.put_nowait(None)

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Event]:
        try:
            await self._bus.ensure_open()
            while (event := await self._queue.get()) is not None:
                yield event
        finally:
            self.close()

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()


class SyncSubscription(_Subscriber):
    """The blocking form of ``Subscription`` for the sync client: a plain iterator, read from any thread."""

    def __init__(self, bus: EventBus, where: _Filter, *, timeout: float | None = None) -> None:
        super().__init__(where)
        self._bus = bus
        self._queue: queue.SimpleQueue[Event | None] = queue.SimpleQueue()
        self._timeout = timeout

    def offer(self, row: EventRow) -> None:
        self._queue.put(row.event)

    def close(self) -> None:
        """Stop receiving events; iteration ends after what is already queued."""
        loop = self._bus.loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._bus.remove, self)
        self._queue.put(None)

    def __iter__(self) -> Iterator[Event]:
        return self

    def __next__(self) -> Event:
        """The next event; with ``timeout``, WaitTimeoutError when none comes in time."""
        try:
            event = self._queue.get(timeout=self._timeout)
        except queue.Empty:
            raise WaitTimeoutError(f"no event within {self._timeout} s") from None
        if event is None:
            raise StopIteration
        return event

    def __enter__(self) -> SyncSubscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Waiter(_Subscriber):
    """Resolves a future with the first matching received message whose id is above ``after``.

    It is registered before ``after`` (the newest id when the wait began) is known, so nothing committed
    in between slips past it; what it is offered meanwhile is kept until ``settle`` says which counts.
    """

    def __init__(self, where: _Filter, future: asyncio.Future[Message]) -> None:
        super().__init__(where)
        self.future = future
        self.after: int | None = None
        self.early: list[tuple[int, Message]] = []

    def offer(self, row: EventRow) -> None:
        if not isinstance(row.event, MessageReceivedEvent) or self.future.done():
            return
        if self.after is None:
            self.early.append((row.id, row.event.message))
        elif row.id > self.after:
            self.future.set_result(row.event.message)

    def settle(self, after: int) -> None:
        self.after = after
        for event_id, message in self.early:
            if event_id > after and not self.future.done():
                self.future.set_result(message)
        self.early.clear()


class EventBus:
    """Hands committed events to the subscribers of this process; one per client, across reopenings."""

    def __init__(self) -> None:
        self._subscribers: list[_Subscriber] = []
        self._db: Database | None = None
        self._cursor = 0
        self._seen_appends = -1
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._gap_since: float | None = None
        self._gaps_possible = False
        self._generation = 0  # counts subscribers added, so a read racing one is not trusted
        self._idle_sync_at = 0.0
        self._idle_sync_pending = False
        self._other = False  # another process committed events: read the log even without appends here
        self._handed: collections.deque[Appended] = collections.deque()  # committed here, not yet offered
        self._committed_here = 0  # the highest event id this process committed
        self._stopping = False
        #: True while the engine's PostgreSQL listener is up (the dispatcher then polls less often).
        self.listening = False
        self.loop: asyncio.AbstractEventLoop | None = None
        #: Opens the client (and so this bus) when a subscription starts before anything else used it.
        self.ensure_open: Callable[[], Awaitable[object]] = _opened
        #: Where sync handlers run: a few threads, each hook using at most one at a time.
        self.threads = ThreadPoolExecutor(8, thread_name_prefix="agentinbox-hook")

    # -- life cycle (the client calls these) -----------------------------------------------------------

    async def open(self, db: Database) -> None:
        """Start dispatching the events committed from now on."""
        self.loop = asyncio.get_running_loop()
        self._db = db
        self._gaps_possible = db.dialect != "sqlite"
        self._cursor = await db.read(log.last_event_id)
        self._seen_appends = log.appended()
        self._wake = asyncio.Event()
        db.on_commit = self.notify
        db.on_events = self._committed
        self._task = self.loop.create_task(self._dispatch(), name="agentinbox-event-dispatcher")

    async def close(self) -> None:
        """Stop dispatching (registered hooks stay registered for a later ``open``)."""
        task, self._task = self._task, None
        if task is not None:
            # Asked, not cancelled: a cancelled database read can swallow the cancellation (the task would
            # then run on) or leave its connection unusable. Cancelled only if the read hangs.
            self._stopping = True
            self.notify()
            try:
                await asyncio.wait_for(asyncio.shield(task), _STOP_SECONDS)
            except TimeoutError:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            finally:
                self._stopping = False
        if self._db is not None:
            self._db.on_commit = _nothing
            self._db.on_events = _ignore
            self._handed.clear()
            self._db = None

    def notify(self) -> None:
        """A write transaction committed: look at the log now (cheap when it appended nothing)."""
        if self._wake is not None:
            self._wake.set()

    @property
    def position(self) -> int:
        """The newest event id this bus knows is committed: its cursor, or a later id this process committed
        (which the dispatcher may not have reached yet)."""
        return max(self._cursor, self._committed_here)

    def _committed(self, appended: list[Appended]) -> None:
        """Events this process just committed: offered from memory when they follow the cursor directly."""
        self._committed_here = max(self._committed_here, appended[-1].id)
        if self._subscribers:
            self._handed.extend(appended)
        self.notify()

    def notify_other(self) -> None:
        """Another process committed events (a PostgreSQL notification): read the log now."""
        self._other = True
        self.notify()

    # -- subscribers -----------------------------------------------------------------------------------

    def on(
        self,
        event_types: str | Iterable[str] | None = None,
        *,
        inbox_ids: str | Iterable[str] | None = None,
        pod_ids: str | Iterable[str] | None = None,
        admits: Admits | None = None,
    ) -> Callable[[Handler], Handler]:
        """Register the decorated handler for matching events; returns it unchanged."""
        where = _Filter(event_types, inbox_ids, pod_ids, admits=admits)

        def register(handler: Handler) -> Handler:
            if not callable(handler):
                raise ValidationError("an event handler must be callable", path=["handler"])
            self._add(_Hook(self, handler, where))
            return handler

        return register

    def subscribe(
        self,
        event_types: str | Iterable[str] | None = None,
        *,
        inbox_ids: str | Iterable[str] | None = None,
        pod_ids: str | Iterable[str] | None = None,
        admits: Admits | None = None,
    ) -> Subscription:
        """An async iterator over the matching events committed from now on."""
        subscription = Subscription(self, _Filter(event_types, inbox_ids, pod_ids, admits=admits))
        self._add(subscription)
        return subscription

    def subscribe_sync(
        self,
        event_types: str | Iterable[str] | None = None,
        *,
        inbox_ids: str | Iterable[str] | None = None,
        pod_ids: str | Iterable[str] | None = None,
        timeout: float | None = None,
        admits: Admits | None = None,
    ) -> SyncSubscription:
        """``subscribe`` as a blocking iterator (registered on the bus's loop by the caller)."""
        where = _Filter(event_types, inbox_ids, pod_ids, admits=admits)
        subscription = SyncSubscription(self, where, timeout=timeout)
        self._add(subscription)
        return subscription

    async def wait_for_message(
        self,
        *,
        inbox_id: str | None = None,
        thread_id: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109  # the reference SDK's keyword
        admits: Admits | None = None,
    ) -> Message:
        """The next message received (``message.received``) into the inbox (and thread), as committed.

        Raises WaitTimeoutError (an AgentInboxError and a TimeoutError) when none comes within ``timeout``
        seconds; None waits for ever.
        """
        if timeout is not None and timeout < 0:
            raise ValidationError("timeout must not be negative", path=["timeout"])
        where = _Filter("message.received", inbox_id, None, thread_id, admits=admits)
        future: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        waiter = _Waiter(where, future)
        self._add(waiter)
        try:
            assert self._db is not None, "open the bus first"
            waiter.settle(await self._db.read(log.last_event_id))
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise WaitTimeoutError(
                f"no message arrived in {inbox_id or 'any inbox'} within {timeout} s"
            ) from None
        finally:
            self.remove(waiter)

    def _add(self, subscriber: _Subscriber) -> None:
        self._generation += 1
        self._subscribers.append(subscriber)
        self.notify()

    def remove(self, subscriber: _Subscriber) -> bool:
        """Forget a subscriber; False when it was not registered."""
        try:
            self._subscribers.remove(subscriber)
        except ValueError:
            return False
        return True

    # -- the dispatcher --------------------------------------------------------------------------------

    async def _dispatch(self) -> None:
        assert self._wake is not None
        while not self._stopping:
            polled = False
            interval = LISTEN_POLL_INTERVAL if self.listening else POLL_INTERVAL
            try:
                await asyncio.wait_for(self._wake.wait(), interval if self._subscribers else None)
            except TimeoutError:
                polled = True
            self._wake.clear()
            if self._stopping:
                return
            appends = log.appended()
            other, self._other = self._other, False
            must_read = polled or other or self._gap_since is not None
            if not must_read and appends == self._seen_appends:
                continue  # the commit appended no event in this process
            self._seen_appends = appends
            try:
                await self._catch_up(must_read)
            except asyncio.CancelledError:
                raise
            except Exception:
                _log.exception("reading the event log failed; trying again")
                await asyncio.sleep(POLL_INTERVAL)

    async def _catch_up(self, must_read: bool) -> None:
        """Offer what was committed since the cursor: from the hand-over of this process's commits when that
        covers it, else (a poll, another process's notification, a gap, a hand-over not following on) from
        the log."""
        assert self._db is not None
        if not self._subscribers:
            self._handed.clear()
            await self._idle_sync()
            return
        self._offer_handed()
        if not must_read and not self._handed:
            return
        while not self._stopping:
            rows = await self._db.read(log.events_after, self._cursor, limit=_BATCH)
            for row in rows:
                if row.id != self._cursor + 1 and self._gaps_possible and not self._gap_expired():
                    return
                self._offer(row)
            if len(rows) < _BATCH:
                self._offer_handed()
                return

    def _offer_handed(self) -> None:
        """Offer the events handed over by this process's commits while each follows the cursor directly
        (no read); at the first that does not (another process's, or a lower id still uncommitted), the log
        is read instead, and what it covered is dropped from the hand-over."""
        handed = self._handed
        while handed:
            if handed[0].id <= self._cursor:
                handed.popleft()
            elif handed[0].id == self._cursor + 1:
                self._offer(EventRow(handed.popleft()))
            else:
                return

    def _offer(self, row: EventRow) -> None:
        self._gap_since = None
        self._cursor = row.id
        if row.event is not None:
            for subscriber in list(self._subscribers):
                if subscriber.where.matches(row):
                    subscriber.offer(row)

    async def _idle_sync(self) -> None:
        """Nobody listens: move the cursor to the newest id, at most once per IDLE_SYNC (one read each), so
        ingesting without subscribers costs next to nothing. A subscriber added meanwhile may so be offered
        events committed up to IDLE_SYNC before it subscribed, never fewer than those after."""
        assert self._db is not None and self.loop is not None
        wait = self._idle_sync_at - time.monotonic()
        if wait > 0:
            if not self._idle_sync_pending:
                self._idle_sync_pending = True
                self.loop.call_later(wait, self._idle_sync_due)
            return
        self._idle_sync_at = time.monotonic() + IDLE_SYNC
        generation = self._generation
        latest = await self._db.read(log.last_event_id)
        if generation == self._generation:  # a subscriber added during the read may be owed events below it
            self._cursor = max(self._cursor, latest)
            self._gap_since = None

    def _idle_sync_due(self) -> None:
        self._idle_sync_pending = False
        self._seen_appends = -1  # make the dispatcher look even if nothing else is appended meanwhile
        self.notify()

    def _gap_expired(self) -> bool:
        """True once a gap before the next id has lasted GAP_GRACE; starts timing it otherwise."""
        now = time.monotonic()
        if self._gap_since is None:
            self._gap_since = now
            assert self.loop is not None
            self.loop.call_later(GAP_GRACE, self.notify)
            return False
        return now - self._gap_since >= GAP_GRACE


def _nothing() -> None:
    pass


def _ignore(appended: list[Appended]) -> None:
    pass


async def _opened() -> None:
    pass


class Events:
    """``client.events`` of the async client: streams of the events committed from now on."""

    def __init__(
        self, bus: EventBus, consumers: Consumers | ScopedConsumers, *, admits: Admits | None = None
    ) -> None:
        self._bus = bus
        self._admits = admits
        #: Durable consumers (``events/consumers.py``): ``consume(group=…, handler=…)`` registers one (or,
        #: without ``handler``, decorates it); ``await failed(group)`` lists the events a group set aside;
        #: ``await replay(group, event_ids=None)`` runs them again.
        self.consume = consumers.consume
        self.failed = consumers.failed
        self.replay = consumers.replay

    def subscribe(
        self,
        event_types: str | Iterable[str] | None = None,
        *,
        inbox_ids: str | Iterable[str] | None = None,
        pod_ids: str | Iterable[str] | None = None,
    ) -> Subscription:
        """``async for event in client.events.subscribe(event_types=[...], inbox_ids=[...])``: the matching
        events committed from now on, in order; ``break`` (or ``close()``) ends the stream. When nobody
        listened just before, it may also get events committed up to ``IDLE_SYNC`` (0.1 s) earlier."""
        return self._bus.subscribe(event_types, inbox_ids=inbox_ids, pod_ids=pod_ids, admits=self._admits)
