"""The webhook dispatcher: sends each queued delivery as a signed POST, retrying on the Svix schedule.

Delivery rows are written with their events (``store.webhooks``); the dispatcher claims due ones (a lease,
``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so engines sharing a database call each once), and POSTs the
event JSON, signed like Svix (``svix-id`` is the event id, the same on every retry). Any 2xx succeeds;
anything else is recorded as an attempt and retried ``RETRY_DELAYS`` after the previous try, then failed.
A webhook whose calls failed ``webhook_disable_after`` times in a row is disabled.

It is woken within milliseconds of a commit by a subscriber on the event bus (registered while any webhook
is enabled, so an engine without webhooks pays nothing on the bus), and otherwise looks at least every
``POLL_SECONDS`` (deliveries another process queued, retries falling due). Calls run as separate tasks,
at most ``webhook_concurrency`` at once and at most half of them (rounded up) for one webhook, each bounded
by ``webhook_timeout``, so a slow target holds up neither the engine nor other webhooks. Time comes from
the engine's clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import time
from collections import Counter

import httpx
import pydantic

from .._background import BackgroundWorker
from .._clock import Clock
from ..settings import Settings
from ..store import webhooks as store
from ..store.database import Database
from ..store.events import EventRow, event_object
from .bus import EventBus, _Filter, _Subscriber
from .signing import signature
from .targets import resolve_target

__all__ = ["LEASE_MARGIN", "POLL_SECONDS", "RETRY_DELAYS", "WebhookDispatcher", "event_body"]

logger = logging.getLogger("agentinbox.webhooks")

#: Seconds after each failed try before the next (Svix's schedule); after the last, the delivery fails.
RETRY_DELAYS = (5, 5 * 60, 30 * 60, 2 * 3600, 5 * 3600, 10 * 3600, 10 * 3600)
#: The longest sleep between rounds.
POLL_SECONDS = 1.0
#: A claim lasts the call's timeout plus this, so it outlives the call that holds it.
LEASE_MARGIN = 60
_MIN_SLEEP = 0.05
_SNIPPET = 200
_USER_AGENT = "agentinbox-webhooks"


def event_body(claimed: store.Claimed) -> bytes:
    """The POST body: the event as the in-process bus hands it out, as compact JSON."""
    data = event_object(claimed).model_dump(mode="json", exclude_none=True)
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


class _Wake(_Subscriber):
    """Wakes the dispatcher for every committed event (the bus offers after commits and polls the log)."""

    def __init__(self, dispatcher: WebhookDispatcher) -> None:
        super().__init__(_Filter(None, None, None))
        self._dispatcher = dispatcher

    def offer(self, row: EventRow) -> None:
        self._dispatcher.wake()


class WebhookDispatcher(BackgroundWorker):
    """A background task that calls webhooks with the deliveries queued for them."""

    name = "agentinbox-webhooks"

    def __init__(self, db: Database, settings: Settings, clock: Clock, bus: EventBus) -> None:
        super().__init__()
        self._db = db
        self._settings = settings
        self._clock = clock
        self._bus = bus
        self._subscriber = _Wake(self)
        self._subscribed = False
        self._calls: set[asyncio.Task[None]] = set()
        self._busy: Counter[str] = Counter()  # calls in flight per webhook
        #: One webhook gets at most half the slots (rounded up), so a hanging target leaves room for others.
        self._per_webhook = max(1, -(-settings.webhook_concurrency // 2))
        self.stop_seconds = settings.webhook_timeout + 10

    async def _run(self) -> None:
        limit = self._settings.webhook_concurrency
        timeout = httpx.Timeout(self._settings.webhook_timeout)
        async with httpx.AsyncClient(timeout=timeout, follow_redirects=False, trust_env=False) as http:
            try:
                while not self._stopping:
                    claimed: list[store.Claimed] = []
                    free = limit - len(self._calls)
                    if free > 0:
                        try:
                            claimed = await self._claim(free)
                        except asyncio.CancelledError:
                            raise
                        except Exception:  # the database is unreachable: deliveries wait, try again
                            logger.exception("claiming webhook deliveries failed; retrying")
                    for item in claimed:
                        task = asyncio.get_running_loop().create_task(self._call(http, item))
                        self._calls.add(task)
                        self._busy[item.webhook_id] += 1
                        task.add_done_callback(functools.partial(self._done, item.webhook_id))
                    if claimed and len(claimed) == free:
                        continue  # maybe more are due; a full pipe waits for a call to end (it wakes us)
                    delay = await self._until_next()
                    if self._calls and not claimed:
                        delay = POLL_SECONDS  # what is due waits for a call to end, which wakes us
                    if not self._calls and not self._wake.is_set():
                        self._idle.set()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), timeout=delay)
                    self._wake.clear()
            finally:
                if self._calls:
                    await asyncio.gather(*self._calls, return_exceptions=True)
                self._unsubscribe()

    def _done(self, webhook_id: str, task: asyncio.Task[None]) -> None:
        self._calls.discard(task)
        self._busy[webhook_id] -= 1
        if self._busy[webhook_id] <= 0:
            del self._busy[webhook_id]
        self.wake()

    def _abandon(self) -> None:
        for task in self._calls:
            task.cancel()
        self._unsubscribe()

    def _unsubscribe(self) -> None:
        if self._subscribed:
            self._bus.remove(self._subscriber)
            self._subscribed = False

    async def _claim(self, limit: int) -> list[store.Claimed]:
        now = self._clock.now()
        lease = int((self._settings.webhook_timeout + LEASE_MARGIN) * 1_000_000)
        return await self._db.write(
            store.claim,
            now=now,
            lease_until=now + lease,
            limit=limit,
            per_webhook=self._per_webhook,
            in_flight=dict(self._busy),
        )

    async def _until_next(self) -> float:
        """Seconds to sleep, within [_MIN_SLEEP, POLL_SECONDS]; (un)registers the bus subscriber."""
        if len(self._calls) >= self._settings.webhook_concurrency:
            return POLL_SECONDS
        try:
            enabled, due = await self._db.read(store.dispatch_state)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("reading the webhook queue failed")
            return POLL_SECONDS
        if enabled and not self._subscribed:
            self._bus._add(self._subscriber)
            self._subscribed = True
        elif not enabled:
            self._unsubscribe()
        if due is None:
            return POLL_SECONDS
        return min(POLL_SECONDS, max(_MIN_SLEEP, (due - self._clock.now()) / 1_000_000))

    async def _call(self, http: httpx.AsyncClient, item: store.Claimed) -> None:
        """Make one call and record its outcome; never raises (a failure to record leaves the lease to
        expire, and the delivery is tried again)."""
        attempted_at = self._clock.now()
        started = time.monotonic()
        status_code, error = await self._post(http, item, attempted_at)
        duration_ms = int((time.monotonic() - started) * 1000)
        retry_at = None
        if error is not None and item.attempts < len(RETRY_DELAYS):
            retry_at = self._clock.now() + RETRY_DELAYS[item.attempts] * 1_000_000
        if error is not None:
            logger.info("webhook %s call for %s failed: %s", item.webhook_id, item.event_id, error)
        try:
            await self._db.write(
                store.record_attempt,
                item.id,
                item.webhook_id,
                attempted_at=attempted_at,
                duration_ms=duration_ms,
                status_code=status_code,
                error=error,
                retry_at=retry_at,
                disable_after=self._settings.webhook_disable_after,
                now=self._clock.now(),
            )
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("recording webhook delivery %s failed; it will be retried", item.id)

    async def _post(
        self, http: httpx.AsyncClient, item: store.Claimed, now: int
    ) -> tuple[int | None, str | None]:
        """(status code, error): error None means a 2xx answer."""
        try:
            body = event_body(item)
        except pydantic.ValidationError:
            return None, f"event {item.event_id} has a payload of an older shape and cannot be sent"
        if not self._settings.webhook_allow_private:
            refused = await resolve_target(item.url)
            if refused is not None:
                return None, f"refused: {refused}"
        timestamp = now // 1_000_000
        headers = {
            "user-agent": _USER_AGENT,
            **(item.headers or {}),
            "content-type": "application/json",
            "svix-id": item.event_id,
            "svix-timestamp": str(timestamp),
            "svix-signature": signature(item.secret, item.event_id, timestamp, body),
        }
        try:
            async with http.stream("POST", item.url, content=body, headers=headers) as response:
                if 200 <= response.status_code < 300:
                    return response.status_code, None
                snippet = b""
                async for chunk in response.aiter_bytes():
                    snippet += chunk
                    if len(snippet) >= _SNIPPET:
                        break
                text = snippet[:_SNIPPET].decode("utf-8", "replace").strip()
                return response.status_code, f"HTTP {response.status_code}" + (f": {text}" if text else "")
        except httpx.TimeoutException:
            return None, f"no answer within {self._settings.webhook_timeout} s"
        except httpx.HTTPError as exc:
            return None, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        except OSError as exc:
            return None, f"{type(exc).__name__}: {exc}"
