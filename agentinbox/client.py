"""The two clients: ``AsyncAgentInbox`` (the engine; every method is a coroutine) and ``AgentInbox``.

``AgentInbox`` runs an ``AsyncAgentInbox`` on a private event-loop thread and offers the same namespaces with
blocking methods, so scripts and notebooks use the engine without writing ``async``.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import threading
from collections.abc import Callable, Coroutine, Iterable, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar, overload

import pydantic

from ._clock import Clock
from .errors import AuthenticationError, ValidationError
from .events import EventBus, Events, SyncSubscription
from .events.bus import Admits, Handler
from .events.consumers import Consumer, Consumers, ScopedConsumers, Start
from .events.webhooks import WebhookDispatcher
from .models import FailedEvent, Identity, Message
from .pipeline import inbound
from .pipeline.checks import build_checks, own_domains_of
from .pipeline.context import Context
from .pipeline.delivery_worker import DeliveryWorker
from .pipeline.listening import listen_address
from .pipeline.receiving import Receiving
from .pipeline.scheduler import Scheduler
from .pipeline.submission import Submission
from .resources._access import ORGANIZATION, Access, authenticate, check_key, consumer_namespace
from .resources._base import Resource
from .resources.api_keys import ApiKeys
from .resources.domains import Domains
from .resources.drafts import Drafts
from .resources.inboxes import Inboxes
from .resources.lists import Lists
from .resources.pods import Pods
from .resources.threads import Threads
from .resources.webhooks import Webhooks
from .settings import Settings
from .store import pods
from .store.database import Database
from .store.inboxes import check_domain
from .store.notify import Listener

if TYPE_CHECKING:
    from .server.http import HttpServer

__all__ = ["AgentInbox", "AsyncAgentInbox"]

T = TypeVar("T")
_LISTEN_WAIT = 2.0  # seconds open() waits for the PostgreSQL listener before going on without it


def _settings(settings: Settings | None, overrides: dict[str, Any]) -> Settings:
    if settings is not None and overrides:
        raise ValidationError(
            "pass either settings= or individual setting keywords, not both", path=["settings"]
        )
    if settings is not None:
        return settings
    try:
        result = Settings(**overrides)
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        path = [str(p) for p in first.get("loc", ())]
        raise ValidationError(
            f"invalid setting {'.'.join(path)}: {first.get('msg')}", path=list(path)
        ) from exc
    check_domain(result.default_domain)
    return result


class AsyncAgentInbox:
    """The embedded mail engine: inboxes, messages, threads, drafts and pods in this process.

    The database opens (and its schema migrates) on first use; ``async with`` or ``close()`` releases it.
    With ``scope_api_key`` (a key from ``api_keys.create``, or the settings ``api_key``) the client acts
    only within that key's pod or inbox; the key is checked when the client opens. ``with_api_key`` gives
    such a view of an open engine.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        clock: Clock | None = None,
        scope_api_key: str | None = None,
        **overrides: Any,
    ) -> None:
        self.settings = _settings(settings, overrides)
        self._root = self
        self._access: Access = ORGANIZATION
        self._scope_key = None if scope_api_key is None else check_key(scope_api_key)
        self._clock = clock or Clock()
        self._opened: Context | None = None
        self._opening: asyncio.Lock | None = None
        self._receiving: Receiving | None = None
        self._submission: Submission | None = None
        self._delivery: DeliveryWorker | None = None
        self._scheduler: Scheduler | None = None
        self._webhook_dispatcher: WebhookDispatcher | None = None
        self._listener: Listener | None = None
        self._http: HttpServer | None = None
        self._bus = EventBus()
        self._bus.ensure_open = self._context
        self._consumers = Consumers(self._bus, self._clock)
        namespace = None
        if self._scope_key is not None:
            namespace = consumer_namespace(self._scope_key, self.settings.api_key)
        # Events are checked against the key's scope when they are dispatched, after the key is.
        self._namespaces(None if namespace is None else self._admits, namespace)

    def _namespaces(self, admits: Admits | None, namespace: Callable[[str], str] | None) -> None:
        self.inboxes = Inboxes(self)
        self.threads = Threads(self)
        self.drafts = Drafts(self)
        self.pods = Pods(self)
        self.api_keys = ApiKeys(self)
        self.domains = Domains(self)
        self.webhooks = Webhooks(self)
        self.lists = Lists(self)
        self._event_scope = admits
        consumers: Consumers | ScopedConsumers = self._consumers
        if admits is not None and namespace is not None:
            consumers = ScopedConsumers(self._consumers, admits=admits, namespace=namespace)
        self.events = Events(self._bus, consumers, admits=admits)

    def _admits(self, row: Any) -> bool:
        return self._access.admits(row)

    async def with_api_key(self, api_key: str) -> AsyncAgentInbox:
        """A view of this engine that acts with ``api_key``: only within its pod or inbox (the settings
        ``api_key`` is the organization's). The view shares the database, workers and event bus, so it is
        cheap to make, e.g. one per HTTP request; the key is checked now (AuthenticationError when unknown,
        revoked or expired), and the view keeps it for as long as it is used. ``close()`` on a view
        releases nothing: the engine belongs to this client."""
        key = check_key(api_key)
        ctx = await self._context()
        access = await self._authenticate(ctx.db, key)
        view = object.__new__(AsyncAgentInbox)
        view.settings = self.settings
        view._root = self._root
        view._access = access
        view._scope_key = key
        view._clock = self._clock
        view._bus = self._bus
        view._consumers = self._consumers
        namespace = consumer_namespace(key, self.settings.api_key)  # None for the settings api_key
        view._namespaces(None if namespace is None else access.admits, namespace)
        return view

    async def _authenticate(self, db: Database, key: str) -> Access:
        """The access ``key`` gives (AuthenticationError when it is unknown, revoked or expired)."""
        return await db.read_now(
            authenticate, key, organization_key=self.settings.api_key, now=self._clock.now()
        )

    @property
    def identity(self) -> Identity:
        """Who this client acts as (AgentMail's ``GET /v0/auth/me``): the scope of its API key. A client
        given ``scope_api_key`` knows it once open (before, this raises AuthenticationError)."""
        if self._scope_key is not None and self._root._opened is None:
            raise AuthenticationError(
                "the scope_api_key is checked when the client opens: await client.open() first",
                code="unauthorized",
            )
        return self._access.identity

    async def _context(self) -> Context:
        root = self._root
        if root._opened is not None:
            return root._opened
        if root is not self:
            return await root._context()
        if self._opening is None:
            self._opening = asyncio.Lock()
        async with self._opening:
            if self._opened is None:
                db = Database(self.settings.database_url)
                try:
                    await db.migrate()
                    await db.write(pods.default_pod_id, self._clock.now())
                    if self._scope_key is not None:
                        self._access = await self._authenticate(db, self._scope_key)
                    # Built before the engine counts as open: one that failed here must not store mail
                    # unchecked on the next call.
                    checks = build_checks(self.settings, own_domains_of(db, self.settings))
                except BaseException:
                    await db.close()
                    raise
                self._opened = Context(db=db, settings=self.settings, clock=self._clock, checks=checks)
                await self._bus.open(db)
                self._consumers.open(db)  # before the bus dispatches: "now" is the newest id
                if db.dialect == "postgresql":
                    # Other engines on the database wake this one's bus and workers through notifications.
                    self._listener = Listener(
                        db.url, sender=db.sender, on_notify=self._notified, on_state=self._listening
                    )
                    self._listener.start()
                    await self._listener.wait_up(_LISTEN_WAIT)
        return self._opened

    def _notified(self, kinds: frozenset[str]) -> None:
        """Another process committed events or queued work (a PostgreSQL notification): wake who handles it."""
        ctx = self._opened
        if ctx is None:
            return
        if "events" in kinds:
            self._bus.notify_other()
        if "inbound" in kinds:
            ctx.wake_inbound()
        if "delivery" in kinds:
            ctx.wake_delivery()
        if "scheduler" in kinds:
            ctx.wake_scheduler()
        if "webhook" in kinds and self._webhook_dispatcher is not None:
            self._webhook_dispatcher.wake()

    def _listening(self, up: bool) -> None:
        self._bus.listening = up
        self._bus.notify()  # the dispatcher picks the poll interval that now applies

    async def open(self) -> AsyncAgentInbox:
        """Open the database now (it opens by itself on first use otherwise)."""
        await self._context()
        return self

    async def start(self) -> None:
        """Start serving what the settings enable: the SMTP receiver on ``smtp_listen``, the worker that
        turns accepted mail into messages (it first finishes whatever an earlier run left queued), and the
        delivery worker that sends queued outbound mail through ``relay_url`` or straight to MX hosts, and
        the scheduler that sends drafts when their ``send_at`` comes (first any that fell due meanwhile).

        Without ``start()`` the engine still works fully in-process.
        """
        ctx = await self._context()
        self._access.organization_only("start()")
        if self._root is not self:
            await self._root.start()
            return
        if self._delivery is None:
            self._delivery = DeliveryWorker(ctx)
            ctx.wake_delivery = self._delivery.wake
            self._delivery.start()
        if self._scheduler is None:
            self._scheduler = Scheduler(ctx)
            ctx.wake_scheduler = self._scheduler.wake
            self._scheduler.start()
        if self._webhook_dispatcher is None:
            self._webhook_dispatcher = WebhookDispatcher(ctx.db, ctx.settings, ctx.clock, self._bus)
            self._webhook_dispatcher.start()
        if self._receiving is None:
            self._receiving = Receiving(ctx)
            ctx.wake_inbound = self._receiving.worker.wake
        await self._receiving.start()
        if self._submission is None and self.settings.submission_listen:
            submission = Submission(ctx)
            await submission.start()
            self._submission = submission
        if self._http is None and self.settings.http_listen:
            # The network face sits above the client and needs the ``server`` extra: imported on demand.
            try:
                from .server.http import HttpServer
            except ImportError as exc:
                raise ValidationError(
                    f"http_listen needs the 'server' extra: pip install 'agentinbox[server]' ({exc})",
                    path=["http_listen"],
                ) from exc

            host, port = listen_address(self.settings.http_listen, setting="http_listen")
            http = HttpServer(self, host, port, download_signing_key=self.settings.download_signing_key)
            await http.start()
            self._http = http

    async def serve_forever(self) -> None:
        """``start()``, then run until cancelled."""
        await self.start()
        await asyncio.Event().wait()

    @property
    def smtp_address(self) -> tuple[str, int] | None:
        """The (host, port) the SMTP receiver listens on after ``start()``, or None."""
        receiving = self._root._receiving
        return receiving.smtp_address if receiving is not None else None

    @property
    def submission_address(self) -> tuple[str, int] | None:
        """The (host, port) the SMTP submission server listens on after ``start()``, or None."""
        submission = self._root._submission
        return submission.address if submission is not None else None

    @property
    def http_address(self) -> tuple[str, int] | None:
        """The (host, port) the HTTP API and WebSocket listen on after ``start()``, or None."""
        http = self._root._http
        return http.address if http is not None else None

    async def deliver(
        self,
        raw: bytes,
        mail_from: str | None = None,
        rcpt_to: Sequence[str] | None = None,
        *,
        client_ip: str | None = None,
        helo: str | None = None,
    ) -> list[Message]:
        """Run a raw RFC 5322 message through the inbound pipeline, as if it arrived over SMTP.

        ``rcpt_to`` names the inboxes it is for (each must exist); without it, the message goes to the
        inboxes among its To, Cc, Delivered-To and X-Original-To addresses. ``client_ip`` and ``helo`` name
        the SMTP client that handed it over, when it came from another MTA, so SPF can be checked; without
        them the message counts as handed over locally and is not authenticated. Returns one stored copy per
        inbox.
        """
        ctx = await self._context()
        self._access.organization_only("deliver()")
        return await inbound.deliver(
            ctx, raw, mail_from=mail_from, rcpt_to=rcpt_to, client_ip=client_ip, helo=helo
        )

    def on(
        self,
        event_types: str | Iterable[str] | None = None,
        *,
        inbox_ids: str | Iterable[str] | None = None,
        pod_ids: str | Iterable[str] | None = None,
    ) -> Callable[[Handler], Handler]:
        """Register a handler for the matching events committed once the client is open::

            @client.on("message.received", inbox_ids=[inbox.inbox_id])
            async def reply(event: MessageReceivedEvent) -> None: ...

        An async handler runs on the engine's loop, a sync one in a worker thread (it may call the sync
        client). Each handler sees its events one at a time, in order; one that is slow or raises (the
        exception is logged) holds up neither SMTP nor other handlers.
        """
        return self._bus.on(event_types, inbox_ids=inbox_ids, pod_ids=pod_ids, admits=self._event_scope)

    async def wait_for_message(
        self,
        *,
        inbox_id: str | None = None,
        thread_id: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109  # the reference SDK's keyword
    ) -> Message:
        """The next message received into ``inbox_id`` (and ``thread_id``) after this call; raises
        ``errors.WaitTimeoutError`` (also a ``TimeoutError``) when none arrives within ``timeout`` seconds."""
        await self._context()
        return await self._bus.wait_for_message(
            inbox_id=inbox_id, thread_id=thread_id, timeout=timeout, admits=self._event_scope
        )

    async def _subscribe_sync(
        self,
        event_types: str | Iterable[str] | None,
        inbox_ids: str | Iterable[str] | None,
        pod_ids: str | Iterable[str] | None,
        wait: float | None,
    ) -> SyncSubscription:
        await self._context()
        return self._bus.subscribe_sync(
            event_types, inbox_ids=inbox_ids, pod_ids=pod_ids, timeout=wait, admits=self._event_scope
        )

    async def close(self) -> None:
        """Stop serving and release the database; the client can be opened again by using it. (On a view
        made by ``with_api_key`` this does nothing: the engine belongs to the client it came from.)"""
        if self._root is not self:
            return
        await self._consumers.close()  # first: a handler finishing its event may still use the client
        http, self._http = self._http, None
        if http is not None:
            await http.stop()
        submission, self._submission = self._submission, None
        if submission is not None:
            await submission.stop()
        receiving, self._receiving = self._receiving, None
        if receiving is not None:
            if self._opened is not None:
                self._opened.wake_inbound = lambda: None
            await receiving.stop()
        scheduler, self._scheduler = self._scheduler, None
        if scheduler is not None:
            if self._opened is not None:
                self._opened.wake_scheduler = lambda: None
            await scheduler.stop()
        delivery, self._delivery = self._delivery, None
        if delivery is not None:
            if self._opened is not None:
                self._opened.wake_delivery = lambda: None
            await delivery.stop()
        dispatcher, self._webhook_dispatcher = self._webhook_dispatcher, None
        if dispatcher is not None:
            await dispatcher.stop()
        listener, self._listener = self._listener, None
        if listener is not None:
            await listener.close()
        self._bus.listening = False
        await self._bus.close()
        opened, self._opened = self._opened, None
        if opened is not None:
            await opened.db.close()

    async def __aenter__(self) -> AsyncAgentInbox:
        return await self.open()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()


class _Portal:
    """An event loop on a daemon thread, where the sync client runs its coroutines."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="agentinbox-loop", daemon=True)
        self._thread.start()

    def call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        if threading.current_thread() is self._thread:
            coroutine.close()
            raise RuntimeError(
                "a blocking AgentInbox method was called from its own event loop; use await instead"
            )
        if self.loop.is_closed():
            coroutine.close()
            raise RuntimeError("this AgentInbox is closed; create a new client")
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result()

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join()
        self.loop.close()


class SyncNamespace:
    """A namespace of the sync client: the async namespace's methods, each made blocking."""

    def __init__(self, target: Resource, portal: _Portal) -> None:
        self._target = target
        self._portal = portal
        for name, value in vars(target).items():
            if isinstance(value, Resource):
                setattr(self, name, SyncNamespace(value, portal))

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._target, name)
        if name.startswith("_") or not inspect.iscoroutinefunction(value):
            return value

        @functools.wraps(value)
        def blocking(*args: Any, **kwargs: Any) -> Any:
            return self._portal.call(value(*args, **kwargs))

        return blocking

    def __dir__(self) -> list[str]:
        return sorted({*super().__dir__(), *(n for n in dir(self._target) if not n.startswith("_"))})


class SyncEvents:
    """``client.events`` of the sync client."""

    def __init__(self, client: AgentInbox) -> None:
        self._client = client

    def subscribe(
        self,
        event_types: str | Iterable[str] | None = None,
        *,
        inbox_ids: str | Iterable[str] | None = None,
        pod_ids: str | Iterable[str] | None = None,
        timeout: float | None = None,
    ) -> SyncSubscription:
        """A blocking iterator over the matching events committed from now on; with ``timeout``, each
        ``next()`` raises ``errors.WaitTimeoutError`` after that many seconds without one. Use it in a
        ``with`` block (or call ``close()``) to stop it."""
        client = self._client
        return client._portal.call(client._async._subscribe_sync(event_types, inbox_ids, pod_ids, timeout))

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
    ) -> SyncConsumer: ...

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
    ) -> Callable[[Handler], SyncConsumer]: ...

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
    ) -> SyncConsumer | Callable[[Handler], SyncConsumer]:
        """A durable consumer (see ``events/consumers.py``); without ``handler``, a decorator. A sync
        handler runs in a worker thread and may call this client."""
        client = self._client

        async def validate() -> Callable[[Handler], Consumer]:
            return client._async.events.consume(
                group=group,
                event_types=event_types,
                inbox_ids=inbox_ids,
                pod_ids=pod_ids,
                start=start,
                max_attempts=max_attempts,
                retry_delay=retry_delay,
            )

        register = client._portal.call(validate())

        def decorator(handler: Handler) -> SyncConsumer:
            async def on_loop() -> Consumer:
                return register(handler)

            return SyncConsumer(client._portal.call(on_loop()), client._portal)

        return decorator if handler is None else decorator(handler)

    def failed(self, group: str) -> list[FailedEvent]:
        """The events the group set aside (see ``AsyncAgentInbox.events.failed``)."""
        return self._client._portal.call(self._client._async.events.failed(group))

    def replay(self, group: str, event_ids: str | Iterable[str] | None = None) -> int:
        """Queue the group's set-aside events to run again; how many (see ``events/consumers.py``)."""
        return self._client._portal.call(self._client._async.events.replay(group, event_ids))


class SyncConsumer:
    """A durable consumer of the sync client; ``stop()`` blocks until it has stopped."""

    def __init__(self, consumer: Consumer, portal: _Portal) -> None:
        self.consumer = consumer
        self._portal = portal

    @property
    def group(self) -> str:
        return self.consumer.group

    def stop(self) -> None:
        """Stop for good (the handler's current event is finished and acknowledged first)."""
        self._portal.call(self.consumer.stop())


class AgentInbox:
    """The embedded mail engine with blocking methods; the same namespaces as ``AsyncAgentInbox``.

    >>> client = AgentInbox()                       # ./agentinbox.db, domain agentinbox.localhost
    >>> inbox = client.inboxes.create(display_name="Support Agent", client_id="support-v1")
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        clock: Clock | None = None,
        scope_api_key: str | None = None,
        **overrides: Any,
    ) -> None:
        self._async = AsyncAgentInbox(settings, clock=clock, scope_api_key=scope_api_key, **overrides)
        self._portal = _Portal()
        self._view = False
        self._namespaces()

    def _namespaces(self) -> None:
        self.settings = self._async.settings
        self.inboxes: Any = SyncNamespace(self._async.inboxes, self._portal)
        self.threads: Any = SyncNamespace(self._async.threads, self._portal)
        self.drafts: Any = SyncNamespace(self._async.drafts, self._portal)
        self.pods: Any = SyncNamespace(self._async.pods, self._portal)
        self.api_keys: Any = SyncNamespace(self._async.api_keys, self._portal)
        self.domains: Any = SyncNamespace(self._async.domains, self._portal)
        self.webhooks: Any = SyncNamespace(self._async.webhooks, self._portal)
        self.lists: Any = SyncNamespace(self._async.lists, self._portal)
        self.events = SyncEvents(self)
        self._closed = False

    def with_api_key(self, api_key: str) -> AgentInbox:
        """A view of this engine acting with ``api_key`` (see ``AsyncAgentInbox.with_api_key``); it shares
        this client's event-loop thread, and closing it releases nothing."""
        view = object.__new__(AgentInbox)
        view._async = self._portal.call(self._async.with_api_key(api_key))
        view._portal = self._portal
        view._view = True
        view._namespaces()
        return view

    @property
    def identity(self) -> Identity:
        """Who this client acts as: the scope of its API key (see ``AsyncAgentInbox.identity``)."""
        return self._async.identity

    @property
    def async_client(self) -> AsyncAgentInbox:
        """The engine underneath, for code that wants to await it on the client's own loop."""
        return self._async

    def open(self) -> AgentInbox:
        self._portal.call(self._async.open())
        return self

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine over ``async_client`` on the client's own event loop and return its result,
        blocking; e.g. ``client.run(tools.run_tool(client.async_client, "list_inboxes", {}))``."""
        return self._portal.call(coroutine)

    def start(self) -> None:
        """Start serving what the settings enable (see ``AsyncAgentInbox.start``); returns at once."""
        self._portal.call(self._async.start())

    @property
    def smtp_address(self) -> tuple[str, int] | None:
        """The (host, port) the SMTP receiver listens on after ``start()``, or None."""
        return self._async.smtp_address

    @property
    def submission_address(self) -> tuple[str, int] | None:
        """The (host, port) the SMTP submission server listens on after ``start()``, or None."""
        return self._async.submission_address

    def deliver(
        self,
        raw: bytes,
        mail_from: str | None = None,
        rcpt_to: Sequence[str] | None = None,
        *,
        client_ip: str | None = None,
        helo: str | None = None,
    ) -> list[Message]:
        """Run a raw RFC 5322 message through the inbound pipeline (see ``AsyncAgentInbox.deliver``)."""
        return self._portal.call(
            self._async.deliver(raw, mail_from=mail_from, rcpt_to=rcpt_to, client_ip=client_ip, helo=helo)
        )

    def on(
        self,
        event_types: str | Iterable[str] | None = None,
        *,
        inbox_ids: str | Iterable[str] | None = None,
        pod_ids: str | Iterable[str] | None = None,
    ) -> Callable[[Handler], Handler]:
        """Register a handler (see ``AsyncAgentInbox.on``); sync handlers run in a worker thread and may
        call this client."""
        register = self._async.on(event_types, inbox_ids=inbox_ids, pod_ids=pod_ids)

        async def on_loop(handler: Handler) -> Handler:
            return register(handler)

        def decorator(handler: Handler) -> Handler:
            return self._portal.call(on_loop(handler))

        return decorator

    def wait_for_message(
        self, *, inbox_id: str | None = None, thread_id: str | None = None, timeout: float | None = None
    ) -> Message:
        """Block until the next message arrives (see ``AsyncAgentInbox.wait_for_message``)."""
        return self._portal.call(
            self._async.wait_for_message(inbox_id=inbox_id, thread_id=thread_id, timeout=timeout)
        )

    def close(self) -> None:
        """Release the database and stop the client's event-loop thread (a view releases nothing)."""
        if self._closed or self._view:
            return
        self._closed = True
        try:
            self._portal.call(self._async.close())
        finally:
            self._portal.stop()

    def __enter__(self) -> AgentInbox:
        return self.open()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __del__(self) -> None:
        # A client dropped without close() must not leave its thread running.
        if not getattr(self, "_closed", True):
            try:
                self.close()
            except Exception:
                pass
