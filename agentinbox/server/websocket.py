"""The event stream over a WebSocket at ``/v0`` (reference §10): a client sends ``subscribe`` frames and gets
every matching event committed from then on, as the same JSON as a webhook body. The socket acts through
its API key's client view, so it never sees an event outside the key's scope; it holds no rules of its own.

Frames from the server are only ``subscribed``, ``error`` and events (the SDK mis-types anything else);
keepalive is the protocol's ping. Events wait for a slow reader in a per-socket outbox: a burst may exceed
``MAX_BEHIND_FRAMES`` / ``MAX_BEHIND_CHARS`` for up to ``BEHIND_SECONDS``, but a client that stays behind
longer, or falls ``HARD_FACTOR`` times as far behind, is disconnected (close code 1013), so one slow reader
never grows the server's memory without bound.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
from collections.abc import Mapping
from typing import Any, Literal

import pydantic
from fastapi import APIRouter, WebSocket
from pydantic import BaseModel, ConfigDict
from starlette.websockets import WebSocketDisconnect

from ..client import AsyncAgentInbox
from ..errors import AgentInboxError, AuthenticationError
from ..events import Subscription
from .auth import KeyViews, bearer_key
from .errors import error_response, status_of

__all__ = [
    "BEHIND_SECONDS",
    "HARD_FACTOR",
    "MAX_BEHIND_CHARS",
    "MAX_BEHIND_FRAMES",
    "SubscribeFrame",
    "router",
]

logger = logging.getLogger(__name__)

router = APIRouter(tags=["websockets"])

#: A client with more frames than this waiting to be sent is behind (close code 1013 if it stays so) ...
MAX_BEHIND_FRAMES = 1000
#: ... or with more characters of JSON than this (events carry whole messages) ...
MAX_BEHIND_CHARS = 16 * 1024 * 1024
#: ... for longer than this many seconds; a burst it catches up with in time is fine.
BEHIND_SECONDS = 10.0
#: This many times as far behind, it is disconnected at once.
HARD_FACTOR = 4
#: How long a closing frame may wait for a client that does not read before the connection is dropped.
CLOSE_SECONDS = 5.0

#: RFC 6455 §7.4.1 close codes (1013 "try again later" is IANA-registered).
POLICY_VIOLATION = 1008
INTERNAL_ERROR = 1011
TRY_AGAIN_LATER = 1013


class SubscribeFrame(BaseModel):
    """``{"type": "subscribe", ...}``: which events to stream; an absent (or null) filter admits everything
    in the key's scope. Keys a newer client may send are ignored, as in request bodies."""

    model_config = ConfigDict(extra="ignore", strict=True)

    type: Literal["subscribe"]
    event_types: list[str] | None = None
    inbox_ids: list[str] | None = None
    pod_ids: list[str] | None = None

    def filters(self) -> dict[str, list[str]]:
        """The filters that were given (the ``subscribed`` frame echoes exactly these)."""
        return self.model_dump(exclude={"type"}, exclude_none=True)


class FrameError(Exception):
    """A client frame that cannot be read; answered with an error frame, the connection stays open."""


def read_frame(message: Mapping[str, Any]) -> SubscribeFrame:
    """The subscribe frame in a received ASGI message (FrameError when it is anything else)."""
    text = message.get("text")
    if text is None:
        raise FrameError("binary frames are not understood: send JSON as a text frame")
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise FrameError(f"a frame must be JSON: {exc}") from None
    if not isinstance(data, dict):
        raise FrameError("a frame must be a JSON object with a 'type'")
    kind = data.get("type")
    if kind != "subscribe":
        raise FrameError(f"unknown frame type {kind!r}: clients send only 'subscribe'")
    try:
        return SubscribeFrame.model_validate(data)
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise FrameError(f"{where}: {first['msg']}") from None


def presented_key(websocket: WebSocket) -> str:
    """The key of the handshake: ``?api_key=`` when given (the SDK's ``connect(api_key=…)``, which is meant
    to override the client's own key), else the ``Authorization: Bearer`` header."""
    query = websocket.query_params.get("api_key")
    if query is not None:
        return query
    return bearer_key(websocket.headers.get("authorization"))


@router.websocket("/v0")
async def event_stream(websocket: WebSocket) -> None:
    """Authenticate the handshake (a refusal is a plain HTTP error, 401 for a bad key), then stream."""
    keys: KeyViews = websocket.app.state.keys
    try:
        key = presented_key(websocket)
        await keys.view(key)
    except AgentInboxError as exc:
        await _deny(websocket, exc)
        return
    await websocket.accept()
    await _Stream(websocket, keys, key).run()


async def _deny(websocket: WebSocket, exc: AgentInboxError) -> None:
    """Refuse the handshake with the HTTP status and error body of the same failure on a route."""
    try:
        await websocket.send_denial_response(error_response(status_of(exc), exc.name, exc.message, exc.code))
    except RuntimeError:  # a server without the denial-response extension: all it can say is 403
        await websocket.close(POLICY_VIOLATION, exc.message[:120])


class _Stream:
    """One accepted socket: reads client frames, forwards the current subscription's events through a
    bounded outbox, and ends (closing the subscription) on disconnect, on overflow or at server shutdown."""

    def __init__(self, websocket: WebSocket, keys: KeyViews, key: str) -> None:
        self._socket = websocket
        self._keys = keys
        self._key = key
        self._outbox: collections.deque[str] = collections.deque()
        self._outbox_chars = 0
        self._ready = asyncio.Event()
        #: Set with (close code, reason) when the stream must end from the server's side.
        self._ending: asyncio.Future[tuple[int, str]] = asyncio.get_running_loop().create_future()
        self._subscription: Subscription | None = None
        self._forwarding: asyncio.Task[None] | None = None
        #: The timer that ends the stream unless the outbox drains first (set while behind).
        self._behind: asyncio.TimerHandle | None = None

    async def run(self) -> None:
        reading = asyncio.create_task(self._read())
        writing = asyncio.create_task(self._write())
        try:
            ends: set[asyncio.Future[Any]] = {reading, writing, self._ending}
            await asyncio.wait(ends, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._unsubscribe()
            if self._behind is not None:
                self._behind.cancel()
            for task in (reading, writing):
                task.cancel()
            await asyncio.gather(reading, writing, return_exceptions=True)
        for task in (reading, writing):
            failure = None if task.cancelled() else task.exception()
            # A client gone mid-send is an ordinary end; anything else is a fault of the server.
            if failure is not None and not isinstance(failure, WebSocketDisconnect | OSError):
                logger.error("the websocket event stream failed", exc_info=failure)
                self._end(INTERNAL_ERROR, "the server failed; its log has details")
        if self._ending.done():
            await self._close(*self._ending.result())

    async def _close(self, code: int, reason: str) -> None:
        """Send the close frame, unless the client does not read even that (then the server drops it)."""
        with contextlib.suppress(TimeoutError, WebSocketDisconnect, RuntimeError, OSError):
            await asyncio.wait_for(self._socket.close(code, reason), CLOSE_SECONDS)

    def _end(self, code: int, reason: str) -> None:
        if not self._ending.done():
            self._ending.set_result((code, reason))

    # -- client frames ---------------------------------------------------------------------------------

    async def _read(self) -> None:
        while True:
            message = await self._socket.receive()
            if message["type"] == "websocket.disconnect":
                return
            try:
                frame = read_frame(message)
            except FrameError as exc:
                self._send_error("ValidationError", str(exc))
                continue
            await self._subscribe(frame)

    async def _subscribe(self, frame: SubscribeFrame) -> None:
        """Replace the subscription; a bad one leaves the previous one in place. The key is looked up again,
        so a key revoked since the handshake ends the stream here."""
        try:
            view: AsyncAgentInbox = await self._keys.view(self._key)
            subscription = view.events.subscribe(
                frame.event_types, inbox_ids=frame.inbox_ids, pod_ids=frame.pod_ids
            )
        except AuthenticationError as exc:
            self._send_error(exc.name, exc.message)
            self._end(POLICY_VIOLATION, "the API key is no longer valid")
            return
        except AgentInboxError as exc:
            self._send_error(exc.name, exc.message)
            return
        self._unsubscribe()
        self._subscription = subscription
        self._enqueue(json.dumps({"type": "subscribed", **frame.filters()}))
        self._forwarding = asyncio.create_task(self._forward(subscription))

    def _unsubscribe(self) -> None:
        """Stop the current subscription; events it had not handed over yet are dropped with it."""
        if self._forwarding is not None:
            self._forwarding.cancel()
            self._forwarding = None
        if self._subscription is not None:
            self._subscription.close()
            self._subscription = None

    # -- server frames ---------------------------------------------------------------------------------

    async def _forward(self, subscription: Subscription) -> None:
        """Move events from the subscription to the outbox as they come (never waiting on the client)."""
        try:
            async for event in subscription:
                self._enqueue(event.model_dump_json(exclude_none=True))
        except Exception:
            logger.exception("forwarding events to a websocket failed")
            self._end(INTERNAL_ERROR, "the server failed; its log has details")

    def _send_error(self, name: str, message: str) -> None:
        self._enqueue(json.dumps({"type": "error", "name": name, "message": message}))

    def _enqueue(self, frame: str) -> None:
        self._outbox.append(frame)
        self._outbox_chars += len(frame)
        self._ready.set()
        frames, chars = len(self._outbox), self._outbox_chars
        if frames > HARD_FACTOR * MAX_BEHIND_FRAMES or chars > HARD_FACTOR * MAX_BEHIND_CHARS:
            self._cut_off()
        elif self._behind is None and (frames > MAX_BEHIND_FRAMES or chars > MAX_BEHIND_CHARS):
            self._behind = asyncio.get_running_loop().call_later(BEHIND_SECONDS, self._cut_off)

    def _cut_off(self) -> None:
        """The client reads too slowly: stop collecting events for it and end the stream."""
        self._unsubscribe()
        reason = f"too far behind: {len(self._outbox)} frames were waiting to be read"
        self._end(TRY_AGAIN_LATER, reason[:120])

    async def _write(self) -> None:
        while True:
            await self._ready.wait()
            while self._outbox:
                frame = self._outbox.popleft()
                self._outbox_chars -= len(frame)
                await self._socket.send_text(frame)
                if (
                    self._behind is not None
                    and len(self._outbox) <= MAX_BEHIND_FRAMES
                    and self._outbox_chars <= MAX_BEHIND_CHARS
                ):
                    self._behind.cancel()  # caught up in time
                    self._behind = None
            self._ready.clear()
