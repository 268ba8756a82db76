"""A cap on request bodies: a body over it is refused with 413 before it is read into memory, whether it
announces its length or arrives in chunks."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import error_response

__all__ = ["BodyLimit", "body_limit_for"]


def body_limit_for(max_message_size: int) -> int:
    """The largest request body worth reading: a message of ``max_message_size`` bytes sent as base64
    (4/3 of its size) inside JSON, with room for the rest of the request."""
    return max_message_size * 4 // 3 + 1024 * 1024


class _TooLarge(Exception):
    pass


class BodyLimit:
    """ASGI middleware answering 413 ``payload_too_large`` to a body of more than ``limit`` bytes."""

    def __init__(self, app: ASGIApp, *, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > self.limit:
                await self._refuse(scope, receive, send)
                return
        seen = 0
        over = False  # the body went over: whatever the app answers, the answer is 413
        refused = False

        async def counted() -> Message:
            nonlocal seen, over
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    over = True
                    raise _TooLarge
            return message

        async def answer(message: Message) -> None:
            nonlocal refused
            if not over:
                await send(message)
            elif not refused:
                refused = True
                await self._refuse(scope, receive, send)

        try:
            await self.app(scope, counted, answer)
        except _TooLarge:
            pass
        if over and not refused:
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = f"the request body is larger than {self.limit} bytes"
        await error_response(413, "PayloadTooLargeError", message, "payload_too_large")(scope, receive, send)
